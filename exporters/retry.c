#include "exporters/retry.h"

void retry_rng_seed(struct retry_rng *rng, uint64_t seed)
{
    rng->state = seed ? seed : 0x9E3779B97F4A7C15ull;
}

uint64_t retry_rng_next(struct retry_rng *rng)
{
    uint64_t x = rng->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng->state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

uint64_t retry_backoff_ns(struct retry_rng *rng, unsigned attempt, uint64_t base_ns,
                          uint64_t cap_ns)
{
    uint64_t ceiling = base_ns;
    for (unsigned i = 0; i < attempt && ceiling < cap_ns; i++)
        ceiling = ceiling > cap_ns / 2 ? cap_ns : ceiling * 2;
    if (ceiling > cap_ns)
        ceiling = cap_ns;
    if (ceiling == 0)
        return 0;
    return retry_rng_next(rng) % (ceiling + 1);
}
