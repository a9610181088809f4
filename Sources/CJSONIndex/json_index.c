#include "json_index.h"
#include <string.h>

typedef struct {
    uint64_t quote, backslash, ws, op, ctl, high;
} ht_block_masks;

// What a block leaves to the next one: continuation bytes still needed (bit i: byte i of the next
// block), and whether its last byte was E0, ED, F0 or F4 (bits 0-3), whose follower is range-checked.
typedef struct {
    uint64_t need, special;
} ht_utf8_carry;

// Bit i of the result: the parity of bits 0...i of x (in-string regions from quote positions).
static inline uint64_t ht_prefix_xor(uint64_t x) {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}

// Length of the well-formed UTF-8 sequence at s[i] (a byte >= 0x80), or 0 (Unicode Table 3-7).
static inline int ht_utf8_sequence(const uint8_t *s, size_t len, size_t i) {
    uint8_t c = s[i];
    if (c < 0xC2) return 0; // a continuation byte, or an overlong two-byte lead
    if (c < 0xE0) return i + 1 < len && (s[i + 1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (i + 2 >= len) return 0;
        uint8_t c1 = s[i + 1];
        if ((c1 & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80) return 0;
        if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F)) return 0; // overlong; surrogate
        return 3;
    }
    if (c > 0xF4 || i + 3 >= len) return 0;
    uint8_t c1 = s[i + 1];
    if ((c1 & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80) return 0;
    if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F)) return 0; // overlong; above U+10FFFF
    return 4;
}

static inline int ht_is_hex(uint8_t c) {
    return (uint8_t)(c - '0') <= 9 || (uint8_t)((c | 0x20) - 'a') <= 5;
}

// The escape that starts with the backslash at s[a], inside a string.
static inline int ht_check_escape(const uint8_t *s, size_t len, size_t a) {
    if (a + 1 >= len) return HT_JSON_OK; // the string is unterminated: reported as the end of input
    switch (s[a + 1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        return HT_JSON_OK;
    case 'u':
        if (a + 6 > len) return HT_JSON_TRUNCATED;
        return ht_is_hex(s[a + 2]) && ht_is_hex(s[a + 3]) && ht_is_hex(s[a + 4]) && ht_is_hex(s[a + 5])
            ? HT_JSON_OK : HT_JSON_INVALID_ESCAPE;
    default:
        return HT_JSON_INVALID_ESCAPE;
    }
}

// Portable classification, a byte at a time (CPUs without AVX2).
static inline void ht_masks_generic(const uint8_t *p, ht_block_masks *m) {
    uint64_t q = 0, bs = 0, ws = 0, op = 0, ctl = 0, high = 0;
    for (int i = 0; i < 64; i++) {
        uint8_t c = p[i];
        uint64_t bit = 1ull << i;
        switch (c) {
        case '"': q |= bit; break;
        case '\\': bs |= bit; break;
        case ' ': case '\t': case '\n': case '\r': ws |= bit; break;
        case '{': case '}': case '[': case ']': case ':': case ',': op |= bit; break;
        default: break;
        }
        if (c < 0x20) ctl |= bit;
        if (c >= 0x80) high |= bit;
    }
    m->quote = q; m->backslash = bs; m->ws = ws; m->op = op; m->ctl = ctl; m->high = high;
}

// Appends the offsets of the set bits of t (block at b) to out[n...].
#define HT_FLATTEN_SIMPLE(out, n, b, t) \
    for (uint64_t bits_ = (t); bits_; bits_ &= bits_ - 1) (out)[(n)++] = (uint32_t)((b) + __builtin_ctzll(bits_))

#define HT_INDEX_NAME ht_json_index_generic
#define HT_INDEX_MASKS ht_masks_generic
#define HT_INDEX_FLATTEN HT_FLATTEN_SIMPLE
#include "json_index_body.h"
#undef HT_INDEX_NAME
#undef HT_INDEX_MASKS
#undef HT_INDEX_FLATTEN

#if defined(__x86_64__)
#include <immintrin.h>
#pragma clang attribute push (__attribute__((target("avx2,bmi"))), apply_to = function)

static inline uint64_t ht_bits(__m256i lo, __m256i hi) {
    uint64_t bits = (uint64_t)(uint32_t)_mm256_movemask_epi8(lo) | ((uint64_t)(uint32_t)_mm256_movemask_epi8(hi) << 32);
    // Opaque to the optimiser: otherwise it sees the masks as vectors of booleans and splits the bit
    // arithmetic below into one byte per bit (measured: 3x slower).
    __asm__("" : "+r"(bits));
    return bits;
}

static inline void ht_classify32(__m256i x, __m256i *q, __m256i *bs, __m256i *ws, __m256i *op, __m256i *ctl) {
    __m256i lower = _mm256_or_si256(x, _mm256_set1_epi8(0x20)); // '[' -> '{', ']' -> '}'
    *q = _mm256_cmpeq_epi8(x, _mm256_set1_epi8('"'));
    *bs = _mm256_cmpeq_epi8(x, _mm256_set1_epi8('\\'));
    *ws = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(x, _mm256_set1_epi8(' ')), _mm256_cmpeq_epi8(x, _mm256_set1_epi8('\t'))),
                          _mm256_or_si256(_mm256_cmpeq_epi8(x, _mm256_set1_epi8('\n')), _mm256_cmpeq_epi8(x, _mm256_set1_epi8('\r'))));
    *op = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(lower, _mm256_set1_epi8('{')), _mm256_cmpeq_epi8(lower, _mm256_set1_epi8('}'))),
                          _mm256_or_si256(_mm256_cmpeq_epi8(x, _mm256_set1_epi8(':')), _mm256_cmpeq_epi8(x, _mm256_set1_epi8(','))));
    *ctl = _mm256_cmpeq_epi8(_mm256_min_epu8(x, _mm256_set1_epi8(0x1F)), x);
}

