#include "agent/pipeline.h"

#include "agent/clock.h"
#include "agent/log.h"

#include <errno.h>
#include <string.h>

#define PIPELINE_BACKSTOP_MS    250
#define PIPELINE_STOP_POLL_MS   20
#define PIPELINE_ACK_RING_BYTES (256u * 1024u)

static void pipeline_drain(struct pipeline *p);
static void pipeline_begin_stop(struct pipeline *p);
static void on_deadline(uv_timer_t *h);

int pipeline_init(struct pipeline *p, struct ring *ring, struct exporter **exporters,
                  size_t n_exporters, uint64_t flush_interval_ns, uint64_t shutdown_deadline_ns)
{
    memset(p, 0, sizeof(*p));
    if (n_exporters > 64)
        return -E2BIG;
    p->ring = ring;
    p->exporters = exporters;
    p->n_exporters = n_exporters;
    p->flush_interval_ns = flush_interval_ns;
    p->shutdown_deadline_ns = shutdown_deadline_ns;
    atomic_init(&p->input_closed, false);
    atomic_init(&p->space_freed, false);
    atomic_init(&p->acks_lost, 0);
    atomic_init(&p->records_undecodable, 0);
    atomic_init(&p->records_unrouted, 0);
    atomic_init(&p->records_abandoned, 0);
    return ring_init(&p->acks, PIPELINE_ACK_RING_BYTES);
}

void pipeline_release(struct pipeline *p)
{
    ring_release(&p->acks);
}

static void on_wake(uv_async_t *h)
{
    pipeline_drain(h->data);
}

static void on_backstop(uv_timer_t *h)
{
    struct pipeline *p = h->data;
    pipeline_drain(p);
}

static void on_flush_timer(uv_timer_t *h)
{
    struct pipeline *p = h->data;
    for (size_t i = 0; i < p->n_exporters; i++) {
        int r = exporter_flush(p->exporters[i]);
        if (r != 0 && r != -EAGAIN)
            log_debug(p->exporters[i]->name, "flush failed: %s", strerror(-r));
    }
}

static void on_ack_check(uv_check_t *h);

int pipeline_start(struct pipeline *p, uv_loop_t *loop, uv_async_t *ack_wake,
                   void (*on_done)(struct pipeline *, void *), void *data)
{
    p->loop = loop;
    p->ack_wake = ack_wake;
    p->on_done = on_done;
    p->on_done_data = data;
    int r = uv_async_init(loop, &p->wake, on_wake);
    if (r != 0)
        return r;
    p->wake.data = p;
    p->open_handles++;
    uv_timer_init(loop, &p->backstop);
    p->backstop.data = p;
    p->open_handles++;
    uv_timer_init(loop, &p->flush);
    p->flush.data = p;
    p->open_handles++;
    uv_timer_init(loop, &p->deadline);
    p->deadline.data = p;
    p->open_handles++;
    uv_check_init(loop, &p->ack_check);
    p->ack_check.data = p;
    p->open_handles++;
    uv_check_start(&p->ack_check, on_ack_check);
    uv_unref((uv_handle_t *)&p->ack_check);
    uv_timer_start(&p->backstop, on_backstop, PIPELINE_BACKSTOP_MS, PIPELINE_BACKSTOP_MS);
    uint64_t flush_ms = p->flush_interval_ns / NS_PER_MS;
    if (flush_ms)
        uv_timer_start(&p->flush, on_flush_timer, flush_ms, flush_ms);

    for (size_t i = 0; i < p->n_exporters; i++) {
        r = exporter_start(p->exporters[i], loop, p);
        if (r != 0) {
            log_error(p->exporters[i]->name, "cannot start: %s", strerror(-r));
            return r;
        }
    }
    return 0;
}

void pipeline_close_input(struct pipeline *p)
{
    atomic_store(&p->input_closed, true);
    uv_async_send(&p->wake);
}

void pipeline_resume(struct pipeline *p)
{
    if (!p->blocked)
        return;
    p->blocked = false;
    uv_async_send(&p->wake);
}

static void pipeline_push_ack(struct pipeline *p, const struct delivery_ack *ack)
{
    void *slot = ring_reserve(&p->acks, sizeof(*ack));
    if (!slot) {
        atomic_fetch_add_explicit(&p->acks_lost, 1, memory_order_relaxed);
        return;
    }
    memcpy(slot, ack, sizeof(*ack));
    if (ring_commit(&p->acks) && p->ack_wake)
        uv_async_send(p->ack_wake);
}

/* Acks that continue the held one (same source, exporter and outcome, next cookie) are
 * merged into it; the held ack goes to the ring when one does not continue it, and at the
 * end of every loop iteration (the check handle). Exporters that finish many small
 * batches in one iteration (the null sink: one per drain) would otherwise fill the ack
 * ring, and a lost ack costs the source a re-read. */
