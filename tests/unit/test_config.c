/*
 * Config: field binding (types, bounds, enums, regexes, unknown keys, defaults) and the
 * whole-file settings loader, with one bad file per error class and its exact
 * FILE:LINE:COL.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/config.h"
#include "agent/settings.h"

#define CONFIG_DIR OSPREY_TEST_DATA "/config/"

/* Does some error start with "<file>:<line>:<col>: " and contain `needle`? */
static bool has_error(const struct cfg_errors *errs, const char *file, unsigned line, unsigned col,
                      const char *needle)
{
    char prefix[1100]; /* the longest file name the callers build, 1023, and the position */
    snprintf(prefix, sizeof(prefix), "%s:%u:%u: ", file, line, col);
    for (size_t i = 0; i < errs->n; i++) {
        if (strncmp(errs->msgs[i], prefix, strlen(prefix)) == 0 &&
            strstr(errs->msgs[i], needle) != NULL)
            return true;
    }
    return false;
}

static void dump_errors(const struct cfg_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        fprintf(stderr, "  error[%zu]: %s\n", i, errs->msgs[i]);
}

static void expect_file_error(const char *name, unsigned line, unsigned col, const char *needle)
{
    char path[1024];
    snprintf(path, sizeof(path), CONFIG_DIR "%s", name);
    struct settings s;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    int r = settings_load(&s, path, &errs);
    bool found = has_error(&errs, path, line, col, needle);
    if (!found || r == 0) {
        fprintf(stderr, "expected %s:%u:%u: ...%s...\n", name, line, col, needle);
        dump_errors(&errs);
    }
    assert_int_not_equal(r, 0);
    assert_true(found);
    cfg_errors_release(&errs);
}

static void test_unknown_key(void **state)
{
    (void)state;
    expect_file_error("bad_unknown_key.json", 4, 5, "unknown key 'colour' in 'agent'");
}

static void test_wrong_type(void **state)
{
    (void)state;
    expect_file_error("bad_type.json", 3, 25, "'summary_interval' must be a number, got string");
}

static void test_out_of_range(void **state)
{
    (void)state;
    expect_file_error("bad_range.json", 3, 36, "out of range [1, 86400]");
}

static void test_syntax_error(void **state)
{
    (void)state;
    expect_file_error("bad_syntax.json", 4, 3, "invalid JSON");
}

static void test_duplicate_key(void **state)
{
    (void)state;
    expect_file_error("bad_duplicate.json", 4, 11, "duplicate object key");
}

static void test_unsupported_plugin(void **state)
{
    (void)state;
    expect_file_error("bad_plugin.json", 4, 7, "metrics plugin 'gpu' is not supported");
}

static void test_unknown_measurement(void **state)
{
    (void)state;
    expect_file_error("bad_measurement.json", 2, 75,
                      "unknown cpu measurement 'usage_idel' (known: time_active");
}

static void test_unsupported_section(void **state)
{
    (void)state;
    /* A CloudWatch agent key Osprey knows but does not support is named with the reason. */
    expect_file_error("bad_unsupported.json", 3, 5,
                      "'credentials' is not supported by Osprey: per-section credentials are "
                      "not supported");
}

static void test_bad_kind(void **state)
{
    (void)state;
    expect_file_error("bad_kind.json", 4, 39, "unknown record kind 'spans'");
}

static void test_not_object(void **state)
{
    (void)state;
    expect_file_error("bad_not_object.json", 1, 1, "must be a JSON object");
}

static void test_unicode_key_position(void **state)
{
    (void)state;
    /* The indexer decodes \u escapes in keys, so the path matches jansson's key. */
    expect_file_error("bad_unicode_key.json", 4, 5,
                      "unknown key '\xc3\xbc"
                      "ber'");
}

