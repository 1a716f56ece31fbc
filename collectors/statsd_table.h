/*
 * statsd_table: the StatsD aggregation table of one listener, fixed in size.
 *
 * Contract
 * - Everything is allocated by statsd_table_init(); adding samples, iterating and
 *   resetting never allocate. Single-threaded (the collect loop); pure (no I/O, no
 *   logging).
 * - A series is keyed by (type, key), where the key is built by statsd_key_build():
 *   the published name (metric_separator applied) and the sorted tags, as consecutive
 *   NUL-terminated strings "name\0k1\0v1\0k2\0v2\0". Keys are copied into the table's
 *   arena, so the caller's buffers may be reused at once.
 * - Capacity: at most max_series series and arena_bytes of key text per interval, and at
 *   most max_set_values distinct set members (all sets together). When full, a new series
 *   (or member) is refused with -ENOSPC (or -E2BIG for set members); existing series keep
 *   aggregating. The open-addressing indexes have at least twice as many slots as
 *   entries (linear probing stays short).
 * - Aggregates per series, as the CloudWatch agent keeps them: counters the sum of
 *   (already rate-scaled) values; gauges the last value, '+'/'-' samples added to it
 *   (from 0 for a series new in this interval); timers and histograms a count, sum, min
 *   and max, each sample weighted 1/rate; sets the number of distinct members. Set
 *   members are told apart by a 64-bit hash of their text: two different members
 *   colliding (odds about n^2 / 2^65) would count once.
 * - statsd_table_reset() forgets every series in O(1) (a generation counter), which is
 *   the agent's delete_gauges/delete_counters/delete_sets/delete_timings = true.
 */
#ifndef OSPREY_STATSD_TABLE_H
#define OSPREY_STATSD_TABLE_H

#include "collectors/statsd_parse.h"

#include <stddef.h>
#include <stdint.h>

/* Longest key statsd_key_build() produces (name + 30 tags at their maximum would not
 * fit; such keys are refused as too long). */
#define STATSD_KEY_MAX 8192

struct statsd_entry {
    uint32_t key_off;
    uint32_t key_len;
    uint8_t type;   /* enum statsd_type */
    uint8_t n_tags; /* pairs after the name in the key */
    uint32_t set_count;
    double value;                /* counter sum, gauge value */
    double count, sum, min, max; /* timers, histograms */
};

struct statsd_slot;

struct statsd_table {
    struct statsd_entry *entries;
    size_t n_entries, max_series;
    struct statsd_slot *slots;
    size_t slot_mask;
    struct statsd_slot *members;
    size_t member_mask, n_members, max_members;
    char *arena;
    size_t arena_used, arena_cap;
    uint32_t gen;
    uint64_t seed;
};

/* 0, -EINVAL for a zero size, -ENOMEM. `seed` varies the hash (pass something unguessable
 * in production so a sender cannot aim for long probe chains). */
int statsd_table_init(struct statsd_table *t, size_t max_series, size_t max_set_values,
                      size_t arena_bytes, uint64_t seed);
void statsd_table_release(struct statsd_table *t); /* NULL-safe, idempotent */

/* Build the key of a parsed line into buf: 0, or -ENAMETOOLONG when the published name
 * would exceed METRIC_MAX_NAME or the key would exceed cap. sep replaces every '.' of the
 * name (the agent's metric_separator; the agent's default is "_"). */
int statsd_key_build(const struct statsd_line *l, const char *sep, char *buf, size_t cap,
                     size_t *ret_len);

/* Add one sample to the series (s->type, key). 0, -ENOSPC (table or arena full: new
 * series refused), -E2BIG (set member table full: new member refused). */
int statsd_table_add(struct statsd_table *t, const char *key, size_t key_len, size_t n_tags,
                     const struct statsd_sample *s);

static inline size_t statsd_table_count(const struct statsd_table *t)
{
    return t->n_entries;
}

/* Entries in first-seen order, 0 <= i < statsd_table_count(). */
static inline const struct statsd_entry *statsd_table_entry(const struct statsd_table *t, size_t i)
{
    return &t->entries[i];
}

static inline const char *statsd_entry_key(const struct statsd_table *t,
                                           const struct statsd_entry *e)
{
    return t->arena + e->key_off;
}

void statsd_table_reset(struct statsd_table *t);

#endif
