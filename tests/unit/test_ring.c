/*
 * Unit tests for agent/ring: single-thread properties of the SPSC byte ring.
 *
 * Every producer and consumer call goes through a small reference model (struct model)
 * that predicts, from the layout documented in ring.h (8-byte frame header, payload
 * padded to 8 bytes, a PAD frame covering the tail when a record does not fit before the
 * end of the storage), where each record lands, whether a reservation succeeds, how many
 * bytes are used, what ring_commit() returns and what the high-water mark is. The
 * targeted tests below drive the model into the interesting corners; the randomized test
 * lets a deterministic PRNG pick the operations.
 *
 * "Fill" and "used" mean head - tail in bytes, PAD frames included; the wake-up rule is
 * the one in ring.h: commit returns true when used_before == 0, or when used_before <
 * capacity / 2 <= used_after.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "agent/ring.h"

/* ---- deterministic PRNG and payload patterns ---------------------------------------- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rand_below(uint64_t *state, uint64_t n)
{
    return splitmix64(state) % n;
}

static void pattern_fill(uint8_t *p, size_t len, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = splitmix64(&s);
        size_t n = len - i < 8 ? len - i : 8;
        memcpy(p + i, &w, n);
    }
}

static bool pattern_check(const uint8_t *p, size_t len, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = splitmix64(&s);
        size_t n = len - i < 8 ? len - i : 8;
        if (memcmp(p + i, &w, n) != 0)
            return false;
    }
    return true;
}

static uint64_t align8(uint64_t n)
{
    return (n + 7u) & ~(uint64_t)7u;
}

static bool is_aligned8(const void *p)
{
    return ((uintptr_t)p & 7u) == 0;
}

/* ---- reference model ------------------------------------------------------------------ */

struct model_rec {
    uint64_t frame; /* absolute position of the record's frame header */
    uint64_t end;   /* absolute position just after its padded payload */
    size_t len;
    uint64_t seed;
};

struct model {
    struct ring r;
    uint64_t head; /* expected published head */
    uint64_t tail; /* expected tail */
    uint64_t high_water;
    uint64_t seed_state;
    /* The open (uncommitted) reservation. */
    bool open;
    uint64_t res_frame;
    size_t res_len;
    uint64_t res_seed;
    uint8_t *res_ptr;
    /* Committed, not yet consumed records, oldest first (circular). */
    struct model_rec *q;
    size_t q_cap;
    size_t q_first;
    size_t q_count;
};

static void model_init(struct model *m, size_t capacity)
{
    memset(m, 0, sizeof(*m));
    assert_int_equal(ring_init(&m->r, capacity), 0);
    assert_int_equal(ring_capacity(&m->r), capacity);
    m->seed_state = 0x6f737072657921ull ^ capacity;
    m->q_cap = capacity / RING_FRAME_HEADER + 1;
    m->q = calloc(m->q_cap, sizeof(*m->q));
    assert_non_null(m->q);
}

static void model_release(struct model *m)
{
    ring_release(&m->r);
    free(m->q);
    m->q = NULL;
}

static uint64_t model_capacity(const struct model *m)
{
    return ring_capacity(&m->r);
}

static uint64_t model_used(const struct model *m)
{
    return m->head - m->tail;
}

static uint64_t model_offset(const struct model *m)
{
    return m->head & (model_capacity(m) - 1);
}

/* Where a reservation of `len` would put its frame, or false when it cannot fit. */
static bool model_predict(const struct model *m, size_t len, uint64_t *ret_frame)
{
    uint64_t cap = model_capacity(m);
    if (len > cap / 2 - RING_FRAME_HEADER)
        return false;
    uint64_t need = RING_FRAME_HEADER + align8(len);
    uint64_t contiguous = cap - model_offset(m);
    uint64_t pad = need > contiguous ? contiguous : 0;
    if (cap - model_used(m) < pad + need)
        return false;
    *ret_frame = m->head + pad;
    return true;
}

static uint8_t *model_ptr(const struct model *m, uint64_t frame)
{
    return m->r.storage + (frame & (model_capacity(m) - 1)) + RING_FRAME_HEADER;
}

