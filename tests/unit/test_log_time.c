/*
 * Tests for collectors/log_time.c: the CloudWatch agent's timestamp_format matcher.
 * Lines are handed over as exact-size heap copies, so ASan catches any read past `len`.
 * Expected instants come from timegm(), an oracle independent of the module's arithmetic.
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
#include <time.h>

#include "collectors/log_time.h"

#define NS 1000000000ull

static uint64_t utc_ns(int y, int mo, int d, int h, int mi, int s, uint64_t frac_ns)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    time_t t = timegm(&tm);
    assert_true(t >= 0);
    return (uint64_t)t * NS + frac_ns;
}

static struct log_time_format *compile(const char *fmt, bool utc)
{
    char err[256];
    struct log_time_format *f = NULL;
    int r = log_time_format_compile(fmt, utc, err, sizeof(err), &f);
    if (r != 0)
        fail_msg("'%s' refused: %s", fmt, err);
    assert_non_null(f);
    return f;
}

/* Exact-size heap copy of s[0..n): any read past n is an ASan error. */
static uint8_t *heap_copy(const char *s, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    memcpy(p, s, n);
    return p;
}

static bool find_n(const struct log_time_format *f, const char *line, size_t n, uint64_t now_ns,
                   uint64_t *ret_ns)
{
    uint8_t *copy = heap_copy(line, n);
    bool ok = log_time_find(f, n ? copy : NULL, n, now_ns, ret_ns);
    free(copy);
    return ok;
}

static bool find(const struct log_time_format *f, const char *line, uint64_t now_ns,
                 uint64_t *ret_ns)
{
    return find_n(f, line, strlen(line), now_ns, ret_ns);
}

static void expect(const char *fmt, bool utc, const char *line, uint64_t now_ns, uint64_t want)
{
    struct log_time_format *f = compile(fmt, utc);
    uint64_t got = 0;
    if (!find(f, line, now_ns, &got))
        fail_msg("'%s' found no '%s' stamp", line, fmt);
    if (got != want)
        fail_msg("'%s' with '%s': got %llu, want %llu (diff %lld s)", line, fmt,
                 (unsigned long long)got, (unsigned long long)want,
                 (long long)((int64_t)(got - want) / (int64_t)NS));
    log_time_format_free(f);
}

static void expect_none(const char *fmt, bool utc, const char *line, uint64_t now_ns)
{
    struct log_time_format *f = compile(fmt, utc);
    uint64_t got = 0;
    if (find(f, line, now_ns, &got))
        fail_msg("'%s' should not match '%s' (got %llu)", line, fmt, (unsigned long long)got);
    log_time_format_free(f);
}

/* A fixed "now": 2026-12-04 16:05:00 UTC. */
static uint64_t now(void)
{
    return utc_ns(2026, 12, 4, 16, 5, 0, 0);
}

/* ---- compile ---------------------------------------------------------------------- */

static void test_compile_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {"",    "%q",        "%",     "%-",     "%-Y",
                                      "%-z", "no fields", "%Y-%E", "%%only", "%Y %"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[128] = "";
        struct log_time_format *f = (struct log_time_format *)0x1;
        int r = log_time_format_compile(bad[i], true, err, sizeof(err), &f);
        if (r != -EINVAL)
            fail_msg("'%s' accepted (r=%d)", bad[i], r);
        assert_true(strlen(err) > 0);
        assert_ptr_equal(f, (struct log_time_format *)0x1); /* untouched on failure */
    }
    char long_fmt[LOG_TIME_MAX_FORMAT + 2];
    memset(long_fmt, 'x', sizeof(long_fmt) - 1);
    long_fmt[0] = '%';
    long_fmt[1] = 'Y';
    long_fmt[sizeof(long_fmt) - 1] = '\0';
    char err[128];
    struct log_time_format *f = NULL;
    assert_int_equal(log_time_format_compile(long_fmt, true, err, sizeof(err), &f), -EINVAL);
    assert_int_equal(log_time_format_compile(NULL, true, err, sizeof(err), &f), -EINVAL);

    /* Every documented directive compiles. */
    log_time_format_free(compile("%y %Y %b %B %m %-m %d %-d %H %-H %I %-I %p %M %-M %S %-S "
                                 "%f %Z %z %j %a %A %%",
                                 false));
    log_time_format_free(NULL);
}

