// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * gRPC transport for xlb.v1.Xlb on the gRPC core C API (1.51), after the
 * proven pattern in shared/notes/grpc-c.md:
 *
 * - One thread blocks in grpc_completion_queue_next and does gRPC's I/O,
 *   parsing, and the handlers that read (which call core.h directly).
 *   Handlers that write go to a pool of writer threads as jobs, and their
 *   answers come back through the inbox below: a write waits for the
 *   datapath and an fsync, a read waits for neither, and writers waiting
 *   at once share one fsync. A Sync stream has one job at a time, so its
 *   messages apply in order.
 * - Each accepted or pending call is a heap context with embedded tags
 *   {kind, ctx}; `pending` counts its batches in flight and the context is
 *   freed when it reaches 0. RECV_CLOSE_ON_SERVER, started first, is the
 *   one reliable "call over" signal.
 * - At most one batch per op type per call: streams keep a FIFO of packed
 *   messages with exactly one SEND_MESSAGE in flight. Watch events are
 *   kept once, in a list every watcher reads from its own place (a
 *   backlog costs a watcher a count, not a copy of each event); a watcher
 *   too far behind is cancelled with RESOURCE_EXHAUSTED at once (trailers
 *   are not flow controlled; its client sees them after what it had
 *   buffered).
 * - A few requests are kept posted per method, and always a generic one,
 *   without which an unknown method hangs until the client's deadline.
 * - Core events arrive on other threads: they go into a mutex-protected
 *   inbox, and the CQ thread is woken by watching a lame channel's
 *   connectivity with a deadline in the past (the C API has no alarm).
 *
 * Shutdown: stop the listeners (shutdown_and_notify), end the Watch and
 * Sync streams with UNAVAILABLE, cancel what is left after the grace
 * period, wait for the shutdown tag and for every context, then tear down.
 */
#define _GNU_SOURCE	/* pthread_setname_np */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <poll.h>
#include <sys/eventfd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include "util/clock.h"
#include "util/errmsg.h"
#include "log.h"
#include "convert/convert.h"
#include "server.h"
#include "server_priv.h"
#include "api/wire.h"

#define REQUESTS_PER_METHOD	4	/* calls kept posted per method */
#define GENERIC_REQUESTS	2
#define SYNC_QUEUE_MAX		256	/* unsent Sync answers before reading pauses */
#define INBOX_MAX		(1 << 18) /* core events waiting for the CQ thread: a snapshot
					   * replacing 65536 services makes 131072 */
#define MAX_METHODS		32
#define DEFAULT_GRACE_MS	2000
#define DEFAULT_WATCH_QUEUE	10000
#define WATCH_STALL_MS		1000	/* a watcher over the bound that took nothing this long */
#define WATCH_HARD		4	/* x watch_queue: too far behind, reading or not */
#define DEFAULT_MAX_WATCHERS	256	/* each may hold ~0.4 MiB of transport buffers */
#define DEFAULT_WRITERS		32	/* up to this many writes share an fsync */
#define MAX_STREAMS_PER_CONN	64	/* calls open at once on one connection */
#define DEFAULT_IDLE_S		120	/* a connection without calls this long is closed */
#define HANDSHAKE_MS		10000
#define KEEPALIVE_MS		60000	/* ping a quiet client this often, */
#define KEEPALIVE_TIMEOUT_MS	20000	/* and drop it if no answer comes */
#define MAX_UNIX		8	/* unix listeners */
#define FD_RESERVE		256	/* open files no unix client may take (a quarter of
					 * a smaller limit): the datapath's, the journal's,
					 * the health probes' */

enum tag_kind { T_NEW, T_RECV, T_SEND, T_STATUS, T_CLOSE, T_WAKE, T_SHUTDOWN };

struct call;

struct tag {
	enum tag_kind kind;
	struct call *c;
};

struct qnode {
	struct qnode *next;
	grpc_byte_buffer *bb;
};

/* A packed xlb.v1.Event in the watchers' shared list; freed once every
 * watcher that was watching when it came has sent it or ended. */
struct evnode {
	struct evnode *next;
	grpc_slice sl;
	unsigned int refs;		/* watchers yet to send it */
};

struct call {
	struct xlb_api_server *srv;
	int m;				/* index into xlb_api_methods; -1 = generic */
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_call_details details;	/* generic calls only */
	grpc_byte_buffer *payload;	/* the request, read with the call */
	grpc_byte_buffer *recv_buf;
	grpc_byte_buffer *send_buf;
	struct qnode *qhead, *qtail;	/* Sync: answers to send */
	struct evnode *wnext;		/* Watch: the next event to send, NULL: none */
	int64_t taken_ms;		/* Watch: when it last took one or had none to take */
	size_t qlen;			/* messages or events not sent yet */
	int cancelled;			/* set by RECV_CLOSE_ON_SERVER */
	int pending;			/* batches in flight */
	bool headers_sent, send_busy, recv_busy, recv_paused;
	bool status_started, dead, is_watch, is_sync, listed;
	bool finish_pending;
	bool job_busy;			/* Sync: a message is with a writer */
	int finish_code;
	char *finish_msg;
	uint64_t last_version;		/* Sync: previous request's version */
	bool have_version;
	unsigned int n_recv;
	struct call *prev, *next;	/* srv->streams */
	struct tag t_new, t_recv, t_send, t_status, t_close;
};

struct packed {
	uint8_t *buf;			/* an xlb.v1.Event, malloc'd */
	size_t len;
};

/* A write for the writer threads: the request in, the answer out. The
 * call keeps a pending reference until the answer is delivered. */
struct job {
	struct job *next;
	struct call *c;
	ProtobufCMessage *req;		/* unary request, or the Sync message */
	bool sync;
	uint64_t last_version;		/* Sync: the stream's previous version */
	bool have_version;
	int code;			/* unary: status, resp or err */
	ProtobufCMessage *resp;
	char err[1024];
	Xlb__V1__SyncResponse sresp;	/* Sync: the answer */
};

/* What the core's event callback holds: events packed on the core's
 * threads, taken by the CQ thread. Freed once the server has unsubscribed
 * (xlb_core_unsubscribe waits for a delivery in progress). */
struct relay {
	pthread_mutex_t lock;
	struct xlb_api_server *srv;	/* NULL once detached */
	struct packed *ev;
	size_t n, cap;
	size_t watchers;		/* events are only kept while someone watches */
	struct job *done, **done_tail;	/* answers from the writers */
	bool overflow;
	bool stop;
	bool wake_pending;
};

struct xlb_api_server {
	struct xlb_api_ctx ctx;
	struct xlb_core *core;
	grpc_server *server;
	grpc_completion_queue *cq;
	grpc_channel *wake_chan;
	void *reg[MAX_METHODS];		/* registered method handles, by xlb_api_methods index */
	char paths[MAX_METHODS][96];
	pthread_t thread;
	bool thread_started;
	struct relay *relay;
	int sub_id;
	struct call streams;		/* list head: Watch and Sync calls */
	struct evnode *ev_head, *ev_tail;	/* events some watcher has not sent */
	size_t live;			/* call contexts allocated */
	bool stopping, shutdown_done, cq_shutdown, cancelled_all;
	gpr_timespec cancel_at;
	unsigned int grace_ms, watch_queue;
	unsigned int max_watchers, n_watchers;
	unsigned int idle_s;
	struct tag t_wake, t_shutdown;

	/* The writers and their queue. */
	pthread_mutex_t wlock;
	pthread_cond_t wcond;
	struct job *todo, **todo_tail;
	pthread_t *writers;
	unsigned int n_writers, writers_ready;
	int writers_err;		/* the first thread_init failure */
	bool wstop;
	int (*thread_init)(void *arg, bool writer);
	void *thread_arg;

