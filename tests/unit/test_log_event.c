/*
 * Tests for collectors/log_event.{h,c}, fed through collectors/log_lines as the tailer
 * does: one event per line without a pattern, multi-line grouping (Java stack traces,
 * Python tracebacks, "{timestamp_format}"), the bounded wait, filters in order, "\r\n",
 * UTF-8 repair (overlongs, surrogates, truncation, the Unicode maximal-subpart example),
 * latin1 and ascii, a 3 MiB line split into parts sharing one timestamp, the -EBUSY
 * backpressure path, configuration errors, and "no allocation per line after warm-up".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/log_event.h"
#include "collectors/log_lines.h"

#include "alloc_hooks.h"

#define NS      1000000000ull
#define T0      (1714521600ull * NS) /* 2024-05-01 00:00:00 UTC */
#define MAX_EVT 64

struct got_event {
    char *msg;
    size_t len;
    uint64_t ts_ns, start_off, end_off;
    bool filtered, last_part;
};

struct got {
    struct got_event e[MAX_EVT];
    size_t n;
    size_t busy; /* -EBUSY answers seen */
};

static void got_clear(struct got *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->e[i].msg);
    memset(g, 0, sizeof(*g));
}

/* Take every ready event. */
static void take(struct log_event_builder *b, struct got *g)
{
    struct built_event ev;
    while (log_event_builder_peek(b, &ev)) {
        assert_true(g->n < MAX_EVT);
        struct got_event *e = &g->e[g->n++];
        e->msg = malloc(ev.len + 1);
        assert_non_null(e->msg);
        memcpy(e->msg, ev.msg, ev.len);
        e->msg[ev.len] = '\0';
        e->len = ev.len;
        e->ts_ns = ev.ts_ns;
        e->start_off = ev.start_off;
        e->end_off = ev.end_off;
        e->filtered = ev.filtered;
        e->last_part = ev.last_part;
        log_event_builder_pop(b);
    }
}

/* Frame `text` with log_lines and push every line, taking events on -EBUSY. */
static void run_text(struct log_event_builder *b, const char *text, size_t len, uint64_t off,
                     uint64_t now, bool finish, struct got *g)
{
    struct log_lines f;
    assert_int_equal(log_lines_init(&f, 1 << 16), 0);
    log_lines_reset(&f, off);
    log_lines_feed(&f, (const uint8_t *)text, len, off);
    if (finish)
        log_lines_finish(&f);
    struct log_line line;
    while (log_lines_next(&f, &line)) {
        int r;
        while ((r = log_event_builder_push(b, &line, now)) == -EBUSY) {
            g->busy++;
            size_t before = g->n;
            take(b, g);
            assert_true(g->n > before); /* -EBUSY always means an event is ready */
        }
        assert_int_equal(r, 0);
    }
    log_lines_release(&f);
}

static struct log_event_builder *make(const struct log_event_opts *o)
{
    char err[256] = "";
    struct log_event_builder *b = NULL;
    int r = log_event_builder_create(o, err, sizeof(err), &b);
    if (r != 0)
        fail_msg("create: %d %s", r, err);
    return b;
}

static void test_every_line_is_an_event_and_ebusy_until_pop(void **state)
{
    (void)state;
    struct log_event_opts o = {0};
    struct log_event_builder *b = make(&o);
    const char *l1 = "first", *l2 = "second";
    struct log_line a = {(const uint8_t *)l1, 5, 0, 6, 0};
    struct log_line c = {(const uint8_t *)l2, 6, 6, 13, 0};
    assert_int_equal(log_event_builder_push(b, &a, T0), 0);
    /* No pattern: the event is finished at once, nothing waits. */
    assert_int_equal(log_event_builder_deadline(b), 0);
    struct built_event ev;
    assert_true(log_event_builder_peek(b, &ev));
    assert_int_equal(ev.len, 5);
    assert_memory_equal(ev.msg, "first", 5);
    assert_int_equal(ev.ts_ns, T0); /* no timestamp_format: read time */
    assert_int_equal(ev.start_off, 0);
    assert_int_equal(ev.end_off, 6);
    assert_true(ev.last_part);
    assert_false(ev.filtered);
    /* Backpressure: the line is refused until the ready event is popped. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(log_event_builder_push(b, &c, T0 + 1), -EBUSY);
    assert_true(log_event_builder_peek(b, &ev)); /* peek does not take */
    log_event_builder_pop(b);
    assert_false(log_event_builder_peek(b, &ev));
    log_event_builder_pop(b); /* nothing ready: no-op */
    assert_int_equal(log_event_builder_push(b, &c, T0 + 1), 0);
    assert_true(log_event_builder_peek(b, &ev));
    assert_memory_equal(ev.msg, "second", 6);
    log_event_builder_pop(b);
    const struct log_event_counters *k = log_event_builder_counters(b);
    assert_int_equal(k->lines, 2);
    assert_int_equal(k->events, 2);
    assert_int_equal(k->timestamp_misses, 0);
    log_event_builder_free(b);
    log_event_builder_free(NULL);
}

