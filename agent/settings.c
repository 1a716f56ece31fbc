#include "agent/settings.h"

#include "agent/clock.h"
#include "agent/log.h"
#include "agent/registry.h"
#include "collectors/log_names.h"
#include "exporters/aws.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Top level: the CloudWatch agent's sections plus Osprey's own. */
struct top_level {
    json_t *agent;
    json_t *metrics;
    json_t *logs;
    json_t *traces;
    json_t *osprey;
};

static const struct cfg_field top_fields[] = {
    {"agent", CFG_JSON, offsetof(struct top_level, agent), NULL, 0, 0, NULL, 0,
     "CloudWatch agent: global settings"},
    {"metrics", CFG_JSON, offsetof(struct top_level, metrics), NULL, 0, 0, NULL, 0,
     "CloudWatch agent: metric collection"},
    {"logs", CFG_JSON, offsetof(struct top_level, logs), NULL, 0, 0, NULL, 0,
     "CloudWatch agent: log collection (file tailing, EMF listener)"},
    {"traces", CFG_JSON, offsetof(struct top_level, traces), NULL, 0, 0, NULL, 0,
     "CloudWatch agent: trace collection (X-Ray daemon protocol, OTLP) sent to X-Ray"},
    {"osprey", CFG_JSON, offsetof(struct top_level, osprey), NULL, 0, 0, NULL, 0,
     "Osprey's own settings: sinks, ring, deadlines, state"},
    CFG_END,
};

static const struct cfg_field agent_fields[] = {
    {"metrics_collection_interval", CFG_SECONDS,
     offsetof(struct agent_section, metrics_collection_interval_ns), "60", 1, 86400, NULL, 0,
     "default seconds between metric scrapes"},
    {"region", CFG_STRING, offsetof(struct agent_section, region), NULL, 0, 0, NULL, 0,
     "AWS region"},
    {"logfile", CFG_STRING, offsetof(struct agent_section, logfile), NULL, 0, 0, NULL, 0,
     "append the agent's own log here instead of stderr"},
    {"debug", CFG_BOOL, offsetof(struct agent_section, debug), "false", 0, 0, NULL, 0,
     "log at debug level"},
    {"quiet", CFG_BOOL, offsetof(struct agent_section, quiet), "false", 0, 0, NULL, 0,
     "log errors only"},
    {"omit_hostname", CFG_BOOL, offsetof(struct agent_section, omit_hostname), "false", 0, 0, NULL,
     0, "do not add the host dimension to metrics"},
    {"usage_data", CFG_BOOL, offsetof(struct agent_section, usage_data), "true", 0, 0, NULL, 0,
     "accepted for compatibility; Osprey never sends usage data"},
    {"run_as_user", CFG_STRING, 0, NULL, 0, 0, NULL, CFG_UNSUPPORTED,
     "start Osprey as the wanted user instead (systemd User=, container USER)"},
    {"credentials", CFG_JSON, offsetof(struct agent_section, credentials), NULL, 0, 0, NULL, 0,
     "{\"role_arn\": ...}: assume this role with the credentials the chain finds"},
    {"aws_sdk_log_level", CFG_STRING, 0, NULL, 0, 0, NULL, CFG_UNSUPPORTED,
     "Osprey does not use the AWS SDK; use \"debug\": true"},
    {"user_agent", CFG_STRING, 0, NULL, 0, 0, NULL, CFG_UNSUPPORTED, "not configurable"},
    CFG_END,
};

static const struct cfg_field metrics_fields[] = {
    {"namespace", CFG_STRING, offsetof(struct metrics_section, namespace_), "CWAgent", 0, 0, NULL,
     0, "CloudWatch namespace of collected metrics"},
    {"force_flush_interval", CFG_SECONDS, offsetof(struct metrics_section, force_flush_interval_ns),
     "60", 1, 86400, NULL, 0, "seconds between metric batch sends"},
    {"metrics_collected", CFG_JSON, offsetof(struct metrics_section, metrics_collected), NULL, 0, 0,
     NULL, 0, "one object per metrics plugin"},
    {"append_dimensions", CFG_JSON, offsetof(struct metrics_section, append_dimensions), NULL, 0, 0,
     NULL, 0,
     "{\"InstanceId\": \"${aws:InstanceId}\", ...}: EC2 dimensions on every metric, from "
     "instance metadata (ImageId, InstanceId, InstanceType, AutoScalingGroupName)"},
    {"aggregation_dimensions", CFG_JSON, offsetof(struct metrics_section, aggregation_dimensions),
     NULL, 0, 0, NULL, 0,
     "[[\"AutoScalingGroupName\"], []]: also publish each metric rolled up to these dimensions"},
    {"endpoint_override", CFG_STRING, offsetof(struct metrics_section, endpoint_override), NULL, 0,
     0, NULL, 0, "CloudWatch endpoint (a compatible endpoint, a VPC endpoint)"},
    {"credentials", CFG_JSON, 0, NULL, 0, 0, NULL, CFG_UNSUPPORTED,
     "per-section credentials are not supported: Osprey has one credentials chain "
     "(agent.credentials, osprey.credentials)"},
    {"metrics_destinations", CFG_JSON, 0, NULL, 0, 0, NULL, CFG_UNSUPPORTED,
     "only CloudWatch-shaped destinations; use osprey.sinks for local ones"},
    CFG_END,
};

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};

static const struct cfg_field osprey_fields[] = {
    {"ring_bytes", CFG_INT, offsetof(struct osprey_section, ring_bytes), "8388608", 65536, 1 << 30,
     NULL, 0, "size of the collector->exporter ring (a power of two)"},
    {"shutdown_deadline", CFG_SECONDS, offsetof(struct osprey_section, shutdown_deadline_ns), "5",
     0, 3600, NULL, 0, "seconds to deliver what is queued after SIGTERM/SIGINT"},
    {"flush_interval", CFG_SECONDS, offsetof(struct osprey_section, flush_interval_ns), "1", 0.01,
     3600, NULL, 0, "seconds between flushes of the local sinks"},
    {"summary_interval", CFG_SECONDS, offsetof(struct osprey_section, summary_interval_ns), "5", 0,
     86400, NULL, 0, "seconds between one-line summaries on the log (0 = off)"},
    {"proc_root", CFG_STRING, offsetof(struct osprey_section, proc_root), "/proc", 0, 0, NULL, 0,
     "where /proc is mounted (a host's /proc in a container, a fixture tree in tests)"},
    {"state_dir", CFG_STRING, offsetof(struct osprey_section, state_dir), "/var/lib/osprey", 0, 0,
     NULL, 0, "directory for checkpoints, spool and alarm state"},
    {"hostname", CFG_STRING, offsetof(struct osprey_section, hostname), NULL, 0, 0, NULL, 0,
     "value of the host dimension (default: the system host name)"},
    {"log_level", CFG_ENUM, offsetof(struct osprey_section, log_level), "info", 0, 0, log_levels, 0,
     "error, warn, info or debug (agent.debug/quiet override it)"},
    {"sinks", CFG_JSON, offsetof(struct osprey_section, sinks), NULL, 0, 0, NULL, 0,
     "destinations: {\"file\": {...}, \"stdout\": {...}, \"cloudwatch_logs\": {...}}"},
    {"generate", CFG_JSON, offsetof(struct osprey_section, generate), NULL, 0, 0, NULL, 0,
     "generators of numbered test records (a list)"},
    {"alarms", CFG_JSON, offsetof(struct osprey_section, alarms), NULL, 0, 0, NULL, 0,
     "alarms evaluated on the host, with PutMetricAlarm / PutCompositeAlarm fields (a list)"},
    {"alarm_settings", CFG_JSON, offsetof(struct osprey_section, alarm_settings), NULL, 0, 0, NULL,
     0,
     "{\"state_file\", \"exec_timeout\", \"action_attempts\", \"account_id\", "
     "\"region\", \"endpoint\"}: how alarms run their actions"},
    {"credentials", CFG_JSON, offsetof(struct osprey_section, credentials), NULL, 0, 0, NULL, 0,
     "where the AWS credentials chain looks: profile, files, IMDS/ECS/STS endpoints"},
    {"health", CFG_JSON, offsetof(struct osprey_section, health), NULL, 0, 0, NULL, 0,
     "the local health and self-metrics endpoint: {\"enabled\", \"address\", \"stuck_after\"}"},
    CFG_END,
};

