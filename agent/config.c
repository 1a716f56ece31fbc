/*
 * DESIGN
 * jansson parses the document and owns every value; it keeps no source positions, so
 * after a successful parse a position indexer walks the same (now known-valid) text and
 * records, for every member and element, the byte offset of its key and of its value
 * under the same path string that cfg_bind() builds. It only skips tokens and decodes
 * key strings; values are never interpreted here. Line and column are computed from the
 * offset when an error is reported, which is rare, so the index stays small.
 */
#include "agent/config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define CFG_MAX_FILE_BYTES (16u << 20)
#define CFG_MAX_PATH       1024
#define CFG_MAX_DEPTH      256
#define CFG_NO_OFFSET      SIZE_MAX

struct cfg_loc_entry {
    char *path;
    size_t key_off;
    size_t val_off;
};

/* ---- errors ---------------------------------------------------------------------- */

void cfg_errors_init(struct cfg_errors *errs)
{
    memset(errs, 0, sizeof(*errs));
}

void cfg_errors_release(struct cfg_errors *errs)
{
    if (!errs)
        return;
    for (size_t i = 0; i < errs->n; i++)
        free(errs->msgs[i]);
    free(errs->msgs);
    cfg_errors_init(errs);
}

static void cfg_errors_vadd(struct cfg_errors *errs, const char *fmt, va_list ap)
{
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        return;
    if (errs->n == errs->cap) {
        size_t cap = errs->cap ? errs->cap * 2 : 8;
        char **grown = realloc(errs->msgs, cap * sizeof(*grown));
        if (!grown) {
            free(msg);
            return;
        }
        errs->msgs = grown;
        errs->cap = cap;
    }
    errs->msgs[errs->n++] = msg;
}

void cfg_errors_add(struct cfg_errors *errs, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cfg_errors_vadd(errs, fmt, ap);
    va_end(ap);
}

/* ---- paths ----------------------------------------------------------------------- */

const char *cfg_path_join(char *buf, size_t cap, const char *parent, const char *child)
{
    size_t n = 0;
    if (cap == 0)
        return buf;
    if (parent && parent[0]) {
        n = (size_t)snprintf(buf, cap, "%s/", parent);
        if (n >= cap)
            n = cap - 1;
    }
    for (const char *c = child; *c && n + 2 < cap; c++) {
        if (*c == '~' || *c == '/') {
            buf[n++] = '~';
            buf[n++] = *c == '~' ? '0' : '1';
        } else {
            buf[n++] = *c;
        }
    }
    buf[n] = '\0';
    return buf;
}

const char *cfg_path_index(char *buf, size_t cap, const char *parent, size_t index)
{
    char idx[32];
    snprintf(idx, sizeof(idx), "%zu", index);
    return cfg_path_join(buf, cap, parent, idx);
}

/* ---- position index -------------------------------------------------------------- */

struct indexer {
    struct cfg_doc *doc;
    const char *s;
    size_t len;
    size_t i;
    int failed;
};