static void assert_same_event(const struct built_event *a, const struct built_event *b)
{
    assert_int_equal(a->len, b->len);
    assert_memory_equal(a->msg, b->msg, a->len);
    assert_int_equal(a->ts_ns, b->ts_ns);
    assert_int_equal(a->start_off, b->start_off);
    assert_int_equal(a->end_off, b->end_off);
    assert_int_equal(a->filtered, b->filtered);
    assert_int_equal(a->last_part, b->last_part);
}

/* The tailer's fast path gives, for every line it accepts, the event push/peek gives, and
 * counts it the same; it refuses every line or builder that needs the builder's work. */
static void test_line_event_fast_path_matches_push(void **state)
{
    (void)state;
    struct log_event_opts o = {.max_event_bytes = 16};
    struct log_event_builder *fast = make(&o);
    struct log_event_builder *slow = make(&o);
    const char *texts[] = {"first line", "", "x", "sixteen bytes..."};
    uint64_t off = 100;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        size_t len = strlen(texts[i]);
        struct log_line line = {(const uint8_t *)texts[i], len, off, off + len + 1, LOG_LINE_WHOLE};
        struct built_event a, b;
        assert_true(log_event_builder_line_event(fast, &line, T0 + i, &a));
        log_event_builder_line_taken(fast);
        assert_int_equal(log_event_builder_push(slow, &line, T0 + i), 0);
        assert_true(log_event_builder_peek(slow, &b));
        assert_same_event(&a, &b);
        log_event_builder_pop(slow);
        off += len + 1;
    }
    assert_memory_equal(log_event_builder_counters(fast), log_event_builder_counters(slow),
                        sizeof(struct log_event_counters));
    assert_int_equal(log_event_builder_counters(fast)->events, 4);

    /* Lines that need the builder: not ASCII (validated and maybe repaired), over the
     * event limit (split), a part of a long line (joined). */
    struct built_event ev;
    struct log_line utf8 = {(const uint8_t *)"caf\xc3\xa9", 5, 0, 6, LOG_LINE_WHOLE};
    struct log_line bad = {(const uint8_t *)"a\xff", 2, 0, 3, LOG_LINE_WHOLE};
    struct log_line big = {(const uint8_t *)"seventeen bytes..", 17, 0, 18, LOG_LINE_WHOLE};
    struct log_line part = {(const uint8_t *)"head", 4, 0, 4, LOG_LINE_PART_FIRST};
    assert_false(log_event_builder_line_event(fast, &utf8, T0, &ev));
    assert_false(log_event_builder_line_event(fast, &bad, T0, &ev));
    assert_false(log_event_builder_line_event(fast, &big, T0, &ev));
    assert_false(log_event_builder_line_event(fast, &part, T0, &ev));
    /* An open event: the first part of a long line was pushed (a line whose part was
     * lost next still joins it). Then also with a character cut at the part's end. */
    struct log_line plain = {(const uint8_t *)"plain", 5, 4, 10, LOG_LINE_WHOLE};
    assert_int_equal(log_event_builder_push(fast, &part, T0), 0);
    assert_false(log_event_builder_line_event(fast, &plain, T0, &ev));
    struct log_line cut = {(const uint8_t *)"ab\xc3", 3, 0, 3, LOG_LINE_PART_FIRST};
    assert_int_equal(log_event_builder_push(slow, &cut, T0), 0);
    assert_false(log_event_builder_line_event(slow, &plain, T0, &ev));
    /* The file ended there (flush at rotation): the event goes, the cut character stays
     * pending, and the next line must go through push, which counts it as repaired. */
    log_event_builder_flush(slow, T0, true);
    assert_true(log_event_builder_peek(slow, &ev));
    log_event_builder_pop(slow);
    assert_false(log_event_builder_line_event(slow, &plain, T0, &ev));
    assert_int_equal(log_event_builder_push(slow, &plain, T0), 0);
    assert_int_equal(log_event_builder_counters(slow)->repaired_bytes, 1);
    log_event_builder_free(fast);
    log_event_builder_free(slow);

    /* Builders whose options need work on every line. */
    struct log_filter_spec keep = {false, "plain"};
    struct log_event_opts with[] = {
        {.multi_line_start_pattern = "^p"},
        {.timestamp_format = "%H:%M:%S"},
        {.filters = &keep, .n_filters = 1},
    };
    struct log_line whole = {(const uint8_t *)"plain", 5, 0, 6, LOG_LINE_WHOLE};
    for (size_t i = 0; i < sizeof(with) / sizeof(with[0]); i++) {
        struct log_event_builder *b = make(&with[i]);
        assert_false(log_event_builder_line_event(b, &whole, T0, &ev));
        log_event_builder_free(b);
    }
}