/* ring_reserve(), checked against the model. Returns the pointer (NULL when refused). */
static uint8_t *m_reserve(struct model *m, size_t len)
{
    uint64_t frame = 0;
    bool fits = model_predict(m, len, &frame);
    uint8_t *p = ring_reserve(&m->r, len);
    if (!fits) {
        assert_null(p);
        /* A refused reservation leaves nothing open in the model either. */
        m->open = false;
        return NULL;
    }
    assert_non_null(p);
    assert_true(is_aligned8(p));
    assert_ptr_equal(p, model_ptr(m, frame));
    /* The writable bytes lie inside the storage (a 0-byte reservation in the last frame
     * of the storage legitimately points one past its end). */
    assert_true(p + len <= m->r.storage + model_capacity(m));
    m->open = true;
    m->res_frame = frame;
    m->res_len = len;
    m->res_seed = splitmix64(&m->seed_state);
    m->res_ptr = p;
    pattern_fill(p, len, m->res_seed);
    return p;
}

/* ring_commit_len() (or ring_commit() when len == SIZE_MAX), checked against the model.
 * Returns what the ring returned. */
static bool m_commit(struct model *m, size_t len)
{
    assert_true(m->open);
    size_t committed = len < m->res_len ? len : m->res_len;
    uint64_t end = m->res_frame + RING_FRAME_HEADER + align8(committed);
    uint64_t used_before = model_used(m);
    uint64_t used_after = end - m->tail;
    uint64_t threshold = model_capacity(m) / 2;
    bool want_wake = used_before == 0 || (used_before < threshold && used_after >= threshold);

    bool woke = len == SIZE_MAX ? ring_commit(&m->r) : ring_commit_len(&m->r, len);
    assert_int_equal(woke, want_wake);

    assert_true(m->q_count < m->q_cap);
    struct model_rec *rec = &m->q[(m->q_first + m->q_count) % m->q_cap];
    rec->frame = m->res_frame;
    rec->end = end;
    rec->len = committed;
    rec->seed = m->res_seed;
    m->q_count++;
    m->head = end;
    m->open = false;
    if (used_after > m->high_water)
        m->high_water = used_after;

    assert_int_equal(ring_used_bytes(&m->r), model_used(m));
    assert_int_equal(ring_high_water_bytes(&m->r), m->high_water);
    return woke;
}

/* ring_peek() without consuming, checked against the model: NULL iff nothing is
 * committed, otherwise the oldest record with its length and content. */
static const uint8_t *m_peek(struct model *m)
{
    size_t len = SIZE_MAX;
    const uint8_t *p = ring_peek(&m->r, &len);
    if (m->q_count == 0) {
        assert_null(p);
        return NULL;
    }
    const struct model_rec *rec = &m->q[m->q_first];
    assert_non_null(p);
    assert_true(is_aligned8(p));
    assert_ptr_equal(p, model_ptr(m, rec->frame));
    assert_int_equal(len, rec->len);
    assert_true(pattern_check(p, len, rec->seed));
    return p;
}

/* Peek and consume the oldest record. Returns false when the ring was empty. */
static bool m_consume(struct model *m)
{
    const uint8_t *p = m_peek(m);
    if (!p)
        return false;
    ring_consume(&m->r);
    m->tail = m->q[m->q_first].end;
    m->q_first = (m->q_first + 1) % m->q_cap;
    m->q_count--;
    assert_int_equal(ring_used_bytes(&m->r), model_used(m));
    return true;
}

static void m_drain(struct model *m)
{
    while (m_consume(m))
        ;
    assert_int_equal(ring_used_bytes(&m->r), 0);
    assert_null(m_peek(m));
}

/* Reserve and commit in one go; returns the commit's wake-up flag. */
static bool m_push(struct model *m, size_t len)
{
    assert_non_null(m_reserve(m, len));
    return m_commit(m, SIZE_MAX);
}

/* Move the (empty) ring's head and tail to `offset` with records that never need a PAD
 * frame, so the next reservation starts exactly there. */
static void m_seek(struct model *m, uint64_t offset)
{
    uint64_t cap = model_capacity(m);
    assert_int_equal(offset % 8, 0);
    assert_true(offset < cap);
    assert_int_equal(model_used(m), 0);
    while (model_offset(m) != offset) {
        uint64_t pos = model_offset(m);
        uint64_t dist = (offset - pos) & (cap - 1);
        uint64_t step = dist;
        if (step > cap / 2)
            step = cap / 2;
        if (step > cap - pos)
            step = cap - pos;
        uint64_t head_before = m->head;
        assert_true(m_push(m, step - RING_FRAME_HEADER));
        assert_int_equal(m->head - head_before, step); /* no PAD frame was needed */
        m_drain(m);
    }
}

