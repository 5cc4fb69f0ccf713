/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xlbd's gRPC server (service xlb.v1.Xlb) on the gRPC core C API.
 *
 * One thread of its own runs the completion queue and the handlers that
 * read; handlers that write (they wait for the datapath and the disk) run
 * on a pool of writer threads, so that reads never wait behind an fsync
 * and concurrent writers share one (the journal's group commit). The
 * handlers call only core.h. Requests are unpacked, checked (UTF-8 of every
 * string, enums, ranges, sizes: see convert.h) and applied whole or not at
 * all. Status codes: INVALID_ARGUMENT (bad field, message names it; also
 * "malformed request"), NOT_FOUND (unknown service), ALREADY_EXISTS
 * (address:port or node port used by another service), INTERNAL (the
 * datapath failed), UNIMPLEMENTED (unknown method), UNAVAILABLE (shutting
 * down), RESOURCE_EXHAUSTED (a Watch that does not keep up, or one over
 * max_watchers).
 *
 * Listeners: "unix:/path" sockets end up mode 0600 in a directory created
 * 0700 when missing (so only root talks to xlbd; 0666 when a rule names
 * another uid); a TCP listener ("host:port") needs TLS (cert + key), and
 * with a client CA every client must present a certificate signed by it.
 * TCP without TLS is refused. Every call is checked against its client's
 * role (authz.h): PERMISSION_DENIED names the call, the client and the
 * role it lacks.
 *
 * Signals: start() blocks every signal in the threads it and gRPC create,
 * so the caller's signal handling (sigwait, signalfd) is not disturbed.
 */
#ifndef XLB_API_SERVER_H
#define XLB_API_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "api/authz.h"

#define XLB_API_DEFAULT_LISTEN	"unix:/run/xlb/xlbd.sock"
#define XLB_API_MAX_MESSAGE	(64u << 20)	/* a 10,000-service snapshot is ~7 MiB */

struct xlb_api_opts {
	/* "unix:/path" or "host:port"; none: XLB_API_DEFAULT_LISTEN. */
	const char *const *listen;
	size_t n_listen;
	/* PEM files; cert and key are required by any TCP listener. */
	const char *tls_cert_file;
	const char *tls_key_file;
	const char *tls_client_ca_file;	/* optional: require client certificates */
	unsigned int grace_ms;		/* stop(): wait this long for calls, then cancel; 0 = 2000 */
	unsigned int watch_queue;	/* a Watch with more events unread when new ones come,
					 * that took none for 1 s (or has 4 x as many unread), is
					 * ended (RESOURCE_EXHAUSTED); 0 = 10000 */
	unsigned int max_watchers;	/* Watch streams open at once; more are refused
					 * (RESOURCE_EXHAUSTED); 0 = 256 */
	unsigned int idle_s;		/* a connection without calls this long is
					 * closed (GOAWAY); 0 = 120 */
	const char *version;		/* GetStatus.xlbd_version; NULL = "unknown" */
	unsigned int writers;		/* writer threads; 0 = 32 */
	/* Called first on every thread the server makes: writer true on a
	 * writer, false on the one that sets gRPC up (gRPC's threads and the
	 * completion queue's are made from it). Non-zero: start() fails.
	 * xlbd limits each thread's capabilities here. NULL: nothing. */
	int (*thread_init)(void *arg, bool writer);
	void *thread_arg;
	/* Who may read and write (authz.h); NULL: no rule. Kept by the
	 * caller while the server runs. */
	const struct xlb_api_rules *rules;
};

struct xlb_api_server;

/* Binds every listener and starts serving. 0, or a negative errno with err
 * naming the listener ("listen unix:/run/xlb/xlbd.sock: another xlbd is
 * serving it"). */
int xlb_api_server_start(struct xlb_core *core, const struct xlb_api_opts *opts,
			 struct xlb_api_server **out, char *err, size_t errlen);
/* Graceful: no new calls, open Watch and Sync streams end with UNAVAILABLE
 * "server shutting down", calls still running after grace_ms are cancelled;
 * returns once everything is released (sockets removed). NULL is fine. */
void xlb_api_server_stop(struct xlb_api_server *s);

#endif /* XLB_API_SERVER_H */
