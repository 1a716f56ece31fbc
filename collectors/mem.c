/*
 * mem: the CloudWatch agent's "mem" metrics plugin (metrics/metrics_collected/mem).
 *
 * DESIGN: a uv_timer on the collect loop rereads <proc_root>/meminfo into one buffer
 * kept for the instance's lifetime (no allocation per scrape once it has its size),
 * parses it with procfs_parse_meminfo(), derives the published values with
 * procfs_mem_compute() (gopsutil/telegraf definitions, quoted in procfs.h) and emits one
 * metric per selected field, with no dimension of its own (host and append_dimensions
 * only, as the CloudWatch agent does).
 *
 * Published (names mem_<field>): active, available, buffered, cached, free, inactive,
 * total, used (Unit Bytes); available_percent, used_percent (Unit Percent) — the ten the
 * CloudWatch agent documents. Without a "measurement" list all ten are published. Also
 * accepted, but only when listed: shared (Shmem, Bytes), which telegraf's mem input
 * produces and the CloudWatch agent passes through when asked for it, but does not
 * document.
 *
 * Self-stats, as in cpu.c: records_in counts values produced (one per selected field per
 * scrape) plus one per failed scrape; records_out the ones emitted; dropped[] the rest
 * (DROP_RING_FULL for the remainder of a scrape that met a full ring, DROP_MALFORMED with
 * errors for a scrape whose file could not be read or parsed).
 */
#include "collectors/collector.h"
#include "collectors/procfs.h"

#include "agent/clock.h"
#include "agent/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum mem_field {
    MEM_ACTIVE = 0,
    MEM_AVAILABLE,
    MEM_AVAILABLE_PERCENT,
    MEM_BUFFERED,
    MEM_CACHED,
    MEM_FREE,
    MEM_INACTIVE,
    MEM_TOTAL,
    MEM_USED,
    MEM_USED_PERCENT,
    MEM_SHARED, /* opt-in: only when the measurement list names it */
    MEM_FIELD_MAX
};

static const char *const mem_field_names[MEM_FIELD_MAX + 1] = {
    "active", "available", "available_percent", "buffered", "cached", "free", "inactive",
    "total",  "used",      "used_percent",      "shared",
};

struct mem_ctx {
    uint32_t selected; /* bit per enum mem_field */
    char *meminfo_path;
    struct procfs_buf buf;
    struct log_complain complain;
    struct collector_timer timer;
};

static const struct cfg_field mem_fields[] = {
    CFG_END,
};

static int mem_init(struct collector *c)
{
    struct mem_ctx *x = c->ctx;
    const char *root = c->env && c->env->proc_root ? c->env->proc_root : "/proc";

    for (unsigned f = 0; f < MEM_FIELD_MAX; f++) {
        bool listed = c->metric.measurement_json != NULL;
        if ((listed || f != MEM_SHARED) && collector_metric_selected(c, mem_field_names[f]))
            x->selected |= 1u << f;
    }
    if (!x->selected)
        log_warn(c->name, "nothing to publish (no measurement is a mem metric), ignoring");

    size_t n = strlen(root) + sizeof("/meminfo");
    x->meminfo_path = malloc(n);
    if (!x->meminfo_path)
        return -ENOMEM;
    snprintf(x->meminfo_path, n, "%s/meminfo", root);
    return 0;
}

static void mem_scrape_failed(struct collector *c, const char *what, int err)
{
    struct mem_ctx *x = c->ctx;
    selfstats_add(&c->stats.records_in, 1);
    selfstats_add(&c->stats.errors, 1);
    selfstats_drop(&c->stats, DROP_MALFORMED, 1);
    log_complain(&x->complain, LOG_LEVEL_WARN, c->name, "%s '%s' failed (%s), retrying", what,
                 x->meminfo_path, strerror(-err));
}

static void mem_scrape(struct collector *c)
{
    struct mem_ctx *x = c->ctx;
    struct procfs_meminfo mi;
    struct procfs_mem_stats m;

    int r = procfs_read_file(x->meminfo_path, &x->buf);
    if (r != 0) {
        mem_scrape_failed(c, "reading", r);
        return;
    }
    selfstats_add(&c->stats.bytes_in, x->buf.len);
    r = procfs_parse_meminfo(x->buf.data, x->buf.len, &mi);
    if (r == 0)
        r = procfs_mem_compute(&mi, &m);
    if (r != 0) {
        mem_scrape_failed(c, "parsing", -EBADMSG);
        return;
    }
    log_complain_clear(&x->complain, c->name, "'%s' is readable again", x->meminfo_path);

    const double values[MEM_FIELD_MAX] = {
        [MEM_ACTIVE] = (double)m.active,
        [MEM_AVAILABLE] = (double)m.available,
        [MEM_AVAILABLE_PERCENT] = m.available_percent,
        [MEM_BUFFERED] = (double)m.buffered,
        [MEM_CACHED] = (double)m.cached,
        [MEM_FREE] = (double)m.free,
        [MEM_INACTIVE] = (double)m.inactive,
        [MEM_TOTAL] = (double)m.total,
        [MEM_USED] = (double)m.used,
        [MEM_USED_PERCENT] = m.used_percent,
        [MEM_SHARED] = (double)m.shared,
    };
    uint64_t ts_ns = clock_realtime_ns();
    uint64_t produced = 0, dropped = 0;
    for (unsigned f = 0; f < MEM_FIELD_MAX; f++) {
        if (!(x->selected & (1u << f)))
            continue;
        produced++;
        if (dropped) {
            dropped++;
            continue;
        }
        char name[METRIC_MAX_NAME + 1];
        struct metric_point p;
        bool percent = f == MEM_AVAILABLE_PERCENT || f == MEM_USED_PERCENT;
        collector_metric_begin(c, &p, mem_field_names[f],
                               percent ? METRIC_UNIT_PERCENT : METRIC_UNIT_BYTES, name,
                               sizeof(name));
        p.value = values[f];
        if (collector_emit_metric(c, ts_ns, 0, &p) == -ENOSPC)
            dropped++;
    }
    selfstats_add(&c->stats.records_in, produced);
    if (dropped)
        selfstats_drop(&c->stats, DROP_RING_FULL, dropped);
}

static int mem_start(struct collector *c, uv_loop_t *loop)
{
    struct mem_ctx *x = c->ctx;
    return collector_timer_start(c, loop, &x->timer, mem_scrape);
}

static void mem_stop(struct collector *c)
{
    struct mem_ctx *x = c->ctx;
    collector_timer_stop(&x->timer);
}

static void mem_destroy(struct collector *c)
{
    struct mem_ctx *x = c->ctx;
    if (!x)
        return;
    free(x->meminfo_path);
    x->meminfo_path = NULL;
    procfs_buf_release(&x->buf);
}

const struct collector_type collector_mem = {
    .name = "mem",
    .help = "memory use from /proc/meminfo (CloudWatch agent mem_* metrics)",
    .config_path = "metrics/metrics_collected/mem",
    .metric_common = true,
    .metric_fields = mem_field_names,
    .kinds = RECORD_KIND_BIT(RECORD_METRIC),
    .fields = mem_fields,
    .ctx_size = sizeof(struct mem_ctx),
    .init = mem_init,
    .start = mem_start,
    .stop = mem_stop,
    .destroy = mem_destroy,
};
