/*
 * DESIGN: as procfs.c, the parsers walk the buffer with explicit bounds and parse
 * numbers by hand; a line counts only once its '\n' is seen, which tells a read cut
 * short (or a line continued in the next chunk) from a complete one. Socket tables can
 * hold hundreds of thousands of lines on a busy host, so they are never read whole:
 * procfs_net_scan_sockets() refills one fixed chunk, counts the complete lines in it and
 * moves the unfinished tail to the front before reading on.
 */
#include "collectors/procfs_net.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------------- */

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && is_blank(*p))
        p++;
    return p;
}

/* A decimal u64 of at least one digit at *pp; advances *pp past it. */
static int parse_u64(const char **pp, const char *end, uint64_t *ret)
{
    const char *p = *pp;
    uint64_t v = 0;
    if (p >= end || !is_digit(*p))
        return -EBADMSG;
    while (p < end && is_digit(*p)) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EBADMSG;
        v = v * 10 + d;
        p++;
    }
    *pp = p;
    *ret = v;
    return 0;
}

/* The end of the line starting at `off`, or NULL when it has no '\n' yet. */
static const char *line_end(const char *buf, size_t len, size_t off)
{
    return memchr(buf + off, '\n', len - off);
}

static bool starts_with(const char *p, const char *end, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(end - p) >= n && memcmp(p, s, n) == 0;
}

/* ---- /proc/net/dev ---------------------------------------------------------------- */

int procfs_netdev_header(const char *buf, size_t len, size_t *off)
{
    static const char *const prefixes[2] = {"Inter-|", " face |"};
    size_t at = 0;
    for (unsigned i = 0; i < 2; i++) {
        if (at >= len)
            return i == 0 && len == 0 ? -EBADMSG : -ENODATA;
        const char *eol = line_end(buf, len, at);
        if (!starts_with(buf + at, eol ? eol : buf + len, prefixes[i]))
            return -EBADMSG;
        if (!eol)
            return -ENODATA;
        at = (size_t)(eol - buf) + 1;
    }
    *off = at;
    return 0;
}

static bool is_ifname_char(char ch)
{
    unsigned char c = (unsigned char)ch;
    return c > ' ' && c != 0x7f && c != ':' && c != '/';
}

int procfs_netdev_next(const char *buf, size_t len, size_t *off, struct procfs_netdev_if *ret)
{
    if (*off >= len)
        return 0;
    const char *p = buf + *off;
    const char *eol = line_end(buf, len, *off);
    if (!eol)
        return -ENODATA;
    *off = (size_t)(eol - buf) + 1;

    p = skip_blanks(p, eol);
    const char *name = p;
    while (p < eol && is_ifname_char(*p))
        p++;
    size_t name_len = (size_t)(p - name);
    if (name_len == 0 || name_len > PROCFS_IFNAME_MAX || p >= eol || *p != ':')
        return -EBADMSG;
    memcpy(ret->name, name, name_len);
    ret->name[name_len] = '\0';
    p++;

    /* Column i of the line -> stored column, or -1 when it is not published. */
    static const signed char store[PROCFS_NETDEV_NUMBERS] = {
        PROCFS_NETDEV_RX_BYTES,
        PROCFS_NETDEV_RX_PACKETS,
        PROCFS_NETDEV_RX_ERRS,
        PROCFS_NETDEV_RX_DROP,
        -1,
        -1,
        -1,
        -1,
        PROCFS_NETDEV_TX_BYTES,
        PROCFS_NETDEV_TX_PACKETS,
        PROCFS_NETDEV_TX_ERRS,
        PROCFS_NETDEV_TX_DROP,
        -1,
        -1,
        -1,
        -1,
    };
    unsigned n = 0;
    for (;;) {
        p = skip_blanks(p, eol);
        if (p == eol)
            break;
        uint64_t v;
        if (parse_u64(&p, eol, &v) != 0)
            return -EBADMSG;
        if (p < eol && !is_blank(*p))
            return -EBADMSG; /* "12x" */
        if (n < PROCFS_NETDEV_NUMBERS && store[n] >= 0)
            ret->v[store[n]] = v;
        if (n < PROCFS_NETDEV_NUMBERS)
            n++;
    }
    return n == PROCFS_NETDEV_NUMBERS ? 1 : -EBADMSG;
}

/* ---- socket tables ---------------------------------------------------------------- */

