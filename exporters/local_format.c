#include "exporters/local_format.h"

#include "agent/jsonw.h"

#include <errno.h>
#include <string.h>

static int format_metric(struct buf *b, const struct record_view *v)
{
    const struct metric_point *p = &v->u.metric;
    int r = buf_append_str(b, "{\"Namespace\":");
    if (r == 0)
        r = jsonw_cstring(b, p->namespace_);
    if (r == 0)
        r = buf_append_str(b, ",\"MetricName\":");
    if (r == 0)
        r = jsonw_cstring(b, p->name);
    if (r == 0)
        r = buf_append_str(b, ",\"Dimensions\":[");
    for (size_t i = 0; r == 0 && i < p->n_dims; i++) {
        r = buf_append_str(b, i ? ",{\"Name\":" : "{\"Name\":");
        if (r == 0)
            r = jsonw_cstring(b, p->dims[i].name);
        if (r == 0)
            r = buf_append_str(b, ",\"Value\":");
        if (r == 0)
            r = jsonw_cstring(b, p->dims[i].value);
        if (r == 0)
            r = buf_append_str(b, "}");
    }
    if (r == 0)
        r = buf_append_str(b, "],\"Timestamp\":");
    if (r == 0)
        r = jsonw_timestamp_ms(b, v->hdr.ts_ns);
    if (r == 0 && p->value_kind == METRIC_VALUE_STATS) {
        r = buf_append_str(b, ",\"StatisticValues\":{\"SampleCount\":");
        if (r == 0)
            r = jsonw_double(b, p->count);
        if (r == 0)
            r = buf_append_str(b, ",\"Sum\":");
        if (r == 0)
            r = jsonw_double(b, p->sum);
        if (r == 0)
            r = buf_append_str(b, ",\"Minimum\":");
        if (r == 0)
            r = jsonw_double(b, p->min);
        if (r == 0)
            r = buf_append_str(b, ",\"Maximum\":");
        if (r == 0)
            r = jsonw_double(b, p->max);
        if (r == 0)
            r = buf_append_str(b, "}");
    } else if (r == 0) {
        r = buf_append_str(b, ",\"Value\":");
        if (r == 0)
            r = jsonw_double(b, p->value);
    }
    if (r == 0)
        r = buf_append_str(b, ",\"Unit\":");
    if (r == 0)
        r = jsonw_cstring(b, metric_unit_name(p->unit));
    if (r == 0)
        r = buf_printf(b, ",\"StorageResolution\":%u}\n", p->storage_resolution == 1 ? 1u : 60u);
    return r;
}

static int format_log(struct buf *b, const struct record_view *v, size_t *ret_repaired)
{
    const struct log_event *ev = &v->u.log;
    int r = buf_append_str(b, "{\"timestamp\":");
    if (r == 0)
        r = jsonw_u64(b, v->hdr.ts_ns / 1000000ull);
    if (r == 0)
        r = buf_append_str(b, ",\"message\":");
    if (r == 0)
        r = jsonw_string(b, ev->message, ev->message_len, ret_repaired);
    if (r == 0)
        r = buf_append_str(b, ",\"group\":");
    if (r == 0)
        r = jsonw_cstring(b, ev->group);
    if (r == 0)
        r = buf_append_str(b, ",\"stream\":");
    if (r == 0)
        r = jsonw_cstring(b, ev->stream);
    if (r == 0)
        r = buf_append_str(b, "}\n");
    return r;
}

static int format_segment(struct buf *b, const struct record_view *v)
{
    size_t start = b->len;
    int r = buf_append(b, v->u.segment.data, v->u.segment.len);
    if (r != 0)
        return r;
    /* Documents were validated as JSON, where a raw CR or LF can only be whitespace:
     * turning them into spaces keeps one document per line. */
    for (size_t i = start; i < b->len; i++)
        if (b->data[i] == '\n' || b->data[i] == '\r')
            b->data[i] = ' ';
    return buf_append(b, "\n", 1);
}

int local_format_record(struct buf *b, const struct record_view *v, size_t *ret_repaired)
{
    size_t mark = b->len;
    int r;
    switch (v->hdr.kind) {
    case RECORD_METRIC:
        r = format_metric(b, v);
        break;
    case RECORD_LOG:
        r = format_log(b, v, ret_repaired);
        break;
    case RECORD_SEGMENT:
        r = format_segment(b, v);
        break;
    default:
        r = -EBADMSG;
        break;
    }
    if (r != 0 && b->data) {
        b->len = mark;
        b->data[mark] = '\0';
    }
    return r;
}
