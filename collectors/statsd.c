/*
 * statsd: the CloudWatch agent's StatsD listener (metrics/metrics_collected/statsd).
 *
 * DESIGN: one uv_udp handle on the collect loop, opened with UV_UDP_RECVMMSG so a wake-up
 * reads up to STATSD_MMSG_BATCH datagrams with one recvmmsg(2). The receive buffer is
 * allocated once at init (libuv wants 64 KiB per datagram slot) and handed back to libuv
 * on every read, and each datagram is parsed in place, line by line
 * (statsd_parse_line), into the fixed-size aggregation table (statsd_table.h): after
 * start nothing is allocated per datagram. Every metrics_collection_interval (10 s by
 * default, as in the agent) a timer emits one point per series and empties the table,
 * which is the agent's behaviour (its delete_* options are all true). The table is also
 * flushed when the agent stops.
 *
 * What is published per series (namespace from metrics.namespace, name = the StatsD name
 * with each '.' replaced by metric_separator, "_" by default as in the agent):
 * - counter: the sum of the interval's values, each divided by its sample rate, Unit
 *   Count;
 * - gauge: the last value, '+'/'-' samples added to it, Unit None;
 * - timer (ms), histogram (h): StatisticValues (SampleCount, Sum, Minimum, Maximum),
 *   each sample weighted 1/rate, Unit None. (The agent sends a Values/Counts
 *   distribution; StatisticValues keeps the four statistics exactly but not percentiles.)
 * - set: the number of distinct members, Unit None.
 * Dimensions: host (unless omit_hostname), append_dimensions, metric_type =
 * counter|gauge|timing|histogram|set as the agent adds it, then the line's tags (a tag
 * named like one of those replaces it, as the agent's tags do).
 *
 * metrics_aggregation_interval (default 60, 0..172000 s): the agent hands it to its
 * CloudWatch output, which folds each series' points into one datum per that many
 * seconds, at standard resolution; 0 turns that off and marks the points high
 * resolution. Osprey keeps the same two outcomes: with a value > 0 the points go out at
 * StorageResolution 60 once per collection interval and CloudWatch (and the cloudwatch
 * exporter's per-minute packing) combines them, which gives the same SampleCount, Sum,
 * Minimum and Maximum per minute; with 0 they are StorageResolution 1. Values other than
 * 0 and 60 are accepted and behave like 60.
 *
 * allowed_pending_messages (default 10000): the agent's queue between its socket reader
 * and its parser. Osprey parses on the reading thread, so the only queue is the socket's
 * kernel receive buffer: it is sized for that many messages (STATSD_PENDING_MSG_BYTES
 * each; the kernel caps it at net.core.rmem_max, and the effective size is logged when
 * it is smaller). 0 keeps the system default.
 *
 * Osprey's own keys: max_series (series per interval; a new one beyond it is dropped as
 * table_full while existing ones keep aggregating), max_set_values (distinct set members
 * per interval, all sets together; set_full), max_datagram_bytes (a bigger datagram is
 * dropped whole as datagram_too_large). Not supported: templates (a non-empty list is a
 * configuration error), measurement, service.name and deployment.environment.
 *
 * metrics_collection_interval: 1..86400 s here (the common metric key), 1..172000 in the
 * agent.
 *
 * Self-stats: records_in counts samples received (a line of two values is two) plus
 * datagrams dropped whole; records_out counts points emitted; dropped[] with the fine
 * reasons of statsd_reason_names: the parser's (DROP_MALFORMED), datagram_too_large,
 * datagram_truncated, table_full and set_full (DROP_TOO_LARGE), ring full at flush
 * (DROP_RING_FULL), a point with more than 30 dimensions (DROP_INVALID).
 */
#include "collectors/collector.h"
#include "collectors/statsd_parse.h"
#include "collectors/statsd_table.h"

#include "agent/clock.h"
#include "agent/log.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATSD_DGRAM_SLOT           (64 * 1024) /* libuv's recvmmsg slot size */
#define STATSD_MMSG_BATCH           16
#define STATSD_PENDING_MSG_BYTES    1024 /* kernel accounting of one small datagram */
#define STATSD_DEFAULT_INTERVAL     (10 * NS_PER_SEC)
#define STATSD_KEY_ARENA_PER_SERIES 256

