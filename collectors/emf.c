/*
 * emf: the CloudWatch agent's Embedded Metric Format listener
 * (logs/metrics_collected/emf, alias structuredlog).
 *
 * DESIGN
 * Clients (the aws-embedded-metrics libraries in "Agent" mode, or anything that writes
 * EMF JSON lines) send one document per line over TCP (a newline-delimited stream) or
 * UDP (a datagram holding one or more lines). Without `service_address` both listen on
 * 127.0.0.1:25888 — the CloudWatch agent binds 0.0.0.0; Osprey keeps the default to
 * loopback, give "tcp:0.0.0.0:25888" to open it up. With one address only that protocol
 * listens.
 *
 * Each line is checked by emf_validate() (the rules are in emf_validate.h); a line that
 * breaks one is counted under its fine reason and skipped, and the listener keeps
 * serving. A valid line is emitted verbatim as a LOG record (RECORD_FLAG_EMF) to its log
 * group and stream, timestamped with the receive time as the CloudWatch agent does; the
 * cloudwatch_logs exporter sends it with "x-amzn-logs-format: json/emf" and CloudWatch
 * Logs extracts the metrics. The stream is the document's, else the logs section's
 * `log_stream_name` ({hostname}, {local_hostname} and {instance_id} expanded), else the
 * EC2 instance id when known, else the host name.
 *
 * The metric values are also emitted as metric points flagged RECORD_FLAG_LOCAL_ONLY, for
 * local sinks and local alarms: namespace, name, unit and storage resolution from the
 * directive, dimensions exactly as the dimension set names them (no host dimension), the
 * document's Timestamp, one point per dimension set (one point without dimensions when
 * Dimensions is empty). A number becomes a single value; an array becomes one
 * StatisticValues point (SampleCount, Sum, Minimum, Maximum), which is what CloudWatch
 * keeps of it. The cloudwatch exporter never sends these points (CloudWatch Logs already
 * publishes them from the log event). When no sink takes metrics the settings narrow this
 * instance's kinds to logs and no point is produced.
 *
 * Buffers: one 64 KiB datagram buffer, and per TCP connection a line buffer that grows
 * (once, then reused) up to the event limit; connections live in a fixed table of
 * max_connections. A line longer than EMF_MAX_EVENT_BYTES is counted (line_too_long) and
 * skipped to its newline; a connection over the limit is accepted and closed at once
 * (tcp_refused, counted as an error, not a drop). Nothing is allocated per line but the
 * JSON tree jansson builds to validate it.
 *
 * Self-stats: records_in = non-blank lines received; records_out = records emitted (the
 * log event plus its points); dropped[] = lines refused (malformed JSON, invalid EMF,
 * too long) and records the ring had no room for.
 */
#include "collectors/collector.h"
#include "collectors/emf_validate.h"

#include "agent/buf.h"
#include "agent/clock.h"
#include "agent/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The largest message CloudWatch Logs takes (1 MiB less its 26-byte event overhead):
 * a longer line would be truncated by the exporter and stop being JSON. */
#define EMF_MAX_EVENT_BYTES (1048576u - 26u)
#define EMF_UDP_BUF_BYTES   65536u
#define EMF_READ_CHUNK      65536u
#define EMF_DEFAULT_PORT    25888
#define EMF_TCP_BACKLOG     128

struct emf_ctx;

struct emf_conn {
    uv_tcp_t handle;
    struct emf_ctx *x;
    struct buf line; /* the unfinished line so far */
    size_t scanned;  /* bytes of `line` already known to hold no newline */
    bool in_use;
    bool discarding; /* the current line went over the limit: skip to its newline */
};

struct emf_ctx {
    /* bound */
    char *service_address;
    int64_t max_connections;
    /* derived */
    bool tcp_on, udp_on;
    struct sockaddr_storage tcp_addr, udp_addr;
    char *stream_template; /* logs.log_stream_name, or NULL */
    char default_stream[EMF_MAX_LOG_NAME + 1];
    struct collector *c;
    uv_tcp_t server;
    uv_udp_t udp;
    bool server_open, udp_open;
    uint8_t *udp_buf;
    struct emf_conn *conns;
    struct log_complain complain;
};

