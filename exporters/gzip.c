#include "exporters/gzip.h"

#include <errno.h>
#include <string.h>
#include <zlib.h>

#define GZIP_WINDOW_BITS (15 + 16)
#define GZIP_CHUNK       65536u

int gzip_compress(const uint8_t *in, size_t len, int level, struct buf *out)
{
    size_t mark = out->len;
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, level, Z_DEFLATED, GZIP_WINDOW_BITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    /* One reservation of the worst case avoids growing the buffer mid-stream. */
    uLong bound = deflateBound(&zs, (uLong)len) + 32;
    int r = buf_reserve(out, bound);
    if (r != 0) {
        deflateEnd(&zs);
        return r;
    }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out->data + out->len;
    zs.avail_out = (uInt)bound;
    int z = deflate(&zs, Z_FINISH);
    size_t produced = bound - zs.avail_out;
    deflateEnd(&zs);
    if (z != Z_STREAM_END) {
        out->len = mark;
        return -EIO;
    }
    buf_advance(out, produced);
    return 0;
}

int gzip_decompress(const uint8_t *in, size_t len, struct buf *out)
{
    size_t mark = out->len;
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, GZIP_WINDOW_BITS) != Z_OK)
        return -ENOMEM;
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    int r = 0;
    for (;;) {
        r = buf_reserve(out, GZIP_CHUNK);
        if (r == -ENOBUFS && out->len < out->max)
            r = buf_reserve(out, out->max - out->len);
        if (r != 0)
            break;
        size_t room = out->cap - out->len - 1;
        zs.next_out = out->data + out->len;
        zs.avail_out = (uInt)room;
        int z = inflate(&zs, Z_NO_FLUSH);
        buf_advance(out, room - zs.avail_out);
        if (z == Z_STREAM_END) {
            r = 0;
            break;
        }
        if (z != Z_OK && z != Z_BUF_ERROR) {
            r = -EIO;
            break;
        }
        if (z == Z_BUF_ERROR && zs.avail_in == 0) {
            r = -EIO; /* truncated input */
            break;
        }
    }
    inflateEnd(&zs);
    if (r != 0) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    return r;
}
