/*
 * Fuzz target: emf_validate() on one line, and on what it accepts, the invariants the
 * listener relies on when it walks the document without checking it again.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/emf_validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_metric(const struct emf_doc *doc, size_t d, size_t i)
{
    struct emf_metric m;
    emf_metric_get(doc, d, i, &m);
    if (!m.namespace_ || !m.name || !m.namespace_[0] || strlen(m.name) > EMF_MAX_NAME)
        abort();
    if ((unsigned)m.unit >= METRIC_UNIT_MAX)
        abort();
    if (m.storage_resolution != 1 && m.storage_resolution != 60)
        abort();
    if (json_is_array(m.value)) {
        size_t n = json_array_size(m.value);
        if (n == 0 || n > EMF_MAX_VALUES)
            abort();
        for (size_t k = 0; k < n; k++)
            if (!json_is_number(json_array_get(m.value, k)))
                abort();
    } else if (!json_is_number(m.value) || !isfinite(json_number_value(m.value))) {
        abort();
    }
    for (size_t s = 0; s < json_array_size(m.dimensions); s++) {
        json_t *set = json_array_get(m.dimensions, s);
        if (!json_is_array(set) || json_array_size(set) > EMF_MAX_DIMENSION_KEYS)
            abort();
        for (size_t k = 0; k < json_array_size(set); k++) {
            const char *key = json_string_value(json_array_get(set, k));
            if (!key || !json_is_string(json_object_get(doc->root, key)))
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct emf_doc doc;
    enum emf_reject why = EMF_REJECT_MAX;
    int r = emf_validate(data, size, &doc, &why);
    if (r != 0) {
        if (r != -EINVAL || why >= EMF_REJECT_LINE_TOO_LONG)
            abort();
        return 0;
    }
    if (!doc.log_group || !doc.log_group[0] || strlen(doc.log_group) > EMF_MAX_LOG_NAME)
        abort();
    if (doc.log_stream && (!doc.log_stream[0] || strpbrk(doc.log_stream, ":*")))
        abort();
    if (!(doc.timestamp_ms >= 0) || !json_is_array(doc.directives))
        abort();
    for (size_t d = 0; d < json_array_size(doc.directives); d++) {
        json_t *metrics = json_object_get(json_array_get(doc.directives, d), "Metrics");
        if (json_array_size(metrics) > EMF_MAX_METRICS)
            abort();
        for (size_t i = 0; i < json_array_size(metrics); i++)
            check_metric(&doc, d, i);
    }
    emf_doc_release(&doc);
    return 0;
}
