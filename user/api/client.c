// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A blocking client on the gRPC core C API. Each operation starts one batch
 * and plucks its tag from the client's own completion queue (made for
 * pluck: plucking a queue made for next crashes). See client.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "util/errmsg.h"
#include "client.h"
#include "api/wire.h"

#define MAX_MESSAGE (64 << 20)		/* as the server: big lists fit */
#define PEM_MAX (1 << 20)

struct xlb_api_client {
	grpc_channel *ch;
	grpc_completion_queue *cq;
	int timeout_ms;
};

struct xlb_api_sync {
	struct xlb_api_client *c;
	grpc_call *call;
	grpc_metadata_array initial_md, trailing_md;
	grpc_status_code status;
	grpc_slice details;
	bool got_initial_md;
	bool status_plucked;
};

/* Distinct addresses for pluck tags. */
static char tag_send, tag_recv, tag_status, tag_close, tag_unary;


const char *xlb_api_code_name(int code)
{
	static const char *const names[] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
		"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
		"UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
	};

	if (code >= 0 && code < (int)(sizeof(names) / sizeof(names[0])))
		return names[code];
	return "UNKNOWN";
}

static int read_pem(const char *path, const char *what, char **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	*out = NULL;
	if (!f)
		return xlb_errf(err, errlen, -errno, "%s %s: %s", what, path, strerror(errno));
	buf = malloc(PEM_MAX + 1);
	if (!buf) {
		fclose(f);
		return xlb_errf(err, errlen, -ENOMEM, "%s: out of memory", what);
	}
	n = fread(buf, 1, PEM_MAX + 1, f);
	fclose(f);
	if (n == 0 || n > PEM_MAX) {
		free(buf);
		return xlb_errf(err, errlen, -EINVAL, "%s %s: %s", what, path,
			    n ? "larger than 1 MiB" : "empty");
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}

static grpc_channel_credentials *tls_creds(const struct xlb_api_client_tls *tls,
					    char *err, size_t errlen, int *ret)
{
	char *ca = NULL, *cert = NULL, *key = NULL;
	grpc_ssl_pem_key_cert_pair pair;
	grpc_channel_credentials *creds = NULL;

	if (!tls->cert_file != !tls->key_file) {
		*ret = xlb_errf(err, errlen, -EINVAL, "TLS: a client certificate needs its key and the other way round");
		return NULL;
	}
	if ((tls->ca_file && (*ret = read_pem(tls->ca_file, "TLS CA", &ca, err, errlen))) ||
	    (tls->cert_file &&
	     (*ret = read_pem(tls->cert_file, "TLS certificate", &cert, err, errlen))) ||
	    (tls->key_file && (*ret = read_pem(tls->key_file, "TLS key", &key, err, errlen))))
		goto out;
	pair.private_key = key;
	pair.cert_chain = cert;
	creds = grpc_ssl_credentials_create(ca, cert ? &pair : NULL, NULL, NULL);
	if (!creds)
		*ret = xlb_errf(err, errlen, -EINVAL, "TLS: credentials refused");
out:
	free(ca);
	free(cert);
	if (key) {
		memset(key, 0, strlen(key));
		free(key);
	}
	return creds;
}

int xlb_api_client_open(const char *target, const struct xlb_api_client_tls *tls,
			struct xlb_api_client **out, char *err, size_t errlen)
{
	grpc_channel_credentials *creds;
	struct xlb_api_client *c;
	grpc_arg args[2];
	grpc_channel_args cargs = { .num_args = 1, .args = args };
	int ret = 0;

	*out = NULL;
	if (!target || !*target)
		target = XLB_API_DEFAULT_TARGET;
	if (!tls && strncmp(target, "unix:", 5))
		return xlb_errf(err, errlen, -EINVAL,
			    "target %s: TCP needs TLS (xlbd refuses plain TCP)", target);
	c = calloc(1, sizeof(*c));
	if (!c)
		return xlb_errf(err, errlen, -ENOMEM, "out of memory");
	c->timeout_ms = XLB_API_DEFAULT_TIMEOUT_MS;
	grpc_init();
	creds = tls ? tls_creds(tls, err, errlen, &ret) : grpc_insecure_credentials_create();
	if (!creds) {
		if (!ret)
			ret = xlb_errf(err, errlen, -EINVAL, "credentials refused");
		grpc_shutdown();
		free(c);
		return ret;
	}
	args[0] = (grpc_arg){ .type = GRPC_ARG_INTEGER,
			      .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
			      .value.integer = MAX_MESSAGE };
	if (tls && tls->server_name) {
		args[1] = (grpc_arg){ .type = GRPC_ARG_STRING,
				      .key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG,
				      .value.string = (char *)tls->server_name };
		cargs.num_args = 2;
	}
	c->ch = grpc_channel_create(target, creds, &cargs);
	grpc_channel_credentials_release(creds);
	c->cq = grpc_completion_queue_create_for_pluck(NULL);
	if (!c->ch || !c->cq) {
		xlb_api_client_close(c);
		return xlb_errf(err, errlen, -ENOMEM, "target %s: channel setup failed", target);
	}
	*out = c;
	return 0;
}

void xlb_api_client_close(struct xlb_api_client *c)
{
	if (!c)
		return;
	if (c->ch)
		grpc_channel_destroy(c->ch);
	if (c->cq) {
		/* Every tag was plucked: nothing is left in the queue. */
		grpc_completion_queue_shutdown(c->cq);
		grpc_completion_queue_destroy(c->cq);
	}
	grpc_shutdown();
	free(c);
}

void xlb_api_client_set_timeout(struct xlb_api_client *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : XLB_API_DEFAULT_TIMEOUT_MS;
}

static gpr_timespec after_ms(int ms)
{
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static grpc_call *new_call(struct xlb_api_client *c, const char *method, gpr_timespec deadline)
{
	char path[128];
	grpc_slice m;
	grpc_call *call;

	if (method[0] == '/')
		snprintf(path, sizeof(path), "%s", method);
	else
		snprintf(path, sizeof(path), "/%s/%s", xlb__v1__xlb__descriptor.name, method);
	m = grpc_slice_from_copied_string(path);
	call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq, m, NULL,
					deadline, NULL);
	grpc_slice_unref(m);
	return call;
}

/* Start a batch and wait for it; false if it could not start. */
static bool run_batch(struct xlb_api_client *c, grpc_call *call, const grpc_op *ops, size_t n,
		      void *tag, gpr_timespec deadline, bool *ok)
{
	grpc_event ev;

	if (grpc_call_start_batch(call, ops, n, tag, NULL) != GRPC_CALL_OK)
		return false;
	ev = grpc_completion_queue_pluck(c->cq, tag, deadline, NULL);
	if (ev.type == GRPC_QUEUE_TIMEOUT) {
		/* The batch is still running: cancel, then it completes. */
		grpc_call_cancel(call, NULL);
		ev = grpc_completion_queue_pluck(c->cq, tag, gpr_inf_future(GPR_CLOCK_MONOTONIC),
						 NULL);
		*ok = false;
		return true;
	}
	*ok = ev.type == GRPC_OP_COMPLETE && ev.success;
	return true;
}

/* A status into (code, err): the server's message, or the code's name. */
static int status_out(grpc_status_code st, grpc_slice details, char *err, size_t errlen)
{
	size_t n = GRPC_SLICE_LENGTH(details);

	if (n)
		return xlb_errf(err, errlen, (int)st, "%.*s", (int)n,
			    (const char *)GRPC_SLICE_START_PTR(details));
	if (st != GRPC_STATUS_OK)
		return xlb_errf(err, errlen, (int)st, "%s", xlb_api_code_name((int)st));
	if (err && errlen)
		err[0] = '\0';
	return GRPC_STATUS_OK;
}

/* ops[0..3]: send the metadata, the request and the half-close; receive
 * the server's metadata. Returns how many ops it filled. */
static size_t ops_request(grpc_op *ops, grpc_byte_buffer *send, grpc_metadata_array *initial_md)
{
	memset(ops, 0, 4 * sizeof(*ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = initial_md;
	return 4;
}

static void op_status(grpc_op *op, grpc_metadata_array *trailing_md, grpc_status_code *st,
		      grpc_slice *details)
{
	memset(op, 0, sizeof(*op));
	op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	op->data.recv_status_on_client.trailing_metadata = trailing_md;
	op->data.recv_status_on_client.status = st;
	op->data.recv_status_on_client.status_details = details;
}

int xlb_api_call(struct xlb_api_client *c, const char *method,
		 const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
		 ProtobufCMessage **resp, char *err, size_t errlen)
{
	gpr_timespec deadline = after_ms(c->timeout_ms);
	grpc_metadata_array initial_md, trailing_md;
	grpc_byte_buffer *send = NULL, *recv = NULL;
	grpc_status_code st = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	grpc_op ops[6];
	grpc_call *call;
	bool ok = false;
	int code;

	*resp = NULL;
	call = new_call(c, method, deadline);
	if (!call)
		return xlb_errf(err, errlen, GRPC_STATUS_INTERNAL, "%s: cannot create the call", method);
	grpc_metadata_array_init(&initial_md);
	grpc_metadata_array_init(&trailing_md);
	send = xlb_api_pack(req);
	ops_request(ops, send, &initial_md);
	memset(&ops[4], 0, sizeof(ops[4]));
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	op_status(&ops[5], &trailing_md, &st, &details);
	/* The call's own deadline ends it; the pluck waits for that. */
	if (!run_batch(c, call, ops, 6, &tag_unary, gpr_inf_future(GPR_CLOCK_MONOTONIC), &ok)) {
		code = xlb_errf(err, errlen, GRPC_STATUS_INTERNAL, "%s: cannot start the call", method);
		goto out;
	}
	code = status_out(st, details, err, errlen);
	if (code == GRPC_STATUS_OK) {
		*resp = recv ? xlb_api_unpack(recv, resp_desc, NULL, 0) : NULL;
		if (!*resp)
			code = xlb_errf(err, errlen, GRPC_STATUS_INTERNAL,
				    "%s: the reply is not a valid %s", method, resp_desc->name);
	}
out:
	if (send)
		grpc_byte_buffer_destroy(send);
	if (recv)
		grpc_byte_buffer_destroy(recv);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&initial_md);
	grpc_metadata_array_destroy(&trailing_md);
	grpc_call_unref(call);
	return code;
}

/* --- Sync -------------------------------------------------------------------- */

/* The final status; waits for it (the call is over or being ended). */
static int sync_status(struct xlb_api_sync *s, char *err, size_t errlen)
{
	if (!s->status_plucked) {
		grpc_completion_queue_pluck(s->c->cq, &tag_status,
					    gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		s->status_plucked = true;
	}
	return status_out(s->status, s->details, err, errlen);
}

/* A stream's call, whose final status is received whenever the stream
 * ends (sync_status waits for it). On error s->call may be NULL (not
 * created) or a call with no status to wait for. */
static int stream_start(struct xlb_api_client *c, struct xlb_api_sync *s, const char *method,
			char *err, size_t errlen)
{
	grpc_op op;

	s->c = c;
	s->details = grpc_empty_slice();
	grpc_metadata_array_init(&s->initial_md);
	grpc_metadata_array_init(&s->trailing_md);
	s->call = new_call(c, method, gpr_inf_future(GPR_CLOCK_REALTIME));
	if (!s->call)
		return xlb_errf(err, errlen, GRPC_STATUS_INTERNAL, "%s: cannot create the call",
				method);
	op_status(&op, &s->trailing_md, &s->status, &s->details);
	if (grpc_call_start_batch(s->call, &op, 1, &tag_status, NULL) != GRPC_CALL_OK) {
		s->status_plucked = true;
		return xlb_errf(err, errlen, GRPC_STATUS_INTERNAL, "%s: cannot start the call",
				method);
	}
	return 0;
}

int xlb_api_sync_open(struct xlb_api_client *c, struct xlb_api_sync **out,
		      char *err, size_t errlen)
{
	struct xlb_api_sync *s;
	grpc_op op;
	bool ok;
	int code;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return xlb_errf(err, errlen, GRPC_STATUS_INTERNAL, "out of memory");
	code = stream_start(c, s, "Sync", err, errlen);
	if (code) {
		if (s->call)
			xlb_api_sync_close(s);
		else
			free(s);
		return code;
	}
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_SEND_INITIAL_METADATA;
	if (!run_batch(c, s->call, &op, 1, &tag_send, after_ms(c->timeout_ms), &ok) || !ok) {
		code = sync_status(s, err, errlen);
		xlb_api_sync_close(s);
		return code ? code : xlb_errf(err, errlen, GRPC_STATUS_UNAVAILABLE, "Sync: stream refused");
	}
	*out = s;
	return GRPC_STATUS_OK;
}

/* One request (send, consumed) and its answer. */
static int sync_roundtrip(struct xlb_api_sync *s, grpc_byte_buffer *send,
			  Xlb__V1__SyncResponse **resp, char *err, size_t errlen)
{
	struct xlb_api_client *c = s->c;
	gpr_timespec deadline = after_ms(c->timeout_ms);
	grpc_byte_buffer *recv = NULL;
	grpc_op ops[2];
	size_t n = 0;
	bool ok = false;
	int code = GRPC_STATUS_OK;

	*resp = NULL;
	if (!send)
		return xlb_errf(err, errlen, GRPC_STATUS_RESOURCE_EXHAUSTED, "Sync: out of memory");
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_MESSAGE;
	ops[0].data.send_message.send_message = send;
	if (!run_batch(c, s->call, ops, 1, &tag_send, deadline, &ok)) {
		code = xlb_errf(err, errlen, GRPC_STATUS_INTERNAL, "Sync: cannot send");
		goto out;
	}
	if (!ok) {
		code = sync_status(s, err, errlen);
		if (!code)
			code = xlb_errf(err, errlen, GRPC_STATUS_DEADLINE_EXCEEDED,
				    "Sync: send timed out after %d ms", c->timeout_ms);
		goto out;
	}
	memset(ops, 0, sizeof(ops));
	if (!s->got_initial_md) {
		ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
		ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
		s->got_initial_md = true;
	}
	ops[n].op = GRPC_OP_RECV_MESSAGE;
	ops[n++].data.recv_message.recv_message = &recv;
	if (!run_batch(c, s->call, ops, n, &tag_recv, deadline, &ok)) {
		code = xlb_errf(err, errlen, GRPC_STATUS_INTERNAL, "Sync: cannot receive");
		goto out;
	}
	if (!ok || !recv) {
		code = sync_status(s, err, errlen);
		if (!code)
			code = xlb_errf(err, errlen, ok ? GRPC_STATUS_INTERNAL : GRPC_STATUS_DEADLINE_EXCEEDED,
				    ok ? "Sync: stream ended without an answer"
				       : "Sync: no answer within the timeout");
		goto out;
	}
	*resp = (Xlb__V1__SyncResponse *)xlb_api_unpack(recv, &xlb__v1__sync_response__descriptor,
							NULL, 0);
	if (!*resp)
		code = xlb_errf(err, errlen, GRPC_STATUS_INTERNAL, "Sync: the answer is not a valid SyncResponse");
	else if (err && errlen)
		snprintf(err, errlen, "%s", (*resp)->ok ? "" : (*resp)->error);
out:
	grpc_byte_buffer_destroy(send);
	if (recv)
		grpc_byte_buffer_destroy(recv);
	return code;
}

int xlb_api_sync_send(struct xlb_api_sync *s, const Xlb__V1__SyncRequest *req,
		      Xlb__V1__SyncResponse **resp, char *err, size_t errlen)
{
	return sync_roundtrip(s, xlb_api_pack(&req->base), resp, err, errlen);
}

int xlb_api_sync_send_wire(struct xlb_api_sync *s, void *wire, size_t len,
			   Xlb__V1__SyncResponse **resp, char *err, size_t errlen)
{
	grpc_slice sl = grpc_slice_new(wire, len, free);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);

	grpc_slice_unref(sl);
	return sync_roundtrip(s, bb, resp, err, errlen);
}

void xlb_api_sync_close(struct xlb_api_sync *s)
{
	grpc_op op;
	bool ok;

	if (!s)
		return;
	if (!s->status_plucked) {
		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
		if (!run_batch(s->c, s->call, &op, 1, &tag_close, after_ms(s->c->timeout_ms), &ok))
			grpc_call_cancel(s->call, NULL);
		/* The server answers a half-close with its status; do not wait
		 * for ever for one that does not. */
		if (grpc_completion_queue_pluck(s->c->cq, &tag_status, after_ms(s->c->timeout_ms),
						NULL).type == GRPC_QUEUE_TIMEOUT) {
			grpc_call_cancel(s->call, NULL);
			grpc_completion_queue_pluck(s->c->cq, &tag_status,
						    gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		}
		s->status_plucked = true;
	}
	grpc_call_unref(s->call);
	grpc_slice_unref(s->details);
	grpc_metadata_array_destroy(&s->initial_md);
	grpc_metadata_array_destroy(&s->trailing_md);
	free(s);
}

int xlb_api_sync_once(struct xlb_api_client *c, const Xlb__V1__SyncRequest *req,
		      Xlb__V1__SyncResponse **resp, char *err, size_t errlen)
{
	struct xlb_api_sync *s;
	int code;

	*resp = NULL;
	code = xlb_api_sync_open(c, &s, err, errlen);
	if (code)
		return code;
	code = xlb_api_sync_send(s, req, resp, err, errlen);
	xlb_api_sync_close(s);
	return code;
}

/* --- Watch ------------------------------------------------------------------- */

int xlb_api_watch(struct xlb_api_client *c,
		  int (*cb)(const Xlb__V1__Event *ev, void *arg), void *arg,
		  char *err, size_t errlen)
{
	Xlb__V1__WatchRequest req = XLB__V1__WATCH_REQUEST__INIT;
	struct xlb_api_sync w = { 0 };	/* the same bookkeeping as a stream */
	grpc_byte_buffer *send = xlb_api_pack(&req.base), *recv;
	grpc_op ops[4];
	bool ok = false, stopped = false;
	int code;

	code = stream_start(c, &w, "Watch", err, errlen);
	if (code && !w.call) {
		grpc_byte_buffer_destroy(send);
		return code;
	}
	if (code)
		goto out;
	if (!run_batch(c, w.call, ops, ops_request(ops, send, &w.initial_md), &tag_send,
		       gpr_inf_future(GPR_CLOCK_MONOTONIC), &ok))
		ok = false;
	while (ok && !stopped) {
		Xlb__V1__Event *ev;

		recv = NULL;
		memset(ops, 0, sizeof(ops));
		ops[0].op = GRPC_OP_RECV_MESSAGE;
		ops[0].data.recv_message.recv_message = &recv;
		if (!run_batch(c, w.call, ops, 1, &tag_recv, gpr_inf_future(GPR_CLOCK_MONOTONIC),
			       &ok) || !ok || !recv)
			break;
		ev = (Xlb__V1__Event *)xlb_api_unpack(recv, &xlb__v1__event__descriptor, NULL, 0);
		grpc_byte_buffer_destroy(recv);
		if (!ev) {
			grpc_call_cancel(w.call, NULL);
			sync_status(&w, NULL, 0);
			code = xlb_errf(err, errlen, GRPC_STATUS_INTERNAL, "Watch: an event is not a valid Event");
			goto out;
		}
		stopped = cb(ev, arg) != 0;
		xlb__v1__event__free_unpacked(ev, NULL);
	}
	if (stopped) {
		grpc_call_cancel(w.call, NULL);
		sync_status(&w, NULL, 0);
		code = GRPC_STATUS_OK;
		if (err && errlen)
			err[0] = '\0';
	} else {
		code = sync_status(&w, err, errlen);
	}
out:
	if (!w.status_plucked)
		sync_status(&w, NULL, 0);
	grpc_byte_buffer_destroy(send);
	grpc_call_unref(w.call);
	grpc_slice_unref(w.details);
	grpc_metadata_array_destroy(&w.initial_md);
	grpc_metadata_array_destroy(&w.trailing_md);
	return code;
}