static int loc_add(struct cfg_doc *doc, const char *path, size_t key_off, size_t val_off)
{
    if (doc->n_locs == doc->cap_locs) {
        size_t cap = doc->cap_locs ? doc->cap_locs * 2 : 64;
        struct cfg_loc_entry *grown = realloc(doc->locs, cap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        doc->locs = grown;
        doc->cap_locs = cap;
    }
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    doc->locs[doc->n_locs++] = (struct cfg_loc_entry){copy, key_off, val_off};
    return 0;
}

static void skip_ws(struct indexer *ix)
{
    while (ix->i < ix->len) {
        char c = ix->s[ix->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        ix->i++;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static unsigned read_hex4(const char *p)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p[k]);
        if (h < 0)
            return 0xFFFFFFFFu;
        v = v * 16 + (unsigned)h;
    }
    return v;
}

static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decode the string at ix->i (which is '"') into out (truncated to cap-1 bytes, which
 * only makes an over-long key unfindable) and move past the closing quote. */
static int scan_string(struct indexer *ix, char *out, size_t cap)
{
    size_t n = 0;
    ix->i++; /* opening quote */
    while (ix->i < ix->len) {
        char c = ix->s[ix->i];
        if (c == '"') {
            ix->i++;
            if (out)
                out[n < cap ? n : cap - 1] = '\0';
            return 0;
        }
        char tmp[4];
        size_t tn = 1;
        tmp[0] = c;
        if (c == '\\') {
            if (ix->i + 1 >= ix->len)
                return -EBADMSG;
            char e = ix->s[ix->i + 1];
            ix->i += 2;
            switch (e) {
            case 'n':
                tmp[0] = '\n';
                break;
            case 't':
                tmp[0] = '\t';
                break;
            case 'r':
                tmp[0] = '\r';
                break;
            case 'b':
                tmp[0] = '\b';
                break;
            case 'f':
                tmp[0] = '\f';
                break;
            case 'u': {
                if (ix->i + 4 > ix->len)
                    return -EBADMSG;
                unsigned cp = read_hex4(ix->s + ix->i);
                if (cp == 0xFFFFFFFFu)
                    return -EBADMSG;
                ix->i += 4;
                if (cp >= 0xD800 && cp < 0xDC00 && ix->i + 6 <= ix->len && ix->s[ix->i] == '\\' &&
                    ix->s[ix->i + 1] == 'u') {
                    unsigned lo = read_hex4(ix->s + ix->i + 2);
                    if (lo >= 0xDC00 && lo < 0xE000) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        ix->i += 6;
                    }
                }
                tn = put_utf8(tmp, cp);
                break;
            }
            default:
                tmp[0] = e;
                break;
            }
        } else {
            ix->i++;
        }
        if (out) {
            for (size_t k = 0; k < tn; k++)
                if (n + 1 < cap)
                    out[n++] = tmp[k];
        }
    }
    return -EBADMSG;
}

static int scan_value(struct indexer *ix, const char *path, size_t key_off, int depth);

static int scan_container(struct indexer *ix, const char *path, int depth, char close)
{
    char child[CFG_MAX_PATH];
    char key[CFG_MAX_PATH];
    size_t index = 0;
    ix->i++; /* '{' or '[' */
    skip_ws(ix);
    if (ix->i < ix->len && ix->s[ix->i] == close) {
        ix->i++;
        return 0;
    }
    for (;;) {
        skip_ws(ix);
        if (ix->i >= ix->len)
            return -EBADMSG;
        size_t key_off = CFG_NO_OFFSET;
        if (close == '}') {
            if (ix->s[ix->i] != '"')
                return -EBADMSG;
            key_off = ix->i;
            if (scan_string(ix, key, sizeof(key)) != 0)
                return -EBADMSG;
            skip_ws(ix);
            if (ix->i >= ix->len || ix->s[ix->i] != ':')
                return -EBADMSG;
            ix->i++;
            cfg_path_join(child, sizeof(child), path, key);
        } else {
            cfg_path_index(child, sizeof(child), path, index++);
        }
        int r = scan_value(ix, child, key_off, depth + 1);
        if (r != 0)
            return r;
        skip_ws(ix);
        if (ix->i >= ix->len)
            return -EBADMSG;
        if (ix->s[ix->i] == ',') {
            ix->i++;
            continue;
        }
        if (ix->s[ix->i] == close) {
            ix->i++;
            return 0;
        }
        return -EBADMSG;
    }
}

static int scan_value(struct indexer *ix, const char *path, size_t key_off, int depth)
{
    if (depth > CFG_MAX_DEPTH)
        return -E2BIG;
    skip_ws(ix);
    if (ix->i >= ix->len)
        return -EBADMSG;
    int r = loc_add(ix->doc, path, key_off, ix->i);
    if (r != 0)
        return r;
    char c = ix->s[ix->i];
    if (c == '{')
        return scan_container(ix, path, depth, '}');
    if (c == '[')
        return scan_container(ix, path, depth, ']');
    if (c == '"')
        return scan_string(ix, NULL, 0);
    size_t start = ix->i;
    while (ix->i < ix->len && !strchr(",]} \t\r\n", ix->s[ix->i]))
        ix->i++;
    return ix->i > start ? 0 : -EBADMSG;
}

