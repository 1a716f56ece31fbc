/*
 * collector_test: what the collector unit tests share — stopping a collector that runs
 * on the test's own loop and checking it left nothing open.
 *
 * Contract: test code only (cmocka assertions); single-threaded, on the test's loop.
 */
#ifndef OSPREY_TEST_COLLECTOR_TEST_H
#define OSPREY_TEST_COLLECTOR_TEST_H

#include <stdbool.h>
#include <uv.h>

#include "collectors/collector.h"

static inline void collector_test_on_stopped(struct collector *c, void *data)
{
    (void)c;
    *(bool *)data = true;
}

/* Stop `c`, run `loop` until its handles are closed, check none is left, destroy it. */
static inline void collector_test_stop(uv_loop_t *loop, struct collector *c)
{
    bool stopped = false;
    collector_stop(c, collector_test_on_stopped, &stopped);
    for (int i = 0; i < 100 && !stopped; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    assert_true(stopped);
    assert_int_equal(c->open_handles, 0);
    collector_destroy(c);
}

#endif
