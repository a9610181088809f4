#include "json_index.h"
#include <stdatomic.h>
#include <string.h>

// One 64-byte block, classified. `plain`: neither whitespace nor structural (bytes of numbers, literals,
// strings, and anything invalid).
typedef struct {
    uint64_t quote, backslash, op, plain, ctl;
} ht_block_masks;

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

// Portable classification, a byte at a time (CPUs without AVX2), by a table of byte classes: no branch.
#define HT_B_QUOTE 0x01
#define HT_B_BACKSLASH 0x02
#define HT_B_WS 0x04
#define HT_B_OP 0x08
#define HT_B_CTL 0x10
static const uint8_t ht_byte_classes[256] = {
    HT_B_CTL, HT_B_CTL, HT_B_CTL, HT_B_CTL, HT_B_CTL, HT_B_CTL, HT_B_CTL, HT_B_CTL,
    HT_B_CTL, HT_B_CTL | HT_B_WS, HT_B_CTL | HT_B_WS, HT_B_CTL, HT_B_CTL, HT_B_CTL | HT_B_WS, HT_B_CTL, HT_B_CTL,
    HT_B_CTL, HT_B_CTL, HT_B_CTL, HT_B_CTL, HT_B_CTL, HT_B_CTL, HT_B_CTL, HT_B_CTL,
    HT_B_CTL, HT_B_CTL, HT_B_CTL, HT_B_CTL, HT_B_CTL, HT_B_CTL, HT_B_CTL, HT_B_CTL,
    [' '] = HT_B_WS, ['"'] = HT_B_QUOTE, ['\\'] = HT_B_BACKSLASH, [','] = HT_B_OP, [':'] = HT_B_OP,
    ['['] = HT_B_OP, [']'] = HT_B_OP, ['{'] = HT_B_OP, ['}'] = HT_B_OP,
};

static inline void ht_masks_generic(const uint8_t *p, ht_block_masks *m) {
    uint64_t q = 0, bs = 0, ws = 0, op = 0, ctl = 0;
    for (int i = 0; i < 64; i++) {
        uint64_t c = ht_byte_classes[p[i]];
        q |= (c & 1) << i;
        bs |= ((c >> 1) & 1) << i;
        ws |= ((c >> 2) & 1) << i;
        op |= ((c >> 3) & 1) << i;
        ctl |= ((c >> 4) & 1) << i;
    }
    m->quote = q; m->backslash = bs; m->op = op; m->plain = ~(ws | op); m->ctl = ctl;
}

// Appends the offsets of the set bits of t (block at b) to out[n...].
#define HT_FLATTEN_SIMPLE(out, n, b, t) \
    for (uint64_t bits_ = (t); bits_; bits_ &= bits_ - 1) (out)[(n)++] = (uint32_t)((b) + __builtin_ctzll(bits_))

#define HT_INDEX_NAME ht_json_index_generic
#define HT_INDEX_MASKS_TYPE ht_block_masks
#define HT_INDEX_MASKS ht_masks_generic
#define HT_INDEX_PREFIX_XOR ht_prefix_xor
#define HT_INDEX_FLATTEN HT_FLATTEN_SIMPLE
#include "json_index_body.h"
#undef HT_INDEX_NAME
#undef HT_INDEX_MASKS_TYPE
#undef HT_INDEX_MASKS
#undef HT_INDEX_PREFIX_XOR
#undef HT_INDEX_FLATTEN

#if defined(__x86_64__)
#include <immintrin.h>
#pragma clang attribute push (__attribute__((target("avx2,bmi,pclmul"))), apply_to = function)

static inline uint64_t ht_bits(__m256i lo, __m256i hi) {
    uint64_t bits = (uint64_t)(uint32_t)_mm256_movemask_epi8(lo) | ((uint64_t)(uint32_t)_mm256_movemask_epi8(hi) << 32);
    // Opaque to the optimiser: otherwise it sees the masks as vectors of booleans and splits the bit
    // arithmetic below into one byte per bit (measured: 3x slower).
    __asm__("" : "+r"(bits));
    return bits;
}

