// The block loop of ht_json_index, included once per instruction set by json_index.c with
// HT_INDEX_NAME (the function to define), HT_INDEX_MASKS_TYPE and HT_INDEX_MASKS (how a 64-byte block is
// classified), HT_INDEX_PREFIX_XOR (quote parity), HT_INDEX_FLATTEN (how set bits become token offsets)
// and, optionally: HT_INDEX_MASKS_TAIL (classifies the last partial block in place; without it the block
// is copied or re-read) and HT_INDEX_UTF8_STATE, _INIT, _BLOCK and _FAILED (a UTF-8 test per block whose
// verdict is read at the end; without it UTF-8 is checked by one scalar pass at the end). Bit i of every
// mask stands for byte i of the block.

static void HT_INDEX_NAME(const uint8_t *buf, size_t len, uint32_t *out, uint32_t *escapes, int check_utf8,
                          ht_json_index_result *r) {
    uint32_t n = 0;
    uint64_t in_string = 0;    // all ones when the previous block ended inside a string
    uint64_t escape_carry = 0; // 1 when byte 0 of this block is escaped by the previous block's last byte
    uint64_t scalar_carry = 0; // 1 when the previous block ended in a number or literal byte
    int32_t err = HT_JSON_OK;
    uint32_t err_at = UINT32_MAX;
    int64_t utf8_err = -1;
#ifdef HT_INDEX_UTF8_BLOCK
    HT_INDEX_UTF8_STATE utf8_state;
    HT_INDEX_UTF8_INIT(utf8_state);
#endif
    uint32_t n_escapes = 0;
#ifndef HT_INDEX_MASKS_TAIL
    // The last partial block: 32 bytes of what precedes it (the UTF-8 test looks back up to 3 bytes),
    // then the block, then spaces (no token, no control byte, no UTF-8).
    uint8_t tail[96];
#endif
    for (size_t b = 0; b < len; b += 64) {
        const uint8_t *p = buf + b;
        int first = b == 0; // no bytes before this block (the UTF-8 test of some code looks back)
        (void)first;
        HT_INDEX_MASKS_TYPE m;
#ifdef HT_INDEX_MASKS_TAIL
        // The last partial block is read with a mask, as if spaces followed it (no token, no control
        // byte, no UTF-8).
        if (len - b < 64) HT_INDEX_MASKS_TAIL(p, len - b, &m); else HT_INDEX_MASKS(p, &m);
#else
        unsigned shift = 0;
        if (len - b < 64) {
            if (len >= 96) {
                // The last 64 bytes of the input, whose masks are shifted so that bit 0 stands for byte b:
                // no copy, and what precedes them is in the buffer.
                shift = (unsigned)(64 - (len - b));
                p = buf + len - 64;
            } else {
                memset(tail, ' ', sizeof tail);
                if (b) memcpy(tail, p - 32, 32); else memset(tail, 0, 32);
                memcpy(tail + 32, p, len - b);
                p = tail + 32;
            }
        }
        HT_INDEX_MASKS(p, &m);
        if (shift) {
            // The bytes past the end read as zero bits everywhere: not plain, so no token either.
            m.quote >>= shift; m.backslash >>= shift; m.op >>= shift; m.plain >>= shift; m.ctl >>= shift;
        }
#endif

        // Escapes, in order: a backslash escapes the next byte unless it is escaped itself. Rare, so a
        // loop over the backslashes is cheaper than the branch-free carry arithmetic.
        uint64_t escaped = escape_carry;
        escape_carry = 0;
        for (uint64_t bs = m.backslash; bs; bs &= bs - 1) {
            int i = __builtin_ctzll(bs);
            if ((escaped >> i) & 1) continue;
            if (i == 63) escape_carry = 1; else escaped |= 2ull << i;
        }
        uint64_t quotes = m.quote & ~escaped;
        // From an opening quote (included) to its closing quote (excluded).
        uint64_t inside = HT_INDEX_PREFIX_XOR(quotes) ^ in_string;
        in_string = (uint64_t)((int64_t)inside >> 63);
        uint64_t outside = ~(inside | quotes);
        uint64_t scalar = outside & m.plain;
        uint64_t starts = scalar & ~((scalar << 1) | scalar_carry);
        scalar_carry = scalar >> 63;

        uint64_t ctl = m.ctl & inside;
        if (ctl) {
            uint32_t at = (uint32_t)(b + __builtin_ctzll(ctl));
            if (at < err_at) { err = HT_JSON_CONTROL_IN_STRING; err_at = at; }
        }
        // Escapes inside strings: checked after the loop (rare, and a call here would cost registers).
        for (uint64_t starters = m.backslash & ~escaped & inside; starters; starters &= starters - 1)
            escapes[n_escapes++] = (uint32_t)(b + __builtin_ctzll(starters));

        // Opening quotes only (they are inside): a closing quote is the last quote before the next token.
        uint64_t t = (m.op & outside) | (quotes & inside) | starts;
        HT_INDEX_FLATTEN(out, n, b, t);

#ifdef HT_INDEX_UTF8_BLOCK
        // Errors accumulate over the blocks and are looked at once at the end (the exact offset then
        // comes from the scalar check). A shifted last block re-tests bytes already tested, with the same
        // verdict.
        if (check_utf8) HT_INDEX_UTF8_BLOCK(m, p, first, utf8_state);
        if (err != HT_JSON_OK && !check_utf8) break;
#else
        if (err != HT_JSON_OK) break;
#endif
    }
#ifdef HT_INDEX_UTF8_BLOCK
    // Also a sequence cut by the end of the input (the block test sees only what follows a lead byte).
    if (check_utf8 && (HT_INDEX_UTF8_FAILED(utf8_state) || (len > 0 && (buf[len - 1] >= 0xC0
            || (len > 1 && buf[len - 2] >= 0xE0) || (len > 2 && buf[len - 3] >= 0xF0)))))
        utf8_err = ht_utf8_first_invalid(buf, len);
#else
    if (check_utf8) utf8_err = ht_utf8_first_invalid(buf, len);
#endif
    for (uint32_t i = 0; i < n_escapes; i++) {
        uint32_t a = escapes[i];
        if (a >= err_at) { n_escapes = i; break; }
        int e = ht_check_escape(buf, len, a);
        if (e != HT_JSON_OK) { err = e; err_at = a; n_escapes = i; break; }
    }
    if (in_string && err == HT_JSON_OK) {
        // An unterminated string: its opening quote is the last token, and reading it reports the end.
        err = HT_JSON_TRUNCATED;
        err_at = (uint32_t)len;
    }
    if (err != HT_JSON_OK)
        while (n > 0 && out[n - 1] >= err_at) n--;
    r->count = n;
    r->error = err;
    r->error_at = err == HT_JSON_OK ? 0 : err_at;
    r->utf8_error_at = (int32_t)utf8_err;
    r->escape_count = n_escapes;
}
