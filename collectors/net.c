/*
 * net: the CloudWatch agent's "net" metrics plugin (metrics/metrics_collected/net).
 *
 * DESIGN: a uv_timer on the collect loop rereads <proc_root>/net/dev into one buffer
 * kept for the instance's lifetime, walks it line by line with procfs_netdev_next() and
 * matches each interface to a table entry that holds its counters (collectors/counter.h).
 * The table only grows when an interface appears, so a steady-state scrape allocates
 * nothing; an interface gone from the file is dropped from the table, so when it comes
 * back its first sample only primes again.
 *
 * Published, per interface, dimension "interface" (Unit Bytes for bytes_*, Count for the
 * rest): net_bytes_sent, net_bytes_recv, net_packets_sent, net_packets_recv, net_err_in,
 * net_err_out, net_drop_in, net_drop_out. The kernel's counters are cumulative; what is
 * published is the increase since the previous scrape, as the CloudWatch agent does for
 * net (its translator turns report_deltas on for this plugin). The first sample of an
 * interface, and a sample where a counter went back (driver reload, 32-bit wrap),
 * publish nothing for that counter.
 *
 * Which interfaces ("resources", as the CloudWatch agent's translator maps it onto
 * telegraf's inputs.net "interfaces"): absent or containing "*" means every interface
 * but the loopback "lo" (telegraf skips loopback interfaces when it is given no list);
 * otherwise exactly the listed names, which may be shell globs ("eth*"), "lo" included
 * when listed. Telegraf also skips interfaces that are administratively down when it has
 * no list; /proc/net/dev does not say that, so Osprey publishes them (their deltas are
 * 0), and it recognises the loopback by name only.
 *
 * Self-stats: records_in counts values produced (one per selected field and interface
 * that has a delta) plus one per rejected line or failed scrape; records_out the ones
 * emitted; dropped[] the rest: DROP_RING_FULL for the remainder of a scrape that met a
 * full ring, DROP_MALFORMED for rejected input, with a fine reason (reject_names):
 * read_failed (the file could not be read; also counted in errors), bad_header (not a
 * /proc/net/dev file; errors), bad_line (an interface line skipped), cut_line (the file
 * ended inside a line), too_many_interfaces (past NET_IF_MAX, or the table could not
 * grow).
 */
#include "collectors/collector.h"
#include "collectors/counter.h"
#include "collectors/procfs.h"
#include "collectors/procfs_net.h"

#include "agent/clock.h"
#include "agent/log.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NET_IF_MAX 4096 /* interfaces tracked; more lines are rejected (counted) */

enum net_field {
    NET_BYTES_SENT = 0,
    NET_BYTES_RECV,
    NET_PACKETS_SENT,
    NET_PACKETS_RECV,
    NET_ERR_IN,
    NET_ERR_OUT,
    NET_DROP_IN,
    NET_DROP_OUT,
    NET_FIELD_MAX
};

static const char *const net_field_names[NET_FIELD_MAX + 1] = {
    "bytes_sent", "bytes_recv", "packets_sent", "packets_recv",
    "err_in",     "err_out",    "drop_in",      "drop_out",
};

/* The /proc/net/dev column behind each field. */
static const enum procfs_netdev_col net_field_col[NET_FIELD_MAX] = {
    [NET_BYTES_SENT] = PROCFS_NETDEV_TX_BYTES,     [NET_BYTES_RECV] = PROCFS_NETDEV_RX_BYTES,
    [NET_PACKETS_SENT] = PROCFS_NETDEV_TX_PACKETS, [NET_PACKETS_RECV] = PROCFS_NETDEV_RX_PACKETS,
    [NET_ERR_IN] = PROCFS_NETDEV_RX_ERRS,          [NET_ERR_OUT] = PROCFS_NETDEV_TX_ERRS,
    [NET_DROP_IN] = PROCFS_NETDEV_RX_DROP,         [NET_DROP_OUT] = PROCFS_NETDEV_TX_DROP,
};

enum net_reject {
    NET_REJECT_READ_FAILED = 0,
    NET_REJECT_BAD_HEADER,
    NET_REJECT_BAD_LINE,
    NET_REJECT_CUT_LINE,
    NET_REJECT_TOO_MANY_INTERFACES,
    NET_REJECT_MAX
};

static const char *const net_reject_names[NET_REJECT_MAX + 1] = {
    "read_failed", "bad_header", "bad_line", "cut_line", "too_many_interfaces", NULL,
};

