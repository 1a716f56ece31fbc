/*
 * netstat: the CloudWatch agent's "netstat" metrics plugin
 * (metrics/metrics_collected/netstat).
 *
 * DESIGN: a uv_timer on the collect loop streams <proc_root>/net/tcp, tcp6, udp and udp6
 * through one 64 KiB chunk allocated at init (procfs_net_scan_sockets), counting only the
 * state column of each socket line, so a host with a million sockets costs a few reads
 * and no memory. Nothing is allocated per scrape.
 *
 * Published every scrape, no dimension of its own, Unit Count (telegraf inputs.netstat,
 * which the CloudWatch agent runs, counts gopsutil's connections the same way):
 *   netstat_tcp_<state> for established, syn_sent, syn_recv, fin_wait1, fin_wait2,
 *   time_wait, close, close_wait, last_ack, listen, closing: sockets of tcp + tcp6 in
 *   that state; netstat_tcp_none: tcp sockets whose state is none of those (the kernel's
 *   newer NEW_SYN_RECV/BOUND_INACTIVE numbers, which gopsutil leaves unnamed and telegraf
 *   therefore never counts: on a real host it is 0 in both);
 *   netstat_udp_socket: lines of udp + udp6.
 * telegraf also counts Unix datagram sockets as "udp" (gopsutil's "all" includes unix
 * sockets and telegraf only looks at the socket type); Osprey counts UDP only, as the
 * metric's name and the CloudWatch agent's documentation say.
 *
 * A table that does not exist (tcp6/udp6 with IPv6 disabled) counts as empty; when none
 * of the four exists the scrape fails.
 *
 * Self-stats: records_in counts values produced plus one per rejected line or failed
 * scrape; records_out the ones emitted; dropped[]: DROP_RING_FULL for the rest of a
 * scrape that met a full ring; DROP_MALFORMED with a fine reason: read_failed (a table
 * could not be read; errors too), bad_header (a table that is not one; errors),
 * line_too_long (a line longer than the chunk; errors), bad_line (a socket line
 * skipped), cut_line (a table ended inside a line).
 */
#include "collectors/collector.h"
#include "collectors/procfs_net.h"

#include "agent/clock.h"
#include "agent/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NETSTAT_CHUNK_BYTES (64u * 1024)

enum netstat_field {
    NETSTAT_TCP_CLOSE = 0,
    NETSTAT_TCP_CLOSE_WAIT,
    NETSTAT_TCP_CLOSING,
    NETSTAT_TCP_ESTABLISHED,
    NETSTAT_TCP_FIN_WAIT1,
    NETSTAT_TCP_FIN_WAIT2,
    NETSTAT_TCP_LAST_ACK,
    NETSTAT_TCP_LISTEN,
    NETSTAT_TCP_NONE,
    NETSTAT_TCP_SYN_RECV,
    NETSTAT_TCP_SYN_SENT,
    NETSTAT_TCP_TIME_WAIT,
    NETSTAT_UDP_SOCKET,
    NETSTAT_FIELD_MAX
};

static const char *const netstat_field_names[NETSTAT_FIELD_MAX + 1] = {
    "tcp_close",     "tcp_close_wait", "tcp_closing", "tcp_established", "tcp_fin_wait1",
    "tcp_fin_wait2", "tcp_last_ack",   "tcp_listen",  "tcp_none",        "tcp_syn_recv",
    "tcp_syn_sent",  "tcp_time_wait",  "udp_socket",
};

