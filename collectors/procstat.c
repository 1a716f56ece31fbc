/*
 * procstat: the CloudWatch agent's "procstat" metrics plugin
 * (metrics/metrics_collected/procstat, an array: one instance per element, named
 * "procstat[N]").
 *
 * DESIGN: each instance selects processes one way, as the CloudWatch agent does with
 * telegraf's inputs.procstat and its "native" pid finder:
 * - pid_file: the pid written in that file (counted only while /proc/<pid> exists: the
 *   agent counts a stale pid file's pid too, which hides a dead daemon from an alarm on
 *   procstat_lookup_pid_count; Osprey reports 0 instead);
 * - exe: every process whose name matches the regular expression ("contains" match, as
 *   the agent documents and pgrep does). The name is /proc/<pid>/comm, extended from
 *   argv[0] when the kernel cut it at 15 bytes (gopsutil's Name());
 * - pattern: every process whose command line (argv joined by spaces) matches.
 * A uv_timer rescans on each interval. Every file is reread into one buffer the instance
 * keeps; /proc and fd/ are listed with getdents64 into another (procfs_pid.h), so once
 * the per-process tables have grown to the number of matched processes, a scrape
 * allocates nothing. The regular expression and its match data are built at init.
 *
 * Published, per matched process (dimensions: the selector — pidfile, exe or pattern —
 * with the configured string as value, and process_name; plus host and
 * append_dimensions), with the agent's names and units:
 *   procstat_cpu_time_system, _cpu_time_user  Count, cumulative seconds (telegraf's
 *       values; the agent documents "hundredths of a second" but publishes seconds)
 *   procstat_cpu_usage                        Percent of one CPU over the interval (a busy
 *       two-thread process reads 200); not published on the first scrape of a process,
 *       nor when its pid was reused (start time changed) — no spike
 *   procstat_memory_rss, _vms, _data, _stack, _swap, _locked   Bytes (status VmRSS,
 *       VmSize, VmData, VmStk, VmSwap, VmLck; 0 when the kernel prints no such line)
 *   procstat_read_bytes, _write_bytes Bytes; _read_count, _write_count Count: cumulative,
 *       from /proc/<pid>/io; left out for a process whose io file cannot be read (other
 *       users' processes when Osprey is not root)
 *   procstat_num_fds, procstat_num_threads, procstat_pid,
 *   procstat_voluntary_context_switches, _involuntary_context_switches  Count
 *   procstat_nice_priority                    None
 * and once per scrape procstat_lookup_pid_count (Count; dimensions: the selector and
 * pid_finder=native, which is what alarms on a missing process use), also when nothing
 * matched. "measurement" is required, as the agent's schema requires it, and selects
 * among these; the agent's other procstat fields (rlimit_*, cpu_time_<state>,
 * realtime_priority, signals_pending) are rejected as not supported.
 *
 * Self-stats: records_in counts values produced plus one per failure; records_out the
 * values emitted; dropped[] the rest — DROP_RING_FULL for the remainder of a scrape that
 * met a full ring, DROP_MALFORMED under a fine reason (procstat_reject_names) for a file
 * that could not be read or parsed. A process that exits mid-scrape is not an error. An
 * unreadable io or fd/ is counted once per process and logged once per instance.
 */
#include "collectors/collector.h"
#include "collectors/counter.h"
#include "collectors/procfs.h"
#include "collectors/procfs_pid.h"

#include "agent/clock.h"
#include "agent/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* A pattern like "." selects every process: cap what one scrape publishes. */
#define PROCSTAT_MAX_PROCS 1024
#define PROCSTAT_NAME_MAX  128

