/*
 * DESIGN: like procfs.c, every parser walks its buffer once, line by line, with explicit
 * bounds (nothing is NUL-terminated), and requires each line to end in '\n' so that a
 * read cut short is told from a complete file. Numbers are parsed by hand: strtoull
 * needs a terminator, accepts signs and blanks and reports through errno.
 */
#include "collectors/cgroup.h"

#include <errno.h>
#include <string.h>

/* ---- scanning helpers ------------------------------------------------------------- */

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_hex(char ch)
{
    return is_digit(ch) || (ch >= 'a' && ch <= 'f');
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* A decimal u64 of at least one digit at *pp (before end); advances *pp past it. */
static int parse_u64_at(const char **pp, const char *end, uint64_t *ret)
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

/* The line starting at p: sets *ret_eol to its '\n'; -EBADMSG when there is none. */
static int line_end(const char *p, const char *end, const char **ret_eol)
{
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
        return -EBADMSG;
    *ret_eol = eol;
    return 0;
}

static bool token_is(const char *p, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(p, word, n) == 0;
}

/* ---- flat-keyed files ------------------------------------------------------------- */

struct flat_key {
    const char *name;
    uint64_t *value;
    unsigned bit;
};

/*
 * "KEY VALUE\n" lines (cgroup-v2.rst "Flat Keyed"). A known key must carry a decimal
 * value and appear once; an unknown key needs only the shape (a key, blanks, a value).
 */
static int parse_flat_keyed(const char *buf, size_t len, const struct flat_key *keys, size_t n_keys,
                            unsigned *ret_present)
{
    const char *p = buf, *end = buf + len;
    unsigned present = 0;
    while (p < end) {
        const char *eol;
        if (line_end(p, end, &eol) != 0)
            return -EBADMSG;
        const char *key = p;
        while (p < eol && !is_blank(*p))
            p++;
        size_t key_len = (size_t)(p - key);
        if (key_len == 0 || p == eol)
            return -EBADMSG;
        while (p < eol && is_blank(*p))
            p++;
        if (p == eol)
            return -EBADMSG;
        const struct flat_key *k = NULL;
        for (size_t i = 0; i < n_keys && !k; i++)
            if (token_is(key, key_len, keys[i].name))
                k = &keys[i];
        if (k) {
            uint64_t v;
            if ((present & k->bit) || parse_u64_at(&p, eol, &v) != 0 || p != eol)
                return -EBADMSG;
            *k->value = v;
            present |= k->bit;
        } else {
            for (; p < eol; p++)
                if (is_blank(*p))
                    return -EBADMSG;
        }
        p = eol + 1;
    }
    *ret_present = present;
    return 0;
}

int cgroup_parse_cpu_stat(const char *buf, size_t len, struct cgroup_cpu_stat *ret)
{
    memset(ret, 0, sizeof(*ret));
    const struct flat_key keys[] = {
        {"usage_usec", &ret->usage_usec, CGROUP_CPU_HAS_USAGE},
        {"user_usec", &ret->user_usec, CGROUP_CPU_HAS_USER},
        {"system_usec", &ret->system_usec, CGROUP_CPU_HAS_SYSTEM},
        {"nr_periods", &ret->nr_periods, CGROUP_CPU_HAS_NR_PERIODS},
        {"nr_throttled", &ret->nr_throttled, CGROUP_CPU_HAS_NR_THROTTLED},
        {"throttled_usec", &ret->throttled_usec, CGROUP_CPU_HAS_THROTTLED_USEC},
    };
    int r = parse_flat_keyed(buf, len, keys, sizeof(keys) / sizeof(keys[0]), &ret->present);
    if (r == 0 && (ret->present & CGROUP_CPU_REQUIRED) != CGROUP_CPU_REQUIRED)
        r = -EBADMSG;
    return r;
}

int cgroup_parse_memory_stat(const char *buf, size_t len, struct cgroup_memory_stat *ret)
{
    memset(ret, 0, sizeof(*ret));
    const struct flat_key keys[] = {
        {"anon", &ret->anon, 0x1u},
        {"file", &ret->file, 0x2u},
    };
    unsigned present = 0;
    int r = parse_flat_keyed(buf, len, keys, sizeof(keys) / sizeof(keys[0]), &present);
    if (r == 0 && present != 0x3u)
        r = -EBADMSG;
    return r;
}

int cgroup_parse_memory_events(const char *buf, size_t len, struct cgroup_memory_events *ret)
{
    memset(ret, 0, sizeof(*ret));
    const struct flat_key keys[] = {
        {"oom", &ret->oom, CGROUP_MEMEV_HAS_OOM},
        {"oom_kill", &ret->oom_kill, CGROUP_MEMEV_HAS_OOM_KILL},
    };
    int r = parse_flat_keyed(buf, len, keys, sizeof(keys) / sizeof(keys[0]), &ret->present);
    if (r == 0 && !(ret->present & CGROUP_MEMEV_HAS_OOM))
        r = -EBADMSG;
    return r;
}

/* ---- single values ---------------------------------------------------------------- */

/* The whole buffer is exactly one line; *ret_eol is its '\n'. */
static int single_line(const char *buf, size_t len, const char **ret_eol)
{
    if (len == 0 || buf[len - 1] != '\n' || memchr(buf, '\n', len) != buf + len - 1)
        return -EBADMSG;
    *ret_eol = buf + len - 1;
    return 0;
}

int cgroup_parse_u64(const char *buf, size_t len, uint64_t *ret)
{
    const char *eol, *p = buf;
    uint64_t v;
    if (single_line(buf, len, &eol) != 0 || parse_u64_at(&p, eol, &v) != 0 || p != eol)
        return -EBADMSG;
    *ret = v;
    return 0;
}

int cgroup_parse_max(const char *buf, size_t len, bool *ret_limited, uint64_t *ret)
{
    const char *eol;
    if (single_line(buf, len, &eol) != 0)
        return -EBADMSG;
    if (token_is(buf, (size_t)(eol - buf), "max")) {
        *ret_limited = false;
        *ret = UINT64_MAX;
        return 0;
    }
    int r = cgroup_parse_u64(buf, len, ret);
    if (r == 0)
        *ret_limited = true;
    return r;
}

int cgroup_parse_cpu_max(const char *buf, size_t len, bool *ret_limited, uint64_t *ret_quota_usec,
                         uint64_t *ret_period_usec)
{
    const char *eol, *p = buf;
    if (single_line(buf, len, &eol) != 0)
        return -EBADMSG;
    bool limited = true;
    uint64_t quota = UINT64_MAX, period;
    if ((size_t)(eol - p) >= 3 && memcmp(p, "max", 3) == 0) {
        limited = false;
        p += 3;
    } else if (parse_u64_at(&p, eol, &quota) != 0) {
        return -EBADMSG;
    }
    if (p == eol || *p != ' ')
        return -EBADMSG;
    p++;
    if (parse_u64_at(&p, eol, &period) != 0 || p != eol || period == 0)
        return -EBADMSG;
    *ret_limited = limited;
    *ret_quota_usec = quota;
    *ret_period_usec = period;
    return 0;
}

/* ---- io.stat ---------------------------------------------------------------------- */

static int parse_u32_at(const char **pp, const char *end, uint32_t *ret)
{
    uint64_t v;
    if (parse_u64_at(pp, end, &v) != 0 || v > UINT32_MAX)
        return -EBADMSG;
    *ret = (uint32_t)v;
    return 0;
}

/* One device line between p and eol (excluded). */
static int parse_io_line(const char *p, const char *eol, struct cgroup_io_device *ret)
{
    struct cgroup_io_device d = {0};
    if (parse_u32_at(&p, eol, &d.major) != 0 || p == eol || *p != ':')
        return -EBADMSG;
    p++;
    if (parse_u32_at(&p, eol, &d.minor) != 0)
        return -EBADMSG;
    const struct flat_key keys[] = {
        {"rbytes", &d.rbytes, 0x1u},
        {"wbytes", &d.wbytes, 0x2u},
        {"rios", &d.rios, 0x4u},
        {"wios", &d.wios, 0x8u},
    };
    unsigned present = 0;
    while (p < eol) {
        if (*p != ' ')
            return -EBADMSG;
        p++;
        const char *key = p;
        while (p < eol && *p != '=' && *p != ' ')
            p++;
        size_t key_len = (size_t)(p - key);
        if (key_len == 0 || p == eol || *p != '=')
            return -EBADMSG;
        p++;
        const struct flat_key *k = NULL;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && !k; i++)
            if (token_is(key, key_len, keys[i].name))
                k = &keys[i];
        if (k) {
            if ((present & k->bit) || parse_u64_at(&p, eol, k->value) != 0)
                return -EBADMSG;
            present |= k->bit;
        } else {
            const char *value = p;
            while (p < eol && *p != ' ')
                p++;
            if (p == value)
                return -EBADMSG;
        }
        if (p < eol && *p != ' ')
            return -EBADMSG;
    }
    if (present != 0xfu)
        return -EBADMSG;
    *ret = d;
    return 0;
}