/* ---- real formats ----------------------------------------------------------------- */

static void test_syslog(void **state)
{
    (void)state;
    const char *fmt = "%b %d %H:%M:%S";
    expect(fmt, true, "Dec  4 16:04:07 ip-10-0-0-1 sshd[811]: Accepted publickey", now(),
           utc_ns(2026, 12, 4, 16, 4, 7, 0));
    expect(fmt, true, "Nov 14 01:02:03 host cron[1]: x", now(), utc_ns(2026, 11, 14, 1, 2, 3, 0));
    expect(fmt, true, "dec 4 16:04:07 lower case, no pad", now(), utc_ns(2026, 12, 4, 16, 4, 7, 0));

    /* New Year: read on Jan 1, a Dec 31 stamp is last year's. */
    uint64_t jan1 = utc_ns(2027, 1, 1, 0, 0, 10, 0);
    expect(fmt, true, "Dec 31 23:59:59 host app: last of the year", jan1,
           utc_ns(2026, 12, 31, 23, 59, 59, 0));
    expect(fmt, true, "Jan  1 00:00:05 host app: first of the year", jan1,
           utc_ns(2027, 1, 1, 0, 0, 5, 0));
    /* Less than a day ahead (writer's clock ahead of ours) stays this year. */
    expect(fmt, true, "Jan  1 20:00:00 host app: clock skew", jan1,
           utc_ns(2027, 1, 1, 20, 0, 0, 0));
    /* Feb 29 without a year: valid in a leap year, no stamp otherwise. */
    expect(fmt, true, "Feb 29 10:00:00 x", utc_ns(2028, 3, 1, 0, 0, 0, 0),
           utc_ns(2028, 2, 29, 10, 0, 0, 0));
    expect_none(fmt, true, "Feb 29 10:00:00 x", now());
}

static void test_apache(void **state)
{
    (void)state;
    const char *fmt = "%d/%b/%Y:%H:%M:%S %z";
    const char *line = "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /a.gif HTTP/1.0\" "
                       "200 2326";
    uint64_t want = utc_ns(2000, 10, 10, 20, 55, 36, 0);
    expect(fmt, true, line, now(), want);
    expect(fmt, false, line, now(), want); /* the offset in the stamp wins over Local */
    expect(fmt, true, "[01/Jan/2024:00:00:00 +0530] x", now(), utc_ns(2023, 12, 31, 18, 30, 0, 0));
}

static void test_iso8601(void **state)
{
    (void)state;
    const char *fmt = "%Y-%m-%dT%H:%M:%S.%f%z";
    expect(fmt, false, "2024-02-29T12:00:00.123Z {\"level\":\"info\"}", now(),
           utc_ns(2024, 2, 29, 12, 0, 0, 123000000));
    expect(fmt, true, "ts=2024-03-05T07:08:09.5+05:30 msg=x", now(),
           utc_ns(2024, 3, 5, 1, 38, 9, 500000000));
    expect(fmt, true, "2024-03-05T07:08:09.000001-0800", now(), utc_ns(2024, 3, 5, 15, 8, 9, 1000));
    expect(fmt, true, "2024-03-05T07:08:09.123456789+0000", now(),
           utc_ns(2024, 3, 5, 7, 8, 9, 123456789));
    /* Ten fraction digits: the tenth cannot be followed by the offset. */
    expect_none(fmt, true, "2024-03-05T07:08:09.1234567891+0000", now());
    expect_none(fmt, true, "2024-03-05T07:08:09.123+2400", now());
    expect_none(fmt, true, "2024-03-05T07:08:09.123+05:3", now());
    expect_none(fmt, true, "2024-03-05T07:08:09+0000", now()); /* no fraction */
}

