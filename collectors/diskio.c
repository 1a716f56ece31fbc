/*
 * diskio: the CloudWatch agent's "diskio" metrics plugin
 * (metrics/metrics_collected/diskio).
 *
 * DESIGN: a uv_timer on the collect loop rereads <proc_root>/diskstats into a buffer kept
 * for the instance's lifetime and walks it with procfs_diskstats_next() (kernels print
 * 14, 18 or 20 columns; all three are read). Each device selected by "resources" has an
 * entry in a table kept between scrapes, holding one struct counter (counter.h) per
 * cumulative field; the table grows only when a device appears for the first time, so a
 * steady host allocates nothing per scrape. The table holds at most DISKIO_DEVICES_MAX
 * devices; past that, a device whose entry went stale (not seen last scrape) is
 * replaced, and a new device finding none is counted as "too_many_devices".
 *
 * What is published per device (dimension name=<device>, plus host and
 * append_dimensions), with the CloudWatch agent's names and units:
 *   diskio_reads, diskio_writes (Count), diskio_read_bytes, diskio_write_bytes (Bytes,
 *   sectors * 512), diskio_read_time, diskio_write_time, diskio_io_time (Milliseconds):
 *   the increase since the previous scrape, as the agent publishes them (its
 *   report_deltas, on by default). The first scrape after start, the first after a
 *   device (re)appears and a scrape in which any of the device's counters went back
 *   (device re-created, 32-bit wrap) publish none of these for that device: they would
 *   be spikes, not traffic.
 *   diskio_iops_in_progress (Count): a gauge, published every scrape including the
 *   first (the agent exempts it from deltas).
 * Also accepted, but only when listed in "measurement", as telegraf produces them:
 *   weighted_io_time (Milliseconds), merged_reads, merged_writes (Count), deltas too.
 * With "report_deltas": false every field is the kernel's cumulative value, published
 * from the first scrape, as the agent does.
 *
 * "resources": device names or shell globs ("nvme*", "xvd?"), absent or "*" for all.
 * Other telegraf diskio options (device_tags, name_templates, skip_serial_number) are
 * not keys of the agent's diskio section and are rejected as unknown keys.
 *
 * Self-stats: records_in counts values produced plus one per bad line or failed read;
 * DROP_RING_FULL for the rest of a scrape that met a full ring; DROP_MALFORMED with the
 * fine reasons below (a bad line costs only itself; the rest of the file is used).
 */
#include "collectors/collector.h"
#include "collectors/counter.h"
#include "collectors/procfs.h"
#include "collectors/procfs_disk.h"

#include "agent/clock.h"
#include "agent/log.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DISKIO_DEVICES_MAX 4096

enum diskio_field {
    /* Cumulative counters (deltas). */
    DISKIO_IO_TIME = 0,
    DISKIO_READS,
    DISKIO_READ_BYTES,
    DISKIO_READ_TIME,
    DISKIO_WRITES,
    DISKIO_WRITE_BYTES,
    DISKIO_WRITE_TIME,
    DISKIO_WEIGHTED_IO_TIME, /* opt-in from here to DISKIO_MERGED_WRITES */
    DISKIO_MERGED_READS,
    DISKIO_MERGED_WRITES,
    DISKIO_N_COUNTERS,
    /* Gauge. */
    DISKIO_IOPS_IN_PROGRESS = DISKIO_N_COUNTERS,
    DISKIO_FIELD_MAX
};

static const char *const diskio_field_names[DISKIO_FIELD_MAX + 1] = {
    "io_time",      "reads",         "read_bytes",       "read_time",
    "writes",       "write_bytes",   "write_time",       "weighted_io_time",
    "merged_reads", "merged_writes", "iops_in_progress",
};

static bool diskio_opt_in(unsigned f)
{
    return f >= DISKIO_WEIGHTED_IO_TIME && f <= DISKIO_MERGED_WRITES;
}

