/*
 * alarm_cli: `osprey alarms ...`, the interface to local alarms for people and
 * pipelines.
 *   list   [--config F | --state-file F] [--json]   name, state, since, reason
 *   wait   NAME --state S [--timeout SECONDS] [...]   exit 0 when NAME is in S, 1 when it is
 *                                                     in ALARM (and S is not ALARM), 2 on
 *                                                     timeout, 3 when NAME is unknown
 *   test   ALARM.json DATAPOINTS                      backtest through the real evaluator
 *   export [--config F]                               CloudFormation template (JSON)
 * Usage errors exit 64. The state comes from the file the running agent writes
 * (<state_dir>/alarms.json unless osprey.alarm_settings.state_file says otherwise).
 */
#include "agent/alarm_cli.h"

#include "agent/alarm_engine.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE     64
#define DEFAULT_CONFIG "/etc/osprey/osprey.json"

struct cli_opts {
    const char *config;
    const char *state_file;
    const char *state;
    double timeout_s;
    bool json;
    const char *args[4];
    int n_args;
};

static int parse_opts(int argc, char **argv, struct cli_opts *o)
{
    *o = (struct cli_opts){.config = DEFAULT_CONFIG, .timeout_s = 300};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if ((strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) && has_value) {
            o->config = argv[++i];
        } else if (strcmp(a, "--state-file") == 0 && has_value) {
            o->state_file = argv[++i];
        } else if (strcmp(a, "--state") == 0 && has_value) {
            o->state = argv[++i];
        } else if (strcmp(a, "--timeout") == 0 && has_value) {
            char *end;
            o->timeout_s = strtod(argv[++i], &end);
            if (*end || !(o->timeout_s >= 0)) {
                fprintf(stderr, "osprey alarms: --timeout wants seconds, got '%s'\n", argv[i]);
                return -EINVAL;
            }
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "osprey alarms: unknown option '%s'\n", a);
            return -EINVAL;
        } else if (o->n_args < 4) {
            o->args[o->n_args++] = a;
        } else {
            fprintf(stderr, "osprey alarms: unexpected argument '%s'\n", a);
            return -EINVAL;
        }
    }
    return 0;
}

static json_t *load_config(const char *path)
{
    json_error_t err;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!doc)
        fprintf(stderr, "osprey alarms: %s:%d:%d: %s\n", path, err.line, err.column, err.text);
    return doc;
}

/* Where the agent of `config` keeps its alarm state. */
static int state_path(const struct cli_opts *o, char *buf, size_t cap)
{
    if (o->state_file) {
        snprintf(buf, cap, "%s", o->state_file);
        return 0;
    }
    json_t *doc = load_config(o->config);
    if (!doc)
        return -EINVAL;
    json_t *osp = json_object_get(doc, "osprey");
    const char *file =
        json_string_value(json_object_get(json_object_get(osp, "alarm_settings"), "state_file"));
    const char *dir = json_string_value(json_object_get(osp, "state_dir"));
    if (file)
        snprintf(buf, cap, "%s", file);
    else
        snprintf(buf, cap, "%s/alarms.json", dir ? dir : "/var/lib/osprey");
    json_decref(doc);
    return 0;
}

static int cmd_list(const struct cli_opts *o)
{
    char path[1024];
    if (state_path(o, path, sizeof(path)) != 0)
        return 1;
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    if (!doc) {
        fprintf(stderr,
                "osprey alarms: no alarm state at %s (is the agent running with "
                "osprey.alarms?)\n",
                path);
        return 1;
    }
    if (o->json) {
        json_dumpf(doc, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(doc);
        return 0;
    }
    printf("%-32s %-17s %-28s %s\n", "NAME", "STATE", "SINCE", "REASON");
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(doc, "alarms"), i, a)
    {
        const char *since = json_string_value(json_object_get(a, "StateUpdatedTimestamp"));
        printf("%-32s %-17s %-28s %s\n", json_string_value(json_object_get(a, "AlarmName")),
               json_string_value(json_object_get(a, "StateValue")), since && *since ? since : "-",
               json_string_value(json_object_get(a, "StateReason")));
    }
    json_decref(doc);
    return 0;
}