static const char java_log[] =
    "2024-05-01 12:00:00 ERROR request failed\n"
    "Exception in thread \"main\" java.lang.IllegalStateException: boom\n"
    "\tat com.example.Service.handle(Service.java:42)\n"
    "\tat com.example.Main.main(Main.java:7)\n"
    "Caused by: java.io.IOException: disk full\n"
    "\tat com.example.Store.write(Store.java:99)\n"
    "\t... 2 more\n"
    "2024-05-01 12:00:05 INFO recovered\n";

static void check_java(struct got *g)
{
    assert_int_equal(g->n, 2);
    const char *first = "2024-05-01 12:00:00 ERROR request failed\n"
                        "Exception in thread \"main\" java.lang.IllegalStateException: boom\n"
                        "\tat com.example.Service.handle(Service.java:42)\n"
                        "\tat com.example.Main.main(Main.java:7)\n"
                        "Caused by: java.io.IOException: disk full\n"
                        "\tat com.example.Store.write(Store.java:99)\n"
                        "\t... 2 more";
    assert_string_equal(g->e[0].msg, first);
    assert_int_equal(g->e[0].ts_ns, T0 + 12 * 3600 * NS);
    assert_int_equal(g->e[0].start_off, 0);
    assert_int_equal(g->e[0].end_off, strlen(first) + 1);
    assert_string_equal(g->e[1].msg, "2024-05-01 12:00:05 INFO recovered");
    assert_int_equal(g->e[1].ts_ns, T0 + (12 * 3600 + 5) * NS);
    assert_int_equal(g->e[1].start_off, strlen(first) + 1);
    assert_int_equal(g->e[1].end_off, strlen(java_log));
}

static void test_java_stack_trace_by_timestamp_format(void **state)
{
    (void)state;
    struct log_event_opts o = {.multi_line_start_pattern = "{timestamp_format}",
                               .timestamp_format = "%Y-%m-%d %H:%M:%S",
                               .timezone_utc = true};
    struct log_event_builder *b = make(&o);
    struct got g = {0};
    run_text(b, java_log, strlen(java_log), 0, T0 + 13 * 3600 * NS, false, &g);
    assert_int_equal(g.n, 1); /* the second event waits for more lines */
    assert_int_equal(g.busy, 1);
    assert_int_equal(log_event_builder_deadline(b),
                     T0 + 13 * 3600 * NS + LOG_EVENT_DEFAULT_MULTI_LINE_WAIT_NS);
    log_event_builder_flush(b, 0, true);
    take(b, &g);
    check_java(&g);
    assert_int_equal(log_event_builder_counters(b)->lines, 8);
    assert_int_equal(log_event_builder_counters(b)->events, 2);
    got_clear(&g);
    log_event_builder_free(b);
}

static void test_java_stack_trace_by_regex(void **state)
{
    (void)state;
    struct log_event_opts o = {.multi_line_start_pattern = "^\\d{4}-\\d{2}-\\d{2} ",
                               .timestamp_format = "%Y-%m-%d %H:%M:%S",
                               .timezone_utc = true};
    struct log_event_builder *b = make(&o);
    struct got g = {0};
    run_text(b, java_log, strlen(java_log), 0, T0 + 13 * 3600 * NS, false, &g);
    log_event_builder_flush(b, 0, true);
    take(b, &g);
    check_java(&g);
    got_clear(&g);
    log_event_builder_free(b);
}

