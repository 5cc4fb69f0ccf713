// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A daemon for API tests when xlbd cannot run (or is not wanted): the real
 * core and the real BPF dataplane, unpinned (maps die with the process)
 * and attached to no interface, behind the real gRPC server.
 *
 *   harness --listen unix:PATH [--listen ...] [--state-dir DIR]
 *           [--tls-cert F --tls-key F [--tls-client-ca F]] [--watch-queue N] [-v]
 *
 * Runs until SIGTERM/SIGINT, then stops the server gracefully; exit 0.
 * Needs root (BPF maps), like xlbd.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "api/server.h"
#include "core/core_priv.h"
#include "dataplane/dataplane.h"

int main(int argc, char **argv)
{
	const char *listen[8], *state_dir = NULL;
	struct xlb_api_opts ao = { .version = "harness" };
	struct xlb_dp_opts dpo = { .pin_dir = "", .ct_entries = 4096, .max_services = 16384,
				   .max_backends = 65536, .sel_slots = 1 << 20 };
	struct xlb_core_opts co = { .dp_name = "xdp", .dp_reason = "test harness" };
	struct xlb_api_server *srv = NULL;
	struct xlb_core *core = NULL;
	struct xlb_dp *dp = NULL;
	char err[512] = "";
	size_t n_listen = 0;
	sigset_t set;
	int sig, ret = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-v")) {
			xlb_log_set_level(XLB_LOG_DEBUG);
			continue;
		}
		if (!v) {
			fprintf(stderr, "harness: %s needs a value\n", a);
			return 2;
		}
		i++;
		if (!strcmp(a, "--listen") && n_listen < 8)
			listen[n_listen++] = v;
		else if (!strcmp(a, "--state-dir"))
			state_dir = v;
		else if (!strcmp(a, "--tls-cert"))
			ao.tls_cert_file = v;
		else if (!strcmp(a, "--tls-key"))
			ao.tls_key_file = v;
		else if (!strcmp(a, "--tls-client-ca"))
			ao.tls_client_ca_file = v;
		else if (!strcmp(a, "--watch-queue"))
			ao.watch_queue = (unsigned int)strtoul(v, NULL, 0);
		else {
			fprintf(stderr, "harness: unknown option %s\n", a);
			return 2;
		}
	}
	ao.listen = listen;
	ao.n_listen = n_listen;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (xlb_dp_bpf_open(&dpo, &dp, err, sizeof(err))) {
		fprintf(stderr, "harness: dataplane: %s\n", err);
		goto out;
	}
	co.dp = dp;
	co.state_dir = state_dir;
	if (xlb_core_new(&co, &core, err, sizeof(err))) {
		fprintf(stderr, "harness: core: %s\n", err);
		goto out;
	}
	if (xlb_core_persist_start(core))
		fprintf(stderr, "harness: persist thread failed: compactions under the lock\n");
	if (xlb_api_server_start(core, &ao, &srv, err, sizeof(err))) {
		fprintf(stderr, "harness: %s\n", err);
		goto out;
	}
	fprintf(stderr, "harness: ready\n");
	sigwait(&set, &sig);
	fprintf(stderr, "harness: signal %d, stopping\n", sig);
	ret = 0;
out:
	xlb_api_server_stop(srv);
	xlb_core_free(core);
	xlb_dp_close(dp);
	return ret;
}
