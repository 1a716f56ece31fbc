/*
 * tail_glob: file_path patterns (see tail_glob.h).
 *
 * DESIGN
 * The pattern is compiled into tokens (literal byte, `?`, `*`, `**`, class). Matching is
 * the textbook dynamic programme over (path prefix, token prefix) with one row kept on
 * the stack, so it is linear in the path for each token and never backtracks
 * exponentially, whatever the pattern. Expansion starts at the longest literal directory
 * prefix and lists directories down to the pattern's depth (or, below a `**`, down to
 * TAIL_GLOB_MAX_DEPTH), testing every regular file against the whole pattern.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "collectors/tail_glob.h"

#include <dirent.h>
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum glob_tok_kind { TOK_LIT, TOK_ANY, TOK_STAR, TOK_GLOBSTAR, TOK_CLASS };

struct glob_tok {
    uint8_t kind;
    uint8_t ch;   /* TOK_LIT */
    uint16_t cls; /* TOK_CLASS: index into classes */
};

struct glob_class {
    uint8_t bits[32];
};

struct tail_glob {
    char *pattern;
    struct glob_tok *toks;
    size_t n_toks;
    struct glob_class *classes;
    size_t n_classes;
    bool globstar;
    bool literal;
    char *base_dir;         /* literal directory prefix, "/" at least */
    char *literal_path;     /* the whole pattern, unescaped, when it has no wildcard */
    size_t levels;          /* path segments below base_dir (without globstar) */
    const char *suffix_ext; /* compressed suffix the pattern itself names, or NULL */
    pcre2_code *blacklist;
    pcre2_match_data *blacklist_md;
};

static const char *const compressed_exts[] = {".gz",  ".bz2", ".xz",  ".zst", ".zip",
                                              ".tar", ".rar", ".tgz", NULL};

static const char *compressed_ext_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return NULL;
    for (const char *const *e = compressed_exts; *e; e++)
        if (strcmp(dot, *e) == 0)
            return *e;
    return NULL;
}

void tail_glob_free(struct tail_glob *g)
{
    if (!g)
        return;
    pcre2_match_data_free(g->blacklist_md);
    pcre2_code_free(g->blacklist);
    free(g->pattern);
    free(g->toks);
    free(g->classes);
    free(g->base_dir);
    free(g->literal_path);
    free(g);
}

/* Parse a class starting after '['; returns the index after ']' or 0 when unterminated. */
static size_t parse_class(const char *p, size_t i, size_t len, struct glob_class *cls)
{
    bool negate = false;
    memset(cls, 0, sizeof(*cls));
    if (i < len && (p[i] == '!' || p[i] == '^')) {
        negate = true;
        i++;
    }
    bool first = true;
    while (i < len && (p[i] != ']' || first)) {
        first = false;
        uint8_t lo = (uint8_t)p[i];
        if (lo == '\\' && i + 1 < len)
            lo = (uint8_t)p[++i];
        uint8_t hi = lo;
        if (i + 2 < len && p[i + 1] == '-' && p[i + 2] != ']') {
            i += 2;
            hi = (uint8_t)p[i];
            if (hi == '\\' && i + 1 < len)
                hi = (uint8_t)p[++i];
        }
        for (unsigned c = lo; c <= hi; c++)
            cls->bits[c >> 3] |= (uint8_t)(1u << (c & 7));
        i++;
    }
    if (i >= len)
        return 0;
    if (negate)
        for (size_t k = 0; k < sizeof(cls->bits); k++)
            cls->bits[k] = (uint8_t)~cls->bits[k];
    cls->bits['/' >> 3] &= (uint8_t) ~(1u << ('/' & 7)); /* never matches a separator */
    return i + 1;
}

int tail_glob_compile(const char *pattern, const char *blacklist, char *err, size_t err_len,
                      struct tail_glob **ret)
{
    size_t len = strlen(pattern);
    if (len == 0 || pattern[0] != '/') {
        snprintf(err, err_len, "'%s' is not an absolute path", pattern);
        return -EINVAL;
    }
    if (len > TAIL_GLOB_MAX_PATH) {
        snprintf(err, err_len, "the pattern is longer than %d bytes", TAIL_GLOB_MAX_PATH);
        return -EINVAL;
    }
    struct tail_glob *g = calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;
    g->pattern = strdup(pattern);
    g->toks = calloc(len, sizeof(*g->toks));
    g->classes = calloc(len / 2 + 1, sizeof(*g->classes));
    if (!g->pattern || !g->toks || !g->classes)
        goto nomem;

