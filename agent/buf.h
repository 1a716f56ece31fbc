/*
 * buf: a growable byte buffer with a hard cap.
 *
 * Contract
 * - buf_init() never allocates and cannot fail; memory is allocated on the first append
 *   and kept across buf_reset(), so a reused buffer stops allocating once warm.
 * - Every append fails with -ENOBUFS once `max` bytes would be exceeded (the buffer is
 *   left unchanged), or -ENOMEM; on success it returns 0.
 * - data is always NUL-terminated past len (when allocated), yet binary-safe.
 * - Single-threaded: a buf belongs to one owner. buf_release() frees and re-inits.
 */
#ifndef OSPREY_BUF_H
#define OSPREY_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
/* Make room for n more bytes (writable at data + len); then buf_advance. */
int buf_reserve(struct buf *b, size_t n);
void buf_advance(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *data, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop the first n bytes (consumed from the front). */
void buf_consume(struct buf *b, size_t n);

#endif