struct net_if {
    char name[PROCFS_IFNAME_MAX + 1];
    bool selected;  /* decided once, when the interface first appears */
    uint64_t epoch; /* scrape that last saw it */
    struct counter counters[NET_FIELD_MAX];
};

struct net_ctx {
    /* Bound from the configuration. */
    struct cfg_strings resources;
    /* Derived at init. */
    bool all_but_loopback;
    uint32_t selected; /* bit per enum net_field */
    char *dev_path;
    /* Scrape state. */
    struct procfs_buf buf;
    struct net_if *ifs;
    size_t n_ifs, cap_ifs;
    uint64_t epoch;
    struct log_complain complain;
    struct collector_timer timer;
};

static const struct cfg_field net_fields[] = {
    {"resources", CFG_STRING_ARRAY, offsetof(struct net_ctx, resources), NULL, 0, 0, NULL, 0,
     "interfaces to publish: names or globs (\"eth*\"); absent or [\"*\"] = all but \"lo\""},
    CFG_END,
};

struct net_emit {
    uint64_t ts_ns;
    uint64_t produced;
    uint64_t dropped;
    bool ring_full;
};

static int net_init(struct collector *c)
{
    struct net_ctx *x = c->ctx;
    const char *root = c->env && c->env->proc_root ? c->env->proc_root : "/proc";

    c->stats.reject_names = net_reject_names;
    x->all_but_loopback = x->resources.n == 0;
    for (size_t i = 0; i < x->resources.n; i++)
        if (strcmp(x->resources.v[i], "*") == 0)
            x->all_but_loopback = true;
    for (unsigned f = 0; f < NET_FIELD_MAX; f++)
        if (collector_metric_selected(c, net_field_names[f]))
            x->selected |= 1u << f;
    if (!x->selected)
        log_warn(c->name, "nothing to publish (no measurement is a net metric), ignoring");

    size_t n = strlen(root) + sizeof("/net/dev");
    x->dev_path = malloc(n);
    if (!x->dev_path)
        return -ENOMEM;
    snprintf(x->dev_path, n, "%s/net/dev", root);
    return 0;
}

static bool net_if_wanted(const struct net_ctx *x, const char *name)
{
    if (x->all_but_loopback)
        return strcmp(name, "lo") != 0;
    for (size_t i = 0; i < x->resources.n; i++)
        if (fnmatch(x->resources.v[i], name, 0) == 0)
            return true;
    return false;
}

/* The table entry of `name`, added (unprimed) when new; NULL when the table is at its
 * limit or cannot grow. `hint` is where the entry sat last time: the kernel keeps its
 * order, so the lookup is usually one comparison. */
