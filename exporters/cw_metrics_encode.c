/*
 * DESIGN
 * A batch is a list of datums (in arrival order) plus a hash table from packing key to
 * the datum currently taking values for that key. Keys (metric name and dimensions) are
 * copied into an arena; packed values live in a pool, chained per datum. Nothing is
 * encoded until the batch is sealed, yet its encoded size is known exactly at every
 * step: a new datum's fixed part and first value are encoded into scratch and measured
 * (the same writers produce the final body), and growing a Values/Counts list changes
 * the size by amounts computed from the same pieces (entry_len, list_fixed). The unit
 * tests and the fuzz target check that cwm_batch_bytes() always equals what
 * cwm_batch_encode() writes, so a request never passes the limits.
 *
 * In the query protocol the datum's index N appears in each of its keys
 * ("MetricData.member.N.Value"); it is fixed when the datum is created (datums are never
 * reordered or removed), so its digits are part of the measured size.
 */
#include "exporters/cw_metrics_encode.h"

#include "agent/jsonw.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIT_LEN(s) (sizeof(s) - 1)

#define QUERY_HEADER "Action=PutMetricData&Version=2010-08-01&Namespace="
#define QUERY_MEMBER "&MetricData.member."
#define QUERY_VALUES ".Values.member."
#define QUERY_COUNTS ".Counts.member."
#define JSON_HEADER  "{\"Namespace\":"
#define JSON_DATA    ",\"MetricData\":["
#define JSON_TRAILER "]}"
#define JSON_VALUES  ",\"Values\":["
#define JSON_COUNTS  "],\"Counts\":["
#define JSON_END     "]"

#define VALUES_INITIAL 256u
#define NO_VALUE       UINT32_MAX

static const char *const stat_names[4] = {"SampleCount", "Sum", "Minimum", "Maximum"};

/* ---- text pieces ------------------------------------------------------------------ */

static bool unreserved(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

size_t cwm_form_encoded_len(const void *s, size_t len)
{
    const uint8_t *p = s;
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += unreserved(p[i]) ? 1 : 3;
    return n;
}

int cwm_form_append(struct buf *b, const void *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    const uint8_t *p = s;
    size_t need = cwm_form_encoded_len(s, len);
    int r = buf_reserve(b, need); /* also makes room for the NUL buf_advance writes */
    if (r != 0)
        return r;
    char *out = (char *)b->data + b->len;
    for (size_t i = 0; i < len; i++) {
        if (unreserved(p[i])) {
            *out++ = (char)p[i];
        } else {
            *out++ = '%';
            *out++ = hex[p[i] >> 4];
            *out++ = hex[p[i] & 15];
        }
    }
    buf_advance(b, need);
    return 0;
}

size_t cwm_format_double(double v, char out[CWM_NUMBER_MAX])
{
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, CWM_NUMBER_MAX, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            break;
    }
    return n > 0 ? (size_t)n : 0;
}

/* Bytes a number takes in the body. */
static size_t number_len(enum cwm_protocol proto, double v)
{
    char text[CWM_NUMBER_MAX];
    size_t n = cwm_format_double(v, text);
    return proto == CWM_QUERY ? cwm_form_encoded_len(text, n) : n;
}

static int put_number(struct buf *o, enum cwm_protocol proto, double v)
{
    char text[CWM_NUMBER_MAX];
    size_t n = cwm_format_double(v, text);
    return proto == CWM_QUERY ? cwm_form_append(o, text, n) : buf_append(o, text, n);
}

static size_t digits(uint64_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* ---- checks ----------------------------------------------------------------------- */

/* Printable ASCII, 1..max bytes, not only spaces (namespace, dimension names/values). */
static bool ascii_text_ok(const char *s, size_t max)
{
    size_t n = 0;
    bool visible = false;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (c < 0x20 || c > 0x7e)
            return false;
        visible |= c != ' ';
    }
    return n >= 1 && n <= max && visible;
}

/* Valid UTF-8 without control characters, 1..max bytes, not only spaces (metric names:
 * an invalid byte would make the query body undecodable and fail the whole request). */
static bool utf8_text_ok(const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    bool visible = false;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            visible |= c != ' ';
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
            return false;
        visible = true;
        i += len;
    }
    return visible;
}

static bool number_ok(double v)
{
    return isfinite(v) && fabs(v) <= CWM_VALUE_LIMIT;
}

