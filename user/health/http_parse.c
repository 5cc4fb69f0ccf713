// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "health/http_parse.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ) */
static bool is_reason(unsigned char c)
{
	return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f);
}

/*
 * Each step checks the bytes it has and stops with 0 when it runs out, so a
 * prefix of a good line is "incomplete" and a bad byte is reported as soon
 * as it arrives, whatever the read boundaries were.
 */
int xlb_http_parse_status(const char *buf, size_t len, struct xlb_http_status *st)
{
	static const char name[] = "HTTP/";
	struct xlb_http_status tmp;
	size_t i, n, rstart, rend;

	if (!st)
		st = &tmp;
	memset(st, 0, sizeof(*st));

	for (i = 0; i < sizeof(name) - 1; i++) {
		if (i >= len)
			return 0;
		if (buf[i] != name[i])
			return -EBADMSG;
	}
	/* "1.1 " */
	if (i >= len)
		return 0;
	if (buf[i] != '1')
		return -EBADMSG;
	st->major = 1;
	if (++i >= len)
		return 0;
	if (buf[i] != '.')
		return -EBADMSG;
	if (++i >= len)
		return 0;
	if (!is_digit(buf[i]))
		return -EBADMSG;
	st->minor = (unsigned int)(buf[i] - '0');
	if (++i >= len)
		return 0;
	if (buf[i] != ' ')
		return -EBADMSG;
	i++;

	/* Three digits, no more. */
	for (n = 0; n < 3; n++, i++) {
		if (i >= len)
			return 0;
		if (!is_digit(buf[i]))
			return -EBADMSG;
		st->code = st->code * 10 + (unsigned int)(buf[i] - '0');
	}
	if (i >= len)
		return 0;
	if (buf[i] == ' ') {
		i++;
	} else if (buf[i] != '\r' && buf[i] != '\n') {
		return -EBADMSG;
	}

	rstart = i;
	for (;; i++) {
		if (i >= XLB_HTTP_STATUS_LINE_MAX)
			return -EMSGSIZE;
		if (i >= len)
			return 0;
		if (buf[i] == '\r' || buf[i] == '\n')
			break;
		if (!is_reason((unsigned char)buf[i]))
			return -EBADMSG;
	}
	rend = i;
	if (buf[i] == '\r') {
		if (++i >= len)
			return 0;
		if (buf[i] != '\n')
			return -EBADMSG;	/* bare CR */
	}
	i++;
	if (i > XLB_HTTP_STATUS_LINE_MAX)
		return -EMSGSIZE;

	/* Judge the code only once the whole line is known good, so a line
	 * that is both malformed and out of range is always called malformed. */
	if (st->code < 100 || st->code > 599)
		return -ERANGE;
	n = rend - rstart;
	if (n >= sizeof(st->reason))
		n = sizeof(st->reason) - 1;
	memcpy(st->reason, buf + rstart, n);
	st->reason[n] = 0;
	return (int)i;
}

size_t xlb_http_header_end(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		p++;	/* start of the next line */
		if (p < end && *p == '\n')
			return (size_t)(p + 1 - buf);
		if (p + 1 < end && p[0] == '\r' && p[1] == '\n')
			return (size_t)(p + 2 - buf);
	}
	return 0;
}