static void test_python_traceback_and_bounded_wait(void **state)
{
    (void)state;
    const char *log = "[12:00:00] ERROR job failed\n"
                      "Traceback (most recent call last):\n"
                      "  File \"/srv/job.py\", line 10, in <module>\n"
                      "    main()\n"
                      "ValueError: invalid literal for int() with base 10: 'x'\n";
    struct log_event_opts o = {.multi_line_start_pattern = "^\\[\\d\\d:",
                               .multi_line_wait_ns = 2 * NS};
    struct log_event_builder *b = make(&o);
    struct got g = {0};
    run_text(b, log, strlen(log), 100, T0, false, &g);
    assert_int_equal(g.n, 0);
    /* The group waits 2 s after its last line, then a flush finishes it. */
    assert_int_equal(log_event_builder_deadline(b), T0 + 2 * NS);
    log_event_builder_flush(b, T0 + 2 * NS - 1, false);
    take(b, &g);
    assert_int_equal(g.n, 0);
    /* A late continuation line moves the deadline. */
    const char *more = "  (job 17)\n";
    run_text(b, more, strlen(more), 100 + strlen(log), T0 + NS, false, &g);
    assert_int_equal(log_event_builder_deadline(b), T0 + 3 * NS);
    log_event_builder_flush(b, T0 + 3 * NS, false);
    assert_int_equal(log_event_builder_deadline(b), 0);
    take(b, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.e[0].msg, "[12:00:00] ERROR job failed\n"
                                    "Traceback (most recent call last):\n"
                                    "  File \"/srv/job.py\", line 10, in <module>\n"
                                    "    main()\n"
                                    "ValueError: invalid literal for int() with base 10: 'x'\n"
                                    "  (job 17)");
    assert_int_equal(g.e[0].ts_ns, T0);
    assert_int_equal(g.e[0].start_off, 100);
    assert_int_equal(g.e[0].end_off, 100 + strlen(log) + strlen(more));
    /* Nothing pending: flush and deadline have nothing to do. */
    log_event_builder_flush(b, UINT64_MAX, true);
    take(b, &g);
    assert_int_equal(g.n, 1);
    got_clear(&g);
    log_event_builder_free(b);
}

static void test_first_line_without_start_still_starts_an_event(void **state)
{
    (void)state;
    struct log_event_opts o = {.multi_line_start_pattern = "^START"};
    struct log_event_builder *b = make(&o);
    struct got g = {0};
    const char *log = "  orphan\n  more\nSTART a\n";
    run_text(b, log, strlen(log), 0, T0, false, &g);
    log_event_builder_flush(b, 0, true);
    take(b, &g);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.e[0].msg, "  orphan\n  more");
    assert_string_equal(g.e[1].msg, "START a");
    got_clear(&g);
    log_event_builder_free(b);
}

static void test_filters_in_order(void **state)
{
    (void)state;
    const struct log_filter_spec filters[] = {
        {.exclude = false, .expression = "ERROR|WARN"},
        {.exclude = true, .expression = "healthcheck"},
    };
    struct log_event_opts o = {.filters = filters, .n_filters = 2};
    struct log_event_builder *b = make(&o);
    struct got g = {0};
    const char *log = "ERROR disk\nINFO fine\nWARN healthcheck slow\nWARN cpu\n";
    run_text(b, log, strlen(log), 0, T0, false, &g);
    take(b, &g);
    assert_int_equal(g.n, 4);
    assert_string_equal(g.e[0].msg, "ERROR disk");
    assert_false(g.e[0].filtered);
    /* Filtered events still come out, empty, so the checkpoint can pass them. */
    assert_true(g.e[1].filtered);
    assert_int_equal(g.e[1].len, 0);
    assert_int_equal(g.e[1].start_off, 11);
    assert_int_equal(g.e[1].end_off, 21);
    assert_true(g.e[2].filtered);
    assert_string_equal(g.e[3].msg, "WARN cpu");
    assert_false(g.e[3].filtered);
    const struct log_event_counters *k = log_event_builder_counters(b);
    assert_int_equal(k->filtered, 2);
    assert_int_equal(k->events, 4);
    got_clear(&g);
    log_event_builder_free(b);
}