enum procstat_field {
    PS_CPU_TIME_SYSTEM = 0,
    PS_CPU_TIME_USER,
    PS_CPU_USAGE,
    PS_MEMORY_DATA,
    PS_MEMORY_LOCKED,
    PS_MEMORY_RSS,
    PS_MEMORY_STACK,
    PS_MEMORY_SWAP,
    PS_MEMORY_VMS,
    PS_READ_BYTES,
    PS_READ_COUNT,
    PS_WRITE_BYTES,
    PS_WRITE_COUNT,
    PS_NUM_FDS,
    PS_NUM_THREADS,
    PS_PID,
    PS_VOLUNTARY_CTX,
    PS_INVOLUNTARY_CTX,
    PS_NICE_PRIORITY,
    PS_PID_COUNT, /* procstat_lookup_pid_count */
    PS_FIELD_MAX
};

/* Implemented fields first (enum order), then the agent's fields Osprey rejects. */
static const char *const procstat_field_names[] = {
    "cpu_time_system",
    "cpu_time_user",
    "cpu_usage",
    "memory_data",
    "memory_locked",
    "memory_rss",
    "memory_stack",
    "memory_swap",
    "memory_vms",
    "read_bytes",
    "read_count",
    "write_bytes",
    "write_count",
    "num_fds",
    "num_threads",
    "pid",
    "voluntary_context_switches",
    "involuntary_context_switches",
    "nice_priority",
    "pid_count",
    /* not supported: */
    "cpu_time",
    "cpu_time_guest",
    "cpu_time_guest_nice",
    "cpu_time_idle",
    "cpu_time_iowait",
    "cpu_time_irq",
    "cpu_time_nice",
    "cpu_time_soft_irq",
    "cpu_time_steal",
    "cpu_time_stolen",
    "realtime_priority",
    "signals_pending",
    "rlimit_cpu_time_hard",
    "rlimit_cpu_time_soft",
    "rlimit_file_locks_hard",
    "rlimit_file_locks_soft",
    "rlimit_memory_data_hard",
    "rlimit_memory_data_soft",
    "rlimit_memory_locked_hard",
    "rlimit_memory_locked_soft",
    "rlimit_memory_rss_hard",
    "rlimit_memory_rss_soft",
    "rlimit_memory_stack_hard",
    "rlimit_memory_stack_soft",
    "rlimit_memory_vms_hard",
    "rlimit_memory_vms_soft",
    NULL,
};

static const enum metric_unit procstat_units[PS_FIELD_MAX] = {
    [PS_CPU_TIME_SYSTEM] = METRIC_UNIT_COUNT, [PS_CPU_TIME_USER] = METRIC_UNIT_COUNT,
    [PS_CPU_USAGE] = METRIC_UNIT_PERCENT,     [PS_MEMORY_DATA] = METRIC_UNIT_BYTES,
    [PS_MEMORY_LOCKED] = METRIC_UNIT_BYTES,   [PS_MEMORY_RSS] = METRIC_UNIT_BYTES,
    [PS_MEMORY_STACK] = METRIC_UNIT_BYTES,    [PS_MEMORY_SWAP] = METRIC_UNIT_BYTES,
    [PS_MEMORY_VMS] = METRIC_UNIT_BYTES,      [PS_READ_BYTES] = METRIC_UNIT_BYTES,
    [PS_READ_COUNT] = METRIC_UNIT_COUNT,      [PS_WRITE_BYTES] = METRIC_UNIT_BYTES,
    [PS_WRITE_COUNT] = METRIC_UNIT_COUNT,     [PS_NUM_FDS] = METRIC_UNIT_COUNT,
    [PS_NUM_THREADS] = METRIC_UNIT_COUNT,     [PS_PID] = METRIC_UNIT_COUNT,
    [PS_VOLUNTARY_CTX] = METRIC_UNIT_COUNT,   [PS_INVOLUNTARY_CTX] = METRIC_UNIT_COUNT,
    [PS_NICE_PRIORITY] = METRIC_UNIT_NONE,    [PS_PID_COUNT] = METRIC_UNIT_COUNT,
};

