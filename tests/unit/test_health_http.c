// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The HTTP probe's parser: status lines (RFC 9112 section 4) taken
 * strictly, the end of the header section, and bytes arriving in any
 * pieces: a prefix of a good line is "incomplete", never an error, and a
 * bad line is bad whatever the read boundaries.
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
#include <cmocka.h>

#include "health/http_parse.h"
#include "rng.h"

struct status_case {
	const char *desc;
	const char *in;
	size_t len;		/* 0: strlen(in) */
	int ret;		/* > 0: the line's length; 0 incomplete; -errno */
	unsigned int code;
	const char *reason;
};

#define LINE(d, s, c, r) { d, s, 0, (int)sizeof(s) - 1, c, r }
#define BAD(d, s, e) { d, s, 0, e, 0, NULL }

static const struct status_case status_cases[] = {
	LINE("HTTP/1.1 200 OK", "HTTP/1.1 200 OK\r\n", 200, "OK"),
	LINE("HTTP/1.0 302 Found", "HTTP/1.0 302 Found\r\n", 302, "Found"),
	LINE("reason with spaces", "HTTP/1.1 503 Service Unavailable\r\n", 503, "Service Unavailable"),
	LINE("no reason, no space", "HTTP/1.1 204\r\n", 204, ""),
	LINE("no reason, with its space", "HTTP/1.1 204 \r\n", 204, ""),
	LINE("bare LF ends the line", "HTTP/1.1 200 OK\n", 200, "OK"),
	LINE("tab and obs-text in the reason", "HTTP/1.1 200 \tOK \xe9t\xe9\r\n", 200, "\tOK \xe9t\xe9"),
	LINE("lowest code", "HTTP/1.1 100 Continue\r\n", 100, "Continue"),
	LINE("highest code", "HTTP/1.1 599 Whatever\r\n", 599, "Whatever"),
	LINE("HTTP/1.9 is still 1.x", "HTTP/1.9 200 OK\r\n", 200, "OK"),
	{ "only the line is consumed", "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody", 0, 17, 200, "OK" },

	BAD("non-digit in the code", "HTTP/1.1 2O0 OK\r\n", -EBADMSG),
	BAD("letters for a code", "HTTP/1.1 OK 200\r\n", -EBADMSG),
	BAD("two-digit code", "HTTP/1.1 20 OK\r\n", -EBADMSG),
	BAD("four-digit code", "HTTP/1.1 2000 OK\r\n", -EBADMSG),
	BAD("negative code", "HTTP/1.1 -200 OK\r\n", -EBADMSG),
	BAD("code below 100", "HTTP/1.1 099 Low\r\n", -ERANGE),
	BAD("code 000", "HTTP/1.1 000\r\n", -ERANGE),
	BAD("code above 599", "HTTP/1.1 600 High\r\n", -ERANGE),
	BAD("code 999", "HTTP/1.1 999 \r\n", -ERANGE),
	BAD("two spaces before the code", "HTTP/1.1  200 OK\r\n", -EBADMSG),
	BAD("tab before the code", "HTTP/1.1\t200 OK\r\n", -EBADMSG),
	BAD("lower-case name", "http/1.1 200 OK\r\n", -EBADMSG),
	BAD("HTTP/2", "HTTP/2 200\r\n", -EBADMSG),
	BAD("HTTP/2.0", "HTTP/2.0 200 OK\r\n", -EBADMSG),
	BAD("HTTP/0.9", "HTTP/0.9 200 OK\r\n", -EBADMSG),
	BAD("no minor version", "HTTP/1 200 OK\r\n", -EBADMSG),
	BAD("minor version not a digit", "HTTP/1.x 200 OK\r\n", -EBADMSG),
	BAD("two-digit minor version", "HTTP/1.10 200 OK\r\n", -EBADMSG),
	BAD("bare CR", "HTTP/1.1 200 OK\rX\n", -EBADMSG),
	BAD("control character in the reason", "HTTP/1.1 200 O\x01K\r\n", -EBADMSG),
	BAD("DEL in the reason", "HTTP/1.1 200 O\x7fK\r\n", -EBADMSG),
	BAD("leading empty line", "\r\nHTTP/1.1 200 OK\r\n", -EBADMSG),
	BAD("leading space", " HTTP/1.1 200 OK\r\n", -EBADMSG),
	BAD("an SSH banner", "SSH-2.0-OpenSSH_9.2p1\r\n", -EBADMSG),
	BAD("an HTTP request", "GET / HTTP/1.1\r\n", -EBADMSG),
	BAD("binary garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", -EBADMSG),
	{ "NUL in the reason", "HTTP/1.1 200 O\0K\r\n", 18, -EBADMSG, 0, NULL },

	BAD("empty", "", 0),
	BAD("name only", "HTTP/", 0),
	BAD("version only", "HTTP/1.1", 0),
	BAD("two digits so far", "HTTP/1.1 20", 0),
	BAD("code, no line end yet", "HTTP/1.1 200", 0),
	BAD("reason, no line end yet", "HTTP/1.1 200 O", 0),
	BAD("CR, no LF yet", "HTTP/1.1 200 OK\r", 0),
};

