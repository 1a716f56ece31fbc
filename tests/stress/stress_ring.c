/*
 * stress_ring: one producer thread and one consumer thread push records through an SPSC
 * ring and check that nothing is lost, reordered or corrupted, and that the wake-up
 * contract of ring_commit() never loses a wake-up. Built and run under ThreadSanitizer
 * in CI (label "concurrency").
 *
 * Usage: stress_ring [records [seed]]   (or OSPREY_STRESS_RING_RECORDS / _SEED)
 *
 * Records. Record `seq` has a length drawn from a hash of seq (0 bytes up to
 * ring_max_record(), the maximum itself included), so the consumer knows the length it
 * must see. Its bytes are {uint64 seq, uint64 checksum, payload...}, the payload filled
 * from a per-record PRNG and the checksum a 64-bit FNV-1a over the payload words;
 * records shorter than 16 bytes carry the first bytes of that header. The consumer
 * checks the length, the sequence number and the checksum of every record.
 *
 * Wake-ups. The consumer yields a few times when the ring is empty and then sleeps on a
 * condition variable until a wake token is set. It may only go to sleep right after
 * ring_peek() returned NULL, and the producer sets the token only when ring_commit()
 * returned true: exactly the contract an event loop uses with uv_async_send(). If the
 * consumer has slept for more than 2 s while ring_used_bytes() says data is pending, a
 * wake-up was lost and the test fails.
 *
 * Three phases run back to back:
 *   spin       `records` records; when the ring is full the producer yields and retries.
 *   pause      records / 4 records (records / 8 under TSan); when the ring is full, the
 *              producer calls ring_request_space(), retries once, then waits until the
 *              consumer reports space (ring_take_space_request() after a consume that
 *              leaves the ring at most half full); waiting > 2 s while the ring has room
 *              is a lost report.
 *   handshake  records / 5 rounds (records / 100 under TSan) of the space-request handshake
 *              (see run_handshake()).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/ring.h"

#if defined(__SANITIZE_THREAD__)
#define STRESS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STRESS_TSAN 1
#endif
#endif
#ifndef STRESS_TSAN
#define STRESS_TSAN 0
#endif

#define STRESS_DEFAULT_RECORDS 10000000ull
#define STRESS_RING_CAPACITY   8192u /* max record 4088 bytes */
#define STRESS_STALL_NS        2000000000ull
#define STRESS_HEADER          16u

enum stress_mode {
    STRESS_SPIN,
    STRESS_PAUSE,
};

struct stress {
    struct ring ring;
    enum stress_mode mode;
    uint64_t records;
    uint64_t seed;
    size_t max_len;

    pthread_mutex_t mu;
    pthread_cond_t wake_cv;  /* consumer sleeps here */
    pthread_cond_t space_cv; /* producer pauses here (pause mode) */
    bool wake_token;         /* under mu */
    bool space_token;        /* under mu */

    _Atomic bool failed;
    char fail_msg[512]; /* written once by whoever sets `failed` first */
    pthread_mutex_t fail_mu;

