/*
 * bench_statsd: StatsD ingest through the real statsd collector, against a bare
 * recvmmsg(2) loop receiving the same stream, both on loopback in the same run.
 *
 * Usage: bench_statsd [datagrams [lines_per_datagram [series]]]
 *        (defaults: 200000, 10, 1000)
 *
 * A sender thread sends `datagrams` datagrams of `lines_per_datagram` lines
 * ("bench.metric.N:V|c|#env:bench" and timers/gauges/sets in turn over `series` names),
 * keeping at most WINDOW datagrams ahead of what the receiver has taken, so nothing is
 * lost to a full socket buffer: the figures are at zero loss, and the run fails if any
 * line is missing or refused. The receiver (the main thread) is either
 *   bare    recvmmsg of 16 datagrams at a time into one buffer, counting lines ('\n'),
 *   statsd  the statsd collector on a libuv loop (UV_UDP_RECVMMSG, parse, aggregate),
 * and reports lines/s (wall clock) and the receiving thread's CPU ms per 100k lines
 * (CLOCK_THREAD_CPUTIME_ID). Median of ROUNDS rounds; ratio = statsd / bare.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/clock.h"
#include "agent/config.h"
#include "agent/plugin.h"
#include "agent/ring.h"
#include "collectors/collector.h"

extern const struct collector_type collector_statsd;

#define ROUNDS 5
#define WINDOW 64 /* datagrams in flight: well under any socket buffer */
#define BATCH  16

struct stream {
    int port;
    long datagrams;
    int lines;
    int series;
    _Atomic long taken; /* datagrams the receiver has consumed */
    char (*payloads)[2048];
    size_t *lens;
    int n_payloads;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void build_payloads(struct stream *s)
{
    static const char *types[] = {"c", "ms", "g", "c", "h", "s", "c", "ms"};
    s->n_payloads = 256;
    s->payloads = calloc((size_t)s->n_payloads, sizeof(*s->payloads));
    s->lens = calloc((size_t)s->n_payloads, sizeof(*s->lens));
    if (!s->payloads || !s->lens)
        exit(1);
    long k = 0;
    for (int p = 0; p < s->n_payloads; p++) {
        size_t n = 0;
        for (int l = 0; l < s->lines; l++, k++) {
            const char *t = types[k % 8];
            n += (size_t)snprintf(s->payloads[p] + n, sizeof(s->payloads[p]) - n,
                                  "bench.metric.%ld:%ld|%s%s|#env:bench,shard:%ld\n", k % s->series,
                                  k % 97, t, t[0] == 'c' ? "|@0.5" : "", k % 4);
            if (n >= sizeof(s->payloads[p]) - 1) {
                fprintf(stderr, "datagram too long\n");
                exit(1);
            }
        }
        s->lens[p] = n;
    }
}

static void *sender(void *arg)
{
    struct stream *s = arg;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (long i = 0; i < s->datagrams; i++) {
        while (i - atomic_load(&s->taken) >= WINDOW)
            sched_yield();
        int p = (int)(i % s->n_payloads);
        if (sendto(fd, s->payloads[p], s->lens[p], 0, (struct sockaddr *)&a, sizeof(a)) < 0) {
            perror("sendto");
            exit(1);
        }
    }
    close(fd);
    return NULL;
}

static int bound_socket(int *ret_port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        exit(1);
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    *ret_port = ntohs(a.sin_port);
    return fd;
}

struct result {
    double lines_per_s;
    double cpu_ms_per_100k;
};

static struct result run_bare(struct stream *s)
{
    int fd = bound_socket(&s->port);
    static char buf[BATCH][65536];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iov[i] = (struct iovec){buf[i], sizeof(buf[i])};
        msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
    }
    atomic_store(&s->taken, 0);
    pthread_t t;
    double t0 = now_s(), c0 = thread_cpu_s();
    pthread_create(&t, NULL, sender, s);
    long lines = 0, got = 0;
    while (got < s->datagrams) {
        int n = recvmmsg(fd, msgs, BATCH, 0, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("recvmmsg");
            exit(1);
        }
        for (int i = 0; i < n; i++) {
            const char *p = buf[i];
            for (unsigned j = 0; j < msgs[i].msg_len; j++)
                lines += p[j] == '\n';
        }
        got += n;
        atomic_store(&s->taken, got);
    }
    double c1 = thread_cpu_s(), t1 = now_s();
    pthread_join(t, NULL);
    close(fd);
    if (lines != s->datagrams * s->lines) {
        fprintf(stderr, "bare: %ld lines, want %ld\n", lines, s->datagrams * s->lines);
        exit(1);
    }
    return (struct result){(double)lines / (t1 - t0), (c1 - c0) * 1e3 * 1e5 / (double)lines};
}

