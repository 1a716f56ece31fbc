/*
 * dry_run: print what a configuration would do. DESIGN: everything printed comes from the
 * same code the agent runs — settings_load() binds and inits every instance, the
 * endpoints come from aws_endpoint_resolve(), the listeners describe themselves, and the
 * metric series are what the real collectors emit into a private ring — so the dry run
 * cannot disagree with a real start. What it cannot know without the network (EC2
 * metadata dimensions, which credential source answers) is said, not guessed.
 */
#include "agent/dry_run.h"

#include "agent/clock.h"
#include "agent/record.h"
#include "agent/ring.h"
#include "agent/settings.h"
#include "exporters/aws.h"
#include "exporters/ini.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <uv.h>

/* Scrapes of the private run: delta metrics (cpu usage, diskio, net) publish from the
 * second scrape on, so the run lasts several intervals. */
#define DRY_RUN_INTERVAL_NS (100 * NS_PER_MS)
#define DRY_RUN_DURATION_MS 450
#define DRY_RUN_MAX_SERIES  100000
#define DRY_RUN_MAX_FILE    (1024 * 1024)

/* ---- sinks ------------------------------------------------------------------------- */

/* The endpoint prefix of each AWS sink (aws_connection_check's `prefix`). */
static const char *const aws_prefixes[][2] = {
    {"cloudwatch", "monitoring"},
    {"cloudwatch_logs", "logs"},
    {"xray", "xray"},
};

static const char *aws_prefix(const struct exporter *e)
{
    if (e->type->extra_fields != aws_connection_fields)
        return NULL;
    for (size_t i = 0; i < sizeof(aws_prefixes) / sizeof(aws_prefixes[0]); i++)
        if (strcmp(aws_prefixes[i][0], e->type->name) == 0)
            return aws_prefixes[i][1];
    return NULL;
}

static void kinds_text(unsigned kinds, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int k = RECORD_METRIC; k < RECORD_KIND_MAX && n < cap; k++)
        if (kinds & RECORD_KIND_BIT(k))
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? ", " : "",
                                  record_kind_name((enum record_kind)k));
}

static bool print_sinks(const struct settings *s, FILE *out)
{
    bool any_aws = false;
    fprintf(out, "\nsinks (%zu):\n", s->n_exporters);
    for (size_t i = 0; i < s->n_exporters; i++) {
        const struct exporter *e = s->exporters[i];
        char kinds[64];
        kinds_text(e->kinds, kinds, sizeof(kinds));
        fprintf(out, "  %s: takes %s\n", e->name, kinds);
        const char *prefix = aws_prefix(e);
        if (prefix) {
            const struct aws_connection *conn =
                (const struct aws_connection *)((const char *)e->ctx + e->type->extra_offset);
            const char *region = aws_connection_region(e, conn);
            struct aws_endpoint ep;
            if (region && aws_endpoint_resolve(conn->endpoint, prefix, region, &ep) == 0)
                fprintf(out, "    endpoint %s region %s%s\n", ep.url, region,
                        conn->proxy ? " (through the configured proxy)" : "");
            any_aws = true;
            continue;
        }
        /* Local sinks: where they write, from their own configuration keys. */
        json_t *cfg = json_object_get(s->osprey.sinks, e->type->name);
        static const char *const where_keys[] = {"directory", "path", "endpoint", NULL};
        for (size_t k = 0; where_keys[k]; k++) {
            json_t *v = json_object_get(cfg, where_keys[k]);
            if (json_is_string(v))
                fprintf(out, "    %s %s\n", where_keys[k], json_string_value(v));
        }
    }
    return any_aws;
}

/* ---- credentials ------------------------------------------------------------------- */

static const char *env_value(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

/* Read a small local file (the shared files); NULL when absent or too large. */
static char *read_small_file(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(DRY_RUN_MAX_FILE);
    size_t n = buf ? fread(buf, 1, DRY_RUN_MAX_FILE, f) : 0;
    bool too_big = buf && n == DRY_RUN_MAX_FILE;
    fclose(f);
    if (!buf || too_big) {
        free(buf);
        return NULL;
    }
    *ret_len = n;
    return buf;
}

/* Which credential settings a profile has in one shared file (names only: never values). */
static void profile_settings(const char *path, enum ini_file_kind kind, const char *profile,
                             char *what, size_t cap)
{
    static const enum ini_key keys[] = {INI_AWS_ACCESS_KEY_ID,       INI_ROLE_ARN,
                                        INI_WEB_IDENTITY_TOKEN_FILE, INI_CREDENTIAL_PROCESS,
                                        INI_SSO_START_URL,           INI_SSO_SESSION};
    size_t len = 0;
    char *text = read_small_file(path, &len);
    if (!text)
        return;
    struct ini_profile p = {0};
    if (ini_profile_parse(text, len, kind, profile, &p) == 0 && p.found) {
        size_t n = strlen(what);
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && n < cap; i++)
            if (ini_profile_get(&p, keys[i]))
                n += (size_t)snprintf(what + n, cap - n, "%s%s in %s", n ? ", " : "",
                                      ini_key_name(keys[i]), path);
    }
    ini_profile_release(&p);
    free(text);
}

