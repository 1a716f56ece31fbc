#include "collectors/procfs_pid.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- scanning helpers ------------------------------------------------------------- */

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Decimal digits at *p (at least one, bounded by end) into *ret; advances *p. */
static int scan_u64(const char **p, const char *end, uint64_t *ret)
{
    const char *s = *p;
    uint64_t v = 0;
    if (s >= end || !is_digit(*s))
        return -EBADMSG;
    while (s < end && is_digit(*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EBADMSG;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *ret = v;
    return 0;
}

/* An optionally negative decimal (stat's signed fields: nice, priority, cutime...). */
static int scan_i64(const char **p, const char *end, int64_t *ret)
{
    bool neg = *p < end && **p == '-';
    if (neg)
        (*p)++;
    uint64_t mag;
    int r = scan_u64(p, end, &mag);
    if (r != 0)
        return r;
    if (mag > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        return -EBADMSG;
    *ret = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

/* ---- /proc/[pid]/stat --------------------------------------------------------------- */

int procfs_pid_parse_stat(const char *buf, size_t len, struct procfs_pid_stat *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (len < 2 || buf[len - 1] != '\n')
        return -EBADMSG;
    const char *p = buf, *end = buf + len - 1; /* end at the final newline */
    uint64_t pid;
    if (scan_u64(&p, end, &pid) != 0 || pid == 0 || pid > PROCFS_PID_MAX)
        return -EBADMSG;
    if (end - p < 3 || p[0] != ' ' || p[1] != '(')
        return -EBADMSG;
    const char *close = NULL;
    for (const char *q = end - 1; q > p + 1; q--)
        if (*q == ')') {
            close = q;
            break;
        }
    if (!close)
        return -EBADMSG;
    p = close + 1;
    /* " S" then fields 4.. each preceded by one space. */
    if (end - p < 2 || p[0] != ' ' || p[1] == ' ' || p[1] == '\n')
        return -EBADMSG;
    ret->pid = (int32_t)pid;
    ret->state = p[1];
    p += 2;
    for (unsigned field = 4; field <= 22; field++) {
        if (p >= end || *p != ' ')
            return -EBADMSG;
        p++;
        int64_t v;
        if (scan_i64(&p, end, &v) != 0)
            return -EBADMSG;
        if (p < end && *p != ' ')
            return -EBADMSG;
        switch (field) {
        case 14:
        case 15:
        case 22:
            if (v < 0)
                return -EBADMSG;
            if (field == 14)
                ret->utime = (uint64_t)v;
            else if (field == 15)
                ret->stime = (uint64_t)v;
            else
                ret->starttime = (uint64_t)v;
            break;
        case 19:
            ret->nice = v;
            break;
        case 20:
            if (v < 0)
                return -EBADMSG;
            ret->num_threads = v;
            break;
        default:
            break;
        }
    }
    return 0;
}

/* ---- key: value files ----------------------------------------------------------------- */

/* One "Key:" line: key [start, colon), value after the colon up to the newline. */
struct kv_line {
    const char *key;
    size_t key_len;
    const char *val, *val_end;
};

/* Next line of buf at *pos; 1 with the line, 0 at the end, -EBADMSG for a bad shape. */
static int next_kv(const char *buf, size_t len, size_t *pos, struct kv_line *ret)
{
    if (*pos >= len)
        return 0;
    const char *s = buf + *pos, *end = buf + len;
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    if (!nl)
        return -EBADMSG;
    const char *colon = memchr(s, ':', (size_t)(nl - s));
    if (!colon || colon == s)
        return -EBADMSG;
    ret->key = s;
    ret->key_len = (size_t)(colon - s);
    ret->val = colon + 1;
    while (ret->val < nl && is_blank(*ret->val))
        ret->val++;
    ret->val_end = nl;
    *pos = (size_t)(nl - buf) + 1;
    return 1;
}

static bool key_is(const struct kv_line *l, const char *key)
{
    size_t n = strlen(key);
    return l->key_len == n && memcmp(l->key, key, n) == 0;
}

/* A plain number filling the value. */
static int kv_u64(const struct kv_line *l, uint64_t *ret)
{
    const char *p = l->val;
    if (scan_u64(&p, l->val_end, ret) != 0 || p != l->val_end)
        return -EBADMSG;
    return 0;
}

/* "<n> kB" -> bytes. */
static int kv_kb(const struct kv_line *l, uint64_t *ret)
{
    const char *p = l->val;
    uint64_t kb;
    if (scan_u64(&p, l->val_end, &kb) != 0)
        return -EBADMSG;
    if (l->val_end - p != 3 || memcmp(p, " kB", 3) != 0)
        return -EBADMSG;
    if (kb > UINT64_MAX / 1024)
        return -EBADMSG;
    *ret = kb * 1024;
    return 0;
}

int procfs_pid_parse_status(const char *buf, size_t len, struct procfs_pid_status *ret)
{
    static const struct {
        const char *key;
        unsigned bit;
        bool kb;
        size_t offset;
    } keys[] = {
        {"Threads", PROCFS_PID_HAS_THREADS, false, offsetof(struct procfs_pid_status, threads)},
        {"VmSize", PROCFS_PID_HAS_VMSIZE, true, offsetof(struct procfs_pid_status, vm_size)},
        {"VmLck", PROCFS_PID_HAS_VMLCK, true, offsetof(struct procfs_pid_status, vm_lck)},
        {"VmRSS", PROCFS_PID_HAS_VMRSS, true, offsetof(struct procfs_pid_status, vm_rss)},
        {"VmData", PROCFS_PID_HAS_VMDATA, true, offsetof(struct procfs_pid_status, vm_data)},
        {"VmStk", PROCFS_PID_HAS_VMSTK, true, offsetof(struct procfs_pid_status, vm_stk)},
        {"VmSwap", PROCFS_PID_HAS_VMSWAP, true, offsetof(struct procfs_pid_status, vm_swap)},
        {"voluntary_ctxt_switches", PROCFS_PID_HAS_VCTX, false,
         offsetof(struct procfs_pid_status, voluntary_ctxt_switches)},
        {"nonvoluntary_ctxt_switches", PROCFS_PID_HAS_NVCTX, false,
         offsetof(struct procfs_pid_status, nonvoluntary_ctxt_switches)},
    };
    memset(ret, 0, sizeof(*ret));
    if (len == 0)
        return -EBADMSG;
    size_t pos = 0;
    struct kv_line l;
    int r;
    while ((r = next_kv(buf, len, &pos, &l)) == 1) {
        if (key_is(&l, "Name")) {
            if (ret->present & PROCFS_PID_HAS_NAME)
                return -EBADMSG;
            /* The name is printed after one tab; keep it whole (it may start with
             * blanks only in theory, and next_kv already skipped those). */
            size_t n = (size_t)(l.val_end - l.val);
            if (n >= sizeof(ret->name))
                n = sizeof(ret->name) - 1;
            memcpy(ret->name, l.val, n);
            ret->name[n] = '\0';
            ret->present |= PROCFS_PID_HAS_NAME;
            continue;
        }
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            if (!key_is(&l, keys[i].key))
                continue;
            if (ret->present & keys[i].bit)
                return -EBADMSG;
            uint64_t *slot = (uint64_t *)((char *)ret + keys[i].offset);
            if ((keys[i].kb ? kv_kb(&l, slot) : kv_u64(&l, slot)) != 0)
                return -EBADMSG;
            ret->present |= keys[i].bit;
            break;
        }
    }
    if (r != 0)
        return -EBADMSG;
    if ((ret->present & PROCFS_PID_STATUS_REQUIRED) != PROCFS_PID_STATUS_REQUIRED)
        return -EBADMSG;
    return 0;
}

/* ---- /proc/[pid]/io ----------------------------------------------------------------- */

int procfs_pid_parse_io(const char *buf, size_t len, struct procfs_pid_io *ret)
{
    static const struct {
        const char *key;
        size_t offset;
    } keys[] = {
        {"rchar", offsetof(struct procfs_pid_io, rchar)},
        {"wchar", offsetof(struct procfs_pid_io, wchar)},
        {"syscr", offsetof(struct procfs_pid_io, syscr)},
        {"syscw", offsetof(struct procfs_pid_io, syscw)},
        {"read_bytes", offsetof(struct procfs_pid_io, read_bytes)},
        {"write_bytes", offsetof(struct procfs_pid_io, write_bytes)},
    };
    memset(ret, 0, sizeof(*ret));
    size_t pos = 0;
    struct kv_line l;
    int r;
    while ((r = next_kv(buf, len, &pos, &l)) == 1) {
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            if (!key_is(&l, keys[i].key))
                continue;
            if (ret->present & (1u << i))
                return -EBADMSG;
            if (kv_u64(&l, (uint64_t *)((char *)ret + keys[i].offset)) != 0)
                return -EBADMSG;
            ret->present |= 1u << i;
            break;
        }
    }
    if (r != 0 || ret->present != PROCFS_PID_IO_REQUIRED)
        return -EBADMSG;
    return 0;
}

/* ---- cmdline, comm, pid files -------------------------------------------------------- */

size_t procfs_pid_cmdline_join(char *buf, size_t len)
{
    while (len > 0 && buf[len - 1] == '\0')
        len--;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[len] = '\0';
    return len;
}

#define TASK_COMM_TRUNCATED 15 /* TASK_COMM_LEN - 1 */

int procfs_pid_name(const char *comm, size_t comm_len, const char *cmdline, size_t cmdline_len,
                    char *out, size_t cap)
{
    if (comm_len > 0 && comm[comm_len - 1] == '\n')
        comm_len--;
    if (comm_len == 0 || cap == 0)
        return -EBADMSG;
    const char *name = comm;
    size_t n = comm_len;
    if (comm_len == TASK_COMM_TRUNCATED && cmdline && cmdline_len > 0) {
        /* argv[0] up to its NUL (or the end), then its basename. */
        const char *a0_end = memchr(cmdline, '\0', cmdline_len);
        size_t a0_len = a0_end ? (size_t)(a0_end - cmdline) : cmdline_len;
        const char *base = cmdline;
        for (size_t i = 0; i < a0_len; i++)
            if (cmdline[i] == '/')
                base = cmdline + i + 1;
        size_t base_len = a0_len - (size_t)(base - cmdline);
        if (base_len > comm_len && memcmp(base, comm, comm_len) == 0) {
            name = base;
            n = base_len;
        }
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(out, name, n);
    out[n] = '\0';
    return 0;
}

int procfs_pid_parse_pidfile(const char *buf, size_t len, int32_t *ret_pid)
{
    const char *p = buf, *end = buf + len;
    while (p < end && (is_blank(*p) || *p == '\n' || *p == '\r'))
        p++;
    uint64_t v;
    if (scan_u64(&p, end, &v) != 0 || v == 0 || v > PROCFS_PID_MAX)
        return -EBADMSG;
    while (p < end && (is_blank(*p) || *p == '\n' || *p == '\r'))
        p++;
    if (p != end)
        return -EBADMSG;
    *ret_pid = (int32_t)v;
    return 0;
}

/* ---- math --------------------------------------------------------------------------- */

int procfs_pid_cpu_usage(uint64_t prev_ticks, uint64_t cur_ticks, long ticks_per_sec,
                         uint64_t elapsed_ns, double *ret_percent)
{
    if (elapsed_ns == 0 || ticks_per_sec <= 0)
        return -EAGAIN;
    if (cur_ticks < prev_ticks)
        return -ERANGE;
    double busy_s = (double)(cur_ticks - prev_ticks) / (double)ticks_per_sec;
    *ret_percent = 100.0 * busy_s / ((double)elapsed_ns / 1e9);
    return 0;
}

/* ---- directories -------------------------------------------------------------------- */

/* The kernel's struct linux_dirent64 header; glibc before 2.30 has no wrapper. */
struct dirent64_hdr {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

#define DIRBUF_SIZE 32768

static int dir_walk(const char *path, struct procfs_pid_dirbuf *b,
                    int (*fn)(const char *name, void *data), void *data)
{
    if (!b->data) {
        b->data = malloc(DIRBUF_SIZE);
        if (!b->data)
            return -ENOMEM;
        b->cap = DIRBUF_SIZE;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int ret = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, fd, b->data, b->cap);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = -errno;
            break;
        }
        if (n == 0)
            break;
        for (long off = 0; off < n && ret == 0;) {
            const struct dirent64_hdr *d = (const struct dirent64_hdr *)(b->data + off);
            if (d->d_reclen == 0)
                break;
            off += d->d_reclen;
            ret = fn(d->d_name, data);
        }
        if (ret != 0)
            break;
    }
    close(fd);
    return ret;
}

static int count_one(const char *name, void *data)
{
    if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
        (*(uint64_t *)data)++;
    return 0;
}

int procfs_pid_count_dir(const char *path, struct procfs_pid_dirbuf *b, uint64_t *ret_n)
{
    uint64_t n = 0;
    int r = dir_walk(path, b, count_one, &n);
    if (r == 0)
        *ret_n = n;
    return r;
}

struct scan_ctx {
    int (*fn)(int32_t pid, void *data);
    void *data;
};

static int scan_one(const char *name, void *data)
{
    struct scan_ctx *s = data;
    uint64_t v = 0;
    const char *p = name;
    size_t n = strlen(name);
    if (scan_u64(&p, name + n, &v) != 0 || p != name + n || v == 0 || v > PROCFS_PID_MAX)
        return 0;
    return s->fn((int32_t)v, s->data);
}

int procfs_pid_scan(const char *root, struct procfs_pid_dirbuf *b,
                    int (*fn)(int32_t pid, void *data), void *data)
{
    struct scan_ctx s = {fn, data};
    return dir_walk(root, b, scan_one, &s);
}

void procfs_pid_dirbuf_release(struct procfs_pid_dirbuf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->cap = 0;
}