static void test_every_error_reported(void **state)
{
    (void)state;
    const char *name = CONFIG_DIR "bad_many.json";
    struct settings s;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    assert_int_not_equal(settings_load(&s, name, &errs), 0);
    assert_true(has_error(&errs, name, 2, 22, "'debug' must be a boolean"));
    assert_true(has_error(&errs, name, 2, 38, "'quiet' must be a boolean"));
    assert_true(has_error(&errs, name, 4, 19, "must be a power of two"));
    assert_true(has_error(&errs, name, 5, 18, "'log_level' must be one of"));
    cfg_errors_release(&errs);
}

static void test_valid_minimal(void **state)
{
    (void)state;
    struct settings s;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    int r = settings_load(&s, CONFIG_DIR "valid_minimal.json", &errs);
    dump_errors(&errs);
    assert_int_equal(r, 0);
    assert_int_equal(errs.n, 0);
    assert_int_equal(s.agent.metrics_collection_interval_ns, 10ull * 1000000000ull);
    assert_string_equal(s.metrics.namespace_, "CWAgent");
    assert_int_equal(s.osprey.ring_bytes, 8 << 20);
    assert_int_equal(s.osprey.shutdown_deadline_ns, 5ull * 1000000000ull);
    assert_int_equal(s.n_exporters, 1);
    assert_string_equal(s.exporters[0]->type->name, "stdout");
    settings_release(&s);
    cfg_errors_release(&errs);
}

static void test_cloudwatch_agent_config_sends_to_cloudwatch(void **state)
{
    (void)state;
    struct settings s;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    int r = settings_load(&s, CONFIG_DIR "valid_cwagent.json", &errs);
    dump_errors(&errs);
    assert_int_equal(r, 0);
    /* No osprey.sinks: like the CloudWatch agent, metrics go to CloudWatch. */
    assert_int_equal(s.n_exporters, 1);
    assert_string_equal(s.exporters[0]->type->name, "cloudwatch");
    assert_string_equal(s.metrics.endpoint_override, "http://127.0.0.1:9");
    assert_int_equal(s.collectors[0]->n_consumers, 1);
    settings_release(&s);
    cfg_errors_release(&errs);
}

static void test_default_local_config(void **state)
{
    (void)state;
    struct settings s;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    int r = settings_load(&s, OSPREY_SOURCE_DIR "/packaging/examples/local.json", &errs);
    dump_errors(&errs);
    assert_int_equal(r, 0);
    assert_int_equal(s.n_collectors, 2);
    assert_int_equal(s.n_exporters, 1);
    assert_int_equal(s.collectors[0]->n_consumers, 1);
    settings_release(&s);
    cfg_errors_release(&errs);
}

/* ---- the logs section ------------------------------------------------------------- */

static int load_text(struct settings *s, const char *text, struct cfg_errors *errs)
{
    cfg_errors_init(errs);
    return settings_load_buffer(s, "logs.json", text, strlen(text), errs);
}

static void expect_text_error(const char *text, unsigned line, unsigned col, const char *needle)
{
    struct settings s;
    struct cfg_errors errs;
    int r = load_text(&s, text, &errs);
    bool found = has_error(&errs, "logs.json", line, col, needle);
    if (!found || r == 0) {
        fprintf(stderr, "expected logs.json:%u:%u: ...%s...\n", line, col, needle);
        dump_errors(&errs);
    }
    assert_int_not_equal(r, 0);
    assert_true(found);
    cfg_errors_release(&errs);
}

static const struct exporter *find_exporter(const struct settings *s, const char *type)
{
    for (size_t i = 0; i < s->n_exporters; i++)
        if (strcmp(s->exporters[i]->type->name, type) == 0)
            return s->exporters[i];
    return NULL;
}

