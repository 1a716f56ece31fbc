/*
 * Fuzz target: a StatsD datagram split by statsd_next_line(), each line through
 * statsd_parse_line(), the accepted ones keyed (statsd_key_build) and aggregated into a
 * small statsd_table that is reset now and then. Checks the parser's promises: every
 * slice inside the input, names and tags within CloudWatch's limits and free of the
 * forbidden characters, tags sorted with unique keys, finite values, counters integral,
 * rates in (0, 1], and refusals carrying a parser reason.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/record.h"
#include "collectors/statsd_parse.h"
#include "collectors/statsd_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(const char *p, size_t n, const char *buf, size_t len)
{
    return n == 0 || (p >= buf && p + n <= buf + len);
}

static int key_cmp(const struct statsd_tag *a, const struct statsd_tag *b)
{
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(a->key, b->key, n);
    return c ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

static void check_line(const struct statsd_line *l, const char *buf, size_t len)
{
    if (l->name_len == 0 || l->name_len > METRIC_MAX_NAME ||
        !inside(l->name, l->name_len, buf, len))
        abort();
    for (size_t i = 0; i < l->name_len; i++) {
        unsigned char c = (unsigned char)l->name[i];
        if (c < 0x20 || c == 0x7f || c == ':' || c == '|' || c == '#' || c == '@')
            abort();
    }
    if (l->n_samples == 0 || l->n_samples > STATSD_MAX_SAMPLES || l->n_tags > STATSD_MAX_TAGS)
        abort();
    for (size_t i = 0; i < l->n_tags; i++) {
        const struct statsd_tag *t = &l->tags[i];
        if (t->key_len == 0 || t->key_len > METRIC_MAX_NAME || t->value_len == 0 ||
            t->value_len > METRIC_MAX_DIM_VALUE || !inside(t->key, t->key_len, buf, len))
            abort();
        if (!inside(t->value, t->value_len, buf, len) && strncmp(t->value, "<empty>", 7) != 0)
            abort();
        if (memchr(t->key, '\0', t->key_len) || memchr(t->value, '\0', t->value_len))
            abort();
        if (i > 0 && key_cmp(&l->tags[i - 1], t) >= 0)
            abort();
    }
    for (size_t i = 0; i < l->n_samples; i++) {
        const struct statsd_sample *s = &l->samples[i];
        if ((unsigned)s->type >= STATSD_TYPE_MAX || !(s->rate > 0 && s->rate <= 1))
            abort();
        if (s->type == STATSD_SET) {
            if (!inside(s->str, s->str_len, buf, len))
                abort();
        } else if (!isfinite(s->value)) {
            abort();
        }
        if (s->type == STATSD_COUNTER && s->value != trunc(s->value))
            abort();
        if (s->relative && s->type != STATSD_GAUGE)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct statsd_table table;
    static bool ready;
    static unsigned runs;
    static struct statsd_line l;
    static char key[STATSD_KEY_MAX];
    if (!ready) {
        if (statsd_table_init(&table, 64, 64, 64 * 64, 1) != 0)
            abort();
        ready = true;
    }
    if (++runs % 16 == 0)
        statsd_table_reset(&table);

    const char *buf = (const char *)data;
    size_t pos = 0, n;
    const char *line;
    while (statsd_next_line(buf, size, &pos, &line, &n)) {
        if (n == 0 || !inside(line, n, buf, size) || line[0] == ' ' || line[n - 1] == ' ')
            abort();
        int r = statsd_parse_line(line, n, &l);
        if (r != 0) {
            if (r != -EBADMSG || l.reason >= STATSD_R_DATAGRAM_TOO_LARGE)
                abort();
            continue;
        }
        check_line(&l, line, n);
        size_t key_len;
        if (statsd_key_build(&l, "_", key, sizeof(key), &key_len) != 0)
            continue;
        if (strlen(key) > METRIC_MAX_NAME)
            abort();
        for (size_t i = 0; i < l.n_samples; i++) {
            r = statsd_table_add(&table, key, key_len, l.n_tags, &l.samples[i]);
            if (r != 0 && r != -ENOSPC && r != -E2BIG)
                abort();
        }
        if (statsd_table_count(&table) > 64)
            abort();
    }
    if (pos != size)
        abort();
    return 0;
}
