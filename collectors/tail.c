/*
 * tail: the CloudWatch agent's log file collector (logs.logs_collected.files.collect_list),
 * one instance per collect_list entry ("files[0]", ...).
 *
 * DESIGN
 * Discovery. The entry's file_path is a glob (collectors/tail_glob.h). It is expanded at
 * start, whenever a watched directory reports a created, moved or deleted name
 * (uv_fs_event: inotify IN_CREATE, IN_MOVED_FROM/TO and IN_DELETE arrive as UV_RENAME),
 * and every TAIL_RESCAN_MS when the watches cannot see every place a new match may appear
 * (a `**`, wildcards in directory names, a directory that does not exist yet, or several
 * matches in single-file mode). Without publish_multi_logs only the most recently
 * modified match is followed, as the agent does; with it, every match (at most
 * TAIL_MAX_FILES open at once; a file quiet for TAIL_IDLE_CLOSE_NS has its descriptor
 * closed and is reopened by identity when it grows).
 *
 * Identity and rotation. A followed file is its open descriptor, known by (dev, ino) and
 * a fingerprint of its first bytes (collectors/tail_file.h). Every TAIL_POLL_MS each file
 * is probed: when its path is gone or names another file (rename+create, a swapped
 * symlink, deletion) it becomes DRAINING: read to its end through the descriptor we hold,
 * its last partial line finished once it has been quiet for TAIL_DRAIN_GRACE_NS, then
 * closed; the new file at the path is read from offset 0. When it is shorter than what we
 * read, or its first bytes changed (truncation, copytruncate; also checked before every
 * read that follows an end of file), what we held is finished, the bytes we could not
 * read are counted ("truncated") and reading restarts at 0. Compressed rotations never
 * match (tail_glob), so a rotated .gz is not read again.
 *
 * Reading. Each file has a 64 KiB read buffer, a line framer (log_lines) and an event
 * builder (log_event: multi-line, timestamps, filters, encoding, splitting). Reads are
 * plain pread()s on the collect loop, at most TAIL_TICK_CHUNKS per file per loop turn;
 * an idle handle continues on the next turn while data remains, so a busy file never
 * starves the loop (nor the delivery acks it drains), and an idle file costs nothing.
 *
 * Delivery. Events are emitted with cookies 1, 2, 3, ... and recorded in a pending table
 * of TAIL_PENDING_MAX entries (file, start offset, checkpoint offset). An event is
 * complete when every consumer answered; the longest completed prefix of the table moves
 * each file's committed offset, which is what the checkpoint stores. A give-up rewinds
 * the file to the event's start (an epoch counter keeps events emitted before the rewind
 * from moving the checkpoint); so does an ack presumed lost (TAIL_ACK_LOST_NS). A full
 * ring (-ENOSPC) or a full table pauses reading: the file is the buffer, nothing is
 * dropped; on_space or the freeing ack resumes it.
 *
 * Checkpoints. agent/checkpoint, <state_dir>/tail/files_<hash of file_path>.json, written
 * every TAIL_CKPT_MS when changed, at stop, and for acks that arrive after stop. At start
 * a match whose (dev, ino) has an entry resumes at its offset when both fingerprints agree
 * (else it is another file that reused the inode: offset 0); an entry whose file left the
 * path while we were down is looked for by (dev, ino) in its directory (app.log.1,
 * app.log-20261204, ...) and its unread tail is read once before the new file.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "collectors/collector.h"
#include "collectors/log_event.h"
#include "collectors/log_lines.h"
#include "collectors/log_names.h"
#include "collectors/tail_file.h"
#include "collectors/tail_glob.h"

#include "agent/checkpoint.h"
#include "agent/clock.h"
#include "agent/log.h"

#include <dirent.h>
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAIL_MAX_FILES   64u    /* files open at once per entry */
#define TAIL_PENDING_MAX 65536u /* emitted events awaiting acks (power of two) */
#define TAIL_POLL_MS     1000u  /* probe open files */
/* Checkpoints are written this often when acks moved them: what was accepted but not
 * yet written is read again after a crash (SIGKILL), so this bounds those duplicates. */
#define TAIL_CKPT_MS        250u
#define TAIL_RESCAN_MS      5000u                 /* re-expand when watches cannot see everything */
#define TAIL_DRAIN_GRACE_NS (1000ull * NS_PER_MS) /* a rotated file quiet this long is done */
#define TAIL_TICK_CHUNKS    4u                    /* 64 KiB reads per file per loop turn */
#define TAIL_MAX_WATCHES    64u
#define TAIL_ACK_LOST_NS    (60ull * NS_PER_SEC) /* unanswered while later ones were */
#define TAIL_ORDER_WAIT_NS  (5ull * NS_PER_SEC)  /* a new file waits for its predecessor */
#define TAIL_PRUNE_POLLS    60u /* drop records of deleted finished files every minute */
#define TAIL_IDLE_CLOSE_NS  (60ull * NS_PER_SEC) /* close the descriptor of a quiet file */
#define TAIL_NAME_MAX       512u                 /* CloudWatch's log group / stream name limit */
#define TAIL_MAX_LINE       TAIL_READ_CHUNK      /* framer cut; the builder joins the parts */
#define TAIL_STORE_SUBDIR   "tail"

enum tail_reject {
    TAIL_REJ_FILTERED = 0,
    TAIL_REJ_SPLIT,
    TAIL_REJ_UTF8_REPAIRED,
    TAIL_REJ_TRUNCATED,
    TAIL_REJ_REJECTED,
    TAIL_REJ_RESENT,
    TAIL_REJ_TIMESTAMP_MISSING,
    TAIL_REJ_TOO_MANY_FILES,
    TAIL_REJ_ACK_TIMEOUT,
    TAIL_REJ_MAX,
};

static const char *const tail_reject_names[TAIL_REJ_MAX + 1] = {
    [TAIL_REJ_FILTERED] = "filtered",
    [TAIL_REJ_SPLIT] = "split",
    [TAIL_REJ_UTF8_REPAIRED] = "utf8_repaired",
    [TAIL_REJ_TRUNCATED] = "truncated",
    [TAIL_REJ_REJECTED] = "rejected_by_service",
    [TAIL_REJ_RESENT] = "resent_after_give_up",
    [TAIL_REJ_TIMESTAMP_MISSING] = "timestamp_missing",
    [TAIL_REJ_TOO_MANY_FILES] = "too_many_files",
    [TAIL_REJ_ACK_TIMEOUT] = "ack_timeout",
    [TAIL_REJ_MAX] = NULL,
};

static const char *const timezone_choices[] = {"Local", "UTC", NULL};
static const char *const group_class_choices[] = {"STANDARD", "INFREQUENT_ACCESS", "standard",
                                                  "infrequent_access", NULL};

struct tail_pending {
    struct tail_file *f;
    uint64_t start_off;
    uint64_t commit_off; /* where the checkpoint may move once this event is delivered */
    uint32_t epoch;
    uint32_t generation;
    uint16_t answers;
    bool gave_up;
    bool rejected;
};

struct tail_ctx;

struct tail_watch {
    uv_fs_event_t handle;
    struct tail_ctx *x;
    char *dir;
};

struct tail_ctx {
    /* Configuration (bound). */
    char *file_path;
    char *log_group_name;
    char *log_stream_name;
    char *timestamp_format;
    int timezone;
    char *multi_line_start_pattern;
    char *encoding;
    json_t *filters_json;
    char *blacklist;
    bool publish_multi_logs;
    int64_t retention_in_days;
    int log_group_class;
    bool auto_removal;
    bool from_beginning;

    /* Derived at init. */
    struct collector *c;
    struct log_filter_spec *filters;
    size_t n_filters;
    struct log_event_opts opts;
    struct tail_glob *glob;
    char store_name[64];
    char *store_dir;   /* <state_dir>/tail, or NULL when there is no state directory */
    char *exclude_dir; /* the state directory: never tailed */

    /* Runtime. */
    uv_loop_t *loop;
    struct checkpoint_store *store;
    char group[TAIL_NAME_MAX + 1]; /* expanded log_group_name ("" = derive per file) */
    char stream[TAIL_NAME_MAX + 1];
    uv_timer_t poll_timer;
    uv_timer_t kick_timer; /* work due later (multi-line deadlines, drain grace) */
    uv_idle_t busy;        /* work to do on the next loop turn */
    bool timers_open;
    uint64_t kick_due_ms; /* 0 = not armed */
    struct tail_watch *watches[TAIL_MAX_WATCHES];
    size_t n_watches;
    bool watch_failed;
    struct tail_file **files;
    size_t n_files, cap_files;
    struct tail_match_list matches;
    bool rescan_needed;
    uint64_t last_rescan_ms;
    struct tail_pending *pending;
    struct collector_log_batch batch; /* open only inside pump() and tail_stop() */
    /* Events and bytes taken since the last publish_taken(): the shared counters are
     * added to once per pump, not per line (two atomic adds per line were a tenth of a
     * fast tail's CPU). */
    struct tail_taken {
        uint64_t records;
        uint64_t bytes;
    } taken;
    uint64_t next_seq;         /* cookie of the next event */
    uint64_t tail_seq;         /* oldest cookie not yet completed */
    uint64_t max_answered_seq; /* newest cookie any ack named */
    uint64_t stuck_seq;        /* tail_seq seen stuck behind answered cookies, since: */
    uint64_t stuck_since_ns;
    uint64_t polls;
    uint64_t ckpt_ticks; /* on_poll runs every TAIL_CKPT_MS; every 4th is a full poll */
    bool waiting_space;
    bool waiting_acks;
    bool stopping;
    struct log_complain ckpt_complain;
    struct log_complain read_complain;
    struct log_complain files_complain;
    struct log_complain open_complain;
    bool files_skipped; /* TAIL_MAX_FILES were open when a match came: look again later */
};

