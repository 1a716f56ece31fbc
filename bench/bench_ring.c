/*
 * bench_ring: SPSC ring throughput, producer and consumer on two threads, against a
 * single-thread memcpy baseline measured in the same run.
 *
 * Usage: bench_ring [mib_per_case [capacity_bytes [repeats]]]
 *        defaults: 2048 MiB of payload per case, a 1 MiB ring, 5 repeats (median kept)
 *
 * Ring case: the producer reserves `size` bytes, memcpy()s the payload in from a source
 * buffer and commits; the consumer peeks, memcpy()s the payload out to a sink buffer and
 * consumes. Both spin (with a CPU pause, then sched_yield) when the ring is full or
 * empty; the wake-up flag returned by ring_commit() is only counted.
 *
 * Baseline: one thread moves the same payload volume through a buffer of the ring's
 * capacity with the ring's frame layout (8-byte header + payload padded to 8): it
 * memcpy()s records in until the buffer is full, then memcpy()s them all out, and so on.
 * That is the ring's work minus the synchronisation, on one core.
 *
 * The ratio is ring GB/s / memcpy GB/s: ~1 means the ring costs no more than the copies
 * it needs; above 1 the second core more than pays for the cross-core cache traffic;
 * well below 1 means per-record synchronisation dominates (small records).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/ring.h"

#define BENCH_SRC_BYTES  (64u * 1024u) /* source and sink windows: stay in L2 */
#define BENCH_SPIN_LIMIT 4096u

