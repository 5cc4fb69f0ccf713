// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libipset's high-level interface (struct ipset + ipset_parse_argv) is the
 * one its own CLI uses, so elements parse exactly as `ipset` parses them
 * ("10.96.0.10,tcp:80"). Its default error handlers print and exit(); ours
 * keep the message for the caller.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libipset/ipset.h>

#include "ipset.h"

#define MAX_ARGV 16

struct xlb_ipset {
	struct ipset *ipset;
	char msg[512];		/* the last error libipset reported */
	char *out;		/* captured output of `save` */
	size_t out_len, out_cap;
	bool capture;
};

static void set_msg(struct xlb_ipset *s, const char *m)
{
	size_t n;

	snprintf(s->msg, sizeof(s->msg), "%s", m ? m : "");
	n = strlen(s->msg);
	while (n && (s->msg[n - 1] == '\n' || s->msg[n - 1] == ' '))
		s->msg[--n] = 0;
}

static int custom_error(struct ipset *ipset, void *p, int status, const char *fmt, ...)
{
	struct xlb_ipset *s = p;
	char buf[512];
	va_list ap;

	if (!fmt)	/* "no problem" exits from help/version paths */
		return status ? -1 : 0;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	set_msg(s, buf);
	ipset_session_report_reset(ipset_session(ipset));
	return -1;
}

static int standard_error(struct ipset *ipset, void *p)
{
	struct xlb_ipset *s = p;
	struct ipset_session *session = ipset_session(ipset);
	enum ipset_err_type t = ipset_session_report_type(session);

	if (t == IPSET_ERROR)
		set_msg(s, ipset_session_report_msg(session));
	ipset_session_report_reset(session);
	return t == IPSET_ERROR ? -1 : 0;
}

static int print_out(struct ipset_session *session, void *p, const char *fmt, ...)
{
	struct xlb_ipset *s = p;
	va_list ap;
	int n;

	if (!s->capture)
		return 0;
	for (;;) {
		size_t room = s->out_cap - s->out_len;

		va_start(ap, fmt);
		n = vsnprintf(s->out ? s->out + s->out_len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -1;
		if ((size_t)n < room) {
			s->out_len += (size_t)n;
			return 0;
		}
		{
			size_t cap = (s->out_cap ? s->out_cap * 2 : 4096) + (size_t)n;
			char *nb = realloc(s->out, cap);

			if (!nb)
				return -1;
			s->out = nb;
			s->out_cap = cap;
		}
	}
}

static int session_init(struct xlb_ipset *s)
{
	s->ipset = ipset_init();
	if (!s->ipset)
		return -ENOMEM;
	ipset_custom_printf(s->ipset, custom_error, standard_error, print_out, s);
	/* create/add/del succeed when the object already is as asked */
	ipset_envopt_set(ipset_session(s->ipset), IPSET_ENV_EXIST);
	ipset_envopt_set(ipset_session(s->ipset), IPSET_ENV_QUIET);
	return 0;
}

int xlb_ipset_open(struct xlb_ipset **out, char *err, size_t errlen)
{
	static bool types_loaded;
	struct xlb_ipset *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	if (!types_loaded) {
		ipset_load_types();
		types_loaded = true;
	}
	if (session_init(s)) {
		free(s);
		if (err)
			snprintf(err, errlen, "ipset: cannot initialise libipset (netlink socket)");
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void xlb_ipset_close(struct xlb_ipset *s)
{
	if (!s)
		return;
	if (s->ipset)
		ipset_fini(s->ipset);
	free(s->out);
	free(s);
}

static int run(struct xlb_ipset *s, int argc, char **argv, char *err, size_t errlen)
{
	int ret;

	s->msg[0] = 0;
	if (!s->ipset && session_init(s))
		return -ENOMEM;
	ret = ipset_parse_argv(s->ipset, argc, argv);
	if (ret < 0 || s->msg[0]) {
		/* A failed command can leave the session mid-exchange (a failed
		 * save makes every later command an "Internal protocol error"):
		 * start the next one on a fresh session. */
		ipset_fini(s->ipset);
		s->ipset = NULL;
		if (err) {
			int o = snprintf(err, errlen, "ipset");

			for (int i = 1; i < argc && o > 0 && (size_t)o < errlen; i++)
				o += snprintf(err + o, errlen - (size_t)o, " %s", argv[i]);
			if (o > 0 && (size_t)o < errlen)
				snprintf(err + o, errlen - (size_t)o, ": %s",
					 s->msg[0] ? s->msg : "failed");
		}
		if (strstr(s->msg, "does not exist"))
			return -ENOENT;
		if (strstr(s->msg, "in use by a kernel component"))
			return -EBUSY;
		if (strstr(s->msg, "already exists"))
			return -EEXIST;
		return -EINVAL;
	}
	return 0;
}

int xlb_ipset_cmd(struct xlb_ipset *s, char *err, size_t errlen, const char *verb, ...)
{
	char *argv[MAX_ARGV];
	int argc = 0;
	const char *a;
	va_list ap;

	argv[argc++] = (char *)"ipset";
	argv[argc++] = (char *)verb;
	va_start(ap, verb);
	while ((a = va_arg(ap, const char *)) && argc < MAX_ARGV - 1)
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	return run(s, argc, argv, err, errlen);
}

int xlb_ipset_save(struct xlb_ipset *s, const char *set,
		   int (*cb)(const char *line, void *arg), void *arg, char *err, size_t errlen)
{
	char *argv[] = { (char *)"ipset", (char *)"save", (char *)set, NULL };
	char *line, *save = NULL;
	int ret;

	s->out_len = 0;
	s->capture = true;
	ret = run(s, 3, argv, err, errlen);
	s->capture = false;
	if (ret)
		return ret;
	if (!s->out_len)
		return 0;
	s->out[s->out_len] = 0;		/* print_out always leaves room */
	for (line = strtok_r(s->out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		ret = cb(line, arg);
		if (ret)
			return ret;
	}
	return 0;
}
