/*
 * container: Osprey's own "container" metrics plugin (metrics/metrics_collected/container),
 * for sidecar use: the cgroup v2 statistics of one cgroup — the one Osprey runs in, read
 * from the "0::/path" line of <proc_root>/self/cgroup, or the one named by cgroup_path —
 * under the cgroup2 mount at cgroup_root (default /sys/fs/cgroup).
 *
 * DESIGN: start() checks that cgroup_root is a cgroup v2 hierarchy (it has
 * cgroup.controllers; a cgroup v1 or hybrid mount does not), resolves the cgroup and
 * builds the path of each interface file once. A uv_timer on the collect loop then
 * rereads the files some selected metric needs into one buffer kept for the instance's
 * lifetime, parses them with the pure parsers of cgroup.h, and turns cumulative counters
 * into per-interval deltas with counter.h (the first sample after start, after a file
 * came back, or after a counter went backwards publishes no delta). Nothing is allocated
 * per scrape.
 *
 * Published (names container_<field>; the "measurement" list selects, renames and
 * re-units them; without it all are published when their source is available):
 *   cpu_usage_percent       Percent  usage_usec delta over the wall time between the two
 *   cpu_user_percent        Percent  cpu.stat reads, as percent of ONE CPU (a cgroup
 *   cpu_system_percent      Percent  keeping two CPUs busy shows 200)
 *   cpu_periods             Count    nr_periods delta (enforcement periods elapsed)
 *   cpu_throttled_periods   Count    nr_throttled delta (periods in which it was throttled)
 *   cpu_throttled_percent   Percent  100 * nr_throttled delta / nr_periods delta (only
 *                                    when periods elapsed)
 *   cpu_throttled_seconds   Seconds  throttled_usec delta / 1e6
 *   cpu_limit               None     cpu.max quota / period, in CPUs; absent when "max"
 *   memory_current          Bytes    memory.current
 *   memory_max              Bytes    memory.max; absent when "max"
 *   memory_used_percent     Percent  100 * memory.current / memory.max, when limited
 *   memory_anon             Bytes    memory.stat anon
 *   memory_file             Bytes    memory.stat file (page cache)
 *   memory_oom              Count    memory.events oom delta (times the limit was hit
 *                                    and reclaim failed), per interval, not cumulative
 *   memory_oom_kill         Count    memory.events oom_kill delta (processes killed by
 *                                    the OOM killer), per interval; Linux 4.13+
 *   io_read_bytes           Bytes    io.stat rbytes delta, summed over devices
 *   io_write_bytes          Bytes    io.stat wbytes delta, summed over devices
 *   io_reads                Count    io.stat rios delta, summed over devices
 *   io_writes               Count    io.stat wios delta, summed over devices
 *   pids_current            Count    pids.current
 *   pids_max                Count    pids.max; absent when "max"
 * The throttling keys of cpu.stat exist only when the cpu controller is enabled for the
 * group. A device's I/O counts from its second appearance in io.stat (its first only
 * primes), so a device that appears does not produce a spike.
 *
 * Dimensions: host and append_dimensions (collector_metric_begin), plus container_id when
 * cgroup_container_id() can derive one from the cgroup path (Docker, containerd, CRI-O,
 * Podman 64-hex ids; ECS task and Fargate container ids), else cgroup=<path>.
 *
 * Errors: a file that does not exist (its controller is not enabled for the group, or
 * the kernel predates it) is not an error: its metrics are absent and that is logged
 * once (and once more when it comes back). A file that cannot be read or parsed is
 * counted per fine reason (selfstats_reject: "<file>_malformed", "read_error") and logged
 * through log_complain; the other files are still published and the timer keeps running.
 * cgroup v1: start fails with "cgroup v2 required".
 *
 * Self-stats, as in mem.c: records_in counts values produced plus one per failed file;
 * records_out the ones emitted; dropped[] the rest.
 */
#include "collectors/cgroup.h"
#include "collectors/collector.h"
#include "collectors/counter.h"
#include "collectors/procfs.h"

#include "agent/clock.h"
#include "agent/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONTAINER_CGROUP_ROOT_DEFAULT "/sys/fs/cgroup"

