/*
 * cpu: the CloudWatch agent's "cpu" metrics plugin (metrics/metrics_collected/cpu).
 *
 * DESIGN: a uv_timer on the collect loop rereads <proc_root>/stat into one buffer that
 * lives as long as the instance, parses it with procfs_parse_stat() into the "current"
 * of two sample sets, emits, then swaps the sets. Nothing is allocated per scrape once
 * the buffer and the per-cpu arrays have reached their size (they grow only when the
 * file or the number of CPUs does).
 *
 * What is published, per CPU selected (cpu=cpu-total when totalcpu is true, the
 * default; cpu=cpuN for every online CPU when "resources" contains "*", as the
 * CloudWatch agent's translator turns that into telegraf's percpu):
 * - cpu_time_<x> (Unit None), every scrape including the first: the cumulative
 *   counters of /proc/stat in seconds (ticks / USER_HZ), which is what the CloudWatch
 *   agent actually publishes (telegraf over gopsutil), so existing dashboards and alarms
 *   see the same numbers. Its documentation says "hundredths of a second"; the code it
 *   runs does not. time_active = total - idle (procfs.h).
 * - cpu_usage_<x> (Unit Percent): telegraf's percentages over the interval between
 *   this scrape and the previous one (formulas in procfs.h). The first scrape only
 *   primes; a CPU that appears (hotplug) is primed the same way; an interval in which
 *   no time passed, or in which the counters went back, publishes no usage_* for that
 *   CPU (telegraf does the same).
 * The "measurement" list selects fields (without it: all 22); names, renames and unit
 * overrides are applied by collector_metric_begin().
 *
 * Self-stats: records_in counts metric values produced by scrapes (one per selected
 * field and CPU), plus one per failed scrape; records_out counts the ones emitted (by the
 * emit call); the difference is in dropped[] — DROP_RING_FULL for values of a scrape
 * that met a full ring (the rest of that scrape is dropped: the next one carries fresher
 * values), DROP_MALFORMED (with errors) for a scrape whose file could not be read or
 * parsed, DROP_INVALID/DROP_TOO_LARGE as counted by the emit call.
 */
#include "collectors/collector.h"
#include "collectors/procfs.h"

#include "agent/clock.h"
#include "agent/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Seconds, as the CloudWatch agent's telegraf/gopsutil code publishes them. */
#define CPU_TIME_UNITS_PER_SEC 1.0

enum cpu_field {
    CPU_TIME_ACTIVE = 0,
    CPU_TIME_GUEST,
    CPU_TIME_GUEST_NICE,
    CPU_TIME_IDLE,
    CPU_TIME_IOWAIT,
    CPU_TIME_IRQ,
    CPU_TIME_NICE,
    CPU_TIME_SOFTIRQ,
    CPU_TIME_STEAL,
    CPU_TIME_SYSTEM,
    CPU_TIME_USER,
    CPU_USAGE_ACTIVE,
    CPU_USAGE_GUEST,
    CPU_USAGE_GUEST_NICE,
    CPU_USAGE_IDLE,
    CPU_USAGE_IOWAIT,
    CPU_USAGE_IRQ,
    CPU_USAGE_NICE,
    CPU_USAGE_SOFTIRQ,
    CPU_USAGE_STEAL,
    CPU_USAGE_SYSTEM,
    CPU_USAGE_USER,
    CPU_FIELD_MAX
};

static const char *const cpu_field_names[CPU_FIELD_MAX + 1] = {
    "time_active",  "time_guest",   "time_guest_nice", "time_idle",        "time_iowait",
    "time_irq",     "time_nice",    "time_softirq",    "time_steal",       "time_system",
    "time_user",    "usage_active", "usage_guest",     "usage_guest_nice", "usage_idle",
    "usage_iowait", "usage_irq",    "usage_nice",      "usage_softirq",    "usage_steal",
    "usage_system", "usage_user",
};

struct cpu_ctx {
    /* Bound from the configuration. */
    bool totalcpu;
    struct cfg_strings resources;
    /* Derived at init. */
    bool percpu;
    uint32_t selected; /* bit per enum cpu_field */
    double time_scale; /* published time units per tick */
    char *stat_path;
    /* Scrape state. */
    struct procfs_buf buf;
    struct procfs_cpu_sample total[2];
    struct procfs_cpu_sample *cpus[2];
    size_t n_cpus[2];
    size_t cap_cpus;
    unsigned cur; /* index of the set the next scrape fills */
    bool primed;
    struct log_complain complain;
    struct collector_timer timer;
};

static const struct cfg_field cpu_fields[] = {
    {"totalcpu", CFG_BOOL, offsetof(struct cpu_ctx, totalcpu), "true", 0, 0, NULL, 0,
     "publish the cpu=cpu-total series"},
    {"resources", CFG_STRING_ARRAY, offsetof(struct cpu_ctx, resources), NULL, 0, 0, NULL, 0,
     "[\"*\"] also publishes one series per CPU (cpu=cpu0, cpu1, ...)"},
    CFG_END,
};

