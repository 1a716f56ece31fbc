/*
 * Fuzz the PutMetricData body builder: the input is a small program of points (names
 * and dimension values from raw bytes, any double, any timestamp) added to a batch with
 * fuzzer-chosen limits. Invariants: every add returns a documented code; the encoded
 * body is exactly cwm_batch_bytes() long and within the limits; a JSON body parses, with
 * at most 150 Values per datum and as many Counts; a query body is well-formed
 * form-encoding (only unreserved characters, %XX, '&' and one '=' per pair).
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/cw_metrics_encode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct reader {
    const uint8_t *p;
    size_t n;
};

static uint8_t take_u8(struct reader *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static uint64_t take_u64(struct reader *r)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | take_u8(r);
    return v;
}

/* A string of 0..15 raw bytes (no NUL), or one of a few fixed ones. */
static void take_string(struct reader *r, char *out, size_t cap)
{
    static const char *const fixed[] = {"cpu_usage", "host", "a b", "x+y", "é", "~/:&="};
    uint8_t len = take_u8(r);
    if (len & 0x80) {
        snprintf(out, cap, "%s", fixed[(len & 0x7f) % 6]);
        return;
    }
    len %= 16;
    size_t n = 0;
    for (uint8_t i = 0; i < len && n + 1 < cap; i++) {
        uint8_t c = take_u8(r);
        out[n++] = c ? (char)c : 'z';
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, cap, "m");
}

static bool form_char(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static void check_query(const uint8_t *s, size_t len)
{
    size_t eq = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if (c == '&') {
            if (eq != 1)
                abort();
            eq = 0;
        } else if (c == '=') {
            eq++;
        } else if (c == '%') {
            if (i + 2 >= len || !strchr("0123456789ABCDEF", s[i + 1]) ||
                !strchr("0123456789ABCDEF", s[i + 2]) || !s[i + 1] || !s[i + 2])
                abort();
            i += 2;
        } else if (!form_char(c)) {
            abort();
        }
    }
    if (eq != 1)
        abort();
}

static void check_json(const uint8_t *s, size_t len, uint32_t n_datums)
{
    json_error_t err;
    json_t *j = json_loadb((const char *)s, len, 0, &err);
    if (!j)
        abort();
    json_t *md = json_object_get(j, "MetricData");
    if (!json_is_array(md) || json_array_size(md) != n_datums)
        abort();
    for (size_t i = 0; i < json_array_size(md); i++) {
        json_t *d = json_array_get(md, i);
        json_t *vals = json_object_get(d, "Values"), *counts = json_object_get(d, "Counts");
        if (vals && (json_array_size(vals) > CWM_MAX_VALUES || json_array_size(vals) < 1 ||
                     json_array_size(vals) != json_array_size(counts)))
            abort();
        if (!vals && !json_object_get(d, "Value") && !json_object_get(d, "StatisticValues"))
            abort();
    }
    json_decref(j);
}

static void check(const struct cwm_batch *b, struct buf *out)
{
    buf_reset(out);
    if (cwm_batch_encode(b, out) != 0)
        abort();
    if (out->len != cwm_batch_bytes(b) || out->len > b->max_bytes ||
        cwm_batch_datums(b) > b->max_datums)
        abort();
    if (b->proto == CWM_QUERY)
        check_query(out->data, out->len);
    else
        check_json(out->data, out->len, cwm_batch_datums(b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader r = {data, size};
    uint8_t mode = take_u8(&r);
    enum cwm_protocol proto = mode & 1 ? CWM_JSON : CWM_QUERY;
    size_t max_bytes = 256 + (((size_t)take_u8(&r) << 8 | take_u8(&r)) % 16384);
    uint32_t max_datums = 1 + take_u8(&r) % 40;
    struct cwm_batch b;
    if (cwm_batch_init(&b, proto, max_bytes, max_datums) != 0)
        return 0;
    struct buf out;
    buf_init(&out, b.max_bytes); /* exactly the limit, as the request body buffer */
    char ns[32];
    take_string(&r, ns, sizeof(ns));
    if (cwm_batch_reset(&b, ns) != 0)
        abort();

    char name[32], dn[4][32], dv[4][32];
    while (r.n > 0) {
        uint8_t op = take_u8(&r);
        struct metric_point p;
        memset(&p, 0, sizeof(p));
        p.namespace_ = ns;
        if (op & 1) {
            take_string(&r, name, sizeof(name));
        } else {
            name[0] = (char)('a' + (op >> 1) % 3);
            name[1] = '\0';
        }
        p.name = name;
        p.n_dims = (op >> 3) % 5;
        for (size_t i = 0; i < p.n_dims; i++) {
            take_string(&r, dn[i], sizeof(dn[i]));
            take_string(&r, dv[i], sizeof(dv[i]));
            p.dims[i].name = dn[i];
            p.dims[i].value = dv[i];
        }
        uint8_t bits = take_u8(&r);
        p.unit = (enum metric_unit)(bits % METRIC_UNIT_MAX);
        p.storage_resolution = bits & 0x80 ? 1 : 60;
        uint64_t raw = take_u64(&r);
        double v;
        if (op & 0x80) {
            memcpy(&v, &raw, sizeof(v));
        } else {
            v = (double)(raw % 8); /* small values repeat: exercises packing */
        }
        if (op & 0x40) {
            p.value_kind = METRIC_VALUE_STATS;
            p.count = v, p.sum = v * 2, p.min = -v, p.max = v;
        } else {
            p.value = v;
        }
        uint64_t ts = 1700000000ull * 1000000000ull + (take_u64(&r) % (1ull << 50));
        struct metric_point copy = p;
        (void)cwm_point_check(&copy, ts, ts);
        int rc = cwm_batch_add(&b, &p, ts);
        if (rc == -ENOSPC) {
            check(&b, &out);
            if (cwm_batch_reset(&b, ns) != 0)
                abort();
            rc = cwm_batch_add(&b, &p, ts);
            if (rc == -ENOSPC)
                abort(); /* an empty batch says -E2BIG */
        }
        if (rc != 0 && rc != -E2BIG && rc != -EINVAL)
            abort();
        check(&b, &out);
    }
    buf_release(&out);
    cwm_batch_release(&b);
    return 0;
}