static void print_credentials(const struct settings *s, FILE *out)
{
    const struct creds_options *o = &s->creds_opts;
    const char *home = env_value("HOME");
    char cred_file[1024], config_file[1024];
    snprintf(cred_file, sizeof(cred_file), "%s",
             o->shared_credentials_file                 ? o->shared_credentials_file
             : env_value("AWS_SHARED_CREDENTIALS_FILE") ? env_value("AWS_SHARED_CREDENTIALS_FILE")
                                                        : "");
    if (!cred_file[0])
        snprintf(cred_file, sizeof(cred_file), "%s/.aws/credentials", home ? home : "");
    snprintf(config_file, sizeof(config_file), "%s",
             o->shared_config_file          ? o->shared_config_file
             : env_value("AWS_CONFIG_FILE") ? env_value("AWS_CONFIG_FILE")
                                            : "");
    if (!config_file[0])
        snprintf(config_file, sizeof(config_file), "%s/.aws/config", home ? home : "");
    const char *profile = o->profile                         ? o->profile
                          : env_value("AWS_PROFILE")         ? env_value("AWS_PROFILE")
                          : env_value("AWS_DEFAULT_PROFILE") ? env_value("AWS_DEFAULT_PROFILE")
                                                             : "default";

    fputs("\ncredentials (one chain for every AWS sink; nothing is fetched in a dry run):\n"
          "  order: environment, web-identity, shared-file, container, imds; the first "
          "present source is used, a present source that fails is an error\n",
          out);
    const char *chosen = NULL;
    /* 1. environment (an explicit profile in the configuration removes it) */
    bool env_keys = env_value("AWS_ACCESS_KEY_ID") != NULL && !o->profile;
    fprintf(out, "  environment:  %s\n",
            env_keys                         ? "present (AWS_ACCESS_KEY_ID is set)"
            : env_value("AWS_ACCESS_KEY_ID") ? "skipped (osprey.credentials.profile is set)"
                                             : "absent");
    if (env_keys)
        chosen = "environment";
    /* 2. web identity */
    const char *token_file = env_value("AWS_WEB_IDENTITY_TOKEN_FILE");
    fprintf(out, "  web-identity: %s%s%s\n", token_file ? "present (token file " : "absent",
            token_file ? token_file : "", token_file ? ")" : "");
    if (token_file && !chosen)
        chosen = "web-identity";
    /* 3. shared files */
    char what[2048] = "";
    profile_settings(cred_file, INI_CREDENTIALS, profile, what, sizeof(what));
    profile_settings(config_file, INI_CONFIG, profile, what, sizeof(what));
    fprintf(out, "  shared-file:  profile '%s': %s%s\n", profile, what[0] ? "present: " : "absent",
            what);
    if (what[0] && !chosen)
        chosen = "shared-file";
    /* 4. container */
    const char *rel = env_value("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = env_value("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (rel)
        fprintf(out, "  container:    present (%s%s)\n",
                o->ecs_endpoint ? o->ecs_endpoint : "http://169.254.170.2", rel);
    else if (full)
        fprintf(out, "  container:    present (%s)\n", full);
    else
        fputs("  container:    absent\n", out);
    if ((rel || full) && !chosen)
        chosen = "container";
    /* 5. IMDS */
    const char *disabled = env_value("AWS_EC2_METADATA_DISABLED");
    bool imds = !(disabled && strcasecmp(disabled, "true") == 0);
    const char *imds_ep = o->imds_endpoint ? o->imds_endpoint
                          : env_value("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                              ? env_value("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                              : "http://169.254.169.254";
    if (imds)
        fprintf(out, "  imds:         present (%s, IMDSv2; not contacted)\n", imds_ep);
    else
        fputs("  imds:         disabled (AWS_EC2_METADATA_DISABLED=true)\n", out);
    if (imds && !chosen)
        chosen = "imds";
    fprintf(out, "  would use: %s\n", chosen ? chosen : "none (no source: sends would fail)");
    if (o->role_arn) {
        const char *region = o->region                 ? o->region
                             : env_value("AWS_REGION") ? env_value("AWS_REGION")
                                                       : env_value("AWS_DEFAULT_REGION");
        char sts[300];
        if (o->sts_endpoint)
            snprintf(sts, sizeof(sts), "%s", o->sts_endpoint);
        else if (region)
            snprintf(sts, sizeof(sts), "https://sts.%s.amazonaws.com", region);
        else
            snprintf(sts, sizeof(sts), "https://sts.amazonaws.com");
        fprintf(out, "  then: AssumeRole %s (session %s) at %s\n", o->role_arn,
                o->role_session_name ? o->role_session_name : "osprey", sts);
    }
}

/* ---- collectors -------------------------------------------------------------------- */

static bool scrapes_metrics(const struct collector *c)
{
    return c->type->metric_common && !c->type->describe &&
           (c->kinds & RECORD_KIND_BIT(RECORD_METRIC));
}

static void print_collectors(const struct settings *s, FILE *out)
{
    fprintf(out, "\ncollectors (%zu):\n", s->n_collectors);
    for (size_t i = 0; i < s->n_collectors; i++) {
        struct collector *c = s->collectors[i];
        char kinds[64];
        kinds_text(c->kinds, kinds, sizeof(kinds));
        fprintf(out, "  %s (%s): produces %s\n", c->name, c->type->config_path, kinds);
        char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);
        if (!mem)
            continue;
        collector_describe(c, mem);
        if (scrapes_metrics(c))
            fprintf(mem, "scrapes every %.3g s\n", (double)collector_interval_ns(c) / 1e9);
        fclose(mem);
        /* Indent each line the plugin wrote. */
        for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
            nl = strchr(line, '\n');
            fprintf(out, "    %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
        }
        free(text);
    }
}

/* ---- metric series ----------------------------------------------------------------- */

struct series_run {
    struct ring ring;
    char **lines; /* "namespace name [unit] {dims}", one per point seen */
    size_t n, cap;
    bool too_many;
    int error;
    unsigned running;
    uv_check_t drain;
    uv_timer_t stop_timer;
    struct collector **started;
    size_t n_started;
};

static int dim_cmp(const void *a, const void *b)
{
    return strcmp(((const struct metric_dim *)a)->name, ((const struct metric_dim *)b)->name);
}

static void take_point(struct series_run *run, const struct metric_point *p)
{
    if (run->n == run->cap) {
        if (run->cap >= DRY_RUN_MAX_SERIES) {
            run->too_many = true;
            return;
        }
        size_t cap = run->cap ? run->cap * 2 : 256;
        char **grown = realloc(run->lines, cap * sizeof(*grown));
        if (!grown) {
            run->error = -ENOMEM;
            return;
        }
        run->lines = grown;
        run->cap = cap;
    }
    struct metric_dim dims[METRIC_MAX_DIMS];
    memcpy(dims, p->dims, p->n_dims * sizeof(dims[0]));
    if (p->n_dims > 1)
        qsort(dims, p->n_dims, sizeof(dims[0]), dim_cmp);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem) {
        run->error = -ENOMEM;
        return;
    }
    fprintf(mem, "%s %s [%s] {", p->namespace_, p->name, metric_unit_name(p->unit));
    for (size_t i = 0; i < p->n_dims; i++)
        fprintf(mem, "%s%s=%s", i ? ", " : "", dims[i].name, dims[i].value);
    fputc('}', mem);
    if (fclose(mem) != 0 || !text) {
        free(text);
        run->error = -ENOMEM;
        return;
    }
    run->lines[run->n++] = text;
}