/* Kernel state number -> field, for the named states. */
static const enum netstat_field netstat_state_field[PROCFS_TCP_STATE_KNOWN_MAX] = {
    [0] = NETSTAT_TCP_NONE,
    [PROCFS_TCP_ESTABLISHED] = NETSTAT_TCP_ESTABLISHED,
    [PROCFS_TCP_SYN_SENT] = NETSTAT_TCP_SYN_SENT,
    [PROCFS_TCP_SYN_RECV] = NETSTAT_TCP_SYN_RECV,
    [PROCFS_TCP_FIN_WAIT1] = NETSTAT_TCP_FIN_WAIT1,
    [PROCFS_TCP_FIN_WAIT2] = NETSTAT_TCP_FIN_WAIT2,
    [PROCFS_TCP_TIME_WAIT] = NETSTAT_TCP_TIME_WAIT,
    [PROCFS_TCP_CLOSE] = NETSTAT_TCP_CLOSE,
    [PROCFS_TCP_CLOSE_WAIT] = NETSTAT_TCP_CLOSE_WAIT,
    [PROCFS_TCP_LAST_ACK] = NETSTAT_TCP_LAST_ACK,
    [PROCFS_TCP_LISTEN] = NETSTAT_TCP_LISTEN,
    [PROCFS_TCP_CLOSING] = NETSTAT_TCP_CLOSING,
};

enum netstat_reject {
    NETSTAT_REJECT_READ_FAILED = 0,
    NETSTAT_REJECT_BAD_HEADER,
    NETSTAT_REJECT_LINE_TOO_LONG,
    NETSTAT_REJECT_BAD_LINE,
    NETSTAT_REJECT_CUT_LINE,
    NETSTAT_REJECT_MAX
};

static const char *const netstat_reject_names[NETSTAT_REJECT_MAX + 1] = {
    "read_failed", "bad_header", "line_too_long", "bad_line", "cut_line", NULL,
};

enum netstat_table { NETSTAT_TCP = 0, NETSTAT_TCP6, NETSTAT_UDP, NETSTAT_UDP6, NETSTAT_TABLE_MAX };

static const char *const netstat_table_files[NETSTAT_TABLE_MAX] = {
    "/net/tcp",
    "/net/tcp6",
    "/net/udp",
    "/net/udp6",
};

struct netstat_ctx {
    uint32_t selected; /* bit per enum netstat_field */
    char *paths[NETSTAT_TABLE_MAX];
    char *chunk; /* NETSTAT_CHUNK_BYTES */
    struct procfs_sock_scan tcp, udp;
    struct log_complain complain;
    struct collector_timer timer;
};

static const struct cfg_field netstat_fields[] = {
    CFG_END,
};

static int netstat_init(struct collector *c)
{
    struct netstat_ctx *x = c->ctx;
    const char *root = c->env && c->env->proc_root ? c->env->proc_root : "/proc";

    c->stats.reject_names = netstat_reject_names;
    for (unsigned f = 0; f < NETSTAT_FIELD_MAX; f++)
        if (collector_metric_selected(c, netstat_field_names[f]))
            x->selected |= 1u << f;
    if (!x->selected)
        log_warn(c->name, "nothing to publish (no measurement is a netstat metric), ignoring");

    for (unsigned t = 0; t < NETSTAT_TABLE_MAX; t++) {
        size_t n = strlen(root) + strlen(netstat_table_files[t]) + 1;
        x->paths[t] = malloc(n);
        if (!x->paths[t])
            return -ENOMEM;
        snprintf(x->paths[t], n, "%s%s", root, netstat_table_files[t]);
    }
    x->chunk = malloc(NETSTAT_CHUNK_BYTES);
    if (!x->chunk)
        return -ENOMEM;
    return 0;
}

static void netstat_reject(struct collector *c, enum netstat_reject why, uint64_t n)
{
    if (n == 0)
        return;
    selfstats_add(&c->stats.records_in, n);
    selfstats_reject(&c->stats, DROP_MALFORMED, why, n);
}

static void netstat_scrape_failed(struct collector *c, enum netstat_reject why, const char *path,
                                  int err)
{
    struct netstat_ctx *x = c->ctx;
    netstat_reject(c, why, 1);
    selfstats_add(&c->stats.errors, 1);
    log_complain(&x->complain, LOG_LEVEL_WARN, c->name,
                 "counting sockets in '%s' failed (%s), "
                 "retrying",
                 path, strerror(-err));
}

