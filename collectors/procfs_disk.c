/*
 * DESIGN: the same discipline as procfs.c (one pass, explicit bounds, numbers parsed by
 * hand, every consumed line must end in '\n'), with one difference for the mount table
 * and diskstats: they are walked one line per call, and a bad line costs only itself.
 * A host with a thousand mounts or devices should not lose every disk metric because
 * one line is odd (a mount point with a character we did not expect, a partition line
 * of an old kernel); the collector counts the line under a fine reason and goes on.
 */
#include "collectors/procfs_disk.h"

#include <errno.h>
#include <string.h>

/* ---- scanning helpers ------------------------------------------------------------- */

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && is_blank(*p))
        p++;
    return p;
}

/* A decimal u64 of at least one digit at *pp, followed by a blank or the end of the
 * range; advances *pp past the digits. */
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
    if (p < end && !is_blank(*p))
        return -EBADMSG; /* "12x" */
    *pp = p;
    *ret = v;
    return 0;
}

/* The line at *pp: *ret_eol is its '\n'. Cut short (no '\n') is -EBADMSG. */
static int next_line(const char *p, const char *end, const char **ret_eol)
{
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
        return -EBADMSG;
    *ret_eol = eol;
    return 0;
}

/* ---- /proc/meminfo (swap) and /proc/vmstat ---------------------------------------- */

static bool is_key_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) || ch == '_' ||
           ch == '(' || ch == ')';
}

static bool key_is(const char *key, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(key, want, len) == 0;
}

/* "<blanks>value<blanks>kB<blanks>" up to eol, in bytes. */
static int parse_kb_value(const char *p, const char *eol, uint64_t *ret_bytes)
{
    uint64_t kb;
    p = skip_blanks(p, eol);
    if (parse_u64(&p, eol, &kb) != 0)
        return -EBADMSG;
    const char *unit = skip_blanks(p, eol);
    if (unit == p || eol - unit < 2 || unit[0] != 'k' || unit[1] != 'B')
        return -EBADMSG;
    if (skip_blanks(unit + 2, eol) != eol)
        return -EBADMSG;
    if (kb > UINT64_MAX / 1024)
        return -EBADMSG;
    *ret_bytes = kb * 1024;
    return 0;
}

int procfs_parse_swap(const char *buf, size_t len, struct procfs_swap *ret)
{
    const char *p = buf;
    const char *end = buf + len;
    bool have_total = false, have_free = false;

    memset(ret, 0, sizeof(*ret));
    if (len == 0)
        return -EBADMSG;
    while (p < end) {
        const char *eol;
        if (next_line(p, end, &eol) != 0)
            return -EBADMSG;
        const char *key = p;
        while (p < eol && is_key_char(*p))
            p++;
        if (p == key || p == eol || *p != ':')
            return -EBADMSG;
        size_t klen = (size_t)(p - key);
        uint64_t *slot = NULL;
        bool *seen = NULL;
        if (key_is(key, klen, "SwapTotal")) {
            slot = &ret->total;
            seen = &have_total;
        } else if (key_is(key, klen, "SwapFree")) {
            slot = &ret->free;
            seen = &have_free;
        }
        if (slot) {
            if (*seen || parse_kb_value(p + 1, eol, slot) != 0)
                return -EBADMSG;
            *seen = true;
        }
        p = eol + 1;
    }
    return have_total && have_free ? 0 : -EBADMSG;
}

int procfs_parse_vmstat_swap(const char *buf, size_t len, struct procfs_vmstat_swap *ret)
{
    const char *p = buf;
    const char *end = buf + len;
    bool have_in = false, have_out = false;

    memset(ret, 0, sizeof(*ret));
    if (len == 0)
        return -EBADMSG;
    while (p < end) {
        const char *eol;
        if (next_line(p, end, &eol) != 0)
            return -EBADMSG;
        const char *key = p;
        while (p < eol && is_key_char(*p))
            p++;
        size_t klen = (size_t)(p - key);
        if (klen == 0 || p == eol || !is_blank(*p))
            return -EBADMSG;
        uint64_t *slot = NULL;
        bool *seen = NULL;
        if (key_is(key, klen, "pswpin")) {
            slot = &ret->pswpin;
            seen = &have_in;
        } else if (key_is(key, klen, "pswpout")) {
            slot = &ret->pswpout;
            seen = &have_out;
        }
        if (slot) {
            uint64_t v;
            p = skip_blanks(p, eol);
            if (*seen || parse_u64(&p, eol, &v) != 0 || skip_blanks(p, eol) != eol)
                return -EBADMSG;
            *slot = v;
            *seen = true;
        }
        p = eol + 1;
    }
    ret->present = have_in && have_out;
    return 0;
}