static struct result run_statsd(struct stream *s)
{
    int fd = bound_socket(&s->port);
    close(fd); /* a free port for the collector */
    char json[512];
    snprintf(json, sizeof(json),
             "{\"metrics\": {\"metrics_collected\": {\"statsd\": {\"service_address\": "
             "\"127.0.0.1:%d\", \"metrics_collection_interval\": 3600}}}}",
             s->port);
    struct cfg_errors errs;
    struct cfg_doc doc;
    cfg_errors_init(&errs);
    if (cfg_doc_load_buffer(&doc, "bench.json", json, strlen(json), &errs) != 0)
        exit(1);
    struct plugin_env env = {
        .hostname = "bench", .metrics_namespace = "Bench", .metrics_interval_ns = 60 * NS_PER_SEC};
    json_t *obj = json_object_get(
        json_object_get(json_object_get(doc.root, "metrics"), "metrics_collected"), "statsd");
    struct plugin_cfg cfg = {.doc = &doc, .path = collector_statsd.config_path, .errs = &errs};
    struct collector *c;
    if (collector_create(&collector_statsd, "statsd", 1, &env, &cfg, obj, &c) != 0)
        exit(1);
    uv_loop_t loop;
    struct ring ring;
    struct collect_output out = {.ring = &ring};
    uv_loop_init(&loop);
    ring_init(&ring, 1u << 24);
    if (collector_start(c, &loop, &out) != 0)
        exit(1);
    uv_run(&loop, UV_RUN_NOWAIT);

    long want = s->datagrams * s->lines;
    atomic_store(&s->taken, 0);
    pthread_t t;
    double t0 = now_s(), c0 = thread_cpu_s();
    pthread_create(&t, NULL, sender, s);
    while ((long)selfstats_get(&c->stats.records_in) < want) {
        uv_run(&loop, UV_RUN_ONCE);
        atomic_store(&s->taken, (long)selfstats_get(&c->stats.records_in) / s->lines);
    }
    double c1 = thread_cpu_s(), t1 = now_s();
    pthread_join(t, NULL);
    if (selfstats_dropped_total(&c->stats) != 0) {
        fprintf(stderr, "statsd: %llu lines refused\n",
                (unsigned long long)selfstats_dropped_total(&c->stats));
        exit(1);
    }
    collector_flush(c);
    const void *rec;
    size_t len;
    while ((rec = ring_peek(&ring, &len)) != NULL)
        ring_consume(&ring);
    collector_stop(c, NULL, NULL);
    while (uv_run(&loop, UV_RUN_NOWAIT))
        ;
    collector_destroy(c);
    uv_loop_close(&loop);
    ring_release(&ring);
    cfg_doc_release(&doc);
    cfg_errors_release(&errs);
    return (struct result){(double)want / (t1 - t0), (c1 - c0) * 1e3 * 1e5 / (double)want};
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v)
{
    qsort(v, ROUNDS, sizeof(double), cmp);
    return v[ROUNDS / 2];
}

int main(int argc, char **argv)
{
    struct stream s = {0};
    s.datagrams = argc > 1 ? atol(argv[1]) : 200000;
    s.lines = argc > 2 ? atoi(argv[2]) : 10;
    s.series = argc > 3 ? atoi(argv[3]) : 1000;
    if (s.datagrams <= 0 || s.lines <= 0 || s.lines > 40 || s.series <= 0)
        return 2;
    build_payloads(&s);
    double bl[ROUNDS], bc[ROUNDS], sl[ROUNDS], sc[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        struct result b = run_bare(&s);
        struct result st = run_statsd(&s);
        bl[r] = b.lines_per_s;
        bc[r] = b.cpu_ms_per_100k;
        sl[r] = st.lines_per_s;
        sc[r] = st.cpu_ms_per_100k;
    }
    double mbl = median(bl), mbc = median(bc), msl = median(sl), msc = median(sc);
    printf("%ld datagrams x %d lines, %d names (x4 shards), zero loss, median of %d\n", s.datagrams,
           s.lines, s.series, ROUNDS);
    printf("  bare recvmmsg  %10.0f lines/s  %8.2f CPU ms/100k lines\n", mbl, mbc);
    printf("  statsd         %10.0f lines/s  %8.2f CPU ms/100k lines\n", msl, msc);
    printf("  ratio statsd/bare: throughput %.2f, CPU %.2f\n", msl / mbl, msc / mbc);
    free(s.payloads);
    free(s.lens);
    return 0;
}