    /* Producer-side counts. */
    uint64_t p_wakes;
    uint64_t p_full;
    uint64_t p_pauses;
    uint64_t p_shrunk;
    uint64_t p_bytes;
    /* Consumer-side counts. */
    uint64_t c_records;
    uint64_t c_empty;
    uint64_t c_sleeps;
    uint64_t c_space_reports;
};

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t next64(uint64_t *state)
{
    return mix64(*state += 0x9e3779b97f4a7c15ull);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void stress_fail(struct stress *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void stress_fail(struct stress *s, const char *fmt, ...)
{
    pthread_mutex_lock(&s->fail_mu);
    if (!atomic_load(&s->failed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->fail_msg, sizeof(s->fail_msg), fmt, ap);
        va_end(ap);
        atomic_store(&s->failed, true);
    }
    pthread_mutex_unlock(&s->fail_mu);
    /* Unblock whoever is sleeping so both threads can exit. */
    pthread_mutex_lock(&s->mu);
    s->wake_token = true;
    s->space_token = true;
    pthread_cond_broadcast(&s->wake_cv);
    pthread_cond_broadcast(&s->space_cv);
    pthread_mutex_unlock(&s->mu);
}

static bool stress_failed(struct stress *s)
{
    return atomic_load_explicit(&s->failed, memory_order_relaxed);
}

/* Length of record `seq`: mostly small, some medium, a few large, some empty, and the
 * maximum itself now and then. */
static size_t record_len(const struct stress *s, uint64_t seq)
{
    uint64_t h = mix64(seq ^ s->seed);
    uint64_t pick = h % 1000;
    uint64_t v = h >> 32;
    if (pick < 5)
        return s->max_len;
    if (pick < 20)
        return 0;
    if (pick < 100)
        return v % STRESS_HEADER; /* shorter than the header */
    if (pick < 700)
        return STRESS_HEADER + v % 49;
    if (pick < 950)
        return 65 + v % 448;
    return 513 + v % (s->max_len - 513);
}

static uint64_t checksum_init(uint64_t seq, size_t len)
{
    return 0xcbf29ce484222325ull ^ mix64(seq + ((uint64_t)len << 40));
}

/* FNV-1a over 64-bit words; the last partial word is zero-extended. `p` is 8-byte
 * aligned (ring payloads are), so words are read in place: a memcpy() per word would be
 * an intercepted call under ThreadSanitizer and dominate the run time. */
static uint64_t checksum(uint64_t h, const uint8_t *p, size_t len)
{
    const uint64_t *w = (const uint64_t *)(const void *)p;
    size_t words = len / 8;
    for (size_t i = 0; i < words; i++)
        h = (h ^ w[i]) * 0x100000001b3ull;
    if (len % 8) {
        uint64_t last = 0;
        for (size_t i = words * 8; i < len; i++)
            last |= (uint64_t)p[i] << (8 * (i % 8));
        h = (h ^ last) * 0x100000001b3ull;
    }
    return h;
}

/* Write record `seq` (`len` bytes) at p; p is 8-byte aligned. */
static void record_write(const struct stress *s, uint8_t *p, uint64_t seq, size_t len)
{
    if (len <= STRESS_HEADER) {
        uint64_t hdr[2] = {seq, checksum_init(seq, len)};
        const uint8_t *h = (const uint8_t *)hdr;
        for (size_t i = 0; i < len; i++)
            p[i] = h[i];
        return;
    }
    uint8_t *payload = p + STRESS_HEADER;
    uint64_t *w = (uint64_t *)(void *)payload;
    size_t plen = len - STRESS_HEADER;
    size_t words = plen / 8;
    uint64_t st = mix64(seq * 0x2545f4914f6cdd1dull + s->seed);
    /* The checksum is computed on the values written, not read back from the ring. */
    uint64_t h = checksum_init(seq, len);
    for (size_t i = 0; i < words; i++) {
        uint64_t v = next64(&st);
        w[i] = v;
        h = (h ^ v) * 0x100000001b3ull;
    }
    if (plen % 8) {
        uint64_t last = next64(&st) & ((1ull << (8 * (plen % 8))) - 1);
        for (size_t i = words * 8; i < plen; i++)
            payload[i] = (uint8_t)(last >> (8 * (i % 8)));
        h = (h ^ last) * 0x100000001b3ull;
    }
    uint64_t *hdr = (uint64_t *)(void *)p;
    hdr[0] = seq;
    hdr[1] = h;
}

/* Check record `seq`; returns false (and fails the test) on any mismatch. */
static bool record_verify(struct stress *s, const uint8_t *p, size_t len, uint64_t seq)
{
    size_t want_len = record_len(s, seq);
    if (len != want_len) {
        uint64_t got_seq = 0;
        memcpy(&got_seq, p, len < 8 ? len : 8);
        stress_fail(s,
                    "record %" PRIu64 ": length %zu, expected %zu (its first bytes say seq %" PRIu64
                    "): lost or reordered record",
                    seq, len, want_len, got_seq);
        return false;
    }
    if (len <= STRESS_HEADER) {
        uint64_t want[2] = {seq, checksum_init(seq, len)};
        const uint8_t *w = (const uint8_t *)want;
        for (size_t i = 0; i < len; i++) {
            if (p[i] != w[i]) {
                stress_fail(s, "record %" PRIu64 ": short record (%zu bytes) corrupted", seq, len);
                return false;
            }
        }
        return true;
    }
    const uint64_t *hdr = (const uint64_t *)(const void *)p;
    if (hdr[0] != seq) {
        stress_fail(s, "record %" PRIu64 ": carries seq %" PRIu64 ": lost or reordered", seq,
                    hdr[0]);
        return false;
    }
    uint64_t sum = checksum(checksum_init(seq, len), p + STRESS_HEADER, len - STRESS_HEADER);
    if (sum != hdr[1]) {
        stress_fail(s,
                    "record %" PRIu64 " (%zu bytes): checksum %016" PRIx64 ", expected %016" PRIx64
                    ": corrupted payload",
                    seq, len, sum, hdr[1]);
        return false;
    }
    return true;
}

static void deadline_after(struct timespec *ts, uint64_t ns)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    uint64_t t = (uint64_t)ts->tv_nsec + ns;
    ts->tv_sec += (time_t)(t / 1000000000ull);
    ts->tv_nsec = (long)(t % 1000000000ull);
}

static void wake_consumer(struct stress *s)
{
    pthread_mutex_lock(&s->mu);
    s->wake_token = true;
    pthread_cond_signal(&s->wake_cv);
    pthread_mutex_unlock(&s->mu);
}

/* Pause mode: wait for the consumer's space report. Returns false on failure. */
static bool wait_for_space(struct stress *s, size_t len)
{
    s->p_pauses++;
    pthread_mutex_lock(&s->mu);
    while (!s->space_token) {
        struct timespec ts;
        deadline_after(&ts, STRESS_STALL_NS);
        int rc = pthread_cond_timedwait(&s->space_cv, &s->mu, &ts);
        if (rc == ETIMEDOUT && !s->space_token) {
            /* No report for 2 s. If there is room now, the report was lost. */
            pthread_mutex_unlock(&s->mu);
            if (ring_reserve(&s->ring, len)) {
                stress_fail(s,
                            "producer paused > 2 s for %zu bytes although the ring has room "
                            "(used %zu): lost space report",
                            len, ring_used_bytes(&s->ring));
                return false;
            }
            if (stress_failed(s))
                return false;
            pthread_mutex_lock(&s->mu);
        }
    }
    s->space_token = false;
    pthread_mutex_unlock(&s->mu);
    return !stress_failed(s);
}

static void *producer_main(void *arg)
{
    struct stress *s = arg;
    uint64_t rng = s->seed ^ 0x70726f64ull;
    for (uint64_t seq = 0; seq < s->records; seq++) {
        size_t len = record_len(s, seq);
        /* Now and then reserve more than needed and shrink at commit. */
        size_t reserve_len = len;
        if ((next64(&rng) & 7) == 0) {
            reserve_len = len + (size_t)(next64(&rng) % 200);
            if (reserve_len > s->max_len)
                reserve_len = s->max_len;
        }
        uint8_t *p;
        for (;;) {
            p = ring_reserve(&s->ring, reserve_len);
            if (p)
                break;
            s->p_full++;
            if (stress_failed(s))
                return NULL;
            if (s->mode == STRESS_SPIN) {
                sched_yield();
                continue;
            }
            ring_request_space(&s->ring);
            p = ring_reserve(&s->ring, reserve_len);
            if (p)
                break;
            if (!wait_for_space(s, reserve_len))
                return NULL;
        }
        record_write(s, p, seq, len);
        s->p_bytes += len;
        bool wake;
        if (reserve_len != len) {
            s->p_shrunk++;
            wake = ring_commit_len(&s->ring, len);
        } else {
            wake = ring_commit(&s->ring);
        }
        if (wake) {
            s->p_wakes++;
            wake_consumer(s);
        }
    }
    return NULL;
}

/* Sleep until the producer's wake token. Fails when data has been pending for > 2 s. */
static bool consumer_sleep(struct stress *s)
{
    s->c_sleeps++;
    pthread_mutex_lock(&s->mu);
    uint64_t slept_since = now_ns();
    while (!s->wake_token) {
        struct timespec ts;
        deadline_after(&ts, STRESS_STALL_NS / 4);
        (void)pthread_cond_timedwait(&s->wake_cv, &s->mu, &ts);
        if (s->wake_token)
            break;
        if (ring_used_bytes(&s->ring) == 0) {
            slept_since = now_ns(); /* nothing pending: sleeping is legitimate */
            continue;
        }
        if (now_ns() - slept_since > STRESS_STALL_NS) {
            pthread_mutex_unlock(&s->mu);
            stress_fail(s,
                        "consumer slept > 2 s with %zu bytes pending after record %" PRIu64
                        ": lost wake-up",
                        ring_used_bytes(&s->ring), s->c_records);
            return false;
        }
    }
    s->wake_token = false;
    pthread_mutex_unlock(&s->mu);
    return !stress_failed(s);
}

static void *consumer_main(void *arg)
{
    struct stress *s = arg;
    uint64_t rng = s->seed ^ 0x636f6e73ull;
    unsigned yields = 0;
    unsigned budget = 0;
    while (s->c_records < s->records) {
        size_t len = 0;
        const uint8_t *p = ring_peek(&s->ring, &len);
        if (!p) {
            s->c_empty++;
            if (stress_failed(s))
                return NULL;
            if (yields < budget) {
                yields++;
                sched_yield();
                continue;
            }
            /* ring_peek() just returned NULL: the only point where sleeping is allowed. */
            if (!consumer_sleep(s))
                return NULL;
            yields = 0;
            budget = (unsigned)(next64(&rng) % 4); /* 0: sleep at the first empty peek */
            continue;
        }
        if (!record_verify(s, p, len, s->c_records))
            return NULL;
        ring_consume(&s->ring);
        s->c_records++;
        /* Report space once the fill is back to half (hysteresis: reporting after every
         * record would make the two threads convoy through futex wake-ups). */
        if (s->mode == STRESS_PAUSE && ring_used_bytes(&s->ring) <= STRESS_RING_CAPACITY / 2 &&
            ring_take_space_request(&s->ring)) {
            s->c_space_reports++;
            pthread_mutex_lock(&s->mu);
            s->space_token = true;
            pthread_cond_signal(&s->space_cv);
            pthread_mutex_unlock(&s->mu);
        }
    }
    return NULL;
}

static int run_phase(enum stress_mode mode, uint64_t records, uint64_t seed)
{
    const char *name = mode == STRESS_SPIN ? "spin" : "pause";
    struct stress *s = calloc(1, sizeof(*s));
    if (!s) {
        fprintf(stderr, "stress_ring: out of memory\n");
        return 1;
    }
    int rc = ring_init(&s->ring, STRESS_RING_CAPACITY);
    if (rc != 0) {
        fprintf(stderr, "stress_ring: ring_init failed: %s\n", strerror(-rc));
        free(s);
        return 1;
    }
    s->mode = mode;
    s->records = records;
    s->seed = seed;
    s->max_len = ring_max_record(&s->ring);

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake_cv, &ca);
    pthread_cond_init(&s->space_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->fail_mu, NULL);

    uint64_t t0 = now_ns();
    pthread_t prod, cons;
    if (pthread_create(&cons, NULL, consumer_main, s) != 0 ||
        pthread_create(&prod, NULL, producer_main, s) != 0) {
        fprintf(stderr, "stress_ring: pthread_create failed\n");
        exit(1);
    }
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);
    double secs = (double)(now_ns() - t0) / 1e9;

    int failed = 0;
    if (atomic_load(&s->failed)) {
        fprintf(stderr, "stress_ring: %s phase FAILED: %s\n", name, s->fail_msg);
        failed = 1;
    } else if (s->c_records != records) {
        fprintf(stderr, "stress_ring: %s phase FAILED: consumed %" PRIu64 " of %" PRIu64 "\n", name,
                s->c_records, records);
        failed = 1;
    } else {
        size_t len;
        if (ring_peek(&s->ring, &len) || ring_used_bytes(&s->ring) != 0) {
            fprintf(stderr, "stress_ring: %s phase FAILED: ring not empty at the end\n", name);
            failed = 1;
        }
    }
    printf("stress_ring: %-5s %" PRIu64 " records, %.1f MiB payload, %.2f s (%.2f M rec/s); "
           "wakes %" PRIu64 ", consumer sleeps %" PRIu64 ", empty peeks %" PRIu64 ", full %" PRIu64
           ", shrunk %" PRIu64 ", pauses %" PRIu64 ", space reports %" PRIu64
           ", high water %zu/%zu\n",
           name, s->c_records, (double)s->p_bytes / (1024.0 * 1024.0), secs,
           (double)s->c_records / secs / 1e6, s->p_wakes, s->c_sleeps, s->c_empty, s->p_full,
           s->p_shrunk, s->p_pauses, s->c_space_reports, ring_high_water_bytes(&s->ring),
           ring_capacity(&s->ring));
    fflush(stdout);

    pthread_cond_destroy(&s->wake_cv);
    pthread_cond_destroy(&s->space_cv);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->fail_mu);
    ring_release(&s->ring);
    free(s);
    return failed;
}