// Byte classes by two table lookups, one per nibble, ANDed: bits 0-1 whitespace (' ' and '\t' '\n' '\r'),
// bits 4-6 structural (',' ':' and the brackets). Bytes 0x80 and above find 0 in the high table.
#define HT_CLASS_LOW  0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x22, 0x40, 0x10, 0x42, 0, 0
#define HT_CLASS_HIGH 0x02, 0, 0x11, 0x20, 0, 0x40, 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0

// The masks, and the bytes and their high nibbles for the UTF-8 test.
typedef struct {
    uint64_t quote, backslash, op, plain, ctl;
    __m256i a, b, high_a, high_b;
} ht_block_masks256;

static inline __m256i ht_class32(__m256i x, __m256i *high_nibbles) {
    __m256i nib = _mm256_set1_epi8(0x0F);
    __m256i lo = _mm256_shuffle_epi8(_mm256_setr_epi8(HT_CLASS_LOW, HT_CLASS_LOW), _mm256_and_si256(x, nib));
    *high_nibbles = _mm256_and_si256(_mm256_srli_epi16(x, 4), nib);
    __m256i hi = _mm256_shuffle_epi8(_mm256_setr_epi8(HT_CLASS_HIGH, HT_CLASS_HIGH), *high_nibbles);
    return _mm256_and_si256(lo, hi);
}

static inline void ht_masks_avx2(const uint8_t *p, ht_block_masks256 *m) {
    __m256i a = _mm256_loadu_si256((const __m256i *)p);
    __m256i b = _mm256_loadu_si256((const __m256i *)(p + 32));
    __m256i ca = ht_class32(a, &m->high_a), cb = ht_class32(b, &m->high_b);
    m->a = a;
    m->b = b;
    __m256i structural = _mm256_set1_epi8(0x0F), zero = _mm256_setzero_si256();
    m->op = ht_bits(_mm256_cmpgt_epi8(ca, structural), _mm256_cmpgt_epi8(cb, structural));
    m->plain = ht_bits(_mm256_cmpeq_epi8(ca, zero), _mm256_cmpeq_epi8(cb, zero));
    m->quote = ht_bits(_mm256_cmpeq_epi8(a, _mm256_set1_epi8('"')), _mm256_cmpeq_epi8(b, _mm256_set1_epi8('"')));
    m->backslash = ht_bits(_mm256_cmpeq_epi8(a, _mm256_set1_epi8('\\')), _mm256_cmpeq_epi8(b, _mm256_set1_epi8('\\')));
    // Control bytes are rare (an error inside a string, whitespace outside one): one test per block, and
    // the mask only when there is one. Adding 0x60 with saturation leaves the top bit clear exactly below 0x20.
    __m256i ua = _mm256_adds_epu8(a, _mm256_set1_epi8(0x60)), ub = _mm256_adds_epu8(b, _mm256_set1_epi8(0x60));
    m->ctl = _mm256_testc_si256(_mm256_and_si256(ua, ub), _mm256_set1_epi8((char)0x80)) ? 0 : ~ht_bits(ua, ub);
}

static inline uint64_t ht_prefix_xor_clmul(uint64_t x) {
    return (uint64_t)_mm_cvtsi128_si64(_mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)x), _mm_set1_epi8(-1), 0));
}