struct statsd_ctx {
    /* Bound from the configuration. */
    char *service_address;
    int64_t allowed_pending_messages;
    char *metric_separator;
    uint64_t aggregation_ns;
    struct cfg_strings templates;
    int64_t max_series;
    int64_t max_set_values;
    int64_t max_datagram_bytes;
    /* Derived at init. */
    char host[256]; /* empty = every interface */
    int port;
    const char *sep;
    /* Running state. */
    struct collector *c;
    struct statsd_table table;
    char *recv_buf;
    size_t recv_cap;
    uv_udp_t udp;
    bool udp_open;
    struct collector_timer timer;
    struct log_complain complain;
    struct statsd_line line;
    char key[STATSD_KEY_MAX];
};

static const struct cfg_field statsd_fields[] = {
    {"service_address", CFG_STRING, offsetof(struct statsd_ctx, service_address), "127.0.0.1:8125",
     0, 0, NULL, 0,
     "UDP address to listen on: \"ip:port\", \":port\" (every interface) or \"[ipv6]:port\". "
     "Osprey listens on loopback only by default; the CloudWatch agent's default \":8125\" "
     "listens on every interface"},
    {"metrics_aggregation_interval", CFG_SECONDS, offsetof(struct statsd_ctx, aggregation_ns), "60",
     0, 172000, NULL, 0,
     "0 publishes high-resolution points; otherwise standard resolution, combined per "
     "minute by CloudWatch (values other than 60 behave like 60)"},
    {"allowed_pending_messages", CFG_INT, offsetof(struct statsd_ctx, allowed_pending_messages),
     "10000", 0, 10000000, NULL, 0,
     "datagrams the socket may queue while the agent is busy (sizes the kernel receive "
     "buffer, capped by net.core.rmem_max); 0 keeps the system default"},
    {"metric_separator", CFG_STRING, offsetof(struct statsd_ctx, metric_separator), "_", 0, 0, NULL,
     0, "replaces each '.' of a StatsD name (\"\" means the default \"_\", as in the agent)"},
    {"templates", CFG_STRING_ARRAY, offsetof(struct statsd_ctx, templates), NULL, 0, 0, NULL, 0,
     "graphite templates: not supported (only an empty list is accepted)"},
    {"service.name", CFG_STRING, 0, NULL, 0, 0, NULL, CFG_UNSUPPORTED,
     "entity service name: not supported"},
    {"deployment.environment", CFG_STRING, 0, NULL, 0, 0, NULL, CFG_UNSUPPORTED,
     "entity deployment environment: not supported"},
    {"max_series", CFG_INT, offsetof(struct statsd_ctx, max_series), "10000", 1, 1000000, NULL, 0,
     "Osprey: series aggregated per interval; new ones beyond it are dropped (table_full)"},
    {"max_set_values", CFG_INT, offsetof(struct statsd_ctx, max_set_values), "100000", 1, 10000000,
     NULL, 0, "Osprey: distinct set members per interval, all sets together (set_full beyond)"},
    {"max_datagram_bytes", CFG_INT, offsetof(struct statsd_ctx, max_datagram_bytes), "65535", 64,
     65535, NULL, 0, "Osprey: larger datagrams are dropped whole (datagram_too_large)"},
    CFG_END,
};

/* "host:port", ":port", "[v6]:port" -> host (empty = any), port. */
static int parse_service_address(const char *s, char *host, size_t host_cap, int *ret_port)
{
    const char *colon;
    if (strstr(s, "://"))
        return -EINVAL;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= host_cap || close == s + 1)
            return -EINVAL;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= host_cap || memchr(s, ':', (size_t)(colon - s)))
            return -EINVAL;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
    }
    const char *p = colon + 1;
    if (*p == '\0' || strlen(p) > 5)
        return -EINVAL;
    int port = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        port = port * 10 + (*p - '0');
    }
    if (port > 65535)
        return -EINVAL;
    *ret_port = port;
    return 0;
}