static void test_crlf_lines(void **state)
{
    (void)state;
    struct log_event_opts o = {.multi_line_start_pattern = "^\\S"};
    struct log_event_builder *b = make(&o);
    struct got g = {0};
    const char *log = "a\r\n b\r\nc\r\n";
    run_text(b, log, strlen(log), 0, T0, false, &g);
    log_event_builder_flush(b, 0, true);
    take(b, &g);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.e[0].msg, "a\n b");
    assert_int_equal(g.e[0].end_off, 7);
    assert_string_equal(g.e[1].msg, "c");
    assert_int_equal(g.e[1].end_off, 10);
    got_clear(&g);
    log_event_builder_free(b);
}

struct repair_case {
    const char *in;
    size_t in_len;
    const char *out;
    uint64_t repaired;
};

#define R "\xEF\xBF\xBD"
#define CASE(in, out, n)                                                                           \
    {                                                                                              \
        in, sizeof(in) - 1, out, n                                                                 \
    }

static void test_utf8_repair_maximal_subparts(void **state)
{
    (void)state;
    static const struct repair_case cases[] = {
        CASE("plain \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80",
             "plain \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 0),
        CASE("over\xC0\xAFlong", "over" R R "long", 2),         /* C0 never starts */
        CASE("over\xE0\x80\xAFlong", "over" R R R "long", 3),   /* E0 80: overlong */
        CASE("sur\xED\xA0\x80rogate", "sur" R R R "rogate", 3), /* ED A0: surrogate */
        CASE("big\xF4\x90\x80\x80", "big" R R R R, 4),          /* past U+10FFFF */
        CASE("stray\x80\xBF", "stray" R R, 2),
        CASE("cut\xF0\x9F\x98 x", "cut" R " x", 3), /* one U+FFFD for the subpart */
        CASE("end\xE2\x82", "end" R, 2),            /* truncated at the end of the line */
        CASE("ff\xFF\xFE", "ff" R R, 2),
        /* Unicode chapter 3 (U+FFFD substitution of maximal subparts) example. */
        CASE("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64", "a" R R R "b" R "c" R R "d",
             9),
    };
    uint64_t total = 0;
    struct log_event_opts o = {0};
    struct log_event_builder *b = make(&o);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct log_line line = {(const uint8_t *)cases[i].in, cases[i].in_len, 0, 1, 0};
        assert_int_equal(log_event_builder_push(b, &line, T0), 0);
        struct built_event ev;
        assert_true(log_event_builder_peek(b, &ev));
        assert_int_equal(ev.len, strlen(cases[i].out));
        assert_memory_equal(ev.msg, cases[i].out, ev.len);
        log_event_builder_pop(b);
        total += cases[i].repaired;
        assert_int_equal(log_event_builder_counters(b)->repaired_bytes, total);
    }
    log_event_builder_free(b);
}

static void test_latin1_and_ascii(void **state)
{
    (void)state;
    const char *in = "caf\xE9 \xA9 ok";
    struct log_line line = {(const uint8_t *)in, strlen(in), 0, 1, 0};
    struct built_event ev;

    struct log_event_opts o = {.encoding = "ISO-8859-1"};
    struct log_event_builder *b = make(&o);
    assert_int_equal(log_event_builder_push(b, &line, T0), 0);
    assert_true(log_event_builder_peek(b, &ev));
    assert_int_equal(ev.len, strlen("caf\xC3\xA9 \xC2\xA9 ok"));
    assert_memory_equal(ev.msg, "caf\xC3\xA9 \xC2\xA9 ok", ev.len);
    assert_int_equal(log_event_builder_counters(b)->repaired_bytes, 0);
    log_event_builder_free(b);

    o.encoding = "ascii";
    b = make(&o);
    assert_int_equal(log_event_builder_push(b, &line, T0), 0);
    assert_true(log_event_builder_peek(b, &ev));
    assert_memory_equal(ev.msg, "caf" R " " R " ok", ev.len);
    assert_int_equal(log_event_builder_counters(b)->repaired_bytes, 2);
    log_event_builder_free(b);
}

