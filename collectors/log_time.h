/*
 * log_time: the CloudWatch agent's `timestamp_format` (+ `timezone`) for tailed log files.
 *
 * Contract
 * - log_time_format_compile() turns a format into a small token program; it is the only
 *   function that allocates. The compiled format is immutable afterwards, so one format may
 *   be used from any number of threads at once. Free it with log_time_format_free()
 *   (NULL-safe).
 * - log_time_find() and log_time_line_starts_event() are pure scanners over
 *   (const uint8_t *, size_t): no allocation, no logging, never a read past `len`, no
 *   NUL terminator needed. Their cost is bounded: every start position gets a fixed
 *   backtracking budget, so a line costs O(len * format tokens).
 * - Directives (the agent's documented list, all of them):
 *     %Y 4-digit year      %y 2-digit year (69-99 -> 19xx, 00-68 -> 20xx, as Go parses it)
 *     %b %B month name (abbreviated / full, any case)   %a %A weekday name (checked, ignored)
 *     %m %-m month, %d %-d day: 1 or 2 digits or a space and 1 digit ("Dec  4"), because
 *            the agent's layouts accept all three forms for both spellings
 *     %H 2-digit hour 0-23   %-H 1-2 digits   %I 2-digit hour 1-12   %-I 1-2 digits
 *     %p AM/PM (any case; without %p a 12-hour clock is taken as written, as Go does)
 *     %M %-M minutes   %S %-S seconds (0-60; 60 = leap second, counted as the next second)
 *     %f fraction of a second, 1-9 digits   %j day of the year 001-366
 *     %z offset +HHMM; also +HH:MM and "Z" (beyond the agent's list: ISO 8601 stamps)
 *     %Z zone abbreviation, 1-5 letters: UTC/GMT/UT/Z mean offset 0, others are matched
 *        and ignored (the configured zone applies)
 *     %% a literal '%'; every other byte matches itself.
 * - Search: the first position in the line where the whole format matches and the fields
 *   are a valid date (month 1-12, day within its month incl. leap years, hour, minute,
 *   second ranges), as the agent's generated regex would find it, with no word boundaries.
 * - Zone: a %z offset (or a %Z of UTC/GMT) in the stamp wins; else `utc` (timezone "UTC");
 *   else the process time zone (TZ, localtime_r). A local time inside a DST gap is read
 *   with the offset before the change; an ambiguous one takes the earlier instant.
 * - Missing fields: leading missing date fields (year; year and month; the whole date) come
 *   from now_ns in the stamp's zone. When the result lies in the future by more than a day
 *   (an hour when the whole date is missing), the least significant of them steps back one
 *   (syslog's "Dec 31 23:59:59" read on Jan 1 is last year's). A date field missing below
 *   a present one is 1, and hours, minutes, seconds and fractions default to 0, as Go's
 *   parser does. Stamps before 1970 or past 2554 (u64 ns) are not found.
 * - Errors: compile returns 0, or -EINVAL with a message in `err` (unknown directive,
 *   lone '%', no directive at all, format longer than LOG_TIME_MAX_FORMAT), or -ENOMEM.
 */
#ifndef OSPREY_LOG_TIME_H
#define OSPREY_LOG_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOG_TIME_MAX_FORMAT 128 /* bytes of timestamp_format */

struct log_time_format;

/* Compile a CloudWatch agent timestamp_format. utc: timezone "UTC" (else Local, via the
 * process TZ). 0, or -EINVAL with a message in err; -ENOMEM. *ret is set only on success. */
int log_time_format_compile(const char *fmt, bool utc, char *err, size_t err_len,
                            struct log_time_format **ret);
void log_time_format_free(struct log_time_format *f);

/* Find the first timestamp in the line that matches the format. true + UNIX epoch ns in
 * *ret_ns. now_ns supplies the fields the format lacks (see above). */
bool log_time_find(const struct log_time_format *f, const uint8_t *line, size_t len,
                   uint64_t now_ns, uint64_t *ret_ns);

/* For multi_line_start_pattern "{timestamp_format}": does the line contain a valid
 * timestamp of this format? (No clock involved; Feb 29 without a year is accepted.) */
bool log_time_line_starts_event(const struct log_time_format *f, const uint8_t *line, size_t len);

#endif
