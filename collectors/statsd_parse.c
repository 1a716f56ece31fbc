/*
 * statsd_parse: see statsd_parse.h.
 *
 * DESIGN: the agent first removes the '#' segments, joins the others with '|' again, and
 * then splits on ':' (values) and '|' (fields). Joining would need a copy; instead the
 * non-tag segments are fed in order to a small state machine that sees the same token
 * stream: tokens separated by ':' or '|' boundaries. A token never spans two segments, so
 * every field is one slice of the caller's line.
 */
#include "collectors/statsd_parse.h"

#include "agent/record.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const statsd_reason_names[STATSD_R_MAX + 1] = {
    [STATSD_R_NO_COLON] = "no_colon",
    [STATSD_R_NO_PIPE] = "no_pipe",
    [STATSD_R_BAD_TYPE] = "bad_type",
    [STATSD_R_BAD_VALUE] = "bad_value",
    [STATSD_R_BAD_RATE] = "bad_rate",
    [STATSD_R_SIGN_NOT_ALLOWED] = "sign_not_allowed",
    [STATSD_R_BAD_NAME] = "bad_name",
    [STATSD_R_BAD_TAG] = "bad_tag",
    [STATSD_R_TOO_MANY_VALUES] = "too_many_values",
    [STATSD_R_DATAGRAM_TOO_LARGE] = "datagram_too_large",
    [STATSD_R_DATAGRAM_TRUNCATED] = "datagram_truncated",
    [STATSD_R_TABLE_FULL] = "table_full",
    [STATSD_R_SET_FULL] = "set_full",
    [STATSD_R_MAX] = NULL,
};

static const char *const type_names[STATSD_TYPE_MAX] = {
    [STATSD_COUNTER] = "counter",     [STATSD_GAUGE] = "gauge", [STATSD_TIMER] = "timing",
    [STATSD_HISTOGRAM] = "histogram", [STATSD_SET] = "set",
};

const char *statsd_type_name(enum statsd_type type)
{
    return (unsigned)type < STATSD_TYPE_MAX ? type_names[type] : "unknown";
}

/* The agent's int64 counters: beyond this a conversion would overflow. */
#define STATSD_COUNTER_LIMIT 9.2e18

static const char EMPTY_TAG_VALUE[] = "<empty>";

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    return false;
}

/* A finite decimal number spelled only with [0-9+-.eE], read whole by strtod. */
static bool parse_number(const char *s, size_t n, double *ret)
{
    char buf[64];
    if (n == 0 || n >= sizeof(buf))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E'))
            return false;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end = NULL;
    double v = strtod(buf, &end);
    if (end != buf + n || !isfinite(v))
        return false;
    *ret = v;
    return true;
}

static bool slice_eq(const char *s, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    return n == m && memcmp(s, lit, n) == 0;
}

static int add_tag(struct statsd_line *l, const char *k, size_t kn, const char *v, size_t vn)
{
    if (kn == 0)
        return 0; /* the agent ignores tags without a key */
    if (vn == 0) {
        v = EMPTY_TAG_VALUE;
        vn = sizeof(EMPTY_TAG_VALUE) - 1;
    }
    if (l->n_tags == STATSD_MAX_TAGS || kn > METRIC_MAX_NAME || vn > METRIC_MAX_DIM_VALUE ||
        has_control(k, kn) || has_control(v, vn))
        return -EBADMSG;
    l->tags[l->n_tags++] = (struct statsd_tag){k, kn, v, vn};
    return 0;
}

/* "k:v,k2,k3:v:w" (the part after '#'). */
static int parse_dd_tags(struct statsd_line *l, const char *s, size_t n)
{
    size_t i = 0;
    while (i <= n) {
        size_t start = i;
        while (i < n && s[i] != ',')
            i++;
        const char *item = s + start;
        size_t len = i - start;
        const char *colon = memchr(item, ':', len);
        int r;
        if (colon)
            r = add_tag(l, item, (size_t)(colon - item), colon + 1,
                        len - (size_t)(colon - item) - 1);
        else
            r = add_tag(l, item, len, NULL, 0);
        if (r != 0)
            return r;
        i++; /* past ',' (or past the end) */
    }
    return 0;
}

