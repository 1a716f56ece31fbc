/*
 * pipeline: the export loop's side of the hand-off. It drains the ring, decodes each
 * record once, offers it to every exporter that takes its kind, and carries delivery
 * acknowledgements back to the collect loop.
 *
 * Contract
 * - Created by the agent; pipeline_start() runs on the export loop thread, all other
 *   calls except pipeline_wake()/pipeline_post_ack() also run there.
 * - Backpressure: when an exporter answers -EAGAIN the pipeline keeps the record in the
 *   ring (remembering which exporters already took it) and stops draining until
 *   pipeline_resume(); the ring then fills and each source applies its full-ring policy.
 * - Wake-ups: producers call uv_async_send on pipeline->wake (from collect loop) when
 *   ring_commit asks for it; a backstop timer drains anyway every 250 ms.
 * - Acks: exporters post acks (export loop); the agent drains them on the collect loop
 *   through pipeline_take_ack(). Contiguous acks of one source, exporter and outcome
 *   posted in the same loop iteration are merged into one. The ack queue is a second SPSC ring in
 * the opposite direction; if it is full, the ack is counted lost (acks_lost) — a lost ack means a
 *   source re-reads from an older checkpoint (a duplicate, never a loss).
 * - Shutdown: pipeline_close_input() (after the last collector stopped) makes the next
 *   drain the final one; pipeline_stop() flushes exporters and closes handles;
 *   `on_done` is called on the export loop when every exporter is idle or the deadline
 *   passed, and every handle is closed.
 */
#ifndef OSPREY_PIPELINE_H
#define OSPREY_PIPELINE_H

#include <stdatomic.h>
#include <uv.h>

#include "agent/plugin.h"
#include "agent/ring.h"
#include "exporters/creds.h"
#include "exporters/exporter.h"

#define PIPELINE_DRAIN_BUDGET 4096

struct pipeline {
    uv_loop_t *loop;
    struct ring *ring;
    struct exporter **exporters;
    size_t n_exporters;

    uv_async_t wake;      /* producers -> export loop */
    uv_timer_t backstop;  /* drain even if a wake-up was coalesced away */
    uv_timer_t flush;     /* periodic exporter flush */
    uv_timer_t deadline;  /* shutdown deadline */
    uv_check_t ack_check; /* end of each loop iteration: send the held ack */
    struct delivery_ack held_ack;
    bool has_held_ack;
    uint64_t flush_interval_ns;
    uint64_t shutdown_deadline_ns;

    /* Record currently blocked on a full exporter: bit i = exporter i already took it. */
    uint64_t taken_mask;
    /* In the RECORD_LOG_BATCH at the ring's head: the next event to route (events before
     * it went to every exporter), so a full exporter resumes mid-batch. */
    struct log_batch_cursor batch_cursor;
    bool blocked;
    bool draining;

    bool stopping;
    bool deadline_armed;
    bool done;
    unsigned open_handles;
    void (*on_done)(struct pipeline *p, void *data);
    void *on_done_data;

    /* AWS credentials, shared by every exporter that signs requests; created on first
     * use, closed after the last exporter stopped. */
    const struct creds_options *creds_opts;
    struct creds_provider *creds;

    /* Acks: export loop -> collect loop. */
    struct ring acks;
    uv_async_t *ack_wake; /* the collect loop's async */
    /* Shared with the collect loop: kept apart from the export loop's plain fields so
     * that no access to those can touch these bytes. */
    _Alignas(64) _Atomic bool input_closed;
    _Atomic bool space_freed; /* a paused source asked for space and got it */
    _Atomic uint64_t acks_lost;
    _Atomic uint64_t records_undecodable;
    _Atomic uint64_t records_unrouted;
    /* Left in the ring when the shutdown deadline passed (also logged once). */
    _Atomic uint64_t records_abandoned;
};

int pipeline_init(struct pipeline *p, struct ring *ring, struct exporter **exporters,
                  size_t n_exporters, uint64_t flush_interval_ns, uint64_t shutdown_deadline_ns);
/* Export loop: open handles, start exporters. */
int pipeline_start(struct pipeline *p, uv_loop_t *loop, uv_async_t *ack_wake,
                   void (*on_done)(struct pipeline *, void *), void *data);
/* Any thread: the input will get nothing more; drain what is left and shut down. */
void pipeline_close_input(struct pipeline *p);
/* Export loop: an exporter can take records again. */
void pipeline_resume(struct pipeline *p);
/* Export loop: queue an ack for the collect loop. */
void pipeline_post_ack(struct pipeline *p, const struct delivery_ack *ack);
/* Collect loop: next queued ack; false when none. */
bool pipeline_take_ack(struct pipeline *p, struct delivery_ack *ret_ack);
/* Before pipeline_start: the options of the shared credentials provider. */
void pipeline_set_credentials_options(struct pipeline *p, const struct creds_options *o);
/* Export loop: the shared credentials provider (created on first call), or NULL when it
 * cannot be created. */
struct creds_provider *pipeline_credentials(struct pipeline *p);
/* Collect loop: true (once) when sources that paused may resume reading. */
bool pipeline_take_space_freed(struct pipeline *p);
void pipeline_release(struct pipeline *p);

#endif
