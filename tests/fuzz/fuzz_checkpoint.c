/*
 * Fuzz target for the checkpoint file parser (agent/checkpoint).
 *
 * The input is parsed as a checkpoint file. On success the invariants the tailer relies
 * on are checked and a violation aborts: every entry has a non-empty path, lengths within
 * CHECKPOINT_FP_BYTES, tail_len <= offset, and no two entries share (dev, ino). On error
 * nothing is returned and the message is a non-empty string. Parsing the text again must
 * give the same result (the parser keeps no state).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct checkpoint_entry *e = NULL, *again = NULL;
    size_t n = 0, n_again = 0;
    char err[256];
    int r = checkpoint_parse((const char *)data, size, &e, &n, err, sizeof(err));
    if (r != 0) {
        if (e || n || err[0] == '\0' || strlen(err) >= sizeof(err))
            abort();
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!e[i].path || !e[i].path[0] || e[i].head_len > CHECKPOINT_FP_BYTES ||
            e[i].tail_len > CHECKPOINT_FP_BYTES || e[i].tail_len > e[i].offset)
            abort();
        for (size_t j = 0; j < i; j++)
            if (e[j].dev == e[i].dev && e[j].ino == e[i].ino)
                abort();
    }
    if (checkpoint_parse((const char *)data, size, &again, &n_again, err, sizeof(err)) != 0 ||
        n_again != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i].path, again[i].path) != 0 || e[i].offset != again[i].offset ||
            e[i].head_hash != again[i].head_hash || e[i].tail_hash != again[i].tail_hash)
            abort();
    checkpoint_entries_free(again, n_again);
    checkpoint_entries_free(e, n);
    return 0;
}