// UTF-8 by table lookups (the approach of Keiser and Lemire, "Validating UTF-8 In Less Than One
// Instruction Per Byte"): most errors are visible in two bytes, the previous one and this one, so three
// 16-entry tables (previous byte's high and low nibble, this byte's high nibble) give a bit per error kind,
// ANDed. The third and fourth bytes of a sequence are checked by the bytes two and three back.
#define HT_U8_SHORT   0x01 // a lead byte not followed by a continuation byte
#define HT_U8_LONG    0x02 // a continuation byte after ASCII
#define HT_U8_OVER2   0x04 // C0 or C1 and a continuation byte (overlong)
#define HT_U8_OVER3   0x08 // E0 80-9F (overlong)
#define HT_U8_SURR    0x10 // ED A0-BF (surrogate)
#define HT_U8_OVER4   0x20 // F0 80-8F (overlong), or F5-FF 80-8F
#define HT_U8_LARGE   0x40 // F4-FF 90-BF (above U+10FFFF)
#define HT_U8_TWO     0x80 // two continuation bytes in a row: right only as a third or fourth byte
#define HT_U8_ANY (HT_U8_SHORT | HT_U8_LONG | HT_U8_TWO)
#define HT_U8_F5 (HT_U8_ANY | HT_U8_OVER4 | HT_U8_LARGE)
#define HT_U8_CONT (HT_U8_LONG | HT_U8_OVER2 | HT_U8_TWO)
static const uint8_t ht_u8_prev_high[16] = {
    HT_U8_LONG, HT_U8_LONG, HT_U8_LONG, HT_U8_LONG, HT_U8_LONG, HT_U8_LONG, HT_U8_LONG, HT_U8_LONG, // ASCII
    HT_U8_TWO, HT_U8_TWO, HT_U8_TWO, HT_U8_TWO,                                                     // 80-BF
    HT_U8_SHORT | HT_U8_OVER2, HT_U8_SHORT, HT_U8_SHORT | HT_U8_OVER3 | HT_U8_SURR,                 // C, D, E
    HT_U8_SHORT | HT_U8_OVER4 | HT_U8_LARGE,                                                        // F
};
static const uint8_t ht_u8_prev_low[16] = {
    HT_U8_ANY | HT_U8_OVER2 | HT_U8_OVER3 | HT_U8_OVER4, HT_U8_ANY | HT_U8_OVER2, HT_U8_ANY, HT_U8_ANY, // 0-3
    HT_U8_ANY | HT_U8_LARGE, HT_U8_F5, HT_U8_F5, HT_U8_F5, HT_U8_F5, HT_U8_F5, HT_U8_F5, HT_U8_F5,     // 4-B
    HT_U8_F5, HT_U8_F5 | HT_U8_SURR, HT_U8_F5, HT_U8_F5,                                               // C-F
};
static const uint8_t ht_u8_cur_high[16] = {
    HT_U8_SHORT, HT_U8_SHORT, HT_U8_SHORT, HT_U8_SHORT, HT_U8_SHORT, HT_U8_SHORT, HT_U8_SHORT, HT_U8_SHORT,
    HT_U8_CONT | HT_U8_OVER3 | HT_U8_OVER4, HT_U8_CONT | HT_U8_OVER3 | HT_U8_LARGE,
    HT_U8_CONT | HT_U8_SURR | HT_U8_LARGE, HT_U8_CONT | HT_U8_SURR | HT_U8_LARGE,
    HT_U8_SHORT, HT_U8_SHORT, HT_U8_SHORT, HT_U8_SHORT,
};

static inline __m256i ht_table(const uint8_t *t) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t));
}

