/*
 * The pure parts of the AWS export path: endpoint resolution, error parsing for each
 * protocol, retry classification, full-jitter backoff bounds, and gzip round trips
 * (including the decompression bound).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/clock.h"
#include "exporters/aws.h"
#include "exporters/gzip.h"
#include "exporters/retry.h"

static void test_endpoints(void **state)
{
    (void)state;
    struct aws_endpoint ep;
    assert_int_equal(aws_endpoint_resolve(NULL, "logs", "eu-west-1", &ep), 0);
    assert_string_equal(ep.url, "https://logs.eu-west-1.amazonaws.com");
    assert_string_equal(ep.host, "logs.eu-west-1.amazonaws.com");
    assert_int_equal(aws_endpoint_resolve(NULL, "monitoring", "cn-north-1", &ep), 0);
    assert_string_equal(ep.url, "https://monitoring.cn-north-1.amazonaws.com.cn");
    assert_int_equal(aws_endpoint_resolve("http://127.0.0.1:4566/", "logs", NULL, &ep), 0);
    assert_string_equal(ep.url, "http://127.0.0.1:4566");
    assert_string_equal(ep.host, "127.0.0.1:4566");
    assert_int_equal(aws_endpoint_resolve("logs.example.com", "logs", "x", &ep), 0);
    assert_string_equal(ep.url, "https://logs.example.com");
    assert_int_equal(aws_endpoint_resolve(NULL, "logs", NULL, &ep), -EINVAL);
    assert_int_equal(aws_endpoint_resolve("http://h/path", "logs", "r", &ep), -EINVAL);
}

static void parse(const char *body, const char *content_type, const char *amzn,
                  enum aws_protocol proto, struct aws_error *err)
{
    struct http_response r;
    memset(&r, 0, sizeof(r));
    r.status = 400;
    r.body = (const uint8_t *)body;
    r.body_len = strlen(body);
    snprintf(r.content_type, sizeof(r.content_type), "%s", content_type);
    snprintf(r.amzn_error_type, sizeof(r.amzn_error_type), "%s", amzn);
    aws_error_parse(&r, proto, err);
}

static void test_error_parsing(void **state)
{
    (void)state;
    struct aws_error err;
    parse("<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><Error>"
          "<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
          "<RequestId>x</RequestId></ErrorResponse>",
          "text/xml", "", AWS_PROTOCOL_QUERY, &err);
    assert_string_equal(err.code, "Throttling");
    assert_string_equal(err.message, "Rate exceeded");

    parse("{\"__type\":\"com.amazonaws.logs#ResourceNotFoundException\",\"message\":\"The "
          "specified log stream does not exist.\"}",
          "application/x-amz-json-1.1", "", AWS_PROTOCOL_JSON, &err);
    assert_string_equal(err.code, "ResourceNotFoundException");
    assert_string_equal(err.message, "The specified log stream does not exist.");

    parse("{\"message\":\"Rate exceeded\"}", "application/json",
          "ThrottledException:http://internal.amazon.com/coral/com.amazon.xray/",
          AWS_PROTOCOL_REST_JSON, &err);
    assert_string_equal(err.code, "ThrottledException");
    assert_string_equal(err.message, "Rate exceeded");

    parse("not json", "text/html", "", AWS_PROTOCOL_JSON, &err);
    assert_string_equal(err.code, "");
    parse("<Error><Code>Unterminated", "text/xml", "", AWS_PROTOCOL_QUERY, &err);
    assert_string_equal(err.code, "");
}

static void test_classification(void **state)
{
    (void)state;
    assert_true(aws_error_is_throttling("Throttling"));
    assert_true(aws_error_is_throttling("ThrottlingException"));
    assert_true(aws_error_is_throttling("ThrottledException"));
    assert_false(aws_error_is_throttling("InvalidParameterException"));
    assert_true(aws_error_is_transient("ServiceUnavailableException"));
    assert_true(aws_error_is_transient("InternalFailure"));
    assert_false(aws_error_is_transient("ResourceNotFoundException"));
    assert_true(aws_error_is_expired_credentials("ExpiredTokenException"));
    assert_false(aws_error_is_expired_credentials("InvalidSignatureException"));
}

static void test_backoff_bounds(void **state)
{
    (void)state;
    struct retry_rng rng;
    retry_rng_seed(&rng, 42);
    uint64_t base = 200 * NS_PER_MS, cap = 30 * NS_PER_SEC;
    for (unsigned attempt = 0; attempt < 40; attempt++) {
        uint64_t ceiling = base << (attempt < 20 ? attempt : 20);
        if (ceiling > cap || attempt >= 20)
            ceiling = cap;
        uint64_t max_seen = 0;
        for (int i = 0; i < 2000; i++) {
            uint64_t d = retry_backoff_ns(&rng, attempt, base, cap);
            assert_true(d <= ceiling);
            if (d > max_seen)
                max_seen = d;
        }
        /* Full jitter spreads over the whole range, not just its top. */
        assert_true(max_seen > ceiling / 2);
    }
    /* Deterministic for a fixed seed. */
    struct retry_rng a, b;
    retry_rng_seed(&a, 7);
    retry_rng_seed(&b, 7);
    for (int i = 0; i < 10; i++)
        assert_int_equal(retry_backoff_ns(&a, 3, base, cap), retry_backoff_ns(&b, 3, base, cap));
}

static void test_gzip_round_trip(void **state)
{
    (void)state;
    static uint8_t input[200000];
    for (size_t i = 0; i < sizeof(input); i++)
        input[i] = (uint8_t)("osprey log line "[i % 16] + (i / 4096) % 3);
    struct buf z, out;
    buf_init(&z, 1 << 20);
    buf_init(&out, 1 << 20);
    assert_int_equal(gzip_compress(input, sizeof(input), 6, &z), 0);
    assert_true(z.len < sizeof(input) / 10);
    assert_int_equal(z.data[0], 0x1f); /* gzip magic */
    assert_int_equal(z.data[1], 0x8b);
    assert_int_equal(gzip_decompress(z.data, z.len, &out), 0);
    assert_int_equal(out.len, sizeof(input));
    assert_memory_equal(out.data, input, sizeof(input));

    /* A bomb: decompression stops at the output's cap. */
    struct buf small;
    buf_init(&small, 1000);
    assert_int_equal(gzip_decompress(z.data, z.len, &small), -ENOBUFS);
    assert_int_equal(small.len, 0);
    /* Truncated input is an error, not a partial success. */
    buf_reset(&out);
    assert_int_equal(gzip_decompress(z.data, z.len / 2, &out), -EIO);
    /* Compression that would not fit its cap fails cleanly. */
    struct buf tiny;
    buf_init(&tiny, 10);
    assert_int_equal(gzip_compress(input, sizeof(input), 6, &tiny), -ENOBUFS);
    buf_release(&z);
    buf_release(&out);
    buf_release(&small);
    buf_release(&tiny);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints),       cmocka_unit_test(test_error_parsing),
        cmocka_unit_test(test_classification),  cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_gzip_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
