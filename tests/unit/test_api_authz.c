// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * API roles (user/api/authz.c): rules as the flags and the roles file give
 * them, and the role each kind of client gets from them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "api/authz.h"

#define R XLB_API_ROLE_READ
#define W XLB_API_ROLE_WRITE
#define N XLB_API_ROLE_NONE

static void add(struct xlb_api_rules *r, const char *role, const char *pattern)
{
	char err[256];

	if (xlb_api_rule_add(r, role, pattern, err, sizeof(err)))
		fail_msg("%s %s: %s", role, pattern, err);
}

static void test_parse(void **unused)
{
	static const struct { const char *role, *pattern, *why; } bad[] = {
		{ "admin", "cn:x", "expected read or write" },
		{ "write", "x", "expected uid:N, cn:NAME" },
		{ "write", "cn:", "expected uid:N" },
		{ "read", "uid:-1", "not a uid" },
		{ "read", "uid:12x", "not a uid" },
		{ "read", "uid:4294967295", "not a uid" },
		{ "write", "cert:someone", "expected cert:*" },
	};
	struct xlb_api_rules r = { 0 };
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(xlb_api_rule_add(&r, bad[i].role, bad[i].pattern, err, sizeof(err)),
				 -EINVAL);
		if (!strstr(err, bad[i].why))
			fail_msg("%s %s: \"%s\", want \"%s\"", bad[i].role, bad[i].pattern, err,
				 bad[i].why);
	}
	assert_int_equal(r.n, 0);	/* nothing added by a refusal */
	add(&r, "write", "uid:1000");
	add(&r, "read", "san:monitor.example");
	assert_int_equal(r.n, 2);
	assert_int_equal(r.r[0].uid, 1000);
	assert_string_equal(r.r[1].value, "monitor.example");
	xlb_api_rules_free(&r);
}

static void test_file(void **unused)
{
	char path[] = "/tmp/xlb-test-roles.XXXXXX", err[256];
	struct xlb_api_rules r = { 0 };
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	fputs("# who may change services\nwrite cn:xlb-k8s\n\n  read uid:1001   # a monitor\n"
	      "write\n", f);
	fclose(f);
	assert_int_equal(xlb_api_rules_load(&r, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":5: expected \"ROLE PATTERN\""));
	assert_int_equal(r.n, 2);	/* the lines before it */
	assert_int_equal(r.r[1].uid, 1001);
	xlb_api_rules_free(&r);
	unlink(path);
	assert_int_equal(xlb_api_rules_load(&r, path, err, sizeof(err)), -ENOENT);
}

static void test_unix_peers(void **unused)
{
	struct xlb_api_rules r = { 0 };

	/* Without rules: root and xlbd's own uid write, nobody else. */
	assert_int_equal(xlb_api_role_of_uid(&r, 0, 0), W);
	assert_int_equal(xlb_api_role_of_uid(&r, 998, 998), W);
	assert_int_equal(xlb_api_role_of_uid(&r, 1000, 0), N);
	assert_false(xlb_api_rules_other_uids(&r, 0));
	add(&r, "read", "uid:1000");
	add(&r, "write", "uid:1001");
	add(&r, "read", "uid:0");	/* cannot take root's write away */
	add(&r, "read", "cn:x");	/* not for unix peers */
	assert_int_equal(xlb_api_role_of_uid(&r, 1000, 0), R);
	assert_int_equal(xlb_api_role_of_uid(&r, 1001, 0), W);
	assert_int_equal(xlb_api_role_of_uid(&r, 1002, 0), N);
	assert_int_equal(xlb_api_role_of_uid(&r, 0, 0), W);
	assert_true(xlb_api_rules_other_uids(&r, 0));
	xlb_api_rules_free(&r);
}

static void test_certificates(void **unused)
{
	const char *sans[] = { "10.0.0.1", "feeder.example" };
	struct xlb_api_rules r = { 0 };

	/* Without rules a certificate reads; a TLS client without one too. */
	assert_int_equal(xlb_api_role_of_cert(&r, true, "anyone", NULL, 0, "CN=anyone"), R);
	assert_int_equal(xlb_api_role_of_cert(&r, false, NULL, NULL, 0, NULL), R);
	r.insecure_tls_writes = true;
	assert_int_equal(xlb_api_role_of_cert(&r, false, NULL, NULL, 0, NULL), W);
	r.insecure_tls_writes = false;

	add(&r, "write", "cn:xlb-k8s");
	add(&r, "write", "san:feeder.example");
	add(&r, "write", "subject:CN=ops,O=infra");
	add(&r, "write", "uid:0");	/* not for certificates */
	assert_int_equal(xlb_api_role_of_cert(&r, true, "xlb-k8s", NULL, 0, "CN=xlb-k8s"), W);
	assert_int_equal(xlb_api_role_of_cert(&r, true, "other", sans, 2, "CN=other"), W);
	assert_int_equal(xlb_api_role_of_cert(&r, true, "ops", NULL, 0, "CN=ops,O=infra"), W);
	assert_int_equal(xlb_api_role_of_cert(&r, true, "ops", NULL, 0, "CN=ops,O=other"), R);
	assert_int_equal(xlb_api_role_of_cert(&r, true, "read-only monitor", NULL, 0,
					      "CN=read-only monitor"), R);
	assert_int_equal(xlb_api_role_of_cert(&r, true, "xlb-k8s-evil", NULL, 0, NULL), R);
	/* Readers named: the others may not even read. */
	add(&r, "read", "cn:monitor");
	assert_int_equal(xlb_api_role_of_cert(&r, true, "monitor", NULL, 0, NULL), R);
	assert_int_equal(xlb_api_role_of_cert(&r, true, "stranger", NULL, 0, NULL), N);
	assert_int_equal(xlb_api_role_of_cert(&r, true, "xlb-k8s", NULL, 0, NULL), W);
	add(&r, "write", "cert:*");
	assert_int_equal(xlb_api_role_of_cert(&r, true, "stranger", NULL, 0, NULL), W);
	assert_int_equal(xlb_api_role_of_cert(&r, false, NULL, NULL, 0, NULL), R);
	xlb_api_rules_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_unix_peers),
		cmocka_unit_test(test_certificates),
	};

	return cmocka_run_group_tests_name("api_authz", tests, NULL, NULL);
}