int cgroup_parse_io_stat(const char *buf, size_t len, struct cgroup_io_device *devs, size_t cap,
                         size_t *ret_n)
{
    const char *p = buf, *end = buf + len;
    size_t n = 0;
    while (p < end) {
        const char *eol;
        struct cgroup_io_device d;
        if (line_end(p, end, &eol) != 0 || parse_io_line(p, eol, &d) != 0)
            return -EBADMSG;
        for (size_t i = 0; i < n && i < cap; i++)
            if (devs[i].major == d.major && devs[i].minor == d.minor)
                return -EBADMSG;
        if (n < cap)
            devs[n] = d;
        n++;
        p = eol + 1;
    }
    *ret_n = n;
    return 0;
}

/* ---- /proc/self/cgroup ------------------------------------------------------------ */

bool cgroup_path_is_plain(const char *p, size_t len)
{
    if (len == 0 || p[0] != '/')
        return false;
    if (len == 1)
        return true;
    size_t i = 1;
    while (i <= len) {
        size_t start = i;
        while (i < len && p[i] != '/')
            i++;
        size_t n = i - start;
        if (n == 0 || (n == 1 && p[start] == '.') ||
            (n == 2 && p[start] == '.' && p[start + 1] == '.'))
            return false;
        i++;
    }
    return true;
}

