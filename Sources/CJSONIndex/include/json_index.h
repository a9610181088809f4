// Stage one of Hashtrend's JSON scanner: one vectorised pass over a line that finds every token start
// (structural bytes, the opening quote of each string, the first byte of each number or literal), checks
// string bodies (control bytes, escapes) and, on request, UTF-8. The Swift JSONScanner then walks the
// tokens instead of the bytes. See Sources/HashtrendCore/Posts/JSONScanner.swift.
#ifndef HASHTREND_JSON_INDEX_H
#define HASHTREND_JSON_INDEX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    HT_JSON_OK = 0,
    HT_JSON_CONTROL_IN_STRING = 1, // a byte below 0x20 inside a string
    HT_JSON_INVALID_ESCAPE = 2,    // a backslash not followed by a valid escape
    HT_JSON_TRUNCATED = 3,         // the input ends inside a string (or a \u escape)
};

typedef struct {
    uint32_t count;          // tokens written to `out`, all before `error_at` when there is an error
    int32_t error;           // HT_JSON_*: the first string-level error, by position
    uint32_t error_at;       // its byte offset
    int32_t utf8_error_at;   // offset of the first byte that is not well-formed UTF-8, or -1 (or not checked)
    uint32_t escape_count;   // escapes written to `escapes`
} ht_json_index_result;

// Writes the byte offset of every token of `buf[0..<len]` to `out`, in order, and the offset of the
// backslash of every escape inside a string to `escapes`, in order. `out` needs room for `len + 64`
// entries (the writer may store a few past the last token), `escapes` for `len / 2 + 64`. `len` must be
// below 2^31. `check_utf8`: also validate the UTF-8 of the whole input.
void ht_json_index(const uint8_t *buf, size_t len, uint32_t *out, uint32_t *escapes, int check_utf8,
                   ht_json_index_result *result);

// The same, always with the portable code (what CPUs without AVX2 run; for tests that compare the two).
void ht_json_index_portable(const uint8_t *buf, size_t len, uint32_t *out, uint32_t *escapes, int check_utf8,
                            ht_json_index_result *result);

// The instruction sets ht_json_index can use; it picks the best one the CPU has.
enum {
    HT_JSON_ISA_PORTABLE = 0,
    HT_JSON_ISA_AVX2 = 1,   // with BMI1 and PCLMUL
    HT_JSON_ISA_AVX512 = 2, // BW, VL, VBMI, VBMI2, with BMI2 and PCLMUL
};

// The one ht_json_index uses on this CPU.
int ht_json_index_isa(void);

// The same as ht_json_index with the code for `isa`, or for the best one below it that this CPU has (for
// tests and benchmarks that compare them).
void ht_json_index_with(int isa, const uint8_t *buf, size_t len, uint32_t *out, uint32_t *escapes, int check_utf8,
                        ht_json_index_result *result);

// Offset of the first byte that is not part of well-formed UTF-8 (Unicode Table 3-7: no overlongs, no
// surrogates, nothing above U+10FFFF), or -1 when all of it is well formed.
int64_t ht_utf8_first_invalid(const uint8_t *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
