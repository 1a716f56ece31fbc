/*
 * config_doc: Markdown from the key tables. DESIGN: every line comes from a cfg_field or
 * a plugin type's name/help/config_path, never from prose kept here about a key, so the
 * only way to change the reference is to change the table the binder uses.
 */
#include "agent/config_doc.h"

#include "agent/registry.h"
#include "agent/settings.h"

#include <errno.h>
#include <string.h>

static const char *type_name(enum cfg_type t)
{
    switch (t) {
    case CFG_BOOL:
        return "boolean";
    case CFG_INT:
        return "integer";
    case CFG_DOUBLE:
        return "number";
    case CFG_STRING:
        return "string";
    case CFG_SECONDS:
        return "seconds";
    case CFG_ENUM:
        return "string (choice)";
    case CFG_STRING_ARRAY:
        return "list of strings";
    case CFG_REGEX:
        return "regex (PCRE2)";
    case CFG_JSON:
        return "object / list";
    }
    return "?";
}

/* Table cells: '|' would end the cell and a newline the row. */
static void put_cell(FILE *out, const char *text)
{
    for (const char *p = text; p && *p; p++) {
        if (*p == '|')
            fputs("\\|", out);
        else if (*p == '\n')
            fputc(' ', out);
        else
            fputc(*p, out);
    }
}

/* Whole numbers in full (1048576, not 1.04858e+06); fractions as %g. */
static void put_number(FILE *out, double v)
{
    if (v == (double)(long long)v && v > -1e15 && v < 1e15)
        fprintf(out, "%lld", (long long)v);
    else
        fprintf(out, "%g", v);
}

static void put_range(FILE *out, const struct cfg_field *f)
{
    if (f->type == CFG_ENUM && f->choices) {
        for (size_t i = 0; f->choices[i]; i++)
            fprintf(out, "%s`%s`", i ? ", " : "", f->choices[i]);
        return;
    }
    if ((f->type == CFG_INT || f->type == CFG_DOUBLE || f->type == CFG_SECONDS) &&
        f->min < f->max) {
        put_number(out, f->min);
        fputs(" .. ", out);
        put_number(out, f->max);
    }
}

static void put_table(FILE *out, const struct cfg_field *fields)
{
    fputs("| Key | Type | Default | Range / choices | Description |\n", out);
    fputs("|-----|------|---------|-----------------|-------------|\n", out);
    for (const struct cfg_field *f = fields; f && f->key; f++) {
        fprintf(out, "| `%s` | ", f->key);
        if (f->flags & CFG_UNSUPPORTED) {
            fputs("- | - | - | **not supported**: ", out);
            put_cell(out, f->help);
            fputs(" |\n", out);
            continue;
        }
        fprintf(out, "%s | ", type_name(f->type));
        if (f->flags & CFG_REQUIRED)
            fputs("required", out);
        else if (f->def)
            fprintf(out, "`%s`", f->def);
        else
            fputs("-", out);
        fputs(" | ", out);
        put_range(out, f);
        fputs(" | ", out);
        put_cell(out, f->help);
        fputs(" |\n", out);
    }
    fputc('\n', out);
}

static const char *kinds_text(unsigned kinds, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int k = RECORD_METRIC; k < RECORD_KIND_MAX && n < cap; k++)
        if (kinds & RECORD_KIND_BIT(k))
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? ", " : "",
                                  record_kind_name((enum record_kind)k));
    return buf;
}

static void put_sections(FILE *out)
{
    size_t n;
    const struct settings_section_doc *sections = settings_sections(&n);
    fputs("## Sections\n\n", out);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "### %s%s%s\n\n%s\n\n", sections[i].path[0] ? "`" : "",
                sections[i].path[0] ? sections[i].path : "Top level",
                sections[i].path[0] ? "`" : "", sections[i].help);
        put_table(out, sections[i].fields);
    }
}

static void put_collectors(FILE *out)
{
    char kinds[64];
    fputs("## Collectors\n\n", out);
    fputs("### Keys of every metric plugin\n\n"
          "Each plugin marked *metric plugin* below also takes these keys.\n\n",
          out);
    put_table(out, collector_metric_common_fields());
    for (size_t i = 0; i < registry_n_collectors; i++) {
        const struct collector_type *t = registry_collectors[i];
        fprintf(out, "### `%s`\n\n", t->name);
        fprintf(out, "%s.\n\n", t->help ? t->help : "");
        fprintf(out, "- Configured at: `%s`%s\n", t->config_path,
                t->config_is_list ? " (a list: one instance per element)" : "");
        fprintf(out, "- Produces: %s\n", kinds_text(t->kinds, kinds, sizeof(kinds)));
        if (t->metric_common)
            fputs("- Metric plugin: also takes the keys of every metric plugin\n", out);
        if (t->metric_fields && t->metric_fields[0]) {
            fputs("- `measurement` names:", out);
            for (size_t j = 0; t->metric_fields[j]; j++)
                fprintf(out, "%s `%s`", j ? "," : "", t->metric_fields[j]);
            fputc('\n', out);
        }
        fputc('\n', out);
        if (t->fields && t->fields[0].key)
            put_table(out, t->fields);
    }
}

static void put_exporters(FILE *out)
{
    char kinds[64];
    fputs("## Sinks\n\n"
          "Configured under `osprey/sinks/<name>`; without `osprey.sinks`, the `metrics`, "
          "`logs` and `traces` sections create the `cloudwatch`, `cloudwatch_logs` and "
          "`xray` sinks themselves.\n\n"
          "### Keys of every sink\n\n",
          out);
    put_table(out, exporter_common_key_fields());
    for (size_t i = 0; i < registry_n_exporters; i++) {
        const struct exporter_type *t = registry_exporters[i];
        fprintf(out, "### `%s`\n\n%s.\n\n", t->name, t->help ? t->help : "");
        fprintf(out, "- Takes: %s\n\n", kinds_text(t->kinds, kinds, sizeof(kinds)));
        if (t->fields && t->fields[0].key)
            put_table(out, t->fields);
        if (t->extra_fields && t->extra_fields[0].key) {
            fputs("Connection keys:\n\n", out);
            put_table(out, t->extra_fields);
        }
    }
}

int config_doc_write(FILE *out)
{
    fputs("# Configuration reference\n\n"
          "<!-- Generated by `osprey config-reference` from the key tables the configuration "
          "binder uses. Do not edit: change the tables and regenerate "
          "(tests/integration/test_config_reference.py fails when this file is stale). -->\n\n"
          "Every key Osprey reads, with its type, default and bounds. A key that is not in "
          "these tables is an error, never ignored. Keys marked **not supported** are "
          "CloudWatch agent keys Osprey knows and rejects with the reason shown. Types: "
          "`seconds` is a JSON number of seconds (fractions allowed); `object / list` is "
          "checked by the plugin (see its description).\n\n",
          out);
    put_sections(out);
    put_collectors(out);
    put_exporters(out);
    fflush(out);
    return ferror(out) ? -EIO : 0;
}
