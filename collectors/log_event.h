/*
 * log_event: the event builder of the log tailer. Lines from log_lines go in; finished
 * CloudWatch Logs events come out (one message, one timestamp, the file offsets they
 * cover), grouped, filtered, converted to UTF-8 and split as the CloudWatch agent's
 * `collect_list` entry asks.
 *
 * Contract
 * - Grouping (multi_line_start_pattern): without a pattern every line is an event. With
 *   one, a line that matches starts a new event and any other line is appended to the
 *   current one, joined with "\n"; a non-matching line with no event before it starts one
 *   (the agent does the same). "{timestamp_format}" means "the line contains a timestamp
 *   of timestamp_format" (log_time_line_starts_event). Parts of one long line
 *   (LOG_LINE_PART_MIDDLE/_LAST) are appended without a separator and never start an
 *   event. Patterns and filters (PCRE2) match the converted, repaired UTF-8 text, so an
 *   expression that is valid UTF-8 is compiled with PCRE2_UTF whatever the file's
 *   encoding (one '.' is one character); others are compiled as bytes.
 * - Bounded wait: a pending group is finished by log_event_builder_flush(now) once
 *   multi_line_wait_ns has passed since its last line (or at once when force). 0 in the
 *   options means LOG_EVENT_DEFAULT_MULTI_LINE_WAIT_NS = 5 s. The CloudWatch agent
 *   (plugins/inputs/logfile/tailersrc.go) ticks every second (multilineWaitPeriod) and
 *   publishes a pending event on the 5th tick that finds it, counted from the event's
 *   first line (continuation lines do not restart the count): 4-5 s. We keep its 5 s but
 *   count from the last line, so a trace still being written is not cut while lines keep
 *   coming. Without a pattern nothing waits: each line is finished at once (only the
 *   parts of a long line wait for their last part).
 * - Timestamp: log_time_find() over the event's first line (its first part for a long
 *   line), with the first line's push time as "now"; when there is no timestamp_format,
 *   or it is not found (counted in timestamp_misses), the first line's push time.
 * - Filters: applied in order to the event message; the event is kept when it matches
 *   every include and no exclude (the agent's LogFilter.ShouldPublish over all filters).
 *   For an event that is split, the decision is taken on its first part (what the agent,
 *   which truncates, would see) and applies to every part. A filtered event still comes
 *   out (filtered = true, len = 0) so the tailer can move its checkpoint over it.
 * - Encoding: "utf-8" (default; also "utf8", "utf_8"), "ascii" ("us-ascii"; every byte
 *   >= 0x80 becomes U+FFFD, counted as repaired), "latin1" ("latin-1", "iso-8859-1",
 *   "iso8859-1"; converted to UTF-8). Names are case-insensitive; others are a
 *   configuration error listing these.
 * - UTF-8 repair: each maximal subpart of an ill-formed sequence (Unicode chapter 3,
 *   "U+FFFD substitution of maximal subparts", as the WHATWG decoder does) becomes one
 *   U+FFFD; repaired_bytes counts the input bytes replaced. A sequence cut by a
 *   LOG_LINE_PART boundary is carried into the next part, not repaired.
 * - Size: an event whose converted message is longer than max_event_bytes (0 means
 *   LOG_EVENT_MAX_EVENT_BYTES, CloudWatch's PutLogEvents limit of 1,048,576 bytes less
 *   the 26-byte event overhead) comes out in parts of at most max_event_bytes, cut at a
 *   UTF-8 character boundary after repair (repair may grow a message: 1 invalid byte ->
 *   3 bytes), all with the event's timestamp. split_events counts such events,
 *   split_parts their parts.
 * - Pull API, because the ring can be full: log_event_builder_push() returns -EBUSY
 *   while a finished event waits to be taken (the line is not consumed; offer it again
 *   after peek/pop). A line that starts a new event while an older one is pending
 *   finishes the older one and gets -EBUSY itself. A line that makes the pending event
 *   exceed max_event_bytes is taken; its front part is then ready (and push says -EBUSY)
 *   until the rest fits. Events come out in file order. The re-offer must be the same
 *   line view (its start decision is cached by pointer, length, offset and part).
 * - Offsets: start_off/end_off span the lines of the event. For a part that is not the
 *   last, end_off is the end of the lines taken so far (the event may still grow): the
 *   tailer must not move its checkpoint past start_off before the last part (whose
 *   end_off is final) is delivered.
 * - Memory: after warm-up (the longest line and event seen) push/peek/pop/flush allocate
 *   nothing: one pcre2_match_data per regex, two reusable buffers. The pending event
 *   holds at most max_event_bytes + 3 * (longest line pushed) + 4 bytes.
 * - Threads: one builder belongs to one tailed file on the collect loop. No I/O, no
 *   logging. log_event_builder_free() discards a pending event: force-flush and drain
 *   first to keep it.
 * - Errors: create returns 0, -EINVAL with a message in err (bad regex, bad
 *   timestamp_format, "{timestamp_format}" without a timestamp_format, unknown encoding,
 *   max_event_bytes below LOG_EVENT_MIN_EVENT_BYTES) or -ENOMEM. push returns 0, -EBUSY
 *   or -ENOMEM (the line is not consumed).
 */