/* ---- ring_init / ring_release ----------------------------------------------------------- */

static void test_init_rejects_bad_capacity(void **state)
{
    static const size_t bad[] = {
        0,
        1,
        8,
        RING_MIN_CAPACITY / 2,   /* power of two, too small */
        RING_MIN_CAPACITY - 1,   /* too small */
        RING_MIN_CAPACITY + 1,   /* not a power of two */
        RING_MIN_CAPACITY + 8,   /* multiple of 8, not a power of two */
        3 * RING_MIN_CAPACITY,   /* not a power of two */
        (1u << 20) + (1u << 19), /* not a power of two */
        RING_MAX_CAPACITY - 1,
        (size_t)RING_MAX_CAPACITY * 2, /* power of two, too big */
        (size_t)1 << 40,
        SIZE_MAX,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ring r;
        memset(&r, 0xa5, sizeof(r));
        assert_int_equal(ring_init(&r, bad[i]), -EINVAL);
        /* A failed init leaves a ring that is safe to release (no storage). */
        assert_null(r.storage);
        assert_int_equal(ring_capacity(&r), 0);
        ring_release(&r);
    }
}

static void test_init_accepts_limits(void **state)
{
    static const size_t good[] = {RING_MIN_CAPACITY, 2 * RING_MIN_CAPACITY, 1u << 20,
                                  RING_MAX_CAPACITY};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct ring r;
        int rc = ring_init(&r, good[i]);
        if (rc == -ENOMEM && good[i] == RING_MAX_CAPACITY)
            continue; /* 1 GiB may legitimately be refused on a small test host */
        assert_int_equal(rc, 0);
        assert_int_equal(ring_capacity(&r), good[i]);
        assert_int_equal(ring_max_record(&r), good[i] / 2 - RING_FRAME_HEADER);
        assert_int_equal(ring_used_bytes(&r), 0);
        assert_int_equal(ring_high_water_bytes(&r), 0);
        assert_false(ring_take_space_request(&r));
        assert_true(((uintptr_t)r.storage % RING_CACHE_LINE) == 0);
        ring_release(&r);
        assert_null(r.storage);
        ring_release(&r); /* idempotent */
    }
    ring_release(NULL); /* NULL-safe */
}

/* ---- consumer basics -------------------------------------------------------------------- */

static void test_empty_peek_returns_null(void **state)
{
    struct model m;
    model_init(&m, RING_MIN_CAPACITY);
    size_t len = 12345;
    assert_null(ring_peek(&m.r, &len));
    assert_null(ring_peek(&m.r, &len)); /* and keeps doing so */

    /* Empty again after a push and a consume, at several offsets. */
    for (int i = 0; i < 100; i++) {
        m_push(&m, (size_t)i * 13);
        assert_true(m_consume(&m));
        assert_null(ring_peek(&m.r, &len));
        assert_int_equal(ring_used_bytes(&m.r), 0);
    }
    model_release(&m);
}

static void test_peek_twice_returns_same_record(void **state)
{
    struct model m;
    model_init(&m, RING_MIN_CAPACITY);
    m_push(&m, 100);
    m_push(&m, 200);
    const uint8_t *a = m_peek(&m);
    const uint8_t *b = m_peek(&m);
    assert_ptr_equal(a, b);
    assert_true(m_consume(&m));
    const uint8_t *c = m_peek(&m);
    assert_ptr_not_equal(a, c);
    assert_ptr_equal(c, m_peek(&m));
    assert_true(m_consume(&m));
    assert_null(m_peek(&m));
    model_release(&m);
}

static void test_fifo_order(void **state)
{
    struct model m;
    model_init(&m, 8192);
    /* Lengths chosen to hit every residue modulo 8. */
    for (size_t round = 0; round < 50; round++) {
        for (size_t len = round; len < round + 40; len++)
            m_push(&m, len);
        m_drain(&m);
    }
    model_release(&m);
}

/* ---- wrap-around and PAD frames --------------------------------------------------------- */

/* At every 8-aligned start offset of an empty ring, records of sizes around the
 * contiguous room left before the end land either in place or, after a PAD frame, at
 * offset 0; the consumer skips the PAD and sees the record intact. */
