/*
 * settings: the whole configuration file, turned into bound agent settings and created
 * (inited, not started) plugin instances.
 *
 * The file is a CloudWatch agent configuration — sections `agent`, `metrics`, `logs`,
 * `traces` — plus an `osprey` section for what the CloudWatch agent lacks (local sinks,
 * ring size, deadlines, state directory). Every key is either bound or reported: an
 * unknown key, a wrong type, a value out of range, a bad regex, or a CloudWatch agent key
 * this build does not implement, each as "FILE:LINE:COL: message".
 *
 * Contract: settings_load() runs on one thread before the loops start. It returns 0, or
 * -EINVAL with every problem in `errs` (and nothing left allocated), or -errno when the
 * file cannot be read. settings_release() destroys the plugin instances it still owns
 * (NULL-safe, half-built-safe).
 */
#ifndef OSPREY_SETTINGS_H
#define OSPREY_SETTINGS_H

#include "agent/config.h"
#include "agent/health.h"
#include "agent/plugin.h"
#include "collectors/collector.h"
#include "exporters/creds.h"
#include "exporters/exporter.h"

#define SETTINGS_MAX_COLLECTORS 1024
#define SETTINGS_MAX_EXPORTERS  64

struct credentials_section {
    char *role_arn;
    char *role_session_name;
    char *profile;
    char *shared_credentials_file;
    char *shared_config_file;
    char *imds_endpoint;
    char *ecs_endpoint;
    char *sts_endpoint;
};

struct agent_section {
    uint64_t metrics_collection_interval_ns;
    json_t *credentials;
    char *region;
    char *logfile;
    bool debug;
    bool quiet;
    bool omit_hostname;
    bool usage_data;
};

struct metrics_section {
    char *namespace_;
    char *endpoint_override;
    uint64_t force_flush_interval_ns;
    json_t *metrics_collected;
    json_t *append_dimensions;
    json_t *aggregation_dimensions;
};

struct osprey_section {
    int64_t ring_bytes;
    uint64_t shutdown_deadline_ns;
    uint64_t flush_interval_ns;
    uint64_t summary_interval_ns;
    char *proc_root;
    char *state_dir;
    char *hostname;
    int log_level;
    json_t *sinks;
    json_t *generate;
    json_t *alarms;
    json_t *alarm_settings;
    json_t *credentials;
    json_t *health; /* bound into settings.health */
};

/* The CloudWatch agent's `traces` section (PROTOCOLS.md 4.7). */
struct traces_section {
    json_t *traces_collected;
    char *endpoint_override;
    char *region_override;
    char *proxy_override;
    bool local_mode;
    bool insecure;
    int64_t buffer_size_mb; /* 0 = not set */
    int64_t concurrency;    /* 0 = not set */
    json_t *credentials;
    char *role_arn; /* traces.credentials.role_arn */
};

struct settings {
    struct cfg_doc doc;
    struct agent_section agent;
    struct metrics_section metrics;
    struct osprey_section osprey;
    struct traces_section traces;
    char hostname[256];
    struct credentials_section creds;
    struct creds_options creds_opts;
    struct health_config health;                    /* osprey.health */
    struct metric_dim append_dims[METRIC_MAX_DIMS]; /* metrics.append_dimensions */
    size_t n_append_dims;
    struct metric_dim_set *aggregation; /* metrics.aggregation_dimensions */
    size_t n_aggregation;
    struct plugin_env env;
    struct collector **collectors;
    char **collector_configs; /* parallel to collectors: settings_collector_config() */
    size_t n_collectors;
    struct exporter **exporters;
    size_t n_exporters;
};

int settings_load(struct settings *s, const char *path, struct cfg_errors *errs);
int settings_load_buffer(struct settings *s, const char *name, const char *text, size_t len,
                         struct cfg_errors *errs);
void settings_release(struct settings *s);
/* Canonical text of collector i's configuration subtree (JSON, keys sorted), recorded when
 * it was created, or NULL; reload compares it to tell unchanged collectors. */
const char *settings_collector_config(const struct settings *s, size_t i);
/* Whether a dimension value ("${aws:InstanceId}") needs EC2 instance metadata. */
bool settings_need_instance_meta(const struct settings *s);

/* One section of the file and its key table (read-only), for the generated configuration
 * reference (agent/config_doc.h). `path` is the section's place in the file ("" for the
 * top level, "agent/credentials"). */
struct settings_section_doc {
    const char *path;
    const char *help;
    const struct cfg_field *fields;
};

/* Every section table, in the order the reference lists them; *ret_n gets their count. */
const struct settings_section_doc *settings_sections(size_t *ret_n);

#endif