void pipeline_post_ack(struct pipeline *p, const struct delivery_ack *ack)
{
    struct delivery_ack *held = &p->held_ack;
    if (p->has_held_ack && held->source == ack->source && held->exporter == ack->exporter &&
        held->outcome == ack->outcome && held->cookie_last + 1 == ack->cookie_first &&
        ack->cookie_first != 0 && held->records + (uint64_t)ack->records <= UINT32_MAX) {
        held->cookie_last = ack->cookie_last;
        held->records += ack->records;
        return;
    }
    if (p->has_held_ack)
        pipeline_push_ack(p, held);
    *held = *ack;
    p->has_held_ack = true;
}

static void pipeline_flush_held_ack(struct pipeline *p)
{
    if (p->has_held_ack) {
        p->has_held_ack = false;
        pipeline_push_ack(p, &p->held_ack);
    }
}

static void on_ack_check(uv_check_t *h)
{
    pipeline_flush_held_ack(h->data);
}

bool pipeline_take_ack(struct pipeline *p, struct delivery_ack *ret_ack)
{
    size_t len;
    const void *slot = ring_peek(&p->acks, &len);
    if (!slot)
        return false;
    memcpy(ret_ack, slot, sizeof(*ret_ack));
    ring_consume(&p->acks);
    return true;
}

bool pipeline_take_space_freed(struct pipeline *p)
{
    if (!atomic_load_explicit(&p->space_freed, memory_order_relaxed))
        return false;
    return atomic_exchange(&p->space_freed, false);
}

/* Offer one decoded record to every exporter that takes its kind. Returns false when an
 * exporter is full and the record must stay in the ring. */
static bool pipeline_route(struct pipeline *p, const struct record_view *v)
{
    bool routed = false;
    for (size_t i = 0; i < p->n_exporters; i++) {
        struct exporter *e = p->exporters[i];
        uint64_t bit = 1ull << i;
        if (!exporter_accepts(e, (enum record_kind)v->hdr.kind))
            continue;
        routed = true;
        if (p->taken_mask & bit)
            continue;
        int r = exporter_add(e, v);
        if (r == -EAGAIN)
            return false;
        if (r != 0 && v->hdr.cookie) {
            /* Refused for good (and counted by the exporter): the source hears it now. */
            struct delivery_ack ack = {.source = v->hdr.source,
                                       .exporter = e->id,
                                       .records = 1,
                                       .cookie_first = v->hdr.cookie,
                                       .cookie_last = v->hdr.cookie,
                                       .outcome = DELIVERY_REJECTED};
            pipeline_post_ack(p, &ack);
        }
        p->taken_mask |= bit;
    }
    if (!routed)
        atomic_fetch_add_explicit(&p->records_unrouted, 1, memory_order_relaxed);
    return true;
}

/* Every event of a batch, as the RECORD_LOG record it stands for. False when an exporter
 * is full: the cursor keeps the place for the next drain. The budget counts events, so a
 * drain takes as long with batches as without; a batch is never left half-way for it. */
static bool route_batch(struct pipeline *p, const struct record_view *batch, size_t *consumed)
{
    struct log_batch_cursor next = p->batch_cursor;
    struct record_view ev;
    while (record_log_batch_next(batch, &next, &ev)) {
        if (!pipeline_route(p, &ev))
            return false;
        p->taken_mask = 0;
        p->batch_cursor = next;
        (*consumed)++;
    }
    if (!record_log_batch_complete(batch, &next))
        atomic_fetch_add_explicit(
            &p->records_undecodable,
            batch->u.log_batch.n_events > next.index ? batch->u.log_batch.n_events - next.index : 1,
            memory_order_relaxed);
    return true;
}

static void pipeline_drain(struct pipeline *p)
{
    if (p->draining || p->done)
        return;
    p->draining = true;
    size_t consumed = 0;
    bool more = false;
    while (!p->blocked) {
        if (consumed >= PIPELINE_DRAIN_BUDGET) {
            more = true;
            break;
        }
        size_t len;
        const void *rec = ring_peek(p->ring, &len);
        if (!rec)
            break;
        struct record_view v;
        if (record_decode(rec, len, &v) != 0) {
            atomic_fetch_add_explicit(&p->records_undecodable, 1, memory_order_relaxed);
        } else if (v.hdr.kind == RECORD_LOG_BATCH) {
            if (!route_batch(p, &v, &consumed)) {
                p->blocked = true;
                break;
            }
            p->batch_cursor = (struct log_batch_cursor){0};
        } else if (!pipeline_route(p, &v)) {
            p->blocked = true;
            break;
        } else {
            consumed++;
        }
        p->taken_mask = 0;
        ring_consume(p->ring);
    }
    if (consumed && ring_take_space_request(p->ring)) {
        atomic_store(&p->space_freed, true);
        if (p->ack_wake)
            uv_async_send(p->ack_wake);
    }
    p->draining = false;
    if (atomic_load(&p->input_closed) && !p->deadline_armed) {
        /* The deadline runs from the moment shutdown starts, so a blocked exporter
         * cannot hold the agent up forever. */
        p->deadline_armed = true;
        uv_timer_start(&p->deadline, on_deadline, p->shutdown_deadline_ns / NS_PER_MS, 0);
    }
    if (more) {
        uv_async_send(&p->wake);
        return;
    }
    if (atomic_load(&p->input_closed) && !p->stopping && !p->blocked &&
        ring_used_bytes(p->ring) == 0)
        pipeline_begin_stop(p);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct pipeline *p = h->data;
    if (--p->open_handles == 0 && p->on_done)
        p->on_done(p, p->on_done_data);
}