int cwm_point_check(const struct metric_point *p, uint64_t ts_ns, uint64_t now_ns)
{
    if (!p->namespace_ || !ascii_text_ok(p->namespace_, METRIC_MAX_NAME) ||
        p->namespace_[0] == ':' || strncmp(p->namespace_, "AWS/", 4) == 0)
        return -EINVAL;
    if (!p->name || !utf8_text_ok(p->name, METRIC_MAX_NAME))
        return -EINVAL;
    if (p->n_dims > METRIC_MAX_DIMS || (unsigned)p->unit >= METRIC_UNIT_MAX)
        return -EINVAL;
    if (p->storage_resolution != 0 && p->storage_resolution != 1 && p->storage_resolution != 60)
        return -EINVAL;
    for (size_t i = 0; i < p->n_dims; i++) {
        const struct metric_dim *d = &p->dims[i];
        if (!d->name || !d->value || !ascii_text_ok(d->name, METRIC_MAX_NAME) ||
            d->name[0] == ':' || !ascii_text_ok(d->value, METRIC_MAX_DIM_VALUE))
            return -EINVAL;
    }
    switch (p->value_kind) {
    case METRIC_VALUE_SINGLE:
        if (!number_ok(p->value))
            return -EINVAL;
        break;
    case METRIC_VALUE_STATS:
        if (!number_ok(p->count) || !number_ok(p->sum) || !number_ok(p->min) || !number_ok(p->max))
            return -EINVAL;
        break;
    default:
        return -EINVAL;
    }
    if (ts_ns + CWM_MAX_AGE_NS < now_ns || ts_ns > now_ns + CWM_MAX_FUTURE_NS)
        return -ERANGE;
    return 0;
}

/* ---- writers: the one place each piece of the body is produced --------------------- */

static int put_member(struct buf *o, uint32_t n)
{
    return buf_printf(o, QUERY_MEMBER "%u.", n);
}

static int put_header(const struct cwm_batch *b, struct buf *o)
{
    size_t ns_len = strlen(b->namespace_);
    if (b->proto == CWM_QUERY) {
        int r = buf_append_str(o, QUERY_HEADER);
        return r ? r : cwm_form_append(o, b->namespace_, ns_len);
    }
    int r = buf_append_str(o, JSON_HEADER);
    if (r == 0)
        r = jsonw_cstring(o, b->namespace_);
    if (r == 0)
        r = buf_append_str(o, JSON_DATA);
    return r;
}

