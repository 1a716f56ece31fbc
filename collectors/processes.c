/*
 * processes: the CloudWatch agent's "processes" metrics plugin
 * (metrics/metrics_collected/processes).
 *
 * DESIGN: the CloudWatch agent runs telegraf's inputs.processes, which on Linux reads
 * every <proc_root>/[pid]/stat (it does not use /proc/stat's procs_running and
 * procs_blocked, which count runnable and blocked *threads* and would disagree with the
 * per-process totals). Osprey does the same: a uv_timer lists the proc root with
 * getdents64 into a buffer allocated at init, reads each pid's stat into one reused
 * buffer through a path buffer sized at init, and classifies its state letter. A
 * scrape allocates nothing once the stat buffer has its size. A process that exits
 * during the scan (ENOENT, or ESRCH from the read) is simply not counted, as in
 * telegraf.
 *
 * Published every scrape, no dimension of its own, Unit Count, with telegraf's Linux
 * mapping of the state letter (proc(5)):
 *   running R · sleeping S · blocked D (uninterruptible sleep) · zombies Z · dead X ·
 *   stopped T and t (stopped, traced) · paging W (paging before 2.6, waking 2.6.33-3.13)
 *   · idle I (4.14+ idle kernel threads)
 *   total: every process whose stat was read, whatever its letter (so P, K, x ... count
 *   only here, as in telegraf); total_threads: the sum of field 20 (num_threads).
 * /proc lists thread-group leaders only, so a process counts once, by its main thread's
 * state.
 * "wait" is accepted in the measurement list because the CloudWatch agent documents
 * processes_wait, but telegraf produces it on FreeBSD only: on Linux neither the
 * CloudWatch agent nor Osprey publishes it (a warning says so at start).
 *
 * Self-stats: records_in counts values produced plus one per rejected process or failed
 * scrape; records_out the ones emitted; dropped[]: DROP_RING_FULL for the rest of a
 * scrape that met a full ring; DROP_MALFORMED with a fine reason: proc_unreadable (the
 * proc root could not be listed; nothing is published; errors too), read_failed (a
 * stat that could not be read for another reason than the process exiting), bad_stat (a
 * stat that is not the kernel's: such a process is left out of every count, total
 * included).
 */
#include "collectors/collector.h"
#include "collectors/procfs.h"
#include "collectors/procfs_proc.h"

#include "agent/clock.h"
#include "agent/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROCESSES_DIR_BUF_BYTES (32u * 1024)

enum processes_field {
    PROCESSES_BLOCKED = 0,
    PROCESSES_DEAD,
    PROCESSES_IDLE,
    PROCESSES_PAGING,
    PROCESSES_RUNNING,
    PROCESSES_SLEEPING,
    PROCESSES_STOPPED,
    PROCESSES_TOTAL,
    PROCESSES_TOTAL_THREADS,
    PROCESSES_ZOMBIES,
    PROCESSES_WAIT, /* accepted, never produced on Linux */
    PROCESSES_FIELD_MAX
};

static const char *const processes_field_names[PROCESSES_FIELD_MAX + 1] = {
    "blocked", "dead",  "idle",          "paging",  "running", "sleeping",
    "stopped", "total", "total_threads", "zombies", "wait",
};

enum processes_reject {
    PROCESSES_REJECT_PROC_UNREADABLE = 0,
    PROCESSES_REJECT_READ_FAILED,
    PROCESSES_REJECT_BAD_STAT,
    PROCESSES_REJECT_MAX
};

static const char *const processes_reject_names[PROCESSES_REJECT_MAX + 1] = {
    "proc_unreadable",
    "read_failed",
    "bad_stat",
    NULL,
};

struct processes_ctx {
    uint32_t selected; /* bit per enum processes_field */
    char *root;
    char *path; /* "<root>/<pid>/stat", rewritten per pid */
    size_t path_cap;
    char *dir_buf; /* PROCESSES_DIR_BUF_BYTES, 8-byte aligned (malloc) */
    struct procfs_buf buf;
    struct log_complain complain;
    struct collector_timer timer;
};

static const struct cfg_field processes_fields[] = {
    CFG_END,
};

static int processes_init(struct collector *c)
{
    struct processes_ctx *x = c->ctx;
    const char *root = c->env && c->env->proc_root ? c->env->proc_root : "/proc";

    c->stats.reject_names = processes_reject_names;
    for (unsigned f = 0; f < PROCESSES_FIELD_MAX; f++)
        if (collector_metric_selected(c, processes_field_names[f]))
            x->selected |= 1u << f;
    if (c->metric.measurement_json && (x->selected & (1u << PROCESSES_WAIT)))
        log_warn(c->name, "'wait' is a FreeBSD-only process state: not published on Linux "
                          "(as with the CloudWatch agent), ignoring");
    x->selected &= ~(1u << PROCESSES_WAIT);
    if (!x->selected)
        log_warn(c->name, "nothing to publish (no measurement is a processes metric), ignoring");

    x->root = strdup(root);
    x->path_cap = strlen(root) + sizeof("/4194304/stat");
    x->path = malloc(x->path_cap);
    x->dir_buf = malloc(PROCESSES_DIR_BUF_BYTES);
    if (!x->root || !x->path || !x->dir_buf)
        return -ENOMEM;
    return 0;
}