    /* Tokens, and where the literal directory prefix ends (the last '/' before the
     * first wildcard). */
    size_t literal_dir_end = 0; /* offset in pattern of that '/' */
    bool wild_seen = false;
    for (size_t i = 0; i < len;) {
        struct glob_tok *t = &g->toks[g->n_toks];
        char ch = pattern[i];
        if (ch == '*') {
            if (i + 1 < len && pattern[i + 1] == '*') {
                t->kind = TOK_GLOBSTAR;
                g->globstar = true;
                while (i < len && pattern[i] == '*')
                    i++;
            } else {
                t->kind = TOK_STAR;
                i++;
            }
            wild_seen = true;
        } else if (ch == '?') {
            t->kind = TOK_ANY;
            i++;
            wild_seen = true;
        } else if (ch == '[') {
            size_t next = parse_class(pattern, i + 1, len, &g->classes[g->n_classes]);
            if (next == 0) {
                snprintf(err, err_len, "unterminated '[' at byte %zu of the pattern", i + 1);
                tail_glob_free(g);
                return -EINVAL;
            }
            t->kind = TOK_CLASS;
            t->cls = (uint16_t)g->n_classes++;
            i = next;
            wild_seen = true;
        } else {
            if (ch == '\\' && i + 1 < len)
                ch = pattern[++i];
            t->kind = TOK_LIT;
            t->ch = (uint8_t)ch;
            if (ch == '/' && !wild_seen)
                literal_dir_end = i;
            i++;
        }
        g->n_toks++;
    }
    g->literal = !wild_seen;
    if (g->literal) {
        g->literal_path = malloc(g->n_toks + 1);
        if (!g->literal_path)
            goto nomem;
        for (size_t i = 0; i < g->n_toks; i++)
            g->literal_path[i] = (char)g->toks[i].ch;
        g->literal_path[g->n_toks] = '\0';
    }
    /* The literal prefix up to literal_dir_end, with escapes removed. */
    g->base_dir = malloc(literal_dir_end + 2);
    if (!g->base_dir)
        goto nomem;
    size_t n = 0;
    for (size_t i = 0; i < literal_dir_end; i++) {
        if (pattern[i] == '\\' && i + 1 < literal_dir_end)
            i++;
        g->base_dir[n++] = pattern[i];
    }
    if (n == 0)
        g->base_dir[n++] = '/';
    g->base_dir[n] = '\0';
    /* Segments below the base directory: separators after literal_dir_end. */
    g->levels = 1;
    for (size_t i = literal_dir_end + 1; i < len; i++)
        if (pattern[i] == '/')
            g->levels++;
    const char *last = strrchr(pattern, '/');
    g->suffix_ext = compressed_ext_of(last ? last + 1 : pattern);

    if (blacklist && *blacklist) {
        int code;
        PCRE2_SIZE offset;
        g->blacklist = pcre2_compile((PCRE2_SPTR)blacklist, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &code,
                                     &offset, NULL);
        if (!g->blacklist) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof(msg));
            snprintf(err, err_len, "blacklist: %s at offset %zu", (const char *)msg,
                     (size_t)offset);
            tail_glob_free(g);
            return -EINVAL;
        }
        g->blacklist_md = pcre2_match_data_create_from_pattern(g->blacklist, NULL);
        if (!g->blacklist_md)
            goto nomem;
    }
    *ret = g;
    return 0;
nomem:
    tail_glob_free(g);
    return -ENOMEM;
}

static bool tok_matches(const struct tail_glob *g, const struct glob_tok *t, uint8_t c)
{
    switch (t->kind) {
    case TOK_LIT:
        return t->ch == c;
    case TOK_ANY:
        return c != '/';
    case TOK_CLASS:
        return (g->classes[t->cls].bits[c >> 3] >> (c & 7)) & 1u;
    default:
        return false;
    }
}

bool tail_glob_match(const struct tail_glob *g, const char *path, size_t len)
{
    size_t m = g->n_toks;
    if (len > TAIL_GLOB_MAX_PATH || m > TAIL_GLOB_MAX_PATH)
        return false;
    /* row[j]: tokens [0, j) match the path prefix read so far. Two rows on the stack. */
    bool rows[2][TAIL_GLOB_MAX_PATH + 1];
    bool *prev = rows[0], *cur = rows[1];
    prev[0] = true;
    for (size_t j = 1; j <= m; j++)
        prev[j] =
            prev[j - 1] && (g->toks[j - 1].kind == TOK_STAR || g->toks[j - 1].kind == TOK_GLOBSTAR);
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)path[i];
        bool any = false;
        cur[0] = false;
        for (size_t j = 1; j <= m; j++) {
            const struct glob_tok *t = &g->toks[j - 1];
            if (t->kind == TOK_STAR)
                cur[j] = cur[j - 1] || (prev[j] && c != '/');
            else if (t->kind == TOK_GLOBSTAR)
                cur[j] = cur[j - 1] || prev[j];
            else
                cur[j] = prev[j - 1] && tok_matches(g, t, c);
            any |= cur[j];
        }
        if (!any)
            return false;
        bool *swap = prev;
        prev = cur;
        cur = swap;
    }
    return prev[m];
}

bool tail_glob_excluded(const struct tail_glob *g, const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *ext = compressed_ext_of(base);
    if (ext && (!g->suffix_ext || strcmp(ext, g->suffix_ext) != 0))
        return true;
    if (g->blacklist &&
        pcre2_match(g->blacklist, (PCRE2_SPTR)base, strlen(base), 0, 0, g->blacklist_md, NULL) >= 0)
        return true;
    return false;
}

