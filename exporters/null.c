/*
 * null: a sink that takes every record kind, counts it and acknowledges it as accepted at
 * once, storing nothing. For benchmarks (the cost of a source and the pipeline without a
 * destination) and for tests of sources that wait for acknowledgements; Fluent Bit's
 * null output plays the same role.
 *
 * Acks: one ack per record would flood the ack ring at high rates, so consecutive records
 * of one source are gathered into a stretch (delivery_stretch_add posts it when the
 * source or cookie sequence changes). The open stretch is posted when it reaches
 * NULL_STRETCH_MAX records, after every pass of the export loop (a uv_check handle: the
 * pipeline has drained what it could), at flush and at stop. A record therefore waits
 * at most one loop iteration for its ack.
 *
 * Threads: everything runs on the export loop. Counters are the instance's selfstats
 * (records_in = records_out = records taken, bytes_in = log and segment payload bytes),
 * published with the acks rather than per record: three atomic adds per record were a
 * visible share of a tail benchmark that uses this sink as its destination.
 */
#include "exporters/exporter.h"

#include <errno.h>

#define NULL_STRETCH_MAX 4096

struct null_sink {
    struct exporter *e;
    struct delivery_ack stretch; /* records taken whose ack is not posted yet */
    uint64_t uncounted_records;  /* taken, not yet added to the selfstats */
    uint64_t uncounted_bytes;
    uv_check_t after_drain;
    bool started;
};

static const struct cfg_field null_fields[] = {
    CFG_END,
};

static void null_post_stretch(struct null_sink *s)
{
    if (s->uncounted_records) {
        selfstats_add(&s->e->stats.records_in, s->uncounted_records);
        selfstats_add(&s->e->stats.records_out, s->uncounted_records);
        selfstats_add(&s->e->stats.bytes_in, s->uncounted_bytes);
        s->uncounted_records = 0;
        s->uncounted_bytes = 0;
    }
    if (s->stretch.records) {
        selfstats_add(&s->e->stats.batches_ok, 1);
        delivery_stretch_end(s->e, &s->stretch);
    }
}

static void on_after_drain(uv_check_t *h)
{
    null_post_stretch(h->data);
}

static int null_init(struct exporter *e)
{
    struct null_sink *s = e->ctx;
    s->e = e;
    return 0;
}

static int null_start(struct exporter *e, uv_loop_t *loop)
{
    struct null_sink *s = e->ctx;
    int r = uv_check_init(loop, &s->after_drain);
    if (r != 0)
        return r;
    s->after_drain.data = s;
    exporter_handle_opened(e);
    s->started = true;
    return uv_check_start(&s->after_drain, on_after_drain);
}

static int null_add(struct exporter *e, const struct record_view *v)
{
    struct null_sink *s = e->ctx;
    uint64_t bytes = 0;
    if (v->hdr.kind == RECORD_LOG)
        bytes = v->u.log.message_len;
    else if (v->hdr.kind == RECORD_SEGMENT)
        bytes = v->u.segment.len;
    s->uncounted_records++;
    s->uncounted_bytes += bytes;
    delivery_stretch_add(e, &s->stretch, v->hdr.source, v->hdr.cookie, DELIVERY_ACCEPTED);
    if (s->stretch.records >= NULL_STRETCH_MAX || s->uncounted_records >= NULL_STRETCH_MAX)
        null_post_stretch(s);
    return 0;
}

static int null_flush(struct exporter *e)
{
    null_post_stretch(e->ctx);
    return 0;
}

static bool null_idle(struct exporter *e)
{
    struct null_sink *s = e->ctx;
    return s->stretch.records == 0 && s->uncounted_records == 0;
}

static void on_after_drain_closed(uv_handle_t *h)
{
    struct null_sink *s = h->data;
    exporter_handle_closed(s->e);
}

static void null_stop(struct exporter *e)
{
    struct null_sink *s = e->ctx;
    /* Every record taken was accepted when it was taken: say so before going away. */
    null_post_stretch(s);
    if (s->started) {
        s->started = false;
        uv_close((uv_handle_t *)&s->after_drain, on_after_drain_closed);
    }
}

const struct exporter_type exporter_null = {
    .name = "null",
    .help = "counts every record and acknowledges it as accepted at once, storing nothing "
            "(benchmarks, tests)",
    .kinds = RECORD_KINDS_ALL,
    .fields = null_fields,
    .ctx_size = sizeof(struct null_sink),
    .init = null_init,
    .start = null_start,
    .add = null_add,
    .flush = null_flush,
    .idle = null_idle,
    .stop = null_stop,
};