static void processes_reject(struct collector *c, enum processes_reject why)
{
    selfstats_add(&c->stats.records_in, 1);
    selfstats_reject(&c->stats, DROP_MALFORMED, why, 1);
}

/* Which field a state letter counts under, or PROCESSES_FIELD_MAX for none. */
static enum processes_field processes_state_field(char state)
{
    switch (state) {
    case 'R':
        return PROCESSES_RUNNING;
    case 'S':
        return PROCESSES_SLEEPING;
    case 'D':
        return PROCESSES_BLOCKED;
    case 'Z':
        return PROCESSES_ZOMBIES;
    case 'X':
        return PROCESSES_DEAD;
    case 'T':
    case 't':
        return PROCESSES_STOPPED;
    case 'W':
        return PROCESSES_PAGING;
    case 'I':
        return PROCESSES_IDLE;
    default:
        return PROCESSES_FIELD_MAX;
    }
}

/* Count every pid under the root into values[]; 0 or -errno from listing the root. */
static int processes_count(struct collector *c, uint64_t values[PROCESSES_FIELD_MAX])
{
    struct processes_ctx *x = c->ctx;
    struct procfs_pids it;
    uint32_t pid;
    int r = procfs_pids_open(&it, x->root, x->dir_buf, PROCESSES_DIR_BUF_BYTES);
    if (r != 0)
        return r;
    while ((r = procfs_pids_next(&it, &pid)) == 1) {
        snprintf(x->path, x->path_cap, "%s/%u/stat", x->root, (unsigned)pid);
        int rr = procfs_read_file(x->path, &x->buf);
        if (rr == -ENOENT || rr == -ESRCH)
            continue; /* exited since it was listed */
        if (rr != 0) {
            processes_reject(c, PROCESSES_REJECT_READ_FAILED);
            continue;
        }
        selfstats_add(&c->stats.bytes_in, x->buf.len);
        struct procfs_pid_stat st;
        if (procfs_parse_pid_stat(x->buf.data, x->buf.len, &st) != 0) {
            processes_reject(c, PROCESSES_REJECT_BAD_STAT);
            continue;
        }
        enum processes_field f = processes_state_field(st.state);
        if (f != PROCESSES_FIELD_MAX)
            values[f]++;
        values[PROCESSES_TOTAL]++;
        values[PROCESSES_TOTAL_THREADS] += st.num_threads;
    }
    procfs_pids_close(&it);
    return r;
}

static void processes_scrape(struct collector *c)
{
    struct processes_ctx *x = c->ctx;
    uint64_t values[PROCESSES_FIELD_MAX] = {0};

    int r = processes_count(c, values);
    if (r != 0) {
        processes_reject(c, PROCESSES_REJECT_PROC_UNREADABLE);
        selfstats_add(&c->stats.errors, 1);
        log_complain(&x->complain, LOG_LEVEL_WARN, c->name,
                     "listing processes in '%s' failed (%s), retrying", x->root, strerror(-r));
        return;
    }
    log_complain_clear(&x->complain, c->name, "'%s' can be listed again", x->root);

    uint64_t ts_ns = clock_realtime_ns();
    uint64_t produced = 0, dropped = 0;
    for (unsigned f = 0; f < PROCESSES_FIELD_MAX; f++) {
        if (!(x->selected & (1u << f)))
            continue;
        produced++;
        if (dropped) {
            dropped++;
            continue;
        }
        char name[METRIC_MAX_NAME + 1];
        struct metric_point p;
        collector_metric_begin(c, &p, processes_field_names[f], METRIC_UNIT_COUNT, name,
                               sizeof(name));
        p.value = (double)values[f];
        if (collector_emit_metric(c, ts_ns, 0, &p) == -ENOSPC)
            dropped++;
    }
    selfstats_add(&c->stats.records_in, produced);
    if (dropped)
        selfstats_drop(&c->stats, DROP_RING_FULL, dropped);
}

static int processes_start(struct collector *c, uv_loop_t *loop)
{
    struct processes_ctx *x = c->ctx;
    return collector_timer_start(c, loop, &x->timer, processes_scrape);
}

static void processes_stop(struct collector *c)
{
    struct processes_ctx *x = c->ctx;
    collector_timer_stop(&x->timer);
}

static void processes_destroy(struct collector *c)
{
    struct processes_ctx *x = c->ctx;
    if (!x)
        return;
    free(x->root);
    x->root = NULL;
    free(x->path);
    x->path = NULL;
    free(x->dir_buf);
    x->dir_buf = NULL;
    procfs_buf_release(&x->buf);
}

const struct collector_type collector_processes = {
    .name = "processes",
    .help = "processes per state and threads from /proc/[pid]/stat (CloudWatch agent "
            "processes_* metrics)",
    .config_path = "metrics/metrics_collected/processes",
    .metric_common = true,
    .metric_fields = processes_field_names,
    .kinds = RECORD_KIND_BIT(RECORD_METRIC),
    .fields = processes_fields,
    .ctx_size = sizeof(struct processes_ctx),
    .init = processes_init,
    .start = processes_start,
    .stop = processes_stop,
    .destroy = processes_destroy,
};