	/* Unix listeners are ours: a thread accepts, reads the peer's uid
	 * (SO_PEERCRED), gives the connection its role and hands it to gRPC,
	 * whose calls then name it as "fd:N". */
	int ufd[MAX_UNIX];
	char upath[MAX_UNIX][108];
	size_t n_unix;
	int stop_efd;
	pthread_t acceptor;
	bool acceptor_started;
	grpc_server_credentials *fd_creds;
	struct xlb_api_rules rules_none;
	const struct xlb_api_rules *rules;
	uint32_t self_uid;
	pthread_mutex_t role_lock;
	struct conn_role { uint8_t role; uint32_t uid; } *fd_role;	/* by fd number */
	size_t n_fd_role;
};


static void grpc_log_fn(gpr_log_func_args *a)
{
	if (a->severity == GPR_LOG_SEVERITY_ERROR)
		pr_warn("grpc: %s", a->message);
	else
		pr_debug("grpc: %s", a->message);
}

/* --- call contexts --------------------------------------------------------- */

/* The shared events from the head on that no watcher needs any more. */
static void ev_collect(struct xlb_api_server *s)
{
	struct evnode *n;

	while ((n = s->ev_head) && !n->refs) {
		s->ev_head = n->next;
		if (!s->ev_head)
			s->ev_tail = NULL;
		grpc_slice_unref(n->sl);
		free(n);
	}
}

static void q_clear(struct call *c)
{
	struct qnode *n;

	if (c->is_watch) {
		/* Its events are the qlen nodes from wnext on. */
		for (struct evnode *e = c->wnext; e && c->qlen; e = e->next, c->qlen--)
			e->refs--;
		c->wnext = NULL;
		c->qlen = 0;
		ev_collect(c->srv);
		return;
	}
	while ((n = c->qhead)) {
		c->qhead = n->next;
		grpc_byte_buffer_destroy(n->bb);
		free(n);
	}
	c->qtail = NULL;
	c->qlen = 0;
}

static bool q_push(struct call *c, grpc_byte_buffer *bb)
{
	struct qnode *n = malloc(sizeof(*n));

	if (!n) {
		grpc_byte_buffer_destroy(bb);
		return false;
	}
	n->next = NULL;
	n->bb = bb;
	if (c->qtail)
		c->qtail->next = n;
	else
		c->qhead = n;
	c->qtail = n;
	c->qlen++;
	return true;
}

static void stream_unlist(struct call *c)
{
	if (!c->listed)
		return;
	c->prev->next = c->next;
	c->next->prev = c->prev;
	c->listed = false;
	if (c->is_watch) {
		pthread_mutex_lock(&c->srv->relay->lock);
		c->srv->relay->watchers--;
		c->srv->n_watchers--;
		pthread_mutex_unlock(&c->srv->relay->lock);
	}
}

static void stream_list(struct call *c)
{
	struct call *h = &c->srv->streams;

	c->next = h;
	c->prev = h->prev;
	h->prev->next = c;
	h->prev = c;
	c->listed = true;
	if (c->is_watch) {
		pthread_mutex_lock(&c->srv->relay->lock);
		c->srv->relay->watchers++;
		c->srv->n_watchers++;
		pthread_mutex_unlock(&c->srv->relay->lock);
	}
}

static void call_free(struct call *c)
{
	stream_unlist(c);
	q_clear(c);
	if (c->payload)
		grpc_byte_buffer_destroy(c->payload);
	if (c->recv_buf)
		grpc_byte_buffer_destroy(c->recv_buf);
	if (c->send_buf)
		grpc_byte_buffer_destroy(c->send_buf);
	if (c->call)
		grpc_call_unref(c->call);
	grpc_metadata_array_destroy(&c->md);
	grpc_call_details_destroy(&c->details);
	free(c->finish_msg);
	c->srv->live--;
	free(c);
}

static void maybe_free(struct call *c)
{
	if (!c->pending)
		call_free(c);
}

static bool start_batch(struct call *c, const grpc_op *ops, size_t n, struct tag *t)
{
	grpc_call_error e = grpc_call_start_batch(c->call, ops, n, t, NULL);

	if (e != GRPC_CALL_OK) {
		/* A bug in this file (two ops of a kind in flight, ...). */
		pr_err("grpc: start batch (%s, op %d): error %d",
		       c->m >= 0 ? xlb_api_methods[c->m].name : "generic", (int)ops[0].op, (int)e);
		c->dead = true;
		return false;
	}
	c->pending++;
	return true;
}

static void post_request(struct xlb_api_server *s, int m)
{
	struct call *c = calloc(1, sizeof(*c));
	grpc_call_error e;

	if (!c) {
		pr_err("grpc: out of memory posting a request");
		return;
	}
	c->srv = s;
	c->m = m;
	c->t_new = (struct tag){ T_NEW, c };
	c->t_recv = (struct tag){ T_RECV, c };
	c->t_send = (struct tag){ T_SEND, c };
	c->t_status = (struct tag){ T_STATUS, c };
	c->t_close = (struct tag){ T_CLOSE, c };
	grpc_metadata_array_init(&c->md);
	grpc_call_details_init(&c->details);
	s->live++;
	if (m < 0)
		e = grpc_server_request_call(s->server, &c->call, &c->details, &c->md, s->cq, s->cq,
					     &c->t_new);
	else
		e = grpc_server_request_registered_call(
			s->server, s->reg[m], &c->call, &c->deadline, &c->md,
			xlb_api_methods[m].shape == XLB_API_BIDI ? NULL : &c->payload, s->cq,
			s->cq, &c->t_new);
	if (e != GRPC_CALL_OK) {
		pr_err("grpc: request call: error %d", (int)e);
		call_free(c);
		return;
	}
	c->pending = 1;
}

