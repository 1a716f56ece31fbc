/*
 * "A received datagram allocates nothing after warm-up", measured for the statsd
 * collector: this binary wraps malloc/calloc/realloc (tests/CMakeLists.txt, test_alloc_*),
 * so every allocation made by Osprey's code (and libuv's) is counted. After start, datagrams
 * of good and bad lines go through the real socket, the parser and the table, the table is
 * flushed into the ring and reset, several times over, and the count must not move.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/clock.h"
#include "agent/config.h"
#include "agent/plugin.h"
#include "agent/ring.h"
#include "collectors/collector.h"
#include "collectors/statsd_parse.h"

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);

static size_t allocations;

void *__wrap_malloc(size_t size)
{
    allocations++;
    return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    allocations++;
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    allocations++;
    return __real_realloc(p, size);
}

extern const struct collector_type collector_statsd;

static void on_stopped(struct collector *c, void *data)
{
    (void)c;
    *(bool *)data = true;
}

static void test_datagrams_allocate_nothing_after_start(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t alen = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    int port = ntohs(a.sin_port);

    char json[256];
    snprintf(json, sizeof(json),
             "{\"metrics\": {\"metrics_collected\": {\"statsd\": {\"service_address\": "
             "\"127.0.0.1:%d\", \"metrics_collection_interval\": 3600, \"max_series\": 50}}}}",
             port);
    struct cfg_errors errs;
    struct cfg_doc doc;
    cfg_errors_init(&errs);
    assert_int_equal(cfg_doc_load_buffer(&doc, "t.json", json, strlen(json), &errs), 0);
    struct plugin_env env = {
        .hostname = "h", .metrics_namespace = "CWAgent", .metrics_interval_ns = 60 * NS_PER_SEC};
    json_t *obj = json_object_get(
        json_object_get(json_object_get(doc.root, "metrics"), "metrics_collected"), "statsd");
    struct plugin_cfg cfg = {.doc = &doc, .path = collector_statsd.config_path, .errs = &errs};
    struct collector *c = NULL;
    assert_int_equal(collector_create(&collector_statsd, "statsd", 1, &env, &cfg, obj, &c), 0);
    uv_loop_t loop;
    struct ring ring;
    struct collect_output out = {.ring = &ring};
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(ring_init(&ring, 1u << 20), 0);
    assert_int_equal(collector_start(c, &loop, &out), 0);
    uv_run(&loop, UV_RUN_NOWAIT);

    int sock = socket(AF_INET, SOCK_DGRAM, 0);
    a.sin_port = htons((uint16_t)port);
    size_t before = 0;
    uint64_t want = 0;
    for (int round = 0; round < 4; round++) {
        if (round == 1)
            before = allocations; /* round 0 was the warm-up */
        for (int d = 0; d < 100; d++) {
            char dgram[512];
            int n = snprintf(dgram, sizeof(dgram),
                             "req.%d:1|c|@0.5|#env:prod,k%d:v\nlat.%d:%d|ms\nusers:u%d|s\n"
                             "garbage\nq:+1|g\nnew.series.%d.%d:1|c\n",
                             d % 10, d % 3, d % 7, d, d, round, d);
            assert_int_equal(sendto(sock, dgram, (size_t)n, 0, (struct sockaddr *)&a, sizeof(a)),
                             n);
            want += 6;
            for (int i = 0; i < 1000 && selfstats_get(&c->stats.records_in) < want; i++)
                uv_run(&loop, UV_RUN_NOWAIT);
        }
        assert_int_equal(selfstats_get(&c->stats.records_in), want);
        assert_int_equal(collector_flush(c), 0);
        const void *rec;
        size_t len;
        while ((rec = ring_peek(&ring, &len)) != NULL)
            ring_consume(&ring);
    }
    assert_true(before > 0); /* the wrap counts: create and start allocated */
    assert_true(selfstats_get(&c->stats.records_out) > 0);
    assert_true(selfstats_get(&c->stats.rejects[STATSD_R_TABLE_FULL]) > 0); /* max_series 50 */
    assert_true(selfstats_get(&c->stats.rejects[STATSD_R_NO_COLON]) > 0);   /* "garbage" */
    if (allocations != before)
        fail_msg("%zu allocations after warm-up", allocations - before);

    close(sock);
    bool stopped = false;
    collector_stop(c, on_stopped, &stopped);
    while (!stopped)
        uv_run(&loop, UV_RUN_NOWAIT);
    collector_destroy(c);
    assert_int_equal(uv_loop_close(&loop), 0);
    ring_release(&ring);
    cfg_doc_release(&doc);
    cfg_errors_release(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_datagrams_allocate_nothing_after_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
