// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Exec checker: run argv, without a shell, healthy on exit status 0.
 *
 * The command runs in the sandbox (sandbox.h): its own user, pid, mount,
 * network, IPC, UTS and cgroup namespaces, an unprivileged uid without
 * capabilities, no_new_privs, seccomp, read-only root, private /tmp, a
 * cgroup with memory, pids and CPU limits. Without a sandbox (xlbd without
 * --allow-exec-probes) exec probes are off.
 *
 * The child gets a minimal environment (PATH plus XLB_ENDPOINT_ADDR,
 * XLB_ENDPOINT_PORT, XLB_SERVICE), stdin from /dev/null, stdout and stderr
 * into one pipe of which the first EXEC_KEEP bytes are kept for the result,
 * default signal dispositions, an empty signal mask and no fd of ours. Its
 * exit is watched through a pidfd, so no SIGCHLD handler is involved.
 *
 * The command is pid 1 of its pid namespace: when it exits or is killed
 * (at the timeout), the kernel kills whatever it left behind, setsid() or
 * not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "health/health_priv.h"
#include "health/sandbox.h"

#define EXEC_KEEP 256
#define DRAIN_MAX (64 * 1024)
#define EXEC_PATH "/usr/sbin:/usr/bin:/sbin:/bin"

/* argv[0] as execvp() would find it, but in EXEC_PATH, not our PATH. */
static int resolve(const char *name, char *out, size_t len)
{
	const char *dir = EXEC_PATH, *end;

	if (strchr(name, '/')) {
		snprintf(out, len, "%s", name);
		return 0;
	}
	for (; *dir; dir = *end ? end + 1 : end) {
		end = strchrnul(dir, ':');
		snprintf(out, len, "%.*s/%s", (int)(end - dir), dir, name);
		if (!access(out, X_OK))
			return 0;
	}
	return -ENOENT;
}

static int spawn(struct xlb_health *h, struct hc_target *t, const char *path, int out_fd)
{
	const struct xlb_health_spec *spec = hc_spec(t);
	char e_addr[XLB_IP_STRLEN + 32], e_port[32], e_svc[160], ep[XLB_IP_STRLEN + 8];
	char *argv[XLB_HC_MAX_ARGS + 1];
	char *envp[] = { "PATH=" EXEC_PATH, e_addr, e_port, e_svc, NULL };
	struct xlb_ip ip = { .family = t->key.family };

	for (uint32_t i = 0; i < spec->argc; i++)
		argv[i] = (char *)spec->argv[i];
	argv[spec->argc] = NULL;
	memcpy(ip.addr.a8, t->key.addr, sizeof(ip.addr.a8));
	snprintf(e_addr, sizeof(e_addr), "XLB_ENDPOINT_ADDR=%s", xlb_ip_str(&ip, ep, sizeof(ep)));
	snprintf(e_port, sizeof(e_port), "XLB_ENDPOINT_PORT=%u", t->key.port);
	snprintf(e_svc, sizeof(e_svc), "XLB_SERVICE=%s", t->key.service);
	return xlb_sandbox_spawn(hc_sandbox(h), path, argv, envp, out_fd, &t->pr.pid, &t->pr.pidfd);
}

static void exec_start(struct xlb_health *h, struct hc_target *t)
{
	const char *name = hc_spec(t)->argv[0];
	char path[512];
	int p[2], err;

	t->pr.phase = "exec";
	if (!hc_sandbox(h)) {
		hc_probe_skip(h, t, -EPERM, "exec probes are off (xlbd --allow-exec-probes)");
		return;
	}
	if (resolve(name, path, sizeof(path))) {
		hc_probe_done(h, t, false, "exec %s: not found in " EXEC_PATH, name);
		return;
	}
	t->pr.buf = malloc(EXEC_KEEP);
	if (!t->pr.buf) {
		hc_probe_skip(h, t, -ENOMEM, "buffer");
		return;
	}
	t->pr.cap = EXEC_KEEP;
	t->pr.len = 0;
	if (pipe2(p, O_CLOEXEC)) {
		hc_probe_skip(h, t, -errno, "pipe");
		return;
	}
	/* A daemon started with 0, 1 or 2 closed gets pipe ends there, which
	 * the child's own stdin/stdout/stderr would clobber. */
	for (int i = 0; i < 2; i++) {
		if (p[i] < 3) {
			int fd = fcntl(p[i], F_DUPFD_CLOEXEC, 3);

			close(p[i]);
			p[i] = fd;
		}
	}
	if (p[0] < 0 || p[1] < 0) {
		err = -errno;
		if (p[0] >= 0)
			close(p[0]);
		if (p[1] >= 0)
			close(p[1]);
		hc_probe_skip(h, t, err, "pipe");
		return;
	}
	/* Only our end is non-blocking: the child writes as usual. */
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	t->pr.fd = p[0];
	err = spawn(h, t, path, p[1]);
	close(p[1]);
	if (err) {
		/* Nothing of the endpoint's: the node could not start it. */
		hc_probe_skip(h, t, err, "start in the sandbox");
		return;
	}
	err = hc_fd_add(h, t, t->pr.pidfd, HC_EV_PIDFD, EPOLLIN);
	if (!err)
		err = hc_fd_add(h, t, t->pr.fd, HC_EV_PIPE, EPOLLIN);
	if (err)
		hc_probe_skip(h, t, err, "epoll");
}