/* ---- documents ------------------------------------------------------------------- */

static void offset_to_pos(const struct cfg_doc *doc, size_t off, struct cfg_pos *pos)
{
    pos->line = 1;
    pos->col = 1;
    for (size_t i = 0; i < off && i < doc->len; i++) {
        if (doc->text[i] == '\n') {
            pos->line++;
            pos->col = 1;
        } else {
            pos->col++;
        }
    }
}

struct cfg_pos cfg_doc_position(const struct cfg_doc *doc, const char *path, bool key)
{
    struct cfg_pos pos = {1, 1};
    char probe[CFG_MAX_PATH];
    snprintf(probe, sizeof(probe), "%s", path ? path : "");
    for (;;) {
        for (size_t i = 0; i < doc->n_locs; i++) {
            const struct cfg_loc_entry *e = &doc->locs[i];
            if (strcmp(e->path, probe) != 0)
                continue;
            size_t off = key && e->key_off != CFG_NO_OFFSET ? e->key_off : e->val_off;
            offset_to_pos(doc, off, &pos);
            return pos;
        }
        char *slash = strrchr(probe, '/');
        if (slash) {
            *slash = '\0';
        } else if (probe[0]) {
            probe[0] = '\0';
        } else {
            return pos;
        }
        key = true;
    }
}

void cfg_error_at(struct cfg_errors *errs, const struct cfg_doc *doc, const char *path, bool at_key,
                  const char *fmt, ...)
{
    struct cfg_pos pos = cfg_doc_position(doc, path, at_key);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cfg_errors_add(errs, "%s:%u:%u: %s", doc->name, pos.line, pos.col, msg);
}

void cfg_doc_release(struct cfg_doc *doc)
{
    if (!doc)
        return;
    for (size_t i = 0; i < doc->n_locs; i++)
        free(doc->locs[i].path);
    free(doc->locs);
    if (doc->root)
        json_decref(doc->root);
    free(doc->text);
    free(doc->name);
    memset(doc, 0, sizeof(*doc));
}

int cfg_doc_load_buffer(struct cfg_doc *doc, const char *name, const char *text, size_t len,
                        struct cfg_errors *errs)
{
    memset(doc, 0, sizeof(*doc));
    doc->name = strdup(name);
    doc->text = malloc(len + 1);
    if (!doc->name || !doc->text) {
        cfg_doc_release(doc);
        cfg_errors_add(errs, "%s: out of memory", name);
        return -ENOMEM;
    }
    memcpy(doc->text, text, len);
    doc->text[len] = '\0';
    doc->len = len;

    json_error_t jerr;
    doc->root = json_loadb(doc->text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc->root) {
        cfg_errors_add(errs, "%s:%d:%d: invalid JSON: %s", name, jerr.line < 1 ? 1 : jerr.line,
                       jerr.column < 1 ? 1 : jerr.column, jerr.text);
        cfg_doc_release(doc);
        return -EINVAL;
    }
    if (!json_is_object(doc->root)) {
        cfg_errors_add(errs, "%s:1:1: the configuration must be a JSON object, got %s", name,
                       cfg_json_type_name(doc->root));
        cfg_doc_release(doc);
        return -EINVAL;
    }
    struct indexer ix = {.doc = doc, .s = doc->text, .len = len};
    int r = scan_value(&ix, "", CFG_NO_OFFSET, 0);
    if (r != 0) {
        /* The text parsed, so this is only a missing index (out of memory or nesting
         * deeper than we index): errors then point at the nearest known position. */
        cfg_errors_add(errs, "%s:1:1: warning: source positions unavailable (%s)", name,
                       strerror(-r));
    }
    return 0;
}