static enum metric_unit diskio_unit(unsigned f)
{
    switch (f) {
    case DISKIO_READ_BYTES:
    case DISKIO_WRITE_BYTES:
        return METRIC_UNIT_BYTES;
    case DISKIO_IO_TIME:
    case DISKIO_READ_TIME:
    case DISKIO_WRITE_TIME:
    case DISKIO_WEIGHTED_IO_TIME:
        return METRIC_UNIT_MILLISECONDS;
    default:
        return METRIC_UNIT_COUNT;
    }
}

enum diskio_reject {
    DISKIO_REJECT_UNREADABLE = 0,
    DISKIO_REJECT_LINE_MALFORMED,
    DISKIO_REJECT_LINE_SHORT, /* < 14 columns: pre-2.6.25 partition lines */
    DISKIO_REJECT_NAME_TOO_LONG,
    DISKIO_REJECT_DUPLICATE_DEVICE,
    DISKIO_REJECT_TOO_MANY_DEVICES,
    DISKIO_REJECT_MAX
};

static const char *const diskio_reject_names[DISKIO_REJECT_MAX + 1] = {
    "diskstats_unreadable", "line_malformed",   "line_short",
    "name_too_long",        "duplicate_device", "too_many_devices",
};

struct diskio_dev {
    char name[PROCFS_DISK_NAME_MAX + 1];
    uint64_t seen_scrape; /* scrape number it was last seen in; 0 = never */
    struct counter ctr[DISKIO_N_COUNTERS];
};

struct diskio_ctx {
    /* Bound from the configuration. */
    struct cfg_strings resources;
    bool report_deltas;
    /* Derived at init. */
    bool all_devices;
    uint32_t selected; /* bit per enum diskio_field */
    char *diskstats_path;
    /* Scrape state. */
    struct procfs_buf buf;
    struct diskio_dev *devs;
    size_t n_devs, cap_devs;
    size_t hint; /* where the next lookup starts: devices come in file order */
    uint64_t scrape;
    struct log_complain complain;
    struct collector_timer timer;
};

static const struct cfg_field diskio_fields[] = {
    {"resources", CFG_STRING_ARRAY, offsetof(struct diskio_ctx, resources), NULL, 0, 0, NULL, 0,
     "device names or globs (\"nvme0n1\", \"xvd*\"); [\"*\"] or absent: every device"},
    {"report_deltas", CFG_BOOL, offsetof(struct diskio_ctx, report_deltas), "true", 0, 0, NULL, 0,
     "publish the increase per interval (true) or the kernel's cumulative counters (false)"},
    CFG_END,
};

static int diskio_init(struct collector *c)
{
    struct diskio_ctx *x = c->ctx;
    const char *root = c->env && c->env->proc_root ? c->env->proc_root : "/proc";

    c->stats.reject_names = diskio_reject_names;
    x->all_devices = x->resources.n == 0;
    for (size_t i = 0; i < x->resources.n; i++)
        if (strcmp(x->resources.v[i], "*") == 0)
            x->all_devices = true;
    for (unsigned f = 0; f < DISKIO_FIELD_MAX; f++) {
        bool listed = c->metric.measurement_json != NULL;
        if ((listed || !diskio_opt_in(f)) && collector_metric_selected(c, diskio_field_names[f]))
            x->selected |= 1u << f;
    }
    if (!x->selected)
        log_warn(c->name, "nothing to publish (no measurement is a diskio metric), ignoring");

    size_t n = strlen(root) + sizeof("/diskstats");
    x->diskstats_path = malloc(n);
    if (!x->diskstats_path)
        return -ENOMEM;
    snprintf(x->diskstats_path, n, "%s/diskstats", root);
    return 0;
}

static bool diskio_wanted(const struct diskio_ctx *x, const char *name)
{
    if (x->all_devices)
        return true;
    for (size_t i = 0; i < x->resources.n; i++)
        if (fnmatch(x->resources.v[i], name, 0) == 0)
            return true;
    return false;
}

