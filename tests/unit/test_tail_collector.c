/*
 * Tests for the log file collector (collectors/tail.c) on a real libuv loop and a real
 * ring, over files in a temporary directory: tailing, delivery acks and checkpoints,
 * restarts, every rotation style, backpressure, give-up rewinds, from_beginning,
 * publish_multi_logs and blacklist. Each test checks the exact sequence of messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/clock.h"
#include "agent/config.h"
#include "agent/plugin.h"
#include "agent/record.h"
#include "agent/ring.h"
#include "collector_test.h"
#include "collectors/collector.h"

#include "tail_harness.h"

/* ---- tests ------------------------------------------------------------------------ */

static void test_basic_ack_checkpoint_restart(void **state)
{
    (void)state;
    write_to("app.log", "a\nb\nc\n", false);
    start(ENTRY_APP);
    pump_until(3, 3000);
    EXPECT(0, "a", "b", "c");
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(H.got[i].cookie, i + 1);
        assert_string_equal(H.got[i].group, "g");
        assert_string_equal(H.got[i].stream, "s");
    }
    write_to("app.log", "d\npartial", true);
    pump_until(4, 3000);
    EXPECT(3, "d");
    assert_int_equal(H.got[3].cookie, 4);
    assert_false(collector_quiescent(H.c));
    ack_all();
    assert_true(collector_quiescent(H.c));
    run_for_ms(1200); /* the checkpoint timer */
    stop();

    /* Restart: exactly what follows the delivered lines; the partial line is completed. */
    start(ENTRY_APP);
    run_for_ms(300);
    assert_int_equal(H.n_got, 0);
    write_to("app.log", " line\ne\n", true);
    pump_until(2, 3000);
    EXPECT(0, "partial line", "e");
    assert_int_equal(H.got[0].cookie, 1);
    /* Only the first is delivered: a restart sends the second again, nothing else. */
    ack_range(1, 1, DELIVERY_ACCEPTED);
    stop(); /* stop writes the checkpoint */

    start(ENTRY_APP);
    pump_until(1, 3000);
    EXPECT(0, "e");
    run_for_ms(200);
    assert_int_equal(H.n_got, 1);
    stop();
}

static void test_rename_and_create(void **state)
{
    (void)state;
    write_to("app.log", "1\n2\n", false);
    start(ENTRY_APP);
    pump_until(2, 3000);
    rename_in("app.log", "app.log.1");
    write_to("app.log.1", "3\nlast-partial", true); /* the writer still had it open */
    write_to("app.log", "4\n5\n", false);
    pump_until(6, 5000);
    /* The old file is read to its end, its partial line finished once it has been quiet
     * for a second, and only then the new file: one stream keeps the files' order. */
    EXPECT(0, "1", "2", "3", "last-partial", "4", "5");
    ack_all();
    run_for_ms(1300);
    stop();
    /* Nothing is read twice after a restart. */
    start(ENTRY_APP);
    run_for_ms(500);
    assert_int_equal(H.n_got, 0);
    stop();
}

static void test_copytruncate(void **state)
{
    (void)state;
    write_to("app.log", "1\n2\n3\n", false);
    start(ENTRY_APP);
    pump_until(3, 3000);
    ack_all();
    /* copytruncate: copy, truncate in place; the writer goes on at offset 0 with more
     * bytes than there were (size alone would not show the truncation). */
    write_to("app.log", "four is longer\n", false);
    pump_until(4, 4000);
    EXPECT(3, "four is longer");
    assert_int_equal(fine(REJ_TRUNCATED), 0);
    write_to("app.log", "5\n", true);
    pump_until(5, 3000);
    EXPECT(4, "5");
    ack_all();
    stop();
    start(ENTRY_APP);
    run_for_ms(400);
    assert_int_equal(H.n_got, 0);
    stop();
}

