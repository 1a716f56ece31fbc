/*
 * statsd_table: see statsd_table.h.
 *
 * DESIGN: entries live in a dense array in first-seen order (flush walks it, nothing
 * else does). Two open-addressing indexes with linear probing point into it: one for
 * series (hash of type + key -> entry), one for set members (hash of member text mixed
 * with the entry index). A slot is in use only when its generation equals the table's,
 * so a reset is one increment, not a sweep of megabytes every interval.
 */
#include "collectors/statsd_table.h"

#include "agent/record.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct statsd_slot {
    uint64_t hash;
    uint32_t gen;
    uint32_t entry;
};

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

/* Eight bytes at a time, then the splitmix64 finaliser: fast, and good enough for an
 * index whose keys are also compared in full. */
static uint64_t hash_bytes(const void *data, size_t n, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = seed ^ ((uint64_t)n * 0x9e3779b97f4a7c15ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ mix64(w)) * 0x9e3779b97f4a7c15ull;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ mix64(w ^ 0xff)) * 0x9e3779b97f4a7c15ull;
    return mix64(h);
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 16;
    while (p < n)
        p <<= 1;
    return p;
}

int statsd_table_init(struct statsd_table *t, size_t max_series, size_t max_set_values,
                      size_t arena_bytes, uint64_t seed)
{
    memset(t, 0, sizeof(*t));
    if (max_series == 0 || max_set_values == 0 || arena_bytes == 0 || max_series > UINT32_MAX / 2 ||
        max_set_values > UINT32_MAX / 2 || arena_bytes > UINT32_MAX)
        return -EINVAL;
    size_t slots = pow2_at_least(max_series * 2);
    size_t members = pow2_at_least(max_set_values * 2);
    t->entries = calloc(max_series, sizeof(*t->entries));
    t->slots = calloc(slots, sizeof(*t->slots));
    t->members = calloc(members, sizeof(*t->members));
    t->arena = malloc(arena_bytes);
    if (!t->entries || !t->slots || !t->members || !t->arena) {
        statsd_table_release(t);
        return -ENOMEM;
    }
    t->max_series = max_series;
    t->slot_mask = slots - 1;
    t->member_mask = members - 1;
    t->max_members = max_set_values;
    t->arena_cap = arena_bytes;
    t->gen = 1; /* calloc'd slots carry generation 0: all free */
    t->seed = seed;
    return 0;
}

void statsd_table_release(struct statsd_table *t)
{
    if (!t)
        return;
    free(t->entries);
    free(t->slots);
    free(t->members);
    free(t->arena);
    memset(t, 0, sizeof(*t));
}

void statsd_table_reset(struct statsd_table *t)
{
    t->n_entries = 0;
    t->n_members = 0;
    t->arena_used = 0;
    if (++t->gen == 0) {
        /* Wrapped after 2^32 intervals: stale slots could look current again. */
        memset(t->slots, 0, (t->slot_mask + 1) * sizeof(*t->slots));
        memset(t->members, 0, (t->member_mask + 1) * sizeof(*t->members));
        t->gen = 1;
    }
}

static int append(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    if (n + 1 > cap - *len)
        return -ENAMETOOLONG;
    memcpy(buf + *len, s, n);
    buf[*len + n] = '\0';
    *len += n + 1;
    return 0;
}

int statsd_key_build(const struct statsd_line *l, const char *sep, char *buf, size_t cap,
                     size_t *ret_len)
{
    size_t sep_len = strlen(sep);
    size_t len = 0;
    for (size_t i = 0; i < l->name_len; i++) {
        const char *s = l->name[i] == '.' ? sep : &l->name[i];
        size_t n = l->name[i] == '.' ? sep_len : 1;
        if (len + n > METRIC_MAX_NAME || len + n >= cap)
            return -ENAMETOOLONG;
        memcpy(buf + len, s, n);
        len += n;
    }
    if (len == 0 || len >= cap)
        return -ENAMETOOLONG; /* the name was only dots and the separator is empty */
    buf[len++] = '\0';
    for (size_t i = 0; i < l->n_tags; i++) {
        const struct statsd_tag *tg = &l->tags[i];
        int r = append(buf, cap, &len, tg->key, tg->key_len);
        if (r == 0)
            r = append(buf, cap, &len, tg->value, tg->value_len);
        if (r != 0)
            return r;
    }
    *ret_len = len;
    return 0;
}

static struct statsd_entry *find_or_insert(struct statsd_table *t, const char *key, size_t key_len,
                                           size_t n_tags, enum statsd_type type)
{
    uint64_t h = hash_bytes(key, key_len, t->seed ^ (uint64_t)type);
    for (size_t i = h & t->slot_mask;; i = (i + 1) & t->slot_mask) {
        struct statsd_slot *s = &t->slots[i];
        if (s->gen != t->gen) {
            if (t->n_entries == t->max_series || key_len > t->arena_cap - t->arena_used)
                return NULL;
            struct statsd_entry *e = &t->entries[t->n_entries];
            memset(e, 0, sizeof(*e));
            memcpy(t->arena + t->arena_used, key, key_len);
            e->key_off = (uint32_t)t->arena_used;
            e->key_len = (uint32_t)key_len;
            e->type = (uint8_t)type;
            e->n_tags = (uint8_t)n_tags;
            t->arena_used += key_len;
            *s = (struct statsd_slot){.hash = h, .gen = t->gen, .entry = (uint32_t)t->n_entries};
            t->n_entries++;
            return e;
        }
        if (s->hash == h) {
            struct statsd_entry *e = &t->entries[s->entry];
            if (e->type == type && e->key_len == key_len &&
                memcmp(t->arena + e->key_off, key, key_len) == 0)
                return e;
        }
    }
}

/* true when the member is new to the set of entry `idx`; -E2BIG when it is new and there
 * is no room for it. */
static int set_insert(struct statsd_table *t, uint32_t idx, const char *str, size_t len)
{
    uint64_t h = hash_bytes(str, len, t->seed ^ 0x5e75e75e75e75e75ull) ^ mix64((uint64_t)idx + 1);
    for (size_t i = h & t->member_mask;; i = (i + 1) & t->member_mask) {
        struct statsd_slot *s = &t->members[i];
        if (s->gen != t->gen) {
            if (t->n_members == t->max_members)
                return -E2BIG;
            *s = (struct statsd_slot){.hash = h, .gen = t->gen, .entry = idx};
            t->n_members++;
            return 1;
        }
        if (s->hash == h && s->entry == idx)
            return 0;
    }
}

int statsd_table_add(struct statsd_table *t, const char *key, size_t key_len, size_t n_tags,
                     const struct statsd_sample *s)
{
    struct statsd_entry *e = find_or_insert(t, key, key_len, n_tags, s->type);
    if (!e)
        return -ENOSPC;
    switch (s->type) {
    case STATSD_COUNTER:
        e->value += s->value;
        break;
    case STATSD_GAUGE:
        e->value = s->relative ? e->value + s->value : s->value;
        break;
    case STATSD_TIMER:
    case STATSD_HISTOGRAM: {
        double w = 1.0 / s->rate;
        if (e->count == 0 || s->value < e->min)
            e->min = s->value;
        if (e->count == 0 || s->value > e->max)
            e->max = s->value;
        e->count += w;
        e->sum += s->value * w;
        break;
    }
    case STATSD_SET: {
        int r = set_insert(t, (uint32_t)(e - t->entries), s->str, s->str_len);
        if (r < 0)
            return r;
        e->set_count += (uint32_t)r;
        break;
    }
    default:
        break;
    }
    return 0;
}