int cfg_doc_load_file(struct cfg_doc *doc, const char *path, struct cfg_errors *errs)
{
    memset(doc, 0, sizeof(*doc));
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        cfg_errors_add(errs, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int r = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > CFG_MAX_FILE_BYTES + 1) {
                cfg_errors_add(errs, "%s: file larger than %u bytes", path, CFG_MAX_FILE_BYTES);
                r = -EFBIG;
                goto out_free;
            }
            char *grown = realloc(buf, cap);
            if (!grown) {
                r = -ENOMEM;
                cfg_errors_add(errs, "%s: out of memory", path);
                goto out_free;
            }
            buf = grown;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        if (n == 0)
            break;
        len += n;
    }
    if (ferror(f)) {
        r = -EIO;
        cfg_errors_add(errs, "%s: read error", path);
        goto out_free;
    }
    r = cfg_doc_load_buffer(doc, path, buf ? buf : "", len, errs);
out_free:
    free(buf);
    fclose(f);
    return r;
}

/* ---- binding --------------------------------------------------------------------- */

const char *cfg_json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "value";
}

void cfg_strings_release(struct cfg_strings *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static void *field_ptr(const struct cfg_field *f, void *ctx)
{
    return (char *)ctx + f->offset;
}

static void field_release(const struct cfg_field *f, void *ctx)
{
    void *p = field_ptr(f, ctx);
    switch (f->type) {
    case CFG_STRING:
    case CFG_REGEX:
        free(*(char **)p);
        *(char **)p = NULL;
        break;
    case CFG_STRING_ARRAY:
        cfg_strings_release(p);
        break;
    case CFG_JSON:
        if (*(json_t **)p)
            json_decref(*(json_t **)p);
        *(json_t **)p = NULL;
        break;
    default:
        break;
    }
}

static int field_default(const struct cfg_field *f, void *ctx)
{
    void *p = field_ptr(f, ctx);
    field_release(f, ctx);
    const char *d = f->def;
    switch (f->type) {
    case CFG_BOOL:
        *(bool *)p = d && strcmp(d, "true") == 0;
        return 0;
    case CFG_INT:
        *(int64_t *)p = d ? strtoll(d, NULL, 10) : 0;
        return 0;
    case CFG_DOUBLE:
        *(double *)p = d ? strtod(d, NULL) : 0.0;
        return 0;
    case CFG_SECONDS:
        *(uint64_t *)p = d ? (uint64_t)(strtod(d, NULL) * 1e9) : 0;
        return 0;
    case CFG_ENUM:
        *(int *)p = 0;
        for (int i = 0; d && f->choices && f->choices[i]; i++)
            if (strcmp(f->choices[i], d) == 0)
                *(int *)p = i;
        return 0;
    case CFG_STRING:
    case CFG_REGEX:
        if (d) {
            *(char **)p = strdup(d);
            if (!*(char **)p)
                return -ENOMEM;
        }
        return 0;
    case CFG_STRING_ARRAY:
    case CFG_JSON:
        return 0;
    }
    return 0;
}

int cfg_bind_defaults(const struct cfg_field *fields, void *ctx)
{
    for (const struct cfg_field *f = fields; f && f->key; f++) {
        if (f->flags & CFG_UNSUPPORTED)
            continue; /* binds nothing */
        int r = field_default(f, ctx);
        if (r != 0)
            return r;
    }
    return 0;
}

void cfg_unbind(const struct cfg_field *fields, void *ctx)
{
    if (!ctx)
        return;
    for (const struct cfg_field *f = fields; f && f->key; f++)
        if (!(f->flags & CFG_UNSUPPORTED))
            field_release(f, ctx);
}

static bool bounded(const struct cfg_field *f)
{
    return f->min < f->max;
}

static int check_bounds(const struct cfg_doc *doc, const char *path, const struct cfg_field *f,
                        double v, struct cfg_errors *errs)
{
    if (!isfinite(v)) {
        cfg_error_at(errs, doc, path, false, "'%s' must be a finite number", f->key);
        return -EINVAL;
    }
    if (bounded(f) && (v < f->min || v > f->max)) {
        cfg_error_at(errs, doc, path, false, "'%s' is %g, out of range [%g, %g]", f->key, v, f->min,
                     f->max);
        return -EINVAL;
    }
    return 0;
}

static int type_error(const struct cfg_doc *doc, const char *path, const struct cfg_field *f,
                      const char *want, const json_t *v, struct cfg_errors *errs)
{
    cfg_error_at(errs, doc, path, false, "'%s' must be %s, got %s", f->key, want,
                 cfg_json_type_name(v));
    return -EINVAL;
}

static int check_regex(const struct cfg_doc *doc, const char *path, const struct cfg_field *f,
                       const char *pattern, struct cfg_errors *errs)
{
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &code, &offset, NULL);
    if (re) {
        pcre2_code_free(re);
        return 0;
    }
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof(msg));
    cfg_error_at(errs, doc, path, false, "'%s' is not a valid regular expression: %s at offset %zu",
                 f->key, (const char *)msg, (size_t)offset);
    return -EINVAL;
}