int procfs_sockets_header(const char *buf, size_t len, size_t *off)
{
    if (len == 0)
        return -EBADMSG;
    const char *eol = line_end(buf, len, 0);
    const char *end = eol ? eol : buf + len;
    const char *p = skip_blanks(buf, end);
    /* "sl" then blanks; a cut header is only reported as cut if what is there fits. */
    if (p == end)
        return eol ? -EBADMSG : -ENODATA;
    if (!starts_with(p, end, "sl")) {
        if (!eol && (size_t)(end - p) < 2 && *p == 's')
            return -ENODATA;
        return -EBADMSG;
    }
    p += 2;
    if (p < end && !is_blank(*p))
        return -EBADMSG;
    if (!eol)
        return -ENODATA;
    *off = (size_t)(eol - buf) + 1;
    return 0;
}

/* "HEX:HEX" of an address column: 8 (IPv4) or 32 (IPv6) hex digits, then a 4-digit
 * port. Advances *pp past it. */
static int parse_address(const char **pp, const char *end)
{
    const char *p = *pp;
    const char *start = p;
    while (p < end && hex_value(*p) >= 0)
        p++;
    size_t n = (size_t)(p - start);
    if ((n != 8 && n != 32) || p >= end || *p != ':')
        return -EBADMSG;
    p++;
    start = p;
    while (p < end && hex_value(*p) >= 0)
        p++;
    if (p - start != 4 || p >= end || !is_blank(*p))
        return -EBADMSG;
    *pp = p;
    return 0;
}

int procfs_sockets_next(const char *buf, size_t len, size_t *off, unsigned *ret_state)
{
    if (*off >= len)
        return 0;
    const char *p = buf + *off;
    const char *eol = line_end(buf, len, *off);
    if (!eol)
        return -ENODATA;
    *off = (size_t)(eol - buf) + 1;

    uint64_t slot;
    p = skip_blanks(p, eol);
    if (parse_u64(&p, eol, &slot) != 0 || p >= eol || *p != ':')
        return -EBADMSG;
    p++;
    for (unsigned i = 0; i < 2; i++) {
        const char *q = skip_blanks(p, eol);
        if (q == p || parse_address(&q, eol) != 0)
            return -EBADMSG;
        p = q;
    }
    p = skip_blanks(p, eol);
    if (eol - p < 2)
        return -EBADMSG;
    int hi = hex_value(p[0]), lo = hex_value(p[1]);
    if (hi < 0 || lo < 0 || (p + 2 < eol && !is_blank(p[2])))
        return -EBADMSG;
    *ret_state = (unsigned)(hi * 16 + lo);
    return 1;
}

/* Count the complete lines of chunk[*off..len) into `s`; returns 0 once only an
 * unfinished line (or nothing) is left. */
static void count_lines(const char *chunk, size_t len, size_t *off, struct procfs_sock_scan *s)
{
    for (;;) {
        unsigned state;
        int r = procfs_sockets_next(chunk, len, off, &state);
        if (r == 1) {
            s->states[state]++;
            s->sockets++;
        } else if (r == -EBADMSG) {
            s->bad_lines++;
        } else {
            return; /* 0 or -ENODATA */
        }
    }
}

int procfs_net_scan_sockets(const char *path, char *chunk, size_t cap, struct procfs_sock_scan *acc)
{
    struct procfs_sock_scan s;
    size_t len = 0;
    bool header = false;
    int ret = 0;

    memset(&s, 0, sizeof(s));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    for (;;) {
        if (len == cap) {
            ret = -E2BIG; /* a line longer than the chunk: not a kernel socket line */
            goto close_fd;
        }
        ssize_t n = read(fd, chunk + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = -errno;
            goto close_fd;
        }
        s.bytes += (uint64_t)n;
        if (n == 0)
            break;
        len += (size_t)n;
        size_t off = 0;
        if (!header) {
            int r = procfs_sockets_header(chunk, len, &off);
            if (r == -ENODATA)
                continue;
            if (r != 0) {
                ret = r;
                goto close_fd;
            }
            header = true;
        }
        count_lines(chunk, len, &off, &s);
        memmove(chunk, chunk + off, len - off);
        len -= off;
    }
    if (!header) {
        ret = -EBADMSG; /* empty, or a header cut short */
        goto close_fd;
    }
    if (len > 0)
        s.cut_lines++; /* the file ended inside a line */
    for (size_t i = 0; i < PROCFS_SOCK_STATES; i++)
        acc->states[i] += s.states[i];
    acc->sockets += s.sockets;
    acc->bad_lines += s.bad_lines;
    acc->cut_lines += s.cut_lines;
close_fd:
    acc->bytes += s.bytes;
    close(fd);
    return ret;
}
