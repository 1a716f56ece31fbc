#include "agent/jsonw.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is invalid (overlong forms,
 * surrogates and code points past U+10FFFF are invalid, as RFC 3629 says). */
static size_t utf8_valid_len(const uint8_t *s, size_t len)
{
    uint8_t c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

int jsonw_string(struct buf *b, const uint8_t *s, size_t len, size_t *ret_repaired)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case: every byte becomes a 6-byte escape; reserve lazily per run instead. */
    int r = buf_append(b, "\"", 1);
    size_t repaired = 0;
    size_t i = 0;
    while (r == 0 && i < len) {
        size_t run = i;
        while (run < len && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i) {
            r = buf_append(b, s + i, run - i);
            i = run;
            continue;
        }
        uint8_t c = s[i];
        char esc[8];
        size_t esc_len = 2;
        esc[0] = '\\';
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
        } else if (c == '\n') {
            esc[1] = 'n';
        } else if (c == '\r') {
            esc[1] = 'r';
        } else if (c == '\t') {
            esc[1] = 't';
        } else if (c == '\b') {
            esc[1] = 'b';
        } else if (c == '\f') {
            esc[1] = 'f';
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xF];
            esc_len = 6;
        } else {
            size_t n = utf8_valid_len(s + i, len - i);
            if (n) {
                r = buf_append(b, s + i, n);
                i += n;
                continue;
            }
            r = buf_append(b, "\xEF\xBF\xBD", 3);
            repaired++;
            i++;
            continue;
        }
        r = buf_append(b, esc, esc_len);
        i++;
    }
    if (r == 0)
        r = buf_append(b, "\"", 1);
    if (ret_repaired)
        *ret_repaired += repaired;
    return r;
}

int jsonw_cstring(struct buf *b, const char *s)
{
    return jsonw_string(b, (const uint8_t *)s, strlen(s), NULL);
}

int jsonw_double(struct buf *b, double v)
{
    if (!isfinite(v))
        return -EDOM;
    char text[32];
    /* Try increasing precision until the text reads back exactly. */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(text, sizeof(text), "%.*g", prec, v);
        if (strtod(text, NULL) == v)
            break;
    }
    return buf_append_str(b, text);
}

int jsonw_u64(struct buf *b, uint64_t v)
{
    return buf_printf(b, "%llu", (unsigned long long)v);
}

int jsonw_timestamp_ms(struct buf *b, uint64_t epoch_ns)
{
    time_t secs = (time_t)(epoch_ns / 1000000000ull);
    unsigned ms = (unsigned)((epoch_ns % 1000000000ull) / 1000000ull);
    struct tm tm;
    if (!gmtime_r(&secs, &tm))
        return -EDOM;
    return buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03uZ\"", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}