static const struct cfg_field emf_fields[] = {
    {"service_address", CFG_STRING, offsetof(struct emf_ctx, service_address), NULL, 0, 0, NULL, 0,
     "udp:host:port, udp://host:port, tcp:host:port or tcp://host:port: listen on this one "
     "only (empty host = all interfaces); default: TCP and UDP on 127.0.0.1:25888 (the "
     "CloudWatch agent listens on 0.0.0.0)"},
    {"max_connections", CFG_INT, offsetof(struct emf_ctx, max_connections), "32", 1, 4096, NULL, 0,
     "TCP clients served at once; more are refused and counted (tcp_refused)"},
    CFG_END,
};

/* ---- configuration ---------------------------------------------------------------- */

/* "udp:host:port", "udp://host:port", "tcp:..."; host may be empty (all interfaces), an
 * IPv4 address, "[IPv6]", or "localhost". */
static int parse_service_address(const char *s, bool *ret_tcp, struct sockaddr_storage *ret)
{
    if (strncmp(s, "tcp:", 4) == 0)
        *ret_tcp = true;
    else if (strncmp(s, "udp:", 4) == 0)
        *ret_tcp = false;
    else
        return -EINVAL;
    s += 4;
    if (strncmp(s, "//", 2) == 0)
        s += 2;
    const char *colon = strrchr(s, ':');
    if (!colon)
        return -EINVAL;
    char host[128];
    size_t hlen = (size_t)(colon - s);
    if (hlen >= sizeof(host))
        return -EINVAL;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    char *end;
    const char *port_text = colon + 1;
    if (*port_text < '0' || *port_text > '9')
        return -EINVAL;
    unsigned long port = strtoul(port_text, &end, 10);
    if (*end || port == 0 || port > 65535)
        return -EINVAL;
    if (host[0] == '[') {
        if (hlen < 3 || host[hlen - 1] != ']')
            return -EINVAL;
        host[hlen - 1] = '\0';
        return uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)ret) == 0 ? 0 : -EINVAL;
    }
    const char *ip = hlen == 0 ? "0.0.0.0" : strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    return uv_ip4_addr(ip, (int)port, (struct sockaddr_in *)ret) == 0 ? 0 : -EINVAL;
}

static int emf_init(struct collector *c)
{
    struct emf_ctx *x = c->ctx;
    x->c = c;
    c->stats.reject_names = emf_reject_names;
    if (x->service_address && x->service_address[0]) {
        bool tcp = false;
        struct sockaddr_storage addr;
        memset(&addr, 0, sizeof(addr));
        if (parse_service_address(x->service_address, &tcp, &addr) != 0) {
            collector_config_error(c, "service_address",
                                   "'%s' is not a listen address (udp:host:port, "
                                   "udp://host:port, tcp:host:port or tcp://host:port)",
                                   x->service_address);
            return -EINVAL;
        }
        x->tcp_on = tcp;
        x->udp_on = !tcp;
        x->tcp_addr = addr;
        x->udp_addr = addr;
    } else {
        x->tcp_on = x->udp_on = true;
        (void)uv_ip4_addr("127.0.0.1", EMF_DEFAULT_PORT, (struct sockaddr_in *)&x->tcp_addr);
        (void)uv_ip4_addr("127.0.0.1", EMF_DEFAULT_PORT, (struct sockaddr_in *)&x->udp_addr);
    }

    /* The logs section's stream name is the default for documents without one; the
     * settings already checked that it is a string. */
    json_t *logs = c->cfg.doc ? json_object_get(c->cfg.doc->root, "logs") : NULL;
    json_t *stream = json_object_get(logs, "log_stream_name");
    if (json_is_string(stream)) {
        x->stream_template = strdup(json_string_value(stream));
        if (!x->stream_template)
            return -ENOMEM;
    }

    if (x->udp_on) {
        x->udp_buf = malloc(EMF_UDP_BUF_BYTES);
        if (!x->udp_buf)
            return -ENOMEM;
    }
    if (x->tcp_on) {
        x->conns = calloc((size_t)x->max_connections, sizeof(*x->conns));
        if (!x->conns)
            return -ENOMEM;
        for (int64_t i = 0; i < x->max_connections; i++) {
            x->conns[i].x = x;
            buf_init(&x->conns[i].line, EMF_MAX_EVENT_BYTES + 1);
        }
    }
    return 0;
}