static void test_truncate_to_zero(void **state)
{
    (void)state;
    write_to("app.log", "aaaa\nbbbb\n", false);
    start(ENTRY_APP);
    pump_until(2, 3000);
    char p[256];
    path_of(p, sizeof(p), "app.log");
    assert_int_equal(truncate(p, 0), 0);
    run_for_ms(1300); /* the probe sees size 0 < offset */
    write_to("app.log", "x\n", true);
    pump_until(3, 3000);
    EXPECT(0, "aaaa", "bbbb", "x");
    stop();
}

static void test_symlink_swap(void **state)
{
    (void)state;
    write_to("a.log", "a1\na2\n", false);
    char link[256], tmp[256], target[256];
    path_of(link, sizeof(link), "current");
    path_of(tmp, sizeof(tmp), "current.tmp");
    path_of(target, sizeof(target), "a.log");
    assert_int_equal(symlink(target, link), 0);
    start("{\"file_path\": \"%L/current\", \"log_group_name\": \"g\", \"log_stream_name\": \"s\"}");
    pump_until(2, 3000);
    write_to("b.log", "b1\nb2\n", false);
    path_of(target, sizeof(target), "b.log");
    assert_int_equal(symlink(target, tmp), 0);
    assert_int_equal(rename(tmp, link), 0);
    write_to("a.log", "a3\n", true); /* late write to the old target */
    pump_until(5, 5000);
    EXPECT(0, "a1", "a2", "a3", "b1", "b2");
    stop();
}

static void test_delete_with_unread_data(void **state)
{
    (void)state;
    write_to("app.log", "1\n", false);
    start(ENTRY_APP);
    pump_until(1, 3000);
    /* Written and deleted before the loop runs again: only our descriptor has them. */
    write_to("app.log", "2\n3\n", true);
    remove_in("app.log");
    pump_until(3, 5000);
    EXPECT(0, "1", "2", "3");
    ack_all();
    run_for_ms(2500);
    assert_int_equal(H.n_got, 3);
    stop();
}

static void test_downtime_across_three_rotations(void **state)
{
    (void)state;
    write_to("app.log", "1\n2\n3\n", false);
    start(ENTRY_APP);
    pump_until(3, 3000);
    ack_range(1, 2, DELIVERY_ACCEPTED); /* "3" is still in flight when we stop */
    run_for_ms(1200);
    stop();
    /* While stopped: more lines, then three rotations (app.log -> .1 -> .2 -> .3). */
    write_to("app.log", "4\n", true);
    rename_in("app.log", "app.log.1");
    write_to("app.log", "b\n", false);
    rename_in("app.log.1", "app.log.2");
    rename_in("app.log", "app.log.1");
    write_to("app.log", "c\n", false);
    rename_in("app.log.2", "app.log.3");
    rename_in("app.log.1", "app.log.2");
    rename_in("app.log", "app.log.1");
    write_to("app.log", "d\n", false);
    start(ENTRY_APP);
    /* The checkpointed file is found as app.log.3 by its identity: its unread tail, then
     * the current file. */
    pump_until(3, 5000);
    EXPECT(0, "3", "4", "d");
    run_for_ms(300);
    assert_int_equal(H.n_got, 3);
    stop();
}

static void test_inode_reuse_detected(void **state)
{
    (void)state;
    write_to("app.log", "aaaa\nbbbb\n", false);
    start(ENTRY_APP);
    pump_until(2, 3000);
    ack_all();
    stop();
    /* Same inode, different content (what a reused inode looks like to us). */
    write_to("app.log", "xxxxxxxx\nyyyy\n", false);
    start(ENTRY_APP);
    pump_until(2, 3000);
    EXPECT(0, "xxxxxxxx", "yyyy");
    stop();
}