/* "name,k=v,k2=v2": the name, then Influx-style tags. */
static int parse_bucket(struct statsd_line *l, const char *s, size_t n)
{
    const char *comma = memchr(s, ',', n);
    size_t name_len = comma ? (size_t)(comma - s) : n;
    if (name_len == 0 || name_len > METRIC_MAX_NAME || has_control(s, name_len) ||
        memchr(s, '#', name_len) || memchr(s, '@', name_len)) {
        l->reason = STATSD_R_BAD_NAME;
        return -EBADMSG;
    }
    l->name = s;
    l->name_len = name_len;
    size_t i = name_len;
    while (i < n) {
        size_t start = ++i; /* past ',' */
        while (i < n && s[i] != ',')
            i++;
        const char *item = s + start;
        size_t len = i - start;
        const char *eq = memchr(item, '=', len);
        if (!eq || memchr(eq + 1, '=', len - (size_t)(eq - item) - 1))
            continue; /* not exactly one '=': ignored, as the agent does */
        if (add_tag(l, item, (size_t)(eq - item), eq + 1, len - (size_t)(eq - item) - 1) != 0) {
            l->reason = STATSD_R_BAD_TAG;
            return -EBADMSG;
        }
    }
    return 0;
}

/* Tags [0, n_dd) came from '#' segments, the rest from the bucket: bucket tags go first
 * so that, among equal keys, a DogStatsD tag is the later one and wins. */
static void put_bucket_tags_first(struct statsd_line *l, size_t n_dd)
{
    struct statsd_tag dd[STATSD_MAX_TAGS];
    size_t n_bucket = l->n_tags - n_dd;
    memcpy(dd, l->tags, n_dd * sizeof(dd[0]));
    memmove(l->tags, l->tags + n_dd, n_bucket * sizeof(dd[0]));
    memcpy(l->tags + n_bucket, dd, n_dd * sizeof(dd[0]));
}

struct bit {
    const char *f[3]; /* value, type, rate */
    size_t fl[3];
    size_t cur; /* index of the '|'-separated field being read */
};

static int finish_bit(struct statsd_line *l, const struct bit *b)
{
    size_t fields = b->cur + 1;
    if (fields < 2) {
        l->reason = STATSD_R_NO_PIPE;
        return -EBADMSG;
    }
    if (l->n_samples == STATSD_MAX_SAMPLES) {
        l->reason = STATSD_R_TOO_MANY_VALUES;
        return -EBADMSG;
    }
    struct statsd_sample s = {.rate = 1.0};
    const char *t = b->f[1];
    size_t tl = b->fl[1];
    if (slice_eq(t, tl, "c"))
        s.type = STATSD_COUNTER;
    else if (slice_eq(t, tl, "g"))
        s.type = STATSD_GAUGE;
    else if (slice_eq(t, tl, "ms"))
        s.type = STATSD_TIMER;
    else if (slice_eq(t, tl, "h"))
        s.type = STATSD_HISTOGRAM;
    else if (slice_eq(t, tl, "s"))
        s.type = STATSD_SET;
    else {
        l->reason = STATSD_R_BAD_TYPE;
        return -EBADMSG;
    }

    const char *v = b->f[0];
    size_t vl = b->fl[0];
    bool sign = vl > 0 && (v[0] == '+' || v[0] == '-');
    if (sign && s.type != STATSD_GAUGE && s.type != STATSD_COUNTER) {
        l->reason = STATSD_R_SIGN_NOT_ALLOWED;
        return -EBADMSG;
    }
    if (fields > 2) {
        double rate;
        if (b->fl[2] < 2 || b->f[2][0] != '@' || !parse_number(b->f[2] + 1, b->fl[2] - 1, &rate) ||
            rate < 0 || rate > 1) {
            l->reason = STATSD_R_BAD_RATE;
            return -EBADMSG;
        }
        if (rate > 0)
            s.rate = rate;
    }
    if (s.type == STATSD_SET) {
        s.str = v;
        s.str_len = vl;
    } else {
        if (!parse_number(v, vl, &s.value)) {
            l->reason = STATSD_R_BAD_VALUE;
            return -EBADMSG;
        }
        if (s.type == STATSD_COUNTER) {
            if (fabs(s.value) >= STATSD_COUNTER_LIMIT) {
                l->reason = STATSD_R_BAD_VALUE;
                return -EBADMSG;
            }
            s.value = trunc(trunc(s.value) / s.rate);
            if (fabs(s.value) >= STATSD_COUNTER_LIMIT) {
                l->reason = STATSD_R_BAD_VALUE;
                return -EBADMSG;
            }
        }
        s.relative = sign && s.type == STATSD_GAUGE;
    }
    l->samples[l->n_samples++] = s;
    return 0;
}

