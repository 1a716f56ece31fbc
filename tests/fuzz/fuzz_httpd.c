/* Fuzz the HTTP/1.1 request parser (agent/httpd.h) with small limits: a complete request
 * lies inside the input and parses the same from its own bytes alone; every view points
 * into the input; errors carry a status; the parser never reads past `size`. */
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