// Nonzero bytes where the 32 bytes of `cur` (preceded by those of `prev`) are not well-formed UTF-8;
// a sequence still open at the end of `cur` is not an error here.
static inline __m256i ht_utf8_errors32(__m256i cur, __m256i cur_high_nibbles, __m256i prev) {
    __m256i nib = _mm256_set1_epi8(0x0F);
    __m256i joint = _mm256_permute2x128_si256(prev, cur, 0x21); // prev's high lane, cur's low lane
    __m256i prev1 = _mm256_alignr_epi8(cur, joint, 15);
    __m256i prev2 = _mm256_alignr_epi8(cur, joint, 14);
    __m256i prev3 = _mm256_alignr_epi8(cur, joint, 13);
    __m256i kinds = _mm256_and_si256(
        _mm256_and_si256(
            _mm256_shuffle_epi8(ht_table(ht_u8_prev_high),
                                _mm256_and_si256(_mm256_srli_epi16(prev1, 4), nib)),
            _mm256_shuffle_epi8(ht_table(ht_u8_prev_low), _mm256_and_si256(prev1, nib))),
        _mm256_shuffle_epi8(ht_table(ht_u8_cur_high), cur_high_nibbles));
    // 0x80 where a third or fourth byte is due: two back is E0 or above, or three back is F0 or above.
    __m256i due = _mm256_or_si256(_mm256_subs_epu8(prev2, _mm256_set1_epi8((char)(0xE0 - 0x80))),
                                  _mm256_subs_epu8(prev3, _mm256_set1_epi8((char)(0xF0 - 0x80))));
    return _mm256_xor_si256(kinds, _mm256_and_si256(due, _mm256_set1_epi8((char)0x80)));
}

// Adds the UTF-8 errors of the block at p (classified in m), given the 32 bytes before it (none when `first`). Every block
// is tested, ASCII or not: on posts in several scripts, about one block in five holds a high byte, at
// random, and skipping the others cost more in mispredicted branches than the test (measured).
static inline void ht_utf8_block_avx2(const ht_block_masks256 *m, const uint8_t *p, int first, __m256i *errors) {
    __m256i before = first ? _mm256_setzero_si256() : _mm256_loadu_si256((const __m256i *)(p - 32));
    *errors = _mm256_or_si256(*errors, _mm256_or_si256(ht_utf8_errors32(m->a, m->high_a, before),
                                                       ht_utf8_errors32(m->b, m->high_b, m->a)));
}
#define HT_INDEX_UTF8_STATE __m256i
#define HT_INDEX_UTF8_INIT(s) ((s) = _mm256_setzero_si256())
#define HT_INDEX_UTF8_BLOCK(m, p, first, s) ht_utf8_block_avx2(&(m), (p), (first), &(s))
#define HT_INDEX_UTF8_FAILED(s) (!_mm256_testz_si256((s), (s)))

