/*
 * xray_udp: the X-Ray daemon's UDP listener (traces.traces_collected.xray).
 *
 * DESIGN
 * X-Ray SDKs send one segment document per datagram, "{header}\n{document}", fire and
 * forget, to 127.0.0.1:2000 (AWS_XRAY_DAEMON_ADDRESS). The listener reads with
 * recvmmsg (libuv's UV_UDP_RECVMMSG) into one buffer of XRAY_UDP_BATCH slots of 64 KiB,
 * allocated at start and reused for every read, so a datagram allocates nothing on the
 * receive path; each datagram is validated (xray_datagram.h) and its document goes into
 * the ring unchanged.
 *
 * UDP cannot push back: when the ring is full the datagram is dropped and counted
 * (ring_full), as the daemon drops on a full buffer. The export side never drops early:
 * while X-Ray is slow or throttling, the xray exporter keeps documents in its batches and
 * then in the ring (its add answers -EAGAIN), so loss starts only when the ring itself is
 * full. Malformed datagrams are counted under a fine reason and logged (rate-limited);
 * the listener keeps serving.
 *
 * tcp_proxy (the sampling API) is accepted here because the CloudWatch agent puts it
 * under this key, but it is served by the xray exporter on the export loop, where the
 * credentials and the signer live (exporters/xray_proxy.h); settings.c passes its
 * address on.
 */
#include "collectors/collector.h"
#include "agent/netaddr.h"
#include "collectors/xray_datagram.h"

#include "agent/clock.h"
#include "agent/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XRAY_UDP_BATCH 16 /* datagrams per recvmmsg */

struct xray_udp_ctx {
    char *bind_address;
    json_t *tcp_proxy;
    int64_t receive_buffer_bytes;
    bool validate_segments;

    struct collector *c;
    struct sockaddr_storage addr;
    uv_udp_t udp;
    bool udp_open;
    uint8_t *slab; /* XRAY_UDP_BATCH * XRAY_DATAGRAM_MAX */
    struct log_complain bad_complain;
    struct log_complain full_complain;
    struct log_complain recv_complain;
};

static const struct cfg_field xray_udp_fields[] = {
    {"bind_address", CFG_STRING, offsetof(struct xray_udp_ctx, bind_address), "127.0.0.1:2000", 0,
     0, NULL, 0, "UDP address the X-Ray SDKs send segments to (host:port)"},
    {"tcp_proxy", CFG_JSON, offsetof(struct xray_udp_ctx, tcp_proxy), NULL, 0, 0, NULL, 0,
     "{\"bind_address\": \"127.0.0.1:2000\"}: the sampling API proxy (TCP)"},
    {"receive_buffer_bytes", CFG_INT, offsetof(struct xray_udp_ctx, receive_buffer_bytes), "0", 0,
     1 << 30, NULL, 0,
     "Osprey: socket receive buffer (SO_RCVBUF, capped by net.core.rmem_max); 0 = system "
     "default"},
    {"validate_segments", CFG_BOOL, offsetof(struct xray_udp_ctx, validate_segments), "true", 0, 0,
     NULL, 0,
     "Osprey: refuse documents X-Ray would refuse (JSON object with the required fields); "
     "false = the daemon's rule (any non-empty body), several times cheaper per datagram"},
    CFG_END,
};

static int xray_udp_init(struct collector *c)
{
    struct xray_udp_ctx *x = c->ctx;
    x->c = c;
    int ret = 0;
    if (netaddr_parse(x->bind_address, &x->addr) != 0) {
        collector_config_error(c, "bind_address",
                               "'bind_address' must be host:port with a numeric IPv4/IPv6 host, "
                               "got '%s'",
                               x->bind_address);
        ret = -EINVAL;
    }
    if (x->tcp_proxy) {
        /* Served by the xray sink; here only its shape is checked. */
        const char *key;
        json_t *v;
        if (!json_is_object(x->tcp_proxy)) {
            collector_config_error(c, "tcp_proxy", "'tcp_proxy' must be an object");
            ret = -EINVAL;
        } else {
            json_object_foreach(x->tcp_proxy, key, v)
            {
                struct sockaddr_storage ss;
                if (strcmp(key, "bind_address") != 0) {
                    collector_config_error(c, "tcp_proxy",
                                           "unknown key '%s' in 'tcp_proxy' (known: bind_address)",
                                           key);
                    ret = -EINVAL;
                } else if (!json_is_string(v) || netaddr_parse(json_string_value(v), &ss) != 0) {
                    collector_config_error(c, "tcp_proxy",
                                           "'tcp_proxy.bind_address' must be a host:port string");
                    ret = -EINVAL;
                }
            }
        }
    }
    if (ret != 0)
        return ret;
    c->stats.reject_names = xray_reject_names;
    x->slab = malloc((size_t)XRAY_UDP_BATCH * XRAY_DATAGRAM_MAX);
    return x->slab ? 0 : -ENOMEM;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct xray_udp_ctx *x = h->data;
    (void)suggested;
    /* The same slab every time: libuv splits it into 64 KiB recvmmsg slots. */
    *b = uv_buf_init((char *)x->slab, (unsigned)(XRAY_UDP_BATCH * XRAY_DATAGRAM_MAX));
}