static void test_wrap_padding_every_offset(void **state)
{
    const size_t cap = RING_MIN_CAPACITY;
    struct model m;
    model_init(&m, cap);
    for (uint64_t off = 0; off < cap; off += 8) {
        uint64_t contiguous = cap - off;
        /* Payloads that exactly fill, just overflow, and comfortably overflow the room
         * before the end, plus a few fixed sizes. */
        int64_t sizes[] = {
            (int64_t)contiguous - 8,
            (int64_t)contiguous - 9,
            (int64_t)contiguous - 7,
            (int64_t)contiguous - 1,
            (int64_t)contiguous,
            (int64_t)contiguous + 1,
            0,
            1,
            64,
            1000,
        };
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            if (sizes[i] < 0 || (size_t)sizes[i] > ring_max_record(&m.r))
                continue;
            size_t len = (size_t)sizes[i];
            m_seek(&m, off);
            uint8_t *p = m_reserve(&m, len);
            assert_non_null(p);
            uint64_t need = RING_FRAME_HEADER + align8(len);
            if (need <= contiguous) {
                assert_ptr_equal(p, m.r.storage + off + RING_FRAME_HEADER);
            } else {
                /* Wrapped: the record starts at 0, the PAD covers [off, cap). */
                assert_ptr_equal(p, m.r.storage + RING_FRAME_HEADER);
            }
            m_commit(&m, SIZE_MAX);
            assert_int_equal(ring_used_bytes(&m.r), need <= contiguous ? need : contiguous + need);
            m_drain(&m);
        }
    }
    model_release(&m);
}

/* Wrap while older records are still queued: the PAD is freed together with the record
 * after it, and records before it are unaffected. */
static void test_wrap_with_records_queued(void **state)
{
    struct model m;
    model_init(&m, RING_MIN_CAPACITY);
    uint64_t s = 42;
    for (int iter = 0; iter < 20000; iter++) {
        /* Keep about half the ring queued, so every wrap happens behind live records. */
        while (model_used(&m) < model_capacity(&m) / 2) {
            size_t len = (size_t)rand_below(&s, 600);
            uint64_t frame;
            if (!model_predict(&m, len, &frame))
                break;
            m_push(&m, len);
        }
        size_t n = 1 + (size_t)rand_below(&s, 3);
        for (size_t i = 0; i < n; i++)
            m_consume(&m);
    }
    m_drain(&m);
    model_release(&m);
}

/* ---- full ring -------------------------------------------------------------------------- */

static void test_full_ring_refuses_then_accepts(void **state)
{
    const size_t cap = RING_MIN_CAPACITY;
    struct model m;
    model_init(&m, cap);
    /* 56-byte payloads make 64-byte frames, which tile the storage exactly. */
    size_t n = 0;
    while (m_reserve(&m, 56)) {
        m_commit(&m, SIZE_MAX);
        n++;
    }
    assert_int_equal(n, cap / 64);
    assert_int_equal(ring_used_bytes(&m.r), cap);
    assert_null(m_reserve(&m, 0)); /* not even an empty record */
    assert_null(m_reserve(&m, 56));
    assert_null(m_reserve(&m, 56)); /* refusal has no side effect */

    assert_true(m_consume(&m));
    assert_null(m_reserve(&m, 57)); /* a 72-byte frame still does not fit */
    assert_non_null(m_reserve(&m, 56));
    m_commit(&m, SIZE_MAX);
    assert_null(m_reserve(&m, 0));

    /* Cycle through the full ring many times: always exactly one slot per consume
     * (payloads of 49..56 bytes all make 64-byte frames). */
    for (int i = 0; i < 1000; i++) {
        assert_true(m_consume(&m));
        assert_non_null(m_reserve(&m, 49 + (size_t)i % 8));
        m_commit(&m, SIZE_MAX);
        assert_null(m_reserve(&m, 0));
    }
    m_drain(&m);
    model_release(&m);
}

/* Enough free bytes in total, but not contiguous: the record needs a PAD frame over the
 * tail and the front of the storage is still in use, so the reservation must fail until
 * the consumer frees the front. */
static void test_full_when_not_contiguous(void **state)
{
    const size_t cap = RING_MIN_CAPACITY; /* 4096 */
    struct model m;
    model_init(&m, cap);
    m_seek(&m, 1024);
    m_push(&m, 1024 - 8); /* [1024, 2048) */
    m_push(&m, 1024 - 8); /* [2048, 3072) */
    /* used 2048, free 2048, 1024 contiguous before the end. */
    assert_null(m_reserve(&m, 1536 - 8));     /* needs 1024 PAD + 1536 > 2048 */
    assert_non_null(m_reserve(&m, 1024 - 8)); /* fits exactly before the end */
    /* Abandon that reservation; consume the first record to free [1024, 2048). */
    assert_true(m_consume(&m));
    uint8_t *p = m_reserve(&m, 1536 - 8);
    assert_ptr_equal(p, m.r.storage + RING_FRAME_HEADER);
    m_commit(&m, SIZE_MAX);
    assert_int_equal(ring_used_bytes(&m.r), 1024 + 1024 + 1536);
    m_drain(&m);
    model_release(&m);
}