/* agent.credentials (the CloudWatch agent's key) */
static const struct cfg_field agent_credentials_fields[] = {
    {"role_arn", CFG_STRING, offsetof(struct credentials_section, role_arn), NULL, 0, 0, NULL, 0,
     "role to assume (STS AssumeRole) with the credentials the chain finds"},
    CFG_END,
};

/* osprey.credentials */
static const struct cfg_field osprey_credentials_fields[] = {
    {"role_session_name", CFG_STRING, offsetof(struct credentials_section, role_session_name),
     "osprey", 0, 0, NULL, 0, "session name for AssumeRole"},
    {"profile", CFG_STRING, offsetof(struct credentials_section, profile), NULL, 0, 0, NULL, 0,
     "shared-file profile (default AWS_PROFILE, else \"default\")"},
    {"shared_credentials_file", CFG_STRING,
     offsetof(struct credentials_section, shared_credentials_file), NULL, 0, 0, NULL, 0,
     "default AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials"},
    {"shared_config_file", CFG_STRING, offsetof(struct credentials_section, shared_config_file),
     NULL, 0, 0, NULL, 0, "default AWS_CONFIG_FILE, else ~/.aws/config"},
    {"imds_endpoint", CFG_STRING, offsetof(struct credentials_section, imds_endpoint), NULL, 0, 0,
     NULL, 0, "EC2 instance metadata (default http://169.254.169.254)"},
    {"ecs_endpoint", CFG_STRING, offsetof(struct credentials_section, ecs_endpoint), NULL, 0, 0,
     NULL, 0, "container credentials base (default http://169.254.170.2)"},
    {"sts_endpoint", CFG_STRING, offsetof(struct credentials_section, sts_endpoint), NULL, 0, 0,
     NULL, 0, "STS (default https://sts.<region>.amazonaws.com)"},
    CFG_END,
};

static int bind_credentials(struct settings *s, struct cfg_errors *errs)
{
    int r1 = cfg_bind(&s->doc, s->agent.credentials, "agent/credentials",
                      (struct cfg_binding[]){{agent_credentials_fields, &s->creds}}, 1, errs);
    int r2 = cfg_bind(&s->doc, s->osprey.credentials, "osprey/credentials",
                      (struct cfg_binding[]){{osprey_credentials_fields, &s->creds}}, 1, errs);
    s->creds_opts = (struct creds_options){
        .region = s->agent.region,
        .role_arn = s->creds.role_arn,
        .role_session_name = s->creds.role_session_name,
        .profile = s->creds.profile,
        .shared_credentials_file = s->creds.shared_credentials_file,
        .shared_config_file = s->creds.shared_config_file,
        .imds_endpoint = s->creds.imds_endpoint,
        .ecs_endpoint = s->creds.ecs_endpoint,
        .sts_endpoint = s->creds.sts_endpoint,
    };
    return r1 != 0 ? r1 : r2;
}