static int cmd_wait(const struct cli_opts *o)
{
    enum alarm_state want;
    if (o->n_args != 1 || !o->state || alarm_state_parse(o->state, &want) != 0) {
        fprintf(stderr, "usage: osprey alarms wait NAME --state OK|ALARM|INSUFFICIENT_DATA "
                        "[--timeout SECONDS] [--config FILE | --state-file FILE]\n");
        return EXIT_USAGE;
    }
    char path[1024];
    if (state_path(o, path, sizeof(path)) != 0)
        return EXIT_USAGE;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    bool seen = false;
    for (;;) {
        json_t *doc = json_load_file(path, 0, NULL);
        size_t i;
        json_t *a;
        json_array_foreach(json_object_get(doc, "alarms"), i, a)
        {
            const char *name = json_string_value(json_object_get(a, "AlarmName"));
            if (!name || strcmp(name, o->args[0]) != 0)
                continue;
            seen = true;
            enum alarm_state st;
            const char *value = json_string_value(json_object_get(a, "StateValue"));
            if (!value || alarm_state_parse(value, &st) != 0)
                break;
            const char *reason = json_string_value(json_object_get(a, "StateReason"));
            if (st == want || (st == ALARM_STATE_ALARM && want != ALARM_STATE_ALARM)) {
                printf("%s %s: %s\n", o->args[0], alarm_state_name(st), reason ? reason : "");
                json_decref(doc);
                return st == want ? 0 : 1;
            }
        }
        json_decref(doc);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double waited = (double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
        if (waited >= o->timeout_s) {
            if (!seen) {
                fprintf(stderr, "osprey alarms: no alarm named '%s' in %s\n", o->args[0], path);
                return 3;
            }
            fprintf(stderr, "osprey alarms: '%s' did not reach %s within %g s\n", o->args[0],
                    o->state, o->timeout_s);
            return 2;
        }
        usleep(200 * 1000);
    }
}

/* ---- backtest --------------------------------------------------------------------- */

/* "2025-02-02T12:05:00Z", "2025-02-02 12:05:00", fractional seconds, or epoch seconds. */
static int parse_time(const char *s, int64_t *ret_ms)
{
    char *end;
    double v = strtod(s, &end);
    if (end != s && (*end == '\0' || isspace((unsigned char)*end)) && !strchr(s, '-')) {
        *ret_ms = (int64_t)llround(v * 1000.0);
        return 0;
    }
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        rest = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
    if (!rest)
        return -EINVAL;
    double frac = 0;
    if (*rest == '.') {
        frac = strtod(rest, &end);
        rest = end;
    }
    if (*rest == 'Z')
        rest++;
    else if (strncmp(rest, "+00:00", 6) == 0 || strncmp(rest, "+0000", 5) == 0)
        rest += rest[3] == ':' ? 6 : 5;
    while (isspace((unsigned char)*rest))
        rest++;
    if (*rest)
        return -EINVAL;
    *ret_ms = (int64_t)timegm(&tm) * 1000 + (int64_t)llround(frac * 1000.0);
    return 0;
}

struct sample {
    int64_t ts_ms;
    double value;
};

static int cmp_sample(const void *a, const void *b)
{
    const struct sample *x = a, *y = b;
    return (x->ts_ms > y->ts_ms) - (x->ts_ms < y->ts_ms);
}

/* CSV "timestamp,value" (a header line is skipped) or JSON lines {"timestamp", "value"}. */
static int read_samples(const char *path, struct sample **ret, size_t *ret_n)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "osprey alarms: cannot open %s: %s\n", path, strerror(errno));
        return -errno;
    }
    char line[4096];
    size_t n = 0, cap = 0, lineno = 0;
    struct sample *v = NULL;
    int r = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        s[strcspn(s, "\r\n")] = '\0';
        if (!*s || *s == '#')
            continue;
        struct sample smp;
        if (*s == '{') {
            json_t *o = json_loads(s, 0, NULL);
            json_t *ts = json_object_get(o, "timestamp"), *val = json_object_get(o, "value");
            bool ok = json_is_number(val) &&
                      ((json_is_number(ts) &&
                        (smp.ts_ms = (int64_t)llround(json_number_value(ts) * 1000.0), true)) ||
                       (json_is_string(ts) && parse_time(json_string_value(ts), &smp.ts_ms) == 0));
            if (ok)
                smp.value = json_number_value(val);
            json_decref(o);
            if (!ok) {
                fprintf(stderr, "%s:%zu: want {\"timestamp\": ..., \"value\": number}\n", path,
                        lineno);
                r = -EINVAL;
                break;
            }
        } else {
            char *comma = strchr(s, ',');
            char *end = NULL;
            if (comma) {
                *comma = '\0';
                smp.value = strtod(comma + 1, &end);
            }
            if (!comma || parse_time(s, &smp.ts_ms) != 0 || end == comma + 1 || *end) {
                if (n == 0 && lineno == 1)
                    continue; /* a header line */
                fprintf(stderr, "%s:%zu: want timestamp,value\n", path, lineno);
                r = -EINVAL;
                break;
            }
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            struct sample *nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                r = -ENOMEM;
                break;
            }
            v = nv;
        }
        v[n++] = smp;
    }
    if (f != stdin)
        fclose(f);
    if (r != 0) {
        free(v);
        return r;
    }
    qsort(v, n, sizeof(*v), cmp_sample);
    *ret = v;
    *ret_n = n;
    return 0;
}