static void drain_ring(struct series_run *run)
{
    size_t len;
    const void *rec;
    while ((rec = ring_peek(&run->ring, &len)) != NULL) {
        struct record_view v;
        if (record_decode(rec, len, &v) == 0 && v.hdr.kind == RECORD_METRIC &&
            !(v.hdr.flags & RECORD_FLAG_LOCAL_ONLY))
            take_point(run, &v.u.metric);
        ring_consume(&run->ring);
    }
}

static void on_drain(uv_check_t *h)
{
    drain_ring(h->data);
}

static void on_collector_stopped(struct collector *c, void *data)
{
    (void)c;
    struct series_run *run = data;
    if (--run->running == 0)
        uv_close((uv_handle_t *)&run->drain, NULL);
}

static void on_stop_timer(uv_timer_t *t)
{
    struct series_run *run = t->data;
    uv_close((uv_handle_t *)t, NULL);
    drain_ring(run);
    for (size_t i = 0; i < run->n_started; i++)
        collector_stop(run->started[i], on_collector_stopped, run);
}

static int line_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run the scraping metric collectors on a private loop; returns 0 or -errno. */
static int collect_series(struct settings *s, struct series_run *run)
{
    uv_loop_t loop;
    int r = uv_loop_init(&loop);
    if (r != 0)
        return r;
    r = ring_init(&run->ring, (size_t)s->osprey.ring_bytes);
    if (r != 0)
        goto close_loop;
    run->started = calloc(s->n_collectors ? s->n_collectors : 1, sizeof(*run->started));
    if (!run->started) {
        r = -ENOMEM;
        goto release_ring;
    }
    struct collect_output out = {.ring = &run->ring, .wake = NULL};
    (void)uv_check_init(&loop, &run->drain);
    run->drain.data = run;
    (void)uv_check_start(&run->drain, on_drain);
    for (size_t i = 0; i < s->n_collectors; i++) {
        struct collector *c = s->collectors[i];
        if (!scrapes_metrics(c))
            continue;
        /* A private instance: scrape often so two scrapes happen quickly. */
        c->metric.interval_ns = DRY_RUN_INTERVAL_NS;
        int rs = collector_start(c, &loop, &out);
        if (rs != 0) {
            /* A real start would fail the same way. */
            fprintf(stderr, "osprey: dry run: '%s' did not start: %s\n", c->name, uv_strerror(rs));
            run->error = rs;
            continue;
        }
        run->started[run->n_started++] = c;
    }
    run->running = (unsigned)run->n_started;
    (void)uv_timer_init(&loop, &run->stop_timer);
    run->stop_timer.data = run;
    (void)uv_timer_start(&run->stop_timer, on_stop_timer, DRY_RUN_DURATION_MS, 0);
    if (run->n_started == 0)
        uv_close((uv_handle_t *)&run->drain, NULL);
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    drain_ring(run);
    if (run->n > 1)
        qsort(run->lines, run->n, sizeof(run->lines[0]), line_cmp);
    r = run->error;
release_ring:
    ring_release(&run->ring);
close_loop:
    if (uv_loop_close(&loop) != 0 && r == 0)
        r = -EBUSY;
    return r;
}

