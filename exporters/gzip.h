/*
 * gzip: deflate a request body into a struct buf, gzip framing (RFC 1952), for
 * Content-Encoding: gzip. Pure: no I/O, no logging; the only module that includes zlib.
 * Returns 0, -ENOBUFS (the output would pass the buf's cap), -ENOMEM, or -EIO (zlib
 * failed). On error `out` is left with its length at entry.
 */
#ifndef OSPREY_GZIP_H
#define OSPREY_GZIP_H

#include <stddef.h>
#include <stdint.h>

#include "agent/buf.h"

int gzip_compress(const uint8_t *in, size_t len, int level, struct buf *out);
/* Inflate gzip data, refusing to produce more than out's cap (a bound on bombs). */
int gzip_decompress(const uint8_t *in, size_t len, struct buf *out);

#endif
