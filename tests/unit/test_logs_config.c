/*
 * The logs section's file tailing keys (agent/settings): logs_collected accepts only
 * files.collect_list, its entries are collectors that bring the cloudwatch_logs sink
 * with them, logs.log_stream_name reaches the collectors through plugin_env, and
 * per-entry retention_in_days / log_group_class become the sink's log_groups, where two
 * entries for one group must agree.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/registry.h"
#include "agent/settings.h"

static const char *const list_path = "logs/logs_collected/files/collect_list";

static bool tail_built(void)
{
    for (size_t i = 0; i < registry_n_collectors; i++)
        if (strcmp(registry_collectors[i]->config_path, list_path) == 0)
            return true;
    return false;
}

static int load(struct settings *s, const char *text, struct cfg_errors *errs)
{
    cfg_errors_init(errs);
    return settings_load_buffer(s, "logs.json", text, strlen(text), errs);
}

static bool has_error(const struct cfg_errors *errs, const char *needle)
{
    for (size_t i = 0; i < errs->n; i++)
        if (strstr(errs->msgs[i], needle))
            return true;
    return false;
}

static void expect_error(const char *text, const char *needle)
{
    struct settings s;
    struct cfg_errors errs;
    int r = load(&s, text, &errs);
    bool found = has_error(&errs, needle);
    if (r == 0 || !found) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "  %s\n", errs.msgs[i]);
        fail_msg("expected an error containing '%s' (load returned %d)", needle, r);
    }
    if (r == 0)
        settings_release(&s);
    cfg_errors_release(&errs);
}

static void test_logs_collected_keys(void **state)
{
    (void)state;
    expect_error("{\"logs\": {\"logs_collected\": {\"windows_events\": {\"collect_list\": []}}}}",
                 "windows_events is not supported on Linux");
    expect_error("{\"logs\": {\"logs_collected\": {\"journald\": {}}}}",
                 "unknown key 'journald' in logs_collected (supported: files)");
    expect_error("{\"logs\": {\"logs_collected\": []}}", "'logs_collected' must be an object");
    expect_error("{\"logs\": {\"logs_collected\": {\"files\": []}}}", "'files' must be an object");
    expect_error("{\"logs\": {\"logs_collected\": {\"files\": {\"collect_list\": [], "
                 "\"extra\": 1}}}}",
                 "unknown key 'extra' in files (supported: collect_list)");
}

static void test_only_files_brings_the_logs_sink(void **state)
{
    (void)state;
    static const char text[] =
        "{\"agent\": {\"region\": \"us-east-1\"},\n"
        " \"osprey\": {\"state_dir\": \"/tmp/osprey-test-logs-config\"},\n"
        " \"logs\": {\"log_stream_name\": \"{hostname}-default\",\n"
        "          \"logs_collected\": {\"files\": {\"collect_list\": [\n"
        "            {\"file_path\": \"/var/log/osprey-test-a.log\"},\n"
        "            {\"file_path\": \"/var/log/osprey-test-b.log\", \"log_stream_name\": \"b\"}"
        "]}}}}\n";
    if (!tail_built()) {
        expect_error(text, "tailing log files is not available in this build");
        return;
    }
    struct settings s;
    struct cfg_errors errs;
    int r = load(&s, text, &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "  %s\n", errs.msgs[i]);
    assert_int_equal(r, 0);
    assert_int_equal(s.n_collectors, 2);
    assert_string_equal(s.collectors[0]->type->config_path, list_path);
    assert_string_equal(s.collectors[1]->type->config_path, list_path);
    /* No osprey.sinks: as the CloudWatch agent does, collected logs go to CloudWatch Logs. */
    assert_int_equal(s.n_exporters, 1);
    assert_string_equal(s.exporters[0]->type->name, "cloudwatch_logs");
    assert_int_equal(s.collectors[0]->n_consumers, 1);
    /* The section's stream is handed down as written. */
    assert_non_null(s.env.default_log_stream_name);
    assert_string_equal(s.env.default_log_stream_name, "{hostname}-default");
    assert_false(settings_need_instance_meta(&s));
    settings_release(&s);
    cfg_errors_release(&errs);
}

