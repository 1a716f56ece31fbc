/*
 * The shared-file parser (exporters/ini): profile sections in both file kinds, key
 * matching, comments, continuation lines, merging, malformed lines and edge cases.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "exporters/ini.h"

static struct ini_profile parse(const char *text, enum ini_file_kind kind, const char *name)
{
    struct ini_profile p;
    assert_int_equal(ini_profile_parse(text, strlen(text), kind, name, &p), 0);
    return p;
}

static void assert_value(const struct ini_profile *p, enum ini_key k, const char *want)
{
    const char *v = ini_profile_get(p, k);
    if (!want) {
        assert_null(v);
        return;
    }
    assert_non_null(v);
    assert_string_equal(v, want);
}

static void test_credentials_file(void **state)
{
    (void)state;
    const char *text = "[default]\n"
                       "aws_access_key_id = AKIDDEFAULT\n"
                       "aws_secret_access_key = secret/default+key\n"
                       "\n"
                       "[dev]\n"
                       "aws_access_key_id=AKIDDEV\n"
                       "aws_secret_access_key=devsecret\n"
                       "aws_session_token = tok==\n";
    struct ini_profile p = parse(text, INI_CREDENTIALS, "default");
    assert_true(p.found);
    assert_value(&p, INI_AWS_ACCESS_KEY_ID, "AKIDDEFAULT");
    assert_value(&p, INI_AWS_SECRET_ACCESS_KEY, "secret/default+key");
    assert_value(&p, INI_AWS_SESSION_TOKEN, NULL);
    assert_int_equal(p.bad_lines, 0);
    ini_profile_release(&p);

    p = parse(text, INI_CREDENTIALS, "dev");
    assert_true(p.found);
    assert_value(&p, INI_AWS_ACCESS_KEY_ID, "AKIDDEV");
    assert_value(&p, INI_AWS_SESSION_TOKEN, "tok==");
    ini_profile_release(&p);

    p = parse(text, INI_CREDENTIALS, "missing");
    assert_false(p.found);
    assert_value(&p, INI_AWS_ACCESS_KEY_ID, NULL);
    ini_profile_release(&p);

    /* In the credentials file "[profile dev]" is a profile named "profile dev". */
    p = parse("[profile dev]\naws_access_key_id = X\n", INI_CREDENTIALS, "dev");
    assert_false(p.found);
    ini_profile_release(&p);
}

static void test_config_file(void **state)
{
    (void)state;
    const char *text = "[default]\r\n"
                       "region = us-east-1\r\n"
                       "[profile dev]\r\n"
                       "role_arn = arn:aws:iam::123456789012:role/dev\r\n"
                       "source_profile = default\r\n"
                       "[profile   \"spaced name\"  ]\n"
                       "region: eu-west-1\n"
                       "[dev]\n"
                       "region = wrong\n"
                       "[profile default]\n"
                       "external_id = ext\n";
    struct ini_profile p = parse(text, INI_CONFIG, "dev");
    assert_true(p.found);
    assert_value(&p, INI_ROLE_ARN, "arn:aws:iam::123456789012:role/dev");
    assert_value(&p, INI_SOURCE_PROFILE, "default");
    assert_value(&p, INI_REGION, NULL); /* "[dev]" is not a config-file profile */
    ini_profile_release(&p);

    p = parse(text, INI_CONFIG, "spaced name");
    assert_true(p.found);
    assert_value(&p, INI_REGION, "eu-west-1");
    ini_profile_release(&p);

    /* "[default]" and "[profile default]" are the same profile, merged. */
    p = parse(text, INI_CONFIG, "default");
    assert_true(p.found);
    assert_value(&p, INI_REGION, "us-east-1");
    assert_value(&p, INI_EXTERNAL_ID, "ext");
    ini_profile_release(&p);

    p = parse("[profile]\nregion = a\n[profiledev]\nregion = b\n", INI_CONFIG, "dev");
    assert_false(p.found);
    ini_profile_release(&p);
}

