/*
 * ring: bounded, lock-free single-producer single-consumer byte ring.
 *
 * Contract
 * - Exactly one producer thread calls ring_reserve/ring_commit/ring_request_space and
 *   exactly one consumer thread calls ring_peek/ring_consume/ring_take_space_request.
 *   Any thread may read ring_used_bytes/ring_high_water_bytes (approximate).
 * - Records are variable length, written in place: ring_reserve() returns a pointer to
 *   `len` writable bytes inside the ring (8-byte aligned, never split across the wrap),
 *   ring_commit() publishes it. Nothing is copied and nothing is allocated after
 *   ring_init().
 * - A full ring never blocks: ring_reserve() returns NULL and the producer applies its
 *   own policy (drop and count, pause the source, keep the newest).
 * - ring_commit() returns true when the consumer must be woken: the ring went from empty
 *   to non-empty, or its fill crossed the high-water mark. Everything else is picked up
 *   by the consumer's own drain loop (and its backstop timer).
 * - Errors: ring_init returns 0 or -EINVAL (capacity not a power of two, or out of
 *   range) or -ENOMEM. The ring owns its storage; ring_release frees it.
 *
 * Layout: each record is an 8-byte frame header {uint32 len, uint32 flags} followed by
 * the payload padded to 8 bytes. When a record does not fit before the end of the
 * storage, a PAD frame covers the tail and the record starts at offset 0.
 */
#ifndef OSPREY_RING_H
#define OSPREY_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RING_CACHE_LINE   64
#define RING_MIN_CAPACITY 4096u
#define RING_MAX_CAPACITY (1u << 30)
#define RING_FRAME_HEADER 8u

struct ring {
    /* Written by the producer, read by the consumer. */
    _Alignas(RING_CACHE_LINE) _Atomic uint64_t head;
    /* Producer-private. */
    uint64_t reserved_head;
    uint64_t cached_tail;
    /* Written by the consumer, read by the producer. */
    _Alignas(RING_CACHE_LINE) _Atomic uint64_t tail;
    /* Consumer-private. */
    uint64_t cached_head;
    uint64_t peeked_next;
    /* Shared, rarely written. */
    _Alignas(RING_CACHE_LINE) _Atomic bool space_requested;
    _Atomic uint64_t high_water;
    uint8_t *storage;
    uint64_t capacity;
    uint64_t mask;
    uint64_t wake_threshold;
};

int ring_init(struct ring *r, size_t capacity);
void ring_release(struct ring *r);

/* Largest payload a single record may have. */
size_t ring_max_record(const struct ring *r);

/* Producer: reserve `len` bytes (0 allowed). NULL when there is no room or `len` is too
 * large. Only one reservation may be open at a time; it must be committed before the
 * next reserve (an uncommitted reservation is simply overwritten by the next one). */
void *ring_reserve(struct ring *r, size_t len);
/* Producer: shrink the open reservation to `len` bytes (<= reserved) and publish it. */
bool ring_commit_len(struct ring *r, size_t len);
/* Producer: publish the open reservation at its reserved length. */
bool ring_commit(struct ring *r);
/* Producer: ask the consumer to report when it has freed space (pause-the-source).
 * Retry ring_reserve() once after asking, before pausing: the consumer may have freed
 * space just before it could see the request. */
void ring_request_space(struct ring *r);

/* Consumer: the oldest record, or NULL when the ring is empty. The pointer stays valid
 * until ring_consume(). Peeking twice without consuming returns the same record. */
const void *ring_peek(struct ring *r, size_t *ret_len);
/* Consumer: free the record returned by the last ring_peek(). */
void ring_consume(struct ring *r);
/* Consumer: true (once) when the producer asked for space since the last call. Costs a
 * full fence: call it once per drained batch, not per record. */
bool ring_take_space_request(struct ring *r);

size_t ring_used_bytes(const struct ring *r);
size_t ring_high_water_bytes(const struct ring *r);
size_t ring_capacity(const struct ring *r);

#endif