enum procstat_reject {
    REJ_PIDFILE_UNREADABLE = 0,
    REJ_PIDFILE_GARBAGE,
    REJ_PROC_UNREADABLE,
    REJ_STAT_GARBAGE,
    REJ_STATUS_GARBAGE,
    REJ_IO_UNREADABLE,
    REJ_IO_GARBAGE,
    REJ_FD_UNREADABLE,
    REJ_TOO_MANY_PROCESSES,
    REJ_MAX
};

static const char *const procstat_reject_names[REJ_MAX + 1] = {
    "pidfile_unreadable", "pidfile_garbage", "proc_unreadable",
    "stat_garbage",       "status_garbage",  "io_unreadable",
    "io_garbage",         "fd_unreadable",   "too_many_processes",
};

enum procstat_selector { SEL_PID_FILE = 0, SEL_EXE, SEL_PATTERN };
static const char *const selector_keys[] = {"pid_file", "exe", "pattern"};
static const char *const selector_dims[] = {"pidfile", "exe", "pattern"};

/* What is remembered of a process between scrapes. */
struct procstat_proc {
    int32_t pid;
    uint64_t starttime; /* with pid, identifies the process across scrapes */
    uint64_t last_ns;   /* monotonic time of the sample in `ticks` */
    struct counter ticks;
    bool io_reported; /* its unreadable io was counted */
    bool fd_reported;
};

struct procstat_ctx {
    /* Bound from the configuration. */
    char *pid_file;
    char *exe;
    char *pattern;
    /* Derived at init. */
    enum procstat_selector selector;
    const char *selector_value;
    uint32_t selected; /* bit per enum procstat_field */
    long ticks_per_sec;
    const char *root;
    pcre2_code *re;
    pcre2_match_data *md;
    /* Scrape state. */
    struct procfs_buf buf, buf2;
    struct procfs_pid_dirbuf dirbuf;
    int32_t *cand; /* pids matched this scrape */
    size_t n_cand, cap_cand;
    uint64_t n_matched; /* may exceed n_cand past PROCSTAT_MAX_PROCS */
    struct procstat_proc *procs[2];
    size_t n_procs[2], cap_procs;
    unsigned cur;
    bool io_logged, fd_logged;
    struct log_complain complain;
    struct collector_timer timer;
};

static const struct cfg_field procstat_fields[] = {
    {"pid_file", CFG_STRING, offsetof(struct procstat_ctx, pid_file), NULL, 0, 0, NULL, 0,
     "select the process whose pid is written in this file"},
    {"exe", CFG_REGEX, offsetof(struct procstat_ctx, exe), NULL, 0, 0, NULL, 0,
     "select processes whose name matches this regular expression (contains match)"},
    {"pattern", CFG_REGEX, offsetof(struct procstat_ctx, pattern), NULL, 0, 0, NULL, 0,
     "select processes whose command line matches this regular expression"},
    {"drop_original_metrics", CFG_JSON, 0, NULL, 0, 0, NULL, CFG_UNSUPPORTED,
     "not supported for procstat"},
    CFG_END,
};

/* One scrape's emission state. */
struct procstat_emit {
    uint64_t ts_ns;
    uint64_t produced;
    uint64_t dropped;
    bool ring_full;
};

