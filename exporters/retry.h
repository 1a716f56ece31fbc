/*
 * retry: capped exponential backoff with full jitter (the AWS SDKs' standard retry
 * mode): the delay before attempt n+1 is uniform in [0, min(cap, base * 2^n)].
 *
 * Pure: the random source is injected (struct retry_rng, xorshift64*), so tests fix it.
 * Not thread-safe: one rng per exporter, on the export loop.
 */
#ifndef OSPREY_RETRY_H
#define OSPREY_RETRY_H

#include <stdint.h>

struct retry_rng {
    uint64_t state;
};

void retry_rng_seed(struct retry_rng *rng, uint64_t seed);
uint64_t retry_rng_next(struct retry_rng *rng);

/* attempt: 0 for the first retry. */
uint64_t retry_backoff_ns(struct retry_rng *rng, unsigned attempt, uint64_t base_ns,
                          uint64_t cap_ns);

#endif