enum container_field {
    CT_CPU_USAGE_PERCENT = 0,
    CT_CPU_USER_PERCENT,
    CT_CPU_SYSTEM_PERCENT,
    CT_CPU_PERIODS,
    CT_CPU_THROTTLED_PERIODS,
    CT_CPU_THROTTLED_PERCENT,
    CT_CPU_THROTTLED_SECONDS,
    CT_CPU_LIMIT,
    CT_MEMORY_CURRENT,
    CT_MEMORY_MAX,
    CT_MEMORY_USED_PERCENT,
    CT_MEMORY_ANON,
    CT_MEMORY_FILE,
    CT_MEMORY_OOM,
    CT_MEMORY_OOM_KILL,
    CT_IO_READ_BYTES,
    CT_IO_WRITE_BYTES,
    CT_IO_READS,
    CT_IO_WRITES,
    CT_PIDS_CURRENT,
    CT_PIDS_MAX,
    CT_FIELD_MAX
};

static const char *const container_field_names[CT_FIELD_MAX + 1] = {
    "cpu_usage_percent",
    "cpu_user_percent",
    "cpu_system_percent",
    "cpu_periods",
    "cpu_throttled_periods",
    "cpu_throttled_percent",
    "cpu_throttled_seconds",
    "cpu_limit",
    "memory_current",
    "memory_max",
    "memory_used_percent",
    "memory_anon",
    "memory_file",
    "memory_oom",
    "memory_oom_kill",
    "io_read_bytes",
    "io_write_bytes",
    "io_reads",
    "io_writes",
    "pids_current",
    "pids_max",
};

static const enum metric_unit container_field_units[CT_FIELD_MAX] = {
    [CT_CPU_USAGE_PERCENT] = METRIC_UNIT_PERCENT,
    [CT_CPU_USER_PERCENT] = METRIC_UNIT_PERCENT,
    [CT_CPU_SYSTEM_PERCENT] = METRIC_UNIT_PERCENT,
    [CT_CPU_PERIODS] = METRIC_UNIT_COUNT,
    [CT_CPU_THROTTLED_PERIODS] = METRIC_UNIT_COUNT,
    [CT_CPU_THROTTLED_PERCENT] = METRIC_UNIT_PERCENT,
    [CT_CPU_THROTTLED_SECONDS] = METRIC_UNIT_SECONDS,
    [CT_CPU_LIMIT] = METRIC_UNIT_NONE,
    [CT_MEMORY_CURRENT] = METRIC_UNIT_BYTES,
    [CT_MEMORY_MAX] = METRIC_UNIT_BYTES,
    [CT_MEMORY_USED_PERCENT] = METRIC_UNIT_PERCENT,
    [CT_MEMORY_ANON] = METRIC_UNIT_BYTES,
    [CT_MEMORY_FILE] = METRIC_UNIT_BYTES,
    [CT_MEMORY_OOM] = METRIC_UNIT_COUNT,
    [CT_MEMORY_OOM_KILL] = METRIC_UNIT_COUNT,
    [CT_IO_READ_BYTES] = METRIC_UNIT_BYTES,
    [CT_IO_WRITE_BYTES] = METRIC_UNIT_BYTES,
    [CT_IO_READS] = METRIC_UNIT_COUNT,
    [CT_IO_WRITES] = METRIC_UNIT_COUNT,
    [CT_PIDS_CURRENT] = METRIC_UNIT_COUNT,
    [CT_PIDS_MAX] = METRIC_UNIT_COUNT,
};

#define BIT(f) (1u << (f))

/* The interface files, and the fields each one feeds. */
enum container_file {
    CG_CPU_STAT = 0,
    CG_CPU_MAX,
    CG_MEMORY_CURRENT,
    CG_MEMORY_MAX,
    CG_MEMORY_STAT,
    CG_MEMORY_EVENTS,
    CG_IO_STAT,
    CG_PIDS_CURRENT,
    CG_PIDS_MAX,
    CG_FILE_MAX
};

static const char *const container_file_names[CG_FILE_MAX] = {
    "cpu.stat",      "cpu.max", "memory.current", "memory.max", "memory.stat",
    "memory.events", "io.stat", "pids.current",   "pids.max",
};