static int procstat_init(struct collector *c)
{
    struct procstat_ctx *x = c->ctx;
    int ret = 0;
    x->root = c->env && c->env->proc_root ? c->env->proc_root : "/proc";
    c->stats.reject_names = procstat_reject_names;

    const char *values[3] = {x->pid_file, x->exe, x->pattern};
    int chosen = -1;
    for (int i = 0; i < 3; i++) {
        if (!values[i])
            continue;
        if (chosen >= 0) {
            collector_config_error(c, selector_keys[i],
                                   "'%s' cannot be combined with '%s': use one of pid_file, exe "
                                   "or pattern per procstat entry",
                                   selector_keys[i], selector_keys[chosen]);
            ret = -EINVAL;
            continue;
        }
        if (values[i][0] == '\0') {
            collector_config_error(c, selector_keys[i], "'%s' must not be empty", selector_keys[i]);
            ret = -EINVAL;
        }
        chosen = i;
    }
    if (chosen < 0) {
        collector_config_error(c, NULL,
                               "a procstat entry needs one of 'pid_file', 'exe' or 'pattern'");
        ret = -EINVAL;
    }
    if (!c->metric.measurement_json) {
        collector_config_error(c, NULL,
                               "a procstat entry needs 'measurement' (e.g. [\"cpu_usage\", "
                               "\"memory_rss\"]), as the CloudWatch agent requires");
        ret = -EINVAL;
    }
    for (size_t i = 0; i < c->metric.n_measurements; i++) {
        const char *name = c->metric.measurements[i].name;
        bool implemented = false;
        for (unsigned f = 0; f < PS_FIELD_MAX; f++)
            implemented = implemented || strcmp(procstat_field_names[f], name) == 0;
        if (!implemented) {
            collector_config_error(c, "measurement",
                                   "procstat measurement '%s' is not supported by Osprey", name);
            ret = -EINVAL;
        }
    }
    if (ret != 0)
        return ret;
    x->selector = (enum procstat_selector)chosen;
    x->selector_value = values[chosen];
    for (unsigned f = 0; f < PS_FIELD_MAX; f++)
        if (collector_metric_selected(c, procstat_field_names[f]))
            x->selected |= 1u << f;
    if (!x->selected)
        log_warn(c->name, "nothing to publish (empty measurement list), ignoring");

    long hz = sysconf(_SC_CLK_TCK);
    x->ticks_per_sec = hz > 0 ? hz : 100;

    if (x->selector != SEL_PID_FILE) {
        int code;
        PCRE2_SIZE off;
        /* Names and command lines are bytes, not always UTF-8: match what is valid. */
        x->re = pcre2_compile((PCRE2_SPTR)x->selector_value, PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
        if (!x->re) {
            collector_config_error(c, selector_keys[x->selector],
                                   "'%s' is not a valid regular expression",
                                   selector_keys[x->selector]);
            return -EINVAL;
        }
        x->md = pcre2_match_data_create_from_pattern(x->re, NULL);
        if (!x->md)
            return -ENOMEM;
    }
    return 0;
}

static void procstat_reject(struct collector *c, enum procstat_reject why)
{
    selfstats_add(&c->stats.records_in, 1);
    selfstats_add(&c->stats.errors, 1);
    selfstats_reject(&c->stats, DROP_MALFORMED, why, 1);
}

/* Read <root>/<pid>/<file> into b. */
static int read_pid_file(struct procstat_ctx *x, int32_t pid, const char *file,
                         struct procfs_buf *b)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%d/%s", x->root, (int)pid, file);
    return procfs_read_file(path, b);
}

/* A process gone between listing and reading: ENOENT for its directory, ESRCH for a
 * file of a process being reaped. Not an error. */
static bool vanished(int err)
{
    return err == -ENOENT || err == -ESRCH;
}

static bool pid_alive(struct procstat_ctx *x, int32_t pid)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%d", x->root, (int)pid);
    return access(path, F_OK) == 0;
}

static bool regex_matches(struct procstat_ctx *x, const char *s, size_t len)
{
    return pcre2_match(x->re, (PCRE2_SPTR)s, len, 0, 0, x->md, NULL) >= 0;
}

/* The name to match and publish, into out; buf holds comm, buf2 the raw cmdline. */
static int read_name(struct procstat_ctx *x, int32_t pid, char *out, size_t cap)
{
    int r = read_pid_file(x, pid, "comm", &x->buf);
    if (r != 0)
        return r;
    const char *cmd = NULL;
    size_t cmd_len = 0;
    if (x->buf.len == 16 && read_pid_file(x, pid, "cmdline", &x->buf2) == 0) {
        cmd = x->buf2.data;
        cmd_len = x->buf2.len;
    }
    return procfs_pid_name(x->buf.data, x->buf.len, cmd, cmd_len, out, cap);
}

