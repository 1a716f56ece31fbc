/* Fuzz what Osprey reads from AWS answers outside the exporters' own parsers: the error
 * code/message of every protocol (query XML, JSON 1.x, REST-JSON with x-amzn-ErrorType),
 * and the ISO 8601 expiration times of credential answers. */
#include <stdint.h>
#include <string.h>

#include "exporters/aws.h"
#include "exporters/creds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_response r;
    memset(&r, 0, sizeof(r));
    r.status = 400;
    r.body = data;
    r.body_len = size;
    /* The first bytes double as an x-amzn-ErrorType header value. */
    size_t hdr = size < sizeof(r.amzn_error_type) - 1 ? size : sizeof(r.amzn_error_type) - 1;
    memcpy(r.amzn_error_type, data, hdr);
    r.amzn_error_type[hdr] = '\0';
    struct aws_error err;
    aws_error_parse(&r, AWS_PROTOCOL_QUERY, &err);
    aws_error_parse(&r, AWS_PROTOCOL_JSON, &err);
    aws_error_parse(&r, AWS_PROTOCOL_REST_JSON, &err);
    (void)aws_error_is_throttling(err.code);
    uint64_t ns;
    (void)creds_parse_time((const char *)data, size, &ns);
    return 0;
}