static void test_logs_emf_sends_to_cloudwatch_logs(void **state)
{
    (void)state;
    /* A CloudWatch agent configuration: EMF alone, no osprey.sinks. */
    static const char text[] = "{\"agent\": {\"region\": \"us-east-1\"},\n"
                               " \"logs\": {\"endpoint_override\": \"http://127.0.0.1:9\",\n"
                               "          \"log_stream_name\": \"{hostname}-emf\",\n"
                               "          \"metrics_collected\": {\"emf\": {}}}}\n";
    struct settings s;
    struct cfg_errors errs;
    int r = load_text(&s, text, &errs);
    dump_errors(&errs);
    assert_int_equal(r, 0);
    assert_int_equal(s.n_collectors, 1);
    assert_string_equal(s.collectors[0]->type->name, "emf");
    assert_int_equal(s.n_exporters, 1);
    assert_string_equal(s.exporters[0]->type->name, "cloudwatch_logs");
    assert_int_equal(s.collectors[0]->n_consumers, 1);
    /* No sink takes metrics: the listener produces log events only. */
    assert_int_equal(s.collectors[0]->kinds, RECORD_KIND_BIT(RECORD_LOG));
    settings_release(&s);
    cfg_errors_release(&errs);
}

static void test_logs_structuredlog_alias_and_metrics(void **state)
{
    (void)state;
    /* The older name, next to a metrics section: one sink for each service, and a local
     * sink that takes metrics keeps the EMF points. */
    static const char text[] = "{\"agent\": {\"region\": \"us-east-1\"},\n"
                               " \"metrics\": {\"metrics_collected\": {\"mem\": {}}},\n"
                               " \"logs\": {\"metrics_collected\": {\"structuredlog\": "
                               "{\"service_address\": \"udp://127.0.0.1:25999\"}}}}\n";
    struct settings s;
    struct cfg_errors errs;
    int r = load_text(&s, text, &errs);
    dump_errors(&errs);
    assert_int_equal(r, 0);
    assert_int_equal(s.n_collectors, 2);
    assert_string_equal(s.collectors[1]->type->name, "emf");
    assert_int_equal(s.n_exporters, 2);
    assert_non_null(find_exporter(&s, "cloudwatch"));
    assert_non_null(find_exporter(&s, "cloudwatch_logs"));
    /* Only the cloudwatch sink takes metrics, and it would skip EMF points anyway. */
    assert_int_equal(s.collectors[1]->kinds, RECORD_KIND_BIT(RECORD_LOG));
    settings_release(&s);

    static const char local[] =
        "{\"logs\": {\"metrics_collected\": {\"emf\": {}}},\n"
        " \"osprey\": {\"sinks\": {\"file\": {\"directory\": \"/tmp\"}}}}\n";
    r = load_text(&s, local, &errs);
    dump_errors(&errs);
    assert_int_equal(r, 0);
    assert_int_equal(s.n_exporters, 1);
    assert_int_equal(s.collectors[0]->kinds,
                     RECORD_KIND_BIT(RECORD_LOG) | RECORD_KIND_BIT(RECORD_METRIC));
    settings_release(&s);
    cfg_errors_release(&errs);
}