static void netstat_scrape(struct collector *c)
{
    struct netstat_ctx *x = c->ctx;
    unsigned found = 0;

    memset(&x->tcp, 0, sizeof(x->tcp));
    memset(&x->udp, 0, sizeof(x->udp));
    for (unsigned t = 0; t < NETSTAT_TABLE_MAX; t++) {
        struct procfs_sock_scan *acc = t <= NETSTAT_TCP6 ? &x->tcp : &x->udp;
        uint64_t before = acc->bytes;
        int r = procfs_net_scan_sockets(x->paths[t], x->chunk, NETSTAT_CHUNK_BYTES, acc);
        selfstats_add(&c->stats.bytes_in, acc->bytes - before);
        if (r == -ENOENT)
            continue; /* e.g. tcp6 with IPv6 disabled */
        if (r != 0) {
            enum netstat_reject why = r == -EBADMSG ? NETSTAT_REJECT_BAD_HEADER
                                      : r == -E2BIG ? NETSTAT_REJECT_LINE_TOO_LONG
                                                    : NETSTAT_REJECT_READ_FAILED;
            netstat_scrape_failed(c, why, x->paths[t], r);
            return;
        }
        found++;
    }
    if (found == 0) {
        netstat_scrape_failed(c, NETSTAT_REJECT_READ_FAILED, x->paths[NETSTAT_TCP], -ENOENT);
        return;
    }
    log_complain_clear(&x->complain, c->name, "socket tables are readable again");
    netstat_reject(c, NETSTAT_REJECT_BAD_LINE, x->tcp.bad_lines + x->udp.bad_lines);
    netstat_reject(c, NETSTAT_REJECT_CUT_LINE, x->tcp.cut_lines + x->udp.cut_lines);

    uint64_t values[NETSTAT_FIELD_MAX] = {0};
    for (unsigned s = 0; s < PROCFS_SOCK_STATES; s++) {
        enum netstat_field f =
            s < PROCFS_TCP_STATE_KNOWN_MAX ? netstat_state_field[s] : NETSTAT_TCP_NONE;
        values[f] += x->tcp.states[s];
    }
    values[NETSTAT_UDP_SOCKET] = x->udp.sockets;

    uint64_t ts_ns = clock_realtime_ns();
    uint64_t produced = 0, dropped = 0;
    for (unsigned f = 0; f < NETSTAT_FIELD_MAX; f++) {
        if (!(x->selected & (1u << f)))
            continue;
        produced++;
        if (dropped) {
            dropped++;
            continue;
        }
        char name[METRIC_MAX_NAME + 1];
        struct metric_point p;
        collector_metric_begin(c, &p, netstat_field_names[f], METRIC_UNIT_COUNT, name,
                               sizeof(name));
        p.value = (double)values[f];
        if (collector_emit_metric(c, ts_ns, 0, &p) == -ENOSPC)
            dropped++;
    }
    selfstats_add(&c->stats.records_in, produced);
    if (dropped)
        selfstats_drop(&c->stats, DROP_RING_FULL, dropped);
}

static int netstat_start(struct collector *c, uv_loop_t *loop)
{
    struct netstat_ctx *x = c->ctx;
    return collector_timer_start(c, loop, &x->timer, netstat_scrape);
}

static void netstat_stop(struct collector *c)
{
    struct netstat_ctx *x = c->ctx;
    collector_timer_stop(&x->timer);
}

static void netstat_destroy(struct collector *c)
{
    struct netstat_ctx *x = c->ctx;
    if (!x)
        return;
    for (unsigned t = 0; t < NETSTAT_TABLE_MAX; t++) {
        free(x->paths[t]);
        x->paths[t] = NULL;
    }
    free(x->chunk);
    x->chunk = NULL;
}

const struct collector_type collector_netstat = {
    .name = "netstat",
    .help = "TCP sockets per state and UDP sockets from /proc/net/{tcp,tcp6,udp,udp6} "
            "(CloudWatch agent netstat_* metrics)",
    .config_path = "metrics/metrics_collected/netstat",
    .metric_common = true,
    .metric_fields = netstat_field_names,
    .kinds = RECORD_KIND_BIT(RECORD_METRIC),
    .fields = netstat_fields,
    .ctx_size = sizeof(struct netstat_ctx),
    .init = netstat_init,
    .start = netstat_start,
    .stop = netstat_stop,
    .destroy = netstat_destroy,
};
