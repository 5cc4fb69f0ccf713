// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Finding the cgroup2 hierarchy in mountinfo text (proc(5)) as the kernel
 * writes it: hybrid and pure v2 layouts, optional fields before the "-",
 * escaped mount points, none at all, a buffer too small.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "util/mountinfo.h"

static int find(const char *text, const char *fstype, char *buf, size_t len)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int ret;

	assert_non_null(f);
	ret = xlb_mountinfo_find(f, fstype, buf, len);
	fclose(f);
	return ret;
}

/* This host's: a tmpfs at /sys/fs/cgroup, v1 controllers, v2 at unified. */
static const char hybrid[] =
	"24 29 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
	"27 24 0:25 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
	"28 27 0:26 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 "
	"cgroup2 rw,nsdelegate\n"
	"29 27 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:11 - cgroup cgroup rw,cpu,cpuacct\n";

static const char pure_v2[] =
	"35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
	"rw,nsdelegate,memory_recursiveprot\n";

/* No optional fields, and a mount point with a space and a tab. */
static const char escaped[] =
	"40 24 0:40 / /run/my\\040agent\\011cg rw - cgroup2 none rw\n";

static void test_hybrid(void **state)
{
	char buf[64];

	assert_int_equal(find(hybrid, "cgroup2", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/sys/fs/cgroup/unified");
	assert_int_equal(find(hybrid, "tmpfs", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/sys/fs/cgroup");
}

static void test_pure_v2(void **state)
{
	char buf[64];

	assert_int_equal(find(pure_v2, "cgroup2", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/sys/fs/cgroup");
}

static void test_escaped(void **state)
{
	char buf[64];

	assert_int_equal(find(escaped, "cgroup2", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/run/my agent\tcg");
}

static void test_none(void **state)
{
	char buf[64] = "unchanged";

	assert_int_equal(find(hybrid, "bpf", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(find("", "cgroup2", buf, sizeof(buf)), -ENOENT);
	/* "cgroup" is not "cgroup2", nor the other way round */
	assert_int_equal(find(pure_v2, "cgroup", buf, sizeof(buf)), -ENOENT);
	assert_string_equal(buf, "unchanged");
}

static void test_too_long(void **state)
{
	char buf[10];

	assert_int_equal(find(hybrid, "cgroup2", buf, sizeof(buf)), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hybrid),
		cmocka_unit_test(test_pure_v2),
		cmocka_unit_test(test_escaped),
		cmocka_unit_test(test_none),
		cmocka_unit_test(test_too_long),
	};

	return cmocka_run_group_tests_name("mountinfo", tests, NULL, NULL);
}
