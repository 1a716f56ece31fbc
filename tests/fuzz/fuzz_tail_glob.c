/*
 * Fuzz target: the tailer's file_path pattern compiler and matcher (collectors/tail_glob.c).
 * Input: "<pattern>\n<path>" (a missing leading '/' is added to the pattern). Checks that
 * compile accepts or refuses without crashing, that matching any path terminates within
 * bounds, and that a pattern without wildcards matches exactly its own text.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/tail_glob.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * TAIL_GLOB_MAX_PATH)
        return 0;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    char *pattern = malloc(plen + 2);
    if (!pattern)
        return 0;
    size_t n = 0;
    if (plen == 0 || data[0] != '/')
        pattern[n++] = '/';
    for (size_t i = 0; i < plen; i++)
        pattern[n++] = data[i] ? (char)data[i] : 'x'; /* a C string: no NUL inside */
    pattern[n] = '\0';
    const char *path = nl ? (const char *)nl + 1 : "";
    size_t path_len = nl ? size - plen - 1 : 0;

    char err[256];
    struct tail_glob *g = NULL;
    if (tail_glob_compile(pattern, NULL, err, sizeof(err), &g) == 0) {
        (void)tail_glob_match(g, path, path_len);
        (void)tail_glob_excluded(g, pattern);
        (void)tail_glob_base_dir(g);
        if (tail_glob_is_literal(g) && !strchr(pattern, '\\') &&
            !tail_glob_match(g, pattern, strlen(pattern)))
            abort();
        tail_glob_free(g);
    }
    free(pattern);
    return 0;
}