/* {hostname}, {local_hostname}, {instance_id} in the logs section's stream name. */
static void expand_stream_name(struct emf_ctx *x)
{
    const struct plugin_env *env = x->c->env;
    const char *host = env && env->hostname ? env->hostname : "localhost";
    const char *instance =
        env && env->instance && env->instance->instance_id[0] ? env->instance->instance_id : host;
    const char *t = x->stream_template ? x->stream_template : "{instance_id}";
    size_t n = 0, cap = sizeof(x->default_stream);
    while (*t && n + 1 < cap) {
        const char *with = NULL;
        size_t skip = 0;
        if (strncmp(t, "{hostname}", 10) == 0)
            with = host, skip = 10;
        else if (strncmp(t, "{local_hostname}", 16) == 0)
            with = host, skip = 16;
        else if (strncmp(t, "{instance_id}", 13) == 0)
            with = instance, skip = 13;
        if (with) {
            int w = snprintf(x->default_stream + n, cap - n, "%s", with);
            n += w > 0 ? (size_t)w : 0;
            if (n >= cap)
                n = cap - 1;
            t += skip;
        } else {
            x->default_stream[n++] = *t++;
        }
    }
    x->default_stream[n] = '\0';
}

/* ---- one line --------------------------------------------------------------------- */

static void emit_points(struct collector *c, const struct emf_doc *doc)
{
    uint64_t ts_ns =
        doc->timestamp_ms < 1.8e13 ? (uint64_t)(doc->timestamp_ms * 1e6) : clock_realtime_ns();
    uint64_t ring_full = 0;
    for (size_t d = 0; d < json_array_size(doc->directives); d++) {
        json_t *metrics = json_object_get(json_array_get(doc->directives, d), "Metrics");
        for (size_t i = 0; i < json_array_size(metrics); i++) {
            struct emf_metric m;
            emf_metric_get(doc, d, i, &m);
            struct metric_point p;
            memset(&p, 0, offsetof(struct metric_point, dims));
            p.namespace_ = m.namespace_;
            p.name = m.name;
            p.unit = m.unit;
            p.storage_resolution = m.storage_resolution;
            if (json_is_array(m.value)) {
                p.value_kind = METRIC_VALUE_STATS;
                for (size_t k = 0; k < json_array_size(m.value); k++) {
                    double v = json_number_value(json_array_get(m.value, k));
                    p.min = k == 0 || v < p.min ? v : p.min;
                    p.max = k == 0 || v > p.max ? v : p.max;
                    p.sum += v;
                    p.count += 1;
                }
            } else {
                p.value_kind = METRIC_VALUE_SINGLE;
                p.value = json_number_value(m.value);
            }
            size_t n_sets = json_array_size(m.dimensions);
            for (size_t s = 0; s < (n_sets ? n_sets : 1); s++) {
                json_t *set = json_array_get(m.dimensions, s);
                p.n_dims = 0;
                for (size_t k = 0; k < json_array_size(set); k++) {
                    const char *key = json_string_value(json_array_get(set, k));
                    const char *value = json_string_value(json_object_get(doc->root, key));
                    (void)metric_point_add_dim(&p, key, value);
                }
                int r = collector_emit_metric_flags(c, ts_ns, 0, RECORD_FLAG_LOCAL_ONLY, &p);
                if (r == -ENOSPC)
                    ring_full++;
            }
        }
    }
    if (ring_full)
        selfstats_drop(&c->stats, DROP_RING_FULL, ring_full);
}

