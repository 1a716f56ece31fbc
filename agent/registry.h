/*
 * registry: the one static table of plugin types compiled into this build.
 * Read-only after start-up; any thread may read it.
 */
#ifndef OSPREY_REGISTRY_H
#define OSPREY_REGISTRY_H

#include <stddef.h>

#include "collectors/collector.h"
#include "exporters/exporter.h"

extern const struct collector_type *const registry_collectors[];
extern const size_t registry_n_collectors;
extern const struct exporter_type *const registry_exporters[];
extern const size_t registry_n_exporters;

const struct collector_type *registry_find_collector(const char *name);
const struct exporter_type *registry_find_exporter(const char *name);

#endif