static const uint32_t container_file_fields[CG_FILE_MAX] = {
    [CG_CPU_STAT] = BIT(CT_CPU_USAGE_PERCENT) | BIT(CT_CPU_USER_PERCENT) |
                    BIT(CT_CPU_SYSTEM_PERCENT) | BIT(CT_CPU_PERIODS) |
                    BIT(CT_CPU_THROTTLED_PERIODS) | BIT(CT_CPU_THROTTLED_PERCENT) |
                    BIT(CT_CPU_THROTTLED_SECONDS),
    [CG_CPU_MAX] = BIT(CT_CPU_LIMIT),
    [CG_MEMORY_CURRENT] = BIT(CT_MEMORY_CURRENT) | BIT(CT_MEMORY_USED_PERCENT),
    [CG_MEMORY_MAX] = BIT(CT_MEMORY_MAX) | BIT(CT_MEMORY_USED_PERCENT),
    [CG_MEMORY_STAT] = BIT(CT_MEMORY_ANON) | BIT(CT_MEMORY_FILE),
    [CG_MEMORY_EVENTS] = BIT(CT_MEMORY_OOM) | BIT(CT_MEMORY_OOM_KILL),
    [CG_IO_STAT] =
        BIT(CT_IO_READ_BYTES) | BIT(CT_IO_WRITE_BYTES) | BIT(CT_IO_READS) | BIT(CT_IO_WRITES),
    [CG_PIDS_CURRENT] = BIT(CT_PIDS_CURRENT),
    [CG_PIDS_MAX] = BIT(CT_PIDS_MAX),
};

/* Fine drop reasons: one "<file>_malformed" per file (same index), then these. */
enum container_reject {
    CT_REJECT_READ_ERROR = CG_FILE_MAX,
    CT_REJECT_IO_DEVICES_OVER_LIMIT,
};

static const char *const container_reject_names[] = {
    "cpu_stat_malformed",   "cpu_max_malformed",      "memory_current_malformed",
    "memory_max_malformed", "memory_stat_malformed",  "memory_events_malformed",
    "io_stat_malformed",    "pids_current_malformed", "pids_max_malformed",
    "read_error",           "io_devices_over_limit",  NULL,
};

/* Keys whose absence from a present file is logged once. */
#define CT_NOTED_NO_THROTTLING 0x1u
#define CT_NOTED_NO_OOM_KILL   0x2u

/* io.stat counters of one device, kept between scrapes. */
struct container_io_dev {
    uint32_t major, minor;
    struct counter rbytes, wbytes, rios, wios;
};

struct container_ctx {
    /* Bound from the configuration. */
    char *cgroup_root;
    char *cgroup_path;
    /* Derived at init and start. */
    uint32_t selected; /* bit per enum container_field */
    unsigned needed;   /* bit per enum container_file */
    char *self_cgroup_path;
    char *paths[CG_FILE_MAX];
    const char *dim_name; /* "container_id" or "cgroup" */
    char *dim_value;
    /* Scrape state. */
    struct procfs_buf buf;
    unsigned missing; /* files last seen missing (logged once) */
    unsigned noted;   /* CT_NOTED_* */
    struct counter cpu_usage, cpu_user, cpu_system, nr_periods, nr_throttled, throttled_usec;
    uint64_t cpu_read_ns; /* monotonic time of the last cpu.stat read */
    struct counter oom, oom_kill;
    struct cgroup_io_device io_parsed[CGROUP_IO_DEVICES_MAX];
    struct container_io_dev io_devs[2][CGROUP_IO_DEVICES_MAX];
    size_t n_io_devs;
    unsigned io_cur; /* which io_devs set holds the last scrape's devices */
    bool io_primed;  /* the last scrape read io.stat */
    struct log_complain complain[CG_FILE_MAX]; /* one per file: each says what failed */
    struct collector_timer timer;
};

static const struct cfg_field container_fields[] = {
    {"cgroup_root", CFG_STRING, offsetof(struct container_ctx, cgroup_root),
     CONTAINER_CGROUP_ROOT_DEFAULT, 0, 0, NULL, 0,
     "where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup/unified on hybrid hosts)"},
    {"cgroup_path", CFG_STRING, offsetof(struct container_ctx, cgroup_path), NULL, 0, 0, NULL, 0,
     "the cgroup to watch, relative to cgroup_root (default: Osprey's own, from "
     "/proc/self/cgroup)"},
    CFG_END,
};

