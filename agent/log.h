/*
 * log: leveled log lines on stderr, tagged with the component (plugin instance) name.
 *
 * Contract
 * - Thread-safe: each line is formatted into a local buffer and written with a single
 *   write(2), so lines from the two loops never interleave. Lines longer than
 *   LOG_LINE_MAX are truncated (with "...").
 * - The level and the output fd are the only global state (set once at start-up).
 * - Parsers and other pure modules never log; they return error codes and the plugin
 *   instance that called them logs once.
 * - struct log_complain rate-limits a repeating failure: the first occurrence is logged,
 *   repeats are suppressed with a doubling interval (1 s up to 1 h) and counted, and
 *   log_complain_clear() logs once that the problem has cleared.
 */
#ifndef OSPREY_LOG_H
#define OSPREY_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOG_LINE_MAX 2048

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_MAX
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Redirect log output (tests); fd must stay open while logging is in use. */
void log_set_fd(int fd);
/* "error", "warn", "info", "debug" -> level; -EINVAL otherwise. */
int log_level_parse(const char *name, enum log_level *ret_level);

void log_msg(enum log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(component, ...) log_msg(LOG_LEVEL_ERROR, component, __VA_ARGS__)
#define log_warn(component, ...)  log_msg(LOG_LEVEL_WARN, component, __VA_ARGS__)
#define log_info(component, ...)  log_msg(LOG_LEVEL_INFO, component, __VA_ARGS__)
#define log_debug(component, ...) log_msg(LOG_LEVEL_DEBUG, component, __VA_ARGS__)

struct log_complain {
    uint64_t next_ns;
    uint64_t interval_ns;
    uint64_t suppressed;
    bool active;
};

/* Log (or count as suppressed) one occurrence of a repeating problem. */
/* Format an error message into a caller's buffer (the err/err_len pair of parsers and
 * compilers that leave logging to their caller); nothing when err is NULL or empty. */
void log_format_error(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void log_complain(struct log_complain *c, enum log_level level, const char *component,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The problem is gone: if it was being reported, say so once and reset. */
void log_complain_clear(struct log_complain *c, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