/* Send the status now, with the headers if they have not gone yet. */
static void send_status(struct call *c, int code, const char *msg)
{
	grpc_slice details = grpc_slice_from_copied_string(msg ? msg : "");
	grpc_op ops[2];
	size_t n = 0;

	memset(ops, 0, sizeof(ops));
	if (!c->headers_sent) {
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
		c->headers_sent = true;
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = (grpc_status_code)code;
	ops[n].data.send_status_from_server.status_details = &details;
	n++;
	c->status_started = true;
	start_batch(c, ops, n, &c->t_status);
	grpc_slice_unref(details);
}

/* End the call: at once, or once the queued messages are out. */
static void finish(struct call *c, int code, const char *msg)
{
	if (c->status_started || c->finish_pending || c->dead)
		return;
	if (c->send_busy || c->qlen) {
		c->finish_pending = true;
		c->finish_code = code;
		c->finish_msg = strdup(msg ? msg : "");
		return;
	}
	send_status(c, code, msg);
}

static void post_recv(struct call *c);

/* Keep exactly one SEND_MESSAGE in flight while the queue has messages. */
static void pump(struct call *c)
{
	struct qnode *n;
	grpc_op ops[2];
	size_t k = 0;

	if (c->dead || c->send_busy || c->status_started)
		return;
	if (!c->qlen) {
		if (c->finish_pending)
			send_status(c, c->finish_code, c->finish_msg);
		return;
	}
	if (c->is_watch) {
		struct evnode *e = c->wnext;

		c->send_buf = grpc_raw_byte_buffer_create(&e->sl, 1);	/* shares the bytes */
		c->wnext = --c->qlen ? e->next : NULL;
		e->refs--;
		ev_collect(c->srv);
	} else {
		n = c->qhead;
		c->qhead = n->next;
		if (!c->qhead)
			c->qtail = NULL;
		c->qlen--;
		c->send_buf = n->bb;
		free(n);
	}
	memset(ops, 0, sizeof(ops));
	if (!c->headers_sent) {
		ops[k++].op = GRPC_OP_SEND_INITIAL_METADATA;
		c->headers_sent = true;
	}
	ops[k].op = GRPC_OP_SEND_MESSAGE;
	ops[k].data.send_message.send_message = c->send_buf;
	k++;
	if (start_batch(c, ops, k, &c->t_send))
		c->send_busy = true;
	if (c->recv_paused && c->qlen < SYNC_QUEUE_MAX / 2) {
		c->recv_paused = false;
		post_recv(c);
	}
}

/* Headers at once: a client's initial_metadata() then says "registered". */
static void send_headers(struct call *c)
{
	grpc_op op;

	if (c->headers_sent || c->send_busy)
		return;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_SEND_INITIAL_METADATA;
	c->headers_sent = true;
	if (start_batch(c, &op, 1, &c->t_send))
		c->send_busy = true;
}

/* Unpack and check a request; on failure the call is finished. */
static ProtobufCMessage *request_of(struct call *c, grpc_byte_buffer *bb)
{
	const ProtobufCMessageDescriptor *d = xlb_api_methods[c->m].req;
	char err[512];
	ProtobufCMessage *req = xlb_api_unpack(bb, d, err, sizeof(err));

	if (!req) {
		finish(c, GRPC_STATUS_INVALID_ARGUMENT, "malformed request");
		return NULL;
	}
	if (err[0]) {
		protobuf_c_message_free_unpacked(req, NULL);
		finish(c, GRPC_STATUS_INVALID_ARGUMENT, err);
		return NULL;
	}
	return req;
}

/* A job to the writers; the call waits for it. */
static void submit(struct call *c, ProtobufCMessage *req, bool sync)
{
	struct xlb_api_server *s = c->srv;
	struct job *j = calloc(1, sizeof(*j));

	if (!j) {
		protobuf_c_message_free_unpacked(req, NULL);
		finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	j->c = c;
	j->req = req;
	j->sync = sync;
	j->last_version = c->last_version;
	j->have_version = c->have_version;
	c->pending++;
	if (sync)
		c->job_busy = true;
	pthread_mutex_lock(&s->wlock);
	*s->todo_tail = j;
	s->todo_tail = &j->next;
	pthread_cond_signal(&s->wcond);
	pthread_mutex_unlock(&s->wlock);
}

static void reply_unary(struct call *c, int code, ProtobufCMessage *resp, char *err,
			size_t errlen)
{
	const struct xlb_api_method *m = &xlb_api_methods[c->m];
	grpc_op ops[3];
	grpc_slice ok;

	if (code != GRPC_STATUS_OK) {
		if (!err[0])
			snprintf(err, errlen, "%s failed", m->name);
		pr_debug("api: %s: %s (status %d)", m->name, err, code);
		finish(c, code, err);
		return;
	}
	if (c->dead || c->status_started) {	/* cancelled meanwhile */
		protobuf_c_message_free_unpacked(resp, NULL);
		return;
	}
	c->send_buf = xlb_api_pack(resp);
	protobuf_c_message_free_unpacked(resp, NULL);
	ok = grpc_empty_slice();
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = c->send_buf;
	ops[2].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[2].data.send_status_from_server.status = GRPC_STATUS_OK;
	ops[2].data.send_status_from_server.status_details = &ok;
	c->headers_sent = true;
	c->status_started = true;
	start_batch(c, ops, 3, &c->t_status);
}

static void handle_unary(struct call *c)
{
	const struct xlb_api_method *m = &xlb_api_methods[c->m];
	ProtobufCMessage *req, *resp = NULL;
	char err[1024] = "";
	int code;

	req = request_of(c, c->payload);
	if (!req)
		return;
	if (m->write) {
		submit(c, req, false);
		return;
	}
	code = m->unary(&c->srv->ctx, req, &resp, err, sizeof(err));
	protobuf_c_message_free_unpacked(req, NULL);
	reply_unary(c, code, resp, err, sizeof(err));
}

static void start_watch(struct call *c)
{
	ProtobufCMessage *req = request_of(c, c->payload);

	if (!req)
		return;
	protobuf_c_message_free_unpacked(req, NULL);
	if (c->srv->n_watchers >= c->srv->max_watchers) {
		char msg[128];

		snprintf(msg, sizeof(msg), "watch: %u watchers already, the most this node takes",
			 c->srv->n_watchers);
		finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, msg);
		return;
	}
	c->is_watch = true;
	c->taken_ms = xlb_clock_ms();
	stream_list(c);
	send_headers(c);
}

static void post_recv(struct call *c)
{
	grpc_op op;

	if (c->dead || c->recv_busy || c->status_started || c->finish_pending || c->job_busy)
		return;
	if (c->qlen >= SYNC_QUEUE_MAX) {
		/* The client does not read its answers: stop reading its
		 * requests until it does (HTTP/2 flow control does the rest). */
		c->recv_paused = true;
		return;
	}
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &c->recv_buf;
	if (start_batch(c, &op, 1, &c->t_recv))
		c->recv_busy = true;
}

static void start_sync(struct call *c)
{
	c->is_sync = true;
	stream_list(c);
	send_headers(c);
	post_recv(c);
}

static void on_sync_message(struct call *c, grpc_byte_buffer *bb)
{
	const ProtobufCMessageDescriptor *d = &xlb__v1__sync_request__descriptor;
	Xlb__V1__SyncResponse resp;
	Xlb__V1__SyncRequest *req;
	char err[512], msg[600];

	c->n_recv++;
	req = (Xlb__V1__SyncRequest *)xlb_api_unpack(bb, d, err, sizeof(err));
	if (!req) {
		snprintf(msg, sizeof(msg), "message #%u: malformed request", c->n_recv);
		finish(c, GRPC_STATUS_INVALID_ARGUMENT, msg);
		return;
	}
	if (!err[0]) {
		/* Answered once the datapath and the journal have it. */
		submit(c, &req->base, true);
		c->last_version = req->version;
		c->have_version = true;
		return;
	}
	/* Well-formed but invalid: rejected, the stream goes on. */
	xlb__v1__sync_response__init(&resp);
	resp.version = req->version;
	resp.error = strdup(err);
	if (!resp.error)
		resp.error = (char *)protobuf_c_empty_string;
	if (!resp.ok)
		pr_debug("api: Sync version %llu rejected: %s",
			 (unsigned long long)req->version, resp.error);
	c->last_version = req->version;
	c->have_version = true;
	q_push(c, xlb_api_pack(&resp.base));
	xlb_api_sync_response_clear(&resp);
	xlb__v1__sync_request__free_unpacked(req, NULL);
	pump(c);
}

/* --- events ---------------------------------------------------------------- */

static void wake_locked(struct relay *r)
{
	if (r->srv && !r->wake_pending) {
		r->wake_pending = true;
		/* Completes at once: the deadline is already past. */
		grpc_channel_watch_connectivity_state(r->srv->wake_chan, GRPC_CHANNEL_IDLE,
						      gpr_inf_past(GPR_CLOCK_MONOTONIC),
						      r->srv->cq, &r->srv->t_wake);
	}
}

/* The core's callback: any thread, no core lock held. The event is packed
 * here, off the CQ thread. */
static void on_core_event(const struct xlb_event *ev, void *arg)
{
	struct relay *r = arg;
	struct packed p;

	pthread_mutex_lock(&r->lock);
	if (!r->srv || !r->watchers) {
		pthread_mutex_unlock(&r->lock);
		return;
	}
	pthread_mutex_unlock(&r->lock);
	if (xlb_api_event_pack(ev, &p.buf, &p.len)) {
		p.buf = NULL;
		p.len = 0;
	}

	pthread_mutex_lock(&r->lock);
	if (!p.buf || !r->srv) {
		r->overflow = !!r->srv;
		goto out;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct packed *v;

		if (r->n >= INBOX_MAX || !(v = realloc(r->ev, cap * sizeof(*v)))) {
			r->overflow = true;
			goto out;
		}
		r->ev = v;
		r->cap = cap;
	}
	r->ev[r->n++] = p;
	p.buf = NULL;
out:
	wake_locked(r);
	pthread_mutex_unlock(&r->lock);
	free(p.buf);
}

/* At once: a finish() would wait behind a send the client does not read. */
static void end_watch(struct call *c, const char *msg)
{
	char *peer = grpc_call_get_peer(c->call);

	pr_info("api: Watch of %s ended: %s", peer ? peer : "a client", msg);
	gpr_free(peer);
	q_clear(c);
	c->status_started = true;
	grpc_call_cancel_with_status(c->call, GRPC_STATUS_RESOURCE_EXHAUSTED, msg, NULL);
}

static bool watching(const struct call *c)
{
	return c->is_watch && !c->dead && !c->status_started && !c->finish_pending;
}

/* One wake-up's events to every watcher. A watcher is too slow when, as
 * new events come, it has more than watch_queue unread and took none for
 * WATCH_STALL_MS, or more than WATCH_HARD times that at all: a client that
 * keeps reading gets through a burst beyond the bound (a big snapshot
 * changes thousands of services at once), one that stopped reading does
 * not hold events for long. */
static void broadcast(struct xlb_api_server *s, struct packed *ev, size_t n)
{
	int64_t now = xlb_clock_ms();
	char msg[160];

	for (struct call *c = s->streams.next; c != &s->streams; c = c->next) {
		if (!watching(c) || c->qlen <= s->watch_queue)
			continue;
		if (c->qlen > (size_t)WATCH_HARD * s->watch_queue)
			snprintf(msg, sizeof(msg), "watch: %zu events unread, client too slow",
				 c->qlen);
		else if (now - c->taken_ms >= WATCH_STALL_MS)
			snprintf(msg, sizeof(msg), "watch: %zu events unread and none taken for "
				 "%lld ms, client too slow", c->qlen, (long long)(now - c->taken_ms));
		else
			continue;
		end_watch(c, msg);
	}
	for (size_t i = 0; i < n; i++) {
		struct evnode *e = malloc(sizeof(*e));

		if (!e) {
			for (struct call *c = s->streams.next; c != &s->streams; c = c->next)
				if (watching(c))
					end_watch(c, "watch: out of memory for events");
			break;
		}
		e->next = NULL;
		e->refs = 0;
		e->sl = grpc_slice_new(ev[i].buf, ev[i].len, free);
		ev[i].buf = NULL;
		for (struct call *c = s->streams.next; c != &s->streams; c = c->next)
			if (watching(c)) {
				if (!c->wnext) {	/* it was waiting, not stalled */
					c->wnext = e;
					c->taken_ms = now;
				}
				c->qlen++;
				e->refs++;
			}
		if (s->ev_tail)
			s->ev_tail->next = e;
		else
			s->ev_head = e;
		s->ev_tail = e;
		ev_collect(s);		/* nobody watching: gone at once */
	}
	for (struct call *c = s->streams.next; c != &s->streams; c = c->next)
		if (watching(c))
			pump(c);
}

/* --- writers ---------------------------------------------------------------- */

static void run_job(struct xlb_api_server *s, struct job *j)
{
	if (j->sync) {
		xlb_api_sync_handle(&s->ctx, (const Xlb__V1__SyncRequest *)j->req,
				    j->have_version ? &j->last_version : NULL, &j->sresp);
		return;
	}
	j->code = xlb_api_methods[j->c->m].unary(&s->ctx, j->req, &j->resp, j->err,
						 sizeof(j->err));
}

static void *writer_main(void *arg)
{
	struct xlb_api_server *s = arg;
	struct relay *r = s->relay;
	int ret = s->thread_init ? s->thread_init(s->thread_arg, true) : 0;

	pthread_mutex_lock(&s->wlock);
	if (ret && !s->writers_err)
		s->writers_err = ret;
	s->writers_ready++;
	pthread_cond_broadcast(&s->wcond);
	for (;;) {
		struct job *j;

		while (!s->todo && !s->wstop)
			pthread_cond_wait(&s->wcond, &s->wlock);
		if (!s->todo)
			break;
		j = s->todo;
		s->todo = j->next;
		if (!s->todo)
			s->todo_tail = &s->todo;
		pthread_mutex_unlock(&s->wlock);

		j->next = NULL;
		run_job(s, j);
		pthread_mutex_lock(&r->lock);
		*r->done_tail = j;
		r->done_tail = &j->next;
		wake_locked(r);
		pthread_mutex_unlock(&r->lock);

		pthread_mutex_lock(&s->wlock);
	}
	pthread_mutex_unlock(&s->wlock);
	return NULL;
}

/* A writer's answer, on the CQ thread. */
static void deliver(struct job *j)
{
	struct call *c = j->c;

	c->pending--;
	if (!j->sync) {
		reply_unary(c, j->code, j->resp, j->err, sizeof(j->err));
	} else {
		Xlb__V1__SyncResponse *resp = &j->sresp;

		if (!resp->ok)
			pr_debug("api: Sync version %llu rejected: %s",
				 (unsigned long long)resp->version, resp->error);
		c->job_busy = false;
		if (!c->dead && !c->status_started && !c->finish_pending) {
			q_push(c, xlb_api_pack(&resp->base));
			pump(c);
			post_recv(c);
		}
		xlb_api_sync_response_clear(resp);
	}
	protobuf_c_message_free_unpacked(j->req, NULL);
	free(j);
	maybe_free(c);
}

/* Start n writers; 0 once each ran thread_init, or its error. */
static int writers_start(struct xlb_api_server *s, unsigned int n)
{
	int ret = 0;

	s->writers = calloc(n, sizeof(*s->writers));
	if (!s->writers)
		return -ENOMEM;
	for (; s->n_writers < n; s->n_writers++) {
		ret = -pthread_create(&s->writers[s->n_writers], NULL, writer_main, s);
		if (ret)
			break;
		pthread_setname_np(s->writers[s->n_writers], "xlbd-writer");
	}
	pthread_mutex_lock(&s->wlock);
	while (s->writers_ready < s->n_writers)
		pthread_cond_wait(&s->wcond, &s->wlock);
	if (!ret)
		ret = s->writers_err;
	pthread_mutex_unlock(&s->wlock);
	return ret;
}

/* After the CQ thread: every job was delivered, none can come. */
static void writers_stop(struct xlb_api_server *s)
{
	pthread_mutex_lock(&s->wlock);
	s->wstop = true;
	pthread_cond_broadcast(&s->wcond);
	pthread_mutex_unlock(&s->wlock);
	for (unsigned int i = 0; i < s->n_writers; i++)
		pthread_join(s->writers[i], NULL);
	free(s->writers);
	s->writers = NULL;
	s->n_writers = 0;
}

static void begin_stop(struct xlb_api_server *s);

static void on_wake(struct xlb_api_server *s)
{
	struct relay *r = s->relay;
	struct packed *ev;
	struct job *done;
	bool overflow, stop;
	size_t n;

	pthread_mutex_lock(&r->lock);
	r->wake_pending = false;
	done = r->done;
	r->done = NULL;
	r->done_tail = &r->done;
	ev = r->ev;
	n = r->n;
	overflow = r->overflow;
	stop = r->stop;
	r->ev = NULL;
	r->n = r->cap = 0;
	r->overflow = false;
	pthread_mutex_unlock(&r->lock);

	if (!s->cq_shutdown) {
		if (overflow)
			for (struct call *c = s->streams.next; c != &s->streams; c = c->next)
				if (watching(c))
					end_watch(c, "watch: events lost, the daemon could not keep up");
		broadcast(s, ev, n);
	}
	for (size_t i = 0; i < n; i++)
		free(ev[i].buf);
	free(ev);
	while (done) {
		struct job *j = done;

		done = j->next;
		deliver(j);
	}
	if (stop && !s->stopping)
		begin_stop(s);
}

/* --- who may do what ----------------------------------------------------------- */

static void set_fd_role(struct xlb_api_server *s, int fd, enum xlb_api_role role, uint32_t uid)
{
	pthread_mutex_lock(&s->role_lock);
	if ((size_t)fd >= s->n_fd_role) {
		size_t n = (size_t)fd * 2 + 64;
		struct conn_role *r = realloc(s->fd_role, n * sizeof(*r));

		if (r) {
			memset(r + s->n_fd_role, 0, (n - s->n_fd_role) * sizeof(*r));
			s->fd_role = r;
			s->n_fd_role = n;
		}
	}
	if ((size_t)fd < s->n_fd_role)
		s->fd_role[fd] = (struct conn_role){ (uint8_t)role, uid };
	pthread_mutex_unlock(&s->role_lock);
}

/* An auth property's value as a string into buf ("" when absent). */
static const char *prop(grpc_auth_context *a, const char *name, char *buf, size_t len)
{
	grpc_auth_property_iterator it = grpc_auth_context_find_properties_by_name(a, name);
	const grpc_auth_property *p = grpc_auth_property_iterator_next(&it);

	snprintf(buf, len, "%.*s", p ? (int)p->value_length : 0, p ? p->value : "");
	return buf;
}

/* The role of a call's client, and who it is for a message. */
static enum xlb_api_role call_role(const struct call *c, char *who, size_t wlen)
{
	const struct xlb_api_server *s = c->srv;
	enum xlb_api_role role = XLB_API_ROLE_NONE;
	char *peer = grpc_call_get_peer(c->call);
	grpc_auth_context *a;
	char cn[256], subject[512], sanbuf[8][256];
	const char *san[8];
	size_t n_san = 0;
	int fd;

	if (peer && sscanf(peer, "fd:%d", &fd) == 1) {	/* one of our unix sockets */
		pthread_mutex_lock((pthread_mutex_t *)&s->role_lock);
		if (fd >= 0 && (size_t)fd < s->n_fd_role) {
			role = s->fd_role[fd].role;
			snprintf(who, wlen, "unix peer uid %u", s->fd_role[fd].uid);
		}
		pthread_mutex_unlock((pthread_mutex_t *)&s->role_lock);
		gpr_free(peer);
		return role;
	}
	a = grpc_call_auth_context(c->call);
	if (a && grpc_auth_context_peer_is_authenticated(a)) {
		grpc_auth_property_iterator it =
			grpc_auth_context_find_properties_by_name(a, GRPC_X509_SAN_PROPERTY_NAME);
		const grpc_auth_property *p;

		while (n_san < 8 && (p = grpc_auth_property_iterator_next(&it))) {
			snprintf(sanbuf[n_san], sizeof(sanbuf[n_san]), "%.*s", (int)p->value_length,
				 p->value);
			san[n_san] = sanbuf[n_san];
			n_san++;
		}
		prop(a, GRPC_X509_CN_PROPERTY_NAME, cn, sizeof(cn));
		prop(a, GRPC_X509_SUBJECT_PROPERTY_NAME, subject, sizeof(subject));
		role = xlb_api_role_of_cert(s->rules, true, cn, san, n_san, subject);
		snprintf(who, wlen, "client certificate \"%s\"", subject[0] ? subject : cn);
	} else {
		role = xlb_api_role_of_cert(s->rules, false, NULL, NULL, 0, NULL);
		snprintf(who, wlen, "TLS client %s without a certificate", peer ? peer : "");
	}
	grpc_auth_context_release(a);
	gpr_free(peer);
	xlb_api_fix_utf8(who);
	return role;
}

/* 0, or the call is refused: PERMISSION_DENIED, saying why. */
static int authorize(struct call *c)
{
	const struct xlb_api_method *m = &xlb_api_methods[c->m];
	char who[600], msg[900];
	enum xlb_api_role role = call_role(c, who, sizeof(who));

	if (role == XLB_API_ROLE_WRITE || (role == XLB_API_ROLE_READ && !m->write))
		return 0;
	if (role == XLB_API_ROLE_NONE)
		snprintf(msg, sizeof(msg), "%s: %s has no role on this API (xlbd --api-reader, "
			 "--api-writer)", m->name, who);
	else
		snprintf(msg, sizeof(msg), "%s changes state and needs the write role: %s may "
			 "only read (xlbd --api-writer%s)", m->name, who,
			 strstr(who, "without a certificate") ? ", or --api-insecure-tls-writes" : "");
	pr_info("api: refused: %s", msg);
	finish(c, GRPC_STATUS_PERMISSION_DENIED, msg);
	return -EPERM;
}

/* --- the completion queue thread ------------------------------------------- */

static void on_new(struct call *c, bool ok)
{
	struct xlb_api_server *s = c->srv;
	grpc_op op;
	char msg[300];

	c->pending--;
	if (!ok) {			/* shutting down */
		maybe_free(c);
		return;
	}
	if (!s->stopping)
		post_request(s, c->m);
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	op.data.recv_close_on_server.cancelled = &c->cancelled;
	if (!start_batch(c, &op, 1, &c->t_close)) {
		maybe_free(c);
		return;
	}
	if (c->m < 0) {
		snprintf(msg, sizeof(msg), "unknown method %.*s",
			 (int)GRPC_SLICE_LENGTH(c->details.method),
			 (const char *)GRPC_SLICE_START_PTR(c->details.method));
		xlb_api_fix_utf8(msg);
		finish(c, GRPC_STATUS_UNIMPLEMENTED, msg);
	} else if (s->stopping) {
		finish(c, GRPC_STATUS_UNAVAILABLE, "server shutting down");
	} else if (!authorize(c)) {
		switch (xlb_api_methods[c->m].shape) {
		case XLB_API_UNARY:
			handle_unary(c);
			break;
		case XLB_API_SERVER_STREAM:
			start_watch(c);
			break;
		case XLB_API_BIDI:
			start_sync(c);
			break;
		}
	}
	maybe_free(c);
}

static void on_recv(struct call *c, bool ok)
{
	grpc_byte_buffer *bb = c->recv_buf;

	c->pending--;
	c->recv_busy = false;
	c->recv_buf = NULL;
	if (!ok) {
		c->dead = true;
	} else if (!bb) {
		/* The client half-closed: answer what is queued, then OK. */
		finish(c, GRPC_STATUS_OK, "");
	} else if (!c->status_started && !c->finish_pending && !c->dead) {
		on_sync_message(c, bb);
		post_recv(c);
	}
	if (bb)
		grpc_byte_buffer_destroy(bb);
	maybe_free(c);
}

static void on_send(struct call *c, bool ok)
{
	c->pending--;
	c->send_busy = false;
	if (c->send_buf) {
		grpc_byte_buffer_destroy(c->send_buf);
		c->send_buf = NULL;
	}
	if (!ok) {
		c->dead = true;
		q_clear(c);
	} else {
		if (c->is_watch)
			c->taken_ms = xlb_clock_ms();
		pump(c);
	}
	maybe_free(c);
}

static void on_status(struct call *c, bool ok)
{
	c->pending--;
	if (c->send_buf) {
		grpc_byte_buffer_destroy(c->send_buf);
		c->send_buf = NULL;
	}
	maybe_free(c);
}

static void on_close(struct call *c, bool ok)
{
	c->pending--;
	c->dead = true;
	q_clear(c);
	stream_unlist(c);
	maybe_free(c);
}

static void begin_stop(struct xlb_api_server *s)
{
	s->stopping = true;
	grpc_server_shutdown_and_notify(s->server, s->cq, &s->t_shutdown);
	/* Streams never end by themselves; the shutdown tag waits for them. */
	for (struct call *c = s->streams.next, *n; c != &s->streams; c = n) {
		n = c->next;
		finish(c, GRPC_STATUS_UNAVAILABLE, "server shutting down");
	}
	s->cancel_at = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
				    gpr_time_from_millis(s->grace_ms, GPR_TIMESPAN));
}