static int statsd_init(struct collector *c)
{
    struct statsd_ctx *x = c->ctx;
    int ret = 0;
    x->c = c;
    if (parse_service_address(x->service_address, x->host, sizeof(x->host), &x->port) != 0) {
        collector_config_error(c, "service_address",
                               "'%s' is not a UDP address (\"ip:port\", \":port\" or "
                               "\"[ipv6]:port\", no scheme)",
                               x->service_address);
        ret = -EINVAL;
    }
    if (x->templates.n > 0) {
        collector_config_error(c, "templates", "graphite templates are not supported by Osprey");
        ret = -EINVAL;
    }
    if (c->metric.measurement_json) {
        collector_config_error(c, "measurement",
                               "'measurement' is not supported for statsd (the names come from "
                               "the clients)");
        ret = -EINVAL;
    }
    if (ret != 0)
        return ret;
    if (c->metric.interval_ns == 0)
        c->metric.interval_ns = STATSD_DEFAULT_INTERVAL; /* the agent's statsd default */
    x->sep = x->metric_separator && x->metric_separator[0] ? x->metric_separator : "_";
    c->stats.reject_names = statsd_reason_names;

    uint64_t seed = clock_monotonic_ns() ^ (uint64_t)(uintptr_t)x;
    int r = statsd_table_init(&x->table, (size_t)x->max_series, (size_t)x->max_set_values,
                              (size_t)x->max_series * STATSD_KEY_ARENA_PER_SERIES, seed);
    if (r != 0)
        return r;
    x->recv_cap = STATSD_MMSG_BATCH * STATSD_DGRAM_SLOT;
    x->recv_buf = malloc(x->recv_cap);
    return x->recv_buf ? 0 : -ENOMEM;
}

/* ---- flush ------------------------------------------------------------------------ */

static int set_dim(struct metric_point *p, const char *name, const char *value)
{
    for (size_t i = 0; i < p->n_dims; i++) {
        if (strcmp(p->dims[i].name, name) == 0) {
            p->dims[i].value = value;
            return 0;
        }
    }
    return metric_point_add_dim(p, name, value);
}

static int build_point(struct collector *c, const struct statsd_entry *e, struct metric_point *p,
                       char *name_buf, size_t name_cap)
{
    struct statsd_ctx *x = c->ctx;
    const char *key = statsd_entry_key(&x->table, e);
    enum statsd_type type = (enum statsd_type)e->type;

    collector_metric_begin(c, p, "value",
                           type == STATSD_COUNTER ? METRIC_UNIT_COUNT : METRIC_UNIT_NONE, name_buf,
                           name_cap);
    p->name = key;
    p->storage_resolution = x->aggregation_ns == 0 ? 1 : 60;
    switch (type) {
    case STATSD_TIMER:
    case STATSD_HISTOGRAM:
        p->value_kind = METRIC_VALUE_STATS;
        p->count = e->count;
        p->sum = e->sum;
        p->min = e->min;
        p->max = e->max;
        break;
    case STATSD_SET:
        p->value = (double)e->set_count;
        break;
    default:
        p->value = e->value;
        break;
    }
    int r = set_dim(p, "metric_type", statsd_type_name(type));
    const char *s = key + strlen(key) + 1;
    for (size_t i = 0; r == 0 && i < e->n_tags; i++) {
        const char *k = s;
        const char *v = k + strlen(k) + 1;
        s = v + strlen(v) + 1;
        r = set_dim(p, k, v);
    }
    return r;
}

static void statsd_flush_table(struct collector *c)
{
    struct statsd_ctx *x = c->ctx;
    uint64_t ts_ns = clock_realtime_ns();
    size_t n = statsd_table_count(&x->table);
    uint64_t ring_full = 0, invalid = 0;
    for (size_t i = 0; i < n; i++) {
        const struct statsd_entry *e = statsd_table_entry(&x->table, i);
        if (e->type == STATSD_SET && e->set_count == 0)
            continue; /* its only members were refused (set_full), already counted */
        if (ring_full) {
            ring_full++;
            continue;
        }
        char name[METRIC_MAX_NAME + 1];
        struct metric_point p;
        if (build_point(c, e, &p, name, sizeof(name)) != 0) {
            invalid++;
            continue;
        }
        if (collector_emit_metric(c, ts_ns, 0, &p) == -ENOSPC)
            ring_full++;
    }
    if (ring_full) {
        selfstats_drop(&c->stats, DROP_RING_FULL, ring_full);
        log_complain(&x->complain, LOG_LEVEL_WARN, c->name,
                     "ring full at flush, %llu points dropped, ignoring",
                     (unsigned long long)ring_full);
    }
    if (invalid)
        selfstats_drop(&c->stats, DROP_INVALID, invalid);
    statsd_table_reset(&x->table);
}

static void statsd_tick(struct collector *c)
{
    statsd_flush_table(c);
}

static int statsd_flush(struct collector *c)
{
    statsd_flush_table(c);
    return 0;
}

/* ---- receive ---------------------------------------------------------------------- */

