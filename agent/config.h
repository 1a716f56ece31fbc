/*
 * config: a JSON configuration document with source positions, and the field tables
 * that bind its objects into plugin contexts.
 *
 * Contract
 * - cfg_doc_load_* parse with jansson (duplicate keys rejected) and index the position
 *   (line, column, 1-based, columns in bytes) of every key and value by its path, so any
 *   error, syntactic or semantic, is reported as "FILE:LINE:COL: message".
 * - Paths are JSON-pointer-like strings without the leading slash: "metrics/
 *   metrics_collected/cpu/totalcpu", "logs/logs_collected/files/collect_list/0".
 * - cfg_bind() applies a field table to one JSON object: defaults first, then the user's
 *   values, checking type, bounds, enum choices and regex syntax. Every key not in the
 *   table is an error (never silently ignored). Errors are appended to `errs`; binding
 *   goes on after an error so that one run reports all of them. Returns 0 or -EINVAL.
 * - Strings and arrays written into a context are owned by it: cfg_unbind() frees them.
 * - Single-threaded: a document is loaded and bound on one thread, before the loops
 *   start (or off to the side on reload).
 */
#ifndef OSPREY_CONFIG_H
#define OSPREY_CONFIG_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfg_pos {
    uint32_t line;
    uint32_t col;
};

struct cfg_loc_entry;

struct cfg_doc {
    char *name; /* file name as given, used in messages */
    char *text;
    size_t len;
    json_t *root;
    struct cfg_loc_entry *locs;
    size_t n_locs, cap_locs;
};

struct cfg_errors {
    char **msgs;
    size_t n, cap;
};

void cfg_errors_init(struct cfg_errors *errs);
void cfg_errors_release(struct cfg_errors *errs);
/* Append a message already formatted as "FILE:LINE:COL: ...". */
void cfg_errors_add(struct cfg_errors *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* 0, or -errno / -EINVAL with the reason in `errs`. On error the doc is released. */
int cfg_doc_load_file(struct cfg_doc *doc, const char *path, struct cfg_errors *errs);
int cfg_doc_load_buffer(struct cfg_doc *doc, const char *name, const char *text, size_t len,
                        struct cfg_errors *errs);
void cfg_doc_release(struct cfg_doc *doc);

/* Position of the value at `path`, or of its key when `key` is true. Falls back to the
 * nearest enclosing path that is known, then 1:1. */
struct cfg_pos cfg_doc_position(const struct cfg_doc *doc, const char *path, bool key);

/* Report an error at `path` (its key when `at_key`). */
void cfg_error_at(struct cfg_errors *errs, const struct cfg_doc *doc, const char *path, bool at_key,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Build "parent/child" into buf (escaping '~' and '/' as JSON pointer does). */
const char *cfg_path_join(char *buf, size_t cap, const char *parent, const char *child);
const char *cfg_path_index(char *buf, size_t cap, const char *parent, size_t index);

enum cfg_type {
    CFG_BOOL,         /* bool */
    CFG_INT,          /* int64_t, bounds apply */
    CFG_DOUBLE,       /* double, bounds apply */
    CFG_STRING,       /* char * (owned) */
    CFG_SECONDS,      /* JSON number of seconds -> uint64_t ns, bounds in seconds */
    CFG_ENUM,         /* int index into `choices` */
    CFG_STRING_ARRAY, /* struct cfg_strings (owned) */
    CFG_REGEX,        /* char * (owned), validated with PCRE2 */
    CFG_JSON,         /* json_t * (a new reference, owned), no checks: plugin validates */
};

struct cfg_strings {
    char **v;
    size_t n;
};

#define CFG_REQUIRED    0x1u
#define CFG_UNSUPPORTED 0x2u /* a key Osprey knows but does not implement: an error */

struct cfg_field {
    const char *key;
    enum cfg_type type;
    size_t offset;
    const char *def;            /* default as text ("60", "true", "CWAgent"); NULL = zero/NULL */
    double min, max;            /* bounds for numbers when min < max */
    const char *const *choices; /* NULL-terminated, for CFG_ENUM */
    unsigned flags;
    const char *help;
};

#define CFG_END                                                                                    \
    {                                                                                              \
        NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL                                                      \
    }

/* One table and the context it binds into; cfg_bind accepts several so a plugin can
 * share common keys (e.g. metrics_collection_interval) with its own. */
struct cfg_binding {
    const struct cfg_field *fields;
    void *ctx;
};

int cfg_bind(const struct cfg_doc *doc, const json_t *obj, const char *path,
             const struct cfg_binding *bindings, size_t n_bindings, struct cfg_errors *errs);
/* Apply only the defaults of a table (for a section the file leaves out). */
int cfg_bind_defaults(const struct cfg_field *fields, void *ctx);
void cfg_unbind(const struct cfg_field *fields, void *ctx);

void cfg_strings_release(struct cfg_strings *s);

/* The JSON type name used in messages ("object", "string", ...). */
const char *cfg_json_type_name(const json_t *v);

#endif