/* One scrape's emission state. */
struct cpu_emit {
    uint64_t ts_ns;
    uint64_t produced;
    uint64_t dropped;
    bool ring_full;
};

static int cpu_init(struct collector *c)
{
    struct cpu_ctx *x = c->ctx;
    const char *root = c->env && c->env->proc_root ? c->env->proc_root : "/proc";

    for (size_t i = 0; i < x->resources.n; i++)
        if (strcmp(x->resources.v[i], "*") == 0)
            x->percpu = true;
    for (unsigned f = 0; f < CPU_FIELD_MAX; f++)
        if (collector_metric_selected(c, cpu_field_names[f]))
            x->selected |= 1u << f;
    if (!x->selected || (!x->totalcpu && !x->percpu))
        log_warn(c->name, "nothing to publish (totalcpu is false, resources has no \"*\", or "
                          "no measurement is a cpu metric), ignoring");

    long hz = sysconf(_SC_CLK_TCK);
    x->time_scale = CPU_TIME_UNITS_PER_SEC / (double)(hz > 0 ? hz : 100);

    size_t n = strlen(root) + sizeof("/stat");
    x->stat_path = malloc(n);
    if (!x->stat_path)
        return -ENOMEM;
    snprintf(x->stat_path, n, "%s/stat", root);
    return 0;
}

static void cpu_emit_value(struct collector *c, struct cpu_emit *e, enum cpu_field f,
                           const char *cpu_name, double value)
{
    char name[METRIC_MAX_NAME + 1];
    struct metric_point p;

    e->produced++;
    if (e->ring_full) {
        e->dropped++;
        return;
    }
    collector_metric_begin(c, &p, cpu_field_names[f],
                           f >= CPU_USAGE_ACTIVE ? METRIC_UNIT_PERCENT : METRIC_UNIT_NONE, name,
                           sizeof(name));
    p.value = value;
    (void)metric_point_add_dim(&p, "cpu", cpu_name);
    if (collector_emit_metric(c, e->ts_ns, 0, &p) == -ENOSPC) {
        e->ring_full = true;
        e->dropped++;
    }
}

static void cpu_emit_sample(struct collector *c, struct cpu_emit *e, const char *cpu_name,
                            const struct procfs_cpu_sample *cur,
                            const struct procfs_cpu_sample *prev)
{
    struct cpu_ctx *x = c->ctx;
    const struct procfs_cpu_times *t = &cur->t;
    const double s = x->time_scale;
    const double times[CPU_USAGE_ACTIVE] = {
        [CPU_TIME_ACTIVE] = (double)procfs_cpu_active_ticks(t) * s,
        [CPU_TIME_GUEST] = (double)t->guest * s,
        [CPU_TIME_GUEST_NICE] = (double)t->guest_nice * s,
        [CPU_TIME_IDLE] = (double)t->idle * s,
        [CPU_TIME_IOWAIT] = (double)t->iowait * s,
        [CPU_TIME_IRQ] = (double)t->irq * s,
        [CPU_TIME_NICE] = (double)t->nice * s,
        [CPU_TIME_SOFTIRQ] = (double)t->softirq * s,
        [CPU_TIME_STEAL] = (double)t->steal * s,
        [CPU_TIME_SYSTEM] = (double)t->system * s,
        [CPU_TIME_USER] = (double)t->user * s,
    };
    for (unsigned f = CPU_TIME_ACTIVE; f < CPU_USAGE_ACTIVE; f++)
        if (x->selected & (1u << f))
            cpu_emit_value(c, e, f, cpu_name, times[f]);

    struct procfs_cpu_usage u;
    if (!prev || procfs_cpu_usage(&prev->t, t, &u) != 0)
        return;
    const double usage[CPU_FIELD_MAX] = {
        [CPU_USAGE_ACTIVE] = u.active,
        [CPU_USAGE_GUEST] = u.guest,
        [CPU_USAGE_GUEST_NICE] = u.guest_nice,
        [CPU_USAGE_IDLE] = u.idle,
        [CPU_USAGE_IOWAIT] = u.iowait,
        [CPU_USAGE_IRQ] = u.irq,
        [CPU_USAGE_NICE] = u.nice,
        [CPU_USAGE_SOFTIRQ] = u.softirq,
        [CPU_USAGE_STEAL] = u.steal,
        [CPU_USAGE_SYSTEM] = u.system,
        [CPU_USAGE_USER] = u.user,
    };
    for (unsigned f = CPU_USAGE_ACTIVE; f < CPU_FIELD_MAX; f++)
        if (x->selected & (1u << f))
            cpu_emit_value(c, e, f, cpu_name, usage[f]);
}