#ifndef OSPREY_LOG_EVENT_H
#define OSPREY_LOG_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collectors/log_lines.h"

#define LOG_EVENT_MAX_EVENT_BYTES              (1048576u - 26u)
#define LOG_EVENT_MIN_EVENT_BYTES              4u /* one UTF-8 character */
#define LOG_EVENT_DEFAULT_MULTI_LINE_WAIT_NS   (5ull * 1000000000ull)
#define LOG_EVENT_TIMESTAMP_FORMAT_PLACEHOLDER "{timestamp_format}"

struct log_filter_spec {
    bool exclude;
    const char *expression;
};

struct log_event_opts {
    const char *multi_line_start_pattern; /* NULL/"" = none */
    const char *timestamp_format;         /* NULL/"" = none */
    bool timezone_utc;
    const char *encoding; /* NULL/"" = utf-8 */
    const struct log_filter_spec *filters;
    size_t n_filters;
    size_t max_event_bytes;      /* 0 = LOG_EVENT_MAX_EVENT_BYTES */
    uint64_t multi_line_wait_ns; /* 0 = LOG_EVENT_DEFAULT_MULTI_LINE_WAIT_NS */
};

struct built_event {
    const uint8_t *msg; /* valid UTF-8; until the next push/pop/flush/free */
    size_t len;
    uint64_t ts_ns;
    uint64_t start_off;
    uint64_t end_off;
    bool filtered;
    bool last_part; /* true for an event that was not split */
};

struct log_event_counters {
    uint64_t lines, events, filtered, split_events, split_parts, repaired_bytes, timestamp_misses;
};

struct log_event_builder;

/* -EINVAL + message for a bad regex/format/encoding; -ENOMEM. *ret set only on success. */
int log_event_builder_create(const struct log_event_opts *o, char *err, size_t err_len,
                             struct log_event_builder **ret);
void log_event_builder_free(struct log_event_builder *b);
/* Offer one line (from log_lines). 0 = taken; -EBUSY = an event is ready and must be
 * taken with peek/pop first (the line was NOT consumed; offer it again); -ENOMEM. */
int log_event_builder_push(struct log_event_builder *b, const struct log_line *line,
                           uint64_t now_ns);
/* The next finished event (or part), without taking it; false when none is ready. */
bool log_event_builder_peek(struct log_event_builder *b, struct built_event *ret);
/* Take the event peek returned (no-op when none is ready). */
void log_event_builder_pop(struct log_event_builder *b);
/* A pending multi-line group whose last line came more than multi_line_wait_ns ago (or
 * any pending group when force) becomes a finished event. */
void log_event_builder_flush(struct log_event_builder *b, uint64_t now_ns, bool force);
/* When flush() would finish the pending group; 0 = no group waiting (none, or already
 * finished and ready for peek). */
uint64_t log_event_builder_deadline(const struct log_event_builder *b);
const struct log_event_counters *log_event_builder_counters(const struct log_event_builder *b);

/* The fast path for the common case, where a line is an event by itself and needs no
 * work: no multi-line pattern, timestamp format or filters are configured, no event is
 * open, and the line is whole, ASCII and within the event limit. Then *ret is that event,
 * pointing at the line's own bytes (no copy), and true is returned; nothing is counted
 * until log_event_builder_line_taken(). False: offer the line with push() instead. Either
 * way the result is the event push/peek would have given. */
bool log_event_builder_line_event(const struct log_event_builder *b, const struct log_line *line,
                                  uint64_t now_ns, struct built_event *ret);
/* The event of log_event_builder_line_event() was delivered: count it. */
void log_event_builder_line_taken(struct log_event_builder *b);

#endif
