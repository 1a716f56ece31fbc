/*
 * The EMF listener allocates nothing per line after warm-up, except what jansson needs to
 * parse the document: the binary is linked with -Wl,--wrap=malloc,--wrap=calloc,
 * --wrap=realloc (tests/CMakeLists.txt), which counts the allocations of Osprey's own
 * code and not those inside shared libraries (jansson, libuv). Lines go from a TCP client
 * and a UDP client into the collector, which emits a log record and its metric points
 * into a ring that the test drains.
 */
#include <arpa/inet.h>
#include <errno.h>
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

extern const struct collector_type collector_emf;

/* A port that was free a moment ago (the listener cannot be told to pick one). */
static int free_port(int type)
{
    int fd = socket(AF_INET, type, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int connect_to(int type, int port)
{
    int fd = socket(AF_INET, type, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* Run the loop until `want` records are in the ring (bounded by iterations, not time),
 * then consume them; returns how many there were. */
static size_t drain(uv_loop_t *loop, struct ring *ring, struct collector *c, uint64_t want)
{
    for (int i = 0; i < 200000 && selfstats_get(&c->stats.records_out) < want; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    size_t n = 0, len;
    while (ring_peek(ring, &len)) {
        ring_consume(ring);
        n++;
    }
    return n;
}

static int line(char *buf, size_t cap, unsigned i)
{
    return snprintf(buf, cap,
                    "{\"_aws\":{\"Timestamp\":1700000000000,\"LogGroupName\":\"g\","
                    "\"CloudWatchMetrics\":[{\"Namespace\":\"N\",\"Dimensions\":[[\"D\"],[]],"
                    "\"Metrics\":[{\"Name\":\"M\",\"Unit\":\"Count\"}]}]},"
                    "\"D\":\"d%u\",\"M\":[%u,2,3]}\n",
                    i % 7, i);
}

static void run(const char *proto, int type)
{
    int port = free_port(type);
    char config[256];
    snprintf(config, sizeof(config),
             "{\"logs\": {\"metrics_collected\": {\"emf\": {\"service_address\": "
             "\"%s:127.0.0.1:%d\"}}}}",
             proto, port);
    struct plugin_env env = {.hostname = "h"};
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    struct cfg_doc doc;
    assert_int_equal(cfg_doc_load_buffer(&doc, "t.json", config, strlen(config), &errs), 0);
    struct plugin_cfg pc = {&doc, "logs/metrics_collected/emf", &errs};
    json_t *obj = json_object_get(
        json_object_get(json_object_get(doc.root, "logs"), "metrics_collected"), "emf");
    struct collector *c = NULL;
    assert_int_equal(collector_create(&collector_emf, "emf", 0, &env, &pc, obj, &c), 0);
    cfg_doc_release(&doc);

    uv_loop_t loop;
    struct ring ring;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(ring_init(&ring, 1u << 22), 0);
    struct collect_output out = {&ring, NULL};
    assert_int_equal(collector_start(c, &loop, &out), 0);

    int fd = connect_to(type, port);
    char buf[512];
    size_t before = 0;
    uint64_t expected = 0;
    unsigned n = 0;
    for (int round = 0; round < 20; round++) {
        if (round == 10)
            before = allocations; /* buffers have reached their size by now */
        for (int i = 0; i < 50; i++, n++) {
            int len = line(buf, sizeof(buf), n);
            assert_int_equal(send(fd, buf, (size_t)len, 0), len);
        }
        expected += 50 * 3; /* a log event and a point per dimension set */
        assert_int_equal(drain(&loop, &ring, c, expected), 150);
    }
    /* The wrap sees Osprey's allocations (set-up made some), so zero below means zero. */
    assert_true(before > 0);
    size_t per_500 = allocations - before;
    printf("%s: allocations during 500 lines after warm-up: %zu\n", proto, per_500);
    assert_int_equal(per_500, 0);
    assert_int_equal(selfstats_get(&c->stats.records_in), 1000);
    assert_int_equal(selfstats_dropped_total(&c->stats), 0);

    close(fd);
    collector_stop(c, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(c->state, PLUGIN_STOPPED);
    assert_int_equal(uv_loop_close(&loop), 0);
    collector_destroy(c);
    ring_release(&ring);
    cfg_errors_release(&errs);
}

static void test_tcp_lines_allocate_nothing(void **state)
{
    (void)state;
    run("tcp", SOCK_STREAM);
}

static void test_udp_datagrams_allocate_nothing(void **state)
{
    (void)state;
    run("udp", SOCK_DGRAM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_lines_allocate_nothing),
        cmocka_unit_test(test_udp_datagrams_allocate_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
