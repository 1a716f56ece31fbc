/*
 * selfstats: the agent's own counters, one set per plugin instance.
 *
 * Contract
 * - Counters are atomics: the owning instance's thread increments them (relaxed), any
 *   thread may read them (the summary line, and later the /metrics endpoint).
 * - A struct selfstats is embedded in its plugin instance and registered with the agent
 *   for the instance's lifetime.
 * - Every record a plugin does not pass on is counted under one drop reason: nothing is
 *   dropped silently.
 * - A plugin may also name finer reasons of its own (a listener's "bad_type",
 *   "no_value", …): it points reject_names at a static NULL-terminated table of at most
 *   SELFSTATS_REJECT_MAX names before it starts, and counts with selfstats_reject(), which
 *   adds to both the fine reason and its coarse drop reason. The summary line and the
 *   self-metrics show every fine reason that is non-zero.
 */
#ifndef OSPREY_SELFSTATS_H
#define OSPREY_SELFSTATS_H

#include <stdatomic.h>
#include <stdint.h>

enum selfstats_drop {
    DROP_RING_FULL = 0,     /* the ring had no room (UDP sources, metrics) */
    DROP_MALFORMED,         /* input could not be parsed */
    DROP_TOO_LARGE,         /* input over a size limit */
    DROP_INVALID,           /* parsed but outside the model's limits */
    DROP_REJECTED,          /* the destination refused it (validation) */
    DROP_RETRIES_EXHAUSTED, /* gave up after the retry budget */
    DROP_WRITE_ERROR,       /* a local sink could not write it */
    DROP_SHUTDOWN,          /* still queued when the shutdown deadline passed */
    DROP_REASON_MAX
};

const char *selfstats_drop_name(enum selfstats_drop reason);

#define SELFSTATS_REJECT_MAX 24

struct selfstats {
    _Atomic uint64_t records_in;
    _Atomic uint64_t records_out;
    _Atomic uint64_t bytes_in;
    _Atomic uint64_t bytes_out;
    _Atomic uint64_t errors;
    _Atomic uint64_t paused; /* times the source paused for lack of ring space */
    _Atomic uint64_t batches_ok;
    _Atomic uint64_t batches_failed;
    _Atomic uint64_t retries;
    _Atomic uint64_t dropped[DROP_REASON_MAX];
    const char *const *reject_names; /* plugin-owned static table, NULL-terminated */
    _Atomic uint64_t rejects[SELFSTATS_REJECT_MAX];
};

static inline void selfstats_add(_Atomic uint64_t *counter, uint64_t n)
{
    atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

static inline uint64_t selfstats_get(_Atomic uint64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

static inline void selfstats_drop(struct selfstats *s, enum selfstats_drop reason, uint64_t n)
{
    atomic_fetch_add_explicit(&s->dropped[reason], n, memory_order_relaxed);
}

/* One input dropped for the plugin's fine reason `which` (an index into reject_names),
 * counted under the coarse `reason` too. */
static inline void selfstats_reject(struct selfstats *s, enum selfstats_drop reason, unsigned which,
                                    uint64_t n)
{
    if (which < SELFSTATS_REJECT_MAX)
        atomic_fetch_add_explicit(&s->rejects[which], n, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->dropped[reason], n, memory_order_relaxed);
}

uint64_t selfstats_dropped_total(struct selfstats *s);

#endif
