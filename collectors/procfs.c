/*
 * DESIGN: the parsers walk the buffer once, line by line, with explicit bounds (the
 * buffer is not NUL-terminated and may hold anything). Every line they consume must end
 * in '\n', which is how a read cut short is told from a complete file: the kernel always
 * terminates its lines. Numbers are parsed by hand (no strtoull: it needs a terminator,
 * accepts signs and leading spaces, and depends on errno). The metric math follows
 * telegraf and gopsutil, whose formulas are quoted in procfs.h.
 */
#include "collectors/procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROCFS_READ_INITIAL 4096u

/* ---- reading ---------------------------------------------------------------------- */

static int buf_grow(struct procfs_buf *b)
{
    if (b->cap >= PROCFS_READ_MAX)
        return -EFBIG;
    size_t cap = b->cap ? b->cap * 2 : PROCFS_READ_INITIAL;
    if (cap > PROCFS_READ_MAX)
        cap = PROCFS_READ_MAX;
    char *data = realloc(b->data, cap);
    if (!data)
        return -ENOMEM;
    b->data = data;
    b->cap = cap;
    return 0;
}

int procfs_read_file(const char *path, struct procfs_buf *b)
{
    int ret = 0;
    b->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    for (;;) {
        if (b->len == b->cap) {
            ret = buf_grow(b);
            if (ret != 0)
                goto close_fd;
        }
        ssize_t n = read(fd, b->data + b->len, b->cap - b->len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = -errno;
            goto close_fd;
        }
        if (n == 0)
            break;
        b->len += (size_t)n;
    }
close_fd:
    close(fd);
    if (ret != 0)
        b->len = 0;
    return ret;
}

void procfs_buf_release(struct procfs_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

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

/* ---- /proc/stat ------------------------------------------------------------------- */

static uint64_t *cpu_column(struct procfs_cpu_times *t, unsigned i)
{
    uint64_t *cols[PROCFS_CPU_COLUMNS_MAX] = {
        &t->user, &t->nice,    &t->system, &t->idle,  &t->iowait,
        &t->irq,  &t->softirq, &t->steal,  &t->guest, &t->guest_nice,
    };
    return i < PROCFS_CPU_COLUMNS_MAX ? cols[i] : NULL;
}

/* Parse the numbers of one cpu line, from just after its name through its '\n'. */
static int parse_cpu_columns(const char **pp, const char *end, struct procfs_cpu_sample *s)
{
    const char *p = *pp;
    unsigned n = 0;
    memset(&s->t, 0, sizeof(s->t));
    for (;;) {
        p = skip_blanks(p, end);
        if (p >= end)
            return -EBADMSG; /* cut before the end of the line */
        if (*p == '\n')
            break;
        uint64_t v;
        if (parse_u64(&p, end, &v) != 0)
            return -EBADMSG;
        if (p < end && !is_blank(*p) && *p != '\n')
            return -EBADMSG; /* "12x" */
        uint64_t *col = cpu_column(&s->t, n);
        if (col)
            *col = v;
        if (n < UINT8_MAX)
            n++;
    }
    if (n < PROCFS_CPU_COLUMNS_MIN)
        return -EBADMSG;
    s->n_columns = (uint8_t)(n < PROCFS_CPU_COLUMNS_MAX ? n : PROCFS_CPU_COLUMNS_MAX);
    *pp = p + 1;
    return 0;
}

int procfs_parse_stat(const char *buf, size_t len, struct procfs_cpu_sample *ret_total,
                      struct procfs_cpu_sample *cpus, size_t cap, size_t *ret_n_cpus)
{
    const char *p = buf;
    const char *end = buf + len;
    size_t n_cpus = 0;
    int64_t last_id = -1;
    bool have_total = false;

    if (len == 0)
        return -EBADMSG;
    while (p < end) {
        size_t left = (size_t)(end - p);
        if (left < 3 || memcmp(p, "cpu", 3) != 0) {
            /* End of the cpu block, unless this is a cpu line cut inside "cpu". */
            size_t k = left < 3 ? left : 3;
            if (left < 3 && memcmp(p, "cpu", k) == 0)
                return -EBADMSG;
            break;
        }
        p += 3;
        if (p >= end)
            return -EBADMSG;
        if (is_blank(*p)) {
            if (have_total)
                return -EBADMSG; /* a second aggregate line */
            ret_total->cpu = PROCFS_CPU_TOTAL;
            if (parse_cpu_columns(&p, end, ret_total) != 0)
                return -EBADMSG;
            have_total = true;
            continue;
        }
        if (!have_total || !is_digit(*p))
            return -EBADMSG; /* must start with the aggregate; "cpufoo" */
        uint64_t id;
        if (parse_u64(&p, end, &id) != 0 || id > PROCFS_CPU_ID_MAX || (int64_t)id <= last_id)
            return -EBADMSG;
        if (p >= end || !is_blank(*p))
            return -EBADMSG;
        struct procfs_cpu_sample scratch;
        struct procfs_cpu_sample *s = n_cpus < cap ? &cpus[n_cpus] : &scratch;
        s->cpu = (int32_t)id;
        if (parse_cpu_columns(&p, end, s) != 0)
            return -EBADMSG;
        last_id = (int64_t)id;
        n_cpus++;
    }
    if (!have_total)
        return -EBADMSG;
    *ret_n_cpus = n_cpus;
    return 0;
}

uint64_t procfs_cpu_total_ticks(const struct procfs_cpu_times *t)
{
    return t->user + t->system + t->nice + t->iowait + t->irq + t->softirq + t->steal + t->idle;
}

uint64_t procfs_cpu_active_ticks(const struct procfs_cpu_times *t)
{
    return procfs_cpu_total_ticks(t) - t->idle;
}

/* cur - prev as a signed double, exact below 2^53 whichever is larger. */
static double delta(uint64_t prev, uint64_t cur)
{
    return cur >= prev ? (double)(cur - prev) : -(double)(prev - cur);
}

int procfs_cpu_usage(const struct procfs_cpu_times *prev, const struct procfs_cpu_times *cur,
                     struct procfs_cpu_usage *ret)
{
    double total = delta(procfs_cpu_total_ticks(prev), procfs_cpu_total_ticks(cur));
    if (total < 0)
        return -ERANGE;
    if (total == 0)
        return -EAGAIN;
    double guest = delta(prev->guest, cur->guest);
    double guest_nice = delta(prev->guest_nice, cur->guest_nice);
    ret->user = 100 * (delta(prev->user, cur->user) - guest) / total;
    ret->system = 100 * delta(prev->system, cur->system) / total;
    ret->idle = 100 * delta(prev->idle, cur->idle) / total;
    ret->nice = 100 * (delta(prev->nice, cur->nice) - guest_nice) / total;
    ret->iowait = 100 * delta(prev->iowait, cur->iowait) / total;
    ret->irq = 100 * delta(prev->irq, cur->irq) / total;
    ret->softirq = 100 * delta(prev->softirq, cur->softirq) / total;
    ret->steal = 100 * delta(prev->steal, cur->steal) / total;
    ret->guest = 100 * guest / total;
    ret->guest_nice = 100 * guest_nice / total;
    ret->active = 100 * delta(procfs_cpu_active_ticks(prev), procfs_cpu_active_ticks(cur)) / total;
    return 0;
}

/* ---- /proc/meminfo ---------------------------------------------------------------- */

struct meminfo_key {
    const char *name;
    size_t len;
    size_t offset;
    unsigned bit;
};

#define MEMINFO_KEY(name, field, bit)                                                              \
    {                                                                                              \
        name, sizeof(name) - 1, offsetof(struct procfs_meminfo, field), bit                        \
    }

static const struct meminfo_key meminfo_keys[] = {
    MEMINFO_KEY("MemTotal", mem_total, PROCFS_MEM_HAS_TOTAL),
    MEMINFO_KEY("MemFree", mem_free, PROCFS_MEM_HAS_FREE),
    MEMINFO_KEY("MemAvailable", mem_available, PROCFS_MEM_HAS_AVAILABLE),
    MEMINFO_KEY("Buffers", buffers, PROCFS_MEM_HAS_BUFFERS),
    MEMINFO_KEY("Cached", cached, PROCFS_MEM_HAS_CACHED),
    MEMINFO_KEY("Active", active, PROCFS_MEM_HAS_ACTIVE),
    MEMINFO_KEY("Inactive", inactive, PROCFS_MEM_HAS_INACTIVE),
    MEMINFO_KEY("SReclaimable", sreclaimable, PROCFS_MEM_HAS_SRECLAIMABLE),
    MEMINFO_KEY("Shmem", shmem, PROCFS_MEM_HAS_SHMEM),
};

static bool is_key_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) || ch == '_' ||
           ch == '(' || ch == ')';
}