int cgroup_parse_self_cgroup(const char *buf, size_t len, const char **ret_path,
                             size_t *ret_path_len)
{
    const char *p = buf, *end = buf + len;
    const char *found = NULL;
    size_t found_len = 0;
    if (len == 0)
        return -EBADMSG;
    while (p < end) {
        const char *eol;
        if (line_end(p, end, &eol) != 0)
            return -EBADMSG;
        uint64_t id;
        if (parse_u64_at(&p, eol, &id) != 0 || p == eol || *p != ':')
            return -EBADMSG;
        const char *controllers = ++p;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon)
            return -EBADMSG;
        const char *path = colon + 1;
        size_t path_len = (size_t)(eol - path);
        if (path_len == 0 || path[0] != '/')
            return -EBADMSG;
        if (id == 0 && colon == controllers) {
            if (found || !cgroup_path_is_plain(path, path_len))
                return -EBADMSG;
            found = path;
            found_len = path_len;
        }
        p = eol + 1;
    }
    if (!found)
        return -ENOENT;
    *ret_path = found;
    *ret_path_len = found_len;
    return 0;
}

/* ---- container id ----------------------------------------------------------------- */

static bool all_hex(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_hex(p[i]))
            return false;
    return true;
}

static bool copy_id(const char *p, size_t n, char *out, size_t cap)
{
    if (n >= cap)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

/* A component that is, or ends in, a 64-hex id after '-' or ':' (".scope" removed). */
static bool component_id64(const char *p, size_t n, char *out, size_t cap)
{
    static const char scope[] = ".scope";
    const size_t scope_len = sizeof(scope) - 1;
    if (n > scope_len && memcmp(p + n - scope_len, scope, scope_len) == 0)
        n -= scope_len;
    if (n < 64)
        return false;
    const char *id = p + n - 64;
    if (n > 64 && id[-1] != '-' && id[-1] != ':')
        return false;
    return all_hex(id, 64) && copy_id(id, 64, out, cap);
}

/* Fargate's container id: 32 hex digits, '-', 1 to 10 digits. */
static bool is_fargate_id(const char *p, size_t n)
{
    if (n < 34 || n > 43 || !all_hex(p, 32) || p[32] != '-')
        return false;
    for (size_t i = 33; i < n; i++)
        if (!is_digit(p[i]))
            return false;
    return true;
}

bool cgroup_container_id(const char *path, size_t path_len, char *out, size_t cap)
{
    if (cap > 0)
        out[0] = '\0';
    /* Components from the last. */
    size_t end = path_len;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && path[start - 1] != '/')
            start--;
        if (component_id64(path + start, end - start, out, cap))
            return true;
        end = start > 0 ? start - 1 : 0;
    }
    static const char ecs[] = "/ecs/";
    const size_t ecs_len = sizeof(ecs) - 1;
    if (path_len <= ecs_len || memcmp(path, ecs, ecs_len) != 0)
        return false;
    size_t last = path_len;
    while (last > 0 && path[last - 1] != '/')
        last--;
    if (is_fargate_id(path + last, path_len - last))
        return copy_id(path + last, path_len - last, out, cap);
    const char *task = path + ecs_len;
    size_t task_len = 0;
    while (ecs_len + task_len < path_len && task[task_len] != '/')
        task_len++;
    if (task_len == 32 && all_hex(task, 32))
        return copy_id(task, 32, out, cap);
    return false;
}

/* ---- arithmetic ------------------------------------------------------------------- */

double cgroup_cpu_percent(uint64_t delta_usec, uint64_t interval_ns)
{
    if (interval_ns == 0)
        return -1;
    /* 100 * (delta_usec * 1000 ns) / interval_ns */
    return (double)delta_usec * 1e5 / (double)interval_ns;
}