static void peer_text(const struct sockaddr *addr, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (addr && addr->sa_family == AF_INET) {
        uv_ip4_name((const struct sockaddr_in *)addr, ip, sizeof(ip));
        port = ntohs(((const struct sockaddr_in *)addr)->sin_port);
    } else if (addr && addr->sa_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)addr, ip, sizeof(ip));
        port = ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
    }
    snprintf(out, cap, "%s:%d", ip, port);
}

static void reject(struct xray_udp_ctx *x, enum xray_reject why, const struct sockaddr *addr,
                   size_t len)
{
    selfstats_reject(&x->c->stats, xray_reject_drop(why), (unsigned)why, 1);
    char peer[80];
    peer_text(addr, peer, sizeof(peer));
    log_complain(&x->bad_complain, LOG_LEVEL_WARN, x->c->name,
                 "invalid segment datagram of %zu bytes from '%s' (%s), dropping it", len, peer,
                 xray_reject_names[why]);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *b, const struct sockaddr *addr,
                    unsigned flags)
{
    struct xray_udp_ctx *x = h->data;
    if (nread < 0) {
        selfstats_add(&x->c->stats.errors, 1);
        log_complain(&x->recv_complain, LOG_LEVEL_WARN, x->c->name,
                     "receive error on '%s': %s, retrying", x->bind_address,
                     uv_strerror((int)nread));
        return;
    }
    if (nread == 0 && !addr)
        return; /* nothing more to read, or the end of a recvmmsg batch (UV_UDP_MMSG_FREE) */
    size_t len = (size_t)nread;
    selfstats_add(&x->c->stats.records_in, 1);
    selfstats_add(&x->c->stats.bytes_in, len);
    if (flags & UV_UDP_PARTIAL) {
        reject(x, XRAY_REJECT_TOO_LARGE, addr, len);
        return;
    }
    struct xray_datagram d;
    enum xray_reject why;
    unsigned parse_flags = x->validate_segments ? 0 : XRAY_DATAGRAM_FRAMING_ONLY;
    if (xray_datagram_parse((const uint8_t *)b->base, len, parse_flags, &d, &why) != 0) {
        reject(x, why, addr, len);
        return;
    }
    int r = collector_emit_segment(x->c, clock_realtime_ns(), 0, d.body, d.body_len);
    if (r == -ENOSPC) {
        selfstats_drop(&x->c->stats, DROP_RING_FULL, 1);
        log_complain(&x->full_complain, LOG_LEVEL_WARN, x->c->name,
                     "the ring is full (the export side is behind), dropping segments");
    }
    /* -EINVAL was counted by the emit call. */
}

static int xray_udp_start(struct collector *c, uv_loop_t *loop)
{
    struct xray_udp_ctx *x = c->ctx;
    int r = uv_udp_init_ex(loop, &x->udp, (unsigned)x->addr.ss_family | UV_UDP_RECVMMSG);
    if (r != 0)
        return r;
    x->udp.data = x;
    x->udp_open = true;
    collector_handle_opened(c);
    r = uv_udp_bind(&x->udp, (const struct sockaddr *)&x->addr, 0);
    if (r == 0 && x->receive_buffer_bytes > 0) {
        int size = (int)x->receive_buffer_bytes;
        if (uv_recv_buffer_size((uv_handle_t *)&x->udp, &size) != 0)
            log_warn(c->name, "cannot set the receive buffer to %d bytes, ignoring", size);
    }
    if (r == 0)
        r = uv_udp_recv_start(&x->udp, on_alloc, on_recv);
    if (r != 0) {
        log_error(c->name, "cannot listen on UDP '%s': %s", x->bind_address, uv_strerror(r));
        return r;
    }
    log_info(c->name, "listening for X-Ray segments on UDP %s", x->bind_address);
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    struct xray_udp_ctx *x = h->data;
    collector_handle_closed(x->c);
}

static void xray_udp_stop(struct collector *c)
{
    struct xray_udp_ctx *x = c->ctx;
    if (!x->udp_open)
        return;
    x->udp_open = false;
    uv_udp_recv_stop(&x->udp);
    uv_close((uv_handle_t *)&x->udp, on_closed);
}

static void xray_udp_destroy(struct collector *c)
{
    struct xray_udp_ctx *x = c->ctx;
    if (!x)
        return;
    free(x->slab);
    x->slab = NULL;
}

static void xray_udp_describe(struct collector *c, FILE *out)
{
    const struct xray_udp_ctx *x = c->ctx;
    fprintf(out, "listen udp %s (segments)\n", x->bind_address);
    /* The sampling proxy itself runs in the xray sink; the address is configured here. */
    json_t *tcp = json_object_get(x->tcp_proxy, "bind_address");
    fprintf(out, "listen tcp %s (sampling proxy, served by the xray sink)\n",
            json_is_string(tcp) ? json_string_value(tcp) : "127.0.0.1:2000");
}

const struct collector_type collector_xray = {
    .name = "xray",
    .help = "X-Ray daemon UDP listener: segment documents from the X-Ray SDKs",
    .config_path = "traces/traces_collected/xray",
    .kinds = RECORD_KIND_BIT(RECORD_SEGMENT),
    .fields = xray_udp_fields,
    .ctx_size = sizeof(struct xray_udp_ctx),
    .init = xray_udp_init,
    .start = xray_udp_start,
    .stop = xray_udp_stop,
    .destroy = xray_udp_destroy,
    .describe = xray_udp_describe,
};