static int cmd_test(const struct cli_opts *o)
{
    if (o->n_args != 2) {
        fprintf(stderr, "usage: osprey alarms test ALARM.json DATAPOINTS (CSV timestamp,value or "
                        "JSON lines; '-' = standard input)\n");
        return EXIT_USAGE;
    }
    json_error_t jerr;
    json_t *def = json_load_file(o->args[0], JSON_REJECT_DUPLICATES, &jerr);
    if (!def) {
        fprintf(stderr, "%s:%d:%d: %s\n", o->args[0], jerr.line, jerr.column, jerr.text);
        return 1;
    }
    json_t *defs = json_is_array(def) ? json_incref(def) : json_pack("[O]", def);
    json_decref(def);
    struct alarm_engine e;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    int r = alarm_engine_init(&e, defs, o->args[0], &errs);
    json_decref(defs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.msgs[i]);
    cfg_errors_release(&errs);
    if (r != 0)
        return 1;
    size_t metric = e.n_alarms;
    for (size_t i = 0; i < e.n_alarms && metric == e.n_alarms; i++)
        if (!e.alarms[i].def.composite)
            metric = i;
    if (metric == e.n_alarms || e.n_alarms != 1) {
        fprintf(stderr, "osprey alarms: %s must hold exactly one metric alarm\n", o->args[0]);
        alarm_engine_release(&e);
        return 1;
    }
    struct sample *samples = NULL;
    size_t n = 0;
    if (read_samples(o->args[1], &samples, &n) != 0) {
        alarm_engine_release(&e);
        return 1;
    }
    struct alarm_entry *a = &e.alarms[metric];
    int64_t period_ms = (int64_t)a->def.period_s * 1000;
    printf("%-20s %-17s %s\n", "PERIOD END", "STATE", "REASON");
    if (n > 0) {
        int64_t first = samples[0].ts_ms - ((samples[0].ts_ms % period_ms) + period_ms) % period_ms;
        int64_t last = samples[n - 1].ts_ms;
        size_t next = 0;
        for (int64_t end = first + period_ms; end <= last + period_ms; end += period_ms) {
            while (next < n && samples[next].ts_ms < end) {
                alarm_engine_add_sample(&e, metric, samples[next].value, samples[next].ts_ms);
                next++;
            }
            alarm_engine_evaluate(&e, end + e.grace_ms, NULL, NULL);
            char when[40];
            time_t t = (time_t)(end / 1000);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
            printf("%-20s %-17s %s\n", when, alarm_state_name(a->state), a->reason);
        }
    }
    free(samples);
    alarm_engine_release(&e);
    return 0;
}

