/*
 * DESIGN: /proc/[pid]/stat is "pid (comm) state f4 f5 ... f52\n". comm is the task name
 * as the process set it: up to 15 bytes of anything, including ')' and blanks, so the
 * fields start after the LAST ')' (as procps and telegraf find them). The iterator uses
 * getdents64 on a caller buffer rather than opendir/readdir, because glibc's opendir
 * allocates its DIR (and buffer) on every call and a scrape must not allocate.
 */
#include "collectors/procfs_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define PID_STAT_NUM_THREADS 20 /* field number, 1-based, as proc(5) counts */

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_letter(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

/* One field of digits, optionally negative, ending at a ' ' or the final '\n'. Stores
 * its value when `ret` is given (negative values are then refused). */
static int parse_field(const char **pp, const char *end, bool allow_negative, uint64_t *ret)
{
    const char *p = *pp;
    if (p < end && *p == '-' && allow_negative)
        p++;
    const char *digits = p;
    uint64_t v = 0;
    while (p < end && is_digit(*p)) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EBADMSG;
        v = v * 10 + d;
        p++;
    }
    if (p == digits || p >= end || (*p != ' ' && *p != '\n'))
        return -EBADMSG;
    if (ret)
        *ret = v;
    *pp = p;
    return 0;
}

int procfs_parse_pid_stat(const char *buf, size_t len, struct procfs_pid_stat *ret)
{
    if (len == 0 || buf[len - 1] != '\n')
        return -EBADMSG;
    const char *end = buf + len - 1; /* the final '\n' */
    const char *p = buf;
    if (parse_field(&p, buf + len, false, NULL) != 0 || *p != ' ' || end - p < 2 || p[1] != '(')
        return -EBADMSG;
    const char *close = NULL;
    for (const char *q = end; q > p + 1; q--) {
        if (q[-1] == ')') {
            close = q - 1;
            break;
        }
    }
    if (!close || end - close < 3 || close[1] != ' ' || !is_letter(close[2]))
        return -EBADMSG;
    ret->state = close[2];
    p = close + 3;
    for (unsigned field = 4; field <= PID_STAT_NUM_THREADS; field++) {
        if (p >= end || *p != ' ')
            return -EBADMSG;
        p++;
        bool last = field == PID_STAT_NUM_THREADS;
        if (parse_field(&p, buf + len, !last, last ? &ret->num_threads : NULL) != 0)
            return -EBADMSG;
    }
    if (*p == '\n' && p != end)
        return -EBADMSG; /* a line break inside the record */
    return 0;
}

bool procfs_is_pid_name(const char *name, uint32_t *ret_pid)
{
    uint32_t v = 0;
    size_t n = 0;
    if (name[0] == '0')
        return false;
    for (; name[n]; n++) {
        if (!is_digit(name[n]) || n >= 7)
            return false;
        v = v * 10 + (uint32_t)(name[n] - '0');
    }
    if (n == 0 || v > PROCFS_PID_MAX)
        return false;
    *ret_pid = v;
    return true;
}

int procfs_pids_open(struct procfs_pids *it, const char *root, char *buf, size_t cap)
{
    memset(it, 0, sizeof(*it));
    it->fd = -1;
    if (cap < PROCFS_PIDS_BUF_MIN)
        return -EINVAL;
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    it->fd = fd;
    it->buf = buf;
    it->cap = cap;
    return 0;
}

int procfs_pids_next(struct procfs_pids *it, uint32_t *ret_pid)
{
    for (;;) {
        if (it->pos >= it->len) {
            ssize_t n = getdents64(it->fd, it->buf, it->cap);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return -errno;
            }
            if (n == 0)
                return 0;
            it->len = (size_t)n;
            it->pos = 0;
        }
        const struct dirent64 *d = (const struct dirent64 *)(it->buf + it->pos);
        if (d->d_reclen == 0 || d->d_reclen > it->len - it->pos)
            return -EIO; /* not what the kernel hands out */
        it->pos += d->d_reclen;
        if ((d->d_type == DT_DIR || d->d_type == DT_UNKNOWN) &&
            procfs_is_pid_name(d->d_name, ret_pid))
            return 1;
    }
}

void procfs_pids_close(struct procfs_pids *it)
{
    if (it && it->fd >= 0) {
        close(it->fd);
        it->fd = -1;
    }
}
