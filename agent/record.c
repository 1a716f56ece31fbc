/*
 * Encoding (host byte order: records never leave the process):
 *   header   24 bytes  struct record_hdr
 *   METRIC   u8 unit, u8 storage_resolution, u8 value_kind, u8 n_dims, 4 bytes zero,
 *            f64 value | f64 count,sum,min,max,
 *            namespace\0 name\0 {dim_name\0 dim_value\0} * n_dims
 *   LOG      u32 message_len, group\0 stream\0 message bytes
 *   SEGMENT  document bytes
 */
#include "agent/record.h"

#include <errno.h>
#include <string.h>

#define HDR_SIZE     sizeof(struct record_hdr)
#define METRIC_FIXED 8u

static const char *const unit_names[METRIC_UNIT_MAX] = {
    "None",
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
};

const char *record_kind_name(enum record_kind kind)
{
    switch (kind) {
    case RECORD_METRIC:
        return "metrics";
    case RECORD_LOG:
        return "logs";
    case RECORD_SEGMENT:
        return "traces";
    default:
        return "unknown";
    }
}

int metric_unit_parse(const char *name, enum metric_unit *ret_unit)
{
    for (int i = 0; i < METRIC_UNIT_MAX; i++) {
        if (strcmp(name, unit_names[i]) == 0) {
            *ret_unit = (enum metric_unit)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *metric_unit_name(enum metric_unit unit)
{
    return (unsigned)unit < METRIC_UNIT_MAX ? unit_names[unit] : "None";
}

int metric_point_add_dim(struct metric_point *p, const char *name, const char *value)
{
    if (p->n_dims >= METRIC_MAX_DIMS)
        return -E2BIG;
    p->dims[p->n_dims].name = name;
    p->dims[p->n_dims].value = value;
    p->n_dims++;
    return 0;
}

static size_t metric_values_size(const struct metric_point *p)
{
    return p->value_kind == METRIC_VALUE_STATS ? 4 * sizeof(double) : sizeof(double);
}

size_t record_metric_size(const struct metric_point *p)
{
    size_t n = HDR_SIZE + METRIC_FIXED + metric_values_size(p);
    n += strlen(p->namespace_) + 1 + strlen(p->name) + 1;
    for (size_t i = 0; i < p->n_dims && i < METRIC_MAX_DIMS; i++)
        n += strlen(p->dims[i].name) + 1 + strlen(p->dims[i].value) + 1;
    return n;
}

static uint8_t *put_string(uint8_t *out, const char *s, size_t len)
{
    memcpy(out, s, len);
    out[len] = '\0';
    return out + len + 1;
}

int record_metric_encode(void *dst, size_t cap, const struct record_hdr *hdr,
                         const struct metric_point *p)
{
    if (p->n_dims > METRIC_MAX_DIMS || (unsigned)p->unit >= METRIC_UNIT_MAX ||
        strlen(p->name) > METRIC_MAX_NAME || strlen(p->namespace_) > METRIC_MAX_NAME ||
        p->name[0] == '\0' || p->namespace_[0] == '\0')
        return -EINVAL;
    for (size_t i = 0; i < p->n_dims; i++) {
        if (strlen(p->dims[i].name) > METRIC_MAX_NAME ||
            strlen(p->dims[i].value) > METRIC_MAX_DIM_VALUE)
            return -EINVAL;
    }
    if (cap < record_metric_size(p))
        return -ENOSPC;

    uint8_t *out = dst;
    struct record_hdr h = *hdr;
    h.kind = RECORD_METRIC;
    memcpy(out, &h, HDR_SIZE);
    out += HDR_SIZE;
    out[0] = (uint8_t)p->unit;
    out[1] = p->storage_resolution;
    out[2] = (uint8_t)p->value_kind;
    out[3] = (uint8_t)p->n_dims;
    memset(out + 4, 0, 4);
    out += METRIC_FIXED;
    if (p->value_kind == METRIC_VALUE_STATS) {
        double v[4] = {p->count, p->sum, p->min, p->max};
        memcpy(out, v, sizeof(v));
        out += sizeof(v);
    } else {
        memcpy(out, &p->value, sizeof(double));
        out += sizeof(double);
    }
    out = put_string(out, p->namespace_, strlen(p->namespace_));
    out = put_string(out, p->name, strlen(p->name));
    for (size_t i = 0; i < p->n_dims; i++) {
        out = put_string(out, p->dims[i].name, strlen(p->dims[i].name));
        out = put_string(out, p->dims[i].value, strlen(p->dims[i].value));
    }
    return 0;
}

size_t record_log_size(const struct log_event *ev)
{
    return HDR_SIZE + 4 + strlen(ev->group) + 1 + strlen(ev->stream) + 1 + ev->message_len;
}

int record_log_encode(void *dst, size_t cap, const struct record_hdr *hdr,
                      const struct log_event *ev)
{
    if (cap < record_log_size(ev))
        return -ENOSPC;
    uint8_t *out = dst;
    struct record_hdr h = *hdr;
    h.kind = RECORD_LOG;
    memcpy(out, &h, HDR_SIZE);
    out += HDR_SIZE;
    memcpy(out, &ev->message_len, 4);
    out += 4;
    out = put_string(out, ev->group, strlen(ev->group));
    out = put_string(out, ev->stream, strlen(ev->stream));
    if (ev->message_len)
        memcpy(out, ev->message, ev->message_len);
    return 0;
}

size_t record_log_batch_overhead(size_t group_len, size_t stream_len)
{
    return HDR_SIZE + 4 + group_len + 1 + stream_len + 1;
}

int record_log_batch_begin(struct record_log_batch_writer *w, void *dst, size_t cap,
                           const struct record_hdr *hdr, const char *group, size_t group_len,
                           const char *stream, size_t stream_len)
{
    if (cap < record_log_batch_overhead(group_len, stream_len))
        return -ENOSPC;
    uint8_t *out = dst;
    struct record_hdr h = *hdr;
    h.kind = RECORD_LOG_BATCH;
    memcpy(out, &h, HDR_SIZE);
    out += HDR_SIZE + 4; /* n_events, written by finish */
    out = put_string(out, group, group_len);
    out = put_string(out, stream, stream_len);
    w->base = dst;
    w->pos = out;
    w->end = (uint8_t *)dst + cap;
    w->n_events = 0;
    return 0;
}

int record_log_batch_add(struct record_log_batch_writer *w, uint64_t ts_ns, const uint8_t *msg,
                         uint32_t len)
{
    if ((size_t)(w->end - w->pos) < RECORD_LOG_BATCH_EVENT_OVERHEAD + (size_t)len ||
        w->n_events == UINT32_MAX)
        return -ENOSPC;
    memcpy(w->pos, &ts_ns, 8);
    memcpy(w->pos + 8, &len, 4);
    if (len)
        memcpy(w->pos + RECORD_LOG_BATCH_EVENT_OVERHEAD, msg, len);
    w->pos += RECORD_LOG_BATCH_EVENT_OVERHEAD + len;
    w->n_events++;
    return 0;
}

size_t record_log_batch_finish(struct record_log_batch_writer *w)
{
    memcpy(w->base + HDR_SIZE, &w->n_events, 4);
    return (size_t)(w->pos - w->base);
}

bool record_log_batch_next(const struct record_view *batch, struct log_batch_cursor *cur,
                           struct record_view *ret_event)
{
    const struct log_batch *b = &batch->u.log_batch;
    if (cur->index >= b->n_events || b->events_len - cur->offset < RECORD_LOG_BATCH_EVENT_OVERHEAD)
        return false;
    const uint8_t *p = b->events + cur->offset;
    uint32_t len;
    memcpy(&len, p + 8, 4);
    if (b->events_len - cur->offset - RECORD_LOG_BATCH_EVENT_OVERHEAD < len)
        return false;
    memcpy(&ret_event->hdr, &batch->hdr, HDR_SIZE);
    ret_event->hdr.kind = RECORD_LOG;
    ret_event->hdr.cookie = batch->hdr.cookie ? batch->hdr.cookie + cur->index : 0;
    memcpy(&ret_event->hdr.ts_ns, p, 8);
    ret_event->u.log = (struct log_event){
        .group = b->group,
        .stream = b->stream,
        .message = p + RECORD_LOG_BATCH_EVENT_OVERHEAD,
        .message_len = len,
    };
    cur->index++;
    cur->offset += RECORD_LOG_BATCH_EVENT_OVERHEAD + len;
    return true;
}

bool record_log_batch_complete(const struct record_view *batch, const struct log_batch_cursor *cur)
{
    return cur->index == batch->u.log_batch.n_events &&
           cur->offset == batch->u.log_batch.events_len;
}

size_t record_segment_size(size_t len)
{
    return HDR_SIZE + len;
}

int record_segment_encode(void *dst, size_t cap, const struct record_hdr *hdr, const uint8_t *data,
                          size_t len)
{
    if (len > UINT32_MAX)
        return -EINVAL;
    if (cap < record_segment_size(len))
        return -ENOSPC;
    struct record_hdr h = *hdr;
    h.kind = RECORD_SEGMENT;
    memcpy(dst, &h, HDR_SIZE);
    if (len)
        memcpy((uint8_t *)dst + HDR_SIZE, data, len);
    return 0;
}

/* Take one NUL-terminated string starting at *pos; -EBADMSG if unterminated. */
static int take_string(const uint8_t *buf, size_t len, size_t *pos, const char **ret)
{
    if (*pos >= len)
        return -EBADMSG;
    const uint8_t *nul = memchr(buf + *pos, '\0', len - *pos);
    if (!nul)
        return -EBADMSG;
    *ret = (const char *)buf + *pos;
    *pos = (size_t)(nul - buf) + 1;
    return 0;
}

static int decode_metric(const uint8_t *buf, size_t len, struct metric_point *p)
{
    size_t pos = HDR_SIZE;
    if (len < pos + METRIC_FIXED)
        return -EBADMSG;
    p->unit = buf[pos];
    p->storage_resolution = buf[pos + 1];
    p->value_kind = buf[pos + 2];
    p->n_dims = buf[pos + 3];
    if ((unsigned)p->unit >= METRIC_UNIT_MAX || p->n_dims > METRIC_MAX_DIMS ||
        (p->value_kind != METRIC_VALUE_SINGLE && p->value_kind != METRIC_VALUE_STATS))
        return -EBADMSG;
    pos += METRIC_FIXED;
    size_t vsize = metric_values_size(p);
    if (len < pos + vsize)
        return -EBADMSG;
    if (p->value_kind == METRIC_VALUE_STATS) {
        double v[4];
        memcpy(v, buf + pos, sizeof(v));
        p->count = v[0];
        p->sum = v[1];
        p->min = v[2];
        p->max = v[3];
        p->value = 0;
    } else {
        memcpy(&p->value, buf + pos, sizeof(double));
        p->count = p->sum = p->min = p->max = 0;
    }
    pos += vsize;
    int r = take_string(buf, len, &pos, &p->namespace_);
    if (r == 0)
        r = take_string(buf, len, &pos, &p->name);
    for (size_t i = 0; r == 0 && i < p->n_dims; i++) {
        r = take_string(buf, len, &pos, &p->dims[i].name);
        if (r == 0)
            r = take_string(buf, len, &pos, &p->dims[i].value);
    }
    if (r == 0 && pos != len)
        return -EBADMSG;
    return r;
}

/* The head both log kinds share: a uint32 (message length or event count), then the group
 * and stream strings. `*pos` ends just past them. */
static int take_log_head(const uint8_t *buf, size_t len, size_t *pos, uint32_t *n,
                         const char **group, const char **stream)
{
    *pos = HDR_SIZE;
    if (len < *pos + 4)
        return -EBADMSG;
    memcpy(n, buf + *pos, 4);
    *pos += 4;
    int r = take_string(buf, len, pos, group);
    if (r == 0)
        r = take_string(buf, len, pos, stream);
    return r;
}

static int decode_log(const uint8_t *buf, size_t len, struct log_event *ev)
{
    size_t pos;
    int r = take_log_head(buf, len, &pos, &ev->message_len, &ev->group, &ev->stream);
    if (r != 0)
        return r;
    if (len - pos != ev->message_len)
        return -EBADMSG;
    ev->message = buf + pos;
    return 0;
}

/* The events themselves are checked by record_log_batch_next() as it walks them: one
 * pass over a batch, not two. */
static int decode_log_batch(const uint8_t *buf, size_t len, struct log_batch *b)
{
    size_t pos;
    int r = take_log_head(buf, len, &pos, &b->n_events, &b->group, &b->stream);
    if (r != 0)
        return r;
    if (b->n_events == 0)
        return -EBADMSG;
    b->events = buf + pos;
    b->events_len = len - pos;
    return 0;
}

int record_decode(const void *buf, size_t len, struct record_view *ret_view)
{
    if (len < HDR_SIZE)
        return -EBADMSG;
    memcpy(&ret_view->hdr, buf, HDR_SIZE);
    switch (ret_view->hdr.kind) {
    case RECORD_METRIC:
        return decode_metric(buf, len, &ret_view->u.metric);
    case RECORD_LOG:
        return decode_log(buf, len, &ret_view->u.log);
    case RECORD_LOG_BATCH:
        return decode_log_batch(buf, len, &ret_view->u.log_batch);
    case RECORD_SEGMENT:
        if (len - HDR_SIZE > UINT32_MAX)
            return -EBADMSG;
        ret_view->u.segment.data = (const uint8_t *)buf + HDR_SIZE;
        ret_view->u.segment.len = (uint32_t)(len - HDR_SIZE);
        return 0;
    default:
        return -EBADMSG;
    }
}
