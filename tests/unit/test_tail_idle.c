/*
 * Tests for the log tailer's idle files (collectors/tail.c): a file quiet for 60 s has its
 * descriptor closed and is reopened by identity — at its path when it grows, or under its
 * new name when it was rotated away while closed. One test, about 65 s long (the idle
 * period is a constant, not a setting).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tail_harness.h"

static void metric_cb(void *user, const char *name, const char *label, const char *label_value,
                      double value)
{
    (void)label;
    (void)label_value;
    if (strcmp(name, "tail_open_files") == 0)
        *(double *)user = value;
}

static double open_files(void)
{
    double v = -1;
    collector_self_metrics(H.c, metric_cb, &v);
    return v;
}

static void test_idle_close_and_reopen(void **state)
{
    (void)state;
    write_to("a.log", "a1\n", false);
    write_to("b.log", "b1\n", false);
    start("{\"file_path\": \"%L/*.log\", \"log_group_name\": \"g\", \"log_stream_name\": \"s\", "
          "\"publish_multi_logs\": true}");
    pump_until(2, 3000);
    ack_all();
    assert_true(open_files() == 2);
    run_for_ms(62000);
    assert_true(open_files() == 0);
    /* Grows at its path: reopened, read from where it was. */
    write_to("a.log", "a2\n", true);
    /* Rotated away while closed, then written: found under its new name. */
    rename_in("b.log", "b.log.old");
    write_to("b.log.old", "b2\n", true);
    pump_until(4, 4000);
    bool a2 = false, b2 = false;
    for (size_t i = 2; i < 4; i++) {
        a2 |= strcmp(H.got[i].msg, "a2") == 0;
        b2 |= strcmp(H.got[i].msg, "b2") == 0;
    }
    assert_true(a2 && b2);
    ack_all();
    run_for_ms(1500);
    assert_true(open_files() == 1); /* b.log.old was finished and dropped */
    stop();
    /* Nothing again after a restart. */
    start("{\"file_path\": \"%L/*.log\", \"log_group_name\": \"g\", \"log_stream_name\": \"s\", "
          "\"publish_multi_logs\": true}");
    run_for_ms(500);
    assert_int_equal(H.n_got, 0);
    stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_idle_close_and_reopen, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