static void test_config_errors(void **state)
{
    (void)state;
    char err[256];
    struct log_event_builder *b = NULL;
    struct log_event_opts o = {.encoding = "utf-16"};
    assert_int_equal(log_event_builder_create(&o, err, sizeof(err), &b), -EINVAL);
    assert_non_null(strstr(err, "'utf-16'"));
    assert_non_null(strstr(err, "latin1"));
    assert_null(b);

    struct log_event_opts bad_re = {.multi_line_start_pattern = "^(unclosed"};
    assert_int_equal(log_event_builder_create(&bad_re, err, sizeof(err), &b), -EINVAL);
    assert_non_null(strstr(err, "multi_line_start_pattern"));

    const struct log_filter_spec filters[] = {{.exclude = true, .expression = "[z-a]"}};
    struct log_event_opts bad_filter = {.filters = filters, .n_filters = 1};
    assert_int_equal(log_event_builder_create(&bad_filter, err, sizeof(err), &b), -EINVAL);
    assert_non_null(strstr(err, "filter expression"));

    struct log_event_opts no_format = {.multi_line_start_pattern = "{timestamp_format}"};
    assert_int_equal(log_event_builder_create(&no_format, err, sizeof(err), &b), -EINVAL);
    assert_non_null(strstr(err, "timestamp_format"));

    struct log_event_opts bad_format = {.timestamp_format = "%Q"};
    assert_int_equal(log_event_builder_create(&bad_format, err, sizeof(err), &b), -EINVAL);

    struct log_event_opts tiny = {.max_event_bytes = 3};
    assert_int_equal(log_event_builder_create(&tiny, err, sizeof(err), &b), -EINVAL);
    assert_null(b);
}

static void test_timestamp_miss_uses_read_time(void **state)
{
    (void)state;
    struct log_event_opts o = {.timestamp_format = "%d/%b/%Y:%H:%M:%S %z"};
    struct log_event_builder *b = make(&o);
    struct got g = {0};
    const char *log = "10.0.0.1 - - [01/May/2024:02:00:00 +0200] \"GET / HTTP/1.1\" 200\n"
                      "no stamp here\n";
    run_text(b, log, strlen(log), 0, T0 + 7 * NS, false, &g);
    take(b, &g);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.e[0].ts_ns, T0); /* 02:00 at +0200 is 00:00 UTC */
    assert_int_equal(g.e[1].ts_ns, T0 + 7 * NS);
    assert_int_equal(log_event_builder_counters(b)->timestamp_misses, 1);
    got_clear(&g);
    log_event_builder_free(b);
}

static void test_partial_last_line_held_then_finished(void **state)
{
    (void)state;
    struct log_event_opts o = {0};
    struct log_event_builder *b = make(&o);
    struct got g = {0};
    struct log_lines f;
    assert_int_equal(log_lines_init(&f, 1024), 0);
    const char *part1 = "whole\nhalf a li";
    log_lines_feed(&f, (const uint8_t *)part1, strlen(part1), 0);
    struct log_line line;
    while (log_lines_next(&f, &line)) {
        assert_int_equal(log_event_builder_push(b, &line, T0), 0);
        take(b, &g);
    }
    assert_int_equal(g.n, 1);
    assert_int_equal(log_lines_consumed_offset(&f), 6); /* the checkpoint stops here */
    const char *part2 = "ne";
    log_lines_feed(&f, (const uint8_t *)part2, strlen(part2), strlen(part1));
    assert_false(log_lines_next(&f, &line));
    /* The file was rotated and read to its end: the held partial becomes the event. */
    log_lines_finish(&f);
    assert_true(log_lines_next(&f, &line));
    assert_int_equal(log_event_builder_push(b, &line, T0), 0);
    take(b, &g);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.e[1].msg, "half a line");
    assert_int_equal(g.e[1].start_off, 6);
    assert_int_equal(g.e[1].end_off, 17);
    log_lines_release(&f);
    got_clear(&g);
    log_event_builder_free(b);
}

/* Is s[0, n) valid UTF-8? (A builder with utf-8 repairs nothing in valid text.) */
static bool is_utf8(const uint8_t *s, size_t n)
{
    struct log_event_opts o = {.max_event_bytes = n + 4};
    struct log_event_builder *b = make(&o);
    struct log_line line = {s, n, 0, 1, 0};
    assert_int_equal(log_event_builder_push(b, &line, T0), 0);
    bool ok = log_event_builder_counters(b)->repaired_bytes == 0;
    log_event_builder_free(b);
    return ok;
}

