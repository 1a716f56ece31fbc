/*
 * config_doc: the configuration reference, generated from the key tables themselves
 * (`osprey config-reference`, committed as docs/config-reference.md), so the document
 * cannot drift from what the binder accepts.
 *
 * Contract
 * - config_doc_write() walks the settings section tables (settings_sections()), every
 *   collector type of the registry (its fields, plus the common metric keys when
 *   metric_common is set, and its measurement names) and every exporter type (fields,
 *   extra_fields, the common `kinds` key), and writes Markdown to `out`: one table per
 *   table with key, type, default, range or choices and the help text. A CFG_UNSUPPORTED
 *   key is listed as "not supported: <help>".
 * - The output depends only on the compiled tables: no clock, host or environment, so
 *   the same build always writes the same bytes.
 * - Returns 0, or -EIO when writing to `out` failed. Any thread; reads const data only.
 */
#ifndef OSPREY_CONFIG_DOC_H
#define OSPREY_CONFIG_DOC_H

#include <stdio.h>

int config_doc_write(FILE *out);

#endif