static bool blank(const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

static void process_line(struct emf_ctx *x, const uint8_t *line, size_t len)
{
    struct collector *c = x->c;
    while (len && line[len - 1] == '\r')
        len--;
    if (blank(line, len))
        return; /* keep-alive newlines and trailing CRs are not events */
    selfstats_add(&c->stats.records_in, 1);
    selfstats_add(&c->stats.bytes_in, len);
    if (len > EMF_MAX_EVENT_BYTES) {
        selfstats_reject(&c->stats, DROP_TOO_LARGE, EMF_REJECT_LINE_TOO_LONG, 1);
        return;
    }
    struct emf_doc doc;
    enum emf_reject why;
    if (emf_validate(line, len, &doc, &why) != 0) {
        bool malformed = why == EMF_REJECT_NOT_JSON || why == EMF_REJECT_NOT_OBJECT;
        selfstats_reject(&c->stats, malformed ? DROP_MALFORMED : DROP_INVALID, why, 1);
        log_complain(&x->complain, LOG_LEVEL_WARN, c->name,
                     "refused a line that is not a valid EMF document (%s), dropping it",
                     emf_reject_names[why]);
        return;
    }
    struct log_event ev = {
        .group = doc.log_group,
        .stream = doc.log_stream ? doc.log_stream : x->default_stream,
        .message = line,
        .message_len = (uint32_t)len,
    };
    int r = collector_emit_log_flags(c, clock_realtime_ns(), 0, RECORD_FLAG_EMF, &ev);
    if (r == -ENOSPC)
        selfstats_drop(&c->stats, DROP_RING_FULL, 1);
    /* Points only with their log event: what CloudWatch publishes and what local sinks
     * see stay the same. */
    if (r == 0 && (c->kinds & RECORD_KIND_BIT(RECORD_METRIC)))
        emit_points(c, &doc);
    emf_doc_release(&doc);
}

/* ---- UDP -------------------------------------------------------------------------- */

static void on_udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *ret)
{
    struct emf_ctx *x = h->data;
    (void)suggested;
    *ret = uv_buf_init((char *)x->udp_buf, EMF_UDP_BUF_BYTES);
}

static void on_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *b, const struct sockaddr *addr,
                        unsigned flags)
{
    struct emf_ctx *x = h->data;
    if (nread < 0) {
        selfstats_add(&x->c->stats.errors, 1);
        log_complain(&x->complain, LOG_LEVEL_WARN, x->c->name, "UDP receive failed: %s, ignoring",
                     uv_strerror((int)nread));
        return;
    }
    if (nread == 0 && !addr)
        return;
    if (flags & UV_UDP_PARTIAL) {
        selfstats_add(&x->c->stats.records_in, 1);
        selfstats_reject(&x->c->stats, DROP_TOO_LARGE, EMF_REJECT_LINE_TOO_LONG, 1);
        return;
    }
    const uint8_t *p = (const uint8_t *)b->base, *end = p + nread;
    while (p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *stop = nl ? nl : end;
        process_line(x, p, (size_t)(stop - p));
        p = nl ? nl + 1 : end;
    }
}

/* ---- TCP -------------------------------------------------------------------------- */

static void on_conn_closed(uv_handle_t *h)
{
    struct emf_conn *k = h->data;
    buf_reset(&k->line); /* keep the memory for the next client */
    k->scanned = 0;
    k->discarding = false;
    k->in_use = false;
    collector_handle_closed(k->x->c);
}

static void conn_close(struct emf_conn *k)
{
    if (!uv_is_closing((uv_handle_t *)&k->handle))
        uv_close((uv_handle_t *)&k->handle, on_conn_closed);
}

static void on_conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *ret)
{
    struct emf_conn *k = h->data;
    (void)suggested;
    size_t room = k->line.max - k->line.len;
    size_t want = room < EMF_READ_CHUNK ? room : EMF_READ_CHUNK;
    if (want == 0 || buf_reserve(&k->line, want) != 0) {
        *ret = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS: the connection closes */
        return;
    }
    *ret = uv_buf_init((char *)k->line.data + k->line.len, (unsigned)want);
}