static void test_full_ring_pauses_without_loss(void **state)
{
    (void)state;
    char buf[64 * 1000 + 1];
    size_t n = 0;
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "line %04d %040d\n", i, i);
    write_to("app.log", buf, false);
    H.ring_bytes = RING_MIN_CAPACITY; /* a few records at a time */
    int r = create(ENTRY_APP);
    assert_int_equal(r, 0);
    H.c->n_consumers = 1;
    assert_int_equal(uv_loop_init(&H.loop), 0);
    assert_int_equal(ring_init(&H.ring, H.ring_bytes), 0);
    H.out.ring = &H.ring;
    assert_int_equal(collector_start(H.c, &H.loop, &H.out), 0);
    H.running = true;
    /* Let it fill the ring and pause before anything is drained. */
    for (int i = 0; i < 20; i++)
        uv_run(&H.loop, UV_RUN_NOWAIT);
    assert_true(selfstats_get(&H.c->stats.paused) > 0);
    pump_until(1000, 10000);
    for (int i = 0; i < 1000; i++) {
        char want[64];
        snprintf(want, sizeof(want), "line %04d %040d", i, i);
        assert_string_equal(H.got[i].msg, want);
        assert_int_equal(H.got[i].cookie, (uint64_t)i + 1);
    }
    assert_int_equal(selfstats_dropped_total(&H.c->stats), 0);
    stop();
}

static void test_gave_up_rewinds(void **state)
{
    (void)state;
    write_to("app.log", "1\n2\n3\n", false);
    start(ENTRY_APP);
    pump_until(3, 3000);
    ack_range(1, 1, DELIVERY_ACCEPTED);
    ack_range(2, 3, DELIVERY_GAVE_UP);
    pump_until(5, 3000);
    EXPECT(3, "2", "3");
    assert_int_equal(H.got[3].cookie, 4);
    assert_int_equal(H.got[4].cookie, 5);
    assert_int_equal(fine(REJ_RESENT), 1);
    ack_range(4, 5, DELIVERY_ACCEPTED);
    stop();
    start(ENTRY_APP);
    run_for_ms(400);
    assert_int_equal(H.n_got, 0);
    stop();
}

static void test_rejected_completes(void **state)
{
    (void)state;
    write_to("app.log", "1\n2\n", false);
    start(ENTRY_APP);
    pump_until(2, 3000);
    ack_range(1, 2, DELIVERY_REJECTED);
    assert_true(collector_quiescent(H.c));
    assert_int_equal(fine(REJ_REJECTED), 2);
    stop();
    start(ENTRY_APP);
    run_for_ms(400);
    assert_int_equal(H.n_got, 0); /* rejected is final: not sent again */
    stop();
}

static void test_from_beginning_false(void **state)
{
    (void)state;
    write_to("old.log", "old1\nold2\n", false);
    start("{\"file_path\": \"%L/*.log\", \"log_group_name\": \"g\", \"log_stream_name\": \"s\", "
          "\"from_beginning\": false, \"publish_multi_logs\": true}");
    run_for_ms(300);
    assert_int_equal(H.n_got, 0);
    write_to("old.log", "new1\n", true);
    pump_until(1, 3000);
    EXPECT(0, "new1");
    /* A file that appears after start is read from its beginning. */
    write_to("fresh.log", "f1\nf2\n", false);
    pump_until(3, 6000);
    EXPECT(1, "f1", "f2");
    stop();
}

static void test_publish_multi_logs(void **state)
{
    (void)state;
    write_to("a.log", "a1\n", false);
    write_to("b.log", "b1\n", false);
    start("{\"file_path\": \"%L/*.log\", \"log_group_name\": \"g\", \"log_stream_name\": \"s\", "
          "\"publish_multi_logs\": true}");
    pump_until(2, 3000);
    bool seen_a = false, seen_b = false;
    char want_a[256], want_b[256];
    snprintf(want_a, sizeof(want_a), "s_%s/a.log", H.logs);
    snprintf(want_b, sizeof(want_b), "s_%s/b.log", H.logs);
    for (char *p = want_a + 2; *p; p++)
        if (*p == '/')
            *p = '_';
    for (char *p = want_b + 2; *p; p++)
        if (*p == '/')
            *p = '_';
    for (size_t i = 0; i < 2; i++) {
        if (strcmp(H.got[i].msg, "a1") == 0) {
            seen_a = true;
            assert_string_equal(H.got[i].stream, want_a);
        } else if (strcmp(H.got[i].msg, "b1") == 0) {
            seen_b = true;
            assert_string_equal(H.got[i].stream, want_b);
        }
        assert_string_equal(H.got[i].group, "g");
    }
    assert_true(seen_a && seen_b);
    stop();
}