static inline void ht_masks_avx2(const uint8_t *p, ht_block_masks *m) {
    __m256i a = _mm256_loadu_si256((const __m256i *)p);
    __m256i b = _mm256_loadu_si256((const __m256i *)(p + 32));
    __m256i qa, bsa, wsa, opa, ctla, qb, bsb, wsb, opb, ctlb;
    ht_classify32(a, &qa, &bsa, &wsa, &opa, &ctla);
    ht_classify32(b, &qb, &bsb, &wsb, &opb, &ctlb);
    m->quote = ht_bits(qa, qb);
    m->backslash = ht_bits(bsa, bsb);
    m->ws = ht_bits(wsa, wsb);
    m->op = ht_bits(opa, opb);
    m->ctl = ht_bits(ctla, ctlb);
    m->high = ht_bits(a, b);
}

static inline uint64_t ht_ge(__m256i a, __m256i b, uint8_t v) { // unsigned a >= v, per byte
    __m256i vv = _mm256_set1_epi8((char)v);
    return ht_bits(_mm256_cmpeq_epi8(_mm256_max_epu8(a, vv), a), _mm256_cmpeq_epi8(_mm256_max_epu8(b, vv), b));
}

static inline uint64_t ht_eq(__m256i a, __m256i b, uint8_t v) {
    __m256i vv = _mm256_set1_epi8((char)v);
    return ht_bits(_mm256_cmpeq_epi8(a, vv), _mm256_cmpeq_epi8(b, vv));
}