static int field_set(const struct cfg_doc *doc, const char *path, const struct cfg_field *f,
                     void *ctx, const json_t *v, struct cfg_errors *errs)
{
    void *p = field_ptr(f, ctx);
    switch (f->type) {
    case CFG_BOOL:
        if (!json_is_boolean(v))
            return type_error(doc, path, f, "a boolean", v, errs);
        *(bool *)p = json_is_true(v);
        return 0;
    case CFG_INT: {
        if (!json_is_integer(v))
            return type_error(doc, path, f, "an integer", v, errs);
        json_int_t n = json_integer_value(v);
        if (check_bounds(doc, path, f, (double)n, errs) != 0)
            return -EINVAL;
        *(int64_t *)p = n;
        return 0;
    }
    case CFG_DOUBLE:
    case CFG_SECONDS: {
        if (!json_is_number(v))
            return type_error(doc, path, f, "a number", v, errs);
        double d = json_number_value(v);
        if (check_bounds(doc, path, f, d, errs) != 0)
            return -EINVAL;
        if (f->type == CFG_DOUBLE) {
            *(double *)p = d;
        } else {
            if (d < 0 || d > 1e9) {
                cfg_error_at(errs, doc, path, false, "'%s' must be a non-negative duration",
                             f->key);
                return -EINVAL;
            }
            *(uint64_t *)p = (uint64_t)(d * 1e9);
        }
        return 0;
    }
    case CFG_ENUM: {
        if (!json_is_string(v))
            return type_error(doc, path, f, "a string", v, errs);
        const char *s = json_string_value(v);
        for (int i = 0; f->choices && f->choices[i]; i++) {
            if (strcmp(f->choices[i], s) == 0) {
                *(int *)p = i;
                return 0;
            }
        }
        char list[512] = "";
        size_t n = 0;
        for (int i = 0; f->choices && f->choices[i] && n < sizeof(list); i++)
            n += (size_t)snprintf(list + n, sizeof(list) - n, "%s'%s'", i ? ", " : "",
                                  f->choices[i]);
        cfg_error_at(errs, doc, path, false, "'%s' must be one of %s, got '%s'", f->key, list, s);
        return -EINVAL;
    }
    case CFG_STRING:
    case CFG_REGEX: {
        if (!json_is_string(v))
            return type_error(doc, path, f, "a string", v, errs);
        const char *s = json_string_value(v);
        if (f->type == CFG_REGEX && check_regex(doc, path, f, s, errs) != 0)
            return -EINVAL;
        char *copy = strdup(s);
        if (!copy)
            return -ENOMEM;
        free(*(char **)p);
        *(char **)p = copy;
        return 0;
    }
    case CFG_STRING_ARRAY: {
        if (!json_is_array(v))
            return type_error(doc, path, f, "an array of strings", v, errs);
        struct cfg_strings out = {0};
        size_t n = json_array_size(v);
        if (n) {
            out.v = calloc(n, sizeof(char *));
            if (!out.v)
                return -ENOMEM;
        }
        int r = 0;
        for (size_t i = 0; i < n; i++) {
            const json_t *item = json_array_get(v, i);
            if (!json_is_string(item)) {
                char ipath[CFG_MAX_PATH];
                cfg_path_index(ipath, sizeof(ipath), path, i);
                cfg_error_at(errs, doc, ipath, false, "'%s' items must be strings, got %s", f->key,
                             cfg_json_type_name(item));
                r = -EINVAL;
                continue;
            }
            out.v[out.n] = strdup(json_string_value(item));
            if (!out.v[out.n]) {
                r = -ENOMEM;
                break;
            }
            out.n++;
        }
        if (r != 0) {
            cfg_strings_release(&out);
            return r;
        }
        cfg_strings_release(p);
        *(struct cfg_strings *)p = out;
        return 0;
    }
    case CFG_JSON:
        if (*(json_t **)p)
            json_decref(*(json_t **)p);
        *(json_t **)p = json_incref((json_t *)v);
        return 0;
    }
    return -EINVAL;
}

