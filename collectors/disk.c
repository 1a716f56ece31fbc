/*
 * disk: the CloudWatch agent's "disk" metrics plugin (metrics/metrics_collected/disk).
 *
 * DESIGN: a uv_timer on the collect loop rereads the mount table
 * <proc_root>/self/mounts — the table of the mount namespace Osprey runs in, which is
 * the one statvfs() resolves paths in, so every path it lists can be measured (gopsutil
 * reads /proc/1/mounts and needs HOST_MOUNT_PREFIX to make that work in a container; we
 * do not support a host mount prefix) — walks it with procfs_mounts_next(), filters it,
 * calls statvfs() on each mount point left and derives the values with
 * procfs_disk_usage_compute() (gopsutil's definitions, in procfs_disk.h). The file
 * buffer, a decode scratch as large as the file and the array of kept entries are kept
 * between scrapes: nothing is allocated once they have their size.
 *
 * Which mounts, in order (telegraf's inputs.disk as the agent configures it):
 * - "resources": mount points to publish, compared exactly; absent or containing "*"
 *   means every mount.
 * - "ignore_file_system_types": fstypes to skip. No default, as in the agent: a host
 *   shows tmpfs, devtmpfs and overlay mounts unless they are listed here.
 * - A mount point listed more than once (over-mounts, bind mounts of the same place) is
 *   measured once, with the device and fstype of its last line — the mount on top,
 *   which is the one statvfs() sees.
 * - A file system whose total size is 0 is skipped (proc, sysfs, cgroup, devpts, ...:
 *   telegraf's "dummy" file systems), silently, as telegraf does.
 * - A mount point statvfs() cannot measure (EACCES on another user's FUSE mount, a
 *   stale NFS handle) is skipped and counted under the fine reason "statfs_failed".
 *
 * Published per mount (names disk_<field>): free, total, used (Unit Bytes),
 * used_percent (Unit Percent), inodes_free, inodes_total, inodes_used (Unit Count) —
 * the seven the CloudWatch agent documents, all published without a "measurement" list;
 * inodes_used_percent (Percent, newer telegraf) only when listed. Dimensions: path (the
 * mount point), device (the mount source with "/dev/" removed, as telegraf does; left
 * out when "drop_device" is true) and fstype, plus host and append_dimensions.
 *
 * Known limit: statvfs() blocks the collect loop; a hung NFS server stalls every
 * collector on it, as it stalls telegraf. Exclude such file systems with
 * ignore_file_system_types or resources.
 *
 * Self-stats: records_in counts values produced plus one per failed mount-table read or
 * bad line; DROP_RING_FULL for the rest of a scrape that met a full ring; DROP_MALFORMED
 * with the fine reasons below for what could not be read or measured.
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
#include <sys/statvfs.h>

enum disk_field {
    DISK_FREE = 0,
    DISK_INODES_FREE,
    DISK_INODES_TOTAL,
    DISK_INODES_USED,
    DISK_TOTAL,
    DISK_USED,
    DISK_USED_PERCENT,
    DISK_INODES_USED_PERCENT, /* opt-in: only when the measurement list names it */
    DISK_FIELD_MAX
};

static const char *const disk_field_names[DISK_FIELD_MAX + 1] = {
    "free",  "inodes_free", "inodes_total", "inodes_used",
    "total", "used",        "used_percent", "inodes_used_percent",
};

enum disk_reject {
    DISK_REJECT_MOUNTS_UNREADABLE = 0,
    DISK_REJECT_MOUNT_LINE_MALFORMED,
    DISK_REJECT_MOUNT_LINE_TOO_LONG,
    DISK_REJECT_STATFS_FAILED,
    DISK_REJECT_MAX
};

static const char *const disk_reject_names[DISK_REJECT_MAX + 1] = {
    "mounts_unreadable",
    "mount_line_malformed",
    "mount_line_too_long",
    "statfs_failed",
};