static void test_names_needing_instance_meta(void **state)
{
    (void)state;
    if (!tail_built())
        skip();
    const char *texts[] = {
        /* No stream anywhere: the default is the instance id. */
        "{\"agent\": {\"region\": \"us-east-1\"}, \"logs\": {\"logs_collected\": {\"files\": "
        "{\"collect_list\": [{\"file_path\": \"/var/log/x.log\", \"log_group_name\": \"g\"}]}}}}",
        "{\"agent\": {\"region\": \"us-east-1\"}, \"logs\": {\"logs_collected\": {\"files\": "
        "{\"collect_list\": [{\"file_path\": \"/var/log/x.log\", "
        "\"log_group_name\": \"g-{instance_id}\", "
        "\"log_stream_name\": \"s\"}]}}}}",
    };
    for (size_t i = 0; i < 2; i++) {
        struct settings s;
        struct cfg_errors errs;
        assert_int_equal(load(&s, texts[i], &errs), 0);
        assert_true(settings_need_instance_meta(&s));
        settings_release(&s);
        cfg_errors_release(&errs);
    }
}

static void test_group_settings_must_agree(void **state)
{
    (void)state;
    if (!tail_built())
        skip();
    char text[1024];
    /* Group names compare case-insensitively, as the CloudWatch agent compares them. */
    snprintf(text, sizeof(text),
             "{\"logs\": {\"logs_collected\": {\"files\": {\"collect_list\": [\n"
             "{\"file_path\": \"/var/log/a.log\", \"log_group_name\": \"/app/{hostname}\", "
             "\"retention_in_days\": 7},\n"
             "{\"file_path\": \"/var/log/b.log\", \"log_group_name\": \"/APP/{hostname}\", "
             "\"retention_in_days\": 14}]}}}, \"osprey\": {\"hostname\": \"web\"}}");
    expect_error(text, "collect_list[0] and collect_list[1] set different retention_in_days "
                       "(7 and 14) for log group '/APP/web'");
    snprintf(text, sizeof(text),
             "{\"logs\": {\"logs_collected\": {\"files\": {\"collect_list\": [\n"
             "{\"file_path\": \"/var/log/app.log\", \"log_group_class\": \"STANDARD\"},\n"
             "{\"file_path\": \"/var/log/b.log\", \"log_group_name\": \"/var/log/app\", "
             "\"log_group_class\": \"INFREQUENT_ACCESS\"}]}}}}");
    expect_error(text, "set different log_group_class (STANDARD and INFREQUENT_ACCESS) for "
                       "log group '/var/log/app'");

    /* Unset (-1, or absent) never conflicts, and equal values agree. */
    snprintf(text, sizeof(text),
             "{\"logs\": {\"endpoint_override\": \"http://127.0.0.1:9\", "
             "\"logs_collected\": {\"files\": {\"collect_list\": [\n"
             "{\"file_path\": \"/var/log/a.log\", \"log_group_name\": \"g\", "
             "\"retention_in_days\": -1},\n"
             "{\"file_path\": \"/var/log/b.log\", \"log_group_name\": \"g\", "
             "\"retention_in_days\": 30, \"log_group_class\": \"INFREQUENT_ACCESS\"},\n"
             "{\"file_path\": \"/var/log/c.log\", \"log_group_name\": \"g\", "
             "\"retention_in_days\": 30}]}}}, \"agent\": {\"region\": \"us-east-1\"}}");
    struct settings s;
    struct cfg_errors errs;
    int r = load(&s, text, &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "  %s\n", errs.msgs[i]);
    assert_int_equal(r, 0);
    assert_int_equal(s.n_exporters, 1);
    settings_release(&s);
    cfg_errors_release(&errs);

    /* The sink's own check runs on what the entries gave (here: 2 is no retention the
     * service accepts; the collector may say so too). */
    expect_error("{\"logs\": {\"logs_collected\": {\"files\": {\"collect_list\": ["
                 "{\"file_path\": \"/var/log/a.log\", \"log_group_name\": \"g\", "
                 "\"retention_in_days\": 2}]}}}, \"agent\": {\"region\": \"us-east-1\"}}",
                 "retention");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logs_collected_keys),
        cmocka_unit_test(test_only_files_brings_the_logs_sink),
        cmocka_unit_test(test_names_needing_instance_meta),
        cmocka_unit_test(test_group_settings_must_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