static const struct meminfo_key *meminfo_lookup(const char *key, size_t len)
{
    for (size_t i = 0; i < sizeof(meminfo_keys) / sizeof(meminfo_keys[0]); i++)
        if (meminfo_keys[i].len == len && memcmp(meminfo_keys[i].name, key, len) == 0)
            return &meminfo_keys[i];
    return NULL;
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

int procfs_parse_meminfo(const char *buf, size_t len, struct procfs_meminfo *ret)
{
    const char *p = buf;
    const char *end = buf + len;

    memset(ret, 0, sizeof(*ret));
    if (len == 0)
        return -EBADMSG;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            return -EBADMSG; /* cut mid-line */
        const char *key = p;
        while (p < eol && is_key_char(*p))
            p++;
        if (p == key || p == eol || *p != ':')
            return -EBADMSG;
        const struct meminfo_key *k = meminfo_lookup(key, (size_t)(p - key));
        if (k) {
            uint64_t bytes;
            if ((ret->present & k->bit) || parse_kb_value(p + 1, eol, &bytes) != 0)
                return -EBADMSG;
            memcpy((char *)ret + k->offset, &bytes, sizeof(bytes));
            ret->present |= k->bit;
        }
        p = eol + 1;
    }
    if ((ret->present & PROCFS_MEM_REQUIRED) != PROCFS_MEM_REQUIRED || ret->mem_total == 0)
        return -EBADMSG;
    return 0;
}

int procfs_mem_compute(const struct procfs_meminfo *mi, struct procfs_mem_stats *ret)
{
    if (mi->mem_total == 0)
        return -EINVAL;
    ret->total = mi->mem_total;
    ret->free = mi->mem_free;
    ret->buffered = mi->buffers;
    ret->cached = mi->cached + mi->sreclaimable;
    ret->active = mi->active;
    ret->inactive = mi->inactive;
    ret->shared = mi->shmem;
    ret->available =
        (mi->present & PROCFS_MEM_HAS_AVAILABLE) ? mi->mem_available : ret->free + ret->cached;
    /* total - free - buffered - cached, without wrapping below 0. */
    uint64_t used = ret->total;
    const uint64_t parts[] = {ret->free, ret->buffered, ret->cached};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        used = parts[i] < used ? used - parts[i] : 0;
    ret->used = used;
    ret->used_percent = 100 * (double)ret->used / (double)ret->total;
    ret->available_percent = 100 * (double)ret->available / (double)ret->total;
    return 0;
}