static void test_log4j_and_python(void **state)
{
    (void)state;
    const char *fmt = "%Y-%m-%d %H:%M:%S,%f";
    expect(fmt, true, "2024-03-05 07:08:09,123 INFO  [main] c.e.App - started", now(),
           utc_ns(2024, 3, 5, 7, 8, 9, 123000000));
    expect(fmt, true, "2024-03-05 07:08:09,123 - root - WARNING - disk low", now(),
           utc_ns(2024, 3, 5, 7, 8, 9, 123000000));
    /* In the middle of a line, after digits that almost form a stamp. */
    expect(fmt, true, "[worker-3] id=12024-03-05 at 2024-03-05 07:08:09,7 ok", now(),
           utc_ns(2024, 3, 5, 7, 8, 9, 700000000));
    /* An invalid stamp first, a valid one later: the valid one is found. */
    expect(fmt, true, "was 2024-13-05 07:08:09,1 now 2024-03-06 07:08:09,2", now(),
           utc_ns(2024, 3, 6, 7, 8, 9, 200000000));
    /* Leap second: 23:59:60 is the next second. */
    expect(fmt, true, "2016-12-31 23:59:60,0 leap", now(), utc_ns(2017, 1, 1, 0, 0, 0, 0));
}

static void test_near_misses(void **state)
{
    (void)state;
    const char *fmt = "%Y-%m-%d %H:%M:%S,%f";
    static const char *const lines[] = {
        "2024-13-05 07:08:09,123", /* month 13 */
        "2024-00-05 07:08:09,123", /* month 0 */
        "2024-02-30 07:08:09,123", /* Feb 30 */
        "2023-02-29 07:08:09,123", /* not a leap year */
        "2100-02-29 07:08:09,123", /* century rule */
        "2024-04-31 07:08:09,123", /* April has 30 days */
        "2024-03-00 07:08:09,123", /* day 0 */
        "2024-03-05 24:00:00,123", /* hour 24 */
        "2024-03-05 07:60:09,123", /* minute 60 */
        "2024-03-05 07:08:61,123", /* second 61 */
        "2024-03-05 07:08:09",     /* no fraction */
        "2024-03-05 07:08:09.123", /* '.' for ',' */
        "2024-03-05 07:08:09,abc", /* letters for the fraction */
        "2024-03-05T07:08:09,123", /* 'T' for ' ' */
        "24-03-05 07:08:09,123",   /* two-digit year */
        "1969-12-31 23:59:59,999", /* before the epoch */
        "",
        "no timestamp here at all",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        expect_none(fmt, true, lines[i], now());
    expect("%Y-%m-%d %H:%M:%S,%f", true, "2000-02-29 00:00:00,0", now(),
           utc_ns(2000, 2, 29, 0, 0, 0, 0));

    expect_none("%b %d %H:%M:%S", true, "Dex  4 16:04:07 x", now());
    expect_none("%b %d %H:%M:%S", true, "Dec 32 16:04:07 x", now());
    expect_none("%b %d %H:%M:%S", true, "Dec  4 16:04 x", now());
    expect_none("%b %d %H:%M:%S", true, "Dec  4 1:04:07 x", now()); /* %H is 2 digits */
    expect_none("%m/%d/%Y %I:%M:%S %p", true, "03/05/2024 13:08:09 PM", now());
    expect_none("%m/%d/%Y %I:%M:%S %p", true, "03/05/2024 00:08:09 AM", now());
    expect_none("%m/%d/%Y %I:%M:%S %p", true, "03/05/2024 07:08:09 XM", now());
}

static void test_unpadded_fields(void **state)
{
    (void)state;
    expect("%-m/%-d/%Y %-H:%-M:%-S", true, "at 3/5/2024 7:8:9 go", now(),
           utc_ns(2024, 3, 5, 7, 8, 9, 0));
    expect("%-m/%-d/%Y %-H:%-M:%-S", true, "12/25/2024 23:59:58 x", now(),
           utc_ns(2024, 12, 25, 23, 59, 58, 0));
    expect("%b %-d %H:%M:%S %Y", true, "Mar 5 07:08:09 2024", now(),
           utc_ns(2024, 3, 5, 7, 8, 9, 0));
    /* The agent reads %m and %d with or without the leading zero, and "_2" padding. */
    expect("%Y/%m/%d %H:%M:%S", true, "2024/3/5 07:08:09", now(), utc_ns(2024, 3, 5, 7, 8, 9, 0));
    expect("%Y/%m/%d %H:%M:%S", true, "2024/03/ 5 07:08:09", now(), utc_ns(2024, 3, 5, 7, 8, 9, 0));
    /* Backtracking: "13" is no month, so "%-m" settles for "1" and the rest shifts. */
    expect("%-m%-d%-H", true, "x1311 y", utc_ns(2026, 12, 31, 0, 0, 0, 0),
           utc_ns(2026, 1, 31, 1, 0, 0, 0));
    /* %-I with %p. */
    expect("%Y-%m-%d %-I:%M %p", true, "2024-03-05 7:08 pm", now(),
           utc_ns(2024, 3, 5, 19, 8, 0, 0));
}

static void test_names_ampm_year_day(void **state)
{
    (void)state;
    expect("%m/%d/%Y %I:%M:%S %p", true, "03/05/2024 07:08:09 PM", now(),
           utc_ns(2024, 3, 5, 19, 8, 9, 0));
    expect("%m/%d/%Y %I:%M:%S %p", true, "03/05/2024 12:00:00 AM", now(),
           utc_ns(2024, 3, 5, 0, 0, 0, 0));
    expect("%m/%d/%Y %I:%M:%S %p", true, "03/05/2024 12:30:00 PM", now(),
           utc_ns(2024, 3, 5, 12, 30, 0, 0));
    expect("%y%m%d %H:%M:%S", true, "240305 07:08:09", now(), utc_ns(2024, 3, 5, 7, 8, 9, 0));
    expect("%y-%m-%d", true, "99-12-31", now(), utc_ns(1999, 12, 31, 0, 0, 0, 0));
    expect("%A, %B %-d %Y %H:%M:%S", true, "Tuesday, March 5 2024 07:08:09", now(),
           utc_ns(2024, 3, 5, 7, 8, 9, 0));
    expect("%B %d, %Y", true, "on September 30, 2024 we", now(), utc_ns(2024, 9, 30, 0, 0, 0, 0));
    expect_none("%B %d, %Y", true, "on Sept 30, 2024 we", now());
    expect("%a %b %d %H:%M:%S %Y", true, "Tue Mar  5 07:08:09 2024", now(),
           utc_ns(2024, 3, 5, 7, 8, 9, 0));
    expect_none("%a %b %d %H:%M:%S %Y", true, "Tux Mar  5 07:08:09 2024", now());
    expect("%Y-%j %H:%M:%S", true, "2024-065 07:08:09", now(), utc_ns(2024, 3, 5, 7, 8, 9, 0));
    expect("%Y-%j", true, "2024-366", now(), utc_ns(2024, 12, 31, 0, 0, 0, 0));
    expect_none("%Y-%j", true, "2023-366", now());
    expect_none("%Y-%j", true, "2023-367", now());
    expect("%Y%%%m", true, "2024%07", now(), utc_ns(2024, 7, 1, 0, 0, 0, 0));
}

static void test_missing_fields(void **state)
{
    (void)state;
    /* Time only: today, or yesterday when more than an hour ahead. */
    expect("%H:%M:%S", true, "at 15:00:00 x", now(), utc_ns(2026, 12, 4, 15, 0, 0, 0));
    expect("%H:%M:%S", true, "16:30:00", now(), utc_ns(2026, 12, 4, 16, 30, 0, 0));
    expect("%H:%M:%S", true, "23:59:00", utc_ns(2027, 1, 1, 0, 0, 30, 0),
           utc_ns(2026, 12, 31, 23, 59, 0, 0));
    /* Day and time: this month, or last month. */
    expect("%d %H:%M", true, "30 10:00", now(), utc_ns(2026, 11, 30, 10, 0, 0, 0));
    expect("%d %H:%M", true, "03 10:00", now(), utc_ns(2026, 12, 3, 10, 0, 0, 0));
    /* A field missing under a present one is its lowest value. */
    expect("%Y %H:%M", true, "2024 10:00", now(), utc_ns(2024, 1, 1, 10, 0, 0, 0));
}

/* ---- zones ------------------------------------------------------------------------ */

struct saved_tz {
    char value[128];
    bool set;
};

static void tz_set(struct saved_tz *saved, const char *tz)
{
    const char *old = getenv("TZ");
    saved->set = old != NULL;
    if (old)
        snprintf(saved->value, sizeof(saved->value), "%s", old);
    assert_int_equal(setenv("TZ", tz, 1), 0);
    tzset();
}

static void tz_restore(const struct saved_tz *saved)
{
    if (saved->set)
        setenv("TZ", saved->value, 1);
    else
        unsetenv("TZ");
    tzset();
}

static void test_local_new_york(void **state)
{
    (void)state;
    struct saved_tz saved;
    tz_set(&saved, "America/New_York");
    const char *fmt = "%Y-%m-%d %H:%M:%S,%f";
    /* EST in winter, EDT in summer. */
    expect(fmt, false, "2024-03-05 07:08:09,123 x", now(), utc_ns(2024, 3, 5, 12, 8, 9, 123000000));
    expect(fmt, false, "2024-07-01 12:00:00,000 x", now(), utc_ns(2024, 7, 1, 16, 0, 0, 0));
    /* The same line under timezone "UTC" is not shifted. */
    expect(fmt, true, "2024-07-01 12:00:00,000 x", now(), utc_ns(2024, 7, 1, 12, 0, 0, 0));
    /* Spring forward: 02:30 does not exist; read with the offset before (EST). */
    expect(fmt, false, "2024-03-10 02:30:00,0", now(), utc_ns(2024, 3, 10, 7, 30, 0, 0));
    /* Fall back: 01:30 happens twice; the earlier (EDT) instant. */
    expect(fmt, false, "2024-11-03 01:30:00,0", now(), utc_ns(2024, 11, 3, 5, 30, 0, 0));
    /* Just around the changes. */
    expect(fmt, false, "2024-03-10 03:00:00,0", now(), utc_ns(2024, 3, 10, 7, 0, 0, 0));
    expect(fmt, false, "2024-11-03 02:00:00,0", now(), utc_ns(2024, 11, 3, 7, 0, 0, 0));

    /* %Z: UTC/GMT/Z mean UTC; other names fall back to the configured zone. */
    const char *zfmt = "%Y-%m-%d %H:%M:%S %Z";
    expect(zfmt, false, "2024-07-01 12:00:00 UTC", now(), utc_ns(2024, 7, 1, 12, 0, 0, 0));
    expect(zfmt, false, "2024-07-01 12:00:00 GMT", now(), utc_ns(2024, 7, 1, 12, 0, 0, 0));
    expect(zfmt, false, "2024-07-01 12:00:00 Z", now(), utc_ns(2024, 7, 1, 12, 0, 0, 0));
    expect(zfmt, false, "2024-07-01 12:00:00 EDT", now(), utc_ns(2024, 7, 1, 16, 0, 0, 0));
    expect(zfmt, true, "2024-07-01 12:00:00 PST", now(), utc_ns(2024, 7, 1, 12, 0, 0, 0));
    expect_none(zfmt, true, "2024-07-01 12:00:00 ", now());
    expect_none(zfmt, true, "2024-07-01 12:00:00 TOOLONG", now());

    /* Year-less syslog stamps in local time: today's date is New York's, not UTC's. */
    uint64_t now_ny = utc_ns(2027, 1, 1, 3, 0, 0, 0); /* Dec 31 22:00 in New York */
    expect("%b %d %H:%M:%S", false, "Dec 31 21:59:00 x", now_ny, utc_ns(2027, 1, 1, 2, 59, 0, 0));
    expect("%H:%M:%S", false, "21:00:00 x", now_ny, utc_ns(2027, 1, 1, 2, 0, 0, 0));
    tz_restore(&saved);
}

/* ---- truncation, event starts, cost ----------------------------------------------- */

static void test_truncated_lines(void **state)
{
    (void)state;
    struct {
        const char *fmt;
        const char *line;
        size_t stamp_min; /* shortest prefix holding a full stamp */
    } cases[] = {
        {"%Y-%m-%d %H:%M:%S,%f", "2024-03-05 07:08:09,123 INFO x", 21},
        {"%b %d %H:%M:%S", "Dec  4 16:04:07 host x", 15},
        {"%d/%b/%Y:%H:%M:%S %z", "[10/Oct/2000:13:55:36 -0700] GET", 27},
        {"%Y-%m-%dT%H:%M:%S.%f%z", "2024-03-05T07:08:09.123+05:30", 29},
        {"%A, %B %-d %Y %-I:%M %p", "Wednesday, September 25 2024 7:08 PM", 36},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct log_time_format *f = compile(cases[c].fmt, true);
        size_t full = strlen(cases[c].line);
        for (size_t n = 0; n <= full; n++) {
            uint64_t ns;
            bool found = find_n(f, cases[c].line, n, now(), &ns);
            uint8_t *copy = heap_copy(cases[c].line, n);
            bool starts = log_time_line_starts_event(f, n ? copy : NULL, n);
            free(copy);
            if (found != (n >= cases[c].stamp_min) || starts != found)
                fail_msg("'%s' cut at %zu: found=%d starts=%d", cases[c].fmt, n, found, starts);
        }
        log_time_format_free(f);
    }
}

static void test_line_starts_event(void **state)
{
    (void)state;
    struct log_time_format *f = compile("%Y-%m-%d %H:%M:%S,%f", false);
    static const char *const starts[] = {
        "2024-03-05 07:08:09,123 ERROR boom",
        "[main] 2024-03-05 07:08:09,123 ERROR boom",
    };
    static const char *const continues[] = {
        "java.lang.IllegalStateException: boom",
        "\tat com.example.App.main(App.java:10)",
        "    ... 3 more",
        "2024-03-05 07:08:09 no fraction",
        "",
    };
    for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
        uint8_t *p = heap_copy(starts[i], strlen(starts[i]));
        assert_true(log_time_line_starts_event(f, p, strlen(starts[i])));
        free(p);
    }
    for (size_t i = 0; i < sizeof(continues) / sizeof(continues[0]); i++) {
        size_t n = strlen(continues[i]);
        uint8_t *p = heap_copy(continues[i], n);
        if (log_time_line_starts_event(f, p, n))
            fail_msg("'%s' taken as an event start", continues[i]);
        free(p);
    }
    assert_false(log_time_line_starts_event(NULL, (const uint8_t *)"x", 1));
    log_time_format_free(f);

    /* Feb 29 without a year is a valid start (no clock involved). */
    f = compile("%b %d %H:%M:%S", true);
    assert_true(log_time_line_starts_event(f, (const uint8_t *)"Feb 29 10:00:00", 15));
    assert_false(log_time_line_starts_event(f, (const uint8_t *)"Feb 30 10:00:00", 15));
    log_time_format_free(f);
}