/* ---- record size limits ----------------------------------------------------------------- */

static void test_max_record_fits_at_every_offset(void **state)
{
    static const size_t caps[] = {RING_MIN_CAPACITY, 8192, 65536};
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        struct model m;
        model_init(&m, caps[c]);
        size_t max = ring_max_record(&m.r);
        assert_int_equal(max, caps[c] / 2 - RING_FRAME_HEADER);
        for (uint64_t off = 0; off < caps[c]; off += 8) {
            m_seek(&m, off);
            assert_null(ring_reserve(&m.r, max + 1));
            assert_null(ring_reserve(&m.r, SIZE_MAX));
            assert_non_null(m_reserve(&m, max));
            assert_true(m_commit(&m, SIZE_MAX)); /* empty -> non-empty */
            /* A second maximum record must fit too when the first did not wrap and
             * the tail room allows it; the model decides, the ring must agree. */
            uint64_t frame;
            if (model_predict(&m, max, &frame)) {
                assert_non_null(m_reserve(&m, max));
                m_commit(&m, SIZE_MAX);
            } else {
                assert_null(ring_reserve(&m.r, max));
            }
            m_drain(&m);
        }
        model_release(&m);
    }
}

static void test_oversized_record_refused(void **state)
{
    struct model m;
    model_init(&m, RING_MIN_CAPACITY);
    size_t max = ring_max_record(&m.r);
    assert_null(ring_reserve(&m.r, max + 1));
    assert_null(ring_reserve(&m.r, RING_MIN_CAPACITY));
    assert_null(ring_reserve(&m.r, (size_t)UINT32_MAX + 1));
    assert_null(ring_reserve(&m.r, SIZE_MAX));
    /* Refusals leave the ring untouched. */
    assert_int_equal(ring_used_bytes(&m.r), 0);
    assert_null(m_peek(&m));
    assert_true(m_push(&m, max));
    m_drain(&m);
    model_release(&m);
}

static void test_zero_length_payload(void **state)
{
    const size_t cap = RING_MIN_CAPACITY;
    struct model m;
    model_init(&m, cap);
    assert_true(m_push(&m, 0));
    assert_int_equal(ring_used_bytes(&m.r), RING_FRAME_HEADER);
    size_t len = 99;
    const void *p = ring_peek(&m.r, &len);
    assert_non_null(p); /* an empty record is a record, not "ring empty" */
    assert_int_equal(len, 0);
    assert_true(m_consume(&m));

    /* Many empty records in a row, then in the last frame slot of the storage. */
    for (int i = 0; i < 100; i++)
        m_push(&m, 0);
    m_drain(&m);
    m_seek(&m, cap - RING_FRAME_HEADER);
    assert_non_null(m_reserve(&m, 0));
    m_commit(&m, SIZE_MAX);
    assert_non_null(m_reserve(&m, 0)); /* next one lands at offset 0, no PAD */
    m_commit(&m, SIZE_MAX);
    assert_int_equal(ring_used_bytes(&m.r), 2 * RING_FRAME_HEADER);
    m_drain(&m);
    model_release(&m);
}

/* ---- commit_len ------------------------------------------------------------------------- */

static void test_commit_len_shrinks(void **state)
{
    const size_t cap = RING_MIN_CAPACITY;
    struct model m;
    model_init(&m, cap);
    assert_non_null(m_reserve(&m, 1000));
    m_commit(&m, 100);
    assert_int_equal(ring_used_bytes(&m.r), RING_FRAME_HEADER + 104);
    size_t len = 0;
    assert_non_null(ring_peek(&m.r, &len));
    assert_int_equal(len, 100);
    m_drain(&m);

    /* Commit at the reserved length, at zero, and at every length below a reservation. */
    for (size_t l = 0; l <= 40; l++) {
        assert_non_null(m_reserve(&m, 40));
        m_commit(&m, l);
    }
    assert_non_null(m_reserve(&m, 40));
    m_commit(&m, 40);
    m_drain(&m);

    /* Shrinking a reservation that wrapped keeps it at offset 0 (the PAD stays). */
    m_seek(&m, cap - 64);
    uint8_t *p = m_reserve(&m, 1000);
    assert_ptr_equal(p, m.r.storage + RING_FRAME_HEADER);
    m_commit(&m, 8);
    assert_int_equal(ring_used_bytes(&m.r), 64 + RING_FRAME_HEADER + 8);
    /* The space given back is usable right after. */
    p = m_reserve(&m, 16);
    assert_ptr_equal(p, m.r.storage + 2 * RING_FRAME_HEADER + 8);
    m_commit(&m, SIZE_MAX);
    m_drain(&m);
    model_release(&m);
}