/* Keep the first EXEC_KEEP bytes, discard the rest, until EAGAIN, EOF or
 * DRAIN_MAX bytes (a child that writes without end cannot hold the loop;
 * the pipe stays readable and the next event goes on). */
static void drain(struct xlb_health *h, struct hc_target *t)
{
	char sink[4096];
	size_t total = 0;
	ssize_t n;

	while (t->pr.fd >= 0 && total < DRAIN_MAX) {
		if (t->pr.len < t->pr.cap)
			n = read(t->pr.fd, t->pr.buf + t->pr.len, t->pr.cap - t->pr.len);
		else
			n = read(t->pr.fd, sink, sizeof(sink));
		if (n > 0) {
			if (t->pr.len < t->pr.cap)
				t->pr.len += (size_t)n;
			total += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		hc_fd_close(h, &t->pr.fd);	/* EOF: every writer is gone */
	}
}

/* The output on one line: control characters become spaces, trailing
 * space goes. */
static const char *output_str(struct hc_target *t, char *buf, size_t len)
{
	size_t n = t->pr.len < len - 1 ? t->pr.len : len - 1;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t->pr.buf[i];

		buf[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	while (n && buf[n - 1] == ' ')
		n--;
	buf[n] = 0;
	return buf;
}

static void exec_exited(struct xlb_health *h, struct hc_target *t)
{
	char out[EXEC_KEEP + 1];
	int status;
	pid_t r;

	drain(h, t);
	do
		r = waitpid(t->pr.pid, &status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return;	/* not yet: the pidfd stays readable */
	hc_reaped(h, t->pr.pid);
	t->pr.pid = 0;
	output_str(t, out, sizeof(out));
	if (r < 0)
		hc_probe_done(h, t, false, "exec: exit status lost (%s; SIGCHLD ignored?)",
			      strerror(errno));
	else if (WIFEXITED(status))
		hc_probe_done(h, t, WEXITSTATUS(status) == 0, "exit %d%s%s", WEXITSTATUS(status),
			      out[0] ? ": " : "", out);
	else
		hc_probe_done(h, t, false, "killed by signal %d (%s)%s%s", WTERMSIG(status),
			      strsignal(WTERMSIG(status)), out[0] ? ": " : "", out);
}

static void exec_event(struct xlb_health *h, struct hc_target *t, enum hc_ev ev, uint32_t events)
{
	if (ev == HC_EV_PIPE)
		drain(h, t);
	else if (ev == HC_EV_PIDFD)
		exec_exited(h, t);
}

static void exec_cancel(struct xlb_health *h, struct hc_target *t)
{
	hc_fd_close(h, &t->pr.fd);
	if (t->pr.pid) {
		/* Not reaped yet, so the pid is still its: pid 1 of its
		 * namespace, whose death takes the rest with it. */
		kill(t->pr.pid, SIGKILL);
		hc_reap_later(h, t->pr.pid, t->pr.pidfd);
		t->pr.pidfd = -1;
		t->pr.pid = 0;
	}
	hc_fd_close(h, &t->pr.pidfd);
	free(t->pr.buf);
	t->pr.buf = NULL;
	t->pr.len = t->pr.cap = 0;
}

const struct hc_ops xlb_hc_exec_ops = {
	.name = "exec",
	.timeout_note = ", killed with all it started",
	.start = exec_start,
	.event = exec_event,
	.cancel = exec_cancel,
};