static void test_logs_errors(void **state)
{
    (void)state;
    expect_text_error("{\"logs\": {\"metrics_collected\": {\"emf\": {},\n"
                      "  \"structuredlog\": {}}}}",
                      2, 3, "'structuredlog' is the older name of 'emf'");
    expect_text_error("{\"logs\": {\"metrics_collected\": {\"prometheus\": {}}}}", 1, 33,
                      "logs plugin 'prometheus' is not supported by this build");
    expect_text_error("{\"logs\": {\"credentials\": {}}}", 1, 11,
                      "'credentials' is not supported by Osprey");
    expect_text_error("{\"logs\": {\"force_flush_interval\": \"5\"}}", 1, 35,
                      "'force_flush_interval' must be a number");
    expect_text_error("{\"logs\": {\"metrics_collected\": [] }}", 1, 32,
                      "'metrics_collected' must be an object");
    expect_text_error("{\"logs\": {\"log_stream_name\": 1}}", 1, 30,
                      "'log_stream_name' must be a string");
    expect_text_error("{\"logs\": {\"metrics_collected\": {\"emf\": {\"colour\": 1}}}}", 1, 41,
                      "unknown key 'colour'");
    static const char *const bad_addresses[] = {"25888",         "tcp:",         "http://h:1",
                                                "udp:1.2.3.4:0", "tcp:host:1",   "tcp::65536",
                                                "tcp:[::1:5",    "udp://1.2.3.4"};
    for (size_t i = 0; i < sizeof(bad_addresses) / sizeof(bad_addresses[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"logs\": {\"metrics_collected\": {\"emf\": {\"service_address\": \"%s\"}}},"
                 "\"osprey\": {\"sinks\": {\"stdout\": {}}}}",
                 bad_addresses[i]);
        expect_text_error(text, 1, 41, "is not a listen address");
    }
}

static void test_logs_service_addresses(void **state)
{
    (void)state;
    static const char *const good[] = {"udp:127.0.0.1:25888", "udp://127.0.0.1:25888",
                                       "tcp:127.0.0.1:25888", "tcp://:25888",
                                       "tcp:localhost:1",     "tcp://[::1]:25888"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"logs\": {\"metrics_collected\": {\"emf\": {\"service_address\": \"%s\"}}},"
                 "\"osprey\": {\"sinks\": {\"stdout\": {}}}}",
                 good[i]);
        struct settings s;
        struct cfg_errors errs;
        int r = load_text(&s, text, &errs);
        dump_errors(&errs);
        assert_int_equal(r, 0);
        settings_release(&s);
        cfg_errors_release(&errs);
    }
}

/* ---- cfg_bind on its own ---------------------------------------------------------- */

struct sample {
    bool flag;
    int64_t count;
    double ratio;
    char *name;
    uint64_t period_ns;
    int mode;
    struct cfg_strings tags;
    char *pattern;
    json_t *extra;
};

static const char *const modes[] = {"fast", "safe", NULL};

static const struct cfg_field sample_fields[] = {
    {"flag", CFG_BOOL, offsetof(struct sample, flag), "true", 0, 0, NULL, 0, "a flag"},
    {"count", CFG_INT, offsetof(struct sample, count), "7", 1, 100, NULL, 0, "a count"},
    {"ratio", CFG_DOUBLE, offsetof(struct sample, ratio), "0.5", 0, 1, NULL, 0, "a ratio"},
    {"name", CFG_STRING, offsetof(struct sample, name), "default", 0, 0, NULL, CFG_REQUIRED, "n"},
    {"period", CFG_SECONDS, offsetof(struct sample, period_ns), "2.5", 0, 60, NULL, 0, "p"},
    {"mode", CFG_ENUM, offsetof(struct sample, mode), "safe", 0, 0, modes, 0, "m"},
    {"tags", CFG_STRING_ARRAY, offsetof(struct sample, tags), NULL, 0, 0, NULL, 0, "t"},
    {"pattern", CFG_REGEX, offsetof(struct sample, pattern), NULL, 0, 0, NULL, 0, "r"},
    {"extra", CFG_JSON, offsetof(struct sample, extra), NULL, 0, 0, NULL, 0, "x"},
    {"legacy", CFG_STRING, 0, NULL, 0, 0, NULL, CFG_UNSUPPORTED, "use 'name'"},
    CFG_END,
};

static int bind_text(const char *text, struct sample *out, struct cfg_errors *errs,
                     struct cfg_doc *doc)
{
    memset(out, 0, sizeof(*out));
    int r = cfg_doc_load_buffer(doc, "t.json", text, strlen(text), errs);
    if (r != 0)
        return r;
    return cfg_bind(doc, doc->root, "", (struct cfg_binding[]){{sample_fields, out}}, 1, errs);
}

