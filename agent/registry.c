#include "agent/registry.h"

#include <string.h>

extern const struct collector_type collector_cpu;
extern const struct collector_type collector_mem;
extern const struct collector_type collector_net;
extern const struct collector_type collector_netstat;
extern const struct collector_type collector_processes;
extern const struct collector_type collector_generate;
extern const struct collector_type collector_xray;
extern const struct collector_type collector_procstat;
extern const struct collector_type collector_swap;
extern const struct collector_type collector_disk;
extern const struct collector_type collector_diskio;
extern const struct collector_type collector_emf;
extern const struct collector_type collector_container;
extern const struct collector_type collector_statsd;
extern const struct collector_type collector_otlp;
extern const struct collector_type collector_tail;
extern const struct exporter_type exporter_file;
extern const struct exporter_type exporter_stdout;
extern const struct exporter_type exporter_cloudwatch_logs;
extern const struct exporter_type exporter_cloudwatch;
extern const struct exporter_type exporter_xray;
extern const struct exporter_type exporter_alarms;
extern const struct exporter_type exporter_otlp;
extern const struct exporter_type exporter_null;

const struct collector_type *const registry_collectors[] = {
    &collector_cpu,       &collector_mem,      &collector_net,    &collector_netstat,
    &collector_processes, &collector_generate, &collector_xray,   &collector_procstat,
    &collector_swap,      &collector_disk,     &collector_diskio, &collector_emf,
    &collector_container, &collector_statsd,   &collector_otlp,   &collector_tail,
};
const size_t registry_n_collectors = sizeof(registry_collectors) / sizeof(registry_collectors[0]);

const struct exporter_type *const registry_exporters[] = {
    &exporter_file,       &exporter_stdout, &exporter_cloudwatch_logs,
    &exporter_cloudwatch, &exporter_xray,   &exporter_alarms,
    &exporter_otlp,       &exporter_null,
};
const size_t registry_n_exporters = sizeof(registry_exporters) / sizeof(registry_exporters[0]);

const struct collector_type *registry_find_collector(const char *name)
{
    for (size_t i = 0; i < registry_n_collectors; i++)
        if (strcmp(registry_collectors[i]->name, name) == 0)
            return registry_collectors[i];
    return NULL;
}

const struct exporter_type *registry_find_exporter(const char *name)
{
    for (size_t i = 0; i < registry_n_exporters; i++)
        if (strcmp(registry_exporters[i]->name, name) == 0)
            return registry_exporters[i];
    return NULL;
}