/*
 * Handshake phase: the space-request protocol as a litmus test. Each round, the producer
 * leaves the ring holding records such that a maximum-size reservation fails and would
 * succeed on an empty ring. Then, released together by a barrier:
 *   producer: ring_request_space(); retry ring_reserve(max)
 *   consumer: drain the ring, calling ring_take_space_request() after each consume
 * After a second barrier, at least one side must have seen the other: the producer's
 * retry succeeded (it saw the freed space) or the consumer took the request. If neither
 * did, a producer that paused its source would wait for a report that never comes while
 * the consumer idles on an empty ring: a lost space report. This is the store-buffer
 * (Dekker) pattern, so it needs a full fence on both sides.
 */
struct handshake {
    struct ring ring;
    uint64_t rounds;
    _Atomic unsigned bar_count;
    _Atomic unsigned bar_gen;
    bool producer_ok; /* written before a barrier, read after it */
    bool consumer_took;
    uint64_t lost;
    uint64_t retry_ok;
    uint64_t took;
};

static void barrier_wait(struct handshake *h)
{
    unsigned gen = atomic_load(&h->bar_gen);
    if (atomic_fetch_add(&h->bar_count, 1) == 1) {
        atomic_store(&h->bar_count, 0);
        atomic_fetch_add(&h->bar_gen, 1);
        return;
    }
    unsigned spins = 0;
    while (atomic_load(&h->bar_gen) == gen) {
        if (++spins > 200) {
            spins = 0;
            sched_yield();
        }
    }
}