static int add_collector(struct settings *s, struct collector *c, const json_t *config)
{
    char **configs = realloc(s->collector_configs, (s->n_collectors + 1) * sizeof(*configs));
    if (!configs)
        return -ENOMEM;
    s->collector_configs = configs;
    configs[s->n_collectors] =
        config ? json_dumps(config, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (config && !configs[s->n_collectors])
        return -ENOMEM;
    struct collector **grown = realloc(s->collectors, (s->n_collectors + 1) * sizeof(*grown));
    if (!grown) {
        free(configs[s->n_collectors]);
        return -ENOMEM;
    }
    s->collectors = grown;
    s->collectors[s->n_collectors++] = c;
    return 0;
}

const char *settings_collector_config(const struct settings *s, size_t i)
{
    return i < s->n_collectors && s->collector_configs ? s->collector_configs[i] : NULL;
}

static int add_exporter(struct settings *s, struct exporter *e)
{
    struct exporter **grown = realloc(s->exporters, (s->n_exporters + 1) * sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    s->exporters = grown;
    s->exporters[s->n_exporters++] = e;
    return 0;
}

static void supported_collectors(const char *prefix, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < registry_n_collectors; i++) {
        const char *path = registry_collectors[i]->config_path;
        if (strncmp(path, prefix, plen) != 0)
            continue;
        int w = snprintf(out + n, cap - n, "%s%s", n ? ", " : "", path + plen);
        if (w < 0 || (size_t)w >= cap - n)
            return;
        n += (size_t)w;
    }
}

/* The JSON value at a '/'-separated path (plain keys only), or NULL. */
static json_t *doc_lookup(json_t *root, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *node = root;
    for (char *save = NULL, *part = strtok_r(buf, "/", &save); node && part;
         part = strtok_r(NULL, "/", &save))
        node = json_is_object(node) ? json_object_get(node, part) : NULL;
    return node;
}

static int create_one_collector(struct settings *s, const struct collector_type *type,
                                const char *name, const char *path, json_t *value,
                                struct cfg_errors *errs)
{
    if (s->n_collectors >= SETTINGS_MAX_COLLECTORS) {
        cfg_error_at(errs, &s->doc, path, true, "too many collectors (at most %d)",
                     SETTINGS_MAX_COLLECTORS);
        return -EINVAL;
    }
    struct plugin_cfg pc = {&s->doc, path, errs};
    struct collector *c = NULL;
    int r = collector_create(type, name, (uint16_t)s->n_collectors, &s->env, &pc, value, &c);
    if (r == 0) {
        r = add_collector(s, c, value);
        if (r != 0)
            collector_destroy(c);
    }
    return r;
}

static int create_metric_collectors(struct settings *s, struct cfg_errors *errs)
{
    const char *prefix = "metrics/metrics_collected/";
    json_t *mc = s->metrics.metrics_collected;
    if (!mc)
        return 0;
    if (!json_is_object(mc)) {
        cfg_error_at(errs, &s->doc, "metrics/metrics_collected", false,
                     "'metrics_collected' must be an object, got %s", cfg_json_type_name(mc));
        return -EINVAL;
    }
    int ret = 0;
    const char *key;
    json_t *value;
    json_object_foreach(mc, key, value)
    {
        char path[1024];
        cfg_path_join(path, sizeof(path), "metrics/metrics_collected", key);
        const struct collector_type *type = NULL;
        for (size_t i = 0; i < registry_n_collectors; i++)
            if (strcmp(registry_collectors[i]->config_path, path) == 0)
                type = registry_collectors[i];
        if (!type) {
            char known[512];
            supported_collectors(prefix, known, sizeof(known));
            cfg_error_at(errs, &s->doc, path, true,
                         "metrics plugin '%s' is not supported by this build (supported: %s)", key,
                         known);
            ret = -EINVAL;
            continue;
        }
        if (type->config_is_list && !json_is_array(value)) {
            cfg_error_at(errs, &s->doc, path, false, "'%s' must be an array, got %s", key,
                         cfg_json_type_name(value));
            ret = -EINVAL;
            continue;
        }
        /* A list plugin (procstat) runs one instance per element: "procstat[0]", ... */
        size_t n = type->config_is_list ? json_array_size(value) : 1;
        for (size_t j = 0; j < n; j++) {
            char ipath[1024], name[PLUGIN_NAME_MAX];
            snprintf(name, sizeof(name), "%s[%zu]", type->name, j);
            if (type->config_is_list)
                cfg_path_index(ipath, sizeof(ipath), path, j);
            int r = type->config_is_list
                        ? create_one_collector(s, type, name, ipath, json_array_get(value, j), errs)
                        : create_one_collector(s, type, type->name, path, value, errs);
            if (r == -ENOMEM)
                return r;
            if (r != 0)
                ret = -EINVAL;
        }
    }
    return ret;
}

/* Collectors configured outside metrics_collected (osprey.generate, and later the logs
 * and traces sections). */
static int create_other_collectors(struct settings *s, struct cfg_errors *errs)
{
    int ret = 0;
    for (size_t i = 0; i < registry_n_collectors; i++) {
        const struct collector_type *type = registry_collectors[i];
        if (strncmp(type->config_path, "metrics/metrics_collected/", 26) == 0 ||
            strncmp(type->config_path, "logs/metrics_collected/", 23) == 0)
            continue; /* created by their sections, with aliases and checks */
        json_t *value = doc_lookup(s->doc.root, type->config_path);
        if (!value)
            continue;
        if (!type->config_is_list) {
            int r = create_one_collector(s, type, type->name, type->config_path, value, errs);
            if (r == -ENOMEM)
                return r;
            if (r != 0)
                ret = -EINVAL;
            continue;
        }
        if (!json_is_array(value)) {
            cfg_error_at(errs, &s->doc, type->config_path, false, "'%s' must be an array, got %s",
                         type->config_path, cfg_json_type_name(value));
            ret = -EINVAL;
            continue;
        }
        for (size_t j = 0; j < json_array_size(value); j++) {
            char path[1024], name[PLUGIN_NAME_MAX];
            cfg_path_index(path, sizeof(path), type->config_path, j);
            snprintf(name, sizeof(name), "%s[%zu]", type->name, j);
            int r = create_one_collector(s, type, name, path, json_array_get(value, j), errs);
            if (r == -ENOMEM)
                return r;
            if (r != 0)
                ret = -EINVAL;
        }
    }
    return ret;
}

static int create_sink(struct settings *s, const struct exporter_type *type, const char *path,
                       const json_t *config, struct cfg_errors *errs)
{
    if (s->n_exporters >= SETTINGS_MAX_EXPORTERS) {
        cfg_error_at(errs, &s->doc, path, true, "too many sinks (at most %d)",
                     SETTINGS_MAX_EXPORTERS);
        return -EINVAL;
    }
    struct plugin_cfg pc = {&s->doc, path, errs};
    struct exporter *e = NULL;
    int r = exporter_create(type, type->name, (uint16_t)s->n_exporters, &s->env, &pc, config, &e);
    if (r == 0) {
        r = add_exporter(s, e);
        if (r != 0)
            exporter_destroy(e);
    }
    return r;
}

/* The CloudWatch agent's own keys for the cloudwatch sink (metrics.endpoint_override,
 * metrics.force_flush_interval), added to its configuration unless it sets them itself.
 * Returns a new reference. */
static json_t *cloudwatch_sink_config(struct settings *s, const json_t *config)
{
    json_t *merged = config ? json_deep_copy(config) : json_object();
    if (!merged || !json_is_object(merged))
        return merged;
    if (s->metrics.endpoint_override && !json_object_get(merged, "endpoint"))
        json_object_set_new(merged, "endpoint", json_string(s->metrics.endpoint_override));
    if (!json_object_get(merged, "force_flush_interval"))
        json_object_set_new(merged, "force_flush_interval",
                            json_real((double)s->metrics.force_flush_interval_ns / 1e9));
    return merged;
}

/* ---- the logs section --------------------------------------------------------------- */

/* Bound only while the settings are built: what it configures ends up in the collectors
 * it creates and in the cloudwatch_logs sink's configuration. */
struct logs_section {
    char *log_stream_name;
    char *endpoint_override;
    uint64_t force_flush_interval_ns;
    json_t *metrics_collected;
    json_t *logs_collected;
    size_t n_collectors; /* collectors the section created */
    json_t *log_groups;  /* for the sink: group -> {retention_in_days, log_group_class}; owned */
};

static const struct cfg_field logs_fields[] = {
    {"metrics_collected", CFG_JSON, offsetof(struct logs_section, metrics_collected), NULL, 0, 0,
     NULL, 0, "{\"emf\": {...}} (alias \"structuredlog\"): the Embedded Metric Format listener"},
    {"log_stream_name", CFG_STRING, offsetof(struct logs_section, log_stream_name), NULL, 0, 0,
     NULL, 0,
     "stream for events that name none ({instance_id}, {hostname}, {local_hostname} are "
     "expanded; default: the instance id, else the host name)"},
    {"endpoint_override", CFG_STRING, offsetof(struct logs_section, endpoint_override), NULL, 0, 0,
     NULL, 0, "CloudWatch Logs endpoint (a compatible endpoint, a VPC endpoint)"},
    {"force_flush_interval", CFG_SECONDS, offsetof(struct logs_section, force_flush_interval_ns),
     "5", 0.05, 3600, NULL, 0, "seconds between log batch sends"},
    {"logs_collected", CFG_JSON, offsetof(struct logs_section, logs_collected), NULL, 0, 0, NULL, 0,
     "{\"files\": {\"collect_list\": [...]}}: the log files to tail"},
    {"credentials", CFG_JSON, 0, NULL, 0, 0, NULL, CFG_UNSUPPORTED,
     "per-section credentials are not supported: Osprey has one credentials chain "
     "(agent.credentials, osprey.credentials)"},
    CFG_END,
};

/* What one collect_list entry asks of its log group, for the cloudwatch_logs sink. */
struct entry_group {
    char name[LOG_NAMES_MAX + 1]; /* expanded with what is known now, to compare entries */
    const char *tmpl;             /* log_group_name as written, else the derived group */
    json_int_t retention;         /* < 1: not set (the CloudWatch agent's default is -1) */
    const char *group_class;      /* NULL: not set */
};

/* The collector's own key table reports mistyped values and a missing file_path; here
 * such an entry just has no group settings (-EINVAL). */
static int read_entry_group(struct settings *s, const json_t *entry, struct entry_group *g)
{
    const json_t *name = json_object_get(entry, "log_group_name");
    const json_t *file = json_object_get(entry, "file_path");
    const json_t *retention = json_object_get(entry, "retention_in_days");
    const json_t *group_class = json_object_get(entry, "log_group_class");
    g->retention = json_is_integer(retention) ? json_integer_value(retention) : -1;
    g->group_class = json_is_string(group_class) && json_string_length(group_class)
                         ? json_string_value(group_class)
                         : NULL;
    int r = -EINVAL;
    if (json_is_string(name) && json_string_length(name)) {
        g->tmpl = json_string_value(name);
        r = log_names_expand(g->tmpl, &s->env, clock_realtime_ns(), g->name, sizeof(g->name));
    } else if ((!name || json_is_string(name)) && json_is_string(file)) {
        /* The group the collector derives from a literal path; a glob's files each get
         * their own, which no entry here can name. */
        r = log_names_default_group(json_string_value(file), g->name, sizeof(g->name));
        g->tmpl = g->name;
    }
    return r < 0 ? -EINVAL : 0;
}

/* Per-entry retention_in_days / log_group_class become the sink's "log_groups". As the
 * CloudWatch agent does, entries naming the same group (case-insensitively) must agree. */
static int gather_log_groups(struct settings *s, struct logs_section *logs, const json_t *list,
                             struct cfg_errors *errs)
{
    const char *base = "logs/logs_collected/files/collect_list";
    size_t n = json_array_size(list);
    struct entry_group *groups = n ? calloc(n, sizeof(*groups)) : NULL;
    bool *usable = n ? calloc(n, sizeof(*usable)) : NULL;
    if (n && (!groups || !usable)) {
        free(groups);
        free(usable);
        return -ENOMEM;
    }
    int ret = 0;
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        cfg_path_index(path, sizeof(path), base, i);
        struct entry_group *g = &groups[i];
        usable[i] = read_entry_group(s, json_array_get(list, i), g) == 0;
        for (size_t j = 0; j < i && usable[i]; j++) {
            const struct entry_group *h = &groups[j];
            if (!usable[j] || strcasecmp(g->name, h->name) != 0)
                continue;
            if (g->retention >= 1 && h->retention >= 1 && g->retention != h->retention) {
                cfg_error_at(errs, &s->doc, path, true,
                             "collect_list[%zu] and collect_list[%zu] set different "
                             "retention_in_days (%" JSON_INTEGER_FORMAT " and %" JSON_INTEGER_FORMAT
                             ") for log group '%s'",
                             j, i, h->retention, g->retention, g->name);
                ret = -EINVAL;
            }
            if (g->group_class && h->group_class && strcmp(g->group_class, h->group_class) != 0) {
                cfg_error_at(errs, &s->doc, path, true,
                             "collect_list[%zu] and collect_list[%zu] set different "
                             "log_group_class (%s and %s) for log group '%s'",
                             j, i, h->group_class, g->group_class, g->name);
                ret = -EINVAL;
            }
        }
    }
    json_t *out = ret == 0 ? json_object() : NULL;
    if (ret == 0 && !out)
        ret = -ENOMEM;
    for (size_t i = 0; i < n && ret == 0; i++) {
        const struct entry_group *g = &groups[i];
        if (!usable[i] || (g->retention < 1 && !g->group_class))
            continue;
        json_t *o = json_object_get(out, g->tmpl);
        if (!o && json_object_set_new(out, g->tmpl, o = json_object()) != 0)
            ret = -ENOMEM;
        if (ret == 0 && g->retention >= 1)
            ret = json_object_set_new(o, "retention_in_days", json_integer(g->retention)) ? -ENOMEM
                                                                                          : 0;
        if (ret == 0 && g->group_class)
            ret = json_object_set_new(o, "log_group_class", json_string(g->group_class)) ? -ENOMEM
                                                                                         : 0;
    }
    if (ret == 0)
        logs->log_groups = out;
    else
        json_decref(out);
    free(groups);
    free(usable);
    return ret;
}

