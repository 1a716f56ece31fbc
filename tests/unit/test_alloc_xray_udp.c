/*
 * The X-Ray UDP listener's receive path: real datagrams over loopback into the collector
 * (recvmmsg into its preallocated slab), validated and emitted into the ring. Linked with
 * -Wl,--wrap=malloc,calloc,realloc (tests/CMakeLists.txt) for Osprey's own allocations;
 * jansson's go through json_set_alloc_funcs, counted here too.
 * - framing only (validate_segments false, the daemon's rule): after warm-up, no
 *   allocation at all per datagram;
 * - full validation: jansson allocates while parsing the document, and frees all of it
 *   before the next datagram (nothing is retained).
 * Also: a bad datagram between good ones is counted by reason, documents reach the ring
 * byte for byte, and a full ring is counted as ring_full drops.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/ring.h"
#include "collectors/collector.h"

static size_t allocations;
static size_t json_allocations, json_frees;

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);

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

static void *json_count_malloc(size_t n)
{
    json_allocations++;
    return __real_malloc(n);
}

static void json_count_free(void *p)
{
    if (p)
        json_frees++;
    free(p);
}

extern const struct collector_type collector_xray;

#define HDR "{\"format\":\"json\",\"version\":1}\n"

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void on_wake(uv_async_t *h)
{
    (void)h;
}

struct rig {
    uv_loop_t loop;
    uv_async_t wake;
    struct ring ring;
    struct collector *c;
    struct collect_output out;
    int tx;
    struct sockaddr_in to;
};

static void rig_start(struct rig *g, bool validate, size_t ring_bytes)
{
    memset(g, 0, sizeof(*g));
    int port = free_port();
    char config[256];
    snprintf(config, sizeof(config),
             "{\"bind_address\": \"127.0.0.1:%d\", \"validate_segments\": %s}", port,
             validate ? "true" : "false");
    struct plugin_env env = {.hostname = "h"};
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    struct cfg_doc doc;
    assert_int_equal(cfg_doc_load_buffer(&doc, "t.json", config, strlen(config), &errs), 0);
    struct plugin_cfg pc = {&doc, "", &errs};
    assert_int_equal(collector_create(&collector_xray, "xray", 0, &env, &pc, doc.root, &g->c), 0);
    cfg_doc_release(&doc);
    cfg_errors_release(&errs);
    assert_int_equal(uv_loop_init(&g->loop), 0);
    assert_int_equal(uv_async_init(&g->loop, &g->wake, on_wake), 0);
    assert_int_equal(ring_init(&g->ring, ring_bytes), 0);
    g->out = (struct collect_output){&g->ring, &g->wake};
    assert_int_equal(collector_start(g->c, &g->loop, &g->out), 0);
    g->tx = socket(AF_INET, SOCK_DGRAM, 0);
    g->to = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    g->to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static void rig_send(struct rig *g, const char *payload)
{
    assert_true(sendto(g->tx, payload, strlen(payload), 0, (struct sockaddr *)&g->to,
                       sizeof(g->to)) == (ssize_t)strlen(payload));
}

/* Run the loop until the collector has read `total` datagrams. */
static void rig_wait(struct rig *g, uint64_t total)
{
    for (int i = 0; i < 100000 && selfstats_get(&g->c->stats.records_in) < total; i++)
        uv_run(&g->loop, UV_RUN_NOWAIT);
    assert_int_equal(selfstats_get(&g->c->stats.records_in), total);
}

static size_t rig_drain(struct rig *g, const char *expect_body)
{
    size_t n = 0, len = 0;
    const void *rec;
    while ((rec = ring_peek(&g->ring, &len)) != NULL) {
        if (expect_body) {
            struct record_view v;
            assert_int_equal(record_decode(rec, len, &v), 0);
            assert_int_equal(v.hdr.kind, RECORD_SEGMENT);
            assert_int_equal(v.u.segment.len, strlen(expect_body));
            assert_memory_equal(v.u.segment.data, expect_body, v.u.segment.len);
        }
        ring_consume(&g->ring);
        n++;
    }
    return n;
}