static int add_candidate(struct procstat_ctx *x, int32_t pid)
{
    x->n_matched++;
    if (x->n_cand >= PROCSTAT_MAX_PROCS)
        return 0;
    if (x->n_cand == x->cap_cand) {
        size_t n = x->cap_cand ? x->cap_cand * 2 : 16;
        int32_t *grown = realloc(x->cand, n * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        x->cand = grown;
        x->cap_cand = n;
    }
    x->cand[x->n_cand++] = pid;
    return 0;
}

static int match_one(int32_t pid, void *data)
{
    struct collector *c = data;
    struct procstat_ctx *x = c->ctx;
    if (x->selector == SEL_EXE) {
        char name[PROCSTAT_NAME_MAX];
        if (read_name(x, pid, name, sizeof(name)) != 0)
            return 0; /* gone, or a kernel oddity: not a match */
        if (!regex_matches(x, name, strlen(name)))
            return 0;
    } else {
        if (read_pid_file(x, pid, "cmdline", &x->buf) != 0)
            return 0;
        /* Room for the NUL procfs_pid_cmdline_join appends. */
        if (x->buf.len == x->buf.cap)
            x->buf.len--;
        size_t n = x->buf.len ? procfs_pid_cmdline_join(x->buf.data, x->buf.len) : 0;
        if (!regex_matches(x, x->buf.data ? x->buf.data : "", n))
            return 0;
    }
    return add_candidate(x, pid);
}

/* Fill x->cand. Returns 0 or -ENOMEM; lookup failures are counted and leave it empty. */
static int find_pids(struct collector *c)
{
    struct procstat_ctx *x = c->ctx;
    x->n_cand = 0;
    x->n_matched = 0;
    if (x->selector == SEL_PID_FILE) {
        int32_t pid;
        int r = procfs_read_file(x->pid_file, &x->buf);
        if (r != 0) {
            procstat_reject(c, REJ_PIDFILE_UNREADABLE);
            log_complain(&x->complain, LOG_LEVEL_WARN, c->name,
                         "reading pid file '%s' failed (%s), retrying", x->pid_file, strerror(-r));
            return 0;
        }
        if (procfs_pid_parse_pidfile(x->buf.data, x->buf.len, &pid) != 0) {
            procstat_reject(c, REJ_PIDFILE_GARBAGE);
            log_complain(&x->complain, LOG_LEVEL_WARN, c->name,
                         "pid file '%s' holds no pid, retrying", x->pid_file);
            return 0;
        }
        log_complain_clear(&x->complain, c->name, "pid file '%s' is readable again", x->pid_file);
        return add_candidate(x, pid);
    }
    int r = procfs_pid_scan(x->root, &x->dirbuf, match_one, c);
    if (r == -ENOMEM)
        return r;
    if (r != 0) {
        procstat_reject(c, REJ_PROC_UNREADABLE);
        log_complain(&x->complain, LOG_LEVEL_WARN, c->name, "listing '%s' failed (%s), retrying",
                     x->root, strerror(-r));
        x->n_cand = 0;
        x->n_matched = 0;
        return 0;
    }
    log_complain_clear(&x->complain, c->name, "'%s' is readable again", x->root);
    return 0;
}

static void emit_value(struct collector *c, struct procstat_emit *e, enum procstat_field f,
                       const char *process_name, double value)
{
    struct procstat_ctx *x = c->ctx;
    char name[METRIC_MAX_NAME + 1];
    struct metric_point p;

    if (!(x->selected & (1u << f)))
        return;
    e->produced++;
    if (e->ring_full) {
        e->dropped++;
        return;
    }
    collector_metric_begin(c, &p, procstat_field_names[f], procstat_units[f], name, sizeof(name));
    if (f == PS_PID_COUNT) {
        const struct metric_measurement *m = collector_metric_selected(c, "pid_count");
        if (!m || !m->rename)
            snprintf(name, sizeof(name), "procstat_lookup_pid_count");
    }
    p.value = value;
    (void)metric_point_add_dim(&p, selector_dims[x->selector], x->selector_value);
    if (process_name)
        (void)metric_point_add_dim(&p, "process_name", process_name);
    else
        (void)metric_point_add_dim(&p, "pid_finder", "native");
    if (collector_emit_metric(c, e->ts_ns, 0, &p) == -ENOSPC) {
        e->ring_full = true;
        e->dropped++;
    }
}

static int cmp_proc(const void *a, const void *b)
{
    int32_t pa = ((const struct procstat_proc *)a)->pid;
    int32_t pb = ((const struct procstat_proc *)b)->pid;
    return (pa > pb) - (pa < pb);
}

/* Insertion sort by pid: /proc lists pids in ascending order, so this is one pass in
 * practice, and unlike glibc's qsort (a malloc'd merge buffer) it allocates nothing. */
static void sort_procs(struct procstat_proc *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct procstat_proc p = v[i];
        size_t j = i;
        for (; j > 0 && v[j - 1].pid > p.pid; j--)
            v[j] = v[j - 1];
        v[j] = p;
    }
}