static char *path_join(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

static int container_init(struct collector *c)
{
    struct container_ctx *x = c->ctx;
    const char *root = c->env && c->env->proc_root ? c->env->proc_root : "/proc";

    c->stats.reject_names = container_reject_names;
    for (unsigned f = 0; f < CT_FIELD_MAX; f++)
        if (collector_metric_selected(c, container_field_names[f]))
            x->selected |= BIT(f);
    for (unsigned i = 0; i < CG_FILE_MAX; i++)
        if (x->selected & container_file_fields[i])
            x->needed |= 1u << i;
    if (!x->selected)
        log_warn(c->name, "nothing to publish (no measurement is a container metric), ignoring");

    if (!x->cgroup_root || x->cgroup_root[0] != '/') {
        collector_config_error(c, "cgroup_root", "'cgroup_root' must be an absolute path");
        return -EINVAL;
    }
    if (x->cgroup_path && x->cgroup_path[0] != '/') {
        /* Relative to the mount: "docker/<id>" and "/docker/<id>" mean the same. */
        char *abs = path_join("/", x->cgroup_path, "");
        if (!abs)
            return -ENOMEM;
        free(x->cgroup_path);
        x->cgroup_path = abs;
    }
    if (x->cgroup_path && !cgroup_path_is_plain(x->cgroup_path, strlen(x->cgroup_path))) {
        collector_config_error(c, "cgroup_path",
                               "'cgroup_path' must name a cgroup below cgroup_root, without "
                               "empty, '.' or '..' components");
        return -EINVAL;
    }
    x->self_cgroup_path = path_join(root, "/self/cgroup", "");
    return x->self_cgroup_path ? 0 : -ENOMEM;
}

/* Find the cgroup to watch (configured, else our own) into *ret_path (allocated). */
static int container_resolve(struct collector *c, char **ret_path)
{
    struct container_ctx *x = c->ctx;
    if (x->cgroup_path) {
        *ret_path = strdup(x->cgroup_path);
        return *ret_path ? 0 : -ENOMEM;
    }
    int r = procfs_read_file(x->self_cgroup_path, &x->buf);
    if (r != 0) {
        log_error(c->name, "reading '%s' failed (%s)", x->self_cgroup_path, strerror(-r));
        return r;
    }
    const char *path;
    size_t len;
    r = cgroup_parse_self_cgroup(x->buf.data, x->buf.len, &path, &len);
    if (r == -ENOENT) {
        log_error(c->name,
                  "cgroup v2 required: '%s' has no cgroup v2 entry (\"0::/path\"): this host "
                  "runs cgroup v1 only",
                  x->self_cgroup_path);
        return r;
    }
    if (r != 0) {
        log_error(c->name,
                  "'%s' is malformed or names a cgroup outside our namespace; set "
                  "cgroup_path",
                  x->self_cgroup_path);
        return r;
    }
    /* The path points into the read buffer, which is not NUL-terminated. */
    *ret_path = malloc(len + 1);
    if (!*ret_path)
        return -ENOMEM;
    memcpy(*ret_path, path, len);
    (*ret_path)[len] = '\0';
    return 0;
}

static void container_scrape(struct collector *c);

static int container_start(struct collector *c, uv_loop_t *loop)
{
    struct container_ctx *x = c->ctx;
    char *cgroup = NULL, *probe = NULL;
    struct stat st;
    int r;

    /* Only a cgroup v2 hierarchy has cgroup.controllers at its root. */
    probe = path_join(x->cgroup_root, "/cgroup.controllers", "");
    if (!probe)
        return -ENOMEM;
    if (stat(probe, &st) != 0) {
        r = -errno;
        log_error(c->name,
                  "cgroup v2 required: '%s' is not a cgroup v2 hierarchy (no cgroup.controllers: "
                  "%s); on a hybrid cgroup v1/v2 host set cgroup_root to the cgroup2 mount, "
                  "e.g. /sys/fs/cgroup/unified",
                  x->cgroup_root, strerror(-r));
        goto free_probe;
    }
    r = container_resolve(c, &cgroup);
    if (r != 0)
        goto free_probe;

    const char *sub = strcmp(cgroup, "/") == 0 ? "" : cgroup;
    char *dir = path_join(x->cgroup_root, sub, "");
    if (!dir) {
        r = -ENOMEM;
        goto free_cgroup;
    }
    r = stat(dir, &st) != 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
    if (r != 0) {
        log_error(c->name, "cgroup '%s' not found at '%s' (%s)", cgroup, dir, strerror(-r));
        free(dir);
        goto free_cgroup;
    }
    for (unsigned i = 0; i < CG_FILE_MAX; i++) {
        x->paths[i] = path_join(dir, "/", container_file_names[i]);
        if (!x->paths[i]) {
            free(dir);
            r = -ENOMEM;
            goto free_cgroup;
        }
    }
    free(dir);

    char id[CGROUP_ID_MAX + 1];
    if (cgroup_container_id(cgroup, strlen(cgroup), id, sizeof(id))) {
        x->dim_name = "container_id";
        x->dim_value = strdup(id);
    } else {
        x->dim_name = "cgroup";
        x->dim_value = strdup(cgroup);
    }
    if (!x->dim_value) {
        r = -ENOMEM;
        goto free_cgroup;
    }
    if (strlen(x->dim_value) > METRIC_MAX_DIM_VALUE) {
        log_error(c->name, "cgroup path '%s' is too long for a dimension value (over %d bytes)",
                  cgroup, METRIC_MAX_DIM_VALUE);
        r = -ENAMETOOLONG;
        goto free_cgroup;
    }
    log_info(c->name, "watching cgroup '%s' (%s=%s)", cgroup, x->dim_name, x->dim_value);
    r = collector_timer_start(c, loop, &x->timer, container_scrape);
free_cgroup:
    free(cgroup);
free_probe:
    free(probe);
    return r;
}

/* ---- scraping --------------------------------------------------------------------- */

/* One scrape's values. */
struct container_values {
    double v[CT_FIELD_MAX];
    uint32_t have; /* bit per enum container_field */
};

static void put(struct container_values *vals, enum container_field f, double value)
{
    vals->v[f] = value;
    vals->have |= BIT(f);
}

static void forget_file(struct container_ctx *x, enum container_file file)
{
    switch (file) {
    case CG_CPU_STAT:
        counter_forget(&x->cpu_usage);
        counter_forget(&x->cpu_user);
        counter_forget(&x->cpu_system);
        counter_forget(&x->nr_periods);
        counter_forget(&x->nr_throttled);
        counter_forget(&x->throttled_usec);
        break;
    case CG_MEMORY_EVENTS:
        counter_forget(&x->oom);
        counter_forget(&x->oom_kill);
        break;
    case CG_IO_STAT:
        x->io_primed = false;
        x->n_io_devs = 0;
        break;
    default:
        break;
    }
}

static void file_failed(struct collector *c, enum container_file file, unsigned reject,
                        const char *what, int err)
{
    struct container_ctx *x = c->ctx;
    selfstats_add(&c->stats.records_in, 1);
    selfstats_add(&c->stats.errors, 1);
    selfstats_reject(&c->stats, DROP_MALFORMED, reject, 1);
    log_complain(&x->complain[file], LOG_LEVEL_WARN, c->name, "%s '%s' failed (%s), retrying", what,
                 x->paths[file], strerror(-err));
    forget_file(x, file);
}

/* Read one file into x->buf: true when it can be parsed. A missing file is logged once
 * and its counters forgotten; other failures are counted. */
static bool read_file(struct collector *c, enum container_file file)
{
    struct container_ctx *x = c->ctx;
    int r = procfs_read_file(x->paths[file], &x->buf);
    if (r == -ENOENT) {
        if (!(x->missing & (1u << file)))
            log_info(c->name,
                     "'%s' does not exist (controller not enabled for this cgroup, or an older "
                     "kernel): its metrics are not published",
                     x->paths[file]);
        x->missing |= 1u << file;
        forget_file(x, file);
        return false;
    }
    if (r != 0) {
        file_failed(c, file, CT_REJECT_READ_ERROR, "reading", r);
        return false;
    }
    if (x->missing & (1u << file)) {
        log_info(c->name, "'%s' exists again: its metrics are published", x->paths[file]);
        x->missing &= ~(1u << file);
    }
    selfstats_add(&c->stats.bytes_in, x->buf.len);
    return true;
}

static void note_once(struct collector *c, unsigned what, bool absent, const char *msg)
{
    struct container_ctx *x = c->ctx;
    if (absent && !(x->noted & what)) {
        log_info(c->name, "%s", msg);
        x->noted |= what;
    } else if (!absent) {
        x->noted &= ~what;
    }
}

static void scrape_cpu_stat(struct collector *c, struct container_values *vals)
{
    struct container_ctx *x = c->ctx;
    struct cgroup_cpu_stat s;
    uint64_t now = clock_monotonic_ns();
    if (cgroup_parse_cpu_stat(x->buf.data, x->buf.len, &s) != 0) {
        file_failed(c, CG_CPU_STAT, CG_CPU_STAT, "parsing", -EBADMSG);
        return;
    }
    uint64_t elapsed = now - x->cpu_read_ns, d_usage, d_user, d_system;
    bool ok_usage = counter_delta(&x->cpu_usage, s.usage_usec, &d_usage);
    bool ok_user = counter_delta(&x->cpu_user, s.user_usec, &d_user);
    bool ok_system = counter_delta(&x->cpu_system, s.system_usec, &d_system);
    x->cpu_read_ns = now;
    if (ok_usage && elapsed > 0)
        put(vals, CT_CPU_USAGE_PERCENT, cgroup_cpu_percent(d_usage, elapsed));
    if (ok_user && elapsed > 0)
        put(vals, CT_CPU_USER_PERCENT, cgroup_cpu_percent(d_user, elapsed));
    if (ok_system && elapsed > 0)
        put(vals, CT_CPU_SYSTEM_PERCENT, cgroup_cpu_percent(d_system, elapsed));

    const unsigned throttling =
        CGROUP_CPU_HAS_NR_PERIODS | CGROUP_CPU_HAS_NR_THROTTLED | CGROUP_CPU_HAS_THROTTLED_USEC;
    note_once(c, CT_NOTED_NO_THROTTLING, (s.present & throttling) != throttling,
              "cpu.stat has no throttling statistics (the cpu controller is not enabled for "
              "this cgroup): cpu_periods and cpu_throttled_* are not published");
    uint64_t d_periods = 0, d_throttled = 0, d_throttled_usec;
    bool ok_periods = false, ok_throttled = false;
    if (s.present & CGROUP_CPU_HAS_NR_PERIODS) {
        ok_periods = counter_delta(&x->nr_periods, s.nr_periods, &d_periods);
        if (ok_periods)
            put(vals, CT_CPU_PERIODS, (double)d_periods);
    } else {
        counter_forget(&x->nr_periods);
    }
    if (s.present & CGROUP_CPU_HAS_NR_THROTTLED) {
        ok_throttled = counter_delta(&x->nr_throttled, s.nr_throttled, &d_throttled);
        if (ok_throttled)
            put(vals, CT_CPU_THROTTLED_PERIODS, (double)d_throttled);
    } else {
        counter_forget(&x->nr_throttled);
    }
    if (ok_periods && ok_throttled && d_periods > 0)
        put(vals, CT_CPU_THROTTLED_PERCENT, 100.0 * (double)d_throttled / (double)d_periods);
    if (s.present & CGROUP_CPU_HAS_THROTTLED_USEC) {
        if (counter_delta(&x->throttled_usec, s.throttled_usec, &d_throttled_usec))
            put(vals, CT_CPU_THROTTLED_SECONDS, (double)d_throttled_usec / 1e6);
    } else {
        counter_forget(&x->throttled_usec);
    }
}

static void scrape_memory_events(struct collector *c, struct container_values *vals)
{
    struct container_ctx *x = c->ctx;
    struct cgroup_memory_events ev;
    uint64_t d;
    if (cgroup_parse_memory_events(x->buf.data, x->buf.len, &ev) != 0) {
        file_failed(c, CG_MEMORY_EVENTS, CG_MEMORY_EVENTS, "parsing", -EBADMSG);
        return;
    }
    if (counter_delta(&x->oom, ev.oom, &d))
        put(vals, CT_MEMORY_OOM, (double)d);
    note_once(c, CT_NOTED_NO_OOM_KILL, !(ev.present & CGROUP_MEMEV_HAS_OOM_KILL),
              "memory.events has no oom_kill (Linux before 4.13): memory_oom_kill is not "
              "published");
    if (!(ev.present & CGROUP_MEMEV_HAS_OOM_KILL))
        counter_forget(&x->oom_kill);
    else if (counter_delta(&x->oom_kill, ev.oom_kill, &d))
        put(vals, CT_MEMORY_OOM_KILL, (double)d);
}

static void scrape_io_stat(struct collector *c, struct container_values *vals)
{
    struct container_ctx *x = c->ctx;
    size_t n;
    if (cgroup_parse_io_stat(x->buf.data, x->buf.len, x->io_parsed, CGROUP_IO_DEVICES_MAX, &n) !=
        0) {
        file_failed(c, CG_IO_STAT, CG_IO_STAT, "parsing", -EBADMSG);
        return;
    }
    if (n > CGROUP_IO_DEVICES_MAX) {
        /* The devices past the limit are left out of the sums. */
        selfstats_add(&c->stats.records_in, 1);
        selfstats_add(&c->stats.errors, 1);
        selfstats_reject(&c->stats, DROP_TOO_LARGE, CT_REJECT_IO_DEVICES_OVER_LIMIT, 1);
        log_complain(&x->complain[CG_IO_STAT], LOG_LEVEL_WARN, c->name,
                     "'%s' lists %zu devices, only the first %d are summed, ignoring the rest",
                     x->paths[CG_IO_STAT], n, CGROUP_IO_DEVICES_MAX);
        n = CGROUP_IO_DEVICES_MAX;
    }
    const struct container_io_dev *prev = x->io_devs[x->io_cur];
    struct container_io_dev *cur = x->io_devs[x->io_cur ^ 1u];
    uint64_t sum[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        const struct cgroup_io_device *d = &x->io_parsed[i];
        struct container_io_dev *e = &cur[i];
        *e = (struct container_io_dev){.major = d->major, .minor = d->minor};
        for (size_t j = 0; j < x->n_io_devs; j++) {
            if (prev[j].major == d->major && prev[j].minor == d->minor) {
                *e = prev[j];
                break;
            }
        }
        uint64_t delta;
        if (counter_delta(&e->rbytes, d->rbytes, &delta))
            sum[0] += delta;
        if (counter_delta(&e->wbytes, d->wbytes, &delta))
            sum[1] += delta;
        if (counter_delta(&e->rios, d->rios, &delta))
            sum[2] += delta;
        if (counter_delta(&e->wios, d->wios, &delta))
            sum[3] += delta;
    }
    x->io_cur ^= 1u;
    x->n_io_devs = n;
    if (x->io_primed) {
        put(vals, CT_IO_READ_BYTES, (double)sum[0]);
        put(vals, CT_IO_WRITE_BYTES, (double)sum[1]);
        put(vals, CT_IO_READS, (double)sum[2]);
        put(vals, CT_IO_WRITES, (double)sum[3]);
    }
    x->io_primed = true;
}

static void scrape_file(struct collector *c, enum container_file file,
                        struct container_values *vals, uint64_t *ret_memory_current,
                        uint64_t *ret_memory_max)
{
    struct container_ctx *x = c->ctx;
    bool limited;
    uint64_t a, b;
    int r = 0;

    if (!read_file(c, file))
        return;
    switch (file) {
    case CG_CPU_STAT:
        scrape_cpu_stat(c, vals);
        return;
    case CG_MEMORY_EVENTS:
        scrape_memory_events(c, vals);
        return;
    case CG_IO_STAT:
        scrape_io_stat(c, vals);
        return;
    case CG_CPU_MAX:
        r = cgroup_parse_cpu_max(x->buf.data, x->buf.len, &limited, &a, &b);
        if (r == 0 && limited)
            put(vals, CT_CPU_LIMIT, (double)a / (double)b);
        break;
    case CG_MEMORY_CURRENT:
        r = cgroup_parse_u64(x->buf.data, x->buf.len, &a);
        if (r == 0) {
            put(vals, CT_MEMORY_CURRENT, (double)a);
            *ret_memory_current = a;
        }
        break;
    case CG_MEMORY_MAX:
        r = cgroup_parse_max(x->buf.data, x->buf.len, &limited, &a);
        if (r == 0 && limited) {
            put(vals, CT_MEMORY_MAX, (double)a);
            *ret_memory_max = a;
        }
        break;
    case CG_MEMORY_STAT: {
        struct cgroup_memory_stat ms;
        r = cgroup_parse_memory_stat(x->buf.data, x->buf.len, &ms);
        if (r == 0) {
            put(vals, CT_MEMORY_ANON, (double)ms.anon);
            put(vals, CT_MEMORY_FILE, (double)ms.file);
        }
        break;
    }
    case CG_PIDS_CURRENT:
        r = cgroup_parse_u64(x->buf.data, x->buf.len, &a);
        if (r == 0)
            put(vals, CT_PIDS_CURRENT, (double)a);
        break;
    case CG_PIDS_MAX:
        r = cgroup_parse_max(x->buf.data, x->buf.len, &limited, &a);
        if (r == 0 && limited)
            put(vals, CT_PIDS_MAX, (double)a);
        break;
    case CG_FILE_MAX:
        break;
    }
    if (r != 0)
        file_failed(c, file, file, "parsing", r);
}

/* The file was read and used this scrape: if it was being complained about, say so once. */
static void file_ok(struct collector *c, enum container_file file)
{
    struct container_ctx *x = c->ctx;
    log_complain_clear(&x->complain[file], c->name, "'%s' parses again", x->paths[file]);
}

static void container_scrape(struct collector *c)
{
    struct container_ctx *x = c->ctx;
    struct container_values vals = {.have = 0};
    uint64_t memory_current = 0, memory_max = 0;
    for (unsigned i = 0; i < CG_FILE_MAX; i++) {
        if (!(x->needed & (1u << i)))
            continue;
        uint64_t errors_before = selfstats_get(&c->stats.errors);
        scrape_file(c, (enum container_file)i, &vals, &memory_current, &memory_max);
        if (selfstats_get(&c->stats.errors) == errors_before)
            file_ok(c, (enum container_file)i);
    }
    if ((vals.have & BIT(CT_MEMORY_CURRENT)) && memory_max > 0)
        put(&vals, CT_MEMORY_USED_PERCENT, 100.0 * (double)memory_current / (double)memory_max);

    uint64_t ts_ns = clock_realtime_ns();
    uint64_t produced = 0, dropped = 0;
    for (unsigned f = 0; f < CT_FIELD_MAX; f++) {
        if (!(x->selected & vals.have & BIT(f)))
            continue;
        produced++;
        if (dropped) {
            dropped++;
            continue;
        }
        char name[METRIC_MAX_NAME + 1];
        struct metric_point p;
        collector_metric_begin(c, &p, container_field_names[f], container_field_units[f], name,
                               sizeof(name));
        p.value = vals.v[f];
        (void)metric_point_add_dim(&p, x->dim_name, x->dim_value);
        if (collector_emit_metric(c, ts_ns, 0, &p) == -ENOSPC)
            dropped++;
    }
    selfstats_add(&c->stats.records_in, produced);
    if (dropped)
        selfstats_drop(&c->stats, DROP_RING_FULL, dropped);
}

static void container_stop(struct collector *c)
{
    struct container_ctx *x = c->ctx;
    collector_timer_stop(&x->timer);
}

static void container_destroy(struct collector *c)
{
    struct container_ctx *x = c->ctx;
    if (!x)
        return;
    free(x->self_cgroup_path);
    x->self_cgroup_path = NULL;
    for (unsigned i = 0; i < CG_FILE_MAX; i++) {
        free(x->paths[i]);
        x->paths[i] = NULL;
    }
    free(x->dim_value);
    x->dim_value = NULL;
    procfs_buf_release(&x->buf);
}

const struct collector_type collector_container = {
    .name = "container",
    .help = "cgroup v2 CPU, memory, I/O and pids statistics of Osprey's own (or a configured) "
            "cgroup, for sidecar use",
    .config_path = "metrics/metrics_collected/container",
    .metric_common = true,
    .metric_fields = container_field_names,
    .kinds = RECORD_KIND_BIT(RECORD_METRIC),
    .fields = container_fields,
    .ctx_size = sizeof(struct container_ctx),
    .init = container_init,
    .start = container_start,
    .stop = container_stop,
    .destroy = container_destroy,
};
