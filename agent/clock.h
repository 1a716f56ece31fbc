/*
 * clock: the agent's notion of time, in u64 nanoseconds throughout.
 *
 * Contract: thread-safe, never fails (a failing clock_gettime aborts, since nothing can
 * run without a clock). Code that must be testable with a fixed time takes `now_ns` as
 * a parameter instead of calling these.
 */
#ifndef OSPREY_CLOCK_H
#define OSPREY_CLOCK_H

#include <stdint.h>

#define NS_PER_SEC 1000000000ull
#define NS_PER_MS  1000000ull

uint64_t clock_realtime_ns(void);
uint64_t clock_monotonic_ns(void);

#endif