/* ---- alignment -------------------------------------------------------------------------- */

static void test_pointers_are_8_byte_aligned(void **state)
{
    struct model m;
    model_init(&m, RING_MIN_CAPACITY);
    for (size_t len = 0; len < 3 * RING_MIN_CAPACITY / 2; len += 1 + len / 16) {
        if (len > ring_max_record(&m.r))
            break;
        for (int k = 0; k < 3; k++) {
            void *p = m_reserve(&m, len);
            if (!p) {
                m_drain(&m);
                p = m_reserve(&m, len);
            }
            assert_true(is_aligned8(p));
            m_commit(&m, len > 3 ? len - 3 : len);
            const uint8_t *q = m_peek(&m); /* m_peek asserts alignment */
            assert_non_null(q);
        }
    }
    m_drain(&m);
    model_release(&m);
}

/* ---- uncommitted reservations ----------------------------------------------------------- */

static void test_uncommitted_reservation_invisible(void **state)
{
    const size_t cap = RING_MIN_CAPACITY;
    struct model m;
    model_init(&m, cap);

    /* On an empty ring. */
    uint8_t *p = m_reserve(&m, 100);
    size_t len;
    assert_null(ring_peek(&m.r, &len));
    assert_int_equal(ring_used_bytes(&m.r), 0);
    assert_int_equal(ring_high_water_bytes(&m.r), 0);

    /* The next reservation replaces it, in place. */
    uint8_t *q = m_reserve(&m, 50);
    assert_ptr_equal(p, q);
    assert_true(m_commit(&m, SIZE_MAX));
    assert_non_null(m_peek(&m)); /* 50 bytes, the second reservation's content */

    /* Behind a committed record: the consumer sees the record, then nothing. */
    m_reserve(&m, 300);
    assert_true(m_consume(&m));
    assert_null(ring_peek(&m.r, &len));
    m_commit(&m, SIZE_MAX);
    assert_true(m_consume(&m));

    /* A reservation that wrote a PAD frame and was abandoned: the PAD must not leak. */
    m_seek(&m, cap - 64);
    p = m_reserve(&m, 1000); /* PAD over [cap - 64, cap), record at 0 */
    assert_ptr_equal(p, m.r.storage + RING_FRAME_HEADER);
    assert_null(ring_peek(&m.r, &len));
    assert_int_equal(ring_used_bytes(&m.r), 0);
    q = m_reserve(&m, 8); /* fits before the end: overwrites the PAD header */
    assert_ptr_equal(q, m.r.storage + cap - 64 + RING_FRAME_HEADER);
    assert_true(m_commit(&m, SIZE_MAX));
    assert_int_equal(ring_used_bytes(&m.r), 16);
    m_drain(&m);
    model_release(&m);
}

/* ---- wake-up contract ------------------------------------------------------------------- */

static void test_wake_on_empty_to_non_empty(void **state)
{
    struct model m;
    model_init(&m, 8192);
    assert_true(m_push(&m, 10));   /* empty -> non-empty */
    assert_false(m_push(&m, 10));  /* already non-empty */
    assert_false(m_push(&m, 500)); /* still below half */
    assert_true(m_consume(&m));
    assert_false(m_push(&m, 10)); /* not empty yet */
    m_drain(&m);
    assert_true(m_push(&m, 0)); /* empty again -> wake, even for an empty record */
    assert_false(m_push(&m, 0));

    /* The consumer emptied the ring without peeking again: still a wake. */
    m_drain(&m);
    assert_true(m_push(&m, 1));

    /* An abandoned reservation does not count as content. */
    m_drain(&m);
    m_reserve(&m, 100);
    assert_true(m_push(&m, 100));
    m_drain(&m);
    model_release(&m);
}

