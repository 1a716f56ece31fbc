/*
 * swap: the CloudWatch agent's "swap" metrics plugin (metrics/metrics_collected/swap).
 *
 * DESIGN: a uv_timer on the collect loop rereads <proc_root>/meminfo (and
 * <proc_root>/vmstat, only when swap_in/swap_out are asked for) into buffers kept for
 * the instance's lifetime, parses them with procfs_parse_swap() and
 * procfs_parse_vmstat_swap(), derives the values with procfs_swap_compute() (gopsutil's
 * definitions, quoted in procfs_disk.h) and emits one metric per selected field, with no
 * dimension of its own (host and append_dimensions only, as the CloudWatch agent does).
 *
 * Published (names swap_<field>): free, used (Unit Bytes), used_percent (Unit Percent)
 * — the three the CloudWatch agent documents, and all that is published without a
 * "measurement" list. Also accepted, but only when listed, because telegraf's swap input
 * produces them and the agent passes them through when asked: total (Bytes), in and out
 * (Bytes swapped in/out since boot: pswpin/pswpout times the page size; cumulative, as
 * the agent publishes them — it applies deltas to diskio and net only). A host with no
 * swap publishes free = used = 0 and used_percent = 0, as the agent does.
 *
 * Self-stats, as in mem.c: records_in counts values produced plus one per failed
 * scrape; DROP_RING_FULL for the rest of a scrape that met a full ring; DROP_MALFORMED
 * (with errors) for a scrape that could not read or parse meminfo, or, for in/out only,
 * vmstat (fine reasons below).
 */
#include "collectors/collector.h"
#include "collectors/procfs.h"
#include "collectors/procfs_disk.h"

#include "agent/clock.h"
#include "agent/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum swap_field {
    SWAP_FREE = 0,
    SWAP_USED,
    SWAP_USED_PERCENT,
    SWAP_TOTAL, /* opt-in from here: only when the measurement list names them */
    SWAP_IN,
    SWAP_OUT,
    SWAP_FIELD_MAX
};

#define SWAP_FIRST_OPT_IN SWAP_TOTAL

static const char *const swap_field_names[SWAP_FIELD_MAX + 1] = {
    "free", "used", "used_percent", "total", "in", "out",
};

enum swap_reject {
    SWAP_REJECT_MEMINFO_UNREADABLE = 0,
    SWAP_REJECT_MEMINFO_MALFORMED,
    SWAP_REJECT_VMSTAT_UNREADABLE,
    SWAP_REJECT_VMSTAT_MALFORMED,
    SWAP_REJECT_MAX
};

static const char *const swap_reject_names[SWAP_REJECT_MAX + 1] = {
    "meminfo_unreadable",
    "meminfo_malformed",
    "vmstat_unreadable",
    "vmstat_malformed",
};

struct swap_ctx {
    uint32_t selected; /* bit per enum swap_field */
    uint64_t page_bytes;
    char *meminfo_path;
    char *vmstat_path;
    struct procfs_buf meminfo;
    struct procfs_buf vmstat;
    struct log_complain complain;
    struct collector_timer timer;
};

static const struct cfg_field swap_fields[] = {
    CFG_END,
};

static char *path_join(const char *root, const char *file)
{
    size_t n = strlen(root) + 1 + strlen(file) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", root, file);
    return p;
}

static int swap_init(struct collector *c)
{
    struct swap_ctx *x = c->ctx;
    const char *root = c->env && c->env->proc_root ? c->env->proc_root : "/proc";

    c->stats.reject_names = swap_reject_names;
    for (unsigned f = 0; f < SWAP_FIELD_MAX; f++) {
        bool listed = c->metric.measurement_json != NULL;
        if ((listed || f < SWAP_FIRST_OPT_IN) && collector_metric_selected(c, swap_field_names[f]))
            x->selected |= 1u << f;
    }
    if (!x->selected)
        log_warn(c->name, "nothing to publish (no measurement is a swap metric), ignoring");

    long page = sysconf(_SC_PAGESIZE);
    x->page_bytes = page > 0 ? (uint64_t)page : 4096;
    x->meminfo_path = path_join(root, "meminfo");
    x->vmstat_path = path_join(root, "vmstat");
    if (!x->meminfo_path || !x->vmstat_path)
        return -ENOMEM;
    return 0;
}

static void swap_failed(struct collector *c, enum swap_reject why, const char *path, int err)
{
    struct swap_ctx *x = c->ctx;
    selfstats_add(&c->stats.records_in, 1);
    selfstats_add(&c->stats.errors, 1);
    selfstats_reject(&c->stats, DROP_MALFORMED, why, 1);
    log_complain(&x->complain, LOG_LEVEL_WARN, c->name, "%s '%s' failed (%s), retrying",
                 err == -EBADMSG ? "parsing" : "reading", path, strerror(-err));
}

