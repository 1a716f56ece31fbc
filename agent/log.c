#include "agent/log.h"

#include "agent/clock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = LOG_LEVEL_INFO;
static _Atomic int log_fd = 2;

static const char *const level_names[LOG_LEVEL_MAX] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level level)
{
    atomic_store(&log_level, (int)level);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load(&log_level);
}

void log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
}

int log_level_parse(const char *name, enum log_level *ret_level)
{
    for (int i = 0; i < LOG_LEVEL_MAX; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *ret_level = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

static void log_vwrite(enum log_level level, const char *component, const char *suffix,
                       const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    uint64_t now = clock_realtime_ns();
    time_t secs = (time_t)(now / NS_PER_SEC);
    struct tm tm;
    gmtime_r(&secs, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ %-5s %s%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (unsigned)((now % NS_PER_SEC) / NS_PER_MS), level_names[level],
                     component ? component : "", component ? ": " : "");
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    int m = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
    if (m < 0)
        return;
    len += (size_t)m;
    if (suffix && len < sizeof(line))
        len += (size_t)snprintf(line + len, sizeof(line) - len, "%s", suffix);
    if (len >= sizeof(line) - 1) {
        len = sizeof(line) - 1;
        memcpy(line + len - 4, "...", 3);
        len -= 1;
    }
    line[len++] = '\n';
    ssize_t w;
    do {
        w = write(atomic_load(&log_fd), line, len);
    } while (w < 0 && errno == EINTR);
}

void log_msg(enum log_level level, const char *component, const char *fmt, ...)
{
    if ((int)level > atomic_load(&log_level))
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, component, NULL, fmt, ap);
    va_end(ap);
}

#define COMPLAIN_FIRST_NS (1 * NS_PER_SEC)
#define COMPLAIN_MAX_NS   (3600 * NS_PER_SEC)

void log_complain(struct log_complain *c, enum log_level level, const char *component,
                  const char *fmt, ...)
{
    uint64_t now = clock_monotonic_ns();
    if (c->active && now < c->next_ns) {
        c->suppressed++;
        return;
    }
    char suffix[64] = "";
    if (c->suppressed)
        snprintf(suffix, sizeof(suffix), " (repeated %llu times)",
                 (unsigned long long)c->suppressed);
    c->interval_ns = c->active ? c->interval_ns * 2 : COMPLAIN_FIRST_NS;
    if (c->interval_ns > COMPLAIN_MAX_NS)
        c->interval_ns = COMPLAIN_MAX_NS;
    c->next_ns = now + c->interval_ns;
    c->suppressed = 0;
    c->active = true;
    if ((int)level > atomic_load(&log_level))
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, component, suffix, fmt, ap);
    va_end(ap);
}

void log_complain_clear(struct log_complain *c, const char *component, const char *fmt, ...)
{
    if (!c->active)
        return;
    c->active = false;
    c->suppressed = 0;
    c->interval_ns = 0;
    if (LOG_LEVEL_INFO > atomic_load(&log_level))
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(LOG_LEVEL_INFO, component, NULL, fmt, ap);
    va_end(ap);
}

void log_format_error(char *err, size_t err_len, const char *fmt, ...)
{
    if (!err || err_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}