/* The datum without its value part (and, for JSON, without the closing brace). */
static int put_base(const struct cwm_batch *b, struct buf *o, uint32_t n, const char *key,
                    unsigned n_dims, uint64_t ts_ms, unsigned unit, unsigned resolution)
{
    const char *name = key;
    const char *unit_name = metric_unit_name((enum metric_unit)unit);
    time_t secs = (time_t)(ts_ms / 1000);
    unsigned ms = (unsigned)(ts_ms % 1000);
    int r = 0;
    if (b->proto == CWM_QUERY) {
        struct tm tm;
        if (!gmtime_r(&secs, &tm))
            return -EINVAL;
        char iso[64];
        int len =
            snprintf(iso, sizeof(iso), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
        if (len <= 0 || (size_t)len >= sizeof(iso))
            return -EINVAL;
        r = put_member(o, n);
        if (r == 0)
            r = buf_append_str(o, "MetricName=");
        if (r == 0)
            r = cwm_form_append(o, name, strlen(name));
        const char *p = name + strlen(name) + 1;
        for (unsigned i = 0; r == 0 && i < n_dims; i++) {
            const char *dn = p, *dv = p + strlen(p) + 1;
            p = dv + strlen(dv) + 1;
            r = put_member(o, n);
            if (r == 0)
                r = buf_printf(o, "Dimensions.member.%u.Name=", i + 1);
            if (r == 0)
                r = cwm_form_append(o, dn, strlen(dn));
            if (r == 0)
                r = put_member(o, n);
            if (r == 0)
                r = buf_printf(o, "Dimensions.member.%u.Value=", i + 1);
            if (r == 0)
                r = cwm_form_append(o, dv, strlen(dv));
        }
        if (r == 0)
            r = put_member(o, n);
        if (r == 0)
            r = buf_append_str(o, "Timestamp=");
        if (r == 0)
            r = cwm_form_append(o, iso, (size_t)len);
        if (r == 0)
            r = put_member(o, n);
        if (r == 0)
            r = buf_append_str(o, "Unit=");
        if (r == 0)
            r = cwm_form_append(o, unit_name, strlen(unit_name));
        if (r == 0)
            r = put_member(o, n);
        if (r == 0)
            r = buf_printf(o, "StorageResolution=%u", resolution);
        return r;
    }
    r = buf_append_str(o, "{\"MetricName\":");
    if (r == 0)
        r = jsonw_cstring(o, name);
    const char *p = name + strlen(name) + 1;
    if (r == 0 && n_dims)
        r = buf_append_str(o, ",\"Dimensions\":[");
    for (unsigned i = 0; r == 0 && i < n_dims; i++) {
        const char *dn = p, *dv = p + strlen(p) + 1;
        p = dv + strlen(dv) + 1;
        r = buf_append_str(o, i ? ",{\"Name\":" : "{\"Name\":");
        if (r == 0)
            r = jsonw_cstring(o, dn);
        if (r == 0)
            r = buf_append_str(o, ",\"Value\":");
        if (r == 0)
            r = jsonw_cstring(o, dv);
        if (r == 0)
            r = buf_append_str(o, "}");
    }
    if (r == 0 && n_dims)
        r = buf_append_str(o, "]");
    if (r == 0)
        r = buf_printf(o, ",\"Timestamp\":%llu.%03u,\"Unit\":\"%s\",\"StorageResolution\":%u",
                       (unsigned long long)(ts_ms / 1000), ms, unit_name, resolution);
    return r;
}

static int put_value_part(const struct cwm_batch *b, struct buf *o, const struct cwm_datum *d,
                          uint32_t n)
{
    int r = 0;
    bool q = b->proto == CWM_QUERY;
    switch (d->kind) {
    case CWM_DATUM_VALUE:
        r = q ? put_member(o, n) : 0;
        if (r == 0)
            r = buf_append_str(o, q ? "Value=" : ",\"Value\":");
        if (r == 0)
            r = put_number(o, b->proto, d->value);
        return r;
    case CWM_DATUM_STATS:
        for (unsigned i = 0; r == 0 && i < 4; i++) {
            if (q) {
                r = put_member(o, n);
                if (r == 0)
                    r = buf_printf(o, "StatisticValues.%s=", stat_names[i]);
            } else {
                r = buf_printf(o, "%s\"%s\":", i ? "," : ",\"StatisticValues\":{", stat_names[i]);
            }
            if (r == 0)
                r = put_number(o, b->proto, d->stats[i]);
        }
        if (r == 0 && !q)
            r = buf_append_str(o, "}");
        return r;
    case CWM_DATUM_VALUES:
        for (int pass = 0; r == 0 && pass < 2; pass++) {
            if (!q)
                r = buf_append_str(o, pass == 0 ? JSON_VALUES : JSON_COUNTS);
            uint32_t k = 1;
            for (uint32_t i = d->first; r == 0 && i != NO_VALUE; i = b->values[i].next, k++) {
                if (q) {
                    r = put_member(o, n);
                    if (r == 0)
                        r = buf_printf(o, "%s%u=", pass == 0 ? "Values.member." : "Counts.member.",
                                       k);
                } else if (k > 1) {
                    r = buf_append_str(o, ",");
                }
                if (r == 0)
                    r = put_number(o, b->proto,
                                   pass == 0 ? b->values[i].value : b->values[i].count);
            }
        }
        if (r == 0 && !q)
            r = buf_append_str(o, JSON_END);
        return r;
    default:
        return -EINVAL;
    }
}

/* ---- sizes of Values/Counts lists, computed from the writers' pieces --------------- */

/* Fixed bytes of a Values/Counts list. */
static size_t list_fixed(const struct cwm_batch *b)
{
    return b->proto == CWM_QUERY ? 0
                                 : LIT_LEN(JSON_VALUES) + LIT_LEN(JSON_COUNTS) + LIT_LEN(JSON_END);
}

/* Bytes entry k (1-based) of datum n adds to a list. */
static size_t entry_len(const struct cwm_batch *b, uint32_t n, uint32_t k, double value,
                        double count)
{
    size_t len = number_len(b->proto, value) + number_len(b->proto, count);
    if (b->proto == CWM_QUERY) {
        /* "&MetricData.member.<n>.Values.member.<k>=" and the same for Counts. */
        len += LIT_LEN(QUERY_MEMBER) + digits(n) + LIT_LEN(QUERY_VALUES) + digits(k) + 1;
        len += LIT_LEN(QUERY_MEMBER) + digits(n) + LIT_LEN(QUERY_COUNTS) + digits(k) + 1;
    } else if (k > 1) {
        len += 2; /* the commas in both lists */
    }
    return len;
}

/* ---- the batch -------------------------------------------------------------------- */

int cwm_batch_init(struct cwm_batch *b, enum cwm_protocol proto, size_t max_bytes,
                   uint32_t max_datums)
{
    memset(b, 0, sizeof(*b));
    b->proto = proto;
    b->max_bytes = max_bytes && max_bytes < CWM_MAX_BODY_BYTES ? max_bytes : CWM_MAX_BODY_BYTES;
    b->max_datums = max_datums && max_datums < CWM_MAX_DATUMS ? max_datums : CWM_MAX_DATUMS;
    b->values_max = b->max_datums * CWM_MAX_VALUES;
    /* Keys are at most the body's size (encoding never shrinks text) plus NULs. */
    buf_init(&b->arena, 2 * b->max_bytes + 4096);
    buf_init(&b->key, 64 * 1024);
    buf_init(&b->scratch, 2 * b->max_bytes + 4096);
    uint32_t slots = 1;
    while (slots < 2 * b->max_datums)
        slots <<= 1;
    b->table_mask = slots - 1;
    b->datums = calloc(b->max_datums, sizeof(*b->datums));
    b->table = calloc(slots, sizeof(*b->table));
    if (!b->datums || !b->table) {
        cwm_batch_release(b);
        return -ENOMEM;
    }
    return cwm_batch_reset(b, "");
}

void cwm_batch_release(struct cwm_batch *b)
{
    free(b->datums);
    free(b->table);
    free(b->values);
    b->datums = NULL;
    b->table = NULL;
    b->values = NULL;
    b->values_cap = b->n_values = 0;
    b->n_datums = 0;
    buf_release(&b->arena);
    buf_release(&b->key);
    buf_release(&b->scratch);
}

int cwm_batch_reset(struct cwm_batch *b, const char *namespace_)
{
    size_t len = strlen(namespace_);
    if (len >= sizeof(b->namespace_))
        return -EINVAL;
    memcpy(b->namespace_, namespace_, len + 1);
    if (b->table)
        memset(b->table, 0, (size_t)(b->table_mask + 1) * sizeof(*b->table));
    b->n_datums = 0;
    b->n_values = 0;
    b->points = 0;
    buf_reset(&b->arena);
    buf_reset(&b->scratch);
    int r = put_header(b, &b->scratch);
    if (r != 0)
        return r;
    b->header_len = b->scratch.len + (b->proto == CWM_JSON ? LIT_LEN(JSON_TRAILER) : 0);
    b->bytes = b->header_len;
    return 0;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* The point's key ("name\0" then "dim\0value\0" per dimension) into b->key. */
static int build_key(struct cwm_batch *b, const struct metric_point *p)
{
    buf_reset(&b->key);
    int r = buf_append(&b->key, p->name, strlen(p->name) + 1);
    for (size_t i = 0; r == 0 && i < p->n_dims; i++) {
        r = buf_append(&b->key, p->dims[i].name, strlen(p->dims[i].name) + 1);
        if (r == 0)
            r = buf_append(&b->key, p->dims[i].value, strlen(p->dims[i].value) + 1);
    }
    return r;
}

/* Slot of the datum packing this key, or of the empty slot where it would go. */
static uint32_t find_slot(const struct cwm_batch *b, uint64_t hash, unsigned unit,
                          unsigned resolution, uint64_t period)
{
    uint32_t i = (uint32_t)hash & b->table_mask;
    for (;; i = (i + 1) & b->table_mask) {
        uint32_t e = b->table[i];
        if (e == 0)
            return i;
        const struct cwm_datum *d = &b->datums[e - 1];
        if (d->hash == hash && d->unit == unit && d->resolution == resolution &&
            d->period == period && d->key_len == b->key.len &&
            memcmp(b->arena.data + d->key_off, b->key.data, b->key.len) == 0)
            return i;
    }
}

static size_t datum_sep(const struct cwm_batch *b)
{
    return b->proto == CWM_JSON && b->n_datums > 0 ? 1 : 0;
}

/* A new datum for the point; -ENOSPC / -E2BIG when it does not fit. */
static int new_datum(struct cwm_batch *b, const struct metric_point *p, uint64_t ts_ms,
                     unsigned resolution, uint64_t period, uint64_t hash, uint32_t slot)
{
    bool empty = b->n_datums == 0;
    if (b->n_datums >= b->max_datums)
        return -ENOSPC;
    struct cwm_datum d;
    memset(&d, 0, sizeof(d));
    d.n_dims = (uint8_t)p->n_dims;
    d.unit = (uint8_t)p->unit;
    d.resolution = (uint8_t)resolution;
    d.ts_ms = ts_ms;
    d.period = period;
    d.hash = hash;
    d.first = d.last = NO_VALUE;
    if (p->value_kind == METRIC_VALUE_STATS) {
        d.kind = CWM_DATUM_STATS;
        d.stats[0] = p->count;
        d.stats[1] = p->sum;
        d.stats[2] = p->min;
        d.stats[3] = p->max;
    } else {
        d.kind = CWM_DATUM_VALUE;
        d.value = p->value;
    }
    uint32_t n = b->n_datums + 1;
    buf_reset(&b->scratch);
    int r = put_base(b, &b->scratch, n, (const char *)b->key.data, d.n_dims, ts_ms, d.unit,
                     d.resolution);
    if (r != 0)
        return r == -ENOBUFS ? (empty ? -E2BIG : -ENOSPC) : r;
    d.base_len = (uint32_t)b->scratch.len + (b->proto == CWM_JSON ? 1 : 0); /* '}' */
    size_t mark = b->scratch.len;
    r = put_value_part(b, &b->scratch, &d, n);
    if (r != 0)
        return r == -ENOBUFS ? (empty ? -E2BIG : -ENOSPC) : r;
    d.value_len = (uint32_t)(b->scratch.len - mark);
    size_t total = b->bytes + datum_sep(b) + d.base_len + d.value_len;
    if (total > b->max_bytes)
        return empty ? -E2BIG : -ENOSPC;
    d.key_off = (uint32_t)b->arena.len;
    d.key_len = (uint32_t)b->key.len;
    r = buf_append(&b->arena, b->key.data, b->key.len);
    if (r != 0)
        return r == -ENOBUFS ? (empty ? -E2BIG : -ENOSPC) : r;
    b->datums[b->n_datums++] = d;
    b->bytes = total;
    if (d.kind != CWM_DATUM_STATS)
        b->table[slot] = n; /* the newest datum of a key takes its values */
    return 0;
}

/* Room for `need` more values in the pool: 0, -ENOSPC past values_max, -ENOMEM. */
static int values_reserve(struct cwm_batch *b, uint32_t need)
{
    if (b->values_cap - b->n_values >= need)
        return 0;
    if (b->n_values + need > b->values_max)
        return -ENOSPC;
    uint32_t cap = b->values_cap ? b->values_cap : VALUES_INITIAL;
    while (cap < b->n_values + need)
        cap *= 2;
    if (cap > b->values_max)
        cap = b->values_max;
    struct cwm_value *v = realloc(b->values, (size_t)cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    b->values = v;
    b->values_cap = cap;
    return 0;
}

/* Append a value to d's chain; the caller reserved room. */
static void value_link(struct cwm_batch *b, struct cwm_datum *d, double value, double count)
{
    uint32_t i = b->n_values++;
    b->values[i] = (struct cwm_value){value, count, NO_VALUE};
    if (d->last == NO_VALUE)
        d->first = i;
    else
        b->values[d->last].next = i;
    d->last = i;
    d->n_values++;
}

/* Pack `value` into datum d (index n, 1-based): 0, -ENOSPC (does not fit), or 1 when d
 * already holds CWM_MAX_VALUES distinct values and a new datum is needed. */
static int pack(struct cwm_batch *b, struct cwm_datum *d, uint32_t n, double value)
{
    if (d->kind == CWM_DATUM_VALUE) {
        /* One value becomes a list: [u] x2, or [u, v]. */
        double u = d->value;
        size_t list = list_fixed(b);
        if (value == u)
            list += entry_len(b, n, 1, u, 2);
        else
            list += entry_len(b, n, 1, u, 1) + entry_len(b, n, 2, value, 1);
        size_t total = b->bytes - d->value_len + list;
        if (total > b->max_bytes)
            return -ENOSPC;
        int r = values_reserve(b, value == u ? 1 : 2);
        if (r != 0)
            return r;
        d->kind = CWM_DATUM_VALUES;
        value_link(b, d, u, value == u ? 2 : 1);
        if (value != u)
            value_link(b, d, value, 1);
        d->value_len = (uint32_t)list;
        b->bytes = total;
        return 0;
    }
    for (uint32_t i = d->first; i != NO_VALUE; i = b->values[i].next) {
        struct cwm_value *v = &b->values[i];
        if (v->value != value)
            continue;
        size_t grow = number_len(b->proto, v->count + 1) - number_len(b->proto, v->count);
        if (b->bytes + grow > b->max_bytes)
            return -ENOSPC;
        v->count += 1;
        d->value_len += (uint32_t)grow;
        b->bytes += grow;
        return 0;
    }
    if (d->n_values >= CWM_MAX_VALUES)
        return 1;
    size_t grow = entry_len(b, n, d->n_values + 1, value, 1);
    if (b->bytes + grow > b->max_bytes)
        return -ENOSPC;
    int r = values_reserve(b, 1);
    if (r != 0)
        return r;
    value_link(b, d, value, 1);
    d->value_len += (uint32_t)grow;
    b->bytes += grow;
    return 0;
}

int cwm_batch_add(struct cwm_batch *b, const struct metric_point *p, uint64_t ts_ns)
{
    if (!b->datums)
        return -ENOMEM;
    if (p->n_dims > METRIC_MAX_DIMS || (unsigned)p->unit >= METRIC_UNIT_MAX)
        return -EINVAL;
    if (p->value_kind == METRIC_VALUE_STATS) {
        if (!isfinite(p->count) || !isfinite(p->sum) || !isfinite(p->min) || !isfinite(p->max))
            return -EINVAL;
    } else if (p->value_kind == METRIC_VALUE_SINGLE) {
        if (!isfinite(p->value))
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    unsigned resolution = p->storage_resolution == 1 ? 1 : 60;
    uint64_t ts_ms = ts_ns / 1000000ull;
    uint64_t period = ts_ms / (resolution * 1000ull);
    int r = build_key(b, p);
    if (r != 0)
        return r == -ENOBUFS ? -EINVAL : r;
    uint64_t hash = fnv1a(14695981039346656037ull, b->key.data, b->key.len);
    uint8_t extra[3] = {(uint8_t)p->unit, (uint8_t)resolution, 0};
    hash = fnv1a(hash, extra, sizeof(extra));
    hash = fnv1a(hash, &period, sizeof(period));

    uint32_t slot = 0;
    if (p->value_kind == METRIC_VALUE_SINGLE) {
        slot = find_slot(b, hash, (unsigned)p->unit, resolution, period);
        if (b->table[slot]) {
            uint32_t n = b->table[slot];
            r = pack(b, &b->datums[n - 1], n, p->value);
            if (r <= 0) {
                if (r == 0)
                    b->points++;
                return r;
            }
            /* The datum is full: a new one takes over the slot. */
        }
    }
    r = new_datum(b, p, ts_ms, resolution, period, hash, slot);
    if (r == 0)
        b->points++;
    return r;
}

int cwm_batch_encode(const struct cwm_batch *b, struct buf *out)
{
    size_t start = out->len;
    int r = put_header(b, out);
    for (uint32_t i = 0; r == 0 && i < b->n_datums; i++) {
        const struct cwm_datum *d = &b->datums[i];
        if (b->proto == CWM_JSON && i)
            r = buf_append_str(out, ",");
        if (r == 0)
            r = put_base(b, out, i + 1, (const char *)b->arena.data + d->key_off, d->n_dims,
                         d->ts_ms, d->unit, d->resolution);
        if (r == 0)
            r = put_value_part(b, out, d, i + 1);
        if (r == 0 && b->proto == CWM_JSON)
            r = buf_append_str(out, "}");
    }
    if (r == 0 && b->proto == CWM_JSON)
        r = buf_append_str(out, JSON_TRAILER);
    if (r == 0 && out->len - start != b->bytes)
        r = -EPROTO; /* the size accounting is wrong: never send such a body */
    return r;
}