/* Make both sample sets hold at least n per-cpu entries, keeping their contents. */
static int cpu_reserve(struct cpu_ctx *x, size_t n)
{
    if (n <= x->cap_cpus)
        return 0;
    for (unsigned i = 0; i < 2; i++) {
        struct procfs_cpu_sample *grown = realloc(x->cpus[i], n * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        x->cpus[i] = grown;
    }
    x->cap_cpus = n;
    return 0;
}

static void cpu_scrape_failed(struct collector *c, const char *what, int err)
{
    struct cpu_ctx *x = c->ctx;
    selfstats_add(&c->stats.records_in, 1);
    selfstats_add(&c->stats.errors, 1);
    selfstats_drop(&c->stats, DROP_MALFORMED, 1);
    log_complain(&x->complain, LOG_LEVEL_WARN, c->name, "%s '%s' failed (%s), retrying", what,
                 x->stat_path, strerror(-err));
}

static void cpu_scrape(struct collector *c)
{
    struct cpu_ctx *x = c->ctx;
    const unsigned cur = x->cur, prev = cur ^ 1u;
    size_t n = 0;

    int r = procfs_read_file(x->stat_path, &x->buf);
    if (r != 0) {
        cpu_scrape_failed(c, "reading", r);
        return;
    }
    selfstats_add(&c->stats.bytes_in, x->buf.len);
    size_t cap = x->percpu ? x->cap_cpus : 0;
    r = procfs_parse_stat(x->buf.data, x->buf.len, &x->total[cur], x->cpus[cur], cap, &n);
    if (r == 0 && x->percpu && n > cap) {
        r = cpu_reserve(x, n);
        if (r == 0)
            r = procfs_parse_stat(x->buf.data, x->buf.len, &x->total[cur], x->cpus[cur],
                                  x->cap_cpus, &n);
    }
    if (r != 0) {
        cpu_scrape_failed(c, r == -ENOMEM ? "growing buffers for" : "parsing", r);
        return;
    }
    log_complain_clear(&x->complain, c->name, "'%s' is readable again", x->stat_path);
    x->n_cpus[cur] = x->percpu ? (n < x->cap_cpus ? n : x->cap_cpus) : 0;

    struct cpu_emit e = {.ts_ns = clock_realtime_ns()};
    if (x->totalcpu)
        cpu_emit_sample(c, &e, "cpu-total", &x->total[cur], x->primed ? &x->total[prev] : NULL);
    size_t j = 0;
    for (size_t i = 0; i < x->n_cpus[cur]; i++) {
        const struct procfs_cpu_sample *s = &x->cpus[cur][i];
        const struct procfs_cpu_sample *before = NULL;
        /* Both sets are sorted by id: advance through the previous one. */
        while (x->primed && j < x->n_cpus[prev] && x->cpus[prev][j].cpu < s->cpu)
            j++;
        if (x->primed && j < x->n_cpus[prev] && x->cpus[prev][j].cpu == s->cpu)
            before = &x->cpus[prev][j];
        char cpu_name[24];
        snprintf(cpu_name, sizeof(cpu_name), "cpu%d", (int)s->cpu);
        cpu_emit_sample(c, &e, cpu_name, s, before);
    }
    selfstats_add(&c->stats.records_in, e.produced);
    if (e.dropped)
        selfstats_drop(&c->stats, DROP_RING_FULL, e.dropped);
    x->cur = prev;
    x->primed = true;
}

static int cpu_start(struct collector *c, uv_loop_t *loop)
{
    struct cpu_ctx *x = c->ctx;
    return collector_timer_start(c, loop, &x->timer, cpu_scrape);
}

static void cpu_stop(struct collector *c)
{
    struct cpu_ctx *x = c->ctx;
    collector_timer_stop(&x->timer);
}

static void cpu_destroy(struct collector *c)
{
    struct cpu_ctx *x = c->ctx;
    if (!x)
        return;
    free(x->stat_path);
    x->stat_path = NULL;
    procfs_buf_release(&x->buf);
    for (unsigned i = 0; i < 2; i++) {
        free(x->cpus[i]);
        x->cpus[i] = NULL;
    }
    x->cap_cpus = 0;
}

const struct collector_type collector_cpu = {
    .name = "cpu",
    .help = "CPU time and utilisation from /proc/stat (CloudWatch agent cpu_* metrics)",
    .config_path = "metrics/metrics_collected/cpu",
    .metric_common = true,
    .metric_fields = cpu_field_names,
    .kinds = RECORD_KIND_BIT(RECORD_METRIC),
    .fields = cpu_fields,
    .ctx_size = sizeof(struct cpu_ctx),
    .init = cpu_init,
    .start = cpu_start,
    .stop = cpu_stop,
    .destroy = cpu_destroy,
};