static void test_bind_values_and_defaults(void **state)
{
    (void)state;
    struct sample s;
    struct cfg_doc doc;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    assert_int_equal(bind_text("{\"name\": \"x\", \"tags\": [\"a\", \"b\"], \"mode\": \"fast\", "
                               "\"pattern\": \"^a+$\", \"extra\": {\"k\": 1}, \"period\": 1}",
                               &s, &errs, &doc),
                     0);
    assert_true(s.flag);
    assert_int_equal(s.count, 7);
    assert_true(s.ratio == 0.5);
    assert_string_equal(s.name, "x");
    assert_int_equal(s.period_ns, 1000000000ull);
    assert_int_equal(s.mode, 0);
    assert_int_equal(s.tags.n, 2);
    assert_string_equal(s.tags.v[1], "b");
    assert_string_equal(s.pattern, "^a+$");
    assert_non_null(json_object_get(s.extra, "k"));
    cfg_unbind(sample_fields, &s);
    assert_null(s.name);
    assert_null(s.tags.v);
    assert_null(s.extra);
    cfg_doc_release(&doc);
    assert_int_equal(errs.n, 0);
    cfg_errors_release(&errs);
}

static void test_bind_errors(void **state)
{
    (void)state;
    struct sample s;
    struct cfg_doc doc;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    const char *text = "{\n"
                       "  \"count\": 1000,\n"
                       "  \"ratio\": \"high\",\n"
                       "  \"mode\": \"turbo\",\n"
                       "  \"tags\": [\"ok\", 3],\n"
                       "  \"pattern\": \"(unclosed\",\n"
                       "  \"legacy\": \"x\",\n"
                       "  \"count2\": 1\n"
                       "}\n";
    assert_int_equal(bind_text(text, &s, &errs, &doc), -EINVAL);
    dump_errors(&errs);
    assert_true(has_error(&errs, "t.json", 2, 12, "'count' is 1000, out of range [1, 100]"));
    assert_true(has_error(&errs, "t.json", 3, 12, "'ratio' must be a number, got string"));
    assert_true(has_error(&errs, "t.json", 4, 11, "'mode' must be one of 'fast', 'safe'"));
    assert_true(has_error(&errs, "t.json", 5, 18, "'tags' items must be strings, got integer"));
    assert_true(has_error(&errs, "t.json", 6, 14, "'pattern' is not a valid regular expression"));
    assert_true(
        has_error(&errs, "t.json", 7, 3, "'legacy' is not supported by Osprey: use 'name'"));
    assert_true(has_error(&errs, "t.json", 8, 3, "unknown key 'count2'"));
    assert_true(has_error(&errs, "t.json", 1, 1, "missing required key 'name'"));
    assert_int_equal(errs.n, 8);
    cfg_unbind(sample_fields, &s);
    cfg_doc_release(&doc);
    cfg_errors_release(&errs);
}

static void test_path_escaping(void **state)
{
    (void)state;
    char buf[128];
    assert_string_equal(cfg_path_join(buf, sizeof(buf), "a", "b/c~d"), "a/b~1c~0d");
    assert_string_equal(cfg_path_index(buf, sizeof(buf), "list", 12), "list/12");
    assert_string_equal(cfg_path_join(buf, sizeof(buf), "", "top"), "top");
}

static void test_positions_in_arrays(void **state)
{
    (void)state;
    struct cfg_doc doc;
    struct cfg_errors errs;
    cfg_errors_init(&errs);
    const char *text = "{\"a\": [1, {\"b\": [true,\n   \"x\"]}]}";
    assert_int_equal(cfg_doc_load_buffer(&doc, "p.json", text, strlen(text), &errs), 0);
    struct cfg_pos p = cfg_doc_position(&doc, "a/1/b/1", false);
    assert_int_equal(p.line, 2);
    assert_int_equal(p.col, 4);
    p = cfg_doc_position(&doc, "a/1/b", true);
    assert_int_equal(p.line, 1);
    assert_int_equal(p.col, 12);
    /* Unknown paths fall back to the nearest known ancestor's key. */
    p = cfg_doc_position(&doc, "a/1/zzz", false);
    assert_int_equal(p.line, 1);
    assert_int_equal(p.col, 11);
    cfg_doc_release(&doc);
    cfg_errors_release(&errs);
}