static const struct cfg_field tail_fields[] = {
    {"file_path", CFG_STRING, offsetof(struct tail_ctx, file_path), NULL, 0, 0, NULL, CFG_REQUIRED,
     "absolute path or glob (*, ?, [..], ** across directories) of the files to tail"},
    {"log_group_name", CFG_STRING, offsetof(struct tail_ctx, log_group_name), NULL, 0, 0, NULL, 0,
     "log group ({instance_id}, {hostname}, {local_hostname}, {ip_address}, {aws_region}, "
     "{date}); default: the file path up to its last dot"},
    {"log_stream_name", CFG_STRING, offsetof(struct tail_ctx, log_stream_name), NULL, 0, 0, NULL, 0,
     "log stream (same placeholders); default: logs.log_stream_name, else {instance_id}"},
    {"timestamp_format", CFG_STRING, offsetof(struct tail_ctx, timestamp_format), NULL, 0, 0, NULL,
     0, "strftime-like format of the timestamp in each event; default: read time"},
    {"timezone", CFG_ENUM, offsetof(struct tail_ctx, timezone), "Local", 0, 0, timezone_choices, 0,
     "time zone of timestamps without an offset: Local or UTC"},
    {"multi_line_start_pattern", CFG_STRING, offsetof(struct tail_ctx, multi_line_start_pattern),
     NULL, 0, 0, NULL, 0,
     "regex matching the first line of an event, or {timestamp_format}; default: one line, one "
     "event"},
    {"encoding", CFG_STRING, offsetof(struct tail_ctx, encoding), "utf-8", 0, 0, NULL, 0,
     "file encoding: utf-8, ascii or latin1"},
    {"filters", CFG_JSON, offsetof(struct tail_ctx, filters_json), NULL, 0, 0, NULL, 0,
     "[{\"type\": \"include\"|\"exclude\", \"expression\": regex}, ...], applied in order"},
    {"blacklist", CFG_REGEX, offsetof(struct tail_ctx, blacklist), NULL, 0, 0, NULL, 0,
     "regex on the file name (not the directory) of matches to skip"},
    {"publish_multi_logs", CFG_BOOL, offsetof(struct tail_ctx, publish_multi_logs), "false", 0, 0,
     NULL, 0, "tail every match (stream per file) instead of only the most recently modified"},
    {"retention_in_days", CFG_INT, offsetof(struct tail_ctx, retention_in_days), "-1", -1, 3653,
     NULL, 0, "retention set on the log group when Osprey creates it (-1 = never expire)"},
    {"log_group_class", CFG_ENUM, offsetof(struct tail_ctx, log_group_class), "STANDARD", 0, 0,
     group_class_choices, 0, "class of a log group Osprey creates: STANDARD or INFREQUENT_ACCESS"},
    {"auto_removal", CFG_BOOL, offsetof(struct tail_ctx, auto_removal), "false", 0, 0, NULL, 0,
     "delete a file once it is fully delivered and a newer file matches the pattern"},
    {"from_beginning", CFG_BOOL, offsetof(struct tail_ctx, from_beginning), "true", 0, 0, NULL, 0,
     "read files found at start without a checkpoint from their beginning (false: from their "
     "end; files that appear later are always read from the beginning)"},
    {"pipe", CFG_BOOL, 0, NULL, 0, 0, NULL, CFG_UNSUPPORTED, "named pipes are not tailed"},
    {"trim_timestamp", CFG_BOOL, 0, NULL, 0, 0, NULL, CFG_UNSUPPORTED, "not supported"},
    CFG_END,
};

/* CloudWatch Logs' retention values (PutRetentionPolicy). */
static const int64_t retention_values[] = {1,    3,    5,    7,    14,   30,  60,  90,
                                           120,  150,  180,  365,  400,  545, 731, 1096,
                                           1827, 2192, 2557, 2922, 3288, 3653};

/* ---- helpers --------------------------------------------------------------------- */

static struct tail_pending *slot(struct tail_ctx *x, uint64_t seq)
{
    return &x->pending[seq & (TAIL_PENDING_MAX - 1)];
}

static void count_fine(struct collector *c, enum tail_reject which, uint64_t n)
{
    if (n)
        selfstats_add(&c->stats.rejects[which], n);
}

/* The builder's counters since we last looked, into selfstats. */
static void sync_counters(struct tail_ctx *x, struct tail_file *f)
{
    if (!f->builder)
        return;
    const struct log_event_counters *now = log_event_builder_counters(f->builder);
    struct collector *c = x->c;
    if (now->filtered > f->seen.filtered)
        selfstats_reject(&c->stats, DROP_INVALID, TAIL_REJ_FILTERED,
                         now->filtered - f->seen.filtered);
    count_fine(c, TAIL_REJ_SPLIT, now->split_events - f->seen.split_events);
    count_fine(c, TAIL_REJ_UTF8_REPAIRED, now->repaired_bytes - f->seen.repaired_bytes);
    count_fine(c, TAIL_REJ_TIMESTAMP_MISSING, now->timestamp_misses - f->seen.timestamp_misses);
    f->seen = *now;
}

/* Characters CloudWatch allows in group names; others become '_' (as the agent does for
 * names it derives from paths). */
static void sanitize_name(char *s, bool slash_too)
{
    for (; *s; s++) {
        char ch = *s;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_' || ch == '#' ||
                  (ch == '/' && !slash_too);
        if (!ok)
            *s = '_';
    }
}

/* Group and stream of a file: the configured ones, or the CloudWatch agent's defaults
 * derived from the path (see docs/logs.md). */
static int file_names(struct tail_ctx *x, const char *path, char **ret_group, char **ret_stream)
{
    char group[TAIL_NAME_MAX + 1];
    char stream[TAIL_NAME_MAX + 1];
    snprintf(stream, sizeof(stream), "%s", x->stream);
    if (x->group[0] && !x->publish_multi_logs) {
        snprintf(group, sizeof(group), "%s", x->group);
    } else if (x->group[0]) {
        /* publish_multi_logs with a group: one stream per file, "<stream>_<path>". */
        char p[TAIL_NAME_MAX + 1];
        snprintf(p, sizeof(p), "%s", path);
        sanitize_name(p, true);
        snprintf(group, sizeof(group), "%s", x->group);
        /* A longer name is cut at CloudWatch's limit. */
        size_t n = strlen(x->stream);
        if (n > TAIL_NAME_MAX - 1)
            n = TAIL_NAME_MAX - 1;
        memcpy(stream, x->stream, n);
        stream[n++] = '_';
        size_t rest = strlen(p) < TAIL_NAME_MAX - n ? strlen(p) : TAIL_NAME_MAX - n;
        memcpy(stream + n, p, rest);
        stream[n + rest] = '\0';
    } else if (x->publish_multi_logs) {
        snprintf(group, sizeof(group), "%s", path);
        sanitize_name(group, false);
    } else {
        /* The agent's documented default: the path up to the last dot of its file name
         * ("/tmp/app.log.2017-07-11" -> "/tmp/app.log"). */
        if (log_names_default_group(path, group, sizeof(group)) < 0) {
            snprintf(group, sizeof(group), "%s", path); /* cut at CloudWatch's limit */
            group[TAIL_NAME_MAX] = '\0';
        }
        sanitize_name(group, false);
    }
    *ret_group = strdup(group);
    *ret_stream = strdup(stream);
    if (!*ret_group || !*ret_stream) {
        free(*ret_group);
        free(*ret_stream);
        return -ENOMEM;
    }
    return 0;
}

static struct tail_file *find_file(struct tail_ctx *x, uint64_t dev, uint64_t ino)
{
    for (size_t i = 0; i < x->n_files; i++)
        if (x->files[i]->dev == dev && x->files[i]->ino == ino)
            return x->files[i];
    return NULL;
}