/* logs.logs_collected: only "files", whose collect_list entries are collectors created by
 * create_other_collectors() (registry config_path); they count for the automatic
 * cloudwatch_logs sink like the section's own. */
static int check_logs_collected(struct settings *s, struct logs_section *logs,
                                struct cfg_errors *errs)
{
    const char *list_path = "logs/logs_collected/files/collect_list";
    for (size_t i = 0; i < s->n_collectors; i++)
        if (strncmp(s->collectors[i]->type->config_path, "logs/logs_collected/", 20) == 0)
            logs->n_collectors++;
    json_t *lc = logs->logs_collected;
    if (!lc)
        return 0;
    if (!json_is_object(lc)) {
        cfg_error_at(errs, &s->doc, "logs/logs_collected", false,
                     "'logs_collected' must be an object, got %s", cfg_json_type_name(lc));
        return -EINVAL;
    }
    int ret = 0;
    const char *key;
    json_t *value;
    json_object_foreach(lc, key, value)
    {
        char path[1024];
        cfg_path_join(path, sizeof(path), "logs/logs_collected", key);
        if (strcmp(key, "windows_events") == 0) {
            cfg_error_at(errs, &s->doc, path, true, "windows_events is not supported on Linux");
            ret = -EINVAL;
        } else if (strcmp(key, "files") != 0) {
            cfg_error_at(errs, &s->doc, path, true,
                         "unknown key '%s' in logs_collected (supported: files)", key);
            ret = -EINVAL;
        } else if (!json_is_object(value)) {
            cfg_error_at(errs, &s->doc, path, false, "'files' must be an object, got %s",
                         cfg_json_type_name(value));
            ret = -EINVAL;
        } else {
            const char *k2;
            json_t *v2;
            json_object_foreach(value, k2, v2)
            {
                if (strcmp(k2, "collect_list") == 0)
                    continue;
                char p2[1100];
                cfg_path_join(p2, sizeof(p2), path, k2);
                cfg_error_at(errs, &s->doc, p2, true,
                             "unknown key '%s' in files (supported: collect_list)", k2);
                ret = -EINVAL;
            }
        }
    }
    json_t *list = doc_lookup(s->doc.root, list_path);
    bool tail_known = false;
    for (size_t i = 0; i < registry_n_collectors && !tail_known; i++)
        tail_known = strcmp(registry_collectors[i]->config_path, list_path) == 0;
    if (list && !tail_known) {
        cfg_error_at(errs, &s->doc, list_path, true,
                     "tailing log files is not available in this build");
        return -EINVAL;
    }
    if (ret == 0 && json_is_array(list))
        ret = gather_log_groups(s, logs, list, errs);
    return ret;
}