static void statsd_reject(struct collector *c, enum statsd_reason why, uint64_t n)
{
    enum selfstats_drop coarse = DROP_MALFORMED;
    if (why >= STATSD_R_DATAGRAM_TOO_LARGE)
        coarse = DROP_TOO_LARGE;
    selfstats_reject(&c->stats, coarse, why, n);
}

static void statsd_take_line(struct collector *c, const char *line, size_t len)
{
    struct statsd_ctx *x = c->ctx;
    struct statsd_line *l = &x->line;
    if (statsd_parse_line(line, len, l) != 0) {
        selfstats_add(&c->stats.records_in, 1);
        statsd_reject(c, l->reason, 1);
        return;
    }
    selfstats_add(&c->stats.records_in, l->n_samples);
    size_t key_len;
    if (statsd_key_build(l, x->sep, x->key, sizeof(x->key), &key_len) != 0) {
        statsd_reject(c, STATSD_R_BAD_NAME, l->n_samples);
        return;
    }
    for (size_t i = 0; i < l->n_samples; i++) {
        int r = statsd_table_add(&x->table, x->key, key_len, l->n_tags, &l->samples[i]);
        if (r == -ENOSPC)
            statsd_reject(c, STATSD_R_TABLE_FULL, 1);
        else if (r == -E2BIG)
            statsd_reject(c, STATSD_R_SET_FULL, 1);
    }
}

/* The whole per-datagram path: every line of it, in place. */
static void statsd_take_datagram(struct collector *c, const char *buf, size_t len)
{
    size_t pos = 0;
    const char *line;
    size_t line_len;
    while (statsd_next_line(buf, len, &pos, &line, &line_len))
        statsd_take_line(c, line, line_len);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct statsd_ctx *x = h->data;
    (void)suggested;
    *buf = uv_buf_init(x->recv_buf, (unsigned)x->recv_cap);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags)
{
    struct statsd_ctx *x = h->data;
    struct collector *c = x->c;
    if (flags & UV_UDP_MMSG_FREE)
        return; /* the buffer is ours and reused */
    if (nread < 0) {
        selfstats_add(&c->stats.errors, 1);
        log_complain(&x->complain, LOG_LEVEL_WARN, c->name, "receiving failed (%s), retrying",
                     uv_strerror((int)nread));
        return;
    }
    if (!addr)
        return; /* nothing more to read */
    selfstats_add(&c->stats.bytes_in, (uint64_t)nread);
    if (flags & UV_UDP_PARTIAL) {
        selfstats_add(&c->stats.records_in, 1);
        statsd_reject(c, STATSD_R_DATAGRAM_TRUNCATED, 1);
        return;
    }
    if (nread > x->max_datagram_bytes) {
        selfstats_add(&c->stats.records_in, 1);
        statsd_reject(c, STATSD_R_DATAGRAM_TOO_LARGE, 1);
        return;
    }
    statsd_take_datagram(c, buf->base, (size_t)nread);
}

/* ---- lifecycle -------------------------------------------------------------------- */