static int add_file(struct tail_ctx *x, struct tail_file *f)
{
    if (x->n_files == x->cap_files) {
        size_t cap = x->cap_files ? x->cap_files * 2 : 8;
        struct tail_file **v = realloc(x->files, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        x->files = v;
        x->cap_files = cap;
    }
    x->files[x->n_files++] = f;
    return 0;
}

/* ---- scheduling ------------------------------------------------------------------- */

static void on_kick(uv_timer_t *t);
static void on_busy(uv_idle_t *h);

/* Run process() on the next loop turn (delay 0: an idle handle, because libuv 1.44 runs
 * a 0 ms timer re-armed from its own callback again in the same turn, starving I/O and
 * the ack wake-up) or after delay_ms. */
static void schedule(struct tail_ctx *x, uint64_t delay_ms)
{
    if (!x->timers_open || x->stopping)
        return;
    if (delay_ms == 0) {
        uv_idle_start(&x->busy, on_busy);
        return;
    }
    uint64_t due = uv_now(x->loop) + delay_ms;
    if (x->kick_due_ms && x->kick_due_ms <= due && uv_is_active((uv_handle_t *)&x->kick_timer))
        return;
    x->kick_due_ms = due;
    uv_timer_start(&x->kick_timer, on_kick, delay_ms, 0);
}

/* ---- delivery --------------------------------------------------------------------- */

static void commit(struct tail_ctx *x, struct tail_file *f, uint64_t off)
{
    (void)x;
    if (off > f->committed) {
        f->committed = off;
        f->ckpt_dirty = true;
    }
}

/* Move the checkpoint over an event that was not emitted (filtered, or refused by the
 * ring as invalid): at once when nothing of this file is in flight, else once the file's
 * in-flight events are all complete (and no rewind happened meanwhile). */
static void advance_local(struct tail_ctx *x, struct tail_file *f, uint64_t off)
{
    if (f->n_pending == 0) {
        commit(x, f, off);
        return;
    }
    if (f->deferred_epoch != f->epoch || off > f->deferred) {
        f->deferred = off;
        f->deferred_epoch = f->epoch;
    }
}

static void rewind_file(struct tail_ctx *x, struct tail_pending *e)
{
    struct tail_file *f = e->f;
    if (e->generation != f->generation || f->reset == TAIL_RESET_TRUNCATED)
        return; /* the file was truncated since: those bytes are gone */
    if (e->epoch != f->epoch && e->start_off >= f->last_rewind)
        return; /* an earlier rewind already re-reads it */
    if (f->reset == TAIL_RESET_REWIND && f->reset_to <= e->start_off)
        return;
    f->reset = TAIL_RESET_REWIND;
    f->reset_to = e->start_off;
    f->last_rewind = e->start_off;
    f->epoch++; /* nothing emitted before the rewind may move the checkpoint now */
    if (f->state == TAIL_FILE_FINISHED) {
        f->state = TAIL_FILE_DRAINING;
        f->framer_finished = false;
    }
    count_fine(x->c, TAIL_REJ_RESENT, 1);
}

/* Retire completed events at the head of the table. */
static void advance(struct tail_ctx *x)
{
    unsigned consumers = x->c->n_consumers;
    while (x->tail_seq < x->next_seq) {
        struct tail_pending *e = slot(x, x->tail_seq);
        if (e->answers < consumers)
            break;
        struct tail_file *f = e->f;
        if (e->epoch == f->epoch && !e->gave_up)
            commit(x, f, e->commit_off);
        f->n_pending--;
        if (f->n_pending == 0 && f->deferred_epoch == f->epoch && f->deferred)
            commit(x, f, f->deferred);
        if (f->n_pending == 0)
            f->deferred = 0;
        memset(e, 0, sizeof(*e));
        x->tail_seq++;
    }
    if (x->waiting_acks && x->next_seq - x->tail_seq < TAIL_PENDING_MAX) {
        x->waiting_acks = false;
        schedule(x, 0);
    }
}

static void complete(struct tail_ctx *x, struct tail_pending *e)
{
    if (e->gave_up)
        rewind_file(x, e);
    else if (e->rejected)
        selfstats_reject(&x->c->stats, DROP_REJECTED, TAIL_REJ_REJECTED, 1);
}

/* Emit one finished event. 0 = taken; -EAGAIN = no room (ring or table): try later. */
static int deliver_event(struct tail_ctx *x, struct tail_file *f, const struct built_event *ev)
{
    struct tail_taken *taken = &x->taken;
    struct collector *c = x->c;
    uint64_t commit_off = ev->last_part ? ev->end_off : ev->start_off;
    if (ev->filtered) {
        taken->records++;
        advance_local(x, f, commit_off);
        return 0;
    }
    if (x->next_seq - x->tail_seq >= TAIL_PENDING_MAX) {
        x->waiting_acks = true;
        return -EAGAIN;
    }
    uint64_t seq = x->next_seq;
    int r = collector_log_batch_add(c, &x->batch, f->group, f->stream, ev->ts_ns, seq, ev->msg,
                                    (uint32_t)ev->len);
    if (r == -ENOSPC) {
        collector_request_space(c);
        r = collector_log_batch_add(c, &x->batch, f->group, f->stream, ev->ts_ns, seq, ev->msg,
                                    (uint32_t)ev->len);
        if (r == -ENOSPC) {
            x->waiting_space = true;
            return -EAGAIN;
        }
    }
    taken->records++;
    taken->bytes += ev->len;
    if (r != 0) {
        /* Outside the record model (counted by the emit call): never deliverable, so
         * the checkpoint moves over it rather than stopping the file for good. */
        advance_local(x, f, commit_off);
        return 0;
    }
    struct tail_pending *e = slot(x, seq);
    *e = (struct tail_pending){
        .f = f,
        .start_off = ev->start_off,
        .commit_off = commit_off,
        .epoch = f->epoch,
        .generation = f->generation,
    };
    x->next_seq++;
    f->n_pending++;
    f->last_seq = seq;
    if (c->n_consumers == 0)
        advance(x);
    return 0;
}

static int take_events(struct tail_ctx *x, struct tail_file *f)
{
    struct built_event ev;
    while (log_event_builder_peek(f->builder, &ev)) {
        int r = deliver_event(x, f, &ev);
        if (r != 0)
            return r;
        log_event_builder_pop(f->builder);
    }
    return 0;
}

/* ---- reading ---------------------------------------------------------------------- */

static int reading_init(struct tail_ctx *x, struct tail_file *f, uint64_t off)
{
    f->buf = malloc(TAIL_READ_CHUNK);
    if (!f->buf)
        return -ENOMEM;
    int r = log_lines_init(&f->lines, TAIL_MAX_LINE);
    if (r != 0) {
        free(f->buf);
        f->buf = NULL;
        return r;
    }
    char err[256];
    r = log_event_builder_create(&x->opts, err, sizeof(err), &f->builder);
    if (r != 0)
        return r;
    log_lines_reset(&f->lines, off);
    f->read_off = off;
    f->committed = off;
    f->last_rewind = UINT64_MAX;
    f->ckpt_dirty = true;
    return 0;
}

/* A give-up: forget what is buffered past the failed event and read it again. */
static int do_rewind(struct tail_ctx *x, struct tail_file *f)
{
    char err[256];
    struct log_event_builder *b;
    int r = log_event_builder_create(&x->opts, err, sizeof(err), &b);
    if (r != 0)
        return r;
    sync_counters(x, f);
    log_event_builder_free(f->builder);
    f->builder = b;
    memset(&f->seen, 0, sizeof(f->seen));
    f->have_held = false;
    f->lines_ready = false;
    f->framer_finished = false;
    log_lines_reset(&f->lines, f->reset_to);
    f->read_off = f->reset_to;
    f->reset = TAIL_RESET_NONE;
    return 0;
}

static bool check_truncated(struct tail_ctx *x, struct tail_file *f, uint64_t size,
                            bool head_changed);
static bool wake_closed(struct tail_ctx *x, struct tail_file *f, uint64_t now);
static size_t count_open(const struct tail_ctx *x);

enum pump_result { PUMP_IDLE, PUMP_MORE, PUMP_BLOCKED };

/* Move one file along: take finished events, frame and push what was read, handle a
 * pending reset, then read more (unless !may_read: at stop only what is buffered goes). */
static enum pump_result pump_file(struct tail_ctx *x, struct tail_file *f, uint64_t now,
                                  bool may_read)
{
    unsigned chunks = 0;
    if (f->fd < 0 && (!may_read || !wake_closed(x, f, now)))
        return PUMP_IDLE;
    if (f->reset == TAIL_RESET_REWIND && do_rewind(x, f) != 0)
        return PUMP_MORE; /* out of memory: try again on the next turn */
    for (;;) {
        if (take_events(x, f) != 0)
            return PUMP_BLOCKED;
        if (f->have_held) {
            int r = log_event_builder_push(f->builder, &f->held, now);
            if (r == -EBUSY)
                continue;
            if (r != 0)
                return PUMP_MORE;
            f->have_held = false;
            continue;
        }
        if (f->lines_ready) {
            if (log_lines_next(&f->lines, &f->held)) {
                struct built_event ev;
                /* A line that is its own event goes out without the builder's copy; when
                 * there is no room it is held and offered to the builder later, which
                 * makes the same event of it. */
                if (log_event_builder_line_event(f->builder, &f->held, now, &ev)) {
                    int r = deliver_event(x, f, &ev);
                    if (r == 0) {
                        log_event_builder_line_taken(f->builder);
                        continue;
                    }
                    f->have_held = true;
                    return PUMP_BLOCKED;
                }
                f->have_held = true;
                continue;
            }
            f->lines_ready = false;
        }
        if (!may_read)
            return PUMP_IDLE;
        if (f->reset == TAIL_RESET_TRUNCATED) {
            /* What was read of the old content is finished and sent first. */
            if (!f->reset_flushed) {
                log_lines_finish(&f->lines);
                f->lines_ready = true;
                f->reset_flushed = true;
                continue;
            }
            log_event_builder_flush(f->builder, now, true);
            if (take_events(x, f) != 0)
                return PUMP_BLOCKED;
            log_lines_reset(&f->lines, 0);
            f->read_off = 0;
            f->committed = 0;
            f->ckpt_dirty = true;
            f->epoch++;
            f->generation++;
            f->last_rewind = UINT64_MAX;
            f->deferred = 0;
            f->reset = TAIL_RESET_NONE;
            f->reset_flushed = false;
            f->framer_finished = false;
            (void)tail_fp_head(f->fd, f->size, &f->head);
            continue;
        }
        if (f->state == TAIL_FILE_FINISHED)
            return PUMP_IDLE;
        if (chunks == TAIL_TICK_CHUNKS)
            return PUMP_MORE;
        if (f->at_eof && f->reset == TAIL_RESET_NONE) {
            /* New bytes after an EOF: make sure they follow what we read, not a rewrite
             * from 0 that only the next probe would notice. */
            struct tail_probe p;
            if (tail_file_probe(f, &p) == 0 && check_truncated(x, f, p.size, p.head_changed))
                continue;
        }
        ssize_t n = pread(f->fd, f->buf, TAIL_READ_CHUNK, (off_t)f->read_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            log_complain(&x->read_complain, LOG_LEVEL_WARN, x->c->name,
                         "cannot read '%s': %s, retrying", f->path, strerror(errno));
            return PUMP_IDLE;
        }
        if (n > 0) {
            chunks++;
            log_lines_feed(&f->lines, f->buf, (size_t)n, f->read_off);
            f->read_off += (uint64_t)n;
            if (f->read_off > f->size)
                f->size = f->read_off;
            f->lines_ready = true;
            f->at_eof = false;
            f->last_active_ns = now;
            if (f->state == TAIL_FILE_DRAINING)
                f->state_since_ns = now; /* still being written: wait for it to go quiet */
            continue;
        }
        f->at_eof = true;
        if (f->state == TAIL_FILE_DRAINING && now - f->state_since_ns >= TAIL_DRAIN_GRACE_NS) {
            if (!f->framer_finished) {
                log_lines_finish(&f->lines);
                f->lines_ready = true;
                f->framer_finished = true;
                continue;
            }
            log_event_builder_flush(f->builder, now, true);
            if (take_events(x, f) != 0)
                return PUMP_BLOCKED;
            f->state = TAIL_FILE_FINISHED;
            f->ckpt_dirty = true;
            return PUMP_IDLE;
        }
        log_event_builder_flush(f->builder, now, false);
        if (take_events(x, f) != 0)
            return PUMP_BLOCKED;
        return PUMP_IDLE;
    }
}

/* What a pump took goes out together: the open batch is committed (events leave in as few
 * ring records as fit) and the shared counters are added to, before control returns to
 * the loop. */
static void publish_taken(struct tail_ctx *x, struct tail_file *f)
{
    collector_log_batch_commit(x->c, &x->batch);
    if (x->taken.records) {
        selfstats_add(&x->c->stats.records_in, x->taken.records);
        selfstats_add(&x->c->stats.bytes_in, x->taken.bytes);
        x->taken = (struct tail_taken){0};
    }
    sync_counters(x, f);
}

static enum pump_result pump(struct tail_ctx *x, struct tail_file *f, uint64_t now, bool may_read)
{
    enum pump_result r = pump_file(x, f, now, may_read);
    publish_taken(x, f);
    return r;
}

/* ---- checkpoints ------------------------------------------------------------------ */

static void ckpt_put(struct tail_ctx *x, struct tail_file *f, uint64_t now_real)
{
    if (!x->store || !f->ckpt_dirty || f->fd < 0)
        return;
    struct checkpoint_entry e = {
        .path = f->path,
        .dev = f->dev,
        .ino = f->ino,
        .offset = f->committed,
        .head_len = f->head.len,
        .head_hash = f->head.hash,
        .updated_unix_ns = now_real,
        .finished = f->state == TAIL_FILE_FINISHED && f->committed >= f->read_off,
    };
    struct tail_fp tail;
    if (tail_fp_tail(f->fd, f->committed, &tail) != 0)
        return; /* shorter than the offset now: a truncation the next probe handles */
    e.tail_len = tail.len;
    e.tail_hash = tail.hash;
    if (checkpoint_store_put(x->store, &e) == 0)
        f->ckpt_dirty = false;
}

static void ckpt_flush(struct tail_ctx *x)
{
    if (!x->store)
        return;
    uint64_t now_real = clock_realtime_ns();
    for (size_t i = 0; i < x->n_files; i++)
        ckpt_put(x, x->files[i], now_real);
    if (!checkpoint_store_dirty(x->store))
        return;
    int r = checkpoint_store_flush(x->store);
    if (r != 0)
        log_complain(&x->ckpt_complain, LOG_LEVEL_WARN, x->c->name,
                     "cannot write checkpoint '%s/%s.json': %s, retrying", x->store_dir,
                     x->store_name, strerror(-r));
    else
        log_complain_clear(&x->ckpt_complain, x->c->name, "checkpoint '%s/%s.json' written again",
                           x->store_dir, x->store_name);
}

/* Drop finished files whose events are all delivered. */
static void sweep(struct tail_ctx *x)
{
    for (size_t i = 0; i < x->n_files;) {
        struct tail_file *f = x->files[i];
        if (f->state != TAIL_FILE_FINISHED || f->n_pending > 0 || f->reset != TAIL_RESET_NONE) {
            i++;
            continue;
        }
        bool removed = false;
        if (f->auto_remove) {
            /* Never a file that took the name since: only the one we read. */
            struct stat st;
            if (stat(f->path, &st) == 0 && (uint64_t)st.st_dev == f->dev &&
                (uint64_t)st.st_ino == f->ino && (uint64_t)st.st_size == f->read_off &&
                unlink(f->path) == 0) {
                removed = true;
                log_info(x->c->name, "auto_removal: deleted '%s' (fully delivered)", f->path);
            }
        }
        /* A finished file that still exists keeps its record (finished, at its end): if
         * it is selected again (a late write makes it the newest), only what follows is
         * read. Records of files gone are pruned (prune_store). */
        if (x->store && removed) {
            checkpoint_store_remove(x->store, f->dev, f->ino);
        } else if (x->store) {
            f->ckpt_dirty = true;
            ckpt_put(x, f, clock_realtime_ns());
        }
        tail_file_close(f);
        /* Keep the order files were followed in: it orders a rotated file before its
         * successor (see blocked_by_predecessor). */
        memmove(&x->files[i], &x->files[i + 1], (x->n_files - i - 1) * sizeof(x->files[0]));
        x->n_files--;
        if (x->files_skipped) {
            x->files_skipped = false;
            x->rescan_needed = true; /* a place is free for a match we skipped */
        }
    }
}

/* ---- discovery -------------------------------------------------------------------- */

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status);