static void test_comments_keys_and_values(void **state)
{
    (void)state;
    const char *text = "\xEF\xBB\xBF# comment\n"
                       "; comment\n"
                       "[default]\n"
                       "   # indented comment\n"
                       "AWS_ACCESS_KEY_ID = UPPERKEY\n"
                       "aws_secret_access_key = value # not a comment\n"
                       "aws_security_token = legacy\n"
                       "unknown_key = ignored\n";
    struct ini_profile p = parse(text, INI_CREDENTIALS, "default");
    assert_true(p.found);
    assert_value(&p, INI_AWS_ACCESS_KEY_ID, "UPPERKEY");
    assert_value(&p, INI_AWS_SECRET_ACCESS_KEY, "value # not a comment");
    assert_value(&p, INI_AWS_SESSION_TOKEN, "legacy");
    ini_profile_release(&p);

    /* aws_session_token wins over the legacy name, whatever the order. */
    p = parse("[default]\naws_session_token = new\naws_security_token = old\n", INI_CREDENTIALS,
              "default");
    assert_value(&p, INI_AWS_SESSION_TOKEN, "new");
    ini_profile_release(&p);
}

static void test_continuation_merge_and_repeats(void **state)
{
    (void)state;
    const char *text = "[default]\n"
                       "s3 =\n"
                       "    aws_access_key_id = NESTED\n"
                       "    max_concurrent_requests = 10\n"
                       "aws_access_key_id = FIRST\n"
                       "region = r1\n"
                       "[other]\n"
                       "aws_access_key_id = OTHER\n"
                       "[default]\n"
                       "aws_access_key_id = SECOND\n"
                       "region =\n";
    struct ini_profile p = parse(text, INI_CREDENTIALS, "default");
    assert_value(&p, INI_AWS_ACCESS_KEY_ID, "SECOND");
    assert_value(&p, INI_REGION, NULL); /* an empty value clears */
    ini_profile_release(&p);

    /* An indented key that is not deeper than the previous key is a key. */
    p = parse("[default]\n  aws_access_key_id = INDENTED\n  region = r\n", INI_CREDENTIALS,
              "default");
    assert_value(&p, INI_AWS_ACCESS_KEY_ID, "INDENTED");
    assert_value(&p, INI_REGION, "r");
    ini_profile_release(&p);
}

static void test_malformed(void **state)
{
    (void)state;
    const char text[] = "stray = before any section\n"
                        "[default]\n"
                        "no delimiter here\n"
                        "= no key\n"
                        "[unclosed\n"
                        "aws_access_key_id = AKID\x00X\n"
                        "aws_secret_access_key = ok\n";
    struct ini_profile p;
    assert_int_equal(ini_profile_parse(text, sizeof(text) - 1, INI_CREDENTIALS, "default", &p), 0);
    assert_true(p.found);
    assert_int_equal(p.bad_lines, 5);
    assert_value(&p, INI_AWS_ACCESS_KEY_ID, NULL);
    assert_value(&p, INI_AWS_SECRET_ACCESS_KEY, "ok");
    ini_profile_release(&p);

    /* Not NUL-terminated: nothing past len is read. */
    char buf[] = "[default]\nregion = abcXXXX";
    assert_int_equal(ini_profile_parse(buf, strlen(buf) - 4, INI_CONFIG, "default", &p), 0);
    assert_value(&p, INI_REGION, "abc");
    ini_profile_release(&p);

    assert_int_equal(ini_profile_parse(NULL, 0, INI_CONFIG, "default", &p), 0);
    assert_false(p.found);
    assert_int_equal(ini_profile_parse(NULL, 3, INI_CONFIG, "default", &p), -EINVAL);
    assert_int_equal(ini_profile_parse("x", 1, INI_CONFIG, NULL, &p), -EINVAL);
    assert_int_equal(ini_profile_parse("x", 1, (enum ini_file_kind)7, "default", &p), -EINVAL);
    ini_profile_release(NULL);
    assert_string_equal(ini_key_name(INI_WEB_IDENTITY_TOKEN_FILE), "web_identity_token_file");
    assert_null(ini_key_name(INI_KEY_COUNT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credentials_file),
        cmocka_unit_test(test_config_file),
        cmocka_unit_test(test_comments_keys_and_values),
        cmocka_unit_test(test_continuation_merge_and_repeats),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