static int resolve(const struct statsd_ctx *x, uv_loop_t *loop, struct sockaddr_storage *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (x->host[0] == '\0')
        return uv_ip6_addr("::", x->port, (struct sockaddr_in6 *)ret);
    if (uv_ip4_addr(x->host, x->port, (struct sockaddr_in *)ret) == 0)
        return 0;
    if (uv_ip6_addr(x->host, x->port, (struct sockaddr_in6 *)ret) == 0)
        return 0;
    /* A host name ("localhost"): resolved once, synchronously, at start. */
    uv_getaddrinfo_t req;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
    char port[8];
    snprintf(port, sizeof(port), "%d", x->port);
    int r = uv_getaddrinfo(loop, &req, NULL, x->host, port, &hints);
    if (r != 0)
        return r;
    if (!req.addrinfo || req.addrinfo->ai_addrlen > sizeof(*ret))
        r = UV_EAI_NONAME;
    else
        memcpy(ret, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
    uv_freeaddrinfo(req.addrinfo);
    return r;
}

static void on_udp_closed(uv_handle_t *h)
{
    struct statsd_ctx *x = h->data;
    x->udp_open = false;
    collector_handle_closed(x->c);
}

static int open_socket(struct collector *c, uv_loop_t *loop, const struct sockaddr *addr)
{
    struct statsd_ctx *x = c->ctx;
    int r = uv_udp_init_ex(loop, &x->udp, addr->sa_family | UV_UDP_RECVMMSG);
    if (r != 0)
        return r;
    x->udp.data = x;
    x->udp_open = true;
    collector_handle_opened(c);
    r = uv_udp_bind(&x->udp, addr, 0);
    if (r == 0 && x->allowed_pending_messages > 0) {
        int64_t want64 = x->allowed_pending_messages * STATSD_PENDING_MSG_BYTES;
        int want = want64 > (1 << 30) ? (1 << 30) : (int)want64;
        int set = want;
        if (uv_recv_buffer_size((uv_handle_t *)&x->udp, &set) == 0) {
            int got = 0;
            /* Linux reports twice what it grants (bookkeeping included). */
            if (uv_recv_buffer_size((uv_handle_t *)&x->udp, &got) == 0 && got / 2 < want)
                log_info(c->name,
                         "receive buffer is %d bytes, less than the %d asked for %lld pending "
                         "messages (raise net.core.rmem_max)",
                         got / 2, want, (long long)x->allowed_pending_messages);
        }
    }
    if (r == 0)
        r = uv_udp_recv_start(&x->udp, on_alloc, on_recv);
    if (r != 0)
        uv_close((uv_handle_t *)&x->udp, on_udp_closed);
    return r;
}

static int statsd_start(struct collector *c, uv_loop_t *loop)
{
    struct statsd_ctx *x = c->ctx;
    struct sockaddr_storage addr;
    int r = resolve(x, loop, &addr);
    if (r != 0) {
        log_error(c->name, "cannot resolve '%s': %s", x->service_address, uv_strerror(r));
        return r;
    }
    r = open_socket(c, loop, (const struct sockaddr *)&addr);
    if (r == UV_EAFNOSUPPORT && x->host[0] == '\0') {
        /* No IPv6 on this host: every IPv4 interface instead. */
        r = uv_ip4_addr("0.0.0.0", x->port, (struct sockaddr_in *)&addr);
        if (r == 0)
            r = open_socket(c, loop, (const struct sockaddr *)&addr);
    }
    if (r != 0) {
        log_error(c->name, "cannot listen on '%s': %s", x->service_address, uv_strerror(r));
        return r;
    }
    r = collector_timer_start(c, loop, &x->timer, statsd_tick);
    if (r != 0) {
        uv_udp_recv_stop(&x->udp);
        uv_close((uv_handle_t *)&x->udp, on_udp_closed);
        return r;
    }
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    char ip[64] = "?";
    int port = x->port;
    if (uv_udp_getsockname(&x->udp, (struct sockaddr *)&bound, &len) == 0) {
        if (bound.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&bound, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&bound, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
        }
    }
    log_info(c->name, "listening on udp %s port %d", ip, port);
    return 0;
}

static void statsd_stop(struct collector *c)
{
    struct statsd_ctx *x = c->ctx;
    if (x->udp_open && !uv_is_closing((uv_handle_t *)&x->udp)) {
        uv_udp_recv_stop(&x->udp);
        uv_close((uv_handle_t *)&x->udp, on_udp_closed);
    }
    collector_timer_stop(&x->timer);
}

static void statsd_destroy(struct collector *c)
{
    struct statsd_ctx *x = c->ctx;
    if (!x)
        return;
    statsd_table_release(&x->table);
    free(x->recv_buf);
    x->recv_buf = NULL;
}

static void statsd_describe(struct collector *c, FILE *out)
{
    const struct statsd_ctx *x = c->ctx;
    if (x->host[0])
        fprintf(out, "listen udp %s%s%s:%d\n", strchr(x->host, ':') ? "[" : "", x->host,
                strchr(x->host, ':') ? "]" : "", x->port);
    else
        fprintf(out, "listen udp *:%d (every interface)\n", x->port);
    fprintf(out, "series depend on what clients send (at most %lld per interval)\n",
            (long long)x->max_series);
}

const struct collector_type collector_statsd = {
    .name = "statsd",
    .help = "StatsD/DogStatsD UDP listener, aggregated per interval (CloudWatch agent statsd)",
    .config_path = "metrics/metrics_collected/statsd",
    .metric_common = true,
    .kinds = RECORD_KIND_BIT(RECORD_METRIC),
    .fields = statsd_fields,
    .ctx_size = sizeof(struct statsd_ctx),
    .init = statsd_init,
    .start = statsd_start,
    .flush = statsd_flush,
    .stop = statsd_stop,
    .destroy = statsd_destroy,
    .describe = statsd_describe,
};
