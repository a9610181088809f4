// Small helpers for the Swift hot path that Swift cannot express itself.
#ifndef HASHTREND_HOT_PATH_H
#define HASHTREND_HOT_PATH_H

// Asks for the cache line at `p` without waiting for it (a plain load would hold the instruction until
// the line arrives). Never faults, whatever `p` is.
static inline void ht_prefetch(const void *p) {
    __builtin_prefetch(p, 1, 3);
}

#endif