// Byte k of entry x: the position of the k-th set bit of x (table for the flattening below).
static const uint64_t ht_bit_positions[256] = {
    0, 0, 0x1ull, 0x100ull, 0x2ull, 0x200ull, 0x201ull, 0x20100ull, 0x3ull, 0x300ull, 0x301ull, 0x30100ull,
    0x302ull, 0x30200ull, 0x30201ull, 0x3020100ull, 0x4ull, 0x400ull, 0x401ull, 0x40100ull, 0x402ull,
    0x40200ull, 0x40201ull, 0x4020100ull, 0x403ull, 0x40300ull, 0x40301ull, 0x4030100ull, 0x40302ull,
    0x4030200ull, 0x4030201ull, 0x403020100ull, 0x5ull, 0x500ull, 0x501ull, 0x50100ull, 0x502ull, 0x50200ull,
    0x50201ull, 0x5020100ull, 0x503ull, 0x50300ull, 0x50301ull, 0x5030100ull, 0x50302ull, 0x5030200ull,
    0x5030201ull, 0x503020100ull, 0x504ull, 0x50400ull, 0x50401ull, 0x5040100ull, 0x50402ull, 0x5040200ull,
    0x5040201ull, 0x504020100ull, 0x50403ull, 0x5040300ull, 0x5040301ull, 0x504030100ull, 0x5040302ull,
    0x504030200ull, 0x504030201ull, 0x50403020100ull, 0x6ull, 0x600ull, 0x601ull, 0x60100ull, 0x602ull,
    0x60200ull, 0x60201ull, 0x6020100ull, 0x603ull, 0x60300ull, 0x60301ull, 0x6030100ull, 0x60302ull,
    0x6030200ull, 0x6030201ull, 0x603020100ull, 0x604ull, 0x60400ull, 0x60401ull, 0x6040100ull, 0x60402ull,
    0x6040200ull, 0x6040201ull, 0x604020100ull, 0x60403ull, 0x6040300ull, 0x6040301ull, 0x604030100ull,
    0x6040302ull, 0x604030200ull, 0x604030201ull, 0x60403020100ull, 0x605ull, 0x60500ull, 0x60501ull,
    0x6050100ull, 0x60502ull, 0x6050200ull, 0x6050201ull, 0x605020100ull, 0x60503ull, 0x6050300ull,
    0x6050301ull, 0x605030100ull, 0x6050302ull, 0x605030200ull, 0x605030201ull, 0x60503020100ull, 0x60504ull,
    0x6050400ull, 0x6050401ull, 0x605040100ull, 0x6050402ull, 0x605040200ull, 0x605040201ull, 0x60504020100ull,
    0x6050403ull, 0x605040300ull, 0x605040301ull, 0x60504030100ull, 0x605040302ull, 0x60504030200ull,
    0x60504030201ull, 0x6050403020100ull, 0x7ull, 0x700ull, 0x701ull, 0x70100ull, 0x702ull, 0x70200ull,
    0x70201ull, 0x7020100ull, 0x703ull, 0x70300ull, 0x70301ull, 0x7030100ull, 0x70302ull, 0x7030200ull,
    0x7030201ull, 0x703020100ull, 0x704ull, 0x70400ull, 0x70401ull, 0x7040100ull, 0x70402ull, 0x7040200ull,
    0x7040201ull, 0x704020100ull, 0x70403ull, 0x7040300ull, 0x7040301ull, 0x704030100ull, 0x7040302ull,
    0x704030200ull, 0x704030201ull, 0x70403020100ull, 0x705ull, 0x70500ull, 0x70501ull, 0x7050100ull,
    0x70502ull, 0x7050200ull, 0x7050201ull, 0x705020100ull, 0x70503ull, 0x7050300ull, 0x7050301ull,
    0x705030100ull, 0x7050302ull, 0x705030200ull, 0x705030201ull, 0x70503020100ull, 0x70504ull, 0x7050400ull,
    0x7050401ull, 0x705040100ull, 0x7050402ull, 0x705040200ull, 0x705040201ull, 0x70504020100ull, 0x7050403ull,
    0x705040300ull, 0x705040301ull, 0x70504030100ull, 0x705040302ull, 0x70504030200ull, 0x70504030201ull,
    0x7050403020100ull, 0x706ull, 0x70600ull, 0x70601ull, 0x7060100ull, 0x70602ull, 0x7060200ull, 0x7060201ull,
    0x706020100ull, 0x70603ull, 0x7060300ull, 0x7060301ull, 0x706030100ull, 0x7060302ull, 0x706030200ull,
    0x706030201ull, 0x70603020100ull, 0x70604ull, 0x7060400ull, 0x7060401ull, 0x706040100ull, 0x7060402ull,
    0x706040200ull, 0x706040201ull, 0x70604020100ull, 0x7060403ull, 0x706040300ull, 0x706040301ull,
    0x70604030100ull, 0x706040302ull, 0x70604030200ull, 0x70604030201ull, 0x7060403020100ull, 0x70605ull,
    0x7060500ull, 0x7060501ull, 0x706050100ull, 0x7060502ull, 0x706050200ull, 0x706050201ull, 0x70605020100ull,
    0x7060503ull, 0x706050300ull, 0x706050301ull, 0x70605030100ull, 0x706050302ull, 0x70605030200ull,
    0x70605030201ull, 0x7060503020100ull, 0x7060504ull, 0x706050400ull, 0x706050401ull, 0x70605040100ull,
    0x706050402ull, 0x70605040200ull, 0x70605040201ull, 0x7060504020100ull, 0x706050403ull, 0x70605040300ull,
    0x70605040301ull, 0x7060504030100ull, 0x70605040302ull, 0x7060504030200ull, 0x7060504030201ull,
    0x706050403020100ull,
};