/* logs.metrics_collected: "emf", or its older name "structuredlog" (not both). */
static int create_logs_collectors(struct settings *s, struct logs_section *logs,
                                  struct cfg_errors *errs)
{
    json_t *root = json_object_get(s->doc.root, "logs");
    if (!root)
        return 0;
    int ret = cfg_bind(&s->doc, root, "logs", (struct cfg_binding[]){{logs_fields, logs}}, 1, errs);
    if (ret == 0)
        ret = check_logs_collected(s, logs, errs);
    json_t *mc = logs->metrics_collected;
    if (ret != 0 || !mc)
        return ret;
    if (!json_is_object(mc)) {
        cfg_error_at(errs, &s->doc, "logs/metrics_collected", false,
                     "'metrics_collected' must be an object, got %s", cfg_json_type_name(mc));
        return -EINVAL;
    }
    if (json_object_get(mc, "emf") && json_object_get(mc, "structuredlog")) {
        cfg_error_at(errs, &s->doc, "logs/metrics_collected/structuredlog", true,
                     "'structuredlog' is the older name of 'emf': give only one of them");
        return -EINVAL;
    }
    const struct collector_type *emf = registry_find_collector("emf");
    const char *key;
    json_t *value;
    json_object_foreach(mc, key, value)
    {
        char path[1024];
        cfg_path_join(path, sizeof(path), "logs/metrics_collected", key);
        if (!emf || (strcmp(key, "emf") != 0 && strcmp(key, "structuredlog") != 0)) {
            cfg_error_at(errs, &s->doc, path, true,
                         "logs plugin '%s' is not supported by this build (supported: emf, "
                         "structuredlog)",
                         key);
            ret = -EINVAL;
            continue;
        }
        int r = create_one_collector(s, emf, emf->name, path, value, errs);
        if (r == -ENOMEM)
            return r;
        if (r != 0)
            ret = -EINVAL;
        else
            logs->n_collectors++;
    }
    return ret;
}

/* The CloudWatch agent's own keys for the cloudwatch_logs sink (logs.endpoint_override,
 * logs.force_flush_interval), added unless the sink sets them itself. A new reference. */
static json_t *cloudwatch_logs_sink_config(const struct logs_section *logs, const json_t *config)
{
    json_t *merged = config ? json_deep_copy(config) : json_object();
    if (!merged || !json_is_object(merged))
        return merged;
    if (logs->endpoint_override && !json_object_get(merged, "endpoint"))
        json_object_set_new(merged, "endpoint", json_string(logs->endpoint_override));
    if (logs->force_flush_interval_ns && !json_object_get(merged, "force_flush_interval"))
        json_object_set_new(merged, "force_flush_interval",
                            json_real((double)logs->force_flush_interval_ns / 1e9));
    if (logs->log_groups && json_object_size(logs->log_groups) &&
        !json_object_get(merged, "log_groups"))
        json_object_set(merged, "log_groups", logs->log_groups);
    return merged;
}

/* EMF metric points (RECORD_FLAG_LOCAL_ONLY) only serve local sinks; the cloudwatch sink
 * skips them. When no other sink takes metrics, the logs section's collectors do not
 * produce them at all. */
static void narrow_logs_collectors(struct settings *s)
{
    bool metrics_taken = false;
    for (size_t j = 0; j < s->n_exporters; j++)
        metrics_taken |= (s->exporters[j]->kinds & RECORD_KIND_BIT(RECORD_METRIC)) != 0 &&
                         strcmp(s->exporters[j]->type->name, "cloudwatch") != 0;
    for (size_t i = 0; i < s->n_collectors && !metrics_taken; i++)
        if (strncmp(s->collectors[i]->type->config_path, "logs/metrics_collected/", 23) == 0)
            s->collectors[i]->kinds &= ~RECORD_KIND_BIT(RECORD_METRIC);
}

/* ---- traces ------------------------------------------------------------------------ */

static const struct cfg_field traces_fields[] = {
    {"traces_collected", CFG_JSON, offsetof(struct traces_section, traces_collected), NULL, 0, 0,
     NULL, 0, "one object per trace receiver: \"xray\" (UDP + sampling proxy), \"otlp\""},
    {"endpoint_override", CFG_STRING, offsetof(struct traces_section, endpoint_override), NULL, 0,
     0, NULL, 0, "X-Ray endpoint for segments and the sampling proxy"},
    {"region_override", CFG_STRING, offsetof(struct traces_section, region_override), NULL, 0, 0,
     NULL, 0, "region of the X-Ray endpoint (default agent.region)"},
    {"proxy_override", CFG_STRING, offsetof(struct traces_section, proxy_override), NULL, 0, 0,
     NULL, 0, "HTTP proxy URL for X-Ray requests (default: HTTPS_PROXY and friends)"},
    {"local_mode", CFG_BOOL, offsetof(struct traces_section, local_mode), "false", 0, 0, NULL, 0,
     "accepted: Osprey makes no EC2/ECS metadata lookups for traces in any mode"},
    {"insecure", CFG_BOOL, offsetof(struct traces_section, insecure), "false", 0, 0, NULL, 0,
     "do not verify the X-Ray endpoint's TLS certificate"},
    {"buffer_size_mb", CFG_INT, offsetof(struct traces_section, buffer_size_mb), "0", 0, 1 << 20,
     NULL, 0,
     "memory for segments waiting to be sent, counted in 64 KiB buffers as the daemon does "
     "(sizes the xray sink's queued batches; the ring holds the rest)"},
    {"concurrency", CFG_INT, offsetof(struct traces_section, concurrency), "0", 0, 64, NULL, 0,
     "PutTraceSegments calls in flight at once (default 8)"},
    {"credentials", CFG_JSON, offsetof(struct traces_section, credentials), NULL, 0, 0, NULL, 0,
     "{\"role_arn\": ...}"},
    {"resource_arn", CFG_STRING, 0, NULL, 0, 0, NULL, CFG_UNSUPPORTED,
     "only labels PutTelemetryRecords, which Osprey does not send"},
    CFG_END,
};

static const struct cfg_field traces_credentials_fields[] = {
    {"role_arn", CFG_STRING, offsetof(struct traces_section, role_arn), NULL, 0, 0, NULL, 0,
     "role to assume for X-Ray (the one credentials chain is shared: it must equal "
     "agent.credentials.role_arn when both are set)"},
    CFG_END,
};

#define TRACES_COLLECTED       "traces/traces_collected/"
#define XRAY_DEFAULT_TCP_PROXY "127.0.0.1:2000"

static int bind_traces(struct settings *s, const json_t *traces, struct cfg_errors *errs)
{
    if (!traces)
        return 0;
    int ret = cfg_bind(&s->doc, traces, "traces",
                       (struct cfg_binding[]){{traces_fields, &s->traces}}, 1, errs);
    if (ret == -ENOMEM)
        return ret;
    int r = cfg_bind(&s->doc, s->traces.credentials, "traces/credentials",
                     (struct cfg_binding[]){{traces_credentials_fields, &s->traces}}, 1, errs);
    if (r != 0)
        ret = r;
    json_t *tc = s->traces.traces_collected;
    if (tc && !json_is_object(tc)) {
        cfg_error_at(errs, &s->doc, "traces/traces_collected", false,
                     "'traces_collected' must be an object, got %s", cfg_json_type_name(tc));
        return -EINVAL;
    }
    /* The receivers are created with the other collectors (by config_path); here unknown
     * ones are reported, with the list of those this build has. */
    const char *key;
    json_t *value;
    json_object_foreach(tc, key, value)
    {
        char path[1024];
        cfg_path_join(path, sizeof(path), "traces/traces_collected", key);
        bool known = false;
        for (size_t i = 0; i < registry_n_collectors && !known; i++)
            known = strcmp(registry_collectors[i]->config_path, path) == 0;
        if (!known) {
            char names[512];
            supported_collectors(TRACES_COLLECTED, names, sizeof(names));
            cfg_error_at(errs, &s->doc, path, true,
                         "trace receiver '%s' is not supported by this build (supported: %s)", key,
                         names);
            ret = -EINVAL;
        }
    }
    return ret;
}

