/*
 * log_lines: see log_lines.h.
 *
 * DESIGN. Complete lines inside the caller's buffer are returned in place (no copy). Only
 * the unterminated tail of a feed is copied, into `held`, and the next feed's bytes are
 * appended to it up to the '\n' (or until the line is known to be longer than max_line),
 * so a line always comes out contiguous. "Known to be longer" is the one subtle part: a
 * trailing '\r' may be the first half of "\r\n", so it does not count as content until
 * the next byte is seen (or the file is finished). That is why `held` has room for
 * max_line + 2 bytes and why a part is cut only when max_line + 1 content bytes are
 * certain: a line of exactly max_line bytes plus "\r\n" is never split.
 */
#include "collectors/log_lines.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Large enough for any sane log line, small enough that max_line + 2 cannot overflow. */
#define LOG_LINES_MAX_LINE_LIMIT ((size_t)1 << 30)

int log_lines_init(struct log_lines *f, size_t max_line)
{
    memset(f, 0, sizeof(*f));
    if (max_line == 0 || max_line > LOG_LINES_MAX_LINE_LIMIT)
        return -EINVAL;
    f->held = malloc(max_line + 2);
    if (!f->held)
        return -ENOMEM;
    f->max_line = max_line;
    return 0;
}

void log_lines_release(struct log_lines *f)
{
    if (!f)
        return;
    free(f->held);
    memset(f, 0, sizeof(*f));
}

void log_lines_feed(struct log_lines *f, const uint8_t *data, size_t len, uint64_t off)
{
    assert(f->pos == f->len);            /* log_lines_next() returned false first */
    assert(off == f->data_off + f->len); /* contiguous with what came before */
    f->data = data;
    f->len = len;
    f->pos = 0;
    f->data_off = off;
    f->finishing = false;
}

void log_lines_finish(struct log_lines *f)
{
    f->finishing = true;
}

void log_lines_reset(struct log_lines *f, uint64_t off)
{
    f->held_start = 0;
    f->held_len = 0;
    f->held_off = off;
    f->data = NULL;
    f->len = 0;
    f->pos = 0;
    f->data_off = off;
    f->in_long_line = false;
    f->finishing = false;
}

uint64_t log_lines_consumed_offset(const struct log_lines *f)
{
    return f->held_len > 0 ? f->held_off : f->data_off + f->pos;
}

/* Bytes of p[0, n) that are certainly line content (no '\n' among them): all but a
 * trailing '\r', which may be half of "\r\n" unless nothing more will come. */
static size_t known_content(const uint8_t *p, size_t n, bool at_eof)
{
    if (!at_eof && n > 0 && p[n - 1] == '\r')
        return n - 1;
    return n;
}

/* The flag of the next line or part; `ends_line` when it completes the line. */
static unsigned next_part(struct log_lines *f, bool ends_line)
{
    unsigned part;
    if (ends_line)
        part = f->in_long_line ? LOG_LINE_PART_LAST : LOG_LINE_WHOLE;
    else
        part = f->in_long_line ? LOG_LINE_PART_MIDDLE : LOG_LINE_PART_FIRST;
    f->in_long_line = !ends_line;
    return part;
}

static void set_line(struct log_line *ret, const uint8_t *data, size_t len, uint64_t start_off,
                     uint64_t end_off, unsigned part)
{
    ret->data = data;
    ret->len = len;
    ret->start_off = start_off;
    ret->end_off = end_off;
    ret->part = part;
}

/* The held bytes start a line: extend them from the feed until the line ends. */
static bool next_from_held(struct log_lines *f, struct log_line *ret)
{
    size_t max_line = f->max_line;
    if (f->held_start > 0) {
        memmove(f->held, f->held + f->held_start, f->held_len);
        f->held_start = 0;
    }
    size_t room = max_line + 2 - f->held_len;
    size_t avail = f->len - f->pos;
    size_t take = room < avail ? room : avail;
    const uint8_t *p = f->data + f->pos;
    const uint8_t *nl = take ? memchr(p, '\n', take) : NULL;
    size_t copy = nl ? (size_t)(nl - p) : take;
    if (copy) {
        memcpy(f->held + f->held_len, p, copy);
        f->held_len += copy;
        f->pos += copy;
    }
    if (nl) {
        size_t content = f->held_len;
        if (content > 0 && f->held[content - 1] == '\r')
            content--;
        if (content <= max_line) {
            f->pos++; /* the '\n' */
            set_line(ret, f->held, content, f->held_off, f->data_off + f->pos, next_part(f, true));
            f->held_len = 0;
            return true;
        }
    } else {
        bool at_eof = f->finishing && f->pos == f->len;
        if (known_content(f->held, f->held_len, at_eof) <= max_line) {
            if (!at_eof)
                return false; /* still partial: wait for more bytes */
            set_line(ret, f->held, f->held_len, f->held_off, f->held_off + f->held_len,
                     next_part(f, true));
            f->held_len = 0;
            return true;
        }
    }
    /* Longer than max_line: cut a part; the rest stays held. */
    set_line(ret, f->held, max_line, f->held_off, f->held_off + max_line, next_part(f, false));
    f->held_start = max_line;
    f->held_len -= max_line;
    f->held_off += max_line;
    return true;
}

bool log_lines_next(struct log_lines *f, struct log_line *ret)
{
    if (f->held_len > 0)
        return next_from_held(f, ret);

    size_t max_line = f->max_line;
    size_t avail = f->len - f->pos;
    if (avail == 0)
        return false;
    const uint8_t *p = f->data + f->pos;
    uint64_t start_off = f->data_off + f->pos;
    /* A terminator further than max_line + 2 bytes away cannot end a line that fits. */
    size_t scan = avail < max_line + 2 ? avail : max_line + 2;
    const uint8_t *nl = memchr(p, '\n', scan);
    if (nl) {
        size_t r = (size_t)(nl - p);
        size_t content = r > 0 && p[r - 1] == '\r' ? r - 1 : r;
        if (content <= max_line) {
            f->pos += r + 1;
            set_line(ret, p, content, start_off, start_off + r + 1, next_part(f, true));
            return true;
        }
    } else {
        bool at_eof = f->finishing && scan == avail;
        if (known_content(p, scan, at_eof) <= max_line) {
            /* scan == avail here: a full scan window holds more than max_line bytes. */
            f->pos = f->len;
            if (at_eof) {
                set_line(ret, p, avail, start_off, start_off + avail, next_part(f, true));
                return true;
            }
            memcpy(f->held, p, avail);
            f->held_start = 0;
            f->held_len = avail;
            f->held_off = start_off;
            return false;
        }
    }
    f->pos += max_line;
    set_line(ret, p, max_line, start_off, start_off + max_line, next_part(f, false));
    return true;
}