struct disk_entry {
    const char *device, *mount_point, *fstype; /* into scratch */
};

struct disk_ctx {
    /* Bound from the configuration. */
    struct cfg_strings resources;
    struct cfg_strings ignore_fs;
    bool drop_device;
    /* Derived at init. */
    bool all_mounts;
    uint32_t selected; /* bit per enum disk_field */
    char *mounts_path;
    /* Scrape state, reused. */
    struct procfs_buf buf;
    char *scratch;
    size_t scratch_cap;
    struct disk_entry *entries;
    size_t cap_entries;
    struct log_complain complain;
    struct log_complain statfs_complain;
    struct collector_timer timer;
};

static const struct cfg_field disk_fields[] = {
    {"resources", CFG_STRING_ARRAY, offsetof(struct disk_ctx, resources), NULL, 0, 0, NULL, 0,
     "mount points to publish (exact paths); [\"*\"] or absent: every mount"},
    {"ignore_file_system_types", CFG_STRING_ARRAY, offsetof(struct disk_ctx, ignore_fs), NULL, 0, 0,
     NULL, 0, "file system types to skip, e.g. [\"sysfs\", \"devtmpfs\", \"tmpfs\"]"},
    {"drop_device", CFG_BOOL, offsetof(struct disk_ctx, drop_device), "false", 0, 0, NULL, 0,
     "leave the device dimension out (keeps series stable when devices are renamed)"},
    CFG_END,
};

static int disk_init(struct collector *c)
{
    struct disk_ctx *x = c->ctx;
    const char *root = c->env && c->env->proc_root ? c->env->proc_root : "/proc";

    c->stats.reject_names = disk_reject_names;
    x->all_mounts = x->resources.n == 0;
    for (size_t i = 0; i < x->resources.n; i++) {
        const char *r = x->resources.v[i];
        if (strcmp(r, "*") == 0) {
            x->all_mounts = true;
        } else if (r[0] != '/') {
            collector_config_error(c, "resources",
                                   "'%s' is not a mount point (an absolute path, or \"*\")", r);
            return -EINVAL;
        }
    }
    for (unsigned f = 0; f < DISK_FIELD_MAX; f++) {
        bool listed = c->metric.measurement_json != NULL;
        if ((listed || f != DISK_INODES_USED_PERCENT) &&
            collector_metric_selected(c, disk_field_names[f]))
            x->selected |= 1u << f;
    }
    if (!x->selected)
        log_warn(c->name, "nothing to publish (no measurement is a disk metric), ignoring");

    size_t n = strlen(root) + sizeof("/self/mounts");
    x->mounts_path = malloc(n);
    if (!x->mounts_path)
        return -ENOMEM;
    snprintf(x->mounts_path, n, "%s/self/mounts", root);
    return 0;
}

static bool disk_wanted(const struct disk_ctx *x, const struct procfs_mount *m)
{
    for (size_t i = 0; i < x->ignore_fs.n; i++)
        if (strcmp(x->ignore_fs.v[i], m->fstype) == 0)
            return false;
    if (x->all_mounts)
        return true;
    for (size_t i = 0; i < x->resources.n; i++)
        if (strcmp(x->resources.v[i], m->mount_point) == 0)
            return true;
    return false;
}