/* After bind_credentials: traces.credentials.role_arn names the role of the credentials
 * chain every AWS sink shares. */
static int bind_traces_role(struct settings *s, struct cfg_errors *errs)
{
    const char *role = s->traces.role_arn;
    if (!role)
        return 0;
    if (s->creds.role_arn && strcmp(s->creds.role_arn, role) != 0) {
        cfg_error_at(errs, &s->doc, "traces/credentials/role_arn", false,
                     "a role for traces alone is not supported: every AWS sink shares one "
                     "credentials chain; set the same role in agent.credentials.role_arn, or "
                     "remove one of them");
        return -EINVAL;
    }
    s->creds_opts.role_arn = role;
    return 0;
}

static bool traces_collected_any(const struct settings *s)
{
    return s->traces.traces_collected && json_object_size(s->traces.traces_collected) > 0;
}

/* traces.traces_collected.xray.tcp_proxy.bind_address, its default when the xray
 * receiver is configured, or NULL. */
static const char *xray_tcp_proxy_address(const struct settings *s)
{
    json_t *xray =
        s->traces.traces_collected ? json_object_get(s->traces.traces_collected, "xray") : NULL;
    if (!json_is_object(xray))
        return NULL;
    json_t *addr = json_object_get(json_object_get(xray, "tcp_proxy"), "bind_address");
    return json_is_string(addr) ? json_string_value(addr) : XRAY_DEFAULT_TCP_PROXY;
}

static void set_default(json_t *obj, const char *key, json_t *value)
{
    if (!value)
        return;
    if (json_object_get(obj, key))
        json_decref(value);
    else
        json_object_set_new(obj, key, value);
}

/* The CloudWatch agent's traces keys for the xray sink, added to its configuration unless
 * it sets them itself. A new reference. */
static json_t *xray_sink_config(const struct settings *s, const json_t *config)
{
    json_t *merged = config ? json_deep_copy(config) : json_object();
    if (!merged || !json_is_object(merged))
        return merged;
    const struct traces_section *t = &s->traces;
    if (t->endpoint_override)
        set_default(merged, "endpoint", json_string(t->endpoint_override));
    if (t->region_override)
        set_default(merged, "region", json_string(t->region_override));
    if (t->proxy_override)
        set_default(merged, "proxy", json_string(t->proxy_override));
    if (t->insecure)
        set_default(merged, "verify_tls", json_false());
    if (t->concurrency)
        set_default(merged, "max_in_flight", json_integer(t->concurrency));
    if (t->buffer_size_mb) {
        /* The daemon's buffers are 64 KiB (16 per MB); a batch holds up to 50 of them. */
        json_int_t batches = (json_int_t)((t->buffer_size_mb * 16 + 49) / 50);
        set_default(merged, "max_queued_batches",
                    json_integer(batches < 4     ? 4
                                 : batches > 256 ? 256
                                                 : batches));
    }
    const char *proxy = xray_tcp_proxy_address(s);
    if (proxy)
        set_default(merged, "sampling_proxy", json_string(proxy));
    return merged;
}

/* ---- sinks ------------------------------------------------------------------------- */

/* osprey.sinks lists the destinations. Without it, Osprey does what the CloudWatch agent
 * does: collected metrics go to CloudWatch, collected logs to CloudWatch Logs. */
/* osprey.alarms: one `alarms` sink that sees every metric point. */
static int create_alarms_sink(struct settings *s, struct cfg_errors *errs)
{
    if (!s->osprey.alarms)
        return 0;
    json_t *opts = s->osprey.alarm_settings;
    if (opts && !json_is_object(opts)) {
        cfg_error_at(errs, &s->doc, "osprey/alarm_settings", false,
                     "'alarm_settings' must be an object, got %s", cfg_json_type_name(opts));
        return -EINVAL;
    }
    json_t *config = opts ? json_deep_copy(opts) : json_object();
    if (!config || json_object_set(config, "alarms", s->osprey.alarms) != 0) {
        json_decref(config);
        return -ENOMEM;
    }
    const struct exporter_type *type = registry_find_exporter("alarms");
    int r = type ? create_sink(s, type, "osprey/alarms", config, errs) : -ENOENT;
    json_decref(config);
    return r;
}

static int create_sinks(struct settings *s, const struct logs_section *logs,
                        struct cfg_errors *errs)
{
    json_t *sinks = s->osprey.sinks;
    if (!sinks) {
        int ret = 0;
        if (s->metrics.metrics_collected && json_object_size(s->metrics.metrics_collected)) {
            const struct exporter_type *type = registry_find_exporter("cloudwatch");
            json_t *config = cloudwatch_sink_config(s, NULL);
            int r = type && config ? create_sink(s, type, "metrics", config, errs) : -ENOMEM;
            if (config)
                json_decref(config);
            if (r == -ENOMEM)
                return r;
            if (r != 0)
                ret = r;
        }
        if (logs->n_collectors) {
            const struct exporter_type *type = registry_find_exporter("cloudwatch_logs");
            json_t *config = cloudwatch_logs_sink_config(logs, NULL);
            int r = type && config ? create_sink(s, type, "logs", config, errs) : -ENOMEM;
            if (config)
                json_decref(config);
            if (r != 0)
                ret = r;
        }
        if (traces_collected_any(s)) {
            const struct exporter_type *type = registry_find_exporter("xray");
            json_t *config = xray_sink_config(s, NULL);
            int r = type && config ? create_sink(s, type, "traces", config, errs) : -ENOMEM;
            if (config)
                json_decref(config);
            if (r != 0)
                ret = r;
        }
        return ret;
    }
    if (!json_is_object(sinks)) {
        cfg_error_at(errs, &s->doc, "osprey/sinks", false, "'sinks' must be an object, got %s",
                     cfg_json_type_name(sinks));
        return -EINVAL;
    }
    int ret = 0;
    const char *key;
    json_t *value;
    json_object_foreach(sinks, key, value)
    {
        char path[1024];
        cfg_path_join(path, sizeof(path), "osprey/sinks", key);
        const struct exporter_type *type = registry_find_exporter(key);
        if (!type) {
            char known[512] = "";
            size_t n = 0;
            for (size_t i = 0; i < registry_n_exporters && n < sizeof(known); i++)
                n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s", i ? ", " : "",
                                      registry_exporters[i]->name);
            cfg_error_at(errs, &s->doc, path, true, "unknown sink '%s' (known sinks: %s)", key,
                         known);
            ret = -EINVAL;
            continue;
        }
        json_t *config = strcmp(key, "cloudwatch") == 0 && json_is_object(value)
                             ? cloudwatch_sink_config(s, value)
                         : strcmp(key, "cloudwatch_logs") == 0 && json_is_object(value)
                             ? cloudwatch_logs_sink_config(logs, value)
                         : strcmp(key, "xray") == 0 && json_is_object(value)
                             ? xray_sink_config(s, value)
                             : json_incref(value);
        int r = config ? create_sink(s, type, path, config, errs) : -ENOMEM;
        if (config)
            json_decref(config);
        if (r == -ENOMEM)
            return r;
        if (r != 0)
            ret = -EINVAL;
    }
    return ret;
}