static int tag_cmp(const struct statsd_tag *a, const struct statsd_tag *b)
{
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(a->key, b->key, n);
    if (c != 0)
        return c;
    return a->key_len < b->key_len ? -1 : a->key_len > b->key_len;
}

/* Stable insertion sort by key (few tags), then keep the last of equal keys. */
static void sort_tags(struct statsd_line *l)
{
    for (size_t i = 1; i < l->n_tags; i++) {
        struct statsd_tag t = l->tags[i];
        size_t j = i;
        while (j > 0 && tag_cmp(&l->tags[j - 1], &t) > 0) {
            l->tags[j] = l->tags[j - 1];
            j--;
        }
        l->tags[j] = t;
    }
    size_t out = 0;
    for (size_t i = 0; i < l->n_tags; i++) {
        if (i + 1 < l->n_tags && tag_cmp(&l->tags[i], &l->tags[i + 1]) == 0)
            continue; /* a later one with the same key follows */
        l->tags[out++] = l->tags[i];
    }
    l->n_tags = out;
}

int statsd_parse_line(const char *line, size_t len, struct statsd_line *ret)
{
    ret->name = NULL;
    ret->name_len = 0;
    ret->n_tags = 0;
    ret->n_samples = 0;
    ret->reason = STATSD_R_NO_COLON;

    /* Pass 1: DogStatsD tag segments, anywhere in the line. */
    for (size_t i = 0; i <= len;) {
        size_t start = i;
        while (i < len && line[i] != '|')
            i++;
        if (i > start && line[start] == '#' &&
            parse_dd_tags(ret, line + start + 1, i - start - 1) != 0) {
            ret->reason = STATSD_R_BAD_TAG;
            return -EBADMSG;
        }
        i++;
    }

    /* Pass 2: the other segments, as one token stream. */
    bool in_name = true, name_pipe = false, first_seg = true;
    const char *bucket = NULL;
    size_t bucket_len = 0;
    struct bit b = {0};
    for (size_t i = 0; i <= len;) {
        size_t start = i;
        while (i < len && line[i] != '|')
            i++;
        size_t seg_end = i;
        i++;
        if (seg_end > start && line[start] == '#')
            continue;
        if (!first_seg) {
            if (in_name)
                name_pipe = true;
            else
                b.cur++;
        }
        first_seg = false;
        size_t p = start;
        for (;;) {
            const char *colon = memchr(line + p, ':', seg_end - p);
            size_t tok_end = colon ? (size_t)(colon - line) : seg_end;
            if (in_name) {
                if (!bucket) {
                    bucket = line + p;
                    bucket_len = tok_end - p;
                }
            } else if (b.cur < 3) {
                b.f[b.cur] = line + p;
                b.fl[b.cur] = tok_end - p;
            }
            if (!colon)
                break;
            /* A ':' boundary: the bucket ends, or a new value starts. */
            if (in_name) {
                if (name_pipe) {
                    ret->reason = STATSD_R_BAD_NAME; /* "a|b:1|c": a '|' inside the name */
                    return -EBADMSG;
                }
                size_t n_dd = ret->n_tags;
                if (parse_bucket(ret, bucket ? bucket : "", bucket_len) != 0)
                    return -EBADMSG;
                put_bucket_tags_first(ret, n_dd);
                in_name = false;
            } else if (finish_bit(ret, &b) != 0) {
                return -EBADMSG;
            }
            b = (struct bit){0}; /* the token after ':' is field 0, the value */
            p = tok_end + 1;
        }
    }
    if (in_name) {
        ret->reason = STATSD_R_NO_COLON;
        return -EBADMSG;
    }
    if (finish_bit(ret, &b) != 0)
        return -EBADMSG;
    sort_tags(ret);
    return 0;
}

bool statsd_next_line(const char *buf, size_t len, size_t *pos, const char **ret_line,
                      size_t *ret_len)
{
    size_t i = *pos;
    while (i < len) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - buf) : len;
        size_t s = i, e = end;
        while (s < e && is_space(buf[s]))
            s++;
        while (e > s && is_space(buf[e - 1]))
            e--;
        i = nl ? end + 1 : len;
        if (e > s) {
            *pos = i;
            *ret_line = buf + s;
            *ret_len = e - s;
            return true;
        }
    }
    *pos = len;
    return false;
}