static void test_wake_on_high_water_crossing(void **state)
{
    const size_t cap = 8192;
    const size_t half = cap / 2;
    struct model m;
    model_init(&m, cap);

    /* 64-byte frames: the 64th commit brings used to exactly half. */
    assert_true(m_push(&m, 56));
    for (size_t i = 2; i < half / 64; i++)
        assert_false(m_push(&m, 56));
    assert_int_equal(ring_used_bytes(&m.r), half - 64);
    assert_true(m_push(&m, 56));  /* used_after == half: crossing */
    assert_false(m_push(&m, 56)); /* above: no more wakes */
    assert_false(m_push(&m, 56));

    /* Back below half, then across again: a new wake. */
    for (int i = 0; i < 3; i++)
        assert_true(m_consume(&m));
    assert_int_equal(ring_used_bytes(&m.r), half - 64);
    assert_false(m_push(&m, 0)); /* half - 56: below */
    assert_true(m_push(&m, 48)); /* half - 56 + 56 = half: crossing */
    m_drain(&m);

    /* One big record jumping from below half to well above it. */
    m_seek(&m, 0);
    assert_true(m_push(&m, 100));  /* 112 */
    assert_true(m_push(&m, 4000)); /* 112 + 4008 = 4120: crosses */
    assert_false(m_push(&m, 100)); /* already above */
    m_drain(&m);

    /* Landing just short of half is not a crossing. */
    m_seek(&m, 0);
    assert_true(m_push(&m, 56));
    assert_false(m_push(&m, half - 64 - 8 - 8)); /* used = half - 8 */
    assert_int_equal(ring_used_bytes(&m.r), half - 8);
    assert_true(m_push(&m, 0)); /* used = half */
    m_drain(&m);

    /* A PAD frame counts as fill: crossing caused by the PAD's bytes. */
    m_seek(&m, cap - 1024);
    assert_true(m_push(&m, 8));    /* [cap-1024, cap-1008) */
    assert_false(m_push(&m, 984)); /* [cap-1008, cap-16): used 1008 */
    /* A 3000-byte frame does not fit in the 16 bytes left: PAD 16 + 3000 at offset 0. */
    assert_false(m_push(&m, 3000 - 8)); /* used = 1008 + 16 + 3000 = 4024 < half */
    assert_int_equal(ring_used_bytes(&m.r), 4024);
    assert_true(m_push(&m, 64)); /* 4024 -> 4096: crossing */
    m_drain(&m);
    model_release(&m);
}

static void test_high_water_accounting(void **state)
{
    const size_t cap = RING_MIN_CAPACITY;
    struct model m;
    model_init(&m, cap);
    assert_int_equal(ring_high_water_bytes(&m.r), 0);
    m_push(&m, 100); /* 112 */
    assert_int_equal(ring_high_water_bytes(&m.r), 112);
    m_push(&m, 200); /* 112 + 208 */
    assert_int_equal(ring_high_water_bytes(&m.r), 320);
    m_drain(&m);
    assert_int_equal(ring_high_water_bytes(&m.r), 320); /* never goes down */
    m_push(&m, 8);
    assert_int_equal(ring_high_water_bytes(&m.r), 320);
    m_drain(&m);

    /* Uncommitted reservations do not count. */
    m_reserve(&m, ring_max_record(&m.r));
    assert_int_equal(ring_high_water_bytes(&m.r), 320);
    m_commit(&m, 0);
    assert_int_equal(ring_high_water_bytes(&m.r), 320);
    m_drain(&m);

    /* Fill to the brim: high water reaches the capacity, PAD bytes included. */
    m_seek(&m, cap - 16);
    m_push(&m, cap / 2 - 8); /* PAD 16 + cap/2 */
    assert_int_equal(ring_high_water_bytes(&m.r), 16 + cap / 2);
    while (m_reserve(&m, 0))
        m_commit(&m, SIZE_MAX);
    assert_int_equal(ring_used_bytes(&m.r), cap);
    assert_int_equal(ring_high_water_bytes(&m.r), cap);
    m_drain(&m);
    model_release(&m);
}

/* ---- space requests --------------------------------------------------------------------- */