/* Every collector needs at least one destination for what it produces. */
static int check_routes(struct settings *s, struct cfg_errors *errs)
{
    int ret = 0;
    for (size_t i = 0; i < s->n_collectors; i++) {
        struct collector *c = s->collectors[i];
        c->n_consumers = 0;
        for (size_t j = 0; j < s->n_exporters; j++)
            if (s->exporters[j]->kinds & c->kinds)
                c->n_consumers++;
        if (c->n_consumers == 0) {
            cfg_error_at(errs, &s->doc, c->type->config_path, true,
                         "'%s' has no destination: no sink takes what it produces (add one "
                         "under osprey.sinks, e.g. \"file\": {})",
                         c->name);
            ret = -EINVAL;
        }
    }
    return ret;
}

/* The CloudWatch agent accepts exactly these four global append_dimensions. */
static const char *const global_dimension_keys[][2] = {
    {"ImageId", "${aws:ImageId}"},
    {"InstanceId", "${aws:InstanceId}"},
    {"InstanceType", "${aws:InstanceType}"},
    {"AutoScalingGroupName", "${aws:AutoScalingGroupName}"},
};

static int bind_metric_dimensions(struct settings *s, struct cfg_errors *errs)
{
    int ret = 0;
    json_t *ad = s->metrics.append_dimensions;
    if (ad && !json_is_object(ad)) {
        cfg_error_at(errs, &s->doc, "metrics/append_dimensions", false,
                     "'append_dimensions' must be an object, got %s", cfg_json_type_name(ad));
        ret = -EINVAL;
    } else if (ad) {
        const char *key;
        json_t *v;
        json_object_foreach(ad, key, v)
        {
            char path[1024];
            cfg_path_join(path, sizeof(path), "metrics/append_dimensions", key);
            size_t k = 0, n_keys = sizeof(global_dimension_keys) / sizeof(global_dimension_keys[0]);
            while (k < n_keys && strcmp(global_dimension_keys[k][0], key) != 0)
                k++;
            if (k == n_keys) {
                cfg_error_at(errs, &s->doc, path, true,
                             "unknown global dimension '%s' (the CloudWatch agent allows ImageId, "
                             "InstanceId, InstanceType, AutoScalingGroupName; other dimensions go "
                             "in a plugin's append_dimensions)",
                             key);
                ret = -EINVAL;
            } else if (!json_is_string(v) ||
                       strcmp(json_string_value(v), global_dimension_keys[k][1]) != 0) {
                cfg_error_at(errs, &s->doc, path, false, "'%s' must be \"%s\"", key,
                             global_dimension_keys[k][1]);
                ret = -EINVAL;
            } else if (s->n_append_dims < METRIC_MAX_DIMS) {
                s->append_dims[s->n_append_dims++] =
                    (struct metric_dim){global_dimension_keys[k][0], global_dimension_keys[k][1]};
            }
        }
    }

    json_t *agg = s->metrics.aggregation_dimensions;
    if (!agg)
        return ret;
    if (!json_is_array(agg)) {
        cfg_error_at(
            errs, &s->doc, "metrics/aggregation_dimensions", false,
            "'aggregation_dimensions' must be an array of arrays of dimension names, got %s",
            cfg_json_type_name(agg));
        return -EINVAL;
    }
    s->aggregation = calloc(json_array_size(agg) + 1, sizeof(*s->aggregation));
    if (!s->aggregation)
        return -ENOMEM;
    size_t i;
    json_t *set;
    json_array_foreach(agg, i, set)
    {
        char path[1024];
        cfg_path_index(path, sizeof(path), "metrics/aggregation_dimensions", i);
        if (!json_is_array(set) || json_array_size(set) > METRIC_MAX_DIMS) {
            cfg_error_at(errs, &s->doc, path, false,
                         "each aggregation must be an array of at most %d dimension names",
                         METRIC_MAX_DIMS);
            ret = -EINVAL;
            continue;
        }
        struct metric_dim_set *d = &s->aggregation[s->n_aggregation];
        size_t j;
        json_t *name;
        bool ok = true;
        json_array_foreach(set, j, name)
        {
            if (!json_is_string(name) || !json_string_length(name)) {
                char npath[1024];
                cfg_path_index(npath, sizeof(npath), path, j);
                cfg_error_at(errs, &s->doc, npath, false,
                             "a dimension name must be a non-empty string");
                ok = false;
                continue;
            }
            d->names[d->n++] = json_string_value(name);
        }
        if (ok)
            s->n_aggregation++;
        else
            ret = -EINVAL;
    }
    return ret;
}

/* Log group and stream names resolve {instance_id} (the default stream is the instance
 * id) and {aws_region} (without agent.region) from the metadata. */
static bool logs_need_instance_meta(const struct settings *s)
{
    json_t *list = doc_lookup(s->doc.root, "logs/logs_collected/files/collect_list");
    const char *stream_default = s->env.default_log_stream_name;
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *e = json_array_get(list, i);
        const char *names[2] = {json_string_value(json_object_get(e, "log_group_name")),
                                json_string_value(json_object_get(e, "log_stream_name"))};
        if (!names[1])
            names[1] = stream_default;
        if (!names[1] || !names[1][0])
            return true;
        for (size_t k = 0; k < 2; k++)
            if (names[k] && (strstr(names[k], "{instance_id}") ||
                             (strstr(names[k], "{aws_region}") && !s->env.region)))
                return true;
    }
    return false;
}

/* Whether any metric dimension value (or log name) needs EC2 instance metadata. */
bool settings_need_instance_meta(const struct settings *s)
{
    if (logs_need_instance_meta(s))
        return true;
    if (!s->env.region) {
        for (size_t i = 0; i < s->n_exporters; i++)
            if (s->exporters[i]->type->extra_fields == aws_connection_fields)
                return true; /* the region of an AWS sink */
    }
    if (s->n_append_dims)
        return true;
    for (size_t i = 0; i < s->n_collectors; i++) {
        json_t *ad = s->collectors[i]->metric.append_dimensions;
        const char *key;
        json_t *v;
        if (!ad)
            continue;
        json_object_foreach(ad, key, v)
        {
            if (json_is_string(v) && strncmp(json_string_value(v), "${aws:", 6) == 0)
                return true;
        }
    }
    return false;
}

static int check_osprey(struct settings *s, struct cfg_errors *errs)
{
    int64_t rb = s->osprey.ring_bytes;
    if (rb & (rb - 1)) {
        cfg_error_at(errs, &s->doc, "osprey/ring_bytes", false,
                     "'ring_bytes' must be a power of two, got %lld", (long long)rb);
        return -EINVAL;
    }
    return 0;
}