static void *cq_main(void *arg)
{
	struct xlb_api_server *s = arg;

	for (;;) {
		gpr_timespec dl = s->stopping && !s->cancelled_all
					  ? s->cancel_at
					  : gpr_inf_future(GPR_CLOCK_MONOTONIC);
		grpc_event ev = grpc_completion_queue_next(s->cq, dl, NULL);
		struct tag *t;

		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_QUEUE_TIMEOUT) {
			if (s->server) {
				pr_warn("api: calls still open %u ms after shutdown began: cancelling",
					s->grace_ms);
				grpc_server_cancel_all_calls(s->server);
			}
			s->cancelled_all = true;
			continue;
		}
		t = ev.tag;
		switch (t->kind) {
		case T_NEW:
			on_new(t->c, ev.success);
			break;
		case T_RECV:
			on_recv(t->c, ev.success);
			break;
		case T_SEND:
			on_send(t->c, ev.success);
			break;
		case T_STATUS:
			on_status(t->c, ev.success);
			break;
		case T_CLOSE:
			on_close(t->c, ev.success);
			break;
		case T_WAKE:
			on_wake(s);
			break;
		case T_SHUTDOWN:
			s->shutdown_done = true;
			break;
		}
		if (s->stopping && s->shutdown_done && !s->live && !s->cq_shutdown) {
			pthread_mutex_lock(&s->relay->lock);
			s->relay->srv = NULL;	/* no more wake-ups */
			pthread_mutex_unlock(&s->relay->lock);
			grpc_server_destroy(s->server);
			s->server = NULL;
			grpc_channel_destroy(s->wake_chan);
			s->wake_chan = NULL;
			grpc_completion_queue_shutdown(s->cq);
			s->cq_shutdown = true;
		}
	}
	return NULL;
}