static void test_space_request_flag(void **state)
{
    struct ring r;
    assert_int_equal(ring_init(&r, RING_MIN_CAPACITY), 0);
    assert_false(ring_take_space_request(&r));
    ring_request_space(&r);
    assert_true(ring_take_space_request(&r));
    assert_false(ring_take_space_request(&r)); /* once */
    /* Several requests before the consumer looks collapse into one. */
    ring_request_space(&r);
    ring_request_space(&r);
    ring_request_space(&r);
    assert_true(ring_take_space_request(&r));
    assert_false(ring_take_space_request(&r));
    /* A request after a take is a new request. */
    ring_request_space(&r);
    assert_true(ring_take_space_request(&r));
    assert_false(ring_take_space_request(&r));
    /* The flag is independent of the data. */
    void *p = ring_reserve(&r, 10);
    assert_non_null(p);
    ring_request_space(&r);
    assert_true(ring_commit(&r));
    size_t len;
    assert_non_null(ring_peek(&r, &len));
    ring_consume(&r);
    assert_true(ring_take_space_request(&r));
    assert_false(ring_take_space_request(&r));
    ring_release(&r);
}

/* ---- randomized model-based test ------------------------------------------------------- */

static size_t random_len(uint64_t *s, size_t max)
{
    switch (rand_below(s, 10)) {
    case 0:
        return 0;
    case 1:
        return max; /* the largest record */
    case 2:
        return max + 1 + (size_t)rand_below(s, 64); /* must be refused */
    case 3:
    case 4:
        return (size_t)rand_below(s, max + 1);
    default:
        return (size_t)rand_below(s, 200);
    }
}

static void run_random_model(size_t capacity, uint64_t seed, int steps)
{
    struct model m;
    model_init(&m, capacity);
    uint64_t s = seed;
    size_t max = ring_max_record(&m.r);
    unsigned long refused = 0, pushed = 0, consumed = 0;
    for (int step = 0; step < steps; step++) {
        uint64_t op = rand_below(&s, 100);
        if (op < 50) {
            size_t len = random_len(&s, max);
            uint8_t *p = m_reserve(&m, len);
            if (!p) {
                refused++;
                continue;
            }
            uint64_t how = rand_below(&s, 10);
            if (how < 6) {
                m_commit(&m, SIZE_MAX);
            } else if (how < 9) {
                m_commit(&m, (size_t)rand_below(&s, len + 1));
            } else {
                m.open = false; /* abandoned: the next reserve overwrites it */
                continue;
            }
            pushed++;
        } else if (op < 95) {
            /* Consume a burst; bursts are sized so the ring oscillates between empty and
             * full. */
            size_t n = 1 + (size_t)rand_below(&s, 6);
            for (size_t i = 0; i < n && m_consume(&m); i++)
                consumed++;
        } else if (op < 98) {
            (void)m_peek(&m);
        } else {
            consumed += m.q_count;
            m_drain(&m);
        }
    }
    consumed += m.q_count;
    m_drain(&m);
    /* The walk must have reached both extremes many times. */
    assert_true(refused > (unsigned long)steps / 100);
    assert_true(pushed > (unsigned long)steps / 10);
    assert_int_equal(pushed, consumed);
    model_release(&m);
}

static void test_random_model(void **state)
{
    static const size_t caps[] = {RING_MIN_CAPACITY, 8192, 1u << 16};
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        for (uint64_t seed = 1; seed <= 4; seed++)
            run_random_model(caps[c], seed * 0x9e3779b97f4a7c15ull + c, 100000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_rejects_bad_capacity),
        cmocka_unit_test(test_init_accepts_limits),
        cmocka_unit_test(test_empty_peek_returns_null),
        cmocka_unit_test(test_peek_twice_returns_same_record),
        cmocka_unit_test(test_fifo_order),
        cmocka_unit_test(test_wrap_padding_every_offset),
        cmocka_unit_test(test_wrap_with_records_queued),
        cmocka_unit_test(test_full_ring_refuses_then_accepts),
        cmocka_unit_test(test_full_when_not_contiguous),
        cmocka_unit_test(test_max_record_fits_at_every_offset),
        cmocka_unit_test(test_oversized_record_refused),
        cmocka_unit_test(test_zero_length_payload),
        cmocka_unit_test(test_commit_len_shrinks),
        cmocka_unit_test(test_pointers_are_8_byte_aligned),
        cmocka_unit_test(test_uncommitted_reservation_invisible),
        cmocka_unit_test(test_wake_on_empty_to_non_empty),
        cmocka_unit_test(test_wake_on_high_water_crossing),
        cmocka_unit_test(test_high_water_accounting),
        cmocka_unit_test(test_space_request_flag),
        cmocka_unit_test(test_random_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