static int disk_reserve(struct disk_ctx *x, size_t scratch, size_t entries)
{
    if (scratch > x->scratch_cap) {
        char *grown = realloc(x->scratch, scratch);
        if (!grown)
            return -ENOMEM;
        x->scratch = grown;
        x->scratch_cap = scratch;
    }
    if (entries > x->cap_entries) {
        size_t cap = x->cap_entries ? x->cap_entries * 2 : 16;
        while (cap < entries)
            cap *= 2;
        struct disk_entry *grown = realloc(x->entries, cap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        x->entries = grown;
        x->cap_entries = cap;
    }
    return 0;
}

static void disk_line_rejected(struct collector *c, enum disk_reject why)
{
    selfstats_add(&c->stats.records_in, 1);
    selfstats_add(&c->stats.errors, 1);
    selfstats_reject(&c->stats, DROP_MALFORMED, why, 1);
}

/* Walk the mount table into x->entries; returns how many were kept, or -ENOMEM. */
static long disk_collect_entries(struct collector *c)
{
    struct disk_ctx *x = c->ctx;
    struct procfs_cursor cur;
    struct procfs_mount m;
    size_t used = 0, n = 0;

    if (disk_reserve(x, x->buf.len + 1, 0) != 0)
        return -ENOMEM;
    procfs_cursor_init(&cur, x->buf.data, x->buf.len);
    for (;;) {
        int r = procfs_mounts_next(&cur, x->scratch + used, x->scratch_cap - used, &m);
        if (r == 0)
            break;
        if (r < 0) {
            disk_line_rejected(c, r == -ENAMETOOLONG ? DISK_REJECT_MOUNT_LINE_TOO_LONG
                                                     : DISK_REJECT_MOUNT_LINE_MALFORMED);
            continue;
        }
        if (!disk_wanted(x, &m))
            continue;
        if (disk_reserve(x, 0, n + 1) != 0)
            return -ENOMEM;
        x->entries[n++] = (struct disk_entry){m.device, m.mount_point, m.fstype};
        /* Keep this entry's strings: the next line decodes after them. */
        used = (size_t)(m.options - x->scratch) + strlen(m.options) + 1;
    }
    return (long)n;
}

struct disk_emit {
    uint64_t ts_ns;
    uint64_t produced;
    uint64_t dropped;
    bool ring_full;
};

static void disk_emit_mount(struct collector *c, struct disk_emit *e, const struct disk_entry *d,
                            const struct procfs_disk_usage *u)
{
    struct disk_ctx *x = c->ctx;
    const double values[DISK_FIELD_MAX] = {
        [DISK_FREE] = (double)u->free,
        [DISK_INODES_FREE] = (double)u->inodes_free,
        [DISK_INODES_TOTAL] = (double)u->inodes_total,
        [DISK_INODES_USED] = (double)u->inodes_used,
        [DISK_TOTAL] = (double)u->total,
        [DISK_USED] = (double)u->used,
        [DISK_USED_PERCENT] = u->used_percent,
        [DISK_INODES_USED_PERCENT] = u->inodes_used_percent,
    };
    const char *device = d->device;
    if (strncmp(device, "/dev/", 5) == 0)
        device += 5;
    for (unsigned f = 0; f < DISK_FIELD_MAX; f++) {
        if (!(x->selected & (1u << f)))
            continue;
        e->produced++;
        if (e->ring_full) {
            e->dropped++;
            continue;
        }
        enum metric_unit unit = METRIC_UNIT_BYTES;
        if (f == DISK_USED_PERCENT || f == DISK_INODES_USED_PERCENT)
            unit = METRIC_UNIT_PERCENT;
        else if (f == DISK_INODES_FREE || f == DISK_INODES_TOTAL || f == DISK_INODES_USED)
            unit = METRIC_UNIT_COUNT;
        char name[METRIC_MAX_NAME + 1];
        struct metric_point p;
        collector_metric_begin(c, &p, disk_field_names[f], unit, name, sizeof(name));
        p.value = values[f];
        (void)metric_point_add_dim(&p, "path", d->mount_point);
        if (!x->drop_device)
            (void)metric_point_add_dim(&p, "device", device);
        (void)metric_point_add_dim(&p, "fstype", d->fstype);
        if (collector_emit_metric(c, e->ts_ns, 0, &p) == -ENOSPC) {
            e->ring_full = true;
            e->dropped++;
        }
    }
}

static void disk_scrape(struct collector *c)
{
    struct disk_ctx *x = c->ctx;

    int r = procfs_read_file(x->mounts_path, &x->buf);
    if (r != 0) {
        disk_line_rejected(c, DISK_REJECT_MOUNTS_UNREADABLE);
        log_complain(&x->complain, LOG_LEVEL_WARN, c->name, "reading '%s' failed (%s), retrying",
                     x->mounts_path, strerror(-r));
        return;
    }
    log_complain_clear(&x->complain, c->name, "'%s' is readable again", x->mounts_path);
    selfstats_add(&c->stats.bytes_in, x->buf.len);
    long n = disk_collect_entries(c);
    if (n < 0) {
        disk_line_rejected(c, DISK_REJECT_MOUNTS_UNREADABLE);
        log_complain(&x->complain, LOG_LEVEL_WARN, c->name,
                     "growing buffers for '%s' failed (%s), retrying", x->mounts_path,
                     strerror(ENOMEM));
        return;
    }

    struct disk_emit e = {.ts_ns = clock_realtime_ns()};
    bool statfs_ok = true;
    for (size_t i = 0; i < (size_t)n; i++) {
        const struct disk_entry *d = &x->entries[i];
        bool shadowed = false;
        for (size_t j = i + 1; j < (size_t)n && !shadowed; j++)
            shadowed = strcmp(x->entries[j].mount_point, d->mount_point) == 0;
        if (shadowed)
            continue;
        struct statvfs sv;
        if (statvfs(d->mount_point, &sv) != 0) {
            int err = errno;
            statfs_ok = false;
            disk_line_rejected(c, DISK_REJECT_STATFS_FAILED);
            log_complain(&x->statfs_complain, LOG_LEVEL_DEBUG, c->name,
                         "statvfs '%s' failed (%s), skipping it", d->mount_point, strerror(err));
            continue;
        }
        const struct procfs_statfs st = {
            .frsize = sv.f_frsize ? sv.f_frsize : sv.f_bsize,
            .blocks = sv.f_blocks,
            .bfree = sv.f_bfree,
            .bavail = sv.f_bavail,
            .files = sv.f_files,
            .ffree = sv.f_ffree,
        };
        struct procfs_disk_usage u;
        procfs_disk_usage_compute(&st, &u);
        if (u.total == 0)
            continue; /* proc, sysfs, cgroup...: nothing to measure */
        disk_emit_mount(c, &e, d, &u);
    }
    if (statfs_ok)
        log_complain_clear(&x->statfs_complain, c->name, "every mount point is measurable again");
    selfstats_add(&c->stats.records_in, e.produced);
    if (e.dropped)
        selfstats_drop(&c->stats, DROP_RING_FULL, e.dropped);
}

static int disk_start(struct collector *c, uv_loop_t *loop)
{
    struct disk_ctx *x = c->ctx;
    return collector_timer_start(c, loop, &x->timer, disk_scrape);
}

static void disk_stop(struct collector *c)
{
    struct disk_ctx *x = c->ctx;
    collector_timer_stop(&x->timer);
}

static void disk_destroy(struct collector *c)
{
    struct disk_ctx *x = c->ctx;
    if (!x)
        return;
    free(x->mounts_path);
    x->mounts_path = NULL;
    procfs_buf_release(&x->buf);
    free(x->scratch);
    x->scratch = NULL;
    x->scratch_cap = 0;
    free(x->entries);
    x->entries = NULL;
    x->cap_entries = 0;
}

const struct collector_type collector_disk = {
    .name = "disk",
    .help = "file system space and inodes per mount point (CloudWatch agent disk_* metrics)",
    .config_path = "metrics/metrics_collected/disk",
    .metric_common = true,
    .metric_fields = disk_field_names,
    .kinds = RECORD_KIND_BIT(RECORD_METRIC),
    .fields = disk_fields,
    .ctx_size = sizeof(struct disk_ctx),
    .init = disk_init,
    .start = disk_start,
    .stop = disk_stop,
    .destroy = disk_destroy,
};