/* --- listeners ------------------------------------------------------------- */

static int read_pem(const char *path, const char *what, char **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n;
	long sz;
	int ret;

	*out = NULL;
	if (!f) {
		ret = -errno;
		return xlb_errf(err, errlen, ret, "%s %s: %s", what, path, strerror(-ret));
	}
	if (fseek(f, 0, SEEK_END) || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		ret = -errno;
		fclose(f);
		return xlb_errf(err, errlen, ret, "%s %s: %s", what, path, strerror(-ret));
	}
	if (sz == 0 || sz > (1 << 20)) {
		fclose(f);
		return xlb_errf(err, errlen, -EINVAL, "%s %s: %s", what, path,
			    sz ? "larger than 1 MiB" : "empty");
	}
	buf = malloc((size_t)sz + 1);
	if (!buf) {
		fclose(f);
		return xlb_errf(err, errlen, -ENOMEM, "%s %s: out of memory", what, path);
	}
	n = fread(buf, 1, (size_t)sz, f);
	fclose(f);
	buf[n] = '\0';
	if (!strstr(buf, "-----BEGIN ")) {
		free(buf);
		return xlb_errf(err, errlen, -EINVAL, "%s %s: not PEM", what, path);
	}
	*out = buf;
	return 0;
}

/* mkdir -p with mode 0700 for whatever is missing. */
static int mkdir_parents(const char *path)
{
	char d[PATH_MAX];
	char *p;

	if (snprintf(d, sizeof(d), "%s", path) >= (int)sizeof(d))
		return -ENAMETOOLONG;
	p = strrchr(d, '/');
	if (!p || p == d)
		return 0;
	*p = '\0';
	for (p = d + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(d, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(d, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* gRPC unlinks whatever socket is at the path before binding: make sure no
 * other daemon is answering there first. */
static int check_socket_path(const char *path, char *err, size_t errlen, const char *addr)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat sb;
	int fd, ret;

	if (strlen(path) >= sizeof(sun.sun_path))
		return xlb_errf(err, errlen, -ENAMETOOLONG, "listen %s: path longer than %zu bytes",
			    addr, sizeof(sun.sun_path) - 1);
	if (lstat(path, &sb)) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		return xlb_errf(err, errlen, ret, "listen %s: %s", addr, strerror(-ret));
	}
	if (!S_ISSOCK(sb.st_mode))
		return xlb_errf(err, errlen, -EEXIST, "listen %s: %s exists and is not a socket", addr,
			    path);
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	ret = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (!ret)
		return xlb_errf(err, errlen, -EADDRINUSE,
			    "listen %s: another process is serving this socket", addr);
	return 0;	/* stale (ECONNREFUSED): gRPC replaces it */
}

static int add_unix(struct xlb_api_server *s, const char *addr, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *path = addr + strlen("unix:");
	mode_t old, mode = xlb_api_rules_other_uids(s->rules, s->self_uid) ? 0666 : 0600;
	int fd, ret;

	if (!strncmp(path, "//", 2))	/* unix:///abs/path */
		path += 2;
	if (!*path)
		return xlb_errf(err, errlen, -EINVAL, "listen %s: no path", addr);
	if (s->n_unix == MAX_UNIX)
		return xlb_errf(err, errlen, -E2BIG, "listen %s: at most %d unix sockets", addr,
				MAX_UNIX);
	ret = mkdir_parents(path);
	if (ret)
		return xlb_errf(err, errlen, ret, "listen %s: create directory: %s", addr,
			    strerror(-ret));
	ret = check_socket_path(path, err, errlen, addr);
	if (ret)
		return ret;
	unlink(path);	/* stale, if anything */
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return xlb_errf(err, errlen, -errno, "listen %s: socket: %s", addr, strerror(errno));
	/* Bound with no access for others from the first instant; the chmod
	 * below sets the mode whatever the umask was. */
	old = umask(0077);
	ret = bind(fd, (struct sockaddr *)&sun, sizeof(sun)) || listen(fd, 128) ? -errno : 0;
	umask(old);
	if (!ret && chmod(path, mode))
		ret = -errno;
	if (ret) {
		close(fd);
		return xlb_errf(err, errlen, ret, "listen %s: %s", addr, strerror(-ret));
	}
	s->ufd[s->n_unix] = fd;
	snprintf(s->upath[s->n_unix], sizeof(s->upath[0]), "%s", path);
	s->n_unix++;
	pr_info("api: listening on %s (mode %04o)", addr, mode);
	return 0;
}

static void close_unix(struct xlb_api_server *s)
{
	for (size_t i = 0; i < s->n_unix; i++) {
		close(s->ufd[i]);
		unlink(s->upath[i]);
	}
	s->n_unix = 0;
}

/* The lowest fd a connection may not have, and so the open files kept
 * (*reserve): the kernel gives the lowest free fd, so a connection at or
 * above it would leave fewer than that under the limit. */
static int fd_ceiling(int *reserve)
{
	struct rlimit rl;

	*reserve = FD_RESERVE;
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX)
		return INT_MAX;
	if ((int)rl.rlim_cur / 4 < *reserve)
		*reserve = (int)rl.rlim_cur / 4;
	return (int)rl.rlim_cur - *reserve;
}

/* Accept on the unix sockets: a peer's role from its uid, then the
 * connection is gRPC's. A peer without a role is closed at once, and so
 * is any connection that would leave fewer than FD_RESERVE open files. */
static void *acceptor_main(void *arg)
{
	struct xlb_api_server *s = arg;
	struct pollfd p[MAX_UNIX + 1];
	uint32_t last_denied = UINT32_MAX;
	int reserve, ceiling = fd_ceiling(&reserve);
	bool full = false;

	for (size_t i = 0; i < s->n_unix; i++)
		p[i] = (struct pollfd){ .fd = s->ufd[i], .events = POLLIN };
	p[s->n_unix] = (struct pollfd){ .fd = s->stop_efd, .events = POLLIN };
	for (;;) {
		if (poll(p, s->n_unix + 1, -1) < 0 && errno != EINTR)
			break;
		if (p[s->n_unix].revents)
			break;
		for (size_t i = 0; i < s->n_unix; i++) {
			int fd;

			if (!p[i].revents)
				continue;
			while ((fd = accept4(s->ufd[i], NULL, NULL,
					     SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
				struct ucred cr;
				socklen_t l = sizeof(cr);
				enum xlb_api_role role = XLB_API_ROLE_NONE;

				if (!getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l))
					role = xlb_api_role_of_uid(s->rules, cr.uid, s->self_uid);
				else
					cr.uid = UINT32_MAX;
				if (role == XLB_API_ROLE_NONE) {
					if (cr.uid != last_denied)	/* not once per attempt */
						pr_warn("api: unix peer uid %u (pid %d) has no role: "
							"connection closed (xlbd --api-reader uid:%u)",
							cr.uid, (int)cr.pid, cr.uid);
					last_denied = cr.uid;
					close(fd);
					continue;
				}
				if (fd >= ceiling) {
					if (!full)	/* once per flood */
						pr_warn("api: %d open files: connection from uid %u "
							"closed, the last %d are kept for the "
							"datapath and probes", fd, cr.uid,
							reserve);
					full = true;
					close(fd);
					continue;
				}
				full = false;
				set_fd_role(s, fd, role, cr.uid);
				grpc_server_add_channel_from_fd(s->server, fd, s->fd_creds);
			}
			if (errno == EMFILE || errno == ENFILE)
				poll(NULL, 0, 100);	/* out of fds: let some close */
		}
	}
	return NULL;
}

static int acceptor_start(struct xlb_api_server *s, char *err, size_t errlen)
{
	int ret;

	if (!s->n_unix)
		return 0;
	s->fd_creds = grpc_insecure_server_credentials_create();
	ret = -pthread_create(&s->acceptor, NULL, acceptor_main, s);
	if (ret)
		return xlb_errf(err, errlen, ret, "api: thread: %s", strerror(-ret));
	pthread_setname_np(s->acceptor, "xlbd-accept");
	s->acceptor_started = true;
	return 0;
}

static void acceptor_stop(struct xlb_api_server *s)
{
	uint64_t one = 1;

	if (s->acceptor_started) {
		if (write(s->stop_efd, &one, sizeof(one)) < 0)
			pr_warn("api: stop the acceptor: %s", strerror(errno));
		pthread_join(s->acceptor, NULL);
		s->acceptor_started = false;
	}
	if (s->fd_creds)
		grpc_server_credentials_release(s->fd_creds);
	s->fd_creds = NULL;
	close_unix(s);
}

static int add_tcp(struct xlb_api_server *s, const struct xlb_api_opts *o, const char *addr,
		   char *err, size_t errlen)
{
	char *cert = NULL, *key = NULL, *ca = NULL;
	grpc_ssl_pem_key_cert_pair pair;
	grpc_server_credentials *creds;
	int ret, port;

	if (!o->tls_cert_file || !o->tls_key_file)
		return xlb_errf(err, errlen, -EINVAL,
			    "listen %s: a TCP listener needs TLS (a certificate and a key)", addr);
	if ((ret = read_pem(o->tls_cert_file, "TLS certificate", &cert, err, errlen)) ||
	    (ret = read_pem(o->tls_key_file, "TLS key", &key, err, errlen)) ||
	    (o->tls_client_ca_file &&
	     (ret = read_pem(o->tls_client_ca_file, "TLS client CA", &ca, err, errlen))))
		goto out;
	pair.private_key = key;
	pair.cert_chain = cert;
	creds = grpc_ssl_server_credentials_create_ex(
		ca, &pair, 1,
		ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
		   : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
		NULL);
	if (!creds) {
		ret = xlb_errf(err, errlen, -EINVAL, "listen %s: TLS credentials refused", addr);
		goto out;
	}
	port = grpc_server_add_http2_port(s->server, addr, creds);
	grpc_server_credentials_release(creds);
	if (!port) {
		ret = xlb_errf(err, errlen, -EADDRNOTAVAIL,
			   "listen %s: bind failed (address in use, or bad certificate/key)", addr);
		goto out;
	}
	pr_info("api: listening on %s (TLS%s)", addr, ca ? ", client certificates required" : "");
	ret = 0;
out:
	free(cert);
	if (key) {
		memset(key, 0, strlen(key));
		free(key);
	}
	free(ca);
	return ret;
}

/* --- start / stop ------------------------------------------------------------ */

static int register_methods(struct xlb_api_server *s, char *err, size_t errlen)
{
	const ProtobufCServiceDescriptor *sd = &xlb__v1__xlb__descriptor;

	if (xlb_api_n_methods > MAX_METHODS)
		return xlb_errf(err, errlen, -E2BIG, "api: too many methods");
	for (unsigned int i = 0; i < sd->n_methods; i++) {
		bool found = false;

		for (size_t k = 0; k < xlb_api_n_methods; k++)
			found |= !strcmp(xlb_api_methods[k].name, sd->methods[i].name);
		if (!found)
			pr_warn("api: %s.%s has no handler: UNIMPLEMENTED", sd->name,
				sd->methods[i].name);
	}
	for (size_t k = 0; k < xlb_api_n_methods; k++) {
		const struct xlb_api_method *m = &xlb_api_methods[k];

		snprintf(s->paths[k], sizeof(s->paths[k]), "/%s/%s", sd->name, m->name);
		s->reg[k] = grpc_server_register_method(
			s->server, s->paths[k], NULL,
			m->shape == XLB_API_BIDI ? GRPC_SRM_PAYLOAD_NONE
						 : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
			0);
		if (!s->reg[k])
			return xlb_errf(err, errlen, -EINVAL, "api: register %s failed", s->paths[k]);
	}
	return 0;
}

/* Tear down what start() built before the thread ran. gRPC asserts (and
 * aborts) when a server with listeners is destroyed without a shutdown. */
static void destroy_unstarted(struct xlb_api_server *s, bool has_ports)
{
	if (s->server && has_ports) {
		grpc_server_shutdown_and_notify(s->server, s->cq, &s->t_shutdown);
		grpc_server_cancel_all_calls(s->server);
		while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL)
			       .tag != &s->t_shutdown)
			;
	}
	if (s->server)
		grpc_server_destroy(s->server);
	if (s->wake_chan)
		grpc_channel_destroy(s->wake_chan);
	if (s->cq) {
		grpc_completion_queue_shutdown(s->cq);
		while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL)
			       .type != GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(s->cq);
	}
}

