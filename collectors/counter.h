/*
 * counter: turns a cumulative kernel counter (bytes sent, reads completed, …) into the
 * per-interval delta that is published, as the CloudWatch agent publishes diskio_* and
 * net_* values.
 *
 * Contract
 * - One struct counter per counter per series, zero-initialised, owned by the collector
 *   (collect loop only). counter_delta() records `now` and says whether a delta may be
 *   published: never for the first sample after start or after the series reappeared
 *   (counter_forget), never when the counter went backwards (a reset: device re-added,
 *   module reloaded, 32-bit wrap) — those would be spikes, not traffic.
 * - Pure, no allocation, no I/O.
 */
#ifndef OSPREY_COUNTER_H
#define OSPREY_COUNTER_H

#include <stdbool.h>
#include <stdint.h>

struct counter {
    uint64_t last;
    bool seen;
};

/* true with *ret_delta = now - last when publishable; false (first sample or reset). */
static inline bool counter_delta(struct counter *c, uint64_t now, uint64_t *ret_delta)
{
    bool ok = c->seen && now >= c->last;
    *ret_delta = ok ? now - c->last : 0;
    c->last = now;
    c->seen = true;
    return ok;
}

/* The series went away: its next sample is a first sample again. */
static inline void counter_forget(struct counter *c)
{
    c->seen = false;
}

#endif
