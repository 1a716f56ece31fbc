/*
 * tail_harness: what the log tailer's tests share — a temporary directory of log files,
 * the collector on its own loop and ring, records taken out of the ring, and acks.
 *
 * Contract: test code only (cmocka assertions); single-threaded; one harness (H) per
 * test binary, set up and torn down around each test.
 */
#ifndef OSPREY_TEST_TAIL_HARNESS_H
#define OSPREY_TEST_TAIL_HARNESS_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/clock.h"
#include "agent/config.h"
#include "agent/plugin.h"
#include "agent/record.h"
#include "agent/ring.h"
#include "collector_test.h"
#include "collectors/collector.h"

extern const struct collector_type collector_tail;

#define MAX_GOT   4096
#define SOURCE_ID 7

/* Fine reasons, in collectors/tail.c's order. */
enum { REJ_FILTERED, REJ_SPLIT, REJ_UTF8, REJ_TRUNCATED, REJ_REJECTED, REJ_RESENT };

struct rec {
    char msg[128];
    char group[128];
    char stream[256];
    uint64_t cookie;
};

struct harness {
    char dir[128];
    char logs[160];
    char state[160];
    uv_loop_t loop;
    struct ring ring;
    struct collect_output out;
    struct plugin_env env;
    struct cfg_doc doc;
    struct cfg_errors errs;
    struct collector *c;
    bool running;
    size_t ring_bytes;
    struct rec got[MAX_GOT];
    size_t n_got;
    uint64_t acked; /* cookies up to this one were answered */
};

static struct harness H;

/* ---- files ------------------------------------------------------------------------ */

static inline void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", H.logs, name);
}