static void test_single_file_mode_takes_newest(void **state)
{
    (void)state;
    write_to("app.log.1", "old\n", false);
    write_to("app.log", "new\n", false);
    char p[256];
    path_of(p, sizeof(p), "app.log.1");
    struct timespec times[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    assert_int_equal(utimensat(AT_FDCWD, p, times, 0), 0);
    start("{\"file_path\": \"%L/app.log*\", \"log_stream_name\": \"s\"}");
    pump_until(1, 3000);
    EXPECT(0, "new");
    /* No log_group_name: the file path up to the last dot of its name. */
    char want[256];
    snprintf(want, sizeof(want), "%s/app", H.logs);
    for (char *q = want; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
              *q == '/' || *q == '.' || *q == '-' || *q == '_' || *q == '#'))
            *q = '_';
    assert_string_equal(H.got[0].group, want);
    run_for_ms(300);
    assert_int_equal(H.n_got, 1);
    stop();
}

static void test_blacklist_and_compressed(void **state)
{
    (void)state;
    write_to("keep.log", "k\n", false);
    write_to("skip.log", "s\n", false);
    write_to("old.log.gz", "z\n", false);
    start("{\"file_path\": \"%L/*.log*\", \"log_group_name\": \"g\", \"log_stream_name\": \"s\", "
          "\"publish_multi_logs\": true, \"blacklist\": \"^skip\"}");
    pump_until(1, 3000);
    EXPECT(0, "k");
    run_for_ms(300);
    assert_int_equal(H.n_got, 1);
    stop();
}

static void test_filters(void **state)
{
    (void)state;
    write_to("app.log", "keep 1\ndrop 2\nkeep 3\n", false);
    start("{\"file_path\": \"%L/app.log\", \"log_group_name\": \"g\", \"log_stream_name\": \"s\", "
          "\"filters\": [{\"type\": \"exclude\", \"expression\": \"drop\"}]}");
    pump_until(2, 3000);
    EXPECT(0, "keep 1", "keep 3");
    assert_int_equal(fine(REJ_FILTERED), 1);
    ack_all();
    stop();
    start("{\"file_path\": \"%L/app.log\", \"log_group_name\": \"g\", \"log_stream_name\": \"s\", "
          "\"filters\": [{\"type\": \"exclude\", \"expression\": \"drop\"}]}");
    run_for_ms(300);
    assert_int_equal(H.n_got, 0);
    stop();
}

