/*
 * Fuzz target for the SigV4 canonicaliser (exporters/sigv4).
 *
 * Input layout: byte 0 selects the flags (low 5 bits), then '\n'-separated fields:
 *   method \n path \n query \n header-name:value \n ... [\n\n body]
 * A header line starting with SP or HT continues the previous value (multi-line value),
 * an empty line starts the body. Every field may hold arbitrary bytes; embedded NULs
 * simply cut the C strings short. On success the output invariants are checked and a
 * violation aborts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/sigv4.h"

#define FUZZ_MAX_HEADERS (SIGV4_MAX_HEADERS + 4)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_lower_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* `secret` is NULL when the input itself contains the secret (then it may legitimately be
 * echoed in the canonical request). */
static void check_result(const struct sigv4_result *res, const char *secret, unsigned flags)
{
    if (!is_lower_hex(res->signature, SIGV4_HEX_SHA256_LEN) ||
        strlen(res->amz_date) != SIGV4_AMZ_DATE_LEN || !res->canonical_request ||
        !res->string_to_sign || !res->signed_headers)
        abort();
    if (secret && (strstr(res->canonical_request, secret) || strstr(res->string_to_sign, secret)))
        abort();
    if (flags & SIGV4_PRESIGN) {
        if (!res->presigned_query || res->authorization ||
            (secret && strstr(res->presigned_query, secret)))
            abort();
    } else {
        if (!res->authorization || (secret && strstr(res->authorization, secret)) ||
            !strstr(res->authorization, res->signature))
            abort();
    }
    /* The signed header list is part of the canonical request. */
    if (!strstr(res->canonical_request, res->signed_headers))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    struct sigv4_header headers[FUZZ_MAX_HEADERS];
    char *values[FUZZ_MAX_HEADERS] = {0};
    size_t n_headers = 0;
    const char *body = NULL;
    size_t body_len = 0;

    if (size < 1)
        return 0;
    unsigned flags = data[0] & (unsigned)SIGV4_FLAG_ALL;
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    size_t len = size - 1;

    /* Split in place into lines. */
    const char *fields[3] = {"", "", ""};
    size_t field = 0;
    char *p = text, *end = text + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *line_end = nl ? nl : end;
        *line_end = '\0';
        if (field < 3) {
            fields[field++] = p;
        } else if (p == line_end) {
            /* Blank line: the rest is the body. */
            body = nl ? nl + 1 : end;
            body_len = (size_t)(end - body);
            break;
        } else if ((*p == ' ' || *p == '\t') && n_headers > 0) {
            /* Continuation: append "\n" + line to the previous value. */
            char *prev = values[n_headers - 1];
            size_t a = strlen(prev), b = strlen(p);
            char *joined = realloc(prev, a + 1 + b + 1);
            if (!joined)
                goto out_free_values;
            joined[a] = '\n';
            memcpy(joined + a + 1, p, b + 1);
            values[n_headers - 1] = joined;
            headers[n_headers - 1].value = joined;
        } else if (n_headers < FUZZ_MAX_HEADERS) {
            char *colon = strchr(p, ':');
            const char *v = "";
            if (colon) {
                *colon = '\0';
                v = colon + 1;
            }
            values[n_headers] = strdup(v);
            if (!values[n_headers])
                goto out_free_values;
            headers[n_headers].name = p;
            headers[n_headers].value = values[n_headers];
            n_headers++;
        }
        if (!nl)
            break;
        p = nl + 1;
    }

    struct sigv4_request req = {
        .method = fields[0],
        .path = fields[1],
        .query = fields[2],
        .headers = headers,
        .header_count = n_headers,
        .body = body,
        .body_len = body_len,
        .expires_seconds = 1 + (uint32_t)(len % SIGV4_MAX_EXPIRES_SECONDS),
    };
    struct sigv4_credentials creds = {
        .access_key_id = "AKIDEXAMPLE",
        .secret_access_key = secret,
        .session_token = (flags & 1u) ? "FQoGZXIvYXdzEXAMPLE/+=" : NULL,
    };
    struct sigv4_result res = {0};
    const char *absent = memmem(data, size, secret, strlen(secret)) ? NULL : secret;
    if (sigv4_sign(&req, &creds, "us-east-1", "service", INT64_C(1440938160), flags, &res) == 0) {
        check_result(&res, absent, flags);
        sigv4_result_release(&res);
    }
    /* A second pass with a fixed payload hash and the default flags. */
    req.payload_hash = SIGV4_UNSIGNED_PAYLOAD;
    if (sigv4_sign(&req, &creds, "us-east-1", "service", INT64_C(1440938160), SIGV4_FLAGS_DEFAULT,
                   &res) == 0) {
        check_result(&res, absent, SIGV4_FLAGS_DEFAULT);
        sigv4_result_release(&res);
    }

out_free_values:
    for (size_t i = 0; i < n_headers; i++)
        free(values[i]);
    free(text);
    return 0;
}