static void *handshake_producer(void *arg)
{
    struct handshake *h = arg;
    size_t max = ring_max_record(&h->ring);
    for (uint64_t round = 0; round < h->rounds; round++) {
        /* One maximum record, plus an empty one when the first landed on a half
         * boundary (then another maximum record would still fit). */
        if (!ring_reserve(&h->ring, max))
            abort(); /* the ring is empty here */
        (void)ring_commit(&h->ring);
        if (ring_reserve(&h->ring, max)) {
            if (!ring_reserve(&h->ring, 0)) /* replaces the open reservation */
                abort();
            (void)ring_commit(&h->ring);
        }
        if (ring_reserve(&h->ring, max))
            abort();
        barrier_wait(h); /* A: go */
        ring_request_space(&h->ring);
        bool ok = ring_reserve(&h->ring, max) != NULL;
        if (ok)
            (void)ring_commit(&h->ring);
        h->producer_ok = ok;
        barrier_wait(h); /* B: both done */
        barrier_wait(h); /* C: consumer has checked and cleaned up */
    }
    return NULL;
}

static void *handshake_consumer(void *arg)
{
    struct handshake *h = arg;
    for (uint64_t round = 0; round < h->rounds; round++) {
        barrier_wait(h); /* A */
        bool took = false;
        size_t len;
        while (ring_peek(&h->ring, &len)) {
            ring_consume(&h->ring);
            took |= ring_take_space_request(&h->ring);
        }
        /* The producer may commit after this drain; that record is cleaned up below. */
        barrier_wait(h); /* B */
        if (!h->producer_ok && !took)
            h->lost++;
        h->retry_ok += h->producer_ok;
        h->took += took;
        while (ring_peek(&h->ring, &len))
            ring_consume(&h->ring);
        (void)ring_take_space_request(&h->ring); /* clear for the next round */
        barrier_wait(h);                         /* C */
    }
    return NULL;
}