static const struct cfg_field *find_field(const struct cfg_binding *bindings, size_t n,
                                          const char *key, void **ret_ctx)
{
    for (size_t b = 0; b < n; b++) {
        for (const struct cfg_field *f = bindings[b].fields; f && f->key; f++) {
            if (strcmp(f->key, key) == 0) {
                *ret_ctx = bindings[b].ctx;
                return f;
            }
        }
    }
    return NULL;
}

static void known_keys(const struct cfg_binding *bindings, size_t n, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t b = 0; b < n; b++) {
        for (const struct cfg_field *f = bindings[b].fields; f && f->key; f++) {
            if (f->flags & CFG_UNSUPPORTED)
                continue;
            int w = snprintf(out + len, cap - len, "%s%s", len ? ", " : "", f->key);
            if (w < 0 || (size_t)w >= cap - len) {
                if (cap > 4)
                    memcpy(out + cap - 4, "...", 4);
                return;
            }
            len += (size_t)w;
        }
    }
}

int cfg_bind(const struct cfg_doc *doc, const json_t *obj, const char *path,
             const struct cfg_binding *bindings, size_t n_bindings, struct cfg_errors *errs)
{
    int ret = 0;
    for (size_t b = 0; b < n_bindings; b++) {
        int r = cfg_bind_defaults(bindings[b].fields, bindings[b].ctx);
        if (r != 0)
            return r;
    }
    if (!obj)
        goto check_required;
    if (!json_is_object(obj)) {
        cfg_error_at(errs, doc, path, false, "'%s' must be an object, got %s",
                     path && path[0] ? path : "configuration", cfg_json_type_name(obj));
        return -EINVAL;
    }
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        char child[CFG_MAX_PATH];
        cfg_path_join(child, sizeof(child), path, key);
        void *ctx = NULL;
        const struct cfg_field *f = find_field(bindings, n_bindings, key, &ctx);
        if (!f) {
            char known[768];
            known_keys(bindings, n_bindings, known, sizeof(known));
            cfg_error_at(errs, doc, child, true, "unknown key '%s' in '%s' (known keys: %s)", key,
                         path && path[0] ? path : "/", known);
            ret = -EINVAL;
            continue;
        }
        if (f->flags & CFG_UNSUPPORTED) {
            cfg_error_at(errs, doc, child, true, "'%s' is not supported by Osprey%s%s", key,
                         f->help ? ": " : "", f->help ? f->help : "");
            ret = -EINVAL;
            continue;
        }
        int r = field_set(doc, child, f, ctx, value, errs);
        if (r == -ENOMEM)
            return r;
        if (r != 0)
            ret = -EINVAL;
    }
check_required:
    for (size_t b = 0; b < n_bindings; b++) {
        for (const struct cfg_field *f = bindings[b].fields; f && f->key; f++) {
            if ((f->flags & CFG_REQUIRED) && !(obj && json_object_get(obj, f->key))) {
                cfg_error_at(errs, doc, path, true, "missing required key '%s' in '%s'", f->key,
                             path && path[0] ? path : "/");
                ret = -EINVAL;
            }
        }
    }
    return ret;
}