/* Every complete line in the buffer; what remains is the start of the next one. */
static void conn_lines(struct emf_conn *k)
{
    struct buf *b = &k->line;
    size_t start = 0;
    for (;;) {
        uint8_t *nl = memchr(b->data + k->scanned, '\n', b->len - k->scanned);
        if (!nl)
            break;
        size_t end = (size_t)(nl - b->data);
        if (k->discarding)
            k->discarding = false; /* the end of a line already counted as too long */
        else
            process_line(k->x, b->data + start, end - start);
        start = end + 1;
        k->scanned = start;
    }
    buf_consume(b, start);
    k->scanned = b->len;
    if (b->len == b->max) {
        /* No newline within the limit: count the line once, skip to its end. */
        if (!k->discarding) {
            selfstats_add(&k->x->c->stats.records_in, 1);
            selfstats_reject(&k->x->c->stats, DROP_TOO_LARGE, EMF_REJECT_LINE_TOO_LONG, 1);
        }
        k->discarding = true;
        buf_reset(b);
        k->scanned = 0;
    }
}

static void on_conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct emf_conn *k = s->data;
    (void)b;
    if (nread > 0) {
        buf_advance(&k->line, (size_t)nread);
        conn_lines(k);
        return;
    }
    if (nread == 0)
        return;
    if (nread != UV_EOF) {
        selfstats_add(&k->x->c->stats.errors, 1);
        log_complain(&k->x->complain, LOG_LEVEL_WARN, k->x->c->name,
                     "reading from a TCP client failed: %s, closing it", uv_strerror((int)nread));
    } else if (k->line.len && !k->discarding) {
        /* A last line without its newline still counts as a line. */
        process_line(k->x, k->line.data, k->line.len);
    }
    conn_close(k);
}

static void on_refused_closed(uv_handle_t *h)
{
    struct collector *c = h->data;
    free(h);
    collector_handle_closed(c);
}

static void refuse(struct emf_ctx *x, uv_stream_t *server)
{
    struct collector *c = x->c;
    selfstats_add(&c->stats.errors, 1);
    selfstats_add(&c->stats.rejects[EMF_REJECT_TCP_REFUSED], 1);
    log_complain(&x->complain, LOG_LEVEL_WARN, c->name,
                 "more than %lld TCP clients at once, refusing one (raise max_connections)",
                 (long long)x->max_connections);
    /* Accept to close: leaving it in the backlog would stall every later client. */
    uv_tcp_t *t = malloc(sizeof(*t));
    if (!t || uv_tcp_init(server->loop, t) != 0) {
        free(t);
        return;
    }
    t->data = c;
    collector_handle_opened(c);
    (void)uv_accept(server, (uv_stream_t *)t);
    uv_close((uv_handle_t *)t, on_refused_closed);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct emf_ctx *x = server->data;
    struct collector *c = x->c;
    if (status < 0) {
        selfstats_add(&c->stats.errors, 1);
        log_complain(&x->complain, LOG_LEVEL_WARN, c->name, "accepting a TCP client failed: %s",
                     uv_strerror(status));
        return;
    }
    struct emf_conn *k = NULL;
    for (int64_t i = 0; i < x->max_connections && !k; i++)
        if (!x->conns[i].in_use)
            k = &x->conns[i];
    if (!k) {
        refuse(x, server);
        return;
    }
    if (uv_tcp_init(server->loop, &k->handle) != 0) {
        selfstats_add(&c->stats.errors, 1);
        return;
    }
    k->handle.data = k;
    k->in_use = true;
    k->scanned = 0;
    k->discarding = false;
    buf_reset(&k->line);
    collector_handle_opened(c);
    int r = uv_accept(server, (uv_stream_t *)&k->handle);
    if (r == 0)
        r = uv_read_start((uv_stream_t *)&k->handle, on_conn_alloc, on_conn_read);
    if (r != 0) {
        selfstats_add(&c->stats.errors, 1);
        conn_close(k);
    }
}

/* ---- lifecycle -------------------------------------------------------------------- */

static void on_listener_closed(uv_handle_t *h)
{
    struct emf_ctx *x = h->data;
    collector_handle_closed(x->c);
}

static void close_listeners(struct emf_ctx *x)
{
    if (x->server_open) {
        x->server_open = false;
        uv_close((uv_handle_t *)&x->server, on_listener_closed);
    }
    if (x->udp_open) {
        x->udp_open = false;
        uv_close((uv_handle_t *)&x->udp, on_listener_closed);
    }
}