static int run_handshake(uint64_t rounds)
{
    struct handshake *h = calloc(1, sizeof(*h));
    if (!h || ring_init(&h->ring, STRESS_RING_CAPACITY) != 0) {
        fprintf(stderr, "stress_ring: handshake setup failed\n");
        free(h);
        return 1;
    }
    h->rounds = rounds;
    uint64_t t0 = now_ns();
    pthread_t prod, cons;
    if (pthread_create(&cons, NULL, handshake_consumer, h) != 0 ||
        pthread_create(&prod, NULL, handshake_producer, h) != 0) {
        fprintf(stderr, "stress_ring: pthread_create failed\n");
        exit(1);
    }
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);
    double secs = (double)(now_ns() - t0) / 1e9;
    printf("stress_ring: handshake %" PRIu64 " rounds, %.2f s; producer retry succeeded %" PRIu64
           ", consumer took the request %" PRIu64 ", neither (lost space report) %" PRIu64 "\n",
           rounds, secs, h->retry_ok, h->took, h->lost);
    int failed = 0;
    if (h->lost) {
        fprintf(stderr,
                "stress_ring: handshake phase FAILED: in %" PRIu64 " of %" PRIu64
                " rounds neither the producer's retry after ring_request_space() saw the space "
                "freed by ring_consume() nor ring_take_space_request() saw the request: "
                "lost space report\n",
                h->lost, rounds);
        failed = 1;
    }
    ring_release(&h->ring);
    free(h);
    return failed;
}

