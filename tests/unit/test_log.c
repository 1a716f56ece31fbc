/* Logging: level filtering, component prefix, truncation, and rate-limited repeats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/log.h"

static FILE *capture;

static int setup(void **state)
{
    (void)state;
    capture = tmpfile();
    log_set_fd(fileno(capture));
    log_set_level(LOG_LEVEL_INFO);
    return capture ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    log_set_fd(2);
    fclose(capture);
    return 0;
}

static char *captured(void)
{
    static char text[16384];
    fflush(capture);
    rewind(capture);
    size_t len = fread(text, 1, sizeof(text) - 1, capture);
    text[len] = '\0';
    if (ftruncate(fileno(capture), 0) != 0)
        abort();
    rewind(capture);
    return text;
}

static size_t count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_levels_and_prefix(void **state)
{
    (void)state;
    log_info("cpu", "scrape failed: %s", "EIO");
    log_debug("cpu", "hidden");
    char *text = captured();
    assert_non_null(strstr(text, "info  cpu: scrape failed: EIO\n"));
    assert_null(strstr(text, "hidden"));
    log_set_level(LOG_LEVEL_DEBUG);
    log_debug(NULL, "shown");
    log_set_level(LOG_LEVEL_INFO);
    text = captured();
    assert_non_null(strstr(text, "debug shown\n"));
    enum log_level level;
    assert_int_equal(log_level_parse("warn", &level), 0);
    assert_int_equal(level, LOG_LEVEL_WARN);
    assert_int_not_equal(log_level_parse("loud", &level), 0);
}

static void test_long_lines_are_truncated(void **state)
{
    (void)state;
    char big[LOG_LINE_MAX * 2];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_error("c", "%s", big);
    char *text = captured();
    assert_true(strlen(text) <= LOG_LINE_MAX);
    assert_non_null(strstr(text, "...\n"));
}

static void test_complain_rate_limits(void **state)
{
    (void)state;
    struct log_complain c = {0};
    for (int i = 0; i < 100; i++)
        log_complain(&c, LOG_LEVEL_ERROR, "tail", "cannot read '%s', retrying", "/var/log/x");
    char *text = captured();
    assert_int_equal(count(text, "cannot read"), 1);
    assert_int_equal(c.suppressed, 99);
    /* After the interval passes, the next occurrence says how many were suppressed. */
    c.next_ns = 0;
    log_complain(&c, LOG_LEVEL_ERROR, "tail", "cannot read '%s', retrying", "/var/log/x");
    text = captured();
    assert_non_null(strstr(text, "(repeated 99 times)"));
    assert_int_equal(c.interval_ns, 2000000000ull);
    log_complain_clear(&c, "tail", "reading '%s' again", "/var/log/x");
    text = captured();
    assert_non_null(strstr(text, "reading '/var/log/x' again"));
    assert_false(c.active);
    /* Clearing when nothing was wrong says nothing. */
    log_complain_clear(&c, "tail", "reading again");
    assert_string_equal(captured(), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels_and_prefix),
        cmocka_unit_test(test_long_lines_are_truncated),
        cmocka_unit_test(test_complain_rate_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
