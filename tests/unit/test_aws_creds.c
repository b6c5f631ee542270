/* util/awscreds: the shared credentials file reader and the order in which credentials are
 * found (configuration, configured profile, environment, AWS_PROFILE or default of the shared
 * file), with every file and variable made here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/awscreds.h"
#include "util/log.h"
#include "util/util.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

static const char file_text[] = "# shared credentials file\n"
                                "[default]\n"
                                "aws_access_key_id = AKIDDEFAULT\n"
                                "aws_secret_access_key = " SECRET "\n"
                                "\n"
                                "[ci]\n"
                                "AWS_ACCESS_KEY_ID=AKIDCI\r\n"
                                "aws_secret_access_key=ci-secret = with equals\n"
                                "aws_session_token =   ci-token  \n"
                                "s3 =\n"
                                "  max_concurrent_requests = 20\n"
                                "; a comment\n"
                                "[ empty token ]\n"
                                "aws_access_key_id = AKIDE\n"
                                "aws_secret_access_key = e\n"
                                "aws_session_token =\n"
                                "[assumed]\n"
                                "role_arn = arn:aws:iam::123456789012:role/x\n"
                                "source_profile = ci\n"
                                "[sso]\n"
                                "sso_session = corp\n"
                                "[half]\n"
                                "aws_access_key_id = AKIDHALF\n";

static void test_parse(void **state)
{
    (void)state;
    static const struct {
        const char *profile;
        const char *id, *secret, *token; /* id NULL: an error containing `secret` */
    } cases[] = {
        {"default", "AKIDDEFAULT", SECRET, NULL},
        {"ci", "AKIDCI", "ci-secret = with equals", "ci-token"},
        {"empty token", "AKIDE", "e", NULL},
        {"assumed", NULL,
         "profile 'assumed' of f gets its keys through role_arn, which is not supported", NULL},
        {"sso", NULL, "profile 'sso' of f gets its keys through sso_session", NULL},
        {"half", NULL, "profile 'half' of f has no aws_secret_access_key", NULL},
        {"nope", NULL, "no profile 'nope' in f", NULL},
        {"Default", NULL, "no profile 'Default' in f", NULL},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        struct as_awscreds c;
        struct as_err err;
        as_err_clear(&err);
        int rc = as_awscreds_parse(file_text, strlen(file_text), cases[i].profile, "f", &c, &err);
        if (cases[i].id == NULL) {
            if (rc == 0 || strstr(err.msg, cases[i].secret) == NULL || c.access_key_id != NULL ||
                c.secret_access_key != NULL || c.session_token != NULL)
                fail_msg("case %zu: rc=%d '%s'", i, rc, err.msg);
            assert_null(strstr(err.msg, SECRET));
            continue;
        }
        if (rc != 0)
            fail_msg("case %zu: %s", i, err.msg);
        assert_string_equal(c.access_key_id, cases[i].id);
        assert_string_equal(c.secret_access_key, cases[i].secret);
        if (cases[i].token)
            assert_string_equal(c.session_token, cases[i].token);
        else
            assert_null(c.session_token);
        char source[160];
        snprintf(source, sizeof(source), "profile '%s' of f", cases[i].profile);
        assert_string_equal(c.source, source);
        as_awscreds_free(&c);
        assert_null(c.access_key_id);
    }
    as_awscreds_free(NULL);
}

static void test_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *error;
    } cases[] = {
        {"aws_access_key_id = x\n[default]\n", "f:1: a value before any [section]"},
        {"[default\naws_access_key_id = x\n", "f:1: a section header without ']'"},
        {"[default]\n[]\n", "f:2: an empty section name"},
        {"[default]\njust words\n", "f:2: neither a [section] nor 'key = value'"},
        {"[default]\n= value\n", "f:2: a value without a key"},
        {"[default]\naws_access_key_id = a\0b\n", "f:2: a NUL byte"},
        {"", "no profile 'default' in f"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        struct as_awscreds c;
        struct as_err err;
        size_t len = strlen(cases[i].text);
        if (strstr(cases[i].text, "= a") != NULL)
            len += 3; /* the case with a NUL: its bytes after it */
        if (as_awscreds_parse(cases[i].text, len, "default", "f", &c, &err) == 0)
            fail_msg("case %zu accepted", i);
        if (strstr(err.msg, cases[i].error) == NULL)
            fail_msg("case %zu: '%s'", i, err.msg);
    }
}

/* ---- the order ---- */

static char dir[64];

static void write_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void clear_env(void)
{
    const char *vars[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                          "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE"};
    for (size_t i = 0; i < AS_ARRAY_LEN(vars); i++)
        unsetenv(vars[i]);
    setenv("HOME", dir, 1);
}