/* agent.region, else the AWS SDKs' variables (as the credentials chain and `osprey
 * xray-daemon` read them), so a packaged configuration without a region works where
 * systemd's EnvironmentFile= or the container sets AWS_REGION. NULL when none is set. */
static const char *settings_region(const struct settings *s)
{
    const char *names[] = {"AWS_REGION", "AWS_DEFAULT_REGION"};
    const char *region = s->agent.region;
    for (size_t i = 0; i < 2 && (!region || !region[0]); i++)
        region = getenv(names[i]);
    return region && region[0] ? region : NULL;
}

static int settings_build(struct settings *s, struct cfg_errors *errs)
{
    struct top_level top = {0};
    int ret =
        cfg_bind(&s->doc, s->doc.root, "", (struct cfg_binding[]){{top_fields, &top}}, 1, errs);
    int r = cfg_bind(&s->doc, top.agent, "agent", (struct cfg_binding[]){{agent_fields, &s->agent}},
                     1, errs);
    if (r != 0)
        ret = r;
    r = cfg_bind(&s->doc, top.metrics, "metrics",
                 (struct cfg_binding[]){{metrics_fields, &s->metrics}}, 1, errs);
    if (r != 0)
        ret = r;
    r = cfg_bind(&s->doc, top.osprey, "osprey", (struct cfg_binding[]){{osprey_fields, &s->osprey}},
                 1, errs);
    if (r != 0)
        ret = r;
    r = check_osprey(s, errs);
    if (r != 0)
        ret = r;
    r = cfg_bind(&s->doc, s->osprey.health, "osprey/health",
                 (struct cfg_binding[]){{health_fields, &s->health}}, 1, errs);
    if (r != 0)
        ret = r;
    r = bind_traces(s, top.traces, errs);
    if (r != 0)
        ret = r;
    cfg_unbind(top_fields, &top);
    if (ret == -ENOMEM)
        return ret;

    if (s->osprey.hostname) {
        snprintf(s->hostname, sizeof(s->hostname), "%s", s->osprey.hostname);
    } else if (gethostname(s->hostname, sizeof(s->hostname) - 1) != 0) {
        snprintf(s->hostname, sizeof(s->hostname), "localhost");
    }
    s->env = (struct plugin_env){
        .hostname = s->hostname,
        .omit_hostname = s->agent.omit_hostname,
        .proc_root = s->osprey.proc_root,
        .state_dir = s->osprey.state_dir,
        .metrics_namespace = s->metrics.namespace_,
        .metrics_interval_ns = s->agent.metrics_collection_interval_ns,
        .region = settings_region(s),
        .region_from_instance = settings_region(s) == NULL,
        .append_dims = s->append_dims,
        .default_log_stream_name =
            json_string_value(doc_lookup(s->doc.root, "logs/log_stream_name")),
    };
    if (ret != 0)
        return ret; /* plugin keys depend on sections that failed to bind */
    r = bind_credentials(s, errs);
    if (r != 0)
        ret = r;
    r = bind_traces_role(s, errs);
    if (r != 0)
        ret = r;
    r = bind_metric_dimensions(s, errs);
    if (r == -ENOMEM)
        return r;
    if (r != 0)
        ret = r;
    s->env.n_append_dims = s->n_append_dims;
    s->env.aggregation = s->aggregation;
    s->env.n_aggregation = s->n_aggregation;

    r = create_metric_collectors(s, errs);
    if (r != 0)
        ret = r;
    r = create_other_collectors(s, errs);
    if (r != 0)
        ret = r;
    struct logs_section logs = {0};
    r = create_logs_collectors(s, &logs, errs);
    if (r == -ENOMEM) {
        json_decref(logs.log_groups);
        cfg_unbind(logs_fields, &logs);
        return r;
    }
    if (r != 0)
        ret = r;
    r = create_sinks(s, &logs, errs);
    if (r == 0)
        r = create_alarms_sink(s, errs);
    if (r != 0)
        ret = r;
    narrow_logs_collectors(s);
    json_decref(logs.log_groups);
    cfg_unbind(logs_fields, &logs);
    if (ret == 0)
        ret = check_routes(s, errs);
    return ret;
}

int settings_load_buffer(struct settings *s, const char *name, const char *text, size_t len,
                         struct cfg_errors *errs)
{
    memset(s, 0, sizeof(*s));
    int r = cfg_doc_load_buffer(&s->doc, name, text, len, errs);
    if (r != 0)
        return r;
    r = settings_build(s, errs);
    if (r != 0)
        settings_release(s);
    return r;
}

int settings_load(struct settings *s, const char *path, struct cfg_errors *errs)
{
    memset(s, 0, sizeof(*s));
    int r = cfg_doc_load_file(&s->doc, path, errs);
    if (r != 0)
        return r;
    r = settings_build(s, errs);
    if (r != 0)
        settings_release(s);
    return r;
}

void settings_release(struct settings *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_collectors; i++) {
        collector_destroy(s->collectors[i]);
        if (s->collector_configs)
            free(s->collector_configs[i]);
    }
    free(s->collectors);
    free(s->collector_configs);
    cfg_unbind(health_fields, &s->health);
    for (size_t i = 0; i < s->n_exporters; i++)
        exporter_destroy(s->exporters[i]);
    free(s->exporters);
    cfg_unbind(agent_fields, &s->agent);
    free(s->aggregation);
    s->aggregation = NULL;
    cfg_unbind(metrics_fields, &s->metrics);
    cfg_unbind(osprey_fields, &s->osprey);
    cfg_unbind(traces_fields, &s->traces);
    cfg_unbind(traces_credentials_fields, &s->traces);
    cfg_unbind(agent_credentials_fields, &s->creds);
    cfg_unbind(osprey_credentials_fields, &s->creds);
    cfg_doc_release(&s->doc);
    memset(s, 0, sizeof(*s));
}

/* A new section table belongs here too, or the reference (docs/config-reference.md) misses
 * it. */
static const struct settings_section_doc section_docs[] = {
    {"", "The top level: the CloudWatch agent's sections plus Osprey's own.", top_fields},
    {"agent", "Global settings (CloudWatch agent).", agent_fields},
    {"agent/credentials", "The role assumed on top of the credentials chain.",
     agent_credentials_fields},
    {"metrics", "Metric collection (CloudWatch agent).", metrics_fields},
    {"logs", "Log collection (CloudWatch agent).", logs_fields},
    {"traces", "Trace collection (CloudWatch agent), sent to X-Ray.", traces_fields},
    {"traces/credentials", "The role for X-Ray.", traces_credentials_fields},
    {"osprey", "Osprey's own settings.", osprey_fields},
    {"osprey/credentials", "Where the AWS credentials chain looks.", osprey_credentials_fields},
    {"osprey/health", "The local health and self-metrics endpoint (docs/operations.md).",
     health_fields},
};

const struct settings_section_doc *settings_sections(size_t *ret_n)
{
    *ret_n = sizeof(section_docs) / sizeof(section_docs[0]);
    return section_docs;
}
