#include "collectors/emf_validate.h"

#include <errno.h>
#include <string.h>

const char *const emf_reject_names[EMF_REJECT_MAX + 1] = {
    [EMF_REJECT_NOT_JSON] = "not_json",
    [EMF_REJECT_NOT_OBJECT] = "not_object",
    [EMF_REJECT_NO_AWS] = "no_aws",
    [EMF_REJECT_BAD_TIMESTAMP] = "bad_timestamp",
    [EMF_REJECT_NO_DIRECTIVES] = "no_cloudwatch_metrics",
    [EMF_REJECT_BAD_DIRECTIVE] = "bad_directive",
    [EMF_REJECT_BAD_NAMESPACE] = "bad_namespace",
    [EMF_REJECT_BAD_DIMENSIONS] = "bad_dimensions",
    [EMF_REJECT_TOO_MANY_DIMENSIONS] = "too_many_dimensions",
    [EMF_REJECT_BAD_DIMENSION_VALUE] = "bad_dimension_value",
    [EMF_REJECT_DIMENSION_VALUE_LONG] = "dimension_value_too_long",
    [EMF_REJECT_BAD_METRICS] = "bad_metrics",
    [EMF_REJECT_TOO_MANY_METRICS] = "too_many_metrics",
    [EMF_REJECT_BAD_METRIC] = "bad_metric",
    [EMF_REJECT_BAD_UNIT] = "bad_unit",
    [EMF_REJECT_BAD_STORAGE_RESOLUTION] = "bad_storage_resolution",
    [EMF_REJECT_BAD_METRIC_VALUE] = "bad_metric_value",
    [EMF_REJECT_TOO_MANY_VALUES] = "too_many_values",
    [EMF_REJECT_NO_LOG_GROUP] = "no_log_group",
    [EMF_REJECT_BAD_LOG_GROUP] = "bad_log_group",
    [EMF_REJECT_BAD_LOG_STREAM] = "bad_log_stream",
    [EMF_REJECT_LINE_TOO_LONG] = "line_too_long",
    [EMF_REJECT_TCP_REFUSED] = "tcp_refused",
    [EMF_REJECT_MAX] = NULL,
};

_Static_assert(EMF_REJECT_MAX <= 24, "emf reasons must fit SELFSTATS_REJECT_MAX");

/* Characters, not bytes: jansson only yields valid UTF-8, so counting the bytes that do
 * not continue a sequence counts code points. */
static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static bool name_ok(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) >= 1 && json_string_length(v) <= EMF_MAX_NAME;
}

static bool group_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > EMF_MAX_LOG_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == '/' || c == '#'))
            return false;
    }
    return true;
}

static bool stream_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > EMF_MAX_LOG_NAME)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ':' || s[i] == '*')
            return false;
    return true;
}

static int check_dimensions(json_t *root, json_t *dims, enum emf_reject *why)
{
    size_t i;
    json_t *set;
    if (!json_is_array(dims)) {
        *why = EMF_REJECT_BAD_DIMENSIONS;
        return -EINVAL;
    }
    json_array_foreach(dims, i, set)
    {
        if (!json_is_array(set)) {
            *why = EMF_REJECT_BAD_DIMENSIONS;
            return -EINVAL;
        }
        if (json_array_size(set) > EMF_MAX_DIMENSION_KEYS) {
            *why = EMF_REJECT_TOO_MANY_DIMENSIONS;
            return -EINVAL;
        }
        size_t j;
        json_t *key;
        json_array_foreach(set, j, key)
        {
            if (!name_ok(key)) {
                *why = EMF_REJECT_BAD_DIMENSIONS;
                return -EINVAL;
            }
            json_t *value = json_object_get(root, json_string_value(key));
            if (!json_is_string(value)) {
                *why = EMF_REJECT_BAD_DIMENSION_VALUE;
                return -EINVAL;
            }
            if (utf8_chars(json_string_value(value), json_string_length(value)) >
                EMF_MAX_DIMENSION_VALUE) {
                *why = EMF_REJECT_DIMENSION_VALUE_LONG;
                return -EINVAL;
            }
        }
    }
    return 0;
}

static int check_value(const json_t *v, enum emf_reject *why)
{
    if (json_is_number(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) == 0) {
        *why = EMF_REJECT_BAD_METRIC_VALUE;
        return -EINVAL;
    }
    if (json_array_size(v) > EMF_MAX_VALUES) {
        *why = EMF_REJECT_TOO_MANY_VALUES;
        return -EINVAL;
    }
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
    {
        if (!json_is_number(x)) {
            *why = EMF_REJECT_BAD_METRIC_VALUE;
            return -EINVAL;
        }
    }
    return 0;
}

/* Unit and StorageResolution of a metric definition, defaults applied. */
static int metric_attributes(const json_t *m, enum metric_unit *unit, uint8_t *resolution,
                             enum emf_reject *why)
{
    json_t *u = json_object_get(m, "Unit");
    json_t *sr = json_object_get(m, "StorageResolution");
    *unit = METRIC_UNIT_NONE;
    *resolution = 60;
    if (u && (!json_is_string(u) || metric_unit_parse(json_string_value(u), unit) != 0)) {
        *why = EMF_REJECT_BAD_UNIT;
        return -EINVAL;
    }
    if (sr) {
        double r = json_is_number(sr) ? json_number_value(sr) : 0;
        if (r != 1 && r != 60) {
            *why = EMF_REJECT_BAD_STORAGE_RESOLUTION;
            return -EINVAL;
        }
        *resolution = (uint8_t)r;
    }
    return 0;
}