/* Only once no event can reach r: never subscribed, or unsubscribed. */
static void relay_free(struct relay *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->ev[i].buf);
	free(r->ev);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static void server_free(struct xlb_api_server *s)
{
	relay_free(s->relay);
	pthread_mutex_destroy(&s->wlock);
	pthread_cond_destroy(&s->wcond);
	pthread_mutex_destroy(&s->role_lock);
	if (s->stop_efd >= 0)
		close(s->stop_efd);
	free(s->fd_role);
	free(s);
}

struct grpc_setup {
	struct xlb_api_server *s;
	const struct xlb_api_opts *opts;
	const char *const *listen;
	size_t n_listen;
	char *err;
	size_t errlen;
	int ret;
};

/* The server with what one client may hold and the message size; NULL
 * when gRPC cannot make it. */
static grpc_server *server_create(unsigned int idle_s)
{
	grpc_arg args[7];
	grpc_channel_args cargs = { .num_args = 7, .args = args };

	args[0] = (grpc_arg){ .type = GRPC_ARG_INTEGER,
			      .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
			      .value.integer = (int)XLB_API_MAX_MESSAGE };
	/* On by default: two daemons could share a TCP port unnoticed. */
	args[1] = (grpc_arg){ .type = GRPC_ARG_INTEGER,
			      .key = GRPC_ARG_ALLOW_REUSEPORT,
			      .value.integer = 0 };
	/* What one client may hold: streams per connection, a connection
	 * idle this long is closed, a TLS handshake this slow is dropped,
	 * and peers that vanished are found by pings. */
	args[2] = (grpc_arg){ .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_CONCURRENT_STREAMS,
			      .value.integer = MAX_STREAMS_PER_CONN };
	args[3] = (grpc_arg){ .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_CONNECTION_IDLE_MS,
			      .value.integer = (int)(idle_s * 1000) };
	args[4] = (grpc_arg){ .type = GRPC_ARG_INTEGER,
			      .key = GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
			      .value.integer = HANDSHAKE_MS };
	args[5] = (grpc_arg){ .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_KEEPALIVE_TIME_MS,
			      .value.integer = KEEPALIVE_MS };
	args[6] = (grpc_arg){ .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
			      .value.integer = KEEPALIVE_TIMEOUT_MS };
	return grpc_server_create(&cargs, NULL);
}