static void on_watch_closed(uv_handle_t *h)
{
    struct tail_watch *w = h->data;
    struct collector *c = w->x->c;
    free(w->dir);
    free(w);
    collector_handle_closed(c);
}

static bool watched(struct tail_ctx *x, const char *dir)
{
    for (size_t i = 0; i < x->n_watches; i++)
        if (strcmp(x->watches[i]->dir, dir) == 0)
            return true;
    return false;
}

static void update_watches(struct tail_ctx *x)
{
    x->watch_failed = false;
    for (size_t i = 0; i < x->matches.n_dirs; i++) {
        const char *dir = x->matches.dirs[i];
        if (watched(x, dir))
            continue;
        if (x->n_watches == TAIL_MAX_WATCHES) {
            x->watch_failed = true;
            return;
        }
        struct tail_watch *w = calloc(1, sizeof(*w));
        if (!w || !(w->dir = strdup(dir))) {
            free(w);
            x->watch_failed = true;
            return;
        }
        w->x = x;
        w->handle.data = w;
        if (uv_fs_event_init(x->loop, &w->handle) != 0) {
            free(w->dir);
            free(w);
            x->watch_failed = true;
            return;
        }
        collector_handle_opened(x->c);
        if (uv_fs_event_start(&w->handle, on_fs_event, dir, 0) != 0) {
            x->watch_failed = true;
            uv_close((uv_handle_t *)&w->handle, on_watch_closed);
            continue;
        }
        x->watches[x->n_watches++] = w;
    }
    if (x->matches.n_dirs == 0)
        x->watch_failed = true; /* nothing to watch yet: the directory may appear */
}

static bool is_selected(const struct tail_ctx *x, size_t i)
{
    return x->publish_multi_logs || i == x->matches.newest;
}

/* Start offset of a file seen for the first time: its checkpoint when the fingerprints
 * agree, else its end (initial scan without from_beginning) or its beginning. */
static uint64_t start_offset(struct tail_ctx *x, struct tail_file *f, bool initial)
{
    const struct checkpoint_entry *e =
        x->store ? checkpoint_store_find(x->store, f->dev, f->ino) : NULL;
    if (e) {
        if (tail_fp_verify(f->fd, f->size, e))
            return e->offset;
        log_info(x->c->name,
                 "'%s' reuses the inode of a checkpointed file: reading it from the "
                 "start",
                 f->path);
    }
    if (initial && !x->from_beginning)
        return f->size;
    return 0;
}