static void test_3mib_line_split_with_one_timestamp(void **state)
{
    (void)state;
    /* A 3 MiB line of 3-byte characters after a timestamp: log_lines cuts it every
     * 256 KiB (inside characters), the builder rejoins them and cuts parts at the
     * CloudWatch limit on character boundaries. */
    const size_t total = 3u << 20;
    uint8_t *text = malloc(total + 1);
    assert_non_null(text);
    const char *stamp = "2024-05-01 00:00:09 ";
    size_t pos = strlen(stamp);
    memcpy(text, stamp, pos);
    while (pos + 3 <= total) {
        memcpy(text + pos, "\xE2\x82\xAC", 3); /* U+20AC */
        pos += 3;
    }
    while (pos < total)
        text[pos++] = 'x';
    text[total] = '\n';

    struct log_event_opts o = {.timestamp_format = "%Y-%m-%d %H:%M:%S", .timezone_utc = true};
    struct log_event_builder *b = make(&o);
    struct log_lines f;
    assert_int_equal(log_lines_init(&f, 256 * 1024), 0);
    log_lines_feed(&f, text, total + 1, 0);
    uint8_t *joined = malloc(total);
    assert_non_null(joined);
    size_t joined_len = 0, parts = 0, line_parts = 0;
    bool saw_last = false;
    struct log_line line;
    while (log_lines_next(&f, &line)) {
        line_parts++;
        for (;;) {
            int r = log_event_builder_push(b, &line, T0 + 60 * NS);
            struct built_event ev;
            while (log_event_builder_peek(b, &ev)) {
                assert_false(saw_last);
                assert_true(ev.len <= LOG_EVENT_MAX_EVENT_BYTES);
                assert_true(is_utf8(ev.msg, ev.len));
                assert_int_equal(ev.ts_ns, T0 + 9 * NS);
                assert_int_equal(ev.start_off, 0);
                assert_false(ev.filtered);
                assert_true(joined_len + ev.len <= total);
                memcpy(joined + joined_len, ev.msg, ev.len);
                joined_len += ev.len;
                parts++;
                saw_last = ev.last_part;
                if (ev.last_part)
                    assert_int_equal(ev.end_off, total + 1);
                log_event_builder_pop(b);
            }
            if (r == 0)
                break;
            assert_int_equal(r, -EBUSY);
        }
    }
    assert_int_equal(line_parts, 12);
    assert_true(saw_last);
    assert_int_equal(parts, 4); /* 3 x ~1 MiB + the rest */
    assert_int_equal(joined_len, total);
    assert_memory_equal(joined, text, total);
    const struct log_event_counters *k = log_event_builder_counters(b);
    assert_int_equal(k->repaired_bytes, 0);
    assert_int_equal(k->split_events, 1);
    assert_int_equal(k->split_parts, 4);
    assert_int_equal(k->events, 1);
    assert_int_equal(k->lines, 12);
    log_lines_release(&f);
    log_event_builder_free(b);
    free(joined);
    free(text);
}

static void test_split_after_repair(void **state)
{
    (void)state;
    /* Ten invalid bytes become thirty bytes of U+FFFD: the limit applies after repair,
     * and cuts fall between characters. */
    struct log_event_opts o = {.max_event_bytes = 16};
    struct log_event_builder *b = make(&o);
    const char *in = "\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF";
    struct log_line line = {(const uint8_t *)in, 10, 0, 11, 0};
    assert_int_equal(log_event_builder_push(b, &line, T0), 0);
    struct got g = {0};
    take(b, &g);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.e[0].len, 15);
    assert_false(g.e[0].last_part);
    assert_int_equal(g.e[1].len, 15);
    assert_true(g.e[1].last_part);
    assert_int_equal(log_event_builder_counters(b)->repaired_bytes, 10);
    got_clear(&g);
    log_event_builder_free(b);
}

static void test_multi_line_group_capped(void **state)
{
    (void)state;
    /* A group growing past max_event_bytes hands out its front part while it is still
     * open; later lines keep joining the rest; the filter verdict of the first part
     * holds for all parts. */
    const struct log_filter_spec filters[] = {{.exclude = false, .expression = "^S"}};
    struct log_event_opts o = {.multi_line_start_pattern = "^S",
                               .max_event_bytes = 10,
                               .filters = filters,
                               .n_filters = 1};
    struct log_event_builder *b = make(&o);
    struct got g = {0};
    const char *log = "S123\n 4567\n 89\nS2\n";
    run_text(b, log, strlen(log), 0, T0, false, &g);
    log_event_builder_flush(b, T0, true);
    take(b, &g);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.e[0].msg, "S123\n 4567");
    assert_false(g.e[0].last_part);
    assert_int_equal(g.e[0].start_off, 0);
    assert_string_equal(g.e[1].msg, "\n 89");
    assert_true(g.e[1].last_part);
    assert_int_equal(g.e[1].start_off, 0);
    assert_int_equal(g.e[1].end_off, 15);
    assert_string_equal(g.e[2].msg, "S2");
    assert_false(g.e[1].filtered); /* decided on the first part, which starts with S */
    const struct log_event_counters *k = log_event_builder_counters(b);
    assert_int_equal(k->split_events, 1);
    assert_int_equal(k->split_parts, 2);
    assert_int_equal(k->events, 2);
    assert_int_equal(k->filtered, 0);
    got_clear(&g);
    log_event_builder_free(b);
}