static const char *addr_text(const struct sockaddr_storage *a, char *out, size_t cap)
{
    char ip[64] = "?";
    int port = 0;
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)a;
        (void)uv_ip6_name(s6, ip, sizeof(ip));
        port = ntohs(s6->sin6_port);
        snprintf(out, cap, "[%s]:%d", ip, port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)a;
        (void)uv_ip4_name(s4, ip, sizeof(ip));
        port = ntohs(s4->sin_port);
        snprintf(out, cap, "%s:%d", ip, port);
    }
    return out;
}

static int emf_start(struct collector *c, uv_loop_t *loop)
{
    struct emf_ctx *x = c->ctx;
    char where[96];
    int r = 0;
    expand_stream_name(x);
    if (x->tcp_on) {
        r = uv_tcp_init(loop, &x->server);
        if (r != 0)
            goto fail;
        x->server.data = x;
        x->server_open = true;
        collector_handle_opened(c);
        r = uv_tcp_bind(&x->server, (const struct sockaddr *)&x->tcp_addr, 0);
        if (r == 0)
            r = uv_listen((uv_stream_t *)&x->server, EMF_TCP_BACKLOG, on_connection);
        if (r != 0) {
            log_error(c->name, "cannot listen on tcp %s: %s",
                      addr_text(&x->tcp_addr, where, sizeof(where)), uv_strerror(r));
            goto fail;
        }
        log_info(c->name, "listening for EMF on tcp %s",
                 addr_text(&x->tcp_addr, where, sizeof(where)));
    }
    if (x->udp_on) {
        r = uv_udp_init(loop, &x->udp);
        if (r != 0)
            goto fail;
        x->udp.data = x;
        x->udp_open = true;
        collector_handle_opened(c);
        r = uv_udp_bind(&x->udp, (const struct sockaddr *)&x->udp_addr, 0);
        if (r == 0)
            r = uv_udp_recv_start(&x->udp, on_udp_alloc, on_udp_recv);
        if (r != 0) {
            log_error(c->name, "cannot listen on udp %s: %s",
                      addr_text(&x->udp_addr, where, sizeof(where)), uv_strerror(r));
            goto fail;
        }
        log_info(c->name, "listening for EMF on udp %s",
                 addr_text(&x->udp_addr, where, sizeof(where)));
    }
    return 0;

fail:
    close_listeners(x);
    return r;
}

static void emf_stop(struct collector *c)
{
    struct emf_ctx *x = c->ctx;
    close_listeners(x);
    for (int64_t i = 0; x->conns && i < x->max_connections; i++)
        if (x->conns[i].in_use)
            conn_close(&x->conns[i]);
}

static void emf_destroy(struct collector *c)
{
    struct emf_ctx *x = c->ctx;
    if (!x)
        return;
    for (int64_t i = 0; x->conns && i < x->max_connections; i++)
        buf_release(&x->conns[i].line);
    free(x->conns);
    x->conns = NULL;
    free(x->udp_buf);
    x->udp_buf = NULL;
    free(x->stream_template);
    x->stream_template = NULL;
}

static void emf_describe(struct collector *c, FILE *out)
{
    const struct emf_ctx *x = c->ctx;
    char text[96];
    if (x->tcp_on)
        fprintf(out, "listen tcp %s\n", addr_text(&x->tcp_addr, text, sizeof(text)));
    if (x->udp_on)
        fprintf(out, "listen udp %s\n", addr_text(&x->udp_addr, text, sizeof(text)));
    fprintf(out, "log groups and metric series depend on what clients send\n");
}

const struct collector_type collector_emf = {
    .name = "emf",
    .help = "Embedded Metric Format listener (CloudWatch agent logs.metrics_collected.emf / "
            "structuredlog): TCP and UDP on 127.0.0.1:25888 unless service_address says "
            "otherwise",
    .config_path = "logs/metrics_collected/emf",
    .kinds = RECORD_KIND_BIT(RECORD_LOG) | RECORD_KIND_BIT(RECORD_METRIC),
    .fields = emf_fields,
    .ctx_size = sizeof(struct emf_ctx),
    .init = emf_init,
    .start = emf_start,
    .stop = emf_stop,
    .destroy = emf_destroy,
    .describe = emf_describe,
};