static int follow(struct tail_ctx *x, const char *path, const char *name_path, bool initial,
                  const struct checkpoint_entry *resume, struct tail_file **ret)
{
    if (count_open(x) >= TAIL_MAX_FILES) {
        count_fine(x->c, TAIL_REJ_TOO_MANY_FILES, 1);
        x->files_skipped = true;
        log_complain(&x->files_complain, LOG_LEVEL_WARN, x->c->name,
                     "more than %u files match '%s': '%s' is not tailed for now, retrying",
                     TAIL_MAX_FILES, x->file_path, path);
        return -EMFILE;
    }
    struct tail_file *f;
    int r = tail_file_open(path, &f);
    if (r != 0)
        return r;
    if (resume && !tail_fp_verify(f->fd, f->size, resume)) {
        tail_file_close(f);
        return -ESTALE;
    }
    uint64_t off = resume ? resume->offset : start_offset(x, f, initial);
    r = reading_init(x, f, off);
    if (r == 0)
        r = file_names(x, name_path, &f->group, &f->stream);
    if (r == 0)
        r = add_file(x, f);
    if (r != 0) {
        tail_file_close(f);
        return r;
    }
    f->state_since_ns = f->last_active_ns = clock_realtime_ns();
    log_info(x->c->name, "tailing '%s' from offset %llu -> %s/%s", path, (unsigned long long)off,
             f->group, f->stream);
    *ret = f;
    return 0;
}

static void rescan(struct tail_ctx *x, bool initial)
{
    x->rescan_needed = false;
    x->last_rescan_ms = uv_now(x->loop);
    if (tail_glob_expand(x->glob, x->exclude_dir, &x->matches) != 0) {
        x->rescan_needed = true;
        return;
    }
    uint64_t now = clock_realtime_ns();
    /* Files we follow under a new name (multi-log renames) keep their identity. */
    for (size_t i = 0; i < x->matches.n; i++) {
        const struct tail_match *m = &x->matches.v[i];
        struct tail_file *f = find_file(x, m->dev, m->ino);
        if (f && f->state == TAIL_FILE_ACTIVE && strcmp(f->path, m->path) != 0) {
            char *p = strdup(m->path);
            if (p) {
                free(f->path);
                f->path = p;
            }
        }
    }
    for (size_t i = 0; i < x->matches.n; i++) {
        if (!is_selected(x, i))
            continue;
        const struct tail_match *m = &x->matches.v[i];
        struct tail_file *g = find_file(x, m->dev, m->ino);
        if (g && g->state == TAIL_FILE_DRAINING && g->reset == TAIL_RESET_NONE) {
            /* Selected again (single-file mode: the newest once more): follow it again. */
            char *p = strdup(m->path);
            if (p) {
                free(g->path);
                g->path = p;
                g->state = TAIL_FILE_ACTIVE;
                g->framer_finished = false;
                g->auto_remove = false;
            }
        }
        if (g)
            continue;
        struct tail_file *f;
        int r = follow(x, m->path, m->path, initial, NULL, &f);
        if (r != 0 && r != -EMFILE && r != -ENOENT)
            log_complain(&x->open_complain, LOG_LEVEL_WARN, x->c->name,
                         "cannot tail '%s': %s, retrying", m->path, strerror(-r));
        if (r != 0 && r != -EMFILE && r != -ENOENT)
            x->rescan_needed = true; /* retried by the next poll */
    }
    /* Followed files the pattern no longer selects are read to their end. */
    for (size_t k = 0; k < x->n_files; k++) {
        struct tail_file *f = x->files[k];
        if (f->state != TAIL_FILE_ACTIVE)
            continue;
        bool selected = false;
        for (size_t i = 0; i < x->matches.n && !selected; i++)
            selected =
                is_selected(x, i) && x->matches.v[i].dev == f->dev && x->matches.v[i].ino == f->ino;
        if (selected)
            continue;
        f->state = TAIL_FILE_DRAINING;
        f->state_since_ns = f->drain_started_ns = now;
        /* auto_removal: a newer file took over (the agent's semantics, single-file
         * mode only). */
        f->auto_remove = x->auto_removal && !x->publish_multi_logs && x->matches.n > 0;
    }
    update_watches(x);
}

/* Look for a file by identity among the entries of `dir`; the path in ret (malloc'ed). */
static char *find_in_dir(const char *file_path, uint64_t dev, uint64_t ino)
{
    char dir[TAIL_GLOB_MAX_PATH + 1];
    snprintf(dir, sizeof(dir), "%s", file_path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return NULL;
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char *found = NULL;
    struct dirent *de;
    char path[TAIL_GLOB_MAX_PATH + 256];
    while (!found && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        int n = snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, de->d_name);
        if (n < 0 || (size_t)n >= sizeof(path))
            continue;
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_dev == dev &&
            (uint64_t)st.st_ino == ino)
            found = strdup(path);
    }
    closedir(d);
    return found;
}

/* A checkpointed file that left its path while we were down: find it by identity in its
 * directory (app.log.1, app.log-20261204, ...) and read its unread tail once. */
static void recover_rotated(struct tail_ctx *x)
{
    if (!x->store)
        return;
    size_t n = checkpoint_store_count(x->store);
    /* Collect the candidates first: following a file puts into the store. */
    struct checkpoint_entry *candidates = calloc(n ? n : 1, sizeof(*candidates));
    if (!candidates)
        return;
    size_t n_candidates = 0;
    for (size_t i = 0; i < n; i++) {
        const struct checkpoint_entry *e = checkpoint_store_at(x->store, i);
        bool selected = false;
        for (size_t k = 0; k < x->matches.n && !selected; k++)
            selected =
                is_selected(x, k) && x->matches.v[k].dev == e->dev && x->matches.v[k].ino == e->ino;
        if (selected)
            continue;
        candidates[n_candidates] = *e;
        candidates[n_candidates].path = strdup(e->path);
        if (!candidates[n_candidates].path)
            break;
        n_candidates++;
    }
    for (size_t i = 0; i < n_candidates; i++) {
        struct checkpoint_entry *e = &candidates[i];
        char *path = find_in_dir(e->path, e->dev, e->ino);
        struct stat st;
        bool grown = path && stat(path, &st) == 0 && (uint64_t)st.st_size > e->offset;
        struct tail_file *f;
        if (path && e->finished && !grown) {
            /* Fully read before we stopped and not written since: keep its record. */
        } else if (path && follow(x, path, e->path, false, e, &f) == 0) {
            f->state = TAIL_FILE_DRAINING;
            f->state_since_ns = 0; /* rotated while we were down: done at its end */
            f->drain_started_ns = clock_realtime_ns();
            log_info(x->c->name,
                     "'%s' was rotated to '%s' while stopped: reading its last %llu bytes", e->path,
                     path, (unsigned long long)(f->size - e->offset));
        } else if (!find_file(x, e->dev, e->ino)) {
            if (!e->finished)
                log_info(x->c->name, "checkpointed file '%s' is gone: forgetting it", e->path);
            checkpoint_store_remove(x->store, e->dev, e->ino);
        }
        free(path);
        free(e->path);
    }
    free(candidates);
}

/* Content replaced under us (truncation, copytruncate): shorter than what we read, or
 * its first bytes changed. Then what is held is finished and reading restarts at 0. */
static bool check_truncated(struct tail_ctx *x, struct tail_file *f, uint64_t size,
                            bool head_changed)
{
    /* A draining file too: the copytruncate'd original in single-file mode while its copy
     * is the newest match. */
    if (f->state == TAIL_FILE_FINISHED || f->reset != TAIL_RESET_NONE ||
        (size >= f->read_off && !head_changed))
        return false;
    uint64_t lost = f->size > f->read_off ? f->size - f->read_off : 0;
    count_fine(x->c, TAIL_REJ_TRUNCATED, lost);
    log_info(x->c->name, "'%s' was truncated (%llu unread bytes lost): reading it from the start",
             f->path, (unsigned long long)lost);
    f->reset = TAIL_RESET_TRUNCATED;
    f->reset_flushed = false;
    f->size = size;
    return true;
}

static size_t count_open(const struct tail_ctx *x)
{
    size_t n = 0;
    for (size_t i = 0; i < x->n_files; i++)
        n += x->files[i]->fd >= 0;
    return n;
}

/* Nothing buffered, nothing in flight, quiet for TAIL_IDLE_CLOSE_NS: the descriptor can
 * go (the file stays followed by identity and offset). */
static bool idle(const struct tail_file *f, const struct tail_probe *p, uint64_t now)
{
    struct built_event ev;
    return f->state == TAIL_FILE_ACTIVE && f->fd >= 0 && f->at_eof && f->n_pending == 0 &&
           !f->have_held && f->reset == TAIL_RESET_NONE && !p->path_moved && !p->unlinked &&
           p->size == f->read_off && log_lines_consumed_offset(&f->lines) == f->read_off &&
           log_event_builder_deadline(f->builder) == 0 &&
           !log_event_builder_peek(f->builder, &ev) &&
           now - f->last_active_ns >= TAIL_IDLE_CLOSE_NS;
}

static void reading_release(struct tail_ctx *x, struct tail_file *f)
{
    sync_counters(x, f);
    if (f->buf)
        log_lines_release(&f->lines);
    free(f->buf);
    f->buf = NULL;
    log_event_builder_free(f->builder);
    f->builder = NULL;
    memset(&f->seen, 0, sizeof(f->seen));
    f->lines_ready = false;
}