/* ---- the traces section ----------------------------------------------------------- */

static int traces_load(struct settings *s, const char *text, struct cfg_errors *errs)
{
    cfg_errors_init(errs);
    return settings_load_buffer(s, "traces.json", text, strlen(text), errs);
}

static void traces_expect_error(const char *text, unsigned line, unsigned col, const char *needle)
{
    struct settings s;
    struct cfg_errors errs;
    int r = traces_load(&s, text, &errs);
    bool found = has_error(&errs, "traces.json", line, col, needle);
    if (!found || r == 0) {
        fprintf(stderr, "expected traces.json:%u:%u: ...%s...\n", line, col, needle);
        dump_errors(&errs);
    }
    assert_int_not_equal(r, 0);
    assert_true(found);
    cfg_errors_release(&errs);
}

static const struct exporter *traces_find_exporter(const struct settings *s, const char *type)
{
    for (size_t i = 0; i < s->n_exporters; i++)
        if (strcmp(s->exporters[i]->type->name, type) == 0)
            return s->exporters[i];
    return NULL;
}

static void test_traces_xray_sends_to_xray(void **state)
{
    (void)state;
    /* A CloudWatch agent configuration with only a traces section: the X-Ray receiver
     * and, without osprey.sinks, the xray sink. */
    static const char text[] =
        "{\"agent\": {\"region\": \"us-east-1\"},\n"
        " \"traces\": {\"endpoint_override\": \"http://127.0.0.1:9\", \"concurrency\": 3,\n"
        "            \"buffer_size_mb\": 10, \"insecure\": true, \"local_mode\": true,\n"
        "            \"region_override\": \"eu-west-1\", \"proxy_override\": \"http://p:3128\",\n"
        "            \"traces_collected\": {\"xray\": {\"bind_address\": \"127.0.0.1:12000\",\n"
        "               \"tcp_proxy\": {\"bind_address\": \"127.0.0.1:12001\"}}}}}\n";
    struct settings s;
    struct cfg_errors errs;
    int r = traces_load(&s, text, &errs);
    dump_errors(&errs);
    assert_int_equal(r, 0);
    assert_int_equal(s.n_collectors, 1);
    assert_string_equal(s.collectors[0]->type->name, "xray");
    assert_int_equal(s.collectors[0]->kinds, RECORD_KIND_BIT(RECORD_SEGMENT));
    assert_int_equal(s.n_exporters, 1);
    assert_non_null(traces_find_exporter(&s, "xray"));
    assert_int_equal(s.collectors[0]->n_consumers, 1);
    assert_int_equal(s.traces.concurrency, 3);
    assert_int_equal(s.traces.buffer_size_mb, 10);
    assert_true(s.traces.insecure);
    assert_true(s.traces.local_mode);
    assert_string_equal(s.traces.region_override, "eu-west-1");
    assert_string_equal(s.traces.proxy_override, "http://p:3128");
    settings_release(&s);
    cfg_errors_release(&errs);

    /* Defaults: an empty receiver object is enough. */
    static const char minimal[] = "{\"agent\": {\"region\": \"us-east-1\"},\n"
                                  " \"traces\": {\"traces_collected\": {\"xray\": {}}}}\n";
    r = traces_load(&s, minimal, &errs);
    dump_errors(&errs);
    assert_int_equal(r, 0);
    assert_int_equal(s.n_exporters, 1);
    settings_release(&s);
    cfg_errors_release(&errs);
}