static void test_auto_removal(void **state)
{
    (void)state;
    write_to("app.log.2026-01-01", "day1\n", false);
    char p[256];
    path_of(p, sizeof(p), "app.log.2026-01-01");
    struct timespec times[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    assert_int_equal(utimensat(AT_FDCWD, p, times, 0), 0);
    start("{\"file_path\": \"%L/app.log.*\", \"log_group_name\": \"g\", \"log_stream_name\": "
          "\"s\", \"auto_removal\": true}");
    pump_until(1, 3000);
    write_to("app.log.2026-01-02", "day2\n", false);
    pump_until(2, 5000);
    EXPECT(0, "day1", "day2");
    run_for_ms(1500);
    assert_int_equal(access(p, F_OK), 0); /* not delivered yet: kept */
    ack_all();
    run_for_ms(1500);
    assert_int_equal(access(p, F_OK), -1);
    path_of(p, sizeof(p), "app.log.2026-01-02");
    assert_int_equal(access(p, F_OK), 0);
    stop();
}

static void test_config_errors(void **state)
{
    (void)state;
    assert_int_not_equal(create("{\"file_path\": \"relative.log\"}"), 0);
    assert_true(H.errs.n >= 1);
    assert_non_null(strstr(H.errs.msgs[0], "absolute"));
    cfg_doc_release(&H.doc);
    cfg_errors_release(&H.errs);

    assert_int_not_equal(create("{\"file_path\": \"/x.log\", \"bogus\": 1}"), 0);
    assert_true(H.errs.n >= 1);
    cfg_doc_release(&H.doc);
    cfg_errors_release(&H.errs);

    assert_int_not_equal(
        create("{\"file_path\": \"/x.log\", \"filters\": [{\"type\": \"maybe\", \"expression\": "
               "\"x\"}]}"),
        0);
    assert_true(H.errs.n >= 1);
    cfg_doc_release(&H.doc);
    cfg_errors_release(&H.errs);

    assert_int_not_equal(create("{\"file_path\": \"/x.log\", \"retention_in_days\": 2}"), 0);
    cfg_doc_release(&H.doc);
    cfg_errors_release(&H.errs);

    assert_int_not_equal(
        create("{\"file_path\": \"/x.log\", \"multi_line_start_pattern\": \"([\"}"), 0);
    cfg_doc_release(&H.doc);
    cfg_errors_release(&H.errs);
}

static void test_describe(void **state)
{
    (void)state;
    write_to("app.log", "12345\n", false);
    assert_int_equal(create(ENTRY_APP), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    collector_describe(H.c, out);
    fclose(out);
    char want[512];
    snprintf(want, sizeof(want), "file %s/app.log -> g/s (offset 0 of 6)\n", H.logs);
    assert_string_equal(text, want);
    free(text);
    collector_destroy(H.c);
    cfg_doc_release(&H.doc);
    cfg_errors_release(&H.errs);
}

static void metric_cb(void *user, const char *name, const char *label, const char *label_value,
                      double value)
{
    char *out = user;
    size_t n = strlen(out);
    snprintf(out + n, 2048 - n, "%s{%s=%s}=%.0f\n", name, label ? label : "",
             label_value ? label_value : "", value);
}

static void test_self_metrics(void **state)
{
    (void)state;
    write_to("app.log", "12345\n", false);
    start(ENTRY_APP);
    pump_until(1, 3000);
    char got[2048] = "";
    collector_self_metrics(H.c, metric_cb, got);
    char want[2048];
    snprintf(want, sizeof(want),
             "tail_lag_bytes{file=%s/app.log}=6\ntail_open_files{=}=1\ntail_pending_events{=}=1\n",
             H.logs);
    assert_string_equal(got, want);
    ack_all();
    got[0] = '\0';
    collector_self_metrics(H.c, metric_cb, got);
    snprintf(want, sizeof(want),
             "tail_lag_bytes{file=%s/app.log}=0\ntail_open_files{=}=1\ntail_pending_events{=}=0\n",
             H.logs);
    assert_string_equal(got, want);
    stop();
}

static void test_long_line_split_to_fit_the_ring(void **state)
{
    (void)state;
    static char line[12001];
    for (size_t i = 0; i < sizeof(line) - 2; i++)
        line[i] = (char)('a' + i % 26);
    line[sizeof(line) - 2] = '\n';
    write_to("app.log", line, false);
    write_to("app.log", "next\n", true);
    H.ring_bytes = RING_MIN_CAPACITY;
    start(ENTRY_APP);
    /* Parts of at most what one ring record holds, then the next line. */
    uint64_t end = clock_monotonic_ns() + 5 * NS_PER_SEC;
    while (clock_monotonic_ns() < end &&
           (H.n_got == 0 || strcmp(H.got[H.n_got - 1].msg, "next") != 0))
        run_for_ms(20);
    assert_true(H.n_got >= 4);
    assert_string_equal(H.got[H.n_got - 1].msg, "next");
    assert_int_equal(fine(REJ_SPLIT), 1);
    assert_int_equal(selfstats_dropped_total(&H.c->stats), 0);
    stop();
}

static void test_stop_sends_pending_multi_line_event(void **state)
{
    (void)state;
    write_to("app.log", "START one\n  more\nSTART two\n  more two\n", false);
    start("{\"file_path\": \"%L/app.log\", \"log_group_name\": \"g\", \"log_stream_name\": "
          "\"s\", \"multi_line_start_pattern\": \"^START\"}");
    pump_until(1, 3000);
    EXPECT(0, "START one\n  more");
    run_for_ms(200);
    assert_int_equal(H.n_got, 1); /* the second waits for more lines (5 s) */
    collector_stop(H.c, NULL, NULL);
    drain();
    assert_int_equal(H.n_got, 2);
    EXPECT(0, "START one\n  more", "START two\n  more two");
    for (int i = 0; i < 100 && H.c->state != PLUGIN_STOPPED; i++)
        uv_run(&H.loop, UV_RUN_NOWAIT);
    ack_all(); /* after stop: still reaches the checkpoint */
    collector_destroy(H.c);
    H.c = NULL;
    assert_int_equal(uv_loop_close(&H.loop), 0);
    ring_release(&H.ring);
    cfg_doc_release(&H.doc);
    cfg_errors_release(&H.errs);
    H.running = false;
    start("{\"file_path\": \"%L/app.log\", \"log_group_name\": \"g\", \"log_stream_name\": "
          "\"s\", \"multi_line_start_pattern\": \"^START\"}");
    run_for_ms(400);
    assert_int_equal(H.n_got, 0);
    stop();
}

static void test_rotation_with_wildcard_single_file(void **state)
{
    (void)state;
    write_to("app.log", "1\n2\n", false);
    start("{\"file_path\": \"%L/app.log*\", \"log_group_name\": \"g\", \"log_stream_name\": "
          "\"s\"}");
    pump_until(2, 3000);
    rename_in("app.log", "app.log.1");
    write_to("app.log", "4\n", false);
    usleep(20000);
    write_to("app.log.1", "3\n", true); /* a late write: the old file is the newest again */
    run_for_ms(300);
    usleep(20000);
    write_to("app.log", "5\n", true);
    pump_until(5, 8000);
    assert_string_equal(H.got[0].msg, "1");
    assert_string_equal(H.got[1].msg, "2");
    size_t at3 = 0, at4 = 0, at5 = 0;
    for (size_t i = 2; i < 5; i++) {
        if (strcmp(H.got[i].msg, "3") == 0)
            at3 = i;
        else if (strcmp(H.got[i].msg, "4") == 0)
            at4 = i;
        else if (strcmp(H.got[i].msg, "5") == 0)
            at5 = i;
    }
    assert_true(at3 && at4 && at5 && at4 < at5);
    run_for_ms(1500);
    assert_int_equal(H.n_got, 5);
    stop();
}

static void test_late_write_to_finished_rotated_file(void **state)
{
    (void)state;
    const char *entry = "{\"file_path\": \"%L/app.log*\", \"log_group_name\": \"g\", "
                        "\"log_stream_name\": \"s\"}";
    write_to("app.log", "1\n", false);
    start(entry);
    pump_until(1, 3000);
    rename_in("app.log", "app.log.1");
    usleep(20000);
    write_to("app.log", "2\n", false);
    pump_until(2, 5000);
    ack_all();
    run_for_ms(2500); /* the old file is finished, delivered and dropped */
    /* A late write makes the rotated file the newest again: only the new line is read. */
    write_to("app.log.1", "late\n", true);
    pump_until(3, 8000);
    ack_all();
    run_for_ms(2500);
    write_to("app.log", "3\n", true);
    pump_until(4, 8000);
    EXPECT(0, "1", "2", "late", "3");
    ack_all();
    run_for_ms(1500);
    assert_int_equal(H.n_got, 4);
    stop();
    /* And nothing again after a restart. */
    start(entry);
    run_for_ms(1500);
    assert_int_equal(H.n_got, 0);
    stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic_ack_checkpoint_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_and_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copytruncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_to_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_swap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_with_unread_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_downtime_across_three_rotations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inode_reuse_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_ring_pauses_without_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gave_up_rewinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejected_completes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_from_beginning_false, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_multi_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_file_mode_takes_newest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blacklist_and_compressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_removal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_self_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_write_to_finished_rotated_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_with_wildcard_single_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line_split_to_fit_the_ring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_sends_pending_multi_line_event, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