// UTF-8 over one block as bit masks (Unicode Table 3-7): every lead byte is followed by exactly the
// continuation bytes it needs and no continuation byte stands alone; the second byte after E0, ED, F0
// and F4 is range-checked (overlongs, surrogates, above U+10FFFF). Nonzero means the block is bad.
static inline uint64_t ht_utf8_block_avx2(const uint8_t *p, ht_utf8_carry *c) {
    __m256i a = _mm256_loadu_si256((const __m256i *)p);
    __m256i b = _mm256_loadu_si256((const __m256i *)(p + 32));
    __m256i top2 = _mm256_set1_epi8((char)0xC0);
    uint64_t cont = ht_bits(_mm256_cmpeq_epi8(_mm256_and_si256(a, top2), _mm256_set1_epi8((char)0x80)),
                            _mm256_cmpeq_epi8(_mm256_and_si256(b, top2), _mm256_set1_epi8((char)0x80)));
    uint64_t ge_c0 = ht_ge(a, b, 0xC0), ge_c2 = ht_ge(a, b, 0xC2), ge_e0 = ht_ge(a, b, 0xE0);
    uint64_t ge_f0 = ht_ge(a, b, 0xF0), ge_f5 = ht_ge(a, b, 0xF5);
    uint64_t ge_a0 = ht_ge(a, b, 0xA0), ge_90 = ht_ge(a, b, 0x90);
    uint64_t e0 = ht_eq(a, b, 0xE0), ed = ht_eq(a, b, 0xED), f0 = ht_eq(a, b, 0xF0), f4 = ht_eq(a, b, 0xF4);
    uint64_t l2 = ge_c2 & ~ge_e0, l3 = ge_e0 & ~ge_f0, l4 = ge_f0 & ~ge_f5;
    uint64_t l34 = l3 | l4, lead = l2 | l34;
    uint64_t need = (lead << 1) | (l34 << 2) | (l4 << 3) | c->need;
    uint64_t after_e0 = (e0 << 1) | (c->special & 1), after_ed = (ed << 1) | ((c->special >> 1) & 1);
    uint64_t after_f0 = (f0 << 1) | ((c->special >> 2) & 1), after_f4 = (f4 << 1) | ((c->special >> 3) & 1);
    uint64_t err = (need ^ cont) | (ge_c0 & ~ge_c2) | ge_f5
        | (after_e0 & ~ge_a0) | (after_ed & ge_a0) | (after_f0 & ~ge_90) | (after_f4 & ge_90);
    c->need = (lead >> 63) | (l34 >> 62) | (l4 >> 61);
    c->special = (e0 >> 63) | (ed >> 63) << 1 | (f0 >> 63) << 2 | (f4 >> 63) << 3;
    return err;
}
#define HT_INDEX_UTF8_BLOCK ht_utf8_block_avx2

// Four offsets per step with no test in between (tzcnt of 0 is 64: harmless extra entries past n, which
// the caller's slack of 64 entries absorbs); one mispredicted exit per block instead of one per token.
static inline void ht_flatten_avx2(uint32_t *out, uint32_t *n, size_t b, uint64_t t) {
    uint32_t *o = out + *n;
    *n += (uint32_t)__builtin_popcountll(t);
    uint32_t base = (uint32_t)b;
    while (t) {
        o[0] = base + (uint32_t)_tzcnt_u64(t); t = _blsr_u64(t);
        o[1] = base + (uint32_t)_tzcnt_u64(t); t = _blsr_u64(t);
        o[2] = base + (uint32_t)_tzcnt_u64(t); t = _blsr_u64(t);
        o[3] = base + (uint32_t)_tzcnt_u64(t); t = _blsr_u64(t);
        o += 4;
    }
}
#define HT_FLATTEN_AVX2(out, n, b, t) ht_flatten_avx2((out), &(n), (b), (t))

#define HT_INDEX_NAME ht_json_index_avx2
#define HT_INDEX_MASKS ht_masks_avx2
#define HT_INDEX_FLATTEN HT_FLATTEN_AVX2
#include "json_index_body.h"
#undef HT_INDEX_NAME
#undef HT_INDEX_MASKS
#undef HT_INDEX_FLATTEN
#undef HT_INDEX_UTF8_BLOCK

#pragma clang attribute pop
#endif

void ht_json_index(const uint8_t *buf, size_t len, uint32_t *out, uint32_t *escapes, int check_utf8,
                   ht_json_index_result *result) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi")) {
        ht_json_index_avx2(buf, len, out, escapes, check_utf8, result);
        return;
    }
#endif
    ht_json_index_generic(buf, len, out, escapes, check_utf8, result);
}

void ht_json_index_portable(const uint8_t *buf, size_t len, uint32_t *out, uint32_t *escapes, int check_utf8,
                            ht_json_index_result *result) {
    ht_json_index_generic(buf, len, out, escapes, check_utf8, result);
}

int64_t ht_utf8_first_invalid(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            // ASCII, eight bytes at a time.
            while (i + 8 <= len) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                uint64_t h = w & 0x8080808080808080ull;
                if (h) { i += (size_t)(__builtin_ctzll(h) >> 3); break; }
                i += 8;
            }
            while (i < len && s[i] < 0x80) i++;
            if (i >= len) break;
        }
        int k = ht_utf8_sequence(s, len, i);
        if (!k) return (int64_t)i;
        i += (size_t)k;
    }
    return -1;
}