static void test_traces_next_to_metrics_and_explicit_sinks(void **state)
{
    (void)state;
    static const char both[] =
        "{\"agent\": {\"region\": \"us-east-1\"},\n"
        " \"metrics\": {\"metrics_collected\": {\"mem\": {\"measurement\": [\"used_percent\"]}}},\n"
        " \"traces\": {\"traces_collected\": {\"xray\": {}}}}\n";
    struct settings s;
    struct cfg_errors errs;
    int r = traces_load(&s, both, &errs);
    dump_errors(&errs);
    assert_int_equal(r, 0);
    assert_int_equal(s.n_exporters, 2);
    assert_non_null(traces_find_exporter(&s, "cloudwatch"));
    assert_non_null(traces_find_exporter(&s, "xray"));
    settings_release(&s);
    cfg_errors_release(&errs);

    /* osprey.sinks names the destinations: the traces keys still reach an xray sink. */
    static const char explicit_sink[] =
        "{\"agent\": {\"region\": \"us-east-1\"},\n"
        " \"traces\": {\"endpoint_override\": \"http://127.0.0.1:9\",\n"
        "            \"traces_collected\": {\"xray\": {}}},\n"
        " \"osprey\": {\"sinks\": {\"xray\": {\"batch_size\": 10}, \"file\": {\"directory\": "
        "\"/tmp/x\"}}}}\n";
    r = traces_load(&s, explicit_sink, &errs);
    dump_errors(&errs);
    assert_int_equal(r, 0);
    assert_int_equal(s.collectors[0]->n_consumers, 2);
    settings_release(&s);
    cfg_errors_release(&errs);

    /* ... and without one, the receiver has no destination. */
    traces_expect_error("{\"agent\": {\"region\": \"us-east-1\"},\n"
                        " \"traces\": {\"traces_collected\": {\"xray\": {}}},\n"
                        " \"osprey\": {\"sinks\": {\"stdout\": {\"kinds\": [\"logs\"]}}}}\n",
                        2, 34, "'xray' has no destination");
}

static void test_traces_errors(void **state)
{
    (void)state;
    traces_expect_error("{\"agent\": {\"region\": \"us-east-1\"},\n"
                        " \"traces\": {\"traces_collected\": {\n"
                        "    \"zipkin\": {}}}}\n",
                        3, 5,
                        "trace receiver 'zipkin' is not supported by this build (supported: ");
    traces_expect_error("{\"agent\": {\"region\": \"us-east-1\"},\n"
                        " \"traces\": {\"traces_collected\": {\n"
                        "    \"zipkin\": {}}}}\n",
                        3, 5, "xray");
    traces_expect_error("{\"agent\": {\"region\": \"us-east-1\"},\n"
                        " \"traces\": {\"traces_collected\": []}}\n",
                        2, 33, "'traces_collected' must be an object, got array");
    traces_expect_error("{\"agent\": {\"region\": \"us-east-1\"},\n"
                        " \"traces\": {\"traces_collected\": {\"xray\": {}},\n"
                        "   \"resource_arn\": \"arn:aws:ec2:us-east-1:1:instance/i-1\"}}\n",
                        3, 4, "'resource_arn' is not supported");
    traces_expect_error("{\"agent\": {\"region\": \"us-east-1\"},\n"
                        " \"traces\": {\"traces_collected\": {\"xray\": {}},\n"
                        "   \"concurrency\": 65}}\n",
                        3, 19, "out of range");
    traces_expect_error("{\"agent\": {\"region\": \"us-east-1\"},\n"
                        " \"traces\": {\"traces_collected\": {\"xray\": {}},\n"
                        "   \"sampling\": true}}\n",
                        3, 4, "unknown key 'sampling' in 'traces'");
    traces_expect_error("{\"agent\": {\"region\": \"us-east-1\"},\n"
                        " \"traces\": {\"traces_collected\": {\"xray\": {\n"
                        "    \"bind_address\": \"localhost\"}}}}\n",
                        3, 5, "'bind_address' must be host:port");
    traces_expect_error("{\"agent\": {\"region\": \"us-east-1\"},\n"
                        " \"traces\": {\"traces_collected\": {\"xray\": {\n"
                        "    \"tcp_proxy\": {\"port\": 2000}}}}}\n",
                        3, 5, "unknown key 'port' in 'tcp_proxy'");
    traces_expect_error("{\"agent\": {\"region\": \"us-east-1\"},\n"
                        " \"traces\": {\"traces_collected\": {\"xray\": {\n"
                        "    \"tcp_proxy\": {\"bind_address\": 2000}}}}}\n",
                        3, 5, "'tcp_proxy.bind_address' must be a host:port string");
}