// Eight bits of the mask at a time: their positions from the table, widened to 32 bits and stored as
// eight entries, of which the popcount count. No branch, whatever the number of tokens; the entries
// past n (at most 8) fall in the caller's slack of 64.
static inline void ht_flatten_avx2(uint32_t *out, uint32_t *n, size_t b, uint64_t t) {
    uint32_t *o = out + *n;
    *n += (uint32_t)__builtin_popcountll(t);
    __m256i base = _mm256_set1_epi32((int)b), eight = _mm256_set1_epi32(8);
    for (int k = 0; k < 8; k++) {
        uint32_t byte = (uint32_t)(t >> (8 * k)) & 0xFF;
        __m256i v = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)ht_bit_positions[byte]));
        _mm256_storeu_si256((__m256i *)o, _mm256_add_epi32(v, base));
        o += __builtin_popcount(byte);
        base = _mm256_add_epi32(base, eight);
    }
}
#define HT_FLATTEN_AVX2(out, n, b, t) ht_flatten_avx2((out), &(n), (b), (t))

#define HT_INDEX_NAME ht_json_index_avx2
#define HT_INDEX_MASKS_TYPE ht_block_masks256
#define HT_INDEX_MASKS ht_masks_avx2
#define HT_INDEX_PREFIX_XOR ht_prefix_xor_clmul
#define HT_INDEX_FLATTEN HT_FLATTEN_AVX2
#include "json_index_body.h"
#undef HT_INDEX_NAME
#undef HT_INDEX_MASKS_TYPE
#undef HT_INDEX_MASKS
#undef HT_INDEX_PREFIX_XOR
#undef HT_INDEX_FLATTEN
#undef HT_INDEX_UTF8_BLOCK
#undef HT_INDEX_UTF8_STATE
#undef HT_INDEX_UTF8_INIT
#undef HT_INDEX_UTF8_FAILED

#pragma clang attribute pop

// AVX-512 (BW, VBMI, VBMI2): a block is one register, classes come out as bit masks without movemask,
// the last partial block is a masked load, and the flattening is one compress.
#pragma clang attribute push (__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi,avx512vbmi2,avx2,bmi,bmi2,pclmul"))), apply_to = function)

typedef struct {
    uint64_t quote, backslash, op, plain, ctl;
    __m512i bytes, high_nibbles; // for the UTF-8 test
} ht_block_masks512;

static inline uint64_t ht_opaque(uint64_t bits) {
    __asm__("" : "+r"(bits)); // keeps the mask arithmetic in general registers (see ht_bits)
    return bits;
}

static inline void ht_classify_avx512(__m512i x, ht_block_masks512 *m) {
    __m512i nib = _mm512_set1_epi8(0x0F);
    __m512i lo = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm_setr_epi8(HT_CLASS_LOW)), _mm512_and_si512(x, nib));
    __m512i high_nibbles = _mm512_and_si512(_mm512_srli_epi16(x, 4), nib);
    __m512i hi = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm_setr_epi8(HT_CLASS_HIGH)), high_nibbles);
    __m512i c = _mm512_and_si512(lo, hi);
    m->op = ht_opaque(_mm512_cmpgt_epi8_mask(c, _mm512_set1_epi8(0x0F)));
    m->plain = ht_opaque(_mm512_testn_epi8_mask(c, c));
    m->quote = ht_opaque(_mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('"')));
    m->backslash = ht_opaque(_mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('\\')));
    m->ctl = ht_opaque(_mm512_cmplt_epu8_mask(x, _mm512_set1_epi8(0x20)));
    m->bytes = x;
    m->high_nibbles = high_nibbles;
}