/* ---- CloudFormation --------------------------------------------------------------- */

static void logical_id(const char *name, size_t index, char *buf, size_t cap)
{
    size_t k = 0;
    bool upper = true;
    for (const char *s = name; *s && k + 12 < cap; s++) {
        if (isalnum((unsigned char)*s)) {
            buf[k++] = upper ? (char)toupper((unsigned char)*s) : *s;
            upper = false;
        } else {
            upper = true;
        }
    }
    snprintf(buf + k, cap - k, "Alarm%zu", index);
}

static int cmd_export(const struct cli_opts *o)
{
    json_t *doc = load_config(o->config);
    if (!doc)
        return 1;
    json_t *defs = json_object_get(json_object_get(doc, "osprey"), "alarms");
    struct alarm_engine e;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    int r = alarm_engine_init(&e, defs ? defs : json_array(), "osprey.alarms", &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.msgs[i]);
    cfg_errors_release(&errs);
    if (r != 0) {
        json_decref(doc);
        return 1;
    }
    static const char *const action_keys[] = {"InsufficientDataActions", "OKActions",
                                              "AlarmActions"};
    json_t *resources = json_object();
    size_t dropped = 0;
    for (size_t i = 0; i < e.n_alarms; i++) {
        const struct alarm_def *d = &e.alarms[i].def;
        json_t *props = json_deep_copy(d->json);
        json_object_del(props, "Tags");
        /* Only SNS actions exist in CloudFormation; log/exec/webhook are Osprey's. */
        for (int s = 0; s < 3; s++) {
            if (!json_object_get(props, action_keys[s]))
                continue;
            json_t *arr = json_array();
            for (size_t k = 0; k < d->n_actions[s]; k++) {
                if (d->actions[s][k].kind == ALARM_ACTION_SNS)
                    json_array_append_new(arr, json_string(d->actions[s][k].text));
                else
                    dropped++;
            }
            json_object_set_new(props, action_keys[s], arr);
        }
        char id[300];
        logical_id(d->name, i, id, sizeof(id));
        json_object_set_new(
            resources, id,
            json_pack("{s:s, s:o}", "Type",
                      d->composite ? "AWS::CloudWatch::CompositeAlarm" : "AWS::CloudWatch::Alarm",
                      "Properties", props));
    }
    json_t *tmpl =
        json_pack("{s:s, s:s, s:o}", "AWSTemplateFormatVersion", "2010-09-09", "Description",
                  "Alarms exported from an Osprey configuration (osprey alarms export)",
                  "Resources", resources);
    json_dumpf(tmpl, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    if (dropped)
        fprintf(stderr,
                "osprey alarms: %zu log/exec/webhook action(s) left out: CloudWatch alarms "
                "only take ARNs\n",
                dropped);
    json_decref(tmpl);
    alarm_engine_release(&e);
    json_decref(doc);
    return 0;
}

int alarm_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: osprey alarms list|wait|test|export ...\n");
        return EXIT_USAGE;
    }
    struct cli_opts o;
    if (parse_opts(argc - 2, argv + 2, &o) != 0)
        return EXIT_USAGE;
    if (strcmp(argv[1], "list") == 0)
        return o.n_args == 0 ? cmd_list(&o) : EXIT_USAGE;
    if (strcmp(argv[1], "wait") == 0)
        return cmd_wait(&o);
    if (strcmp(argv[1], "test") == 0)
        return cmd_test(&o);
    if (strcmp(argv[1], "export") == 0)
        return o.n_args == 0 ? cmd_export(&o) : EXIT_USAGE;
    fprintf(stderr, "osprey alarms: unknown command '%s' (list, wait, test, export)\n", argv[1]);
    return EXIT_USAGE;
}