static void close_idle(struct tail_ctx *x, struct tail_file *f)
{
    f->ckpt_dirty = true;
    ckpt_put(x, f, clock_realtime_ns());
    close(f->fd);
    f->fd = -1;
    reading_release(x, f);
    log_debug(x->c->name, "'%s' idle: closed at offset %llu", f->path,
              (unsigned long long)f->read_off);
}

/* A file closed while idle: reopen it when it has new bytes, at its path or, when it was
 * rotated away meanwhile, under its new name in the same directory. A file gone for good
 * (fully read when it was closed) is finished. Returns true when it is open again. */
static bool wake_closed(struct tail_ctx *x, struct tail_file *f, uint64_t now)
{
    struct stat st;
    bool at_path =
        stat(f->path, &st) == 0 && (uint64_t)st.st_dev == f->dev && (uint64_t)st.st_ino == f->ino;
    char *moved = at_path ? NULL : find_in_dir(f->path, f->dev, f->ino);
    if (moved && stat(moved, &st) != 0) {
        free(moved);
        moved = NULL;
    }
    if (!at_path && !moved) {
        f->state = TAIL_FILE_FINISHED; /* gone, and everything in it was delivered */
        x->rescan_needed = true;
        return false;
    }
    if (!moved && (uint64_t)st.st_size == f->read_off && f->state == TAIL_FILE_ACTIVE)
        return false; /* nothing new (a write elsewhere in the directory) */
    if ((uint64_t)st.st_size == f->read_off) {
        free(moved);
        f->state = TAIL_FILE_FINISHED; /* rotated away with nothing more in it */
        x->rescan_needed = true;
        return false;
    }
    if (count_open(x) >= TAIL_MAX_FILES) {
        free(moved);
        count_fine(x->c, TAIL_REJ_TOO_MANY_FILES, 1);
        return false; /* the next probe tries again */
    }
    const char *path = moved ? moved : f->path;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat fst;
    if (fd < 0 || fstat(fd, &fst) != 0 || (uint64_t)fst.st_dev != f->dev ||
        (uint64_t)fst.st_ino != f->ino) {
        if (fd >= 0)
            close(fd);
        free(moved);
        return false;
    }
    uint64_t committed = f->committed;
    f->fd = fd;
    if (reading_init(x, f, f->read_off) != 0) {
        reading_release(x, f);
        close(fd);
        f->fd = -1;
        free(moved);
        return false;
    }
    f->committed = committed;
    f->size = (uint64_t)fst.st_size;
    f->at_eof = true; /* check the head before reading on */
    f->last_active_ns = now;
    if (moved) {
        free(f->path);
        f->path = moved;
        f->state = TAIL_FILE_DRAINING;
        f->state_since_ns = f->drain_started_ns = now;
        x->rescan_needed = true;
    }
    return true;
}

static void probe_files(struct tail_ctx *x)
{
    uint64_t now = clock_realtime_ns();
    bool kick = false;
    for (size_t i = 0; i < x->n_files; i++) {
        struct tail_file *f = x->files[i];
        if (f->state == TAIL_FILE_FINISHED)
            continue;
        if (f->fd < 0) {
            kick |= wake_closed(x, f, now) || f->state == TAIL_FILE_FINISHED;
            continue;
        }
        struct tail_probe p;
        if (tail_file_probe(f, &p) != 0)
            continue;
        if (f->state == TAIL_FILE_ACTIVE) {
            if (p.unlinked) {
                f->state = TAIL_FILE_DRAINING;
                f->state_since_ns = f->drain_started_ns = now;
                x->rescan_needed = true;
            } else if (p.path_moved) {
                x->rescan_needed = true; /* the rescan decides: renamed but matched, or gone */
            } else if (check_truncated(x, f, p.size, p.head_changed)) {
                kick = true;
                continue;
            } else if (idle(f, &p, now)) {
                close_idle(x, f);
                continue;
            } else {
                f->size = p.size;
                (void)tail_file_grow_head(f);
            }
        } else if (!p.path_moved && check_truncated(x, f, p.size, p.head_changed)) {
            kick = true; /* a draining file still at its path, truncated in place */
            continue;
        }
        f->size = p.size;
        if (p.size > f->read_off || f->state == TAIL_FILE_DRAINING)
            kick = true;
    }
    if (kick)
        schedule(x, 0);
}

/* ---- loop callbacks --------------------------------------------------------------- */

/* Events of one stream keep the order of the files: a file waits while an older file of
 * the same group and stream (the one rotated away before it) is still being drained, for
 * at most TAIL_ORDER_WAIT_NS (a writer that never lets go of the old file must not stop
 * the new one for ever). */
static bool blocked_by_predecessor(const struct tail_ctx *x, size_t i, uint64_t now)
{
    const struct tail_file *f = x->files[i];
    for (size_t j = 0; j < i; j++) {
        const struct tail_file *p = x->files[j];
        if (p->state == TAIL_FILE_DRAINING && now - p->drain_started_ns < TAIL_ORDER_WAIT_NS &&
            strcmp(p->group, f->group) == 0 && strcmp(p->stream, f->stream) == 0)
            return true;
    }
    return false;
}

static void process(struct tail_ctx *x)
{
    if (x->rescan_needed)
        rescan(x, false);
    uint64_t now = clock_realtime_ns();
    bool more = false;
    for (size_t i = 0; i < x->n_files; i++) {
        if (blocked_by_predecessor(x, i, now))
            continue; /* the predecessor's deadline (drain grace) schedules us */
        enum pump_result r = pump(x, x->files[i], now, true);
        if (r == PUMP_BLOCKED)
            return; /* on_space or an ack resumes us */
        more |= r == PUMP_MORE;
    }
    sweep(x);
    if (more) {
        schedule(x, 0);
        return;
    }
    uint64_t deadline = 0;
    for (size_t i = 0; i < x->n_files; i++) {
        uint64_t d = x->files[i]->builder ? log_event_builder_deadline(x->files[i]->builder) : 0;
        if (d && (!deadline || d < deadline))
            deadline = d;
        if (x->files[i]->state == TAIL_FILE_DRAINING) {
            uint64_t g = x->files[i]->state_since_ns + TAIL_DRAIN_GRACE_NS;
            if (!deadline || g < deadline)
                deadline = g;
        }
    }
    if (deadline)
        schedule(x, deadline > now ? (deadline - now) / NS_PER_MS + 1 : 0);
}

static void on_kick(uv_timer_t *t)
{
    struct tail_ctx *x = t->data;
    x->kick_due_ms = 0;
    process(x);
}

static void on_busy(uv_idle_t *h)
{
    struct tail_ctx *x = h->data;
    uv_idle_stop(h);
    process(x);
}

/* Acks can be lost (the agent's ack queue was full: agent/pipeline.h). An event left
 * unanswered for TAIL_ACK_LOST_NS while later ones were answered is presumed lost and
 * handled like a give-up: its file is read again from it (duplicates, never a loss),
 * instead of holding the checkpoint, and soon the whole table, for ever. */
static void check_lost_acks(struct tail_ctx *x)
{
    uint64_t now = clock_monotonic_ns();
    if (x->tail_seq >= x->next_seq || x->max_answered_seq <= x->tail_seq) {
        x->stuck_seq = 0;
        return;
    }
    if (x->stuck_seq != x->tail_seq) {
        x->stuck_seq = x->tail_seq;
        x->stuck_since_ns = now;
        return;
    }
    if (now - x->stuck_since_ns < TAIL_ACK_LOST_NS)
        return;
    unsigned consumers = x->c->n_consumers;
    uint64_t n = 0;
    for (uint64_t seq = x->tail_seq; seq < x->max_answered_seq && seq < x->next_seq; seq++) {
        struct tail_pending *e = slot(x, seq);
        if (!e->f || e->answers >= consumers)
            continue;
        e->answers = (uint16_t)consumers;
        e->gave_up = true;
        complete(x, e);
        n++;
    }
    count_fine(x->c, TAIL_REJ_ACK_TIMEOUT, n);
    log_warn(x->c->name,
             "%llu events unanswered for %llu s while later ones were answered: presumed lost, "
             "reading them again",
             (unsigned long long)n, (unsigned long long)(TAIL_ACK_LOST_NS / NS_PER_SEC));
    x->stuck_seq = 0;
    advance(x);
    schedule(x, 0);
}

/* Records of finished files are kept while the files exist (see sweep); drop those of
 * files that are gone, once a minute. */
static void prune_store(struct tail_ctx *x)
{
    if (!x->store)
        return;
    size_t n = checkpoint_store_count(x->store);
    uint64_t(*gone)[2] = calloc(n ? n : 1, sizeof(*gone));
    if (!gone)
        return;
    size_t n_gone = 0;
    for (size_t i = 0; i < n; i++) {
        const struct checkpoint_entry *e = checkpoint_store_at(x->store, i);
        if (!e->finished || find_file(x, e->dev, e->ino))
            continue;
        struct stat st;
        if (stat(e->path, &st) == 0 && (uint64_t)st.st_dev == e->dev &&
            (uint64_t)st.st_ino == e->ino)
            continue;
        char *elsewhere = find_in_dir(e->path, e->dev, e->ino);
        if (elsewhere) {
            free(elsewhere);
            continue;
        }
        gone[n_gone][0] = e->dev;
        gone[n_gone][1] = e->ino;
        n_gone++;
    }
    for (size_t i = 0; i < n_gone; i++)
        checkpoint_store_remove(x->store, gone[i][0], gone[i][1]);
    free(gone);
}