static void rig_stop(struct rig *g)
{
    close(g->tx);
    collector_stop(g->c, NULL, NULL);
    uv_close((uv_handle_t *)&g->wake, NULL);
    uv_run(&g->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&g->loop), 0);
    collector_destroy(g->c);
    ring_release(&g->ring);
}

#define DOC                                                                                        \
    "{\"name\":\"svc\",\"id\":\"70de5b6f19ff9a0a\",\"trace_id\":"                                  \
    "\"1-58406520-a006649127e371903a2de979\",\"start_time\":1.5,\"end_time\":2.5,"                 \
    "\"annotations\":{\"k\":\"v\"},\"metadata\":{\"default\":{\"a\":[1,2,3]}}}"

struct snapshot {
    size_t allocations, json_allocations, json_frees;
};

static void run_rounds(struct rig *g, struct snapshot *at)
{
    uint64_t total = 0;
    for (int round = 0; round < 20; round++) {
        if (round == 10) /* buffers have reached their size by now */
            *at = (struct snapshot){allocations, json_allocations, json_frees};
        for (int i = 0; i < 50; i++)
            rig_send(g, HDR DOC);
        total += 50;
        rig_wait(g, total);
        assert_int_equal(rig_drain(g, DOC), 50);
    }
}

static void test_framing_only_allocates_nothing(void **state)
{
    (void)state;
    struct rig g;
    rig_start(&g, false, 1u << 20);
    struct snapshot at;
    run_rounds(&g, &at);
    assert_true(at.allocations > 0); /* the wrap does see Osprey's allocations */
    printf("framing only: %zu allocations, %zu by jansson, for 500 datagrams after warm-up\n",
           allocations - at.allocations, json_allocations - at.json_allocations);
    assert_int_equal(allocations - at.allocations, 0);
    assert_int_equal(json_allocations - at.json_allocations, 0);
    assert_int_equal(selfstats_dropped_total(&g.c->stats), 0);
    rig_stop(&g);
}

static void test_validation_frees_what_it_parses(void **state)
{
    (void)state;
    struct rig g;
    rig_start(&g, true, 1u << 20);
    struct snapshot at;
    run_rounds(&g, &at);
    size_t made = json_allocations - at.json_allocations;
    printf("full validation: %zu allocations by Osprey, %zu by jansson (%.1f per datagram, all "
           "freed) for 500 datagrams after warm-up\n",
           allocations - at.allocations, made, (double)made / 500.0);
    assert_int_equal(allocations - at.allocations, 0);
    assert_true(made > 0);
    /* Every jansson allocation made for the datagrams was freed before the next one. */
    assert_int_equal(json_frees - at.json_frees, made);
    rig_stop(&g);
}

static void test_bad_datagrams_and_full_ring(void **state)
{
    (void)state;
    struct rig g;
    rig_start(&g, true, 65536);
    rig_send(&g, HDR "not json");
    rig_send(&g, "no header");
    rig_send(&g, HDR DOC);
    rig_wait(&g, 3);
    assert_int_equal(rig_drain(&g, DOC), 1);
    assert_int_equal(selfstats_get(&g.c->stats.rejects[4]), 1); /* not_json */
    assert_int_equal(selfstats_get(&g.c->stats.rejects[1]), 1); /* no_separator */
    assert_int_equal(selfstats_get(&g.c->stats.dropped[DROP_MALFORMED]), 2);
    /* Nobody drains: the ring fills and the listener counts what it cannot keep. */
    uint64_t total = 3;
    for (int i = 0; i < 400; i++) {
        rig_send(&g, HDR DOC);
        if (i % 50 == 49) {
            total += 50;
            rig_wait(&g, total);
        }
    }
    uint64_t full = selfstats_get(&g.c->stats.dropped[DROP_RING_FULL]);
    size_t kept = rig_drain(&g, DOC);
    printf("ring of 64 KiB: kept %zu, dropped %llu as ring_full\n", kept, (unsigned long long)full);
    assert_true(full > 0);
    assert_int_equal(kept + full, 400);
    rig_stop(&g);
}

int main(void)
{
    json_set_alloc_funcs(json_count_malloc, json_count_free);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing_only_allocates_nothing),
        cmocka_unit_test(test_validation_frees_what_it_parses),
        cmocka_unit_test(test_bad_datagrams_and_full_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