static void check_status(const struct status_case *c, size_t len, int want)
{
	struct xlb_http_status st;
	/* An exact-size copy, so a sanitizer sees any read past the end. */
	char *buf = malloc(len ? len : 1);
	int r;

	assert_non_null(buf);
	memcpy(buf, c->in, len);
	r = xlb_http_parse_status(buf, len, &st);
	free(buf);
	if (r != want) {
		print_error("%s: %zu of %zu bytes: got %d, want %d\n", c->desc, len,
			    c->len ? c->len : strlen(c->in), r, want);
		fail();
	}
	if (r > 0 && c->reason) {
		assert_int_equal(st.code, c->code);
		assert_int_equal(st.major, 1);
		assert_string_equal(st.reason, c->reason);
	}
}

static void test_status_lines(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
		const struct status_case *c = &status_cases[i];

		check_status(c, c->len ? c->len : strlen(c->in), c->ret);
	}
}

/* Every prefix of a good line is incomplete. Every prefix of a bad line is
 * incomplete or bad, and once bad stays bad: the verdict never depends on
 * how the bytes were split across reads. */
static void test_partial_reads(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
		const struct status_case *c = &status_cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		size_t end = c->ret > 0 ? (size_t)c->ret : len;
		int seen = 0;

		for (size_t n = 0; n < end; n++) {
			char *buf = malloc(n ? n : 1);
			int r;

			assert_non_null(buf);
			memcpy(buf, c->in, n);
			r = xlb_http_parse_status(buf, n, NULL);
			free(buf);
			if (c->ret >= 0 ? r != 0 : (r != 0 && r != c->ret) || (seen && r != seen)) {
				print_error("%s: prefix of %zu bytes: got %d (final %d)\n", c->desc, n,
					    r, c->ret);
				fail();
			}
			if (r)
				seen = r;
		}
	}
}

static void test_reason_truncated(void **unused)
{
	char line[300];
	struct xlb_http_status st;
	int n;

	(void)unused;
	n = snprintf(line, sizeof(line), "HTTP/1.1 200 %0200d\r\n", 0);
	assert_int_equal(xlb_http_parse_status(line, (size_t)n, &st), n);
	assert_int_equal(strlen(st.reason), sizeof(st.reason) - 1);
}

