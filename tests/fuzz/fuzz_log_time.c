/*
 * Fuzz target: collectors/log_time.c. Input = the timestamp_format on the first line, the
 * log line after it (no newline = an empty line). The format is compiled for timezone
 * "UTC" and for Local (the process zone, set once to America/New_York so DST paths run),
 * and the line, copied to an exact-size heap buffer, is searched with two clocks.
 * Checks the module's promises: compile returns 0 or -EINVAL with a message (or -ENOMEM);
 * a stamp found with either clock is also an event start; the search is deterministic;
 * nothing is read outside the line (ASan) and nothing leaks.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collectors/log_time.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_A_NS 1796400000000000000ull /* 2026-12-04 16:00 UTC */
#define NOW_B_NS 1798761600000000000ull /* 2027-01-01 00:00 UTC */

static void check_line(const struct log_time_format *f, const uint8_t *line, size_t len)
{
    uint64_t ns_a = 0, ns_b = 0, again = 0;
    bool found_a = log_time_find(f, line, len, NOW_A_NS, &ns_a);
    bool found_b = log_time_find(f, line, len, NOW_B_NS, &ns_b);
    bool starts = log_time_line_starts_event(f, line, len);
    /* A stamp the clock resolves is a syntactic match, so the line starts an event. */
    if ((found_a || found_b) && !starts)
        abort();
    if (found_a && (!log_time_find(f, line, len, NOW_A_NS, &again) || again != ns_a))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool zone_set;
    if (!zone_set) {
        setenv("TZ", "America/New_York", 1);
        tzset();
        zone_set = true;
    }
    const uint8_t *nl = memchr(data, '\n', size);
    size_t fmt_len = nl ? (size_t)(nl - data) : size;
    size_t line_len = nl ? size - fmt_len - 1 : 0;

    char *fmt = malloc(fmt_len + 1);
    uint8_t *line = malloc(line_len ? line_len : 1);
    if (!fmt || !line)
        goto out;
    memcpy(fmt, data, fmt_len);
    fmt[fmt_len] = '\0';
    if (line_len)
        memcpy(line, nl + 1, line_len);

    for (int utc = 0; utc < 2; utc++) {
        char err[160];
        struct log_time_format *f = NULL;
        int r = log_time_format_compile(fmt, utc, err, sizeof(err), &f);
        if (r != 0) {
            if ((r != -EINVAL && r != -ENOMEM) || f != NULL)
                abort();
            if (r == -EINVAL && (err[0] == '\0' || strlen(err) >= sizeof(err)))
                abort();
            continue;
        }
        if (!f)
            abort();
        check_line(f, line_len ? line : NULL, line_len);
        /* Every prefix too: stamps cut at the end of the buffer. */
        for (size_t n = line_len; n-- > 0 && line_len - n <= 32;) {
            uint8_t *cut = malloc(n ? n : 1);
            if (!cut)
                break;
            memcpy(cut, line, n);
            check_line(f, n ? cut : NULL, n);
            free(cut);
        }
        log_time_format_free(f);
    }
out:
    free(fmt);
    free(line);
    return 0;
}