static uint64_t parse_u64(const char *text, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0') {
        fprintf(stderr, "stress_ring: invalid %s '%s'\n", what, text);
        exit(2);
    }
    return (uint64_t)v;
}

int main(int argc, char **argv)
{
    uint64_t records = STRESS_DEFAULT_RECORDS;
    uint64_t seed = 0x5eed0f0a5eedull;
    const char *env = getenv("OSPREY_STRESS_RING_RECORDS");
    if (env && *env)
        records = parse_u64(env, "OSPREY_STRESS_RING_RECORDS");
    env = getenv("OSPREY_STRESS_RING_SEED");
    if (env && *env)
        seed = parse_u64(env, "OSPREY_STRESS_RING_SEED");
    if (argc > 1)
        records = parse_u64(argv[1], "record count");
    if (argc > 2)
        seed = parse_u64(argv[2], "seed");
    if (argc > 3) {
        fprintf(stderr, "usage: stress_ring [records [seed]]\n");
        return 2;
    }

    /* The pause phase and the handshake rounds exercise the space-request protocol;
     * they need fewer records to pause many times. */
    uint64_t pause_records = STRESS_TSAN ? records / 8 : records / 4;
    /* The litmus rounds are cheap natively; under TSan they are slow and the store-buffer
     * reordering they hunt for hardly ever shows (the runtime's bookkeeping around each
     * atomic store leaves the store buffer drained), so run fewer. */
    uint64_t rounds = STRESS_TSAN ? records / 100 : records / 5;
    printf("stress_ring: ring %u bytes, max record %u bytes, %" PRIu64 " + %" PRIu64
           " records + %" PRIu64 " handshake rounds, seed %#" PRIx64 "%s\n",
           STRESS_RING_CAPACITY, STRESS_RING_CAPACITY / 2 - RING_FRAME_HEADER, records,
           pause_records, rounds, seed, STRESS_TSAN ? ", ThreadSanitizer" : "");
    fflush(stdout);
    /* Every phase runs even if an earlier one failed, so one run reports every problem. */
    int failed = run_phase(STRESS_SPIN, records, seed);
    failed |= run_phase(STRESS_PAUSE, pause_records, seed + 1);
    failed |= run_handshake(rounds);
    printf("stress_ring: %s%s\n", failed ? "FAILED" : "ok",
           STRESS_TSAN && !failed ? " (ThreadSanitizer exits 66 if it reported a race)" : "");
    return failed;
}
