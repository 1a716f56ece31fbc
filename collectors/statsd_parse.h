/*
 * statsd_parse: one StatsD line -> one struct, as the CloudWatch agent's StatsD plugin
 * reads it (PROTOCOLS.md §6).
 *
 * Contract
 * - Pure: no I/O, no logging, no allocation. Thread-agnostic. Every string in the result
 *   points into the caller's line, which must outlive the result.
 * - A line is `bucket:value|type[|@rate][|#tags]...[:value|type[|@rate]]...` where bucket
 *   is `name[,key=value]*` (Influx-style tags; items without exactly one '=' are ignored,
 *   as the agent does) and any '|'-segment starting with '#' is a DogStatsD tag list
 *   (`key:value` split at the first ':', a bare `key` gets the value "<empty>" because
 *   CloudWatch refuses empty dimension values; items with an empty key are ignored). Tag
 *   segments are removed before the rest is split on ':' and '|', so tag values may
 *   contain ':'.
 * - statsd_parse_line() returns 0 with every sample of the line, or -EBADMSG with
 *   ret->reason saying why; a line is taken or refused whole (the agent keeps the samples
 *   before a bad one; refusing the line is simpler to count and to explain).
 * - Tags come out sorted by key (bytewise) with duplicate keys removed, the last one
 *   written winning (DogStatsD tags after bucket tags), so equal series give equal keys.
 * - Values: counters are truncated to an integer, then divided by the sample rate and
 *   truncated again (the agent's int64 arithmetic); a leading '+'/'-' on a gauge makes it
 *   a relative change; '+'/'-' on a timer, histogram or set is refused. A rate must be
 *   `@x` with 0 <= x <= 1; @0 means "unsampled" (the agent ignores it). NaN, infinities,
 *   hexadecimal and anything strtod() would only half read are refused.
 * - Names: non-empty, at most METRIC_MAX_NAME bytes, none of '#', '@' or control
 *   characters (':' and '|' cannot occur by construction). Tag keys: at most
 *   METRIC_MAX_NAME bytes; values at most METRIC_MAX_DIM_VALUE; no control characters.
 */
#ifndef OSPREY_STATSD_PARSE_H
#define OSPREY_STATSD_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATSD_MAX_TAGS    32 /* per line, before duplicates are removed */
#define STATSD_MAX_SAMPLES 16 /* values per line ("a:1|c:2|ms" is two) */

enum statsd_type {
    STATSD_COUNTER = 0,
    STATSD_GAUGE,
    STATSD_TIMER,
    STATSD_HISTOGRAM,
    STATSD_SET,
    STATSD_TYPE_MAX
};

/* The plugin's fine drop reasons, in the order of statsd_reason_names (the selfstats
 * reject table). The first group is the parser's; the rest are counted by the listener
 * and the aggregation table. */
enum statsd_reason {
    STATSD_R_NO_COLON = 0,       /* no ':' after the name */
    STATSD_R_NO_PIPE,            /* a value without '|type' */
    STATSD_R_BAD_TYPE,           /* type not one of c, g, ms, h, s */
    STATSD_R_BAD_VALUE,          /* value not a finite decimal number */
    STATSD_R_BAD_RATE,           /* third field not @0..1 */
    STATSD_R_SIGN_NOT_ALLOWED,   /* '+'/'-' on a timer, histogram or set */
    STATSD_R_BAD_NAME,           /* empty, too long, forbidden characters */
    STATSD_R_BAD_TAG,            /* too long, control characters, too many */
    STATSD_R_TOO_MANY_VALUES,    /* more than STATSD_MAX_SAMPLES values in one line */
    STATSD_R_DATAGRAM_TOO_LARGE, /* over max_datagram_bytes: whole datagram dropped */
    STATSD_R_DATAGRAM_TRUNCATED, /* cut by the receive buffer: whole datagram dropped */
    STATSD_R_TABLE_FULL,         /* a new series while the table was full */
    STATSD_R_SET_FULL,           /* a new set member while the member table was full */
    STATSD_R_MAX
};

extern const char *const statsd_reason_names[STATSD_R_MAX + 1]; /* NULL-terminated */

/* "counter", "gauge", "timing", "histogram", "set": the agent's metric_type values. */
const char *statsd_type_name(enum statsd_type type);

struct statsd_tag {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
};

struct statsd_sample {
    enum statsd_type type;
    bool relative;   /* gauge only: add to the current value */
    double value;    /* counters: already scaled by 1/rate and truncated */
    double rate;     /* (0, 1]; 1 when absent or @0 */
    const char *str; /* set member (may be empty) */
    size_t str_len;
};

struct statsd_line {
    const char *name; /* before metric_separator is applied */
    size_t name_len;
    size_t n_tags;
    struct statsd_tag tags[STATSD_MAX_TAGS];
    size_t n_samples;
    struct statsd_sample samples[STATSD_MAX_SAMPLES];
    enum statsd_reason reason; /* set when parsing fails */
};

/* Parse one line (no '\n'; surrounding whitespace already trimmed). 0 or -EBADMSG. */
int statsd_parse_line(const char *line, size_t len, struct statsd_line *ret);

/* Iterate over the lines of a datagram: each call stores the next non-blank line,
 * trimmed of ASCII whitespace, and returns true; false at the end. *pos starts at 0. */
bool statsd_next_line(const char *buf, size_t len, size_t *pos, const char **ret_line,
                      size_t *ret_len);

#endif