/* in/out, when selected: 0 with the pages, or the failure already counted. */
static int swap_read_vmstat(struct collector *c, struct procfs_vmstat_swap *vm)
{
    struct swap_ctx *x = c->ctx;
    int r = procfs_read_file(x->vmstat_path, &x->vmstat);
    if (r != 0) {
        swap_failed(c, SWAP_REJECT_VMSTAT_UNREADABLE, x->vmstat_path, r);
        return r;
    }
    selfstats_add(&c->stats.bytes_in, x->vmstat.len);
    r = procfs_parse_vmstat_swap(x->vmstat.data, x->vmstat.len, vm);
    if (r == 0 && !vm->present)
        r = -EBADMSG;
    if (r != 0)
        swap_failed(c, SWAP_REJECT_VMSTAT_MALFORMED, x->vmstat_path, -EBADMSG);
    return r;
}

static void swap_scrape(struct collector *c)
{
    struct swap_ctx *x = c->ctx;
    struct procfs_swap sw;
    struct procfs_swap_stats s;
    struct procfs_vmstat_swap vm = {0};
    uint32_t selected = x->selected;

    int r = procfs_read_file(x->meminfo_path, &x->meminfo);
    if (r != 0) {
        swap_failed(c, SWAP_REJECT_MEMINFO_UNREADABLE, x->meminfo_path, r);
        return;
    }
    selfstats_add(&c->stats.bytes_in, x->meminfo.len);
    if (procfs_parse_swap(x->meminfo.data, x->meminfo.len, &sw) != 0) {
        swap_failed(c, SWAP_REJECT_MEMINFO_MALFORMED, x->meminfo_path, -EBADMSG);
        return;
    }
    const uint32_t vm_bits = (1u << SWAP_IN) | (1u << SWAP_OUT);
    if ((selected & vm_bits) && swap_read_vmstat(c, &vm) != 0)
        selected &= ~vm_bits; /* counted; the meminfo values still go out */
    else
        log_complain_clear(&x->complain, c->name, "swap statistics are readable again");
    procfs_swap_compute(&sw, &s);

    const double values[SWAP_FIELD_MAX] = {
        [SWAP_FREE] = (double)s.free,
        [SWAP_USED] = (double)s.used,
        [SWAP_USED_PERCENT] = s.used_percent,
        [SWAP_TOTAL] = (double)s.total,
        [SWAP_IN] = (double)vm.pswpin * (double)x->page_bytes,
        [SWAP_OUT] = (double)vm.pswpout * (double)x->page_bytes,
    };
    uint64_t ts_ns = clock_realtime_ns();
    uint64_t produced = 0, dropped = 0;
    for (unsigned f = 0; f < SWAP_FIELD_MAX; f++) {
        if (!(selected & (1u << f)))
            continue;
        produced++;
        if (dropped) {
            dropped++;
            continue;
        }
        char name[METRIC_MAX_NAME + 1];
        struct metric_point p;
        collector_metric_begin(c, &p, swap_field_names[f],
                               f == SWAP_USED_PERCENT ? METRIC_UNIT_PERCENT : METRIC_UNIT_BYTES,
                               name, sizeof(name));
        p.value = values[f];
        if (collector_emit_metric(c, ts_ns, 0, &p) == -ENOSPC)
            dropped++;
    }
    selfstats_add(&c->stats.records_in, produced);
    if (dropped)
        selfstats_drop(&c->stats, DROP_RING_FULL, dropped);
}

static int swap_start(struct collector *c, uv_loop_t *loop)
{
    struct swap_ctx *x = c->ctx;
    return collector_timer_start(c, loop, &x->timer, swap_scrape);
}

static void swap_stop(struct collector *c)
{
    struct swap_ctx *x = c->ctx;
    collector_timer_stop(&x->timer);
}

static void swap_destroy(struct collector *c)
{
    struct swap_ctx *x = c->ctx;
    if (!x)
        return;
    free(x->meminfo_path);
    x->meminfo_path = NULL;
    free(x->vmstat_path);
    x->vmstat_path = NULL;
    procfs_buf_release(&x->meminfo);
    procfs_buf_release(&x->vmstat);
}

const struct collector_type collector_swap = {
    .name = "swap",
    .help = "swap space from /proc/meminfo and /proc/vmstat (CloudWatch agent swap_* metrics)",
    .config_path = "metrics/metrics_collected/swap",
    .metric_common = true,
    .metric_fields = swap_field_names,
    .kinds = RECORD_KIND_BIT(RECORD_METRIC),
    .fields = swap_fields,
    .ctx_size = sizeof(struct swap_ctx),
    .init = swap_init,
    .start = swap_start,
    .stop = swap_stop,
    .destroy = swap_destroy,
};