/* Percentages are 100 * (part / whole): the quotient of part <= whole is at most 1 exactly,
 * where 100 * part / whole can round to a hair above 100. */
void procfs_swap_compute(const struct procfs_swap *s, struct procfs_swap_stats *ret)
{
    ret->total = s->total;
    ret->free = s->free;
    ret->used = s->total > s->free ? s->total - s->free : 0;
    ret->used_percent = s->total ? 100 * ((double)ret->used / (double)s->total) : 0;
}

/* ---- mount table ------------------------------------------------------------------ */

static bool is_octal(char ch)
{
    return ch >= '0' && ch <= '7';
}

/*
 * Copy the field at *pp (up to a blank or eol) into scratch at *off, decoding the
 * kernel's "\ooo" escapes (mangle() in fs/proc_namespace.c escapes space, tab, newline
 * and backslash), and NUL-terminate it. A decoded NUL or a lone backslash is garbage.
 */
static int copy_field(const char **pp, const char *eol, char *scratch, size_t cap, size_t *off,
                      const char **ret)
{
    const char *p = skip_blanks(*pp, eol);
    const char *start = p;
    size_t o = *off;
    while (p < eol && !is_blank(*p)) {
        char ch = *p;
        if (ch == '\\') {
            if (eol - p < 4 || !is_octal(p[1]) || !is_octal(p[2]) || !is_octal(p[3]))
                return -EBADMSG;
            unsigned v =
                (unsigned)(p[1] - '0') * 64 + (unsigned)(p[2] - '0') * 8 + (unsigned)(p[3] - '0');
            if (v == 0 || v > 255)
                return -EBADMSG;
            ch = (char)v;
            p += 4;
        } else if (ch == '\0') {
            return -EBADMSG;
        } else {
            p++;
        }
        if (o + 1 >= cap)
            return -ENAMETOOLONG;
        scratch[o++] = ch;
    }
    if (p == start)
        return -EBADMSG; /* a missing field */
    if (o >= cap)
        return -ENAMETOOLONG;
    scratch[o++] = '\0';
    *ret = scratch + *off;
    *off = o;
    *pp = p;
    return 0;
}

static int parse_mount_line(const char *p, const char *eol, char *scratch, size_t cap,
                            struct procfs_mount *ret)
{
    size_t off = 0;
    int r;
    if ((r = copy_field(&p, eol, scratch, cap, &off, &ret->device)) != 0 ||
        (r = copy_field(&p, eol, scratch, cap, &off, &ret->mount_point)) != 0 ||
        (r = copy_field(&p, eol, scratch, cap, &off, &ret->fstype)) != 0 ||
        (r = copy_field(&p, eol, scratch, cap, &off, &ret->options)) != 0)
        return r;
    if (ret->mount_point[0] != '/')
        return -EBADMSG;
    /* dump and pass: always "0 0" on Linux, but any two numbers are the shape. */
    for (int i = 0; i < 2; i++) {
        uint64_t v;
        p = skip_blanks(p, eol);
        if (parse_u64(&p, eol, &v) != 0)
            return -EBADMSG;
    }
    return skip_blanks(p, eol) == eol ? 0 : -EBADMSG;
}

int procfs_mounts_next(struct procfs_cursor *cur, char *scratch, size_t scratch_cap,
                       struct procfs_mount *ret)
{
    if (cur->p >= cur->end)
        return 0;
    const char *eol;
    if (next_line(cur->p, cur->end, &eol) != 0) {
        cur->p = cur->end;
        return -EBADMSG;
    }
    const char *line = cur->p;
    cur->p = eol + 1;
    int r = parse_mount_line(line, eol, scratch, scratch_cap, ret);
    return r == 0 ? 1 : r;
}

