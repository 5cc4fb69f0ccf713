// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The C client (user/api/client.c, what xlbctl uses) against a running
 * daemon: unary calls and their error codes, the Sync stream, Watch.
 *
 *   client_check unix:PATH
 *
 * Leaves the daemon with no services. Last line: "N passed, N failed".
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/status.h>

#include "api/client.h"

static int passed, failed;

#define CHECK(cond, ...)                                        \
	do {                                                    \
		if (cond) {                                     \
			passed++;                               \
		} else {                                        \
			failed++;                               \
			printf("FAIL %s:%d: ", __FILE__, __LINE__); \
			printf(__VA_ARGS__);                    \
			printf("\n");                           \
		}                                               \
	} while (0)

static const char *target;

/* The Sync error may lead with the status code's name. */
static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && !strcmp(s + n - t, tail);
}

static void fill_service(Xlb__V1__Service *s, Xlb__V1__Endpoint *ep, Xlb__V1__Endpoint **eps,
			 const char *name, const char *vip)
{
	xlb__v1__service__init(s);
	s->name = (char *)name;
	s->cluster_ip = (char *)vip;
	s->port = 80;
	s->protocol = XLB__V1__PROTOCOL__TCP;
	xlb__v1__endpoint__init(ep);
	ep->address = "10.1.0.1";
	ep->port = 8080;
	ep->ready = true;
	eps[0] = ep;
	s->n_endpoints = 1;
	s->endpoints = eps;
}

static int upsert(struct xlb_api_client *c, const char *name, const char *vip, uint32_t port,
		  char *err, size_t errlen)
{
	Xlb__V1__UpsertServiceRequest req = XLB__V1__UPSERT_SERVICE_REQUEST__INIT;
	Xlb__V1__Endpoint ep, *eps[1];
	Xlb__V1__Service svc;
	ProtobufCMessage *resp;
	int code;

	fill_service(&svc, &ep, eps, name, vip);
	svc.port = port;
	req.service = &svc;
	code = xlb_api_call(c, "UpsertService", &req.base,
			    &xlb__v1__upsert_service_response__descriptor, &resp, err, errlen);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return code;
}

static void test_unreachable(void)
{
	Xlb__V1__GetStatusRequest req = XLB__V1__GET_STATUS_REQUEST__INIT;
	struct xlb_api_client *c;
	ProtobufCMessage *resp;
	char err[512];
	int code;

	CHECK(xlb_api_client_open("unix:/nonexistent/xlbd.sock", NULL, &c, err, sizeof(err)) == 0,
	      "open: %s", err);
	code = xlb_api_call(c, "GetStatus", &req.base, &xlb__v1__get_status_response__descriptor,
			    &resp, err, sizeof(err));
	CHECK(code == GRPC_STATUS_UNAVAILABLE && !resp, "unreachable: %s (%s)",
	      xlb_api_code_name(code), err);
	xlb_api_client_close(c);
	CHECK(xlb_api_client_open("127.0.0.1:1", NULL, &c, err, sizeof(err)) < 0 &&
		      strstr(err, "TLS"),
	      "plain TCP refused: %s", err);
}

static void test_unary(struct xlb_api_client *c)
{
	Xlb__V1__GetStatusRequest sreq = XLB__V1__GET_STATUS_REQUEST__INIT;
	Xlb__V1__DeleteServiceRequest dreq = XLB__V1__DELETE_SERVICE_REQUEST__INIT;
	Xlb__V1__ListServicesRequest lreq = XLB__V1__LIST_SERVICES_REQUEST__INIT;
	Xlb__V1__GetStatusResponse *st;
	Xlb__V1__ListServicesResponse *ls;
	ProtobufCMessage *resp;
	char err[512];
	int code;

	code = xlb_api_call(c, "GetStatus", &sreq.base, &xlb__v1__get_status_response__descriptor,
			    &resp, err, sizeof(err));
	st = (Xlb__V1__GetStatusResponse *)resp;
	CHECK(code == 0 && st && st->dataplane[0], "GetStatus: %s %s", xlb_api_code_name(code), err);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);

	code = upsert(c, "cc/one", "10.97.0.1", 80, err, sizeof(err));
	CHECK(code == 0, "upsert: %s %s", xlb_api_code_name(code), err);
	code = upsert(c, "cc/one", "10.97.0.1", 70000, err, sizeof(err));
	CHECK(code == GRPC_STATUS_INVALID_ARGUMENT &&
		      !strcmp(err, "service.port out of range: 70000"),
	      "bad port: %s \"%s\"", xlb_api_code_name(code), err);

	lreq.name = "cc/one";
	code = xlb_api_call(c, "/xlb.v1.Xlb/ListServices", &lreq.base,
			    &xlb__v1__list_services_response__descriptor, &resp, err, sizeof(err));
	ls = (Xlb__V1__ListServicesResponse *)resp;
	CHECK(code == 0 && ls && ls->n_services == 1 && ls->services[0]->service->port == 80,
	      "list after bad upsert: %s %s", xlb_api_code_name(code), err);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);

	dreq.name = "cc/absent";
	code = xlb_api_call(c, "DeleteService", &dreq.base,
			    &xlb__v1__delete_service_response__descriptor, &resp, err, sizeof(err));
	CHECK(code == GRPC_STATUS_NOT_FOUND && strstr(err, "cc/absent"), "delete unknown: %s \"%s\"",
	      xlb_api_code_name(code), err);

	code = xlb_api_call(c, "Nope", &dreq.base, &xlb__v1__delete_service_response__descriptor,
			    &resp, err, sizeof(err));
	CHECK(code == GRPC_STATUS_UNIMPLEMENTED && strstr(err, "/xlb.v1.Xlb/Nope"),
	      "unknown method: %s \"%s\"", xlb_api_code_name(code), err);
}