static void test_traces_role(void **state)
{
    (void)state;
    /* One credentials chain: the traces role is its role ... */
    static const char only_traces[] =
        "{\"agent\": {\"region\": \"us-east-1\"},\n"
        " \"traces\": {\"credentials\": {\"role_arn\": \"arn:aws:iam::1:role/xray\"},\n"
        "            \"traces_collected\": {\"xray\": {}}}}\n";
    struct settings s;
    struct cfg_errors errs;
    int r = traces_load(&s, only_traces, &errs);
    dump_errors(&errs);
    assert_int_equal(r, 0);
    assert_string_equal(s.creds_opts.role_arn, "arn:aws:iam::1:role/xray");
    settings_release(&s);
    cfg_errors_release(&errs);
    /* ... the same as agent.credentials' is fine, another one is an error. */
    static const char same[] =
        "{\"agent\": {\"region\": \"us-east-1\", \"credentials\": {\"role_arn\": \"arn:r\"}},\n"
        " \"traces\": {\"credentials\": {\"role_arn\": \"arn:r\"},\n"
        "            \"traces_collected\": {\"xray\": {}}}}\n";
    r = traces_load(&s, same, &errs);
    dump_errors(&errs);
    assert_int_equal(r, 0);
    settings_release(&s);
    cfg_errors_release(&errs);
    traces_expect_error(
        "{\"agent\": {\"region\": \"us-east-1\", \"credentials\": {\"role_arn\": \"arn:r\"}},\n"
        " \"traces\": {\"credentials\": {\"role_arn\": \"arn:other\"},\n"
        "            \"traces_collected\": {\"xray\": {}}}}\n",
        2, 41, "a role for traces alone is not supported");
    traces_expect_error("{\"agent\": {\"region\": \"us-east-1\"},\n"
                        " \"traces\": {\"credentials\": {\"role\": \"arn:r\"},\n"
                        "            \"traces_collected\": {\"xray\": {}}}}\n",
                        2, 29, "unknown key 'role'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_unsupported_plugin),
        cmocka_unit_test(test_unknown_measurement),
        cmocka_unit_test(test_unsupported_section),
        cmocka_unit_test(test_bad_kind),
        cmocka_unit_test(test_not_object),
        cmocka_unit_test(test_unicode_key_position),
        cmocka_unit_test(test_every_error_reported),
        cmocka_unit_test(test_valid_minimal),
        cmocka_unit_test(test_default_local_config),
        cmocka_unit_test(test_cloudwatch_agent_config_sends_to_cloudwatch),
        cmocka_unit_test(test_bind_values_and_defaults),
        cmocka_unit_test(test_bind_errors),
        cmocka_unit_test(test_path_escaping),
        cmocka_unit_test(test_positions_in_arrays),
        cmocka_unit_test(test_logs_emf_sends_to_cloudwatch_logs),
        cmocka_unit_test(test_logs_structuredlog_alias_and_metrics),
        cmocka_unit_test(test_logs_errors),
        cmocka_unit_test(test_logs_service_addresses),
        cmocka_unit_test(test_traces_xray_sends_to_xray),
        cmocka_unit_test(test_traces_next_to_metrics_and_explicit_sinks),
        cmocka_unit_test(test_traces_errors),
        cmocka_unit_test(test_traces_role),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
