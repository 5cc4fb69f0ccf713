/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xlbctl's insides: the parsed command line, one do_<command> per verb
 * (registered in user/xlbctl.c's table), and the helpers they share.
 *
 * Every do_ function returns an exit status: CTL_OK, CTL_FAIL (the daemon,
 * the parser or the system said no; the reason is already on stderr as
 * "xlbctl: COMMAND: ...") or CTL_USAGE (bad arguments; the reason and the
 * command's usage already printed). None of them calls exit().
 */
#ifndef XLB_CTL_H
#define XLB_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>
#include "xlb.pb-c.h"

#include "api/client.h"

#define CTL_OK		0
#define CTL_FAIL	1
#define CTL_USAGE	2

#define CTL_MAX_INPUT	(64u << 20)	/* a manifest or backup; the API's message limit */

enum ctl_output {
	CTL_OUT_TABLE = 0,
	CTL_OUT_WIDE,
	CTL_OUT_JSON,
	CTL_OUT_YAML,
};

/* Options a command accepts, beyond the global ones (CTL_OPT_* bits). */
#define CTL_OPT_FILE		(1u << 0)	/* -f, --filename FILE|- */
#define CTL_OPT_OUTPUT		(1u << 1)	/* -o, --output FMT */
#define CTL_OPT_SNAPSHOT	(1u << 2)	/* --snapshot */
#define CTL_OPT_LIMIT		(1u << 3)	/* --limit N */
#define CTL_OPT_FLOW		(1u << 4)	/* --src, --dst, --proto, --pin-dir */
#define CTL_OPT_TOP		(1u << 5)	/* --interval, --iterations */

struct ctl;

struct ctl_cmd {
	const char *verb;		/* "get" */
	const char *sub;		/* "services", or NULL for one-word commands */
	const char *alias;		/* of sub ("svc"), or NULL */
	int (*fn)(struct ctl *c);
	unsigned int opts;		/* CTL_OPT_* */
	unsigned int outputs;		/* bit per enum ctl_output -o may choose */
	int min_args, max_args;		/* positional arguments; max -1: any */
	const char *args;		/* "[NAME]" for the usage line */
	const char *summary;		/* one line for `xlbctl --help` */
	const char *help;		/* the rest of `xlbctl CMD --help` */
};

struct ctl {
	/* Global options. */
	const char *server;
	struct xlb_api_client_tls tls;
	bool tls_given;
	int timeout_ms;

	/* The command and its options. */
	const struct ctl_cmd *cmd;
	char name[64];			/* "get services", for messages */
	const char *file;
	enum ctl_output output;
	bool snapshot;
	uint32_t limit;
	const char *src, *dst, *proto, *pin_dir;	/* explain */
	const char *hook;		/* explain: xdp, pod or socket */
	int interval_ms;		/* top; 0: its default */
	uint32_t iterations;		/* top; 0: until interrupted */
	int argc;			/* positional arguments */
	char **argv;

	struct xlb_api_client *client;	/* opened by ctl_connect() */
};

/* "xlbctl: get services: " + message, on stderr. */
void ctl_err(const struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctl_warn(const struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A usage error: the reason and the command's usage line; CTL_USAGE. */
int ctl_usage_err(const struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctl_usage_line(const struct ctl_cmd *cmd, FILE *f);

/* Opens the client on first use. CTL_OK or CTL_FAIL (message printed). */
int ctl_connect(struct ctl *c);
/* A unary call; on failure prints "xlbctl: CMD: CODE: message" and
 * returns CTL_FAIL, else CTL_OK with *resp to free by the caller. */
int ctl_call(struct ctl *c, const char *method, const ProtobufCMessage *req,
	     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp);
/* One Sync request on its own stream. CTL_OK with *resp (ok is true) to
 * free, or CTL_FAIL with the failure or the rejection printed. */
int ctl_sync_send(struct ctl *c, const Xlb__V1__SyncRequest *req, Xlb__V1__SyncResponse **resp);

/* All of a file ("-": stdin) into a malloc'd, NUL-terminated buffer.
 * CTL_OK or CTL_FAIL with the message printed. */
int ctl_read_input(const struct ctl *c, const char *path, char **buf, size_t *len);
/* The name to show for a path: "<stdin>" for "-". */
const char *ctl_input_name(const char *path);

/* "250ms", "10s", "2m", "1h" or plain seconds; > 0. -EINVAL otherwise. */
int ctl_parse_duration_ms(const char *s, int *out);
/* Compact durations, as kubectl prints ages: "45s", "3m12s", "5h3m", "2d4h". */
const char *ctl_fmt_age(int64_t ms, char *buf, size_t len);
/* Age since a unix-ms time stamp; "-" for 0 (never). */
const char *ctl_fmt_since(int64_t unix_ms, char *buf, size_t len);
/* Microseconds as "850us", "1.2ms", "3.40s". */
const char *ctl_fmt_latency(uint32_t us, char *buf, size_t len);
const char *ctl_fmt_u64(uint64_t v, char *buf, size_t len);

/* Services by name. A name with ':' (or no name) is asked of the daemon;
 * one without selects that exact name or every "NAME:port" (all ports of a
 * Kubernetes Service). CTL_FAIL with NOT_FOUND printed when none match. */
struct ctl_svc_list {
	Xlb__V1__ListServicesResponse *resp;
	Xlb__V1__ServiceStatus **v;	/* into resp */
	size_t n;
};
int ctl_list_services(struct ctl *c, const char *name, struct ctl_svc_list *out);
void ctl_svc_list_free(struct ctl_svc_list *l);

/* Output (output.c): -o json|yaml through emit.h, tables through table.h.
 * The _end functions print (and free) what they were given, report any
 * error and return CTL_OK or CTL_FAIL; so does ctl_print_message, which
 * prints a whole message as JSON or YAML and frees it. */
struct emit;
struct table;
static inline bool ctl_structured(const struct ctl *c)
{
	return c->output == CTL_OUT_JSON || c->output == CTL_OUT_YAML;
}
struct emit *ctl_emit_begin(struct ctl *c);
int ctl_emit_end(struct ctl *c, struct emit *e);
int ctl_table_end(struct ctl *c, struct table *t);
int ctl_print_message(struct ctl *c, ProtobufCMessage *m);

/* Words for enum values, as Kubernetes spells them. */
const char *ctl_svc_type_name(Xlb__V1__ServiceType t);
const char *ctl_proto_name(Xlb__V1__Protocol p);
const char *ctl_algo_name(Xlb__V1__Algorithm a);
/* A service's endpoints by health verdict: "healthy=2,unhealthy=1",
 * "unchecked", or "-" with no endpoints; then ",panic" when the daemon uses
 * every endpoint because too few are healthy. */
const char *ctl_health_summary(const Xlb__V1__ServiceStatus *s, char *buf, size_t len);

/* The commands. */
int do_apply(struct ctl *c);
int do_delete(struct ctl *c);
int do_get_services(struct ctl *c);
int do_get_endpoints(struct ctl *c);
int do_status(struct ctl *c);
int do_stats(struct ctl *c);
int do_conntrack_list(struct ctl *c);
int do_conntrack_flush(struct ctl *c);
int do_backup(struct ctl *c);
int do_restore(struct ctl *c);
int do_explain(struct ctl *c);
int do_top(struct ctl *c);

#endif /* XLB_CTL_H */