static inline void write_to(const char *name, const char *text, bool append)
{
    char p[256];
    path_of(p, sizeof(p), name);
    int fd = open(p, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static inline void rename_in(const char *from, const char *to)
{
    char a[256], b[256];
    path_of(a, sizeof(a), from);
    path_of(b, sizeof(b), to);
    assert_int_equal(rename(a, b), 0);
}

static inline void remove_in(const char *name)
{
    char p[256];
    path_of(p, sizeof(p), name);
    assert_int_equal(unlink(p), 0);
}

static inline void rm_tree(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- harness ---------------------------------------------------------------------- */

static inline int setup(void **state)
{
    (void)state;
    memset(&H, 0, sizeof(H));
    snprintf(H.dir, sizeof(H.dir), "/tmp/osprey-tail-XXXXXX");
    assert_non_null(mkdtemp(H.dir));
    snprintf(H.logs, sizeof(H.logs), "%s/logs", H.dir);
    snprintf(H.state, sizeof(H.state), "%s/state", H.dir);
    assert_int_equal(mkdir(H.logs, 0755), 0);
    assert_int_equal(mkdir(H.state, 0755), 0);
    H.ring_bytes = 1u << 20;
    return 0;
}

static inline int teardown(void **state)
{
    (void)state;
    rm_tree(H.dir);
    return 0;
}

/* Create the collector for one collect_list entry (JSON object text; "%L" is replaced by
 * the logs directory). Returns collector_create's result. */
static inline int create(const char *entry_fmt)
{
    char entry[2048], json[4096];
    /* Substitute %L. */
    size_t n = 0;
    for (const char *p = entry_fmt; *p && n + 200 < sizeof(entry); p++) {
        if (p[0] == '%' && p[1] == 'L') {
            n += (size_t)snprintf(entry + n, sizeof(entry) - n, "%s", H.logs);
            p++;
        } else {
            entry[n++] = *p;
        }
    }
    entry[n] = '\0';
    snprintf(json, sizeof(json),
             "{\"logs\": {\"logs_collected\": {\"files\": {\"collect_list\": [%s]}}}}", entry);
    H.env = (struct plugin_env){
        .hostname = "testhost",
        .proc_root = "/proc",
        .state_dir = H.state,
        .metrics_namespace = "CWAgent",
        .metrics_interval_ns = 60 * NS_PER_SEC,
    };
    cfg_errors_init(&H.errs);
    assert_int_equal(cfg_doc_load_buffer(&H.doc, "test.json", json, strlen(json), &H.errs), 0);
    json_t *list = json_object_get(
        json_object_get(json_object_get(json_object_get(H.doc.root, "logs"), "logs_collected"),
                        "files"),
        "collect_list");
    struct plugin_cfg cfg = {
        .doc = &H.doc, .path = "logs/logs_collected/files/collect_list/0", .errs = &H.errs};
    H.c = NULL;
    return collector_create(&collector_tail, "files[0]", SOURCE_ID, &H.env, &cfg,
                            json_array_get(list, 0), &H.c);
}

static inline void start(const char *entry_fmt)
{
    int r = create(entry_fmt);
    for (size_t i = 0; i < H.errs.n; i++)
        fprintf(stderr, "config: %s\n", H.errs.msgs[i]);
    assert_int_equal(r, 0);
    H.c->n_consumers = 1;
    assert_int_equal(uv_loop_init(&H.loop), 0);
    assert_int_equal(ring_init(&H.ring, H.ring_bytes), 0);
    H.out.ring = &H.ring;
    assert_int_equal(collector_start(H.c, &H.loop, &H.out), 0);
    H.running = true;
    H.n_got = 0;
    H.acked = 0;
}

/* Take every record out of the ring; answer a space request like the export loop. */
static inline void drain(void)
{
    const void *p;
    size_t len;
    while ((p = ring_peek(&H.ring, &len)) != NULL) {
        struct record_view batch, v;
        assert_int_equal(record_decode(p, len, &batch), 0);
        assert_int_equal(batch.hdr.kind, RECORD_LOG_BATCH);
        assert_int_equal(batch.hdr.source, SOURCE_ID);
        struct log_batch_cursor cur = {0};
        while (record_log_batch_next(&batch, &cur, &v)) {
            assert_true(H.n_got < MAX_GOT);
            struct rec *g = &H.got[H.n_got++];
            snprintf(g->msg, sizeof(g->msg), "%.*s", (int)v.u.log.message_len,
                     (const char *)v.u.log.message);
            snprintf(g->group, sizeof(g->group), "%s", v.u.log.group);
            snprintf(g->stream, sizeof(g->stream), "%s", v.u.log.stream);
            g->cookie = v.hdr.cookie;
        }
        assert_true(record_log_batch_complete(&batch, &cur));
        ring_consume(&H.ring);
    }
    if (ring_take_space_request(&H.ring))
        collector_space_available(H.c);
}

static inline void run_for_ms(unsigned ms)
{
    uint64_t end = clock_monotonic_ns() + (uint64_t)ms * NS_PER_MS;
    while (clock_monotonic_ns() < end) {
        uv_run(&H.loop, UV_RUN_NOWAIT);
        drain();
        usleep(2000);
    }
}

/* Run until `n` records arrived in all (at most timeout_ms). */
static inline void pump_until(size_t n, unsigned timeout_ms)
{
    uint64_t end = clock_monotonic_ns() + (uint64_t)timeout_ms * NS_PER_MS;
    while (H.n_got < n && clock_monotonic_ns() < end) {
        uv_run(&H.loop, UV_RUN_NOWAIT);
        drain();
        if (H.n_got < n)
            usleep(2000);
    }
    if (H.n_got != n) {
        for (size_t i = 0; i < H.n_got; i++)
            fprintf(stderr, "got[%zu] = '%s' (cookie %llu)\n", i, H.got[i].msg,
                    (unsigned long long)H.got[i].cookie);
        fail_msg("got %zu records, want %zu", H.n_got, n);
    }
}

static inline void ack_range(uint64_t first, uint64_t last, enum delivery_outcome outcome)
{
    struct delivery_ack a = {
        .source = SOURCE_ID,
        .exporter = 0,
        .records = (uint32_t)(last - first + 1),
        .cookie_first = first,
        .cookie_last = last,
        .outcome = outcome,
    };
    collector_deliver_ack(H.c, &a);
    if (last > H.acked)
        H.acked = last;
}

/* Accept everything received and not yet answered. */
static inline void ack_all(void)
{
    uint64_t last = 0;
    for (size_t i = 0; i < H.n_got; i++)
        if (H.got[i].cookie > last)
            last = H.got[i].cookie;
    if (last > H.acked)
        ack_range(H.acked + 1, last, DELIVERY_ACCEPTED);
}

static inline void stop(void)
{
    assert_true(H.running);
    collector_test_stop(&H.loop, H.c);
    H.c = NULL;
    assert_int_equal(uv_loop_close(&H.loop), 0);
    ring_release(&H.ring);
    cfg_doc_release(&H.doc);
    cfg_errors_release(&H.errs);
    H.running = false;
}

static inline void expect(size_t from, const char *const *want, size_t n)
{
    if (H.n_got - from != n) {
        for (size_t i = from; i < H.n_got; i++)
            fprintf(stderr, "got[%zu] = '%s'\n", i, H.got[i].msg);
        fail_msg("got %zu records from %zu, want %zu", H.n_got - from, from, n);
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(H.got[from + i].msg, want[i]) != 0)
            fail_msg("record %zu: got '%s', want '%s'", from + i, H.got[from + i].msg, want[i]);
}

#define EXPECT(from, ...)                                                                          \
    do {                                                                                           \
        static const char *const want_[] = {__VA_ARGS__};                                          \
        expect(from, want_, sizeof(want_) / sizeof(want_[0]));                                     \
    } while (0)

static inline uint64_t fine(unsigned which)
{
    return selfstats_get(&H.c->stats.rejects[which]);
}

#define ENTRY_APP                                                                                  \
    "{\"file_path\": \"%L/app.log\", \"log_group_name\": \"g\", \"log_stream_name\": \"s\"}"

#endif
