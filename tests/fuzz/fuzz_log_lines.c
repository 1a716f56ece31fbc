/*
 * Fuzz target: the log line framer (collectors/log_lines.h). The first input byte picks
 * max_line, the second the ending (finish or not); the rest is the file. It is fed in
 * chunks whose sizes come from a PRNG seeded with a hash of the input, each chunk in its
 * own exactly-sized heap copy that is poisoned and freed once drained (as a tailer reuses
 * its read buffer), so a view that outlives its contract is caught by ASan.
 * Checks: lines + terminators rebuild the file with no gap or overlap; every terminator
 * is "\n" or "\r\n", or empty for a cut part (exactly max_line bytes) or a line given up
 * by finish; no line is longer than max_line or contains '\n'; parts come as FIRST,
 * MIDDLE*, LAST; the consumed offset is the end of the last line or the start of the
 * held bytes; after finish everything is consumed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/log_lines.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct check {
    const uint8_t *file;
    size_t size;
    size_t max_line;
    uint64_t next_off; /* where the next line must start */
    bool in_long;
};

static void check_line(struct check *c, const struct log_line *l, bool finishing)
{
    if (l->start_off != c->next_off || l->end_off < l->start_off + l->len || l->end_off > c->size ||
        l->len > c->max_line)
        abort();
    if (l->len && memcmp(l->data, c->file + l->start_off, l->len) != 0)
        abort();
    if (memchr(l->data, '\n', l->len))
        abort();
    const uint8_t *term = c->file + l->start_off + l->len;
    size_t term_len = (size_t)(l->end_off - l->start_off - l->len);
    bool ends = l->part == LOG_LINE_WHOLE || l->part == LOG_LINE_PART_LAST;
    switch (term_len) {
    case 0:
        /* A cut part is exactly max_line long; an unterminated line only at finish. */
        if (ends ? !(finishing && l->end_off == c->size) : l->len != c->max_line)
            abort();
        break;
    case 1:
        if (!ends || term[0] != '\n' || (l->len && l->data[l->len - 1] == '\r'))
            abort();
        break;
    case 2:
        if (!ends || term[0] != '\r' || term[1] != '\n')
            abort();
        break;
    default:
        abort();
    }
    switch (l->part) {
    case LOG_LINE_WHOLE:
    case LOG_LINE_PART_FIRST:
        if (c->in_long)
            abort();
        break;
    case LOG_LINE_PART_MIDDLE:
    case LOG_LINE_PART_LAST:
        if (!c->in_long || l->len == 0)
            abort();
        break;
    default:
        abort();
    }
    c->in_long = !ends;
    c->next_off = l->end_off;
}

static void drain(struct log_lines *f, struct check *c, bool finishing)
{
    struct log_line l;
    while (log_lines_next(f, &l))
        check_line(c, &l, finishing);
    if (log_lines_consumed_offset(f) != c->next_off)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max_line = 1 + data[0] % 40;
    if (data[0] >= 240)
        max_line = 1 + (size_t)data[0] * 64; /* now and then lines never need cutting */
    bool finish = data[1] & 1;
    const uint8_t *file = data + 2;
    size_t file_size = size - 2;

    /* FNV-1a of the input seeds an xorshift PRNG for the chunk sizes. */
    uint64_t seed = 1469598103934665603ull;
    for (size_t i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 1099511628211ull;
    seed |= 1;

    struct log_lines f;
    if (log_lines_init(&f, max_line) != 0)
        abort();
    struct check c = {.file = file, .size = file_size, .max_line = max_line};
    size_t pos = 0;
    while (pos < file_size) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        size_t chunk = 1 + (size_t)(seed % (seed & 0x100 ? 4 : 97));
        if (chunk > file_size - pos)
            chunk = file_size - pos;
        uint8_t *copy = malloc(chunk);
        if (!copy)
            abort();
        memcpy(copy, file + pos, chunk);
        log_lines_feed(&f, copy, chunk, pos);
        drain(&f, &c, false);
        memset(copy, 0xA5, chunk);
        free(copy);
        pos += chunk;
    }
    if (finish) {
        log_lines_finish(&f);
        drain(&f, &c, true);
        if (c.next_off != file_size || c.in_long)
            abort();
    } else if (file_size - c.next_off > max_line + 1) {
        abort(); /* never holds more than a line that might still fit */
    }
    log_lines_release(&f);
    return 0;
}