/* Every listen address, refused before anything is bound when it cannot
 * be served; then each bound (*n_tcp counts the TCP ones). */
static int listeners_add(const struct grpc_setup *g, size_t *n_tcp)
{
	const struct xlb_api_opts *opts = g->opts;
	int ret;

	for (size_t i = 0; i < g->n_listen; i++) {
		const char *a = g->listen[i];

		if (!a || !*a)
			return xlb_errf(g->err, g->errlen, -EINVAL, "listen: empty address");
		if (strncmp(a, "unix:", 5) && (!opts->tls_cert_file || !opts->tls_key_file))
			return xlb_errf(g->err, g->errlen, -EINVAL,
					"listen %s: a TCP listener needs TLS (a certificate and a key)",
					a);
	}
	for (size_t i = 0; i < g->n_listen; i++) {
		const char *a = g->listen[i];

		if (!strncmp(a, "unix:", 5)) {
			ret = add_unix(g->s, a, g->err, g->errlen);
		} else {
			ret = add_tcp(g->s, opts, a, g->err, g->errlen);
			*n_tcp += !ret;
		}
		if (ret)
			return ret;
	}
	return 0;
}

/* gRPC's part of start(), on a thread of its own that ran thread_init
 * first: gRPC's threads and the completion queue's are made from it and
 * start with what it kept. */