void pipeline_set_credentials_options(struct pipeline *p, const struct creds_options *o)
{
    p->creds_opts = o;
}

struct creds_provider *pipeline_credentials(struct pipeline *p)
{
    if (!p->creds) {
        struct creds_options defaults = {0};
        int r =
            creds_provider_create(p->loop, p->creds_opts ? p->creds_opts : &defaults, &p->creds);
        if (r != 0) {
            log_error(NULL, "cannot create the AWS credentials provider: %s", strerror(-r));
            p->creds = NULL;
        }
    }
    return p->creds;
}

static void close_own_handles(struct pipeline *p)
{
    pipeline_flush_held_ack(p); /* the last exporter's final outcomes */
    uv_close((uv_handle_t *)&p->ack_check, on_handle_closed);
    uv_close((uv_handle_t *)&p->wake, on_handle_closed);
    uv_close((uv_handle_t *)&p->backstop, on_handle_closed);
    uv_close((uv_handle_t *)&p->flush, on_handle_closed);
    uv_close((uv_handle_t *)&p->deadline, on_handle_closed);
}

static void on_creds_closed(void *data)
{
    close_own_handles(data);
}

static void on_exporter_stopped(struct exporter *e, void *data)
{
    struct pipeline *p = data;
    (void)e;
    /* The pipeline's own handles close after the last exporter stopped, so the loop
     * ends only when every plugin handle is gone. */
    for (size_t i = 0; i < p->n_exporters; i++)
        if (p->exporters[i]->state != PLUGIN_STOPPED)
            return;
    if (p->creds) {
        struct creds_provider *c = p->creds;
        p->creds = NULL;
        creds_provider_close(c, on_creds_closed, p);
        return;
    }
    close_own_handles(p);
}

static void pipeline_finish(struct pipeline *p)
{
    if (p->done)
        return;
    p->done = true;
    uv_timer_stop(&p->backstop);
    uv_timer_stop(&p->flush);
    uv_timer_stop(&p->deadline);
    size_t len;
    uint64_t abandoned = 0;
    const void *rec;
    while ((rec = ring_peek(p->ring, &len)) != NULL) {
        struct record_view v;
        if (record_decode(rec, len, &v) == 0 && v.hdr.kind == RECORD_LOG_BATCH)
            abandoned += v.u.log_batch.n_events - p->batch_cursor.index;
        else
            abandoned++;
        p->batch_cursor = (struct log_batch_cursor){0};
        ring_consume(p->ring);
    }
    atomic_store(&p->records_abandoned, abandoned);
    if (abandoned)
        log_warn(NULL,
                 "shutdown deadline passed with %llu records still queued; they were "
                 "not delivered (sources with checkpoints will re-read them)",
                 (unsigned long long)abandoned);
    if (p->n_exporters == 0) {
        on_exporter_stopped(NULL, p);
        return;
    }
    for (size_t i = 0; i < p->n_exporters; i++)
        exporter_stop(p->exporters[i], on_exporter_stopped, p);
}

static bool all_idle(struct pipeline *p)
{
    for (size_t i = 0; i < p->n_exporters; i++)
        if (!exporter_idle(p->exporters[i]))
            return false;
    return true;
}

static void on_stop_poll(uv_timer_t *h)
{
    struct pipeline *p = h->data;
    pipeline_drain(p);
    if (p->done)
        return;
    if (ring_used_bytes(p->ring) == 0 && all_idle(p))
        pipeline_finish(p);
}

static void on_deadline(uv_timer_t *h)
{
    struct pipeline *p = h->data;
    log_warn(NULL, "shutdown deadline of %llu ms reached; stopping exporters now",
             (unsigned long long)(p->shutdown_deadline_ns / NS_PER_MS));
    pipeline_finish(p);
}

static void pipeline_begin_stop(struct pipeline *p)
{
    p->stopping = true;
    for (size_t i = 0; i < p->n_exporters; i++) {
        p->exporters[i]->draining = true;
        int r = exporter_flush(p->exporters[i]);
        if (r != 0 && r != -EAGAIN)
            log_warn(p->exporters[i]->name, "final flush failed: %s", strerror(-r));
    }
    if (all_idle(p)) {
        pipeline_finish(p);
        return;
    }
    uv_timer_stop(&p->backstop);
    uv_timer_start(&p->backstop, on_stop_poll, PIPELINE_STOP_POLL_MS, PIPELINE_STOP_POLL_MS);
}