static void on_poll(uv_timer_t *t)
{
    struct tail_ctx *x = t->data;
    if (++x->ckpt_ticks % (TAIL_POLL_MS / TAIL_CKPT_MS) != 0) {
        ckpt_flush(x);
        return;
    }
    probe_files(x);
    check_lost_acks(x);
    if (++x->polls % TAIL_PRUNE_POLLS == 0)
        prune_store(x);
    uint64_t since = uv_now(x->loop) - x->last_rescan_ms;
    /* Watches miss new places (a `**`, wildcard directories, no directory yet); and in
     * single-file mode the newest of several matches can change with a plain write. */
    bool blind = x->watch_failed || !tail_glob_is_flat(x->glob) ||
                 (!x->publish_multi_logs && x->matches.n > 1);
    if (x->rescan_needed || (blind && since >= TAIL_RESCAN_MS)) {
        x->rescan_needed = true;
        schedule(x, 0);
    }
    ckpt_flush(x);
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    struct tail_watch *w = h->data;
    struct tail_ctx *x = w->x;
    if (status == 0 && filename && events == UV_CHANGE) {
        /* A write in the directory: read it if it is one of ours; rescan if it is a match
         * we do not follow (it may be the newest now); else leave it (the poll covers a
         * symlink's target). */
        for (size_t i = 0; i < x->n_files; i++) {
            const char *slash = strrchr(x->files[i]->path, '/');
            if (strcmp(slash ? slash + 1 : x->files[i]->path, filename) == 0) {
                schedule(x, 0);
                return;
            }
        }
        char path[TAIL_GLOB_MAX_PATH + 256];
        int n = snprintf(path, sizeof(path), "%s/%s", w->dir, filename);
        if (n < 0 || (size_t)n >= sizeof(path) || !tail_glob_match(x->glob, path, (size_t)n) ||
            tail_glob_excluded(x->glob, path))
            return;
    }
    x->rescan_needed = true;
    schedule(x, 0);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct tail_ctx *x = h->data;
    collector_handle_closed(x->c);
}

/* ---- collector callbacks ---------------------------------------------------------- */

static int parse_filters(struct collector *c, struct tail_ctx *x)
{
    json_t *list = x->filters_json;
    if (!list)
        return 0;
    if (!json_is_array(list)) {
        collector_config_error(c, "filters", "'filters' must be an array, got %s",
                               cfg_json_type_name(list));
        return -EINVAL;
    }
    size_t n = json_array_size(list);
    x->filters = calloc(n ? n : 1, sizeof(*x->filters));
    if (!x->filters)
        return -ENOMEM;
    int ret = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(list, i);
        char key[32];
        snprintf(key, sizeof(key), "filters/%zu", i);
        if (!json_is_object(item)) {
            collector_config_error(c, key, "a filter must be an object, got %s",
                                   cfg_json_type_name(item));
            ret = -EINVAL;
            continue;
        }
        const char *type = NULL, *expr = NULL;
        const char *k;
        json_t *v;
        json_object_foreach(item, k, v)
        {
            if (strcmp(k, "type") == 0 && json_is_string(v)) {
                type = json_string_value(v);
            } else if (strcmp(k, "expression") == 0 && json_is_string(v)) {
                expr = json_string_value(v);
            } else {
                collector_config_error(c, key,
                                       "unknown or non-string key '%s' in a filter (known keys: "
                                       "type, expression)",
                                       k);
                ret = -EINVAL;
            }
        }
        if (!type || (strcmp(type, "include") != 0 && strcmp(type, "exclude") != 0)) {
            collector_config_error(c, key, "a filter needs \"type\": \"include\" or \"exclude\"");
            ret = -EINVAL;
            continue;
        }
        if (!expr) {
            collector_config_error(c, key, "a filter needs an \"expression\" (a regex)");
            ret = -EINVAL;
            continue;
        }
        x->filters[x->n_filters++] =
            (struct log_filter_spec){.exclude = strcmp(type, "exclude") == 0, .expression = expr};
    }
    return ret;
}

static int tail_init(struct collector *c)
{
    struct tail_ctx *x = c->ctx;
    x->c = c;
    c->stats.reject_names = tail_reject_names;
    int ret = 0;

    char err[512];
    int r = tail_glob_compile(x->file_path, x->blacklist, err, sizeof(err), &x->glob);
    if (r == -ENOMEM)
        return r;
    if (r != 0) {
        collector_config_error(c, "file_path", "%s", err);
        ret = -EINVAL;
    }
    if (x->retention_in_days != -1 && x->retention_in_days != 0) {
        bool ok = false;
        for (size_t i = 0; i < sizeof(retention_values) / sizeof(retention_values[0]); i++)
            ok |= retention_values[i] == x->retention_in_days;
        if (!ok) {
            collector_config_error(c, "retention_in_days",
                                   "%lld is not a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, "
                                   "60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, "
                                   "2557, 2922, 3288, 3653, or -1 for never)",
                                   (long long)x->retention_in_days);
            ret = -EINVAL;
        }
    }
    r = parse_filters(c, x);
    if (r == -ENOMEM)
        return r;
    if (r != 0)
        ret = -EINVAL;
    x->opts = (struct log_event_opts){
        .multi_line_start_pattern = x->multi_line_start_pattern,
        .timestamp_format = x->timestamp_format,
        .timezone_utc = x->timezone == 1,
        .encoding = x->encoding,
        .filters = x->filters,
        .n_filters = x->n_filters,
    };
    if (ret == 0) {
        /* The builder checks the regexes, the format and the encoding. */
        struct log_event_builder *b;
        r = log_event_builder_create(&x->opts, err, sizeof(err), &b);
        if (r == -ENOMEM)
            return r;
        if (r != 0) {
            collector_config_error(c, NULL, "%s", err);
            ret = -EINVAL;
        } else {
            log_event_builder_free(b);
        }
    }
    char nerr[256];
    if (x->log_group_name && log_names_check(x->log_group_name, nerr, sizeof(nerr)) != 0) {
        collector_config_error(c, "log_group_name", "%s", nerr);
        ret = -EINVAL;
    }
    if (x->log_stream_name && log_names_check(x->log_stream_name, nerr, sizeof(nerr)) != 0) {
        collector_config_error(c, "log_stream_name", "%s", nerr);
        ret = -EINVAL;
    }
    /* One checkpoint store per entry, named after its pattern: reordering the collect_list
     * keeps each entry's positions. */
    snprintf(x->store_name, sizeof(x->store_name), "files_%016llx",
             (unsigned long long)checkpoint_hash(x->file_path, strlen(x->file_path)));
    if (c->env->state_dir && *c->env->state_dir) {
        size_t len = strlen(c->env->state_dir) + sizeof(TAIL_STORE_SUBDIR) + 2;
        x->store_dir = malloc(len);
        x->exclude_dir = strdup(c->env->state_dir);
        if (!x->store_dir || !x->exclude_dir)
            return -ENOMEM;
        snprintf(x->store_dir, len, "%s/%s", c->env->state_dir, TAIL_STORE_SUBDIR);
    }
    return ret;
}

static int expand_names(struct tail_ctx *x)
{
    uint64_t now = clock_realtime_ns();
    x->group[0] = '\0';
    if (x->log_group_name && *x->log_group_name) {
        int r = log_names_expand(x->log_group_name, x->c->env, now, x->group, sizeof(x->group));
        if (r < 0) {
            log_error(x->c->name, "cannot expand log_group_name '%s': %s", x->log_group_name,
                      strerror(-r));
            return r;
        }
    }
    /* The entry's stream, else logs.log_stream_name, else "" = the agent's default
     * ({instance_id}, with log_names' fallback off EC2). */
    const char *tmpl = x->log_stream_name && *x->log_stream_name ? x->log_stream_name
                       : x->c->env->default_log_stream_name ? x->c->env->default_log_stream_name
                                                            : "";
    int r = log_names_expand(tmpl, x->c->env, now, x->stream, sizeof(x->stream));
    if (r < 0) {
        log_error(x->c->name, "cannot expand log_stream_name '%s': %s", tmpl, strerror(-r));
        return r;
    }
    return 0;
}

