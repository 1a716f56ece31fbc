/*
 * Fuzz target for the shared-file parser (exporters/ini).
 *
 * The whole input is parsed as a credentials file and as a config file, for the
 * profiles "default", "dev" and the name written on the input's first line (so the
 * fuzzer can aim at any section name). On success the output invariants are checked
 * and a violation aborts: every value is NUL-terminated, non-empty and free of NUL
 * bytes inside, and holds no line break (a value is one line of the input).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/ini.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *buf, size_t len, enum ini_file_kind kind, const char *profile)
{
    struct ini_profile p;
    int r = ini_profile_parse(buf, len, kind, profile, &p);
    if (r != 0) {
        for (size_t i = 0; i < INI_KEY_COUNT; i++)
            if (p.values[i])
                abort(); /* on error nothing is returned */
        return;
    }
    for (size_t i = 0; i < INI_KEY_COUNT; i++) {
        const char *v = ini_profile_get(&p, (enum ini_key)i);
        if (!v)
            continue;
        size_t n = strlen(v);
        if (n == 0 || n > len || strchr(v, '\n'))
            abort();
        if (!p.found)
            abort(); /* a value without a section of that profile */
    }
    if (p.bad_lines > len)
        abort();
    ini_profile_release(&p);
    for (size_t i = 0; i < INI_KEY_COUNT; i++)
        if (p.values[i])
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    char name[64];
    size_t n = 0;
    while (n < size && n < sizeof(name) - 1 && data[n] != '\n')
        n++;
    memcpy(name, data, n);
    name[n] = '\0';
    static const enum ini_file_kind kinds[] = {INI_CREDENTIALS, INI_CONFIG};
    for (size_t k = 0; k < 2; k++) {
        check(buf, size, kinds[k], "default");
        check(buf, size, kinds[k], "dev");
        check(buf, size, kinds[k], name);
    }
    return 0;
}