static struct net_if *net_if_find(struct net_ctx *x, const char *name, size_t hint, int *ret_err)
{
    if (hint < x->n_ifs && strcmp(x->ifs[hint].name, name) == 0)
        return &x->ifs[hint];
    for (size_t i = 0; i < x->n_ifs; i++)
        if (strcmp(x->ifs[i].name, name) == 0)
            return &x->ifs[i];
    if (x->n_ifs >= NET_IF_MAX) {
        *ret_err = -E2BIG;
        return NULL;
    }
    if (x->n_ifs == x->cap_ifs) {
        size_t cap = x->cap_ifs ? x->cap_ifs * 2 : 8;
        struct net_if *grown = realloc(x->ifs, cap * sizeof(*grown));
        if (!grown) {
            *ret_err = -ENOMEM;
            return NULL;
        }
        x->ifs = grown;
        x->cap_ifs = cap;
    }
    struct net_if *e = &x->ifs[x->n_ifs++];
    memset(e, 0, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->selected = net_if_wanted(x, name);
    return e;
}

static void net_reject(struct collector *c, enum net_reject why)
{
    selfstats_add(&c->stats.records_in, 1);
    selfstats_reject(&c->stats, DROP_MALFORMED, why, 1);
}

static void net_scrape_failed(struct collector *c, enum net_reject why, const char *what, int err)
{
    struct net_ctx *x = c->ctx;
    net_reject(c, why);
    selfstats_add(&c->stats.errors, 1);
    log_complain(&x->complain, LOG_LEVEL_WARN, c->name, "%s '%s' failed (%s), retrying", what,
                 x->dev_path, strerror(-err));
}

static void net_emit_value(struct collector *c, struct net_emit *e, enum net_field f,
                           const char *ifname, uint64_t delta)
{
    char name[METRIC_MAX_NAME + 1];
    struct metric_point p;

    e->produced++;
    if (e->ring_full) {
        e->dropped++;
        return;
    }
    bool bytes = f == NET_BYTES_SENT || f == NET_BYTES_RECV;
    collector_metric_begin(c, &p, net_field_names[f], bytes ? METRIC_UNIT_BYTES : METRIC_UNIT_COUNT,
                           name, sizeof(name));
    p.value = (double)delta;
    (void)metric_point_add_dim(&p, "interface", ifname);
    if (collector_emit_metric(c, e->ts_ns, 0, &p) == -ENOSPC) {
        e->ring_full = true;
        e->dropped++;
    }
}

/* Drop the interfaces this scrape did not see, keeping the order of the others. */
static void net_forget_missing(struct net_ctx *x)
{
    size_t kept = 0;
    for (size_t i = 0; i < x->n_ifs; i++)
        if (x->ifs[i].epoch == x->epoch)
            x->ifs[kept++] = x->ifs[i];
    x->n_ifs = kept;
}

static void net_scrape(struct collector *c)
{
    struct net_ctx *x = c->ctx;
    size_t off = 0;

    int r = procfs_read_file(x->dev_path, &x->buf);
    if (r != 0) {
        net_scrape_failed(c, NET_REJECT_READ_FAILED, "reading", r);
        return;
    }
    selfstats_add(&c->stats.bytes_in, x->buf.len);
    if (procfs_netdev_header(x->buf.data, x->buf.len, &off) != 0) {
        net_scrape_failed(c, NET_REJECT_BAD_HEADER, "parsing", -EBADMSG);
        return;
    }
    log_complain_clear(&x->complain, c->name, "'%s' is readable again", x->dev_path);

    struct net_emit e = {.ts_ns = clock_realtime_ns()};
    struct procfs_netdev_if line;
    size_t index = 0;
    x->epoch++;
    for (;;) {
        r = procfs_netdev_next(x->buf.data, x->buf.len, &off, &line);
        if (r == 0)
            break;
        if (r == -ENODATA) {
            net_reject(c, NET_REJECT_CUT_LINE);
            break;
        }
        if (r != 1) {
            net_reject(c, NET_REJECT_BAD_LINE);
            continue;
        }
        int err = 0;
        struct net_if *it = net_if_find(x, line.name, index, &err);
        if (!it) {
            net_reject(c, NET_REJECT_TOO_MANY_INTERFACES);
            if (err == -ENOMEM)
                log_complain(&x->complain, LOG_LEVEL_WARN, c->name,
                             "growing the interface table failed (%s), ignoring '%s'",
                             strerror(ENOMEM), line.name);
            continue;
        }
        index = (size_t)(it - x->ifs) + 1;
        if (it->epoch == x->epoch) {
            net_reject(c, NET_REJECT_BAD_LINE); /* the same interface twice */
            continue;
        }
        it->epoch = x->epoch;
        for (unsigned f = 0; f < NET_FIELD_MAX; f++) {
            uint64_t delta;
            bool publish = counter_delta(&it->counters[f], line.v[net_field_col[f]], &delta);
            if (publish && it->selected && (x->selected & (1u << f)))
                net_emit_value(c, &e, f, it->name, delta);
        }
    }
    net_forget_missing(x);
    selfstats_add(&c->stats.records_in, e.produced);
    if (e.dropped)
        selfstats_drop(&c->stats, DROP_RING_FULL, e.dropped);
}

static int net_start(struct collector *c, uv_loop_t *loop)
{
    struct net_ctx *x = c->ctx;
    return collector_timer_start(c, loop, &x->timer, net_scrape);
}

static void net_stop(struct collector *c)
{
    struct net_ctx *x = c->ctx;
    collector_timer_stop(&x->timer);
}

static void net_destroy(struct collector *c)
{
    struct net_ctx *x = c->ctx;
    if (!x)
        return;
    free(x->dev_path);
    x->dev_path = NULL;
    procfs_buf_release(&x->buf);
    free(x->ifs);
    x->ifs = NULL;
    x->n_ifs = x->cap_ifs = 0;
}

const struct collector_type collector_net = {
    .name = "net",
    .help = "per-interface traffic from /proc/net/dev, per interval (CloudWatch agent net_* "
            "metrics)",
    .config_path = "metrics/metrics_collected/net",
    .metric_common = true,
    .metric_fields = net_field_names,
    .kinds = RECORD_KIND_BIT(RECORD_METRIC),
    .fields = net_fields,
    .ctx_size = sizeof(struct net_ctx),
    .init = net_init,
    .start = net_start,
    .stop = net_stop,
    .destroy = net_destroy,
};
