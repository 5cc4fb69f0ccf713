/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The two things an HTTP probe needs from a response: its status line and
 * where its header section ends. Pure, no I/O, for bytes as they arrive:
 * every function tells "incomplete, read more" apart from "malformed".
 */
#ifndef XLB_HEALTH_HTTP_PARSE_H
#define XLB_HEALTH_HTTP_PARSE_H

#include <stddef.h>

/* Longest status line accepted, end of line included. */
#define XLB_HTTP_STATUS_LINE_MAX 1024

struct xlb_http_status {
	unsigned int major, minor;
	unsigned int code;		/* 100..599 */
	char reason[64];		/* truncated; "" when absent */
};

/*
 * Parse the status line at the start of buf (RFC 9112 section 4):
 *
 *	"HTTP/" DIGIT "." DIGIT SP 3DIGIT [ SP reason-phrase ] CRLF
 *
 * strictly: the version must be 1.x, exactly one SP, exactly three digits,
 * reason-phrase bytes HTAB / SP / VCHAR / obs-text. A missing reason phrase
 * (with or without its SP) is accepted, as is a bare LF line end (section
 * 2.2 allows it). Returns the length of the line with its end (> 0); 0 when
 * buf is a valid prefix that needs more bytes; -EBADMSG when buf cannot
 * start a status line; -ERANGE for a code outside 100..599; -EMSGSIZE when
 * no line end comes within XLB_HTTP_STATUS_LINE_MAX bytes. st may be NULL.
 */
int xlb_http_parse_status(const char *buf, size_t len, struct xlb_http_status *st);

/* Offset just past the empty line that ends the header section (the status
 * line counts as its first line), 0 when it is not in buf yet. Lines may
 * end in CRLF or LF. */
size_t xlb_http_header_end(const char *buf, size_t len);

#endif /* XLB_HEALTH_HTTP_PARSE_H */