static void test_sync(struct xlb_api_client *c)
{
	Xlb__V1__SyncRequest req = XLB__V1__SYNC_REQUEST__INIT;
	Xlb__V1__SyncResponse *resp;
	Xlb__V1__Endpoint ep[2], *eps[2][1];
	Xlb__V1__Service svc[2], *ups[2];
	struct xlb_api_sync *s;
	char *dels[1] = { "cc/b" };
	char err[512];
	int code;

	fill_service(&svc[0], &ep[0], eps[0], "cc/a", "10.97.1.1");
	fill_service(&svc[1], &ep[1], eps[1], "cc/b", "10.97.1.2");
	ups[0] = &svc[0];
	ups[1] = &svc[1];

	code = xlb_api_sync_open(c, &s, err, sizeof(err));
	CHECK(code == 0, "sync open: %s %s", xlb_api_code_name(code), err);
	if (code)
		return;
	req.version = 10;
	req.snapshot = true;
	req.n_upserts = 2;
	req.upserts = ups;
	code = xlb_api_sync_send(s, &req, &resp, err, sizeof(err));
	CHECK(code == 0 && resp && resp->ok && resp->version == 10 && resp->applied_services == 2,
	      "snapshot: %s %s", xlb_api_code_name(code), err);
	if (resp)
		xlb__v1__sync_response__free_unpacked(resp, NULL);

	req.version = 11;
	req.snapshot = false;
	req.n_upserts = 1;
	ep[0].port = 0;
	code = xlb_api_sync_send(s, &req, &resp, err, sizeof(err));
	CHECK(code == 0 && resp && !resp->ok && resp->version == 11 &&
		      ends_with(resp->error, "upserts[0].endpoints[0].port out of range: 0"),
	      "bad delta: %s \"%s\"", xlb_api_code_name(code), resp ? resp->error : err);
	if (resp)
		xlb__v1__sync_response__free_unpacked(resp, NULL);

	ep[0].port = 8080;
	req.version = 12;
	req.n_upserts = 0;
	req.n_deletes = 1;
	req.deletes = dels;
	code = xlb_api_sync_send(s, &req, &resp, err, sizeof(err));
	CHECK(code == 0 && resp && resp->ok && resp->version == 12, "delete delta: %s %s",
	      xlb_api_code_name(code), err);
	if (resp)
		xlb__v1__sync_response__free_unpacked(resp, NULL);
	xlb_api_sync_close(s);

	/* one-shot: an empty snapshot clears everything */
	memset(&req, 0, sizeof(req));
	xlb__v1__sync_request__init(&req);
	req.version = 1;
	req.snapshot = true;
	code = xlb_api_sync_once(c, &req, &resp, err, sizeof(err));
	CHECK(code == 0 && resp && resp->ok && resp->version == 1, "sync once: %s %s",
	      xlb_api_code_name(code), err);
	if (resp)
		xlb__v1__sync_response__free_unpacked(resp, NULL);
}

struct watch_ctx {
	int events;
	char first[128];
	int code;
	char err[256];
	volatile int done;
};

static int on_event(const Xlb__V1__Event *ev, void *arg)
{
	struct watch_ctx *w = arg;

	if (!w->events++)
		snprintf(w->first, sizeof(w->first), "%s", ev->service);
	return 1;	/* one is enough */
}

static void *watch_thread(void *arg)
{
	struct watch_ctx *w = arg;
	struct xlb_api_client *c;

	if (xlb_api_client_open(target, NULL, &c, w->err, sizeof(w->err)) == 0) {
		w->code = xlb_api_watch(c, on_event, w, w->err, sizeof(w->err));
		xlb_api_client_close(c);
	}
	w->done = 1;
	return NULL;
}

static void test_watch(struct xlb_api_client *c)
{
	struct watch_ctx w = { .code = -1 };
	char err[256];
	pthread_t t;

	pthread_create(&t, NULL, watch_thread, &w);
	/* Upsert until the watcher (registered at some point) sees one. */
	for (int i = 0; i < 50 && !w.done; i++) {
		char vip[32];

		snprintf(vip, sizeof(vip), "10.97.2.%d", i + 1);
		upsert(c, "cc/watched", vip, 80, err, sizeof(err));
		usleep(100 * 1000);
	}
	pthread_join(t, NULL);
	CHECK(w.code == 0 && w.events == 1 && !strcmp(w.first, "cc/watched"),
	      "watch: code %d, %d events, first \"%s\", %s", w.code, w.events, w.first, w.err);
}

static void cleanup(struct xlb_api_client *c)
{
	Xlb__V1__RestoreRequest req = XLB__V1__RESTORE_REQUEST__INIT;
	ProtobufCMessage *resp;
	char err[256];
	int code;

	code = xlb_api_call(c, "Restore", &req.base, &xlb__v1__restore_response__descriptor, &resp,
			    err, sizeof(err));
	CHECK(code == 0, "restore empty: %s %s", xlb_api_code_name(code), err);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
}

int main(int argc, char **argv)
{
	struct xlb_api_client *c;
	char err[512];

	target = argc > 1 ? argv[1] : XLB_API_DEFAULT_TARGET;
	test_unreachable();
	if (xlb_api_client_open(target, NULL, &c, err, sizeof(err))) {
		printf("open %s: %s\n", target, err);
		return 1;
	}
	xlb_api_client_set_timeout(c, 5000);
	test_unary(c);
	test_sync(c);
	test_watch(c);
	cleanup(c);
	xlb_api_client_close(c);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