static void series_release(struct series_run *run)
{
    for (size_t i = 0; i < run->n; i++)
        free(run->lines[i]);
    free(run->lines);
    free(run->started);
}

static int print_series(struct settings *s, FILE *out)
{
    struct series_run run = {0};
    int r = collect_series(s, &run);
    if (r != 0) {
        series_release(&run);
        return r;
    }
    fputs("\nmetric series (from a short private scrape; published values are not sent):\n", out);
    size_t unique = 0;
    for (size_t i = 0; i < run.n; i++) {
        if (i > 0 && strcmp(run.lines[i], run.lines[i - 1]) == 0)
            continue;
        fprintf(out, "  %s\n", run.lines[i]);
        unique++;
    }
    if (run.too_many)
        fprintf(out, "  (stopped counting after %d points)\n", DRY_RUN_MAX_SERIES);
    for (size_t i = 0; i < s->n_collectors; i++) {
        const struct collector *c = s->collectors[i];
        if ((c->kinds & RECORD_KIND_BIT(RECORD_METRIC)) && !scrapes_metrics(c))
            fprintf(out, "  + the series '%s' receives from its clients (not counted)\n", c->name);
    }
    if (settings_need_instance_meta(s))
        fputs("  (${aws:...} dimensions need EC2 instance metadata, which a dry run does not "
              "ask: they are left out above)\n",
              out);
    fprintf(out, "%zu metric series -> %zu custom metrics at CloudWatch pricing\n", unique, unique);
    series_release(&run);
    return 0;
}

/* ---- entry -------------------------------------------------------------------------- */

int dry_run_main(const char *path, FILE *out, FILE *err)
{
    struct settings s;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    int r = settings_load(&s, path, &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(err, "%s\n", errs.msgs[i]);
    if (r != 0) {
        if (errs.n == 0)
            fprintf(err, "%s: invalid: %s\n", path, strerror(-r));
        cfg_errors_release(&errs);
        return 1;
    }
    cfg_errors_release(&errs);
    fprintf(out, "%s: valid (%zu collectors, %zu sinks); dry run: nothing is sent\n", path,
            s.n_collectors, s.n_exporters);
    if (s.agent.region)
        fprintf(out, "region %s\n", s.agent.region);
    if (print_sinks(&s, out))
        print_credentials(&s, out);
    print_collectors(&s, out);
    r = print_series(&s, out);
    if (r != 0)
        fprintf(err, "osprey: dry run: cannot run the metric collectors: %s\n", strerror(-r));
    settings_release(&s);
    fflush(out);
    return r == 0 ? 0 : 1;
}