static inline void ht_masks_avx512(const uint8_t *p, ht_block_masks512 *m) {
    ht_classify_avx512(_mm512_loadu_si512((const void *)p), m);
}

// Only the first `count` bytes are read (a masked load does not fault on the others); spaces stand in
// for the rest.
static inline void ht_masks_tail_avx512(const uint8_t *p, size_t count, ht_block_masks512 *m) {
    __mmask64 valid = _bzhi_u64(~0ull, (unsigned)count);
    ht_classify_avx512(_mm512_mask_loadu_epi8(_mm512_set1_epi8(' '), valid, (const void *)p), m);
}

// The lookups of ht_utf8_errors32 over 64 bytes; the bytes one, two and three back come from one
// two-register byte permutation each.
static inline __m512i ht_utf8_errors64(__m512i cur, __m512i cur_high_nibbles, __m512i prev) {
    __m512i nib = _mm512_set1_epi8(0x0F);
    // Byte i of the pair (prev, cur) read as 128 bytes: 63 + i is the byte before cur[i].
    __m512i back1 = _mm512_set_epi64(0x7E7D7C7B7A797877ll, 0x767574737271706Fll, 0x6E6D6C6B6A696867ll,
                                     0x666564636261605Fll, 0x5E5D5C5B5A595857ll, 0x565554535251504Fll,
                                     0x4E4D4C4B4A494847ll, 0x464544434241403Fll);
    __m512i prev1 = _mm512_permutex2var_epi8(prev, back1, cur);
    __m512i prev2 = _mm512_permutex2var_epi8(prev, _mm512_sub_epi8(back1, _mm512_set1_epi8(1)), cur);
    __m512i prev3 = _mm512_permutex2var_epi8(prev, _mm512_sub_epi8(back1, _mm512_set1_epi8(2)), cur);
    __m512i kinds = _mm512_and_si512(
        _mm512_and_si512(
            _mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)ht_u8_prev_high)),
                                _mm512_and_si512(_mm512_srli_epi16(prev1, 4), nib)),
            _mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)ht_u8_prev_low)),
                                _mm512_and_si512(prev1, nib))),
        _mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)ht_u8_cur_high)),
                            cur_high_nibbles));
    __m512i due = _mm512_or_si512(_mm512_subs_epu8(prev2, _mm512_set1_epi8((char)(0xE0 - 0x80))),
                                  _mm512_subs_epu8(prev3, _mm512_set1_epi8((char)(0xF0 - 0x80))));
    return _mm512_xor_si512(kinds, _mm512_and_si512(due, _mm512_set1_epi8((char)0x80)));
}

typedef struct {
    __m512i errors;
    __m512i prev; // the previous block (zeros before the first)
} ht_utf8_state512;

// As ht_utf8_block_avx2 (every block), on the block the classification loaded.
static inline void ht_utf8_block_avx512(__m512i x, __m512i high_nibbles, ht_utf8_state512 *s) {
    s->errors = _mm512_or_si512(s->errors, ht_utf8_errors64(x, high_nibbles, s->prev));
    s->prev = x;
}

// All set bits at once: their positions (bytes) compressed to the front, widened to 32 bits by sixteen.
// Two stores whatever the count (a block rarely holds more than 32 tokens: a branch on 16 mispredicted
// often). At most 64 entries are stored from n, within the caller's slack.
static inline void ht_flatten_avx512(uint32_t *out, uint32_t *n, size_t b, uint64_t t) {
    uint32_t *o = out + *n;
    uint32_t count = (uint32_t)__builtin_popcountll(t);
    *n += count;
    __m512i iota = _mm512_set_epi64(0x3F3E3D3C3B3A3938ll, 0x3736353433323130ll, 0x2F2E2D2C2B2A2928ll,
                                    0x2726252423222120ll, 0x1F1E1D1C1B1A1918ll, 0x1716151413121110ll,
                                    0x0F0E0D0C0B0A0908ll, 0x0706050403020100ll);
    __m512i at = _mm512_maskz_compress_epi8(t, iota);
    __m512i base = _mm512_set1_epi32((int)b);
    _mm512_storeu_si512((void *)o, _mm512_add_epi32(_mm512_cvtepu8_epi32(_mm512_castsi512_si128(at)), base));
    _mm512_storeu_si512((void *)(o + 16), _mm512_add_epi32(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(at, 1)), base));
    if (count > 32) {
        _mm512_storeu_si512((void *)(o + 32), _mm512_add_epi32(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(at, 2)), base));
        _mm512_storeu_si512((void *)(o + 48), _mm512_add_epi32(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(at, 3)), base));
    }
}

