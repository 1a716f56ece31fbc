/* Fuzz the HTTP/1.1 request parser (agent/httpd.h) with small limits: a complete request
 * lies inside the input and parses the same from its own bytes alone; every view points
 * into the input; errors carry a status; the parser never reads past `size`. A chunked
 * body is decoded in one call and again byte by byte with compaction (as the server
 * does): both must agree on the result, the decoded bytes and where the message ends,
 * and the decoded size never exceeds the limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/httpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(struct httpd_str s, const uint8_t *data, size_t size)
{
    if (s.len && ((const uint8_t *)s.p < data || (const uint8_t *)s.p + s.len > data + size))
        abort();
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] == '\r' || s.p[i] == '\n')
            abort();
}

/* Decode body[0..len) of a chunked request both ways and compare. */
static void check_chunked(const uint8_t *body, size_t len, size_t max_body)
{
    uint8_t *once = malloc(len ? len : 1);
    uint8_t *step = malloc(len ? len : 1);
    if (!once || !step)
        abort();
    memcpy(once, body, len);
    struct httpd_chunked a = {0};
    enum httpd_parse_result ra = httpd_chunked_decode(&a, once, len, max_body);
    if (a.out > a.in || a.in > len || a.out > max_body)
        abort();
    if (ra != HTTPD_PARSE_OK && ra != HTTPD_PARSE_NEED_MORE && httpd_parse_status(ra) < 400)
        abort();
    struct httpd_chunked b = {0};
    enum httpd_parse_result rb = HTTPD_PARSE_NEED_MORE;
    size_t wlen = 0, fed = 0;
    while (fed < len && rb == HTTPD_PARSE_NEED_MORE) {
        step[wlen++] = body[fed++];
        rb = httpd_chunked_decode(&b, step, wlen, max_body);
        wlen = httpd_chunked_compact(&b, step, wlen);
        if (b.in != b.out || wlen < b.out)
            abort();
    }
    if (ra != rb)
        abort();
    if (ra == HTTPD_PARSE_OK &&
        (a.out != b.out || fed != a.in || wlen != b.out || memcmp(once, step, a.out) != 0))
        abort();
    /* Compacting the one-shot result leaves what follows the message after the body. */
    size_t clen = httpd_chunked_compact(&a, once, len);
    if (ra == HTTPD_PARSE_OK &&
        (clen != a.out + (len - fed) || memcmp(once + a.out, body + fed, len - fed) != 0))
        abort();
    free(once);
    free(step);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy so that reads past the end are caught by ASan. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    const struct httpd_limits lim = {.max_header_bytes = 512, .max_body_bytes = 256};
    struct httpd_request req;
    size_t consumed = 0;
    enum httpd_parse_result r = httpd_parse_request(buf, size, &lim, &req, &consumed);
    switch (r) {
    case HTTPD_PARSE_NEED_MORE:
        if (consumed != 0 || size >= lim.max_header_bytes || httpd_parse_status(r) != 0)
            abort();
        break;
    case HTTPD_PARSE_HEAD_DONE:
        if (consumed == 0 || consumed > size || consumed > lim.max_header_bytes)
            abort();
        if (req.chunked) {
            if (req.version_minor != 1 || httpd_request_field(&req, "content-length"))
                abort(); /* must have been refused */
            check_chunked(buf + consumed, size - consumed, lim.max_body_bytes);
        }
        break;
    case HTTPD_PARSE_OK: {
        if (consumed > size || req.method.len == 0 || req.target.len == 0 ||
            req.n_fields > HTTPD_MAX_HEADERS || req.body_len > lim.max_body_bytes ||
            (req.version_minor != 0 && req.version_minor != 1))
            abort();
        check_str(req.method, buf, size);
        check_str(req.target, buf, size);
        for (size_t i = 0; i < req.n_fields; i++) {
            check_str(req.fields[i].name, buf, size);
            check_str(req.fields[i].value, buf, size);
            if (req.fields[i].name.len == 0)
                abort();
        }
        if (req.body_len && req.body + req.body_len != buf + consumed)
            abort();
        if (httpd_request_field(&req, "transfer-encoding"))
            abort(); /* must have been refused */
        /* The request alone parses the same. */
        struct httpd_request again;
        size_t consumed2 = 0;
        if (httpd_parse_request(buf, consumed, &lim, &again, &consumed2) != HTTPD_PARSE_OK ||
            consumed2 != consumed || again.n_fields != req.n_fields ||
            again.body_len != req.body_len || again.keep_alive != req.keep_alive)
            abort();
        break;
    }
    default: {
        int status = httpd_parse_status(r);
        if (status < 400 || status > 599 || !strcmp(httpd_reason(status), "Unknown"))
            abort();
    }
    }
    free(buf);
    return 0;
}