/* The device's entry, a new one, or NULL when the table is full of live devices. */
static struct diskio_dev *diskio_lookup(struct diskio_ctx *x, const char *name)
{
    for (size_t k = 0; k < x->n_devs; k++) {
        size_t i = (x->hint + k) % x->n_devs;
        if (strcmp(x->devs[i].name, name) == 0) {
            x->hint = i + 1 < x->n_devs ? i + 1 : 0;
            return &x->devs[i];
        }
    }
    struct diskio_dev *d = NULL;
    if (x->n_devs < x->cap_devs) {
        d = &x->devs[x->n_devs++];
    } else if (x->n_devs < DISKIO_DEVICES_MAX) {
        size_t cap = x->cap_devs ? x->cap_devs * 2 : 16;
        if (cap > DISKIO_DEVICES_MAX)
            cap = DISKIO_DEVICES_MAX;
        struct diskio_dev *grown = realloc(x->devs, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        x->devs = grown;
        x->cap_devs = cap;
        d = &x->devs[x->n_devs++];
    } else {
        /* Full: reuse the entry of a device that was not in the previous scrape. */
        for (size_t i = 0; i < x->n_devs && !d; i++)
            if (x->devs[i].seen_scrape + 1 < x->scrape)
                d = &x->devs[i];
        if (!d)
            return NULL;
    }
    memset(d, 0, sizeof(*d));
    snprintf(d->name, sizeof(d->name), "%s", name);
    return d;
}

struct diskio_emit {
    uint64_t ts_ns;
    uint64_t produced;
    uint64_t dropped;
    bool ring_full;
};

static void diskio_emit_value(struct collector *c, struct diskio_emit *e, unsigned f,
                              const char *dev, double value)
{
    char name[METRIC_MAX_NAME + 1];
    struct metric_point p;

    e->produced++;
    if (e->ring_full) {
        e->dropped++;
        return;
    }
    collector_metric_begin(c, &p, diskio_field_names[f], diskio_unit(f), name, sizeof(name));
    p.value = value;
    (void)metric_point_add_dim(&p, "name", dev);
    if (collector_emit_metric(c, e->ts_ns, 0, &p) == -ENOSPC) {
        e->ring_full = true;
        e->dropped++;
    }
}

static void diskio_device(struct collector *c, struct diskio_emit *e, struct diskio_dev *d,
                          const struct procfs_diskstat *s)
{
    struct diskio_ctx *x = c->ctx;
    const uint64_t now[DISKIO_N_COUNTERS] = {
        [DISKIO_IO_TIME] = s->io_ms,
        [DISKIO_READS] = s->reads,
        [DISKIO_READ_BYTES] = s->read_sectors * PROCFS_SECTOR_BYTES,
        [DISKIO_READ_TIME] = s->read_ms,
        [DISKIO_WRITES] = s->writes,
        [DISKIO_WRITE_BYTES] = s->write_sectors * PROCFS_SECTOR_BYTES,
        [DISKIO_WRITE_TIME] = s->write_ms,
        [DISKIO_WEIGHTED_IO_TIME] = s->weighted_io_ms,
        [DISKIO_MERGED_READS] = s->reads_merged,
        [DISKIO_MERGED_WRITES] = s->writes_merged,
    };
    uint64_t delta[DISKIO_N_COUNTERS];
    bool publish = true;

    /* Absent from the previous scrape (or never seen): start over. */
    if (d->seen_scrape + 1 != x->scrape)
        for (unsigned f = 0; f < DISKIO_N_COUNTERS; f++)
            counter_forget(&d->ctr[f]);
    d->seen_scrape = x->scrape;
    for (unsigned f = 0; f < DISKIO_N_COUNTERS; f++)
        if (!counter_delta(&d->ctr[f], now[f], &delta[f]))
            publish = false; /* first sample, or one counter went back: a reset */
    for (unsigned f = 0; f < DISKIO_N_COUNTERS; f++) {
        if (!(x->selected & (1u << f)))
            continue;
        if (!x->report_deltas)
            diskio_emit_value(c, e, f, s->name, (double)now[f]);
        else if (publish)
            diskio_emit_value(c, e, f, s->name, (double)delta[f]);
    }
    if (x->selected & (1u << DISKIO_IOPS_IN_PROGRESS))
        diskio_emit_value(c, e, DISKIO_IOPS_IN_PROGRESS, s->name, (double)s->in_progress);
}

static void diskio_rejected(struct collector *c, enum diskio_reject why)
{
    selfstats_add(&c->stats.records_in, 1);
    selfstats_add(&c->stats.errors, 1);
    selfstats_reject(&c->stats, DROP_MALFORMED, why, 1);
}

static void diskio_scrape(struct collector *c)
{
    struct diskio_ctx *x = c->ctx;

    /* Counted even when the read fails: a device's next delta must not span it. */
    x->scrape++;
    int r = procfs_read_file(x->diskstats_path, &x->buf);
    if (r != 0) {
        diskio_rejected(c, DISKIO_REJECT_UNREADABLE);
        log_complain(&x->complain, LOG_LEVEL_WARN, c->name, "reading '%s' failed (%s), retrying",
                     x->diskstats_path, strerror(-r));
        return;
    }
    log_complain_clear(&x->complain, c->name, "'%s' is readable again", x->diskstats_path);
    selfstats_add(&c->stats.bytes_in, x->buf.len);

    struct diskio_emit e = {.ts_ns = clock_realtime_ns()};
    struct procfs_cursor cur;
    struct procfs_diskstat s;
    procfs_cursor_init(&cur, x->buf.data, x->buf.len);
    while ((r = procfs_diskstats_next(&cur, &s)) != 0) {
        if (r < 0) {
            diskio_rejected(c, r == -EPROTO         ? DISKIO_REJECT_LINE_SHORT
                               : r == -ENAMETOOLONG ? DISKIO_REJECT_NAME_TOO_LONG
                                                    : DISKIO_REJECT_LINE_MALFORMED);
            continue;
        }
        if (!diskio_wanted(x, s.name))
            continue;
        struct diskio_dev *d = diskio_lookup(x, s.name);
        if (!d) {
            diskio_rejected(c, DISKIO_REJECT_TOO_MANY_DEVICES);
            continue;
        }
        if (d->seen_scrape == x->scrape) {
            diskio_rejected(c, DISKIO_REJECT_DUPLICATE_DEVICE);
            continue;
        }
        diskio_device(c, &e, d, &s);
    }
    selfstats_add(&c->stats.records_in, e.produced);
    if (e.dropped)
        selfstats_drop(&c->stats, DROP_RING_FULL, e.dropped);
}

static int diskio_start(struct collector *c, uv_loop_t *loop)
{
    struct diskio_ctx *x = c->ctx;
    return collector_timer_start(c, loop, &x->timer, diskio_scrape);
}

static void diskio_stop(struct collector *c)
{
    struct diskio_ctx *x = c->ctx;
    collector_timer_stop(&x->timer);
}

static void diskio_destroy(struct collector *c)
{
    struct diskio_ctx *x = c->ctx;
    if (!x)
        return;
    free(x->diskstats_path);
    x->diskstats_path = NULL;
    procfs_buf_release(&x->buf);
    free(x->devs);
    x->devs = NULL;
    x->n_devs = 0;
    x->cap_devs = 0;
}

const struct collector_type collector_diskio = {
    .name = "diskio",
    .help = "block device I/O from /proc/diskstats (CloudWatch agent diskio_* metrics)",
    .config_path = "metrics/metrics_collected/diskio",
    .metric_common = true,
    .metric_fields = diskio_field_names,
    .kinds = RECORD_KIND_BIT(RECORD_METRIC),
    .fields = diskio_fields,
    .ctx_size = sizeof(struct diskio_ctx),
    .init = diskio_init,
    .start = diskio_start,
    .stop = diskio_stop,
    .destroy = diskio_destroy,
};