#define HT_INDEX_NAME ht_json_index_avx512
#define HT_INDEX_MASKS_TYPE ht_block_masks512
#define HT_INDEX_MASKS ht_masks_avx512
#define HT_INDEX_MASKS_TAIL ht_masks_tail_avx512
#define HT_INDEX_PREFIX_XOR ht_prefix_xor_clmul
#define HT_INDEX_FLATTEN(out, n, b, t) ht_flatten_avx512((out), &(n), (b), (t))
#define HT_INDEX_UTF8_STATE ht_utf8_state512
#define HT_INDEX_UTF8_INIT(s) ((s).errors = _mm512_setzero_si512(), (s).prev = _mm512_setzero_si512())
#define HT_INDEX_UTF8_BLOCK(m, p, first, s) ht_utf8_block_avx512((m).bytes, (m).high_nibbles, &(s))
#define HT_INDEX_UTF8_FAILED(s) (_mm512_test_epi8_mask((s).errors, (s).errors) != 0)
#include "json_index_body.h"
#undef HT_INDEX_NAME
#undef HT_INDEX_MASKS_TYPE
#undef HT_INDEX_MASKS
#undef HT_INDEX_MASKS_TAIL
#undef HT_INDEX_PREFIX_XOR
#undef HT_INDEX_FLATTEN
#undef HT_INDEX_UTF8_BLOCK
#undef HT_INDEX_UTF8_STATE
#undef HT_INDEX_UTF8_INIT
#undef HT_INDEX_UTF8_FAILED

#pragma clang attribute pop
#endif

// The best code this CPU runs, found once.
static int ht_best_isa(void) {
    static _Atomic int best = -1;
    int isa = atomic_load_explicit(&best, memory_order_relaxed);
    if (isa >= 0) return isa;
    isa = HT_JSON_ISA_PORTABLE;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("pclmul")) {
        isa = HT_JSON_ISA_AVX2;
        if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
            && __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vbmi2") && __builtin_cpu_supports("bmi2"))
            isa = HT_JSON_ISA_AVX512;
    }
#endif
    atomic_store_explicit(&best, isa, memory_order_relaxed);
    return isa;
}

int ht_json_index_isa(void) {
    return ht_best_isa();
}

void ht_json_index_with(int isa, const uint8_t *buf, size_t len, uint32_t *out, uint32_t *escapes, int check_utf8,
                        ht_json_index_result *result) {
    int best = ht_best_isa();
    if (isa > best) isa = best;
#if defined(__x86_64__)
    if (isa == HT_JSON_ISA_AVX512) {
        ht_json_index_avx512(buf, len, out, escapes, check_utf8, result);
        return;
    }
    if (isa == HT_JSON_ISA_AVX2) {
        ht_json_index_avx2(buf, len, out, escapes, check_utf8, result);
        return;
    }
#endif
    ht_json_index_generic(buf, len, out, escapes, check_utf8, result);
}

void ht_json_index(const uint8_t *buf, size_t len, uint32_t *out, uint32_t *escapes, int check_utf8,
                   ht_json_index_result *result) {
    ht_json_index_with(HT_JSON_ISA_AVX512, buf, len, out, escapes, check_utf8, result);
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