static struct procstat_proc *find_prev(struct procstat_ctx *x, int32_t pid)
{
    struct procstat_proc key = {.pid = pid};
    unsigned prev = x->cur ^ 1u;
    if (!x->n_procs[prev])
        return NULL;
    return bsearch(&key, x->procs[prev], x->n_procs[prev], sizeof(key), cmp_proc);
}

static int reserve_procs(struct procstat_ctx *x, size_t n)
{
    if (n <= x->cap_procs)
        return 0;
    for (unsigned i = 0; i < 2; i++) {
        struct procstat_proc *grown = realloc(x->procs[i], n * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        x->procs[i] = grown;
    }
    x->cap_procs = n;
    return 0;
}

/* Log a permission problem once per instance, count it once per process. */
static void note_unreadable(struct collector *c, bool *reported, bool *logged,
                            enum procstat_reject why, int32_t pid, const char *file, int err)
{
    const struct procstat_ctx *x = c->ctx;
    if (*reported)
        return;
    *reported = true;
    procstat_reject(c, why);
    if (!*logged) {
        *logged = true;
        log_warn(c->name,
                 "reading '%s/%d/%s' failed (%s): its metrics are left out for this and any "
                 "other such process, ignoring",
                 x->root, (int)pid, file, strerror(-err));
    }
}

/* Read one matched process and publish it; false when it is gone or unreadable. */
static bool scrape_process(struct collector *c, struct procstat_emit *e, int32_t pid,
                           uint64_t now_ns)
{
    struct procstat_ctx *x = c->ctx;
    struct procfs_pid_stat st;
    struct procfs_pid_status ss;
    char pname[PROCSTAT_NAME_MAX];

    int r = read_pid_file(x, pid, "stat", &x->buf);
    if (r != 0) {
        if (!vanished(r))
            procstat_reject(c, REJ_PROC_UNREADABLE);
        return false;
    }
    selfstats_add(&c->stats.bytes_in, x->buf.len);
    if (procfs_pid_parse_stat(x->buf.data, x->buf.len, &st) != 0 || st.pid != pid) {
        procstat_reject(c, REJ_STAT_GARBAGE);
        return false;
    }
    r = read_pid_file(x, pid, "status", &x->buf);
    if (r != 0) {
        if (!vanished(r))
            procstat_reject(c, REJ_PROC_UNREADABLE);
        return false;
    }
    selfstats_add(&c->stats.bytes_in, x->buf.len);
    if (procfs_pid_parse_status(x->buf.data, x->buf.len, &ss) != 0) {
        procstat_reject(c, REJ_STATUS_GARBAGE);
        return false;
    }
    r = read_name(x, pid, pname, sizeof(pname));
    if (r != 0) {
        /* comm is as readable as status: fall back to the status name. */
        snprintf(pname, sizeof(pname), "%s", ss.name);
    }

    /* Carry the state over from the previous scrape, if this is the same process. */
    struct procstat_proc *prev = find_prev(x, pid);
    struct procstat_proc *cur = &x->procs[x->cur][x->n_procs[x->cur]++];
    if (prev && prev->starttime == st.starttime) {
        *cur = *prev;
    } else {
        *cur = (struct procstat_proc){.pid = pid, .starttime = st.starttime};
    }

    const double hz = (double)x->ticks_per_sec;
    emit_value(c, e, PS_PID, pname, (double)pid);
    emit_value(c, e, PS_CPU_TIME_SYSTEM, pname, (double)st.stime / hz);
    emit_value(c, e, PS_CPU_TIME_USER, pname, (double)st.utime / hz);
    uint64_t delta;
    uint64_t elapsed = now_ns - cur->last_ns;
    bool have_delta = counter_delta(&cur->ticks, st.utime + st.stime, &delta);
    cur->last_ns = now_ns;
    double usage;
    if (have_delta && procfs_pid_cpu_usage(0, delta, x->ticks_per_sec, elapsed, &usage) == 0)
        emit_value(c, e, PS_CPU_USAGE, pname, usage);
    emit_value(c, e, PS_MEMORY_DATA, pname, (double)ss.vm_data);
    emit_value(c, e, PS_MEMORY_LOCKED, pname, (double)ss.vm_lck);
    emit_value(c, e, PS_MEMORY_RSS, pname, (double)ss.vm_rss);
    emit_value(c, e, PS_MEMORY_STACK, pname, (double)ss.vm_stk);
    emit_value(c, e, PS_MEMORY_SWAP, pname, (double)ss.vm_swap);
    emit_value(c, e, PS_MEMORY_VMS, pname, (double)ss.vm_size);

    const uint32_t io_bits = (1u << PS_READ_BYTES) | (1u << PS_READ_COUNT) |
                             (1u << PS_WRITE_BYTES) | (1u << PS_WRITE_COUNT);
    if (x->selected & io_bits) {
        struct procfs_pid_io io;
        r = read_pid_file(x, pid, "io", &x->buf);
        if (r == 0 && procfs_pid_parse_io(x->buf.data, x->buf.len, &io) == 0) {
            emit_value(c, e, PS_READ_BYTES, pname, (double)io.read_bytes);
            emit_value(c, e, PS_READ_COUNT, pname, (double)io.syscr);
            emit_value(c, e, PS_WRITE_BYTES, pname, (double)io.write_bytes);
            emit_value(c, e, PS_WRITE_COUNT, pname, (double)io.syscw);
        } else if (r == 0) {
            procstat_reject(c, REJ_IO_GARBAGE);
        } else if (!vanished(r) || pid_alive(x, pid)) {
            /* EACCES for another user's process; ENOENT without task io accounting. */
            note_unreadable(c, &cur->io_reported, &x->io_logged, REJ_IO_UNREADABLE, pid, "io", r);
        }
    }
    if (x->selected & (1u << PS_NUM_FDS)) {
        char path[4096];
        uint64_t n_fds;
        snprintf(path, sizeof(path), "%s/%d/fd", x->root, (int)pid);
        r = procfs_pid_count_dir(path, &x->dirbuf, &n_fds);
        if (r == 0)
            emit_value(c, e, PS_NUM_FDS, pname, (double)n_fds);
        else if (r == -ENOMEM)
            procstat_reject(c, REJ_FD_UNREADABLE);
        else if (!vanished(r))
            note_unreadable(c, &cur->fd_reported, &x->fd_logged, REJ_FD_UNREADABLE, pid, "fd", r);
    }
    emit_value(c, e, PS_NUM_THREADS, pname, (double)ss.threads);
    emit_value(c, e, PS_VOLUNTARY_CTX, pname, (double)ss.voluntary_ctxt_switches);
    emit_value(c, e, PS_INVOLUNTARY_CTX, pname, (double)ss.nonvoluntary_ctxt_switches);
    emit_value(c, e, PS_NICE_PRIORITY, pname, (double)st.nice);
    return true;
}

static void procstat_scrape(struct collector *c)
{
    struct procstat_ctx *x = c->ctx;
    uint64_t now_ns = clock_monotonic_ns();
    struct procstat_emit e = {.ts_ns = clock_realtime_ns()};

    int r = find_pids(c);
    if (r == 0)
        r = reserve_procs(x, x->n_cand);
    if (r != 0) {
        procstat_reject(c, REJ_PROC_UNREADABLE);
        log_complain(&x->complain, LOG_LEVEL_WARN, c->name, "growing buffers failed (%s), retrying",
                     strerror(-r));
        return;
    }
    if (x->n_matched > x->n_cand) {
        selfstats_add(&c->stats.records_in, x->n_matched - x->n_cand);
        selfstats_reject(&c->stats, DROP_TOO_LARGE, REJ_TOO_MANY_PROCESSES,
                         x->n_matched - x->n_cand);
        log_complain(&x->complain, LOG_LEVEL_WARN, c->name,
                     "%llu processes match, publishing the first %d, ignoring the rest",
                     (unsigned long long)x->n_matched, PROCSTAT_MAX_PROCS);
    }
    x->n_procs[x->cur] = 0;
    uint64_t alive = 0;
    for (size_t i = 0; i < x->n_cand; i++)
        if (scrape_process(c, &e, x->cand[i], now_ns))
            alive++;
    /* Processes that matched but exited before being read are not counted. */
    alive += x->n_matched - x->n_cand;
    emit_value(c, &e, PS_PID_COUNT, NULL, (double)alive);

    sort_procs(x->procs[x->cur], x->n_procs[x->cur]);
    x->cur ^= 1u;
    selfstats_add(&c->stats.records_in, e.produced);
    if (e.dropped)
        selfstats_drop(&c->stats, DROP_RING_FULL, e.dropped);
}

static int procstat_start(struct collector *c, uv_loop_t *loop)
{
    struct procstat_ctx *x = c->ctx;
    return collector_timer_start(c, loop, &x->timer, procstat_scrape);
}

static void procstat_stop(struct collector *c)
{
    struct procstat_ctx *x = c->ctx;
    collector_timer_stop(&x->timer);
}

static void procstat_destroy(struct collector *c)
{
    struct procstat_ctx *x = c->ctx;
    if (!x)
        return;
    pcre2_match_data_free(x->md);
    x->md = NULL;
    pcre2_code_free(x->re);
    x->re = NULL;
    procfs_buf_release(&x->buf);
    procfs_buf_release(&x->buf2);
    procfs_pid_dirbuf_release(&x->dirbuf);
    free(x->cand);
    x->cand = NULL;
    for (unsigned i = 0; i < 2; i++) {
        free(x->procs[i]);
        x->procs[i] = NULL;
    }
    x->cap_procs = 0;
}

const struct collector_type collector_procstat = {
    .name = "procstat",
    .help = "per-process metrics selected by pid_file, exe or pattern (CloudWatch agent "
            "procstat_* metrics)",
    .config_path = "metrics/metrics_collected/procstat",
    .config_is_list = true,
    .metric_common = true,
    .metric_fields = procstat_field_names,
    .kinds = RECORD_KIND_BIT(RECORD_METRIC),
    .fields = procstat_fields,
    .ctx_size = sizeof(struct procstat_ctx),
    .init = procstat_init,
    .start = procstat_start,
    .stop = procstat_stop,
    .destroy = procstat_destroy,
};
