#include "agent/registry.h"

#include <string.h>

extern const struct collector_type collector_cpu;
extern const struct collector_type collector_mem;
extern const struct collector_type collector_generate;
extern const struct exporter_type exporter_file;
extern const struct exporter_type exporter_stdout;
extern const struct exporter_type exporter_cloudwatch_logs;
extern const struct exporter_type exporter_cloudwatch;
extern const struct exporter_type exporter_xray;

const struct collector_type *const registry_collectors[] = {
    &collector_cpu,
    &collector_mem,
    &collector_generate,
};
const size_t registry_n_collectors = sizeof(registry_collectors) / sizeof(registry_collectors[0]);

const struct exporter_type *const registry_exporters[] = {
    &exporter_file,       &exporter_stdout, &exporter_cloudwatch_logs,
    &exporter_cloudwatch, &exporter_xray,
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
