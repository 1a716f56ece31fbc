/*
 * log_lines: the line framer of the log tailer. Bytes read from a file go in (contiguous,
 * each feed starting where the previous one ended); complete lines come out, with their
 * file offsets, so the tailer can checkpoint exactly after the last delivered line.
 *
 * Contract
 * - Terminators are "\n" and "\r\n"; they are stripped from the line. A lone "\r" is data.
 * - Each line carries start_off (its first byte) and end_off (just past its terminator).
 *   Lines come out in file order with no gaps: every line's start_off is the previous
 *   line's end_off, and the bytes [start_off, end_off) are the line followed by its
 *   terminator ("\n", "\r\n", or nothing for a part cut at max_line or a partial line
 *   given up by log_lines_finish()).
 * - A line with more than max_line bytes (terminator excluded) is cut into parts of
 *   exactly max_line bytes and a last part of 1..max_line bytes, flagged
 *   LOG_LINE_PART_FIRST, _MIDDLE and _LAST so the event layer keeps one event and one
 *   timestamp; a line of at most max_line bytes has part == 0 (LOG_LINE_WHOLE).
 * - A partial last line (no terminator yet) is held, at most max_line + 2 bytes, copied
 *   into the framer's own buffer so the caller may reuse its read buffer after
 *   log_lines_next() returned false. log_lines_finish() (the file was rotated or deleted
 *   and read to its end) makes the held bytes a line, terminator empty.
 * - Views: ret->data points into the caller's fed buffer or into the framer's buffer; it
 *   stays valid until the next log_lines_feed(), log_lines_next() or log_lines_reset(),
 *   and the fed buffer must stay untouched until log_lines_next() returns false.
 * - Feed only after log_lines_next() returned false, at the offset the framer expects
 *   (log_lines_init: 0; after reset: the reset offset). Both are programmer errors
 *   (assert), not input errors.
 * - Allocation: one buffer of max_line + 2 bytes at init, none afterwards. No I/O, no
 *   logging. Single-threaded: one framer belongs to one tailed file.
 * - Errors: log_lines_init() returns 0, -EINVAL (max_line == 0 or absurdly large) or
 *   -ENOMEM. Everything else cannot fail.
 */
#ifndef OSPREY_LOG_LINES_H
#define OSPREY_LOG_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_line_part {
    LOG_LINE_WHOLE = 0,
    LOG_LINE_PART_FIRST,
    LOG_LINE_PART_MIDDLE,
    LOG_LINE_PART_LAST,
};

struct log_line {
    const uint8_t *data;
    size_t len;
    uint64_t start_off;
    uint64_t end_off;
    unsigned part; /* enum log_line_part; 0 = whole line */
};

struct log_lines {
    size_t max_line;
    /* Held bytes of an unterminated line: held[held_start, held_start + held_len), the
     * first of them at file offset held_off. Capacity max_line + 2: max_line bytes of
     * content, one byte proving the line is longer, and a '\r' that may yet turn out to
     * be half of "\r\n". */
    uint8_t *held;
    size_t held_start;
    size_t held_len;
    uint64_t held_off;
    /* The current feed, borrowed: data[pos, len) is not consumed yet; data[0] is at file
     * offset data_off. */
    const uint8_t *data;
    size_t len;
    size_t pos;
    uint64_t data_off;
    bool in_long_line; /* a FIRST part went out and its LAST has not */
    bool finishing;    /* log_lines_finish() was called: the held partial is a line */
};

int log_lines_init(struct log_lines *f, size_t max_line);
void log_lines_release(struct log_lines *f);
/* Offer `len` bytes that start at file offset `off` (== the framer's next expected
 * offset). The bytes are borrowed until log_lines_next() returns false. */
void log_lines_feed(struct log_lines *f, const uint8_t *data, size_t len, uint64_t off);
/* Next complete line; false when none. The view stays valid until the next
 * feed/next/reset. */
bool log_lines_next(struct log_lines *f, struct log_line *ret);
/* EOF for good: the held partial (and any partial at the end of the current feed)
 * becomes a line. A later log_lines_feed() clears it. */
void log_lines_finish(struct log_lines *f);
/* Forget everything (held partial, feed, long-line state); expect bytes at `off`. */
void log_lines_reset(struct log_lines *f, uint64_t off);
/* Offset of the first byte not yet returned in a line (held bytes included). */
uint64_t log_lines_consumed_offset(const struct log_lines *f);

#endif