static int check_metrics(json_t *root, json_t *metrics, enum emf_reject *why)
{
    if (!json_is_array(metrics)) {
        *why = EMF_REJECT_BAD_METRICS;
        return -EINVAL;
    }
    if (json_array_size(metrics) > EMF_MAX_METRICS) {
        *why = EMF_REJECT_TOO_MANY_METRICS;
        return -EINVAL;
    }
    size_t i;
    json_t *m;
    json_array_foreach(metrics, i, m)
    {
        if (!json_is_object(m) || !name_ok(json_object_get(m, "Name"))) {
            *why = EMF_REJECT_BAD_METRIC;
            return -EINVAL;
        }
        enum metric_unit unit;
        uint8_t resolution;
        if (metric_attributes(m, &unit, &resolution, why) != 0)
            return -EINVAL;
        json_t *value = json_object_get(root, json_string_value(json_object_get(m, "Name")));
        if (check_value(value, why) != 0)
            return -EINVAL;
    }
    return 0;
}

static int check_directives(json_t *root, json_t *directives, enum emf_reject *why)
{
    size_t i;
    json_t *d;
    json_array_foreach(directives, i, d)
    {
        if (!json_is_object(d)) {
            *why = EMF_REJECT_BAD_DIRECTIVE;
            return -EINVAL;
        }
        if (!name_ok(json_object_get(d, "Namespace"))) {
            *why = EMF_REJECT_BAD_NAMESPACE;
            return -EINVAL;
        }
        if (check_dimensions(root, json_object_get(d, "Dimensions"), why) != 0)
            return -EINVAL;
        if (check_metrics(root, json_object_get(d, "Metrics"), why) != 0)
            return -EINVAL;
    }
    return 0;
}

/* _aws.<key>, else the legacy top-level <legacy>: 0 with *ret (NULL when neither is
 * there), or -EINVAL when the member is there but not a string. */
static int routing_name(json_t *root, json_t *aws, const char *key, const char *legacy,
                        json_t **ret)
{
    json_t *v = json_object_get(aws, key);
    if (!v)
        v = json_object_get(root, legacy);
    *ret = v;
    return !v || json_is_string(v) ? 0 : -EINVAL;
}

int emf_validate(const uint8_t *line, size_t len, struct emf_doc *ret_doc,
                 enum emf_reject *ret_reason)
{
    enum emf_reject why = EMF_REJECT_NOT_JSON;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)line, len, 0, &jerr);
    if (!root)
        goto fail;
    if (!json_is_object(root)) {
        why = EMF_REJECT_NOT_OBJECT;
        goto fail;
    }
    json_t *aws = json_object_get(root, "_aws");
    if (!json_is_object(aws)) {
        why = EMF_REJECT_NO_AWS;
        goto fail;
    }
    json_t *ts = json_object_get(aws, "Timestamp");
    if (!json_is_number(ts) || json_number_value(ts) < 0) {
        why = EMF_REJECT_BAD_TIMESTAMP;
        goto fail;
    }
    json_t *directives = json_object_get(aws, "CloudWatchMetrics");
    if (!json_is_array(directives)) {
        why = EMF_REJECT_NO_DIRECTIVES;
        goto fail;
    }
    if (check_directives(root, directives, &why) != 0)
        goto fail;

    json_t *group, *stream;
    if (routing_name(root, aws, "LogGroupName", "log_group_name", &group) != 0) {
        why = EMF_REJECT_BAD_LOG_GROUP;
        goto fail;
    }
    if (!group) {
        why = EMF_REJECT_NO_LOG_GROUP;
        goto fail;
    }
    if (!group_name_ok(json_string_value(group), json_string_length(group))) {
        why = EMF_REJECT_BAD_LOG_GROUP;
        goto fail;
    }
    if (routing_name(root, aws, "LogStreamName", "log_stream_name", &stream) != 0 ||
        (stream && !stream_name_ok(json_string_value(stream), json_string_length(stream)))) {
        why = EMF_REJECT_BAD_LOG_STREAM;
        goto fail;
    }

    *ret_doc = (struct emf_doc){
        .root = root,
        .log_group = json_string_value(group),
        .log_stream = stream ? json_string_value(stream) : NULL,
        .timestamp_ms = json_number_value(ts),
        .directives = directives,
    };
    return 0;

fail:
    if (root)
        json_decref(root);
    *ret_reason = why;
    return -EINVAL;
}

void emf_doc_release(struct emf_doc *doc)
{
    if (!doc)
        return;
    if (doc->root)
        json_decref(doc->root);
    memset(doc, 0, sizeof(*doc));
}

void emf_metric_get(const struct emf_doc *doc, size_t d, size_t i, struct emf_metric *ret)
{
    json_t *dir = json_array_get(doc->directives, d);
    json_t *m = json_array_get(json_object_get(dir, "Metrics"), i);
    enum emf_reject unused;
    *ret = (struct emf_metric){
        .namespace_ = json_string_value(json_object_get(dir, "Namespace")),
        .name = json_string_value(json_object_get(m, "Name")),
        .dimensions = json_object_get(dir, "Dimensions"),
    };
    (void)metric_attributes(m, &ret->unit, &ret->storage_resolution, &unused);
    ret->value = json_object_get(doc->root, ret->name);
}