void procfs_disk_usage_compute(const struct procfs_statfs *st, struct procfs_disk_usage *ret)
{
    uint64_t bs = st->frsize;
    uint64_t used_blocks = st->blocks > st->bfree ? st->blocks - st->bfree : 0;
    ret->total = st->blocks * bs;
    ret->free = st->bavail * bs;
    ret->used = used_blocks * bs;
    double denom = (double)ret->used + (double)ret->free;
    ret->used_percent = denom > 0 ? 100 * ((double)ret->used / denom) : 0;
    ret->inodes_total = st->files;
    ret->inodes_free = st->ffree;
    ret->inodes_used = st->files > st->ffree ? st->files - st->ffree : 0;
    ret->inodes_used_percent = st->files ? 100 * ((double)ret->inodes_used / (double)st->files) : 0;
}

/* ---- /proc/diskstats -------------------------------------------------------------- */

static uint64_t *diskstat_column(struct procfs_diskstat *d, unsigned i)
{
    uint64_t *cols[PROCFS_DISKSTATS_MAX] = {
        &d->reads,           &d->reads_merged,    &d->read_sectors,   &d->read_ms,
        &d->writes,          &d->writes_merged,   &d->write_sectors,  &d->write_ms,
        &d->in_progress,     &d->io_ms,           &d->weighted_io_ms, &d->discards,
        &d->discards_merged, &d->discard_sectors, &d->discard_ms,     &d->flushes,
        &d->flush_ms,
    };
    return i < PROCFS_DISKSTATS_MAX ? cols[i] : NULL;
}

static int parse_u32_field(const char **pp, const char *eol, uint32_t *ret)
{
    uint64_t v;
    *pp = skip_blanks(*pp, eol);
    if (parse_u64(pp, eol, &v) != 0 || v > UINT32_MAX)
        return -EBADMSG;
    *ret = (uint32_t)v;
    return 0;
}

static int parse_diskstat_line(const char *p, const char *eol, struct procfs_diskstat *d)
{
    memset(d, 0, sizeof(*d));
    if (parse_u32_field(&p, eol, &d->major) != 0 || parse_u32_field(&p, eol, &d->minor) != 0)
        return -EBADMSG;
    p = skip_blanks(p, eol);
    const char *name = p;
    while (p < eol && !is_blank(*p)) {
        if ((unsigned char)*p < 0x21 || (unsigned char)*p == 0x7f)
            return -EBADMSG; /* control characters are not in device names */
        p++;
    }
    size_t name_len = (size_t)(p - name);
    if (name_len == 0)
        return -EBADMSG;
    bool too_long = name_len > PROCFS_DISK_NAME_MAX;
    if (!too_long)
        memcpy(d->name, name, name_len);
    unsigned n = 0;
    for (;;) {
        p = skip_blanks(p, eol);
        if (p == eol)
            break;
        uint64_t v;
        if (parse_u64(&p, eol, &v) != 0)
            return -EBADMSG;
        uint64_t *col = diskstat_column(d, n);
        if (col)
            *col = v;
        if (n < UINT8_MAX)
            n++;
    }
    if (too_long)
        return -ENAMETOOLONG;
    if (n < PROCFS_DISKSTATS_MIN)
        return -EPROTO;
    d->n_stats = (uint8_t)(n < PROCFS_DISKSTATS_MAX ? n : PROCFS_DISKSTATS_MAX);
    return 0;
}

int procfs_diskstats_next(struct procfs_cursor *cur, struct procfs_diskstat *ret)
{
    if (cur->p >= cur->end)
        return 0;
    const char *eol;
    if (next_line(cur->p, cur->end, &eol) != 0) {
        cur->p = cur->end;
        return -EBADMSG;
    }
    const char *line = cur->p;
    cur->p = eol + 1;
    int r = parse_diskstat_line(line, eol, ret);
    return r == 0 ? 1 : r;
}
