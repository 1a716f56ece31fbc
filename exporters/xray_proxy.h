/*
 * xray_proxy: the X-Ray daemon's sampling proxy. X-Ray SDKs with centralized sampling
 * POST /GetSamplingRules and /SamplingTargets as plain, unsigned HTTP/1.1 to the daemon's
 * TCP port (127.0.0.1:2000); the proxy forwards each request, SigV4-signed (service
 * "xray") with the agent's credentials, to the X-Ray endpoint and answers with the
 * endpoint's status, Content-Type and body.
 *
 * Contract
 * - Runs on the export loop, started by the xray exporter (sink key `sampling_proxy`),
 *   which owns it; it has its own sender (aws.h), hence its own HTTP connections, so
 *   sampling calls never queue behind segment uploads.
 * - Forwarded: POST with any path (the daemon forwards any), body up to 1 MiB. Other
 *   methods: 405. Requests are parsed by agent/httpd.h (Content-Length or chunked bodies, ...).
 * - When the endpoint cannot be reached (transport error, no credentials yet, HTTP 5xx),
 *   POST /GetSamplingRules is answered with the last successful answer to a request with
 *   the same body (header X-Osprey-Sampling-Cache: stale), so SDKs keep the rules they
 *   would have fetched; without one, and for every other path, the answer is 503 with
 *   x-amzn-ErrorType: ServiceUnavailableException and {"Message": ...}: the SDKs then
 *   keep their current sampling targets until they expire and fall back to each rule's
 *   FixedRate, as they do when the real daemon's proxy fails (it answers 502).
 * - xray_proxy_start() returns 0 or -errno (-EADDRINUSE, -EINVAL for a bad address) and
 *   counts two exporter handles, closed through exporter_handle_closed once
 *   xray_proxy_stop() has finished closing them.
 */
#ifndef OSPREY_XRAY_PROXY_H
#define OSPREY_XRAY_PROXY_H

#include <uv.h>

#include "agent/buf.h"
#include "agent/httpd.h"
#include "exporters/aws.h"

struct xray_proxy_stats {
    uint64_t forwarded;   /* answered with the endpoint's answer */
    uint64_t cached;      /* answered from the rules cache */
    uint64_t unavailable; /* answered 503 */
};

struct xray_proxy {
    struct exporter *e;
    struct httpd *server;
    struct aws_sender sender;
    bool sender_open;
    bool stopping;
    struct buf rules_request; /* body of the request whose answer is cached */
    struct buf rules_answer;
    char rules_content_type[128];
    bool rules_cached;
    struct xray_proxy_stats stats;
    struct log_complain complain;
};

/* Listen on `address` and forward with the given sender options (copied; the proxy
 * uses its own request timeout). */
int xray_proxy_start(struct xray_proxy *p, struct exporter *e, uv_loop_t *loop, const char *address,
                     const struct aws_sender_options *o);
void xray_proxy_stop(struct xray_proxy *p);
/* Free what stop left (the cache); NULL-safe and safe on a proxy never started. */
void xray_proxy_release(struct xray_proxy *p);

#endif