static void test_no_allocation_per_line_after_warm_up(void **state)
{
    (void)state;
#if ALLOC_COUNTING
    alloc_counting_install();
    const struct log_filter_spec filters[] = {
        {.exclude = false, .expression = "(?i)error|warn"},
        {.exclude = true, .expression = "health.*check"},
    };
    struct log_event_opts o = {.multi_line_start_pattern = "^\\d{4}-",
                               .timestamp_format = "%Y-%m-%d %H:%M:%S",
                               .timezone_utc = true,
                               .filters = filters,
                               .n_filters = 2,
                               .max_event_bytes = 4096};
    struct log_event_builder *b = make(&o);
    static char text[64 * 1024];
    size_t len = 0;
    for (int i = 0; i < 200; i++) {
        len += (size_t)snprintf(text + len, sizeof(text) - len,
                                "2024-05-01 10:%02d:%02d %s event %d caf\xC3\xA9 \xFF\n"
                                "\tat frame.one(X.java:%d)\n\tat frame.two\n",
                                i / 60, i % 60, i % 3 ? "ERROR" : "INFO healthcheck", i, i);
    }
    struct log_lines f;
    assert_int_equal(log_lines_init(&f, 512), 0);
    struct built_event ev;
    for (int round = 0; round < 3; round++) {
        counting = round != 1;
        allocations = 0;
        log_lines_reset(&f, 0);
        log_lines_feed(&f, (const uint8_t *)text, len, 0);
        struct log_line line;
        size_t events = 0;
        while (log_lines_next(&f, &line)) {
            while (log_event_builder_push(b, &line, T0) == -EBUSY) {
                while (log_event_builder_peek(b, &ev)) {
                    events++;
                    log_event_builder_pop(b);
                }
            }
        }
        log_event_builder_flush(b, T0 + 10 * NS, false);
        while (log_event_builder_peek(b, &ev)) {
            events++;
            log_event_builder_pop(b);
        }
        counting = false;
        assert_int_equal(events, 200);
        if (round == 0)
            assert_true(allocations > 0); /* the hook sees the buffers being sized */
        if (round == 2)
            assert_int_equal(allocations, 0);
    }
    const struct log_event_counters *k = log_event_builder_counters(b);
    assert_int_equal(k->events, 600);
    assert_int_equal(k->filtered, 3 * 67); /* the INFO healthcheck ones, i % 3 == 0 */
    assert_int_equal(k->repaired_bytes, 600);
    assert_int_equal(k->timestamp_misses, 0);
    log_lines_release(&f);
    log_event_builder_free(b);
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_line_is_an_event_and_ebusy_until_pop),
        cmocka_unit_test(test_line_event_fast_path_matches_push),
        cmocka_unit_test(test_java_stack_trace_by_timestamp_format),
        cmocka_unit_test(test_java_stack_trace_by_regex),
        cmocka_unit_test(test_python_traceback_and_bounded_wait),
        cmocka_unit_test(test_first_line_without_start_still_starts_an_event),
        cmocka_unit_test(test_filters_in_order),
        cmocka_unit_test(test_crlf_lines),
        cmocka_unit_test(test_utf8_repair_maximal_subparts),
        cmocka_unit_test(test_latin1_and_ascii),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_timestamp_miss_uses_read_time),
        cmocka_unit_test(test_partial_last_line_held_then_finished),
        cmocka_unit_test(test_3mib_line_split_with_one_timestamp),
        cmocka_unit_test(test_split_after_repair),
        cmocka_unit_test(test_multi_line_group_capped),
        cmocka_unit_test(test_no_allocation_per_line_after_warm_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