static void *grpc_setup_main(void *arg)
{
	struct grpc_setup *g = arg;
	struct xlb_api_server *s = g->s;
	size_t n_ports = 0;
	int ret = s->thread_init ? s->thread_init(s->thread_arg, false) : 0;

	if (ret) {
		g->ret = xlb_errf(g->err, g->errlen, ret, "api: thread set-up: %s", strerror(-ret));
		return NULL;
	}
	if (!getenv("GRPC_VERBOSITY"))
		gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);
	gpr_set_log_function(grpc_log_fn);
	grpc_init();

	s->server = server_create(s->idle_s);
	s->cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(s->server, s->cq, NULL);
	s->wake_chan = grpc_lame_client_channel_create("xlb-wake", GRPC_STATUS_UNAVAILABLE,
						       "wake-up channel");
	if (!s->server || !s->cq || !s->wake_chan) {
		ret = xlb_errf(g->err, g->errlen, -ENOMEM, "api: gRPC setup failed");
		goto fail;
	}
	ret = register_methods(s, g->err, g->errlen);
	if (ret)
		goto fail;
	ret = listeners_add(g, &n_ports);
	if (ret)
		goto fail;
	grpc_server_start(s->server);
	for (size_t k = 0; k < xlb_api_n_methods; k++)
		for (int i = 0; i < REQUESTS_PER_METHOD; i++)
			post_request(s, (int)k);
	for (int i = 0; i < GENERIC_REQUESTS; i++)
		post_request(s, -1);
	ret = acceptor_start(s, g->err, g->errlen);
	if (ret) {
		n_ports = 1;	/* started: shut it down */
		goto fail;
	}

	s->sub_id = xlb_core_subscribe(s->core, on_core_event, s->relay);
	if (s->sub_id < 0)
		pr_warn("api: event subscription failed (%s): Watch gets no events",
			strerror(-s->sub_id));
	ret = pthread_create(&s->thread, NULL, cq_main, s);
	if (ret) {
		ret = xlb_errf(g->err, g->errlen, -ret, "api: thread: %s", strerror(ret));
		/* the server ran: stop it the normal way, on this thread */
		if (s->sub_id >= 0)
			xlb_core_unsubscribe(s->core, s->sub_id);
		s->relay->stop = true;
		begin_stop(s);
		cq_main(s);
		grpc_completion_queue_destroy(s->cq);
		goto out_shutdown;
	}
	pthread_setname_np(s->thread, "xlbd-api");
	s->thread_started = true;
	g->ret = 0;
	return NULL;
fail:
	acceptor_stop(s);
	destroy_unstarted(s, n_ports > 0);
out_shutdown:
	grpc_shutdown();
	g->ret = ret;
	return NULL;
}

int xlb_api_server_start(struct xlb_core *core, const struct xlb_api_opts *opts,
			 struct xlb_api_server **out, char *err, size_t errlen)
{
	static const char *const default_listen[] = { XLB_API_DEFAULT_LISTEN };
	const struct xlb_api_opts none = { 0 };
	struct grpc_setup g = { .err = err, .errlen = errlen };
	struct xlb_api_server *s;
	sigset_t all, old;
	pthread_t t;
	int ret;

	*out = NULL;
	if (!opts)
		opts = &none;
	g.opts = opts;
	g.listen = opts->n_listen ? opts->listen : default_listen;
	g.n_listen = opts->n_listen ? opts->n_listen : 1;

	s = calloc(1, sizeof(*s));
	if (!s)
		return xlb_errf(err, errlen, -ENOMEM, "api: out of memory");
	s->relay = calloc(1, sizeof(*s->relay));
	if (!s->relay) {
		free(s);
		return xlb_errf(err, errlen, -ENOMEM, "api: out of memory");
	}
	pthread_mutex_init(&s->relay->lock, NULL);
	s->relay->srv = s;
	s->relay->done_tail = &s->relay->done;
	pthread_mutex_init(&s->wlock, NULL);
	pthread_cond_init(&s->wcond, NULL);
	s->todo_tail = &s->todo;
	s->thread_init = opts->thread_init;
	s->thread_arg = opts->thread_arg;
	s->rules = opts->rules ? opts->rules : &s->rules_none;
	s->self_uid = (uint32_t)geteuid();
	pthread_mutex_init(&s->role_lock, NULL);
	s->stop_efd = eventfd(0, EFD_CLOEXEC);
	if (s->stop_efd < 0) {
		ret = xlb_errf(err, errlen, -errno, "api: eventfd: %s", strerror(errno));
		goto fail;
	}
	s->core = core;
	s->ctx.core = core;
	s->ctx.version = opts->version;
	s->grace_ms = opts->grace_ms ? opts->grace_ms : DEFAULT_GRACE_MS;
	s->watch_queue = opts->watch_queue ? opts->watch_queue : DEFAULT_WATCH_QUEUE;
	s->max_watchers = opts->max_watchers ? opts->max_watchers : DEFAULT_MAX_WATCHERS;
	s->idle_s = opts->idle_s ? opts->idle_s : DEFAULT_IDLE_S;
	s->streams.next = s->streams.prev = &s->streams;
	s->t_wake = (struct tag){ T_WAKE, NULL };
	s->t_shutdown = (struct tag){ T_SHUTDOWN, NULL };
	s->sub_id = -1;
	g.s = s;

	/* gRPC's threads (and ours) inherit this mask: signals stay with the
	 * daemon's own handling. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = writers_start(s, opts->writers ? opts->writers : DEFAULT_WRITERS);
	if (ret) {
		ret = xlb_errf(err, errlen, ret, "api: writer threads: %s", strerror(-ret));
		goto fail;
	}
	ret = pthread_create(&t, NULL, grpc_setup_main, &g);
	if (ret) {
		ret = xlb_errf(err, errlen, -ret, "api: thread: %s", strerror(ret));
		goto fail;
	}
	pthread_join(t, NULL);
	ret = g.ret;
	if (ret)
		goto fail;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	*out = s;
	return 0;
fail:
	writers_stop(s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	server_free(s);
	return ret;
}

void xlb_api_server_stop(struct xlb_api_server *s)
{
	if (!s)
		return;
	acceptor_stop(s);	/* no new connection from here on */
	if (s->sub_id >= 0)
		xlb_core_unsubscribe(s->core, s->sub_id);
	pthread_mutex_lock(&s->relay->lock);
	s->relay->stop = true;
	wake_locked(s->relay);
	pthread_mutex_unlock(&s->relay->lock);
	pthread_join(s->thread, NULL);
	grpc_completion_queue_destroy(s->cq);
	grpc_shutdown();
	writers_stop(s);
	server_free(s);
}