struct bench_case {
    struct ring ring;
    size_t size;
    uint64_t records;
    const uint8_t *src;
    uint8_t *dst;
    int cpu_producer; /* -1: not pinned */
    int cpu_consumer;
    _Atomic int ready;
    _Atomic bool go;
    uint64_t t_start;
    uint64_t t_end;
    uint64_t wakes;
    uint64_t full_spins;
    uint64_t empty_spins;
    uint64_t sink;
    bool bad_len;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

static void backoff(unsigned *spins)
{
    if (++*spins < BENCH_SPIN_LIMIT) {
        cpu_relax();
    } else {
        *spins = 0;
        sched_yield();
    }
}

static void pin_to(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void start_line(struct bench_case *c)
{
    atomic_fetch_add(&c->ready, 1);
    while (!atomic_load_explicit(&c->go, memory_order_acquire))
        cpu_relax();
}

static void *producer_main(void *arg)
{
    struct bench_case *c = arg;
    pin_to(c->cpu_producer);
    const size_t size = c->size;
    const size_t window = BENCH_SRC_BYTES - size;
    size_t off = 0;
    uint64_t wakes = 0, full = 0;
    start_line(c);
    for (uint64_t i = 0; i < c->records; i++) {
        void *p;
        unsigned spins = 0;
        while (!(p = ring_reserve(&c->ring, size))) {
            full++;
            backoff(&spins);
        }
        memcpy(p, c->src + off, size);
        off += 64;
        if (off > window)
            off = 0;
        wakes += ring_commit(&c->ring);
    }
    c->wakes = wakes;
    c->full_spins = full;
    return NULL;
}

static void *consumer_main(void *arg)
{
    struct bench_case *c = arg;
    pin_to(c->cpu_consumer);
    const size_t size = c->size;
    const size_t window = BENCH_SRC_BYTES - size;
    size_t off = 0;
    uint64_t sink = 0, empty = 0;
    bool bad_len = false;
    start_line(c);
    for (uint64_t i = 0; i < c->records; i++) {
        const void *p;
        size_t len;
        unsigned spins = 0;
        while (!(p = ring_peek(&c->ring, &len))) {
            empty++;
            backoff(&spins);
        }
        bad_len |= len != size;
        memcpy(c->dst + off, p, size);
        sink += c->dst[off];
        off += 64;
        if (off > window)
            off = 0;
        ring_consume(&c->ring);
    }
    c->t_end = now_ns();
    c->empty_spins = empty;
    c->sink = sink;
    c->bad_len = bad_len;
    return NULL;
}

/* Two threads through the ring; returns elapsed seconds, or a negative value on error. */
static double run_ring(struct bench_case *c)
{
    atomic_store(&c->ready, 0);
    atomic_store(&c->go, false);
    pthread_t prod, cons;
    if (pthread_create(&cons, NULL, consumer_main, c) != 0 ||
        pthread_create(&prod, NULL, producer_main, c) != 0) {
        fprintf(stderr, "bench_ring: pthread_create failed\n");
        exit(1);
    }
    while (atomic_load(&c->ready) < 2)
        sched_yield();
    c->t_start = now_ns();
    atomic_store_explicit(&c->go, true, memory_order_release);
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);
    if (c->bad_len || ring_used_bytes(&c->ring) != 0) {
        fprintf(stderr, "bench_ring: ring returned a wrong record (size %zu)\n", c->size);
        return -1.0;
    }
    return (double)(c->t_end - c->t_start) / 1e9;
}

/* One thread, same bytes, same buffer size and frame layout: fill, then drain. */
static double run_memcpy(const struct bench_case *c, uint8_t *buf, size_t capacity,
                         uint64_t *ret_sink)
{
    const size_t size = c->size;
    const size_t frame = RING_FRAME_HEADER + ((size + 7u) & ~(size_t)7u);
    const size_t per_fill = capacity / frame;
    const size_t window = BENCH_SRC_BYTES - size;
    size_t src_off = 0, dst_off = 0;
    uint64_t sink = 0;
    uint64_t t0 = now_ns();
    for (uint64_t done = 0; done < c->records;) {
        size_t n = per_fill;
        if (c->records - done < n)
            n = (size_t)(c->records - done);
        for (size_t k = 0; k < n; k++) {
            uint32_t hdr[2] = {(uint32_t)size, 0};
            memcpy(buf + k * frame, hdr, sizeof(hdr));
            memcpy(buf + k * frame + RING_FRAME_HEADER, c->src + src_off, size);
            src_off += 64;
            if (src_off > window)
                src_off = 0;
        }
        for (size_t k = 0; k < n; k++) {
            uint32_t hdr[2];
            memcpy(hdr, buf + k * frame, sizeof(hdr));
            memcpy(c->dst + dst_off, buf + k * frame + RING_FRAME_HEADER, hdr[0]);
            sink += c->dst[dst_off];
            dst_off += 64;
            if (dst_off > window)
                dst_off = 0;
        }
        done += n;
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    *ret_sink = sink;
    return secs;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static void pick_cpus(int *ret_a, int *ret_b)
{
    cpu_set_t set;
    *ret_a = *ret_b = -1;
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return;
    int found[2], n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && n < 2; cpu++) {
        if (CPU_ISSET(cpu, &set))
            found[n++] = cpu;
    }
    if (n == 2) {
        *ret_a = found[0];
        *ret_b = found[1];
    }
}

static uint64_t parse_arg(const char *text, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0' || v == 0) {
        fprintf(stderr, "bench_ring: invalid %s '%s'\n", what, text);
        exit(2);
    }
    return (uint64_t)v;
}

int main(int argc, char **argv)
{
    uint64_t mib = 2048;
    size_t capacity = 1u << 20;
    int repeats = 5;
    if (argc > 1)
        mib = parse_arg(argv[1], "MiB per case");
    if (argc > 2)
        capacity = (size_t)parse_arg(argv[2], "capacity");
    if (argc > 3)
        repeats = (int)parse_arg(argv[3], "repeats");
    if (argc > 4 || repeats > 99) {
        fprintf(stderr, "usage: bench_ring [mib_per_case [capacity_bytes [repeats<100]]]\n");
        return 2;
    }

    static const size_t sizes[] = {64, 256, 1024};
    uint8_t *src = malloc(BENCH_SRC_BYTES);
    uint8_t *dst = malloc(BENCH_SRC_BYTES);
    uint8_t *buf = aligned_alloc(RING_CACHE_LINE, capacity < 4096 ? 4096 : capacity);
    if (!src || !dst || !buf) {
        fprintf(stderr, "bench_ring: out of memory\n");
        return 1;
    }
    uint64_t x = 0x243f6a8885a308d3ull;
    for (size_t i = 0; i < BENCH_SRC_BYTES; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        src[i] = (uint8_t)x;
    }
    memset(dst, 0, BENCH_SRC_BYTES);
    memset(buf, 0, capacity);

    int cpu_a, cpu_b;
    pick_cpus(&cpu_a, &cpu_b);
    printf("bench_ring: ring %zu KiB, %" PRIu64 " MiB payload per case, median of %d runs, "
           "threads %s\n",
           capacity / 1024, mib, repeats,
           cpu_a >= 0 ? "pinned to 2 CPUs" : "not pinned (fewer than 2 CPUs allowed)");
    printf("%-8s %12s %12s %10s %12s %8s %12s\n", "payload", "records", "ring Mrec/s", "ring GB/s",
           "memcpy GB/s", "ratio", "wakes/Mrec");

    uint64_t sink = 0;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        struct bench_case c;
        memset(&c, 0, sizeof(c));
        int rc = ring_init(&c.ring, capacity);
        if (rc != 0) {
            fprintf(stderr, "bench_ring: ring_init(%zu): %s\n", capacity, strerror(-rc));
            return 1;
        }
        c.size = sizes[s];
        c.records = mib * 1024 * 1024 / c.size;
        c.src = src;
        c.dst = dst;
        c.cpu_producer = cpu_a;
        c.cpu_consumer = cpu_b;

        double ring_s[100], copy_s[100];
        uint64_t wakes = 0;
        for (int r = 0; r < repeats; r++) {
            ring_s[r] = run_ring(&c);
            if (ring_s[r] < 0)
                return 1;
            wakes += c.wakes;
            sink += c.sink;
            uint64_t k;
            copy_s[r] = run_memcpy(&c, buf, capacity, &k);
            sink += k;
        }
        double rs = median(ring_s, repeats);
        double cs = median(copy_s, repeats);
        double bytes = (double)c.records * (double)c.size;
        double ring_gbs = bytes / rs / 1e9;
        double copy_gbs = bytes / cs / 1e9;
        char label[16];
        snprintf(label, sizeof(label), "%zu B", c.size);
        printf("%-8s %12" PRIu64 " %12.2f %10.2f %12.2f %8.2f %12.0f\n", label, c.records,
               (double)c.records / rs / 1e6, ring_gbs, copy_gbs, ring_gbs / copy_gbs,
               (double)wakes / repeats / ((double)c.records / 1e6));
        fflush(stdout);
        ring_release(&c.ring);
    }
    /* Keep the copies observable. */
    if (sink == 42)
        printf("(sink %" PRIu64 ")\n", sink);
    free(src);
    free(dst);
    free(buf);
    return 0;
}
