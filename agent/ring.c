/*
 * DESIGN
 * head and tail are free-running 64-bit byte positions (they never wrap in practice),
 * so used = head - tail and there is no ambiguity between full and empty. Each side
 * keeps a cached copy of the other side's index and only reloads it (acquire) when the
 * cached value says "full" or "empty", which keeps cache-line traffic to about one
 * transfer per batch instead of one per record.
 *
 * Waking: the consumer sleeps only after it has seen the ring empty. The producer
 * stores head then loads tail, the consumer stores tail then (on the empty path) loads
 * head; a seq_cst fence on each side between the store and the load guarantees that at
 * least one of them sees the other's store, so an empty->non-empty transition is never
 * missed (Dekker). The fence costs nothing on the consumer's non-empty path.
 */
#include "agent/ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RING_FLAG_PAD 1u

struct ring_frame {
    uint32_t len;
    uint32_t flags;
};

static inline uint64_t align8(uint64_t n)
{
    return (n + 7u) & ~(uint64_t)7u;
}

int ring_init(struct ring *r, size_t capacity)
{
    memset(r, 0, sizeof(*r));
    if (capacity < RING_MIN_CAPACITY || capacity > RING_MAX_CAPACITY ||
        (capacity & (capacity - 1)) != 0)
        return -EINVAL;
    r->storage = aligned_alloc(RING_CACHE_LINE, capacity);
    if (!r->storage)
        return -ENOMEM;
    r->capacity = capacity;
    r->mask = capacity - 1;
    r->wake_threshold = capacity / 2;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->space_requested, false);
    atomic_init(&r->high_water, 0);
    return 0;
}

void ring_release(struct ring *r)
{
    if (!r)
        return;
    free(r->storage);
    r->storage = NULL;
    r->capacity = 0;
}

size_t ring_max_record(const struct ring *r)
{
    /* A record of half the capacity always fits once the ring is empty, whatever the
     * padding needed at the wrap. */
    return (size_t)(r->capacity / 2 - RING_FRAME_HEADER);
}

void *ring_reserve(struct ring *r, size_t len)
{
    if (len > ring_max_record(r))
        return NULL;
    uint64_t need = RING_FRAME_HEADER + align8(len);
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t pos = head & r->mask;
    uint64_t contiguous = r->capacity - pos;
    uint64_t pad = need > contiguous ? contiguous : 0;
    uint64_t total = pad + need;

    if (r->capacity - (head - r->cached_tail) < total) {
        r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (r->capacity - (head - r->cached_tail) < total)
            return NULL;
    }
    if (pad) {
        struct ring_frame *pf = (struct ring_frame *)(r->storage + pos);
        pf->len = (uint32_t)(pad - RING_FRAME_HEADER);
        pf->flags = RING_FLAG_PAD;
    }
    uint64_t start = head + pad;
    struct ring_frame *f = (struct ring_frame *)(r->storage + (start & r->mask));
    f->len = (uint32_t)len;
    f->flags = 0;
    r->reserved_head = start;
    return (uint8_t *)f + RING_FRAME_HEADER;
}

bool ring_commit_len(struct ring *r, size_t len)
{
    struct ring_frame *f = (struct ring_frame *)(r->storage + (r->reserved_head & r->mask));
    if (len < f->len)
        f->len = (uint32_t)len;
    uint64_t old_head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t new_head = r->reserved_head + RING_FRAME_HEADER + align8(f->len);
    atomic_store_explicit(&r->head, new_head, memory_order_release);

    atomic_thread_fence(memory_order_seq_cst);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    r->cached_tail = tail;
    uint64_t used_before = old_head - tail;
    uint64_t used_after = new_head - tail;
    if (used_after > atomic_load_explicit(&r->high_water, memory_order_relaxed))
        atomic_store_explicit(&r->high_water, used_after, memory_order_relaxed);
    return used_before == 0 || (used_before < r->wake_threshold && used_after >= r->wake_threshold);
}

bool ring_commit(struct ring *r)
{
    return ring_commit_len(r, UINT32_MAX);
}

void ring_request_space(struct ring *r)
{
    atomic_store_explicit(&r->space_requested, true, memory_order_relaxed);
    /* Pairs with the fence in ring_take_space_request() (Dekker, as for the wake-up):
     * either the consumer sees this request, or the producer's next ring_reserve() sees
     * the tail the consumer stored before looking. */
    atomic_thread_fence(memory_order_seq_cst);
}

const void *ring_peek(struct ring *r, size_t *ret_len)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    for (;;) {
        if (r->cached_head == tail) {
            r->cached_head = atomic_load_explicit(&r->head, memory_order_acquire);
            if (r->cached_head == tail) {
                atomic_thread_fence(memory_order_seq_cst);
                r->cached_head = atomic_load_explicit(&r->head, memory_order_acquire);
                if (r->cached_head == tail)
                    return NULL;
            }
        }
        const struct ring_frame *f = (const struct ring_frame *)(r->storage + (tail & r->mask));
        if (f->flags & RING_FLAG_PAD) {
            /* Skip the pad locally; it is freed together with the record after it. */
            tail += RING_FRAME_HEADER + f->len;
            continue;
        }
        r->peeked_next = tail + RING_FRAME_HEADER + align8(f->len);
        *ret_len = f->len;
        return (const uint8_t *)f + RING_FRAME_HEADER;
    }
}

void ring_consume(struct ring *r)
{
    atomic_store_explicit(&r->tail, r->peeked_next, memory_order_release);
}

bool ring_take_space_request(struct ring *r)
{
    /* Orders the caller's ring_consume() (tail store) before the load of the flag. */
    atomic_thread_fence(memory_order_seq_cst);
    if (!atomic_load_explicit(&r->space_requested, memory_order_relaxed))
        return false;
    return atomic_exchange_explicit(&r->space_requested, false, memory_order_acq_rel);
}

size_t ring_used_bytes(const struct ring *r)
{
    uint64_t tail = atomic_load_explicit(&((struct ring *)r)->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&((struct ring *)r)->head, memory_order_relaxed);
    return head >= tail ? (size_t)(head - tail) : 0;
}

size_t ring_high_water_bytes(const struct ring *r)
{
    return (size_t)atomic_load_explicit(&((struct ring *)r)->high_water, memory_order_relaxed);
}

size_t ring_capacity(const struct ring *r)
{
    return (size_t)r->capacity;
}