static void test_status_line_too_long(void **unused)
{
	size_t len = XLB_HTTP_STATUS_LINE_MAX + 10;
	char *buf = malloc(len);
	int n;

	(void)unused;
	assert_non_null(buf);
	memcpy(buf, "HTTP/1.1 200 ", 13);
	memset(buf + 13, 'a', len - 13);
	assert_int_equal(xlb_http_parse_status(buf, len, NULL), -EMSGSIZE);
	/* Exactly at the limit, line end included, is fine. */
	n = XLB_HTTP_STATUS_LINE_MAX;
	buf[n - 2] = '\r';
	buf[n - 1] = '\n';
	assert_int_equal(xlb_http_parse_status(buf, (size_t)n, NULL), n);
	/* One more is not. */
	buf[n - 2] = 'a';
	buf[n - 1] = '\r';
	buf[n] = '\n';
	assert_int_equal(xlb_http_parse_status(buf, (size_t)n + 1, NULL), -EMSGSIZE);
	free(buf);
}

/* Random bytes, and random mutations of a good answer: the parsers stay
 * inside the buffer and answer within their contract. */
static void test_garbage(void **unused)
{
	static const char good[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	static const char alphabet[] = "HTTP/1.0 2345\r\n \t:xyz\x01\xff";

	(void)unused;
	for (int i = 0; i < 200000; i++) {
		size_t len = rng() % 64, he;
		char *buf = malloc(len ? len : 1);
		int r;

		assert_non_null(buf);
		if (i % 2) {
			for (size_t j = 0; j < len; j++)
				buf[j] = alphabet[rng() % (sizeof(alphabet) - 1)];
		} else {
			len = len < sizeof(good) - 1 ? len : sizeof(good) - 1;
			memcpy(buf, good, len);
			if (len)
				buf[rng() % len] = (char)rng();
		}
		r = xlb_http_parse_status(buf, len, NULL);
		assert_true(r == 0 || r == -EBADMSG || r == -ERANGE || (r > 0 && (size_t)r <= len));
		he = xlb_http_header_end(buf, len);
		assert_true(he <= len);
		free(buf);
	}
}

struct hend_case {
	const char *desc;
	const char *in;
	size_t want;
};

static const struct hend_case hend_cases[] = {
	{ "no headers", "HTTP/1.1 200 OK\r\n\r\nbody", 19 },
	{ "two headers, CRLF", "HTTP/1.1 200 OK\r\nA: b\r\nC: d\r\n\r\nbody", 31 },
	{ "LF only", "HTTP/1.1 200 OK\nA: b\n\nbody", 22 },
	{ "mixed: CRLF then LF", "HTTP/1.1 200 OK\r\nA: b\r\n\nbody", 24 },
	{ "mixed: LF then CRLF", "HTTP/1.1 200 OK\nA: b\n\r\nbody", 23 },
	{ "incomplete: last CR missing its LF", "HTTP/1.1 200 OK\r\nA: b\r\n\r", 0 },
	{ "incomplete: no empty line", "HTTP/1.1 200 OK\r\nA: b\r\n", 0 },
	{ "incomplete: nothing", "", 0 },
	{ "CR in a value is not a line end", "HTTP/1.1 200 OK\r\nA: \r\rb\r\n\r\n", 27 },
	{ "empty line first", "\r\n", 0 },
	{ "empty line after a first empty line", "\n\n", 2 },
};

static void test_header_end(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < sizeof(hend_cases) / sizeof(hend_cases[0]); i++) {
		const struct hend_case *c = &hend_cases[i];
		size_t len = strlen(c->in), got;
		char *buf = malloc(len ? len : 1);

		assert_non_null(buf);
		memcpy(buf, c->in, len);
		got = xlb_http_header_end(buf, len);
		free(buf);
		if (got != c->want) {
			print_error("%s: got %zu, want %zu\n", c->desc, got, c->want);
			fail();
		}
		/* And no earlier prefix ends the headers. */
		for (size_t n = 0; c->want && n < c->want; n++)
			assert_int_equal(xlb_http_header_end(c->in, n), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_lines),
		cmocka_unit_test(test_partial_reads),
		cmocka_unit_test(test_reason_truncated),
		cmocka_unit_test(test_status_line_too_long),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_header_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
