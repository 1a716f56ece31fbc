#include "agent/selfstats.h"

static const char *const drop_names[DROP_REASON_MAX] = {
    "ring_full", "malformed",         "too_large",   "invalid",
    "rejected",  "retries_exhausted", "write_error", "shutdown",
};

const char *selfstats_drop_name(enum selfstats_drop reason)
{
    return (unsigned)reason < DROP_REASON_MAX ? drop_names[reason] : "unknown";
}

uint64_t selfstats_dropped_total(struct selfstats *s)
{
    uint64_t total = 0;
    for (int i = 0; i < DROP_REASON_MAX; i++)
        total += selfstats_get(&s->dropped[i]);
    return total;
}