static int tail_start(struct collector *c, uv_loop_t *loop)
{
    struct tail_ctx *x = c->ctx;
    x->loop = loop;
    x->next_seq = x->tail_seq = 1;
    x->pending = calloc(TAIL_PENDING_MAX, sizeof(*x->pending));
    if (!x->pending)
        return -ENOMEM;
    int r = expand_names(x);
    if (r != 0)
        return r;
    /* An event must fit one ring record with the longest names: a longer one is split
     * by the builder rather than refused by the ring. */
    char longest[TAIL_NAME_MAX + 1];
    memset(longest, 'n', TAIL_NAME_MAX);
    longest[TAIL_NAME_MAX] = '\0';
    size_t overhead = record_log_size(&(struct log_event){.group = longest, .stream = longest});
    size_t room = ring_max_record(c->out->ring);
    size_t max_event = room > overhead ? room - overhead : 0;
    if (max_event < LOG_EVENT_MAX_EVENT_BYTES)
        x->opts.max_event_bytes =
            max_event > LOG_EVENT_MIN_EVENT_BYTES ? max_event : LOG_EVENT_MIN_EVENT_BYTES;
    if (x->store_dir) {
        char err[512] = "";
        r = checkpoint_store_open(x->store_dir, x->store_name, err, sizeof(err), &x->store);
        if (r != 0) {
            log_error(c->name, "cannot open checkpoints in '%s': %s", x->store_dir, err);
            return r;
        }
        if (err[0])
            log_warn(c->name, "checkpoints '%s/%s.json' unusable (%s): starting without them",
                     x->store_dir, x->store_name, err);
    } else {
        log_warn(c->name, "no state directory: read positions are not kept across restarts");
    }

    r = uv_timer_init(loop, &x->poll_timer);
    if (r != 0)
        return r;
    x->poll_timer.data = x;
    collector_handle_opened(c);
    r = uv_timer_init(loop, &x->kick_timer);
    if (r != 0) {
        uv_close((uv_handle_t *)&x->poll_timer, on_timer_closed);
        return r;
    }
    x->kick_timer.data = x;
    collector_handle_opened(c);
    r = uv_idle_init(loop, &x->busy);
    if (r != 0) {
        uv_close((uv_handle_t *)&x->poll_timer, on_timer_closed);
        uv_close((uv_handle_t *)&x->kick_timer, on_timer_closed);
        return r;
    }
    x->busy.data = x;
    collector_handle_opened(c);
    x->timers_open = true;

    /* Initial discovery: what the pattern selects now, then the tails of checkpointed
     * files rotated away while we were down, read before the new files. */
    x->last_rescan_ms = uv_now(loop);
    if (tail_glob_expand(x->glob, x->exclude_dir, &x->matches) == 0) {
        recover_rotated(x);
        rescan(x, true);
    } else {
        x->rescan_needed = true;
    }
    uv_timer_start(&x->poll_timer, on_poll, TAIL_CKPT_MS, TAIL_CKPT_MS);
    schedule(x, 0);
    return 0;
}

static void tail_stop(struct collector *c)
{
    struct tail_ctx *x = c->ctx;
    /* Whatever is complete goes out now: pending multi-line groups too. A partial last
     * line stays in the file, read again next time. */
    uint64_t now = clock_realtime_ns();
    for (size_t i = 0; i < x->n_files; i++) {
        struct tail_file *f = x->files[i];
        if (!f->builder || f->reset != TAIL_RESET_NONE)
            continue;
        if (pump(x, f, now, false) == PUMP_BLOCKED)
            break;
        log_event_builder_flush(f->builder, now, true);
        int r = take_events(x, f);
        publish_taken(x, f);
        if (r != 0)
            break;
    }
    x->stopping = true;
    ckpt_flush(x);
    if (x->timers_open) {
        x->timers_open = false;
        uv_timer_stop(&x->poll_timer);
        uv_timer_stop(&x->kick_timer);
        uv_idle_stop(&x->busy);
        uv_close((uv_handle_t *)&x->poll_timer, on_timer_closed);
        uv_close((uv_handle_t *)&x->kick_timer, on_timer_closed);
        uv_close((uv_handle_t *)&x->busy, on_timer_closed);
    }
    for (size_t i = 0; i < x->n_watches; i++) {
        uv_fs_event_stop(&x->watches[i]->handle);
        uv_close((uv_handle_t *)&x->watches[i]->handle, on_watch_closed);
    }
    x->n_watches = 0;
}

static void tail_destroy(struct collector *c)
{
    struct tail_ctx *x = c->ctx;
    if (x->store) {
        ckpt_flush(x);
        checkpoint_store_close(x->store);
    }
    for (size_t i = 0; i < x->n_files; i++)
        tail_file_close(x->files[i]);
    free(x->files);
    free(x->pending);
    tail_match_list_release(&x->matches);
    tail_glob_free(x->glob);
    free(x->filters);
    free(x->store_dir);
    free(x->exclude_dir);
}

static void tail_on_ack(struct collector *c, const struct delivery_ack *ack)
{
    struct tail_ctx *x = c->ctx;
    if (!x->pending)
        return;
    uint64_t first = ack->cookie_first > x->tail_seq ? ack->cookie_first : x->tail_seq;
    uint64_t last = ack->cookie_last < x->next_seq ? ack->cookie_last : x->next_seq - 1;
    for (uint64_t seq = first; seq <= last && seq >= first; seq++) {
        struct tail_pending *e = slot(x, seq);
        if (!e->f || e->answers >= c->n_consumers)
            continue;
        if (seq > x->max_answered_seq)
            x->max_answered_seq = seq;
        e->answers++;
        if (ack->outcome == DELIVERY_GAVE_UP)
            e->gave_up = true;
        else if (ack->outcome == DELIVERY_REJECTED)
            e->rejected = true;
        if (e->answers == c->n_consumers)
            complete(x, e);
    }
    advance(x);
    if (x->stopping) {
        /* No timers any more: acks of the last batches still reach the checkpoint. */
        ckpt_flush(x);
        return;
    }
    bool rewind = false;
    for (size_t i = 0; i < x->n_files && !rewind; i++)
        rewind = x->files[i]->reset != TAIL_RESET_NONE;
    if (rewind)
        schedule(x, 0);
    else if (x->n_files)
        sweep(x);
}

static void tail_on_space(struct collector *c)
{
    struct tail_ctx *x = c->ctx;
    if (x->waiting_space) {
        x->waiting_space = false;
        schedule(x, 0);
    }
}

static bool tail_quiescent(struct collector *c)
{
    struct tail_ctx *x = c->ctx;
    return !x->pending || x->tail_seq == x->next_seq;
}

static void tail_self_metrics(struct collector *c,
                              void (*emit)(void *user, const char *name, const char *label,
                                           const char *label_value, double value),
                              void *user)
{
    struct tail_ctx *x = c->ctx;
    for (size_t i = 0; i < x->n_files; i++) {
        const struct tail_file *f = x->files[i];
        uint64_t lag = f->size > f->committed ? f->size - f->committed : 0;
        emit(user, "tail_lag_bytes", "file", f->path, (double)lag);
    }
    emit(user, "tail_open_files", NULL, NULL, (double)count_open(x));
    emit(user, "tail_pending_events", NULL, NULL,
         x->pending ? (double)(x->next_seq - x->tail_seq) : 0.0);
}

/* --dry-run: the files the entry matches now and where reading would start. Reads the
 * checkpoint file without opening the store (which could rename a corrupt one). */
static void tail_describe(struct collector *c, FILE *out)
{
    struct tail_ctx *x = c->ctx;
    struct tail_match_list ml = {0};
    if (expand_names(x) != 0 || tail_glob_expand(x->glob, x->exclude_dir, &ml) != 0) {
        fprintf(out, "file %s -> (cannot expand)\n", x->file_path);
        return;
    }
    struct checkpoint_entry *entries = NULL;
    size_t n_entries = 0;
    if (x->store_dir) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s.json", x->store_dir, x->store_name);
        FILE *fp = fopen(path, "rb");
        if (fp) {
            char *text = NULL;
            size_t len = 0, cap = 0, n;
            char chunk[4096];
            while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
                if (len + n > cap) {
                    cap = (len + n) * 2;
                    char *t = realloc(text, cap);
                    if (!t)
                        break;
                    text = t;
                }
                memcpy(text + len, chunk, n);
                len += n;
            }
            fclose(fp);
            char err[256];
            if (text)
                (void)checkpoint_parse(text, len, &entries, &n_entries, err, sizeof(err));
            free(text);
        }
    }
    if (ml.n == 0)
        fprintf(out, "file %s -> (no file matches yet)\n", x->file_path);
    for (size_t i = 0; i < ml.n; i++) {
        if (!x->publish_multi_logs && i != ml.newest)
            continue;
        const struct tail_match *m = &ml.v[i];
        struct tail_file *f;
        if (tail_file_open(m->path, &f) != 0)
            continue;
        uint64_t off = x->from_beginning ? 0 : f->size;
        for (size_t k = 0; k < n_entries; k++)
            if (entries[k].dev == f->dev && entries[k].ino == f->ino)
                off = tail_fp_verify(f->fd, f->size, &entries[k]) ? entries[k].offset : 0;
        char *group = NULL, *stream = NULL;
        if (file_names(x, m->path, &group, &stream) == 0)
            fprintf(out, "file %s -> %s/%s (offset %llu of %llu)\n", m->path, group, stream,
                    (unsigned long long)off, (unsigned long long)f->size);
        free(group);
        free(stream);
        tail_file_close(f);
    }
    checkpoint_entries_free(entries, n_entries);
    tail_match_list_release(&ml);
}

const struct collector_type collector_tail = {
    .name = "files",
    .help = "tail log files (the CloudWatch agent's logs.logs_collected.files.collect_list)",
    .config_path = "logs/logs_collected/files/collect_list",
    .config_is_list = true,
    .kinds = RECORD_KIND_BIT(RECORD_LOG),
    .fields = tail_fields,
    .ctx_size = sizeof(struct tail_ctx),
    .init = tail_init,
    .start = tail_start,
    .stop = tail_stop,
    .destroy = tail_destroy,
    .on_ack = tail_on_ack,
    .on_space = tail_on_space,
    .self_metrics = tail_self_metrics,
    .quiescent = tail_quiescent,
    .describe = tail_describe,
};