bool tail_glob_has_globstar(const struct tail_glob *g)
{
    return g->globstar;
}

bool tail_glob_is_literal(const struct tail_glob *g)
{
    return g->literal;
}

bool tail_glob_is_flat(const struct tail_glob *g)
{
    return !g->globstar && g->levels == 1;
}

const char *tail_glob_base_dir(const struct tail_glob *g)
{
    return g->base_dir;
}

void tail_match_list_release(struct tail_match_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].path);
    for (size_t i = 0; i < l->n_dirs; i++)
        free(l->dirs[i]);
    free(l->v);
    free(l->dirs);
    memset(l, 0, sizeof(*l));
}

static int add_dir(struct tail_match_list *l, const char *dir)
{
    if (l->n_dirs == l->cap_dirs) {
        size_t cap = l->cap_dirs ? l->cap_dirs * 2 : 8;
        char **v = realloc(l->dirs, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->dirs = v;
        l->cap_dirs = cap;
    }
    l->dirs[l->n_dirs] = strdup(dir);
    if (!l->dirs[l->n_dirs])
        return -ENOMEM;
    l->n_dirs++;
    return 0;
}

static int add_match(struct tail_match_list *l, const char *path, const struct stat *st)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct tail_match *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    struct tail_match *m = &l->v[l->n];
    m->path = strdup(path);
    if (!m->path)
        return -ENOMEM;
    m->dev = (uint64_t)st->st_dev;
    m->ino = (uint64_t)st->st_ino;
    m->size = (uint64_t)st->st_size;
    m->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    if (l->n > 0) {
        const struct tail_match *best = &l->v[l->newest];
        if (m->mtime_ns > best->mtime_ns ||
            (m->mtime_ns == best->mtime_ns && strcmp(m->path, best->path) > 0))
            l->newest = l->n;
    } else {
        l->newest = 0;
    }
    l->n++;
    return 0;
}

struct walk {
    const struct tail_glob *g;
    const char *exclude_prefix;
    size_t exclude_len;
    struct tail_match_list *out;
    size_t visits;
};

static bool under_excluded(const struct walk *w, const char *path)
{
    return w->exclude_len && strncmp(path, w->exclude_prefix, w->exclude_len) == 0 &&
           (path[w->exclude_len] == '/' || path[w->exclude_len] == '\0');
}

static int consider_file(struct walk *w, const char *path, const struct stat *st)
{
    if (!S_ISREG(st->st_mode) || under_excluded(w, path))
        return 0;
    if (!tail_glob_match(w->g, path, strlen(path)) || tail_glob_excluded(w->g, path))
        return 0;
    return add_match(w->out, path, st);
}

/* List `dir` (depth levels below the base directory). */
static int walk_dir(struct walk *w, const char *dir, size_t depth)
{
    const struct tail_glob *g = w->g;
    bool leaf_level = g->globstar || depth + 1 >= g->levels;
    if (leaf_level) {
        int r = add_dir(w->out, dir);
        if (r != 0)
            return r;
    }
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int ret = 0;
    struct dirent *e;
    char path[TAIL_GLOB_MAX_PATH + 256];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (++w->visits > TAIL_GLOB_MAX_VISITS) {
            w->out->truncated = true;
            break;
        }
        int n = snprintf(path, sizeof(path), "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/",
                         e->d_name);
        if (n < 0 || (size_t)n >= sizeof(path) || (size_t)n > TAIL_GLOB_MAX_PATH)
            continue;
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (under_excluded(w, path))
                continue;
            bool descend = g->globstar ? depth + 1 < TAIL_GLOB_MAX_DEPTH : depth + 1 < g->levels;
            if (descend && g->globstar) {
                /* Below a `**` a symlinked directory could loop: not followed. */
                struct stat lst;
                if (lstat(path, &lst) != 0 || S_ISLNK(lst.st_mode))
                    descend = false;
            }
            if (descend) {
                ret = walk_dir(w, path, depth + 1);
                if (ret != 0)
                    break;
            }
            continue;
        }
        if (leaf_level) {
            ret = consider_file(w, path, &st);
            if (ret != 0)
                break;
        }
    }
    closedir(d);
    return ret;
}

int tail_glob_expand(const struct tail_glob *g, const char *exclude_prefix,
                     struct tail_match_list *ret)
{
    tail_match_list_release(ret);
    struct walk w = {
        .g = g,
        .exclude_prefix = exclude_prefix,
        .exclude_len = exclude_prefix ? strlen(exclude_prefix) : 0,
        .out = ret,
    };
    int r;
    if (g->literal) {
        /* One file: stat it; its directory is where it would appear. */
        r = add_dir(ret, g->base_dir);
        struct stat st;
        if (r == 0 && stat(g->literal_path, &st) == 0)
            r = consider_file(&w, g->literal_path, &st);
    } else {
        r = walk_dir(&w, g->base_dir, 0);
    }
    if (r != 0)
        tail_match_list_release(ret);
    return r;
}