/* Resolves with o; expects the key id, the source (a prefix), or an error (id NULL). */
static void expect(const struct as_awscreds_opts *o, const char *id, const char *what)
{
    struct as_awscreds c;
    struct as_err err;
    as_err_clear(&err);
    int rc = as_awscreds_resolve(o, &c, &err);
    if (id == NULL) {
        if (rc == 0 || strstr(err.msg, what) == NULL)
            fail_msg("expected '%s', got rc=%d '%s'", what, rc, err.msg);
        assert_null(strstr(err.msg, SECRET));
        return;
    }
    if (rc != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(c.access_key_id, id);
    if (strncmp(c.source, what, strlen(what)) != 0)
        fail_msg("source '%s', expected '%s'", c.source, what);
    as_awscreds_free(&c);
}

static void test_resolve_order(void **state)
{
    (void)state;
    char creds[128], other[128], aws_dir[128];
    snprintf(creds, sizeof(creds), "%s/credentials", dir);
    snprintf(other, sizeof(other), "%s/other", dir);
    snprintf(aws_dir, sizeof(aws_dir), "%s/.aws", dir);
    clear_env();
    write_file("credentials", file_text);
    write_file("other", "[default]\naws_access_key_id=AKIDOTHER\naws_secret_access_key=o\n");
    struct as_awscreds_opts none = {0};

    /* Nothing anywhere. */
    expect(&none, NULL,
           "no AWS credentials: none in the configuration, AWS_ACCESS_KEY_ID is not "
           "set, and ");
    /* ~/.aws/credentials, profile default. */
    assert_int_equal(mkdir(aws_dir, 0700), 0);
    write_file(".aws/credentials", "[default]\naws_access_key_id=AKIDHOME\naws_secret_access_key"
                                   "=h\n[ci]\naws_access_key_id=AKIDHOMECI\naws_secret_access_"
                                   "key=h\n");
    expect(&none, "AKIDHOME", "profile 'default' of ");
    /* AWS_PROFILE picks the profile, AWS_SHARED_CREDENTIALS_FILE the file. */
    setenv("AWS_PROFILE", "ci", 1);
    expect(&none, "AKIDHOMECI", "profile 'ci' of ");
    setenv("AWS_SHARED_CREDENTIALS_FILE", creds, 1);
    expect(&none, "AKIDCI", "profile 'ci' of ");
    /* The environment's keys come before the file. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    expect(&none, "AKIDENV", "environment");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    expect(&none, NULL, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    /* A profile in the configuration comes before the environment (as the AWS CLI's --profile),
     * from the configuration's file when it names one. */
    struct as_awscreds_opts prof = {.profile = "default"};
    expect(&prof, "AKIDDEFAULT", "profile 'default' of ");
    prof.file = other;
    expect(&prof, "AKIDOTHER", "profile 'default' of ");
    prof.profile = "ci";
    expect(&prof, NULL, "no profile 'ci' in ");
    /* Keys in the configuration come first. */
    struct as_awscreds_opts keys = {.access_key_id = "AKIDCONF", .secret_access_key = "s"};
    expect(&keys, "AKIDCONF", "configuration");
    keys.secret_access_key = "";
    expect(&keys, NULL, "access_key_id is set but secret_access_key is not");
    /* A missing file named by AWS_PROFILE or the configuration is an error of its own. */
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    expect(&none, NULL, "cannot open /nonexistent/credentials: No such file or directory");
    unsetenv("AWS_PROFILE");
    expect(&none, NULL,
           "/nonexistent/credentials does not exist (instance and container "
           "credentials are not fetched)");
    /* "~/" in the configuration's file is HOME's. */
    struct as_awscreds_opts tilde = {.profile = "ci", .file = "~/.aws/credentials"};
    expect(&tilde, "AKIDHOMECI", "profile 'ci' of ");
    clear_env();
}

static void test_session_token_and_secrets(void **state)
{
    (void)state;
    char creds[128];
    snprintf(creds, sizeof(creds), "%s/credentials", dir);
    clear_env();
    write_file("credentials", file_text);
    as_log_secrets_clear();
    struct as_awscreds_opts o = {.profile = "ci", .file = creds};
    struct as_awscreds c;
    struct as_err err;
    assert_int_equal(as_awscreds_resolve(&o, &c, &err), 0);
    assert_string_equal(c.session_token, "ci-token");
    /* The secret and the token are registered with the log: a line never shows them. */
    char line[128];
    snprintf(line, sizeof(line), "a ci-secret = with equals b ci-token c AKIDCI");
    as_log_mask(line, strlen(line));
    assert_string_equal(line, "a *** b *** c AKIDCI");
    as_awscreds_free(&c);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
    setenv("AWS_SESSION_TOKEN", "env-token", 1);
    struct as_awscreds_opts none = {0};
    assert_int_equal(as_awscreds_resolve(&none, &c, &err), 0);
    assert_string_equal(c.session_token, "env-token");
    as_awscreds_free(&c);
    as_log_secrets_clear();
    clear_env();
}

/* Only a regular file of at most AS_AWSCREDS_FILE_MAX bytes is read. */
static void test_file_limits(void **state)
{
    (void)state;
    char path[128];
    clear_env();
    struct as_awscreds_opts o = {.profile = "default", .file = dir};
    expect(&o, NULL, " is not a regular file");
    snprintf(path, sizeof(path), "%s/big", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("[default]\naws_access_key_id=AKIDBIG\naws_secret_access_key=b\n", f);
    for (int i = 0; i < AS_AWSCREDS_FILE_MAX / 8; i++)
        fputs("# pad  \n", f);
    fclose(f);
    o.file = path;
    expect(&o, NULL, "is larger than 64 KiB");
    assert_int_equal(truncate(path, AS_AWSCREDS_FILE_MAX), 0);
    expect(&o, "AKIDBIG", "profile 'default' of ");
}

static int group_setup(void **state)
{
    (void)state;
    as_log_min = AS_OFF;
    snprintf(dir, sizeof(dir), "/tmp/as-test-awscreds-XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),         cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_resolve_order), cmocka_unit_test(test_session_token_and_secrets),
        cmocka_unit_test(test_file_limits),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