/* A hostile line for a format full of variable-width fields: the step budget keeps it
 * linear. 64 KiB of digits must be searched in bounded time and find nothing. */
static void test_hostile_line_cost(void **state)
{
    (void)state;
    size_t n = 64 * 1024;
    char *line = malloc(n);
    assert_non_null(line);
    for (size_t i = 0; i < n; i++)
        line[i] = (char)('1' + i % 2);
    struct log_time_format *f = compile("%-m%-d%-H%-M%-S%-m%-d%-H%-M%-S!", true);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    uint64_t ns;
    assert_false(find_n(f, line, n, now(), &ns));
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    print_message("hostile 64 KiB line: %.3f s\n", s);
    assert_true(s < 5.0); /* generous: sanitizers, shared 2-core host */
    log_time_format_free(f);
    free(line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_syslog),
        cmocka_unit_test(test_apache),
        cmocka_unit_test(test_iso8601),
        cmocka_unit_test(test_log4j_and_python),
        cmocka_unit_test(test_near_misses),
        cmocka_unit_test(test_unpadded_fields),
        cmocka_unit_test(test_names_ampm_year_day),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_local_new_york),
        cmocka_unit_test(test_truncated_lines),
        cmocka_unit_test(test_line_starts_event),
        cmocka_unit_test(test_hostile_line_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
