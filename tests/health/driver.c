// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The health engine against real servers on loopback, in one event loop as
 * xlbd would run it: the engine's fd and the servers' fds in one epoll.
 * Every target is a case; each is judged by its transitions (what the
 * daemon would see) and by xlb_health_get(). Loopback only.
 *
 * No check depends on how fast this machine is: the suite runs the loop
 * until the outcome it waits for (a transition, a number of probes), and
 * judges by what the engine did: how many probes a transition took, their
 * order, verdicts. Time bounds are the schedule's: lower bounds exactly
 * (the engine never starts a probe before it is due), upper bounds plus
 * LATE_MS for a loaded machine. The rule behind the schedule itself (a
 * probe that overran its period is followed at once by the next) is a
 * unit test of xlb_hc_next() (tests/unit/test_health_state.c).
 *
 * Prints "ok - ..." / "not ok - ..." and "N passed, N failed"; exits 1 if
 * anything failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <net/if.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "health/health.h"
#include "health/sandbox.h"

/* ---- reporting */

static int passed, failed;

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	/* TAP, as tests/lib/tap.sh prints it */
	printf("%s %d - ", ok ? "ok" : "not ok", passed + failed + 1);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (ok)
		passed++;
	else
		failed++;
}

/* What a loaded machine may add to a deadline of the schedule before a
 * check calls it the engine's fault. The faults looked for are larger: a
 * timeout not armed is never, a forgotten probe waits a period or more. */
#define LATE_MS	1000
/* How long to wait for an outcome before calling it missing. */
#define WAIT_MS	20000

static int64_t t0_ms;

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ms(void)
{
	return mono_ms() - t0_ms;
}

/* ---- servers */

enum srv_kind {
	SRV_TCP,	/* accept, close */
	SRV_HTTP,	/* read the request, send resp, close */
	SRV_SILENT,	/* accept, never answer */
};

struct srv {
	const char *name;
	enum srv_kind kind;
	const char *ip;		/* default 127.0.0.1 */
	const char *resp;	/* SRV_HTTP */
	size_t resp_len;
	int lfd;
	uint16_t port;
	/* SRV_SILENT: connections held open, and the most ever alive at once */
	int held[64];
	int nheld, max_alive;
	/* SRV_HTTP: distinct requests seen */
	char *reqs[16];
	int nreqs;
};

struct conn {
	struct srv *s;
	int fd;
	char in[2048];
	size_t inlen;
	const char *out;
	size_t outlen, outoff;
};

/* epoll data: a tag in the low bit tells a listener from a connection. */
static int epfd;

static void ep_add(int fd, void *p, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = p };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e)) {
		perror("epoll_ctl");
		exit(2);
	}
}

static int listen_on(const char *ip, uint16_t port, uint16_t *bound)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	int one = 1, fd;

	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (void *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		inet_pton(AF_INET6, ip, &s6->sin6_addr);
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (void *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		inet_pton(AF_INET, ip, &s4->sin_addr);
		sl = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (void *)&ss, sl) || listen(fd, 4096)) {
		int err = -errno;

		close(fd);
		return err;
	}
	if (bound) {
		getsockname(fd, (void *)&ss, &sl);
		*bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							: ((struct sockaddr_in *)&ss)->sin_port);
	}
	return fd;
}

static void srv_start(struct srv *s)
{
	s->lfd = listen_on(s->ip ? s->ip : "127.0.0.1", s->port, &s->port);
	if (s->lfd < 0) {
		fprintf(stderr, "listen %s: %s\n", s->name, strerror(-s->lfd));
		exit(2);
	}
	if (s->resp && !s->resp_len)
		s->resp_len = strlen(s->resp);
	ep_add(s->lfd, (void *)((uintptr_t)s | 1), EPOLLIN);
}

/* A port nothing listens on: bound (so not handed out while we hold it),
 * never listening, so connecting is refused. */
static int closed_port(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd < 0 || bind(fd, (void *)&sa, sizeof(sa)) || getsockname(fd, (void *)&sa, &sl)) {
		perror("closed port");
		exit(2);
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static bool conn_alive(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	return n < 0 && errno == EAGAIN;
}

static void conn_close(struct conn *c)
{
	close(c->fd);	/* also leaves the epoll set */
	free(c);
}

static void record_request(struct srv *s, const char *req, size_t len)
{
	for (int i = 0; i < s->nreqs; i++)
		if (strlen(s->reqs[i]) == len && !memcmp(s->reqs[i], req, len))
			return;
	if (s->nreqs < 16)
		s->reqs[s->nreqs++] = strndup(req, len);
}

static bool saw_request(const struct srv *s, const char *req)
{
	for (int i = 0; i < s->nreqs; i++)
		if (!strcmp(s->reqs[i], req))
			return true;
	return false;
}

static void srv_accept(struct srv *s)
{
	int fd;

	while ((fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct conn *c;
		int alive = 0, j = 0;

		switch (s->kind) {
		case SRV_TCP:
			close(fd);
			break;
		case SRV_SILENT:
			/* The probe resets its connection when it gives up;
			 * count what is still open, this one included. */
			for (int i = 0; i < s->nheld; i++) {
				if (conn_alive(s->held[i]))
					s->held[j++] = s->held[i];
				else
					close(s->held[i]);
			}
			s->nheld = j;
			if (s->nheld < 64)
				s->held[s->nheld++] = fd;
			else
				close(fd);
			alive = s->nheld;
			if (alive > s->max_alive)
				s->max_alive = alive;
			break;
		case SRV_HTTP:
			c = calloc(1, sizeof(*c));
			c->s = s;
			c->fd = fd;
			ep_add(fd, c, EPOLLIN);
			break;
		}
	}
}

static void conn_event(struct conn *c, uint32_t events)
{
	struct srv *s = c->s;
	ssize_t n;

	if (!c->out) {
		n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen, 0);
		if (n <= 0) {
			if (n < 0 && errno == EAGAIN)
				return;
			conn_close(c);
			return;
		}
		c->inlen += (size_t)n;
		c->in[c->inlen] = 0;
		if (!strstr(c->in, "\r\n\r\n"))
			return;
		record_request(s, c->in, c->inlen);
		c->out = s->resp;
		c->outlen = s->resp_len;
		struct epoll_event e = { .events = EPOLLOUT, .data.ptr = c };

		epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
	}
	while (c->outoff < c->outlen) {
		n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN)
				return;
			break;	/* the probe went away first: fine */
		}
		c->outoff += (size_t)n;
	}
	conn_close(c);
}

/* ---- the engine, as the daemon drives it */

struct trans {
	char service[128];
	enum xlb_health_verdict old, now;
	char why[512];
	int64_t at_ms;
	uint64_t probes;	/* completed probes of the target at the transition */
};

static struct trans trans[512];
static int ntrans;
static struct xlb_health *H;

static void on_change(void *arg, const struct xlb_health_target *t, enum xlb_health_verdict old,
		      enum xlb_health_verdict now, const char *why)
{
	struct trans *x;

	(void)arg;
	if (ntrans == (int)(sizeof(trans) / sizeof(trans[0])))
		return;
	x = &trans[ntrans++];
	snprintf(x->service, sizeof(x->service), "%s", t->service);
	x->old = old;
	x->now = now;
	snprintf(x->why, sizeof(x->why), "%s", why);
	x->at_ms = now_ms();
	{
		struct xlb_health_report r;

		x->probes = xlb_health_get(H, t->service, &t->addr, t->port, &r) ? 0 : r.probes;
	}
}

static void (*tick_hook)(void);

/* Run the loop until the deadline: engine and servers together. */
static void run_until(int64_t until_ms)
{
	struct epoll_event evs[64];

	for (;;) {
		int64_t left = until_ms - now_ms();
		int n;

		if (left <= 0)
			return;
		n = epoll_wait(epfd, evs, 64, (int)(left < 20 ? left : 20));
		for (int i = 0; i < n; i++) {
			uintptr_t p = (uintptr_t)evs[i].data.ptr;

			if (!p)
				xlb_health_dispatch(H);
			else if (p & 1)
				srv_accept((struct srv *)(p & ~(uintptr_t)1));
			else
				conn_event((struct conn *)p, evs[i].events);
		}
		if (tick_hook)
			tick_hook();
	}
}

/* Run the loop until done() or for at most max_ms; whether done() held. */
static bool run_until_done(bool (*done)(void), int64_t max_ms)
{
	int64_t until = now_ms() + max_ms;

	while (!done()) {
		if (now_ms() >= until)
			return false;
		run_until(now_ms() + 5);
	}
	return true;
}

/* ---- targets */

enum { MAXT = 64 };
static struct xlb_health_target tg[MAXT];
static int ntg;

static struct xlb_health_target *add_target(const char *name, enum xlb_hc_kind kind, uint32_t port)
{
	struct xlb_health_target *t = &tg[ntg++];

	memset(t, 0, sizeof(*t));
	snprintf(t->service, sizeof(t->service), "%s", name);
	xlb_ip_parse("127.0.0.1", &t->addr);
	t->port = port;
	t->spec.kind = kind;
	t->spec.period_ms = 100;
	t->spec.timeout_ms = 500;
	return t;
}

static void set_argv(struct xlb_health_target *t, int argc, ...)
{
	va_list ap;

	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		snprintf(t->spec.argv[i], sizeof(t->spec.argv[i]), "%s", va_arg(ap, const char *));
	va_end(ap);
	t->spec.argc = (uint32_t)argc;
}

static struct xlb_health_target *find_target(const char *name)
{
	for (int i = 0; i < ntg; i++)
		if (!strcmp(tg[i].service, name))
			return &tg[i];
	return NULL;
}

static int get(const char *name, struct xlb_health_report *r)
{
	const struct xlb_health_target *t = find_target(name);

	return xlb_health_get(H, name, &t->addr, t->port, r);
}

/* The transitions of one target, as "UH,HX" (U unknown, H healthy, X
 * unhealthy), and the i-th one. */
static char vchar(enum xlb_health_verdict v)
{
	return v == XLB_HV_HEALTHY ? 'H' : v == XLB_HV_UNHEALTHY ? 'X' : 'U';
}

static const char *history(const char *name, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	for (int i = 0; i < ntrans && o + 4 < len; i++) {
		if (strcmp(trans[i].service, name))
			continue;
		o += (size_t)snprintf(buf + o, len - o, "%s%c%c", o ? "," : "", vchar(trans[i].old),
				      vchar(trans[i].now));
	}
	return buf;
}

static const struct trans *nth(const char *name, int n)
{
	for (int i = 0; i < ntrans; i++)
		if (!strcmp(trans[i].service, name) && n-- == 0)
			return &trans[i];
	return NULL;
}

/* Judge a target by its transition history and its last result. */
static void expect(const char *name, const char *hist, const char *result_has)
{
	struct xlb_health_report r;
	char h[128];
	int err = get(name, &r);

	history(name, h, sizeof(h));
	check(!err && !strcmp(h, hist) && (!result_has || strstr(r.last_result, result_has)),
	      "%s: transitions %s (want %s), verdict %s, last result \"%s\"%s%s%s, %llu probes",
	      name, h[0] ? h : "none", hist, err ? "ENOENT" : xlb_health_verdict_name(r.verdict),
	      err ? "" : r.last_result, result_has ? " (want \"" : "", result_has ? result_has : "",
	      result_has ? "\")" : "", err ? 0ULL : (unsigned long long)r.probes);
}

/* ---- processes and fds */

/* Our children: how many, how many zombies, and whether one runs comm. */
static void children(int *n, int *zombies, const char *comm, bool *has_comm)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t self = getpid();

	*n = *zombies = 0;
	if (has_comm)
		*has_comm = false;
	while ((e = readdir(d))) {
		char path[300], buf[512], *p;
		int ppid;
		char state;
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (!fgets(buf, sizeof(buf), f)) {
			fclose(f);
			continue;
		}
		fclose(f);
		p = strrchr(buf, ')');	/* comm may hold spaces */
		if (!p || sscanf(p + 2, "%c %d", &state, &ppid) != 2 || ppid != self)
			continue;
		(*n)++;
		if (state == 'Z')
			(*zombies)++;
		if (has_comm && strstr(buf, comm))
			*has_comm = true;
	}
	closedir(d);
}

/* Any process at all whose command line holds arg (a marker argument). */
static bool process_with_arg(const char *arg)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool found = false;

	while (!found && (e = readdir(d))) {
		char path[300], buf[1024];
		ssize_t n;
		int fd;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		for (ssize_t i = 0; i < n; i++)
			if (!buf[i])
				buf[i] = ' ';
		if (n > 0) {
			buf[n] = 0;
			found = strstr(buf, arg) != NULL;
		}
	}
	closedir(d);
	return found;
}

/*
 * exec-sleep: when, after its timeout, its sleep child was first seen gone
 * (neither alive nor a zombie). exec-leftover: its first probe exited 0
 * leaving "sleep 31.4159" in the background: when that was first seen
 * gone. Both are looked at on every turn of the loop, before the next
 * probe (a period later) starts another.
 */
static int64_t sleep_gone_at, leftover_gone_at;

static void gone_hook(void)
{
	const struct trans *x = nth("exec-sleep", 0), *y = nth("exec-leftover", 0);
	int n, z;
	bool has;

	if (!sleep_gone_at && x) {
		children(&n, &z, "(sleep)", &has);
		if (!has)
			sleep_gone_at = now_ms();
	}
	if (!leftover_gone_at && y && !process_with_arg("31.4159"))
		leftover_gone_at = now_ms();
}

/* Completed probes of a target; 0 when it is not probed. */
static uint64_t probes_of(const char *name)
{
	struct xlb_health_report r;

	return get(name, &r) ? 0 : r.probes;
}

/* The first phase is over when every probed target has had its first
 * transition, the counts judged below are reached, and the hooks saw
 * what they look for. */
static bool main_settled(void)
{
	for (int i = 0; i < ntg; i++)
		if (tg[i].spec.kind != XLB_HC_NONE && !nth(tg[i].service, 0))
			return false;
	return probes_of("tcp-up") >= 12 && probes_of("exec-chatty") >= 5 &&
	       probes_of("http-silent") >= 3 && sleep_gone_at && leftover_gone_at;
}

static bool flap_down(void)
{
	return nth("flap", 1) != NULL;
}

static bool flap_up(void)
{
	return nth("flap", 2) != NULL;
}

/*
 * flap's n-th transition, after its server went down or came back at
 * since_ms, when it had made `probes` probes: made by the engine at the
 * 2nd result of the new kind (or the 3rd probe: one in flight then may
 * still end as before), within threshold x period + a period.
 */
static void check_flap(int n, bool reached, uint64_t probes, int64_t since_ms, const char *why,
		       const char *what)
{
	const struct trans *x = nth("flap", n);

	check(reached && x && x->probes >= probes + 2 && x->probes <= probes + 3 &&
		      !strcmp(x->why, why) && x->at_ms - since_ms <= 2 * 100 + 100 + LATE_MS,
	      "flap: %s (%llu probes later, %lld ms; threshold 2 x period 100 ms): %s", what,
	      x ? (unsigned long long)(x->probes - probes) : 0ULL,
	      x ? (long long)(x->at_ms - since_ms) : -1LL, x ? x->why : "");
}

static bool tcp_up_again(void)
{
	return nth("tcp-up", 1) != NULL;
}

/* ---- the exec probe's sandbox */

/* Where the hierarchy holding ctrl ("memory") is mounted: a v1 one of
 * its own, else cgroup2. v2: which one it is. */
static void cgroup_mount(const char *ctrl, char *out, size_t len, bool *v2)
{
	char line[512], v1[256] = "", v2mnt[256] = "";
	FILE *f = fopen("/proc/self/mountinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		char point[256], type[32], opts[256], *dash = strstr(line, " - ");

		if (!dash || sscanf(line, "%*s %*s %*s %*s %255s", point) != 1 ||
		    sscanf(dash + 3, "%31s %*s %255s", type, opts) != 2)
			continue;
		if (!strcmp(type, "cgroup2"))
			snprintf(v2mnt, sizeof(v2mnt), "%s", point);
		else if (!strcmp(type, "cgroup") && strstr(opts, ctrl) && !v1[0])
			snprintf(v1, sizeof(v1), "%s", point);
	}
	if (f)
		fclose(f);
	*v2 = !v1[0];
	snprintf(out, len, "%s", v1[0] ? v1 : v2mnt);
}

/* file in pid's cgroup of the hierarchy holding ctrl. */
static void cgroup_file(pid_t pid, const char *ctrl, const char *file, char *out, size_t len)
{
	char path[64], line[512], mnt[256], cg[256] = "";
	bool v2;
	FILE *f;

	cgroup_mount(ctrl, mnt, sizeof(mnt), &v2);
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':'), *p = c ? strchr(c + 1, ':') : NULL;

		if (!p)
			continue;
		*p++ = 0;
		p[strcspn(p, "\n")] = 0;
		if (v2 ? c[1] == 0 : strstr(c + 1, ctrl) != NULL)
			snprintf(cg, sizeof(cg), "%s", p);
	}
	if (f)
		fclose(f);
	snprintf(out, len, "%s%s/%s", mnt, cg, file);
}

static long long cgroup_value(pid_t pid, const char *ctrl, const char *v1file, const char *v2file)
{
	char path[600], buf[64] = "";
	FILE *f;

	cgroup_file(pid, ctrl, v1file, path, sizeof(path));
	f = fopen(path, "r");
	if (!f) {
		cgroup_file(pid, ctrl, v2file, path, sizeof(path));
		f = fopen(path, "r");
	}
	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	return atoll(buf);
}

/* The pid of our child running comm, or 0. */
static pid_t child_pid(const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	while (!found && (e = readdir(d))) {
		char path[300], buf[512], *p;
		int ppid;
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
		    sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == getpid() && strstr(buf, comm))
			found = atoi(e->d_name);
		fclose(f);
	}
	closedir(d);
	return found;
}

/* "prefix-what", in one of a few buffers that take turns (so that a few
 * can be used at once). */
static const char *case_name(const char *prefix, const char *what)
{
	static char buf[8][64];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s-%s", prefix, what);
	return buf[i];
}

static const char *sbx_mode;	/* "sbx-iso" or "sbx-node": the cases' names */

static const char *sbx_name(const char *what)
{
	return case_name(sbx_mode, what);
}

static struct xlb_health_target *sbx_target(const char *what, const char *script)
{
	struct xlb_health_target *t = add_target(sbx_name(what), XLB_HC_EXEC, 4242);

	set_argv(t, 3, "/bin/sh", "-c", script);
	t->spec.period_ms = 200;
	t->spec.timeout_ms = 3000;
	t->spec.failure_threshold = 1;
	return t;
}

/* Every target but the long-running "limits" one has a verdict, and that
 * one's sleep runs. */
static bool sbx_settled(void)
{
	for (int i = 0; i < ntg; i++)
		if (strcmp(tg[i].service, sbx_name("limits")) && !nth(tg[i].service, 0))
			return false;
	return child_pid("(sleep)") > 0;
}

/*
 * What a probe can and cannot do, judged from inside (its exit status) and
 * from outside (what it left on the node). node_net: the probe shares our
 * network namespace, and still cannot change it.
 */
static void sandbox_cases(struct xlb_sandbox *sb, bool node_net)
{
	const char *mode = node_net ? "node network" : "isolated network";
	char netns[64] = "", script[1024], host_mark[64], probe_mark[64], root_mark[64];
	char var_mark[64];
	struct xlb_health_target *t;
	long long pids, mem, quota;
	pid_t pid;
	int fd, n, z;

	if (readlink("/proc/self/ns/net", netns, sizeof(netns) - 1) < 0)
		netns[0] = 0;
	snprintf(host_mark, sizeof(host_mark), "/tmp/xlb-health-%d-host", (int)getpid());
	snprintf(probe_mark, sizeof(probe_mark), "/tmp/xlb-health-%d-probe", (int)getpid());
	snprintf(var_mark, sizeof(var_mark), "/var/tmp/xlb-health-%d-probe", (int)getpid());
	snprintf(root_mark, sizeof(root_mark), "/xlb-health-%d-probe", (int)getpid());
	fd = open(host_mark, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);

	xlb_health_set_sandbox(H, sb);
	ntg = 0;
	sbx_mode = node_net ? "sbx-node" : "sbx-iso";
	sbx_target("ids", "test \"$(id -u)\" = 65534 && test \"$(id -g)\" = 65534 && "
			      "test \"$(id -G)\" = 65534 && echo ids-ok");
	/* (a health check's argument holds 255 bytes) */
	sbx_target("caps", "s=/proc/self/status; test $(grep -Ec '^Cap(Inh|Prm|Eff|Bnd|Amb):\\s0{16}$' $s) "
			   "= 5 && grep -q '^NoNewPrivs:\\s1$' $s && grep -q '^Seccomp:\\s2$' $s && "
			   "test $$ = 1 && echo caps-ok");
	snprintf(script, sizeof(script),
		 "test ! -e %s && echo p > %s && test -s %s && ! touch %s 2>/dev/null && "
		 "! touch %s 2>/dev/null && echo tmp-ok",
		 host_mark, probe_mark, probe_mark, var_mark, root_mark);
	sbx_target("files", script);
	snprintf(script, sizeof(script),
		 "test \"$(readlink /proc/self/ns/net)\" %s '%s' && "
		 "ip link add xsbx0 type veth peer name xsbx1 2>&1 | "
		 "grep -q 'Operation not permitted' && echo link-refused",
		 node_net ? "=" : "!=", netns);
	sbx_target("link", script);
	t = sbx_target("forks", "i=0; while [ $i -lt 500 ]; do sleep 29.5 & i=$((i+1)); done; "
				    "echo all 500 started");
	t->spec.period_ms = 1000;
	t = sbx_target("memory", "head -c 300000000 /dev/zero | tail -n 1 >/dev/null; "
				     "echo exit $?; exit 1");
	t->spec.period_ms = 1000;
	t = add_target(sbx_name("limits"), XLB_HC_EXEC, 4242);
	set_argv(t, 2, "/bin/sleep", "29.5");
	t->spec.period_ms = 50;
	t->spec.timeout_ms = 20000;

	check(!xlb_health_set_targets(H, tg, (size_t)ntg), "sandbox, %s: %d targets", mode, ntg);
	check(run_until_done(sbx_settled, WAIT_MS),
	      "sandbox, %s: every probe reached a verdict, the limits probe runs", mode);
	expect(sbx_name("ids"), "UH", "exit 0: ids-ok");
	expect(sbx_name("caps"), "UH", "exit 0: caps-ok");
	expect(sbx_name("files"), "UH", "exit 0: tmp-ok");
	check(access(probe_mark, F_OK) && access(var_mark, F_OK) && access(root_mark, F_OK),
	      "sandbox, %s: the probe wrote its own /tmp, not the node's (nor /var/tmp, nor /)", mode);
	expect(sbx_name("link"), "UH", "exit 0: link-refused");
	check(!if_nametoindex("xsbx0") && !if_nametoindex("xsbx1"),
	      "sandbox, %s: no link made in the daemon's network namespace", mode);
	expect(sbx_name("forks"), "UX", "Cannot fork");
	expect(sbx_name("memory"), "UX", "exit 137");

	pid = child_pid("(sleep)");
	pids = cgroup_value(pid, "pids", "pids.max", "pids.max");
	mem = cgroup_value(pid, "memory", "memory.limit_in_bytes", "memory.max");
	quota = cgroup_value(pid, "cpu", "cpu.cfs_quota_us", "cpu.max");
	check(pid > 0 && pids == 32 && mem == 64ll << 20 && quota == 50000,
	      "sandbox, %s: a running probe's own cgroup: pids.max %lld (want 32), memory %lld (want "
	      "64 MiB), cpu quota %lld us (want 50000 per 100000)", mode, pids, mem, quota);

	xlb_health_set_targets(H, NULL, 0);
	/* A pid namespace ends when the last of its processes is reaped. */
	for (int i = 0; i < 50; i++) {
		run_until(now_ms() + 100);
		children(&n, &z, "", NULL);
		if (!n)
			break;
	}
	check(n == 0 && !process_with_arg("sleep 29.5"),
	      "sandbox, %s: nothing left running (%d children)", mode, n);
	unlink(host_mark);
	unlink(probe_mark);
}

/* Fds the engine could leak, by kind: pidfds, timerfds, pipes, epoll fds,
 * and client sockets to one of our servers; counted against a snapshot
 * taken before the engine existed (stdout may be a pipe). */
static int engine_fds(const struct srv *const *srvs, size_t nsrv, char (*snap)[160], int nsnap,
		      bool take)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	while ((e = readdir(d))) {
		char path[300], link[96];
		bool suspect = false;
		ssize_t l;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		fd = atoi(e->d_name);
		if (fd == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		l = readlink(path, link, sizeof(link) - 1);
		if (l < 0)
			continue;
		link[l] = 0;
		if (strstr(link, "pidfd") || strstr(link, "timerfd") || !strncmp(link, "pipe:", 5) ||
		    strstr(link, "eventpoll")) {
			suspect = true;
		} else if (!strncmp(link, "socket:", 7)) {
			struct sockaddr_in6 peer;
			socklen_t sl = sizeof(peer);

			if (!getpeername(fd, (struct sockaddr *)&peer, &sl))
				for (size_t i = 0; i < nsrv; i++)
					if (ntohs(peer.sin6_port) == srvs[i]->port)
						suspect = true;	/* a probe's end */
		}
		if (!suspect)
			continue;
		if (take) {
			if (n < nsnap)
				snprintf(snap[n], sizeof(snap[n]), "%d %s", fd, link);
			n++;
			continue;
		}
		snprintf(path, sizeof(path), "%d %s", fd, link);
		bool known = false;

		for (int i = 0; i < nsnap; i++)
			known |= !strcmp(snap[i], path);
		if (!known) {
			fprintf(stderr, "# left open: %s\n", path);
			n++;
		}
	}
	closedir(d);
	return n;
}

/* ---- TCP probes: half-open and connect() */

/* A listener nobody accepts on. backlog 0: its accept queue is full with
 * one connection in it, and then the kernel drops SYNs. */
static int deaf_listener(const char *ip, int backlog, uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, ip, &sa.sin_addr);
	if (fd < 0 || bind(fd, (void *)&sa, sizeof(sa)) || listen(fd, backlog) ||
	    getsockname(fd, (void *)&sa, &sl)) {
		perror("deaf listener");
		exit(2);
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Connections waiting in a listener's accept queue (accepted and closed). */
static int drain_accept(int lfd)
{
	int n = 0, fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		close(fd);
		n++;
	}
	return n;
}

static struct xlb_health_stats stats_now(void)
{
	struct xlb_health_stats st;

	xlb_health_get_stats(H, &st);
	return st;
}

static int sh(const char *cmd)
{
	int rc = system(cmd);

	return rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
}

/* The Internet checksum (RFC 1071) of n bytes, on top of sum; network order. */
static uint16_t inet_csum(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t k = 0; k + 1 < n; k += 2)
		sum += (uint32_t)p[k] << 8 | p[k + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* count ICMP echo requests to 127.0.0.1 (and so as many replies). */
static void pings(int count)
{
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	struct sockaddr_in to = { .sin_family = AF_INET };

	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	for (int i = 0; fd >= 0 && i < count; i++) {
		uint8_t m[64] = { 8, 0 };	/* echo request, 56 bytes of zeros */
		uint16_t c;

		m[6] = (uint8_t)i;
		c = inet_csum(m, sizeof(m), 0);
		memcpy(m + 2, &c, 2);
		sendto(fd, m, sizeof(m), 0, (void *)&to, sizeof(to));
	}
	if (fd >= 0)
		close(fd);
}

/*
 * A forged SYN-ACK to every one of the prober's source ports, from addr:port,
 * acknowledging a sequence number no probe sent: the engine must ignore it.
 */
static void forge_synacks(const char *addr, uint16_t port, uint16_t first)
{
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);
	struct sockaddr_in to = { .sin_family = AF_INET };

	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	for (int i = 0; fd >= 0 && i < 8; i++) {
		uint8_t th[20] = { 0 };
		uint8_t ph[12];
		uint16_t c;

		th[0] = port >> 8;
		th[1] = port & 0xff;
		th[2] = (uint8_t)((first + i) >> 8);
		th[3] = (uint8_t)(first + i);
		th[8] = 0x12;		/* ack 0x12345678: no probe's ISN + 1, but for 1 in 2^32 */
		th[9] = 0x34;
		th[10] = 0x56;
		th[11] = 0x78;
		th[12] = 5 << 4;
		th[13] = 0x12;		/* SYN, ACK */
		th[14] = 0xff;
		inet_pton(AF_INET, addr, ph);
		inet_pton(AF_INET, "127.0.0.1", ph + 4);
		ph[8] = 0;
		ph[9] = IPPROTO_TCP;
		ph[10] = 0;
		ph[11] = 20;
		{
			uint8_t both[32];

			memcpy(both, ph, 12);
			memcpy(both + 12, th, 20);
			c = inet_csum(both, sizeof(both), 0);
		}
		memcpy(th + 16, &c, 2);
		/* From addr: the kernel picks it as the source when bound to it. */
		{
			struct sockaddr_in from = { .sin_family = AF_INET };

			inet_pton(AF_INET, addr, &from.sin_addr);
			bind(fd, (void *)&from, sizeof(from));
		}
		sendto(fd, th, sizeof(th), 0, (void *)&to, sizeof(to));
	}
	if (fd >= 0)
		close(fd);
}

static bool sleep_runs(void)
{
	return child_pid("(sleep)") > 0;
}

/* The stall case: STALL_N targets, each probed more than before[i] times. */
enum { STALL_N = 1500 };
static struct xlb_health_target *stall_t;
static uint64_t *stall_before;

static bool stall_probed(void)
{
	struct xlb_health_report r;

	for (int i = 0; i < STALL_N; i++)
		if (xlb_health_get(H, stall_t[i].service, &stall_t[i].addr, stall_t[i].port, &r) ||
		    r.probes <= stall_before[i])
			return false;
	return true;
}

static const char *tm_name;	/* "half-open" or "connect": the cases' prefix */

static const char *tm(const char *x)
{
	return case_name(tm_name, x);
}

static bool modes_settled(void)
{
	uint64_t shared = 0;

	if (!nth(tm("up"), 0) || !nth(tm("closed"), 0) || probes_of(tm("deaf")) < 10)
		return false;
	if (getenv("XLB_HEALTH_NETNS") &&
	    (!nth(tm("reject"), 0) || !nth(tm("drop"), 0) || !nth(tm("drop-b2b"), 0)))
		return false;
	for (int i = 0; i < 12; i++) {
		char name[64];

		snprintf(name, sizeof(name), "%s-shared-%d", tm_name, i);
		shared += probes_of(name);
	}
	return shared >= 12 * 30;
}

static uint64_t retry_half_open;

static bool retry_sent(void)
{
	return stats_now().half_open != retry_half_open;
}

static bool retry_done(void)
{
	return probes_of("m-retry") > 0;
}

/* The two TCP probe modes' lab: listeners that never accept (deaf) or
 * whose queue is full, and with a namespace of our own (XLB_HEALTH_NETNS)
 * an address that REJECTs and one that DROPs. */
struct tm_lab {
	bool netns;
	uint16_t up_port, closed, deaf_port, full_port, rej_port;
	int deaf, full;
};

#define N(x) (snprintf(nm, sizeof(nm), "%s-%s", m, x), nm)

/* Mode m's targets: one of each answer, 12 services on one endpoint. */
static void tm_targets(const struct tm_lab *L, const char *m)
{
	struct xlb_health_target *t;
	char name[64], nm[32];

	ntg = 0;
	t = add_target(N("up"), XLB_HC_TCP, L->up_port);
	t = add_target(N("closed"), XLB_HC_TCP, L->closed);
	t->spec.failure_threshold = 1;
	t->spec.timeout_ms = 5000;	/* what a refusal must beat by far */
	t = add_target(N("deaf"), XLB_HC_TCP, L->deaf_port);
	xlb_ip_parse("127.0.0.3", &t->addr);
	t->spec.period_ms = 50;
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "%s-shared-%d", m, i);
		t = add_target(name, XLB_HC_TCP, L->up_port);
		t->spec.period_ms = 20;
	}
	if (L->netns) {
		t = add_target(N("reject"), XLB_HC_TCP, L->rej_port);
		xlb_ip_parse("127.0.0.5", &t->addr);
		t->spec.failure_threshold = 1;
		t->spec.timeout_ms = 5000;
		t = add_target(N("drop"), XLB_HC_TCP, 80);
		xlb_ip_parse("127.0.0.6", &t->addr);
		t->spec.failure_threshold = 1;
		t->spec.timeout_ms = 200;
		t->spec.period_ms = 300;
		/* Timeout = period: probed back to back once silent. */
		t = add_target(N("drop-b2b"), XLB_HC_TCP, 81);
		xlb_ip_parse("127.0.0.6", &t->addr);
		t->spec.timeout_ms = 200;
		t->spec.period_ms = 200;
	}
}

/* What mode m's probes found, and how they were made (st0: the engine's
 * counters before). */
static void tm_checks(const struct tm_lab *L, const char *m, int mode, int64_t set_at,
		      struct xlb_health_stats st0)
{
	struct xlb_health_stats st1;
	struct xlb_health_report r;
	char name[64], nm[32];
	int n, err;

	expect(N("up"), "UH", "connected");
	expect(N("closed"), "UX", "connect: Connection refused");
	err = get(N("closed"), &r);
	check(!err && r.last_latency_us < 5000000,
	      "%s: a refused probe ends on the reset, not its 5 s timeout (%u us)", m,
	      r.last_latency_us);
	err = get(N("deaf"), &r);
	n = drain_accept(L->deaf);
	check(!err && r.verdict == XLB_HV_HEALTHY && r.probes >= 10 && r.failures == 0,
	      "%s: a listener that never accepts is healthy (%llu probes)", m,
	      (unsigned long long)r.probes);
	if (mode)
		check(n >= 10, "connect: every probe reached the application's accept queue (%d)", n);
	else
		check(n == 0, "half-open: no probe reached the application's accept queue (%d)", n);
	{
		uint64_t probes = 0, failures = 0;

		for (int i = 0; i < 12; i++) {
			snprintf(name, sizeof(name), "%s-shared-%d", m, i);
			if (!get(name, &r)) {
				probes += r.probes;
				failures += r.failures;
			}
		}
		check(probes >= 12 * 30 && failures == 0,
		      "%s: 12 services sharing one endpoint, probed every 20 ms: %llu probes, "
		      "%llu failed", m, (unsigned long long)probes,
		      (unsigned long long)failures);
	}
	if (L->netns) {
		expect(N("reject"), "UX", "connect: No route to host");
		err = get(N("reject"), &r);
		check(!err && r.last_latency_us < 5000000,
		      "%s: an ICMP error ends the probe, as connect(), not its 5 s timeout "
		      "(%u us)", m, r.last_latency_us);
		expect(N("drop"), "UX", "connect: timeout after 200 ms");
		{
			const struct trans *x = nth(N("drop-b2b"), 0);

			/* Three timeouts of 200 ms one after the other,
			 * the first probe within a period of the set. */
			check(x && x->now == XLB_HV_UNHEALTHY && x->probes == 3 &&
				      x->at_ms - set_at >= 600 &&
				      x->at_ms - set_at <= 200 + 600 + LATE_MS,
			      "%s: a silent backend, timeout = period = 200 ms, threshold 3: "
			      "unhealthy at the 3rd probe (%llu), %lld ms after the set (3 back to "
			      "back after the first, due within 200 ms)", m,
			      x ? (unsigned long long)x->probes : 0ULL,
			      x ? (long long)(x->at_ms - set_at) : -1LL);
		}
	}
	st1 = stats_now();
	if (mode)
		check(st1.half_open == st0.half_open && st1.connect > st0.connect,
		      "connect: every probe by connect() (%llu)",
		      (unsigned long long)(st1.connect - st0.connect));
	else
		/* 13 targets share 127.0.0.1:L->up_port: even if all
		 * were due at once every time, 8 would go half-open. */
		check(st1.half_open >= st0.half_open + 12 * 30 &&
			      st1.connect - st0.connect < st1.half_open - st0.half_open,
		      "half-open: %llu probes half-open, %llu by connect() (all 8 source "
		      "ports busy for one backend), %llu stray replies",
		      (unsigned long long)(st1.half_open - st0.half_open),
		      (unsigned long long)(st1.connect - st0.connect),
		      (unsigned long long)(st1.stray - st0.stray));
	if (!mode)
		check(st1.stray == st0.stray + (L->netns ? 8 : 0),
		      "half-open: the only stray replies read are the %d forged SYN-ACKs (the "
		      "silent backend still failed): the filter keeps every other segment, our "
		      "own resets too, in the kernel (%llu stray)", L->netns ? 8 : 0,
		      (unsigned long long)(st1.stray - st0.stray));
}

#undef N

/* A lost SYN is sent again after 1 s, as connect() does: the full
 * listener drops the first, and has room again for the second. */
static void tm_retry(const struct tm_lab *L)
{
	struct xlb_health_stats st0;
	struct xlb_health_report r;
	struct xlb_health_target *t;
	int filler, n, err;

	filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	{
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(L->full_port) };

		inet_pton(AF_INET, "127.0.0.4", &sa.sin_addr);
		check(filler >= 0 && !connect(filler, (void *)&sa, sizeof(sa)),
		      "retry: the full listener's accept queue filled");
	}
	ntg = 0;
	t = add_target("m-retry", XLB_HC_TCP, L->full_port);
	xlb_ip_parse("127.0.0.4", &t->addr);
	t->spec.period_ms = 2000;
	t->spec.timeout_ms = 1900;
	st0 = stats_now();
	xlb_health_set_targets(H, tg, 1);
	retry_half_open = st0.half_open;
	check(run_until_done(retry_sent, 2000 + WAIT_MS), "retry: the first SYN sent");
	/* Over loopback the SYN meets the full queue as it is sent; the
	 * queue is emptied long before the resend, 1 s after it. */
	run_until(now_ms() + 50);
	err = get("m-retry", &r);
	check(!err && r.probes == 0, "retry: the first SYN was dropped (no result)");
	n = drain_accept(L->full);
	run_until_done(retry_done, WAIT_MS);
	err = get("m-retry", &r);
	check(n == 1 && !err && r.probes == 1 && r.failures == 0 && r.last_latency_us >= 950000,
	      "retry: the SYN sent again at 1 s was answered before the 1.9 s timeout (latency %u "
	      "us)", r.last_latency_us);
	xlb_health_set_targets(H, NULL, 0);
	close(filler);
}

static void tcp_modes(uint16_t up_port, uint16_t closed)
{
	struct tm_lab L = { .netns = getenv("XLB_HEALTH_NETNS") != NULL, .up_port = up_port,
			    .closed = closed, .rej_port = 9 };
	struct xlb_health_stats st0;
	int64_t set_at;
	int err;
	char cmd[512];

	check(xlb_health_half_open(H) || geteuid() != 0,
	      "TCP probes are half-open by default when raw sockets can be had (root: %s)",
	      xlb_health_half_open(H) ? "yes" : "no");
	if (!xlb_health_half_open(H))
		return;
	L.deaf = deaf_listener("127.0.0.3", 4096, &L.deaf_port);
	L.full = deaf_listener("127.0.0.4", 0, &L.full_port);
	/* Refused with an ICMP error rather than a reset, as a firewall's
	 * REJECT does: only in a namespace of our own (run.sh's unshare). */
	if (L.netns) {
		snprintf(cmd, sizeof(cmd),
			 "nft add table ip xlbt && "
			 "nft add chain ip xlbt out '{ type filter hook output priority 0; }' && "
			 "nft add rule ip xlbt out ip daddr 127.0.0.5 tcp dport %u "
			 "reject with icmp type host-unreachable && "
			 "nft add rule ip xlbt out ip daddr 127.0.0.6 drop", L.rej_port);
		check(sh(cmd) == 0, "nft: REJECT to 127.0.0.5:%u and DROP to 127.0.0.6 (own netns)",
		      L.rej_port);
	}

	for (int mode = 0; mode < 2; mode++) {
		const char *m = mode ? "connect" : "half-open";

		if (mode) {
			err = xlb_health_set_tcp_mode(H, XLB_HC_TCP_CONNECT);
			check(!err && !xlb_health_half_open(H), "set_tcp_mode(CONNECT) (%d)", err);
		}
		st0 = stats_now();
		tm_targets(&L, m);
		set_at = now_ms();
		err = xlb_health_set_targets(H, tg, (size_t)ntg);
		check(!err, "%s: set_targets (%d)", m, err);
		run_until(now_ms() + 400);
		if (!mode) {
			struct xlb_health_stats a, b;

			/* ICMP that is not an error about our SYNs stays in the
			 * kernel: the prober's filter drops it, nothing is read. */
			a = stats_now();
			pings(20);
			run_until(now_ms() + 50);
			b = stats_now();
			check(b.stray == a.stray,
			      "half-open: 20 pings and their replies never reach the prober (%llu stray)",
			      (unsigned long long)(b.stray - a.stray));
		}
		if (L.netns && !mode) {
			/* Forged SYN-ACKs from the silent backend change nothing. */
			forge_synacks("127.0.0.6", 80, (uint16_t)stats_now().half_open_port);
		}
		tm_name = m;
		check(run_until_done(modes_settled, WAIT_MS),
		      "%s: every target reached a verdict, the counts judged below reached (%lld ms)",
		      m, (long long)(now_ms() - set_at));

		tm_checks(&L, m, mode, set_at, st0);
		xlb_health_set_targets(H, NULL, 0);
	}
	err = xlb_health_set_tcp_mode(H, XLB_HC_TCP_HALF_OPEN);
	check(!err && xlb_health_half_open(H), "set_tcp_mode(HALF_OPEN) again (%d)", err);
	tm_retry(&L);
	close(L.full);
	close(L.deaf);
	if (L.netns)
		sh("nft delete table ip xlbt");
}

/* The test's servers: each kind of answer a probe can meet. */
static char bighdr[24 * 1024];
static struct {
	struct srv tcp, ok200, err500, redir, hints, garbage, big, silent, flap, tcp6;
} S = {
	.tcp = { .name = "tcp", .kind = SRV_TCP },
	.ok200 = { .name = "http-200", .kind = SRV_HTTP,
		   .resp = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nok: all fine" },
	.err500 = { .name = "http-500", .kind = SRV_HTTP,
		    .resp = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n" },
	.redir = { .name = "http-302", .kind = SRV_HTTP,
		   .resp = "HTTP/1.0 302 Found\r\nLocation: http://elsewhere/\r\n\r\n" },
	.hints = { .name = "http-103", .kind = SRV_HTTP,
		   .resp = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
			   "HTTP/1.1 200 OK\r\n\r\n" },
	.garbage = { .name = "garbage", .kind = SRV_HTTP,
		     .resp = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n" },
	.big = { .name = "big-headers", .kind = SRV_HTTP, .resp = bighdr },
	.silent = { .name = "silent", .kind = SRV_SILENT },
	.flap = { .name = "flap", .kind = SRV_TCP },
	.tcp6 = { .name = "tcp6", .kind = SRV_TCP, .ip = "::1" },
};
static struct srv *const servers[] = { &S.tcp, &S.ok200, &S.err500, &S.redir, &S.hints,
				       &S.garbage, &S.big, &S.silent, &S.flap };
#define N_SERVERS (sizeof(servers) / sizeof(servers[0]))

/* The main set: a target for each server and answer, TCP, HTTP and exec
 * probes, the timing knobs; false when there is no IPv6 loopback (its
 * target left out). */
static bool main_targets(uint16_t closed)
{
	struct xlb_health_target *t;
	bool v6;

	add_target("tcp-up", XLB_HC_TCP, S.tcp.port);
	t = add_target("tcp-closed", XLB_HC_TCP, closed);
	t->spec.failure_threshold = 3;
	t = add_target("http-200", XLB_HC_HTTP, S.ok200.port);
	snprintf(t->spec.http_path, sizeof(t->spec.http_path), "/healthz");
	t = add_target("http-host", XLB_HC_HTTP, S.ok200.port);
	snprintf(t->spec.http_path, sizeof(t->spec.http_path), "/ready?x=1");
	snprintf(t->spec.http_host, sizeof(t->spec.http_host), "web.example");
	t = add_target("http-500", XLB_HC_HTTP, S.err500.port);
	add_target("tcp-on-500", XLB_HC_TCP, S.err500.port);
	t = add_target("http-silent", XLB_HC_HTTP, S.silent.port);
	t->spec.timeout_ms = 250;	/* longer than the period */
	t->spec.failure_threshold = 1;
	t = add_target("http-body-ok", XLB_HC_HTTP, S.ok200.port);
	snprintf(t->spec.expect_body, sizeof(t->spec.expect_body), "all fine");
	t = add_target("http-body-missing", XLB_HC_HTTP, S.ok200.port);
	snprintf(t->spec.expect_body, sizeof(t->spec.expect_body), "nope");
	add_target("http-302", XLB_HC_HTTP, S.redir.port);
	add_target("http-103", XLB_HC_HTTP, S.hints.port);
	add_target("http-garbage", XLB_HC_HTTP, S.garbage.port);
	add_target("http-big-headers", XLB_HC_HTTP, S.big.port);
	t = add_target("exec-true", XLB_HC_EXEC, 4242);
	set_argv(t, 1, "/bin/true");
	t = add_target("exec-false", XLB_HC_EXEC, 4242);
	set_argv(t, 1, "/bin/false");
	t = add_target("exec-in-path", XLB_HC_EXEC, 4242);
	set_argv(t, 1, "true");
	t = add_target("exec-not-found", XLB_HC_EXEC, 4242);
	set_argv(t, 1, "xlb-no-such-probe");
	t = add_target("exec-sleep", XLB_HC_EXEC, 4242);
	set_argv(t, 2, "/bin/sleep", "10");
	t->spec.timeout_ms = 300;
	t->spec.period_ms = 1000;
	t->spec.failure_threshold = 1;
	t = add_target("exec-env", XLB_HC_EXEC, 4242);
	set_argv(t, 3, "/bin/sh", "-c",
		 "test \"$XLB_SERVICE\" = exec-env && test \"$XLB_ENDPOINT_PORT\" = 4242 && "
		 "test \"$XLB_ENDPOINT_ADDR\" = 127.0.0.1 && "
		 "test \"$PATH\" = /usr/sbin:/usr/bin:/sbin:/bin && test -z \"$HOME\" && "
		 "test ! -t 0 && test \"$(cat)\" = \"\" && echo env-ok");
	t = add_target("exec-output", XLB_HC_EXEC, 4242);
	set_argv(t, 3, "/bin/sh", "-c", "echo something bad >&2; exit 3");
	t = add_target("exec-chatty", XLB_HC_EXEC, 4242);
	set_argv(t, 3, "/bin/sh", "-c", "yes xlb | head -c 300000; exit 4");
	t = add_target("exec-leftover", XLB_HC_EXEC, 4242);
	set_argv(t, 3, "/bin/sh", "-c", "sleep 31.4159 & exit 0");
	t->spec.period_ms = 1000;
	t = add_target("tcp-delay", XLB_HC_TCP, S.tcp.port);
	t->spec.initial_delay_ms = 700;
	t = add_target("flap", XLB_HC_TCP, S.flap.port);
	t->spec.success_threshold = 2;
	t->spec.failure_threshold = 2;
	t = add_target("not-probed", XLB_HC_NONE, S.tcp.port);
	t = add_target("tcp6-up", XLB_HC_TCP, 0);
	xlb_ip_parse("::1", &t->addr);
	S.tcp6.lfd = listen_on("::1", 0, &S.tcp6.port);
	v6 = S.tcp6.lfd >= 0;
	if (v6) {
		t->port = S.tcp6.port;
		ep_add(S.tcp6.lfd, (void *)((uintptr_t)&S.tcp6 | 1), EPOLLIN);
	} else {
		ntg--;	/* no IPv6 loopback here */
	}
	return v6;
}

/* The first verdicts of the TCP and HTTP targets, and what their probes
 * sent and how long they took. */
static void verdicts_tcp_http(int64_t set_at)
{
	struct xlb_health_report r;
	int err;

	expect("tcp-up", "UH", "connected");
	expect("tcp-closed", "UX", "connect: Connection refused");
	{
		const struct trans *x = nth("tcp-closed", 0);

		/* The third probe is due two periods after the first, which is
		 * due no sooner than the set. */
		check(x && !strcmp(x->why, "3 consecutive failures: connect: Connection refused") &&
			      x->probes == 3 && x->at_ms - set_at >= 200,
		      "tcp-closed: unhealthy at its 3rd probe (%llu), no sooner than 2 periods after "
		      "the set (%lld ms), why \"%s\"", x ? (unsigned long long)x->probes : 0ULL,
		      x ? (long long)(x->at_ms - set_at) : -1LL, x ? x->why : "");
	}
	expect("http-200", "UH", "HTTP 200 OK");
	{
		char want[256];

		snprintf(want, sizeof(want),
			 "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUser-Agent: xlb-health/1\r\n"
			 "Connection: close\r\n\r\n", S.ok200.port);
		check(saw_request(&S.ok200, want), "http-200: the request is exactly GET, Host addr:port, "
						  "User-Agent, Connection: close");
		check(saw_request(&S.ok200, "GET /ready?x=1 HTTP/1.1\r\nHost: web.example\r\n"
					  "User-Agent: xlb-health/1\r\nConnection: close\r\n\r\n"),
		      "http-host: the Host header is the spec's http_host");
	}
	expect("http-host", "UH", "HTTP 200");
	expect("http-500", "UX", "HTTP 500 Internal Server Error");
	expect("tcp-on-500", "UH", "connected");
	expect("http-silent", "UX", "read: timeout after 250 ms");
	err = get("http-silent", &r);
	check(!err && r.last_latency_us >= 250000 && r.last_latency_us < (250 + LATE_MS) * 1000,
	      "http-silent: the probe gave up at its 250 ms timeout (%u us)", r.last_latency_us);
	check(S.silent.max_alive == 1,
	      "http-silent: never more than one probe in flight (timeout 250 ms > period 100 ms): "
	      "at most %d open at once", S.silent.max_alive);
	{
		int64_t ran = now_ms() - set_at;

		/* One at a time, each its full 250 ms: the k-th ends no sooner
		 * than k x 250 ms after the set, whatever the period says. */
		err = get("http-silent", &r);
		check(!err && r.probes >= 3 && (int64_t)r.probes <= ran / 250,
		      "http-silent: a probe that overran its period is not stacked on by one per "
		      "period: %llu in %lld ms (at most one per 250 ms timeout)",
		      (unsigned long long)r.probes, (long long)ran);
	}
	expect("http-body-ok", "UH", "body matched");
	expect("http-body-missing", "UX", "body does not contain \"nope\"");
	expect("http-302", "UH", "HTTP 302");
	expect("http-103", "UH", "HTTP 200");
	expect("http-garbage", "UX", "malformed status line");
	expect("http-big-headers", "UX", "headers too large");
}

/* The first verdicts of the exec targets: exit codes, output, timeouts,
 * and no process left behind. */
static void verdicts_exec(void)
{
	struct xlb_health_report r;
	int err;

	expect("exec-true", "UH", "exit 0");
	expect("exec-false", "UX", "exit 1");
	expect("exec-in-path", "UH", "exit 0");
	expect("exec-not-found", "UX", "not found");
	expect("exec-sleep", "UX", "exec: timeout after 300 ms, killed with all it started");
	err = get("exec-sleep", &r);
	check(!err && r.last_latency_us >= 300000 && r.last_latency_us < (300 + LATE_MS) * 1000,
	      "exec-sleep: /bin/sleep 10 killed at its 300 ms timeout (%u us), not after 10 s",
	      r.last_latency_us);
	{
		const struct trans *x = nth("exec-sleep", 0);

		check(x && sleep_gone_at && sleep_gone_at - x->at_ms <= LATE_MS,
		      "exec-sleep: no sleep child left after the timeout, alive or zombie (gone %lld "
		      "ms after it)", x && sleep_gone_at ? (long long)(sleep_gone_at - x->at_ms) : -1LL);
	}
	expect("exec-env", "UH", "exit 0: env-ok");
	expect("exec-output", "UX", "exit 3: something bad");
	{
		const struct trans *x = nth("exec-output", 0);

		check(x && strstr(x->why, "3 consecutive failures: exit 3: something bad"),
		      "exec-output: the reason carries the output: \"%s\"", x ? x->why : "");
	}
	expect("exec-chatty", "UX", "exit 4: xlb xlb xlb");
	err = get("exec-chatty", &r);
	check(!err && r.probes >= 5 && strlen(r.last_result) == sizeof(r.last_result) - 1,
	      "exec-chatty: 300 KB of output drained, kept truncated (%llu probes, %zu chars)",
	      (unsigned long long)r.probes, strlen(r.last_result));
	expect("exec-leftover", "UH", "exit 0");
	{
		const struct trans *x = nth("exec-leftover", 0);

		check(x && leftover_gone_at && leftover_gone_at - x->at_ms <= LATE_MS,
		      "exec-leftover: a backgrounded child dies with the probe, pid 1 of its namespace "
		      "(gone %lld ms after it)",
		      x && leftover_gone_at ? (long long)(leftover_gone_at - x->at_ms) : -1LL);
	}
}

/* A server goes down, then comes back. A probe in flight when it does may
 * still end as before, so the transition takes the threshold's probes or
 * one more; the engine says how many failed. */
static void flap_case(void)
{
	struct xlb_health_report r;
	int64_t down_at, up_at;
	bool ok;

	get("flap", &r);
	close(S.flap.lfd);
	down_at = now_ms();
	ok = run_until_done(flap_down, WAIT_MS);
	check_flap(1, ok, r.probes, down_at, "2 consecutive failures: connect: Connection refused",
		   "unhealthy at the 2nd failure after going down");
	for (int i = 0; i < 50; i++) {
		S.flap.lfd = listen_on("127.0.0.1", S.flap.port, NULL);
		if (S.flap.lfd >= 0)
			break;
		usleep(1000);	/* the port may be briefly someone's source port */
	}
	ep_add(S.flap.lfd, (void *)((uintptr_t)&S.flap | 1), EPOLLIN);
	get("flap", &r);
	up_at = now_ms();
	ok = run_until_done(flap_up, WAIT_MS);
	expect("flap", "UH,HX,XH", "connected");
	check_flap(2, ok, r.probes, up_at, "2 consecutive successes: connected",
		   "healthy at the 2nd success after coming back");
}

/* What a new set of targets does: a changed spec starts over, a bad
 * target or a duplicate changes nothing, an empty set ends everything. */
static void set_cases(void)
{
	struct xlb_health_target *t;
	struct xlb_health_report r;
	int err, n, z;

	/* ---- a changed spec is a new target */
	t = find_target("tcp-up");
	t->spec.period_ms = 150;
	err = xlb_health_set_targets(H, tg, (size_t)ntg);
	if (!err)
		err = get("tcp-up", &r);
	check(!err && r.verdict == XLB_HV_UNKNOWN && r.probes == 0,
	      "a changed spec starts over: UNKNOWN, 0 probes");
	run_until_done(tcp_up_again, WAIT_MS);
	expect("tcp-up", "UH,UH", "connected");

	/* ---- a bad target changes nothing */
	t = add_target("bad", XLB_HC_HTTP, S.tcp.port);
	snprintf(t->spec.http_path, sizeof(t->spec.http_path), "no-slash");
	err = xlb_health_set_targets(H, tg, (size_t)ntg);
	get("tcp-up", &r);
	check(err == -EINVAL && r.verdict == XLB_HV_HEALTHY,
	      "a bad target is refused (%d) and the running set is untouched", err);
	ntg--;
	tg[ntg] = tg[0];	/* a duplicate */
	err = xlb_health_set_targets(H, tg, (size_t)ntg + 1);
	check(err == -EINVAL, "a duplicate target is refused (%d)", err);

	/* ---- remove everything: sockets closed, children killed and reaped */
	check(!xlb_health_set_targets(H, NULL, 0), "set_targets: empty set");
	check(get("tcp-up", &r) == -ENOENT, "removed targets are gone (ENOENT)");
	n = ntrans;
	run_until(now_ms() + 300);
	check(ntrans == n, "removed targets report nothing");
	children(&n, &z, "", NULL);
	check(n == 0 && z == 0, "no child left after removal (%d children, %d zombies)", n, z);
}

/* A running exec probe removed: killed and reaped. */
static void exec_removed_case(void)
{
	struct xlb_health_target *t;
	int n, z;

	ntg = 0;
	t = add_target("exec-running", XLB_HC_EXEC, 1);
	set_argv(t, 2, "/bin/sleep", "30");
	t->spec.period_ms = 50;
	t->spec.timeout_ms = 20000;
	xlb_health_set_targets(H, tg, 1);
	run_until_done(sleep_runs, WAIT_MS);
	children(&n, &z, "(sleep)", NULL);
	check(n == 1, "exec-running: the probe's child runs (%d)", n);
	xlb_health_set_targets(H, NULL, 0);
	for (int i = 0; i < 50; i++) {	/* its pid namespace's teardown */
		run_until(now_ms() + 100);
		children(&n, &z, "", NULL);
		if (!n)
			break;
	}
	check(n == 0, "exec-running: removed while running, killed and reaped (%d children)", n);
}

/* A stalled daemon: every target overdue at once. */
static void stall_case(void)
{
	struct xlb_health_report r;
	int fresh = 0, healthy = 0;
	int64_t t1;

	stall_t = calloc(STALL_N, sizeof(*stall_t));
	stall_before = calloc(STALL_N, sizeof(*stall_before));
	for (int i = 0; i < STALL_N; i++) {
		snprintf(stall_t[i].service, sizeof(stall_t[i].service), "stall-%d", i);
		xlb_ip_parse("127.0.0.1", &stall_t[i].addr);
		stall_t[i].port = S.tcp.port;
		stall_t[i].spec.kind = XLB_HC_TCP;
		stall_t[i].spec.period_ms = 200;
		stall_t[i].spec.timeout_ms = 5000;	/* no timeout in question here */
	}
	check(!xlb_health_set_targets(H, stall_t, STALL_N), "stall: %d targets at 200 ms",
	      STALL_N);
	check(run_until_done(stall_probed, WAIT_MS), "stall: every target probed once");
	for (int i = 0; i < STALL_N; i++) {
		xlb_health_get(H, stall_t[i].service, &stall_t[i].addr, stall_t[i].port, &r);
		stall_before[i] = r.probes;
	}
	usleep(700 * 1000);	/* the daemon's loop is busy elsewhere */
	t1 = now_ms();
	run_until_done(stall_probed, WAIT_MS);
	t1 = now_ms() - t1;
	for (int i = 0; i < STALL_N; i++) {
		xlb_health_get(H, stall_t[i].service, &stall_t[i].addr, stall_t[i].port, &r);
		fresh += r.probes > stall_before[i];
		healthy += r.verdict == XLB_HV_HEALTHY && r.failures == 0;
	}
	/* Overdue, each is probed at once, not a period later. */
	check(fresh == STALL_N && healthy == STALL_N && t1 <= 200 + LATE_MS,
	      "stall: after 700 ms without dispatch, all %d targets probed again, %d did, "
	      "within a period (%lld ms), all healthy (%d)", STALL_N, fresh, (long long)t1,
	      healthy);
	xlb_health_set_targets(H, NULL, 0);
	free(stall_before);
	free(stall_t);
}

/* The sandboxes' cgroups removed with them. */
static void cgroups_gone(const char *cg_iso, const char *cg_node)
{
	static const char *const ctrl[] = { "pids", "memory", "cpu" };
	char mnt[256], path[400];
	int left = 0;
	bool v2;

	for (int i = 0; i < 3; i++) {
		cgroup_mount(ctrl[i], mnt, sizeof(mnt), &v2);
		snprintf(path, sizeof(path), "%s%s", mnt, cg_iso);
		left += !access(path, F_OK);
		snprintf(path, sizeof(path), "%s%s", mnt, cg_node);
		left += !access(path, F_OK);
	}
	check(!left, "the sandboxes' cgroups are gone (%d left)", left);
}

/* When probes ran: after the initial delay, one per period. */
static void verdicts_timing(int64_t set_at, bool v6)
{
	struct xlb_health_report r;
	int err;

	{
		const struct trans *x = nth("tcp-delay", 0);

		check(x && x->probes == 1 && x->at_ms - set_at >= 700,
		      "tcp-delay: first verdict at its first probe, after the initial delay (%lld ms)",
		      x ? (long long)(x->at_ms - set_at) : -1LL);
	}
	if (v6)
		expect("tcp6-up", "UH", "connected");
	{
		int64_t ran = now_ms() - set_at;

		/* The k-th probe is due k-1 periods after the first. */
		err = get("tcp-up", &r);
		check(!err && r.probes >= 12 && (int64_t)r.probes <= 1 + ran / 100 && r.failures == 0,
		      "tcp-up: a 100 ms period: %llu probes in %lld ms, none sooner than its period",
		      (unsigned long long)r.probes, (long long)ran);
	}
}

/* The same set again: nothing restarts. */
static void same_set_case(void)
{
	struct xlb_health_report r, r2;
	int err, n;

	get("tcp-up", &r);
	n = ntrans;
	check(!xlb_health_set_targets(H, tg, (size_t)ntg), "set_targets: the same set again");
	err = get("tcp-up", &r2);
	check(!err && r2.verdict == XLB_HV_HEALTHY && r2.probes == r.probes &&
		      r2.last_transition_ms == r.last_transition_ms,
	      "kept targets keep verdict, counters and transition time");
	run_until(now_ms() + 300);
	check(ntrans == n, "no transition from re-setting the same targets (%d new)", ntrans - n);
}

/* The servers listening, on the test's epoll. */
static void servers_start(void)
{
	int n;

	/* 20 KiB of headers: more than the probe keeps. */
	n = snprintf(bighdr, sizeof(bighdr), "HTTP/1.1 200 OK\r\n");
	while (n < 20 * 1024)
		n += snprintf(bighdr + n, sizeof(bighdr) - (size_t)n, "X-Filler: %0100d\r\n", 0);
	snprintf(bighdr + n, sizeof(bighdr) - (size_t)n, "\r\n");

	epfd = epoll_create1(EPOLL_CLOEXEC);
	for (size_t i = 0; i < N_SERVERS; i++)
		srv_start(servers[i]);
}

/* Exec probes' sandboxes: an isolated network and the node's. */
static bool sandboxes_new(const char *cg_iso, const char *cg_node, struct xlb_sandbox **sb_iso,
			  struct xlb_sandbox **sb_node)
{
	struct xlb_sandbox_opts so = { .cgroup = cg_iso };
	char serr[512];
	int err;

	err = xlb_sandbox_new(&so, sb_iso, serr, sizeof(serr));
	check(!err, "sandbox for exec probes: %s", err ? serr : xlb_sandbox_describe(*sb_iso));
	so.cgroup = cg_node;
	so.node_net = true;
	err = xlb_sandbox_new(&so, sb_node, serr, sizeof(serr));
	check(!err, "sandbox for exec probes: %s", err ? serr : xlb_sandbox_describe(*sb_node));
	return *sb_iso && *sb_node;
}

/* The servers' sockets closed and what they kept freed. */
static void servers_close(bool v6)
{
	for (size_t i = 0; i < N_SERVERS; i++) {
		close(servers[i]->lfd);
		for (int j = 0; j < servers[i]->nheld; j++)
			close(servers[i]->held[j]);
		for (int j = 0; j < servers[i]->nreqs; j++)
			free(servers[i]->reqs[j]);
	}
	if (v6)
		close(S.tcp6.lfd);
}

int main(void)
{
	struct xlb_health_report r;
	struct xlb_sandbox *sb_iso = NULL, *sb_node = NULL;
	char cg_iso[64], cg_node[64];
	uint16_t closed;
	int closed_fd, err, n, z, nsnap;
	char fd_snap[16][160];
	int64_t set_at;
	bool v6;

	signal(SIGPIPE, SIG_IGN);
	{
		struct rlimit rl;	/* the stall case holds ~1,500 sockets */

		if (!getrlimit(RLIMIT_NOFILE, &rl)) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	xlb_log_set_level(getenv("V") ? XLB_LOG_DEBUG : XLB_LOG_WARN);
	t0_ms = mono_ms();

	servers_start();
	closed_fd = closed_port(&closed);

	nsnap = engine_fds((const struct srv *const *)servers, N_SERVERS, fd_snap, 16, true);
	err = xlb_health_new(on_change, NULL, &H);
	if (err) {
		fprintf(stderr, "xlb_health_new: %s\n", strerror(-err));
		return 2;
	}
	/* Exec probes run sandboxed, in cgroups of this run's own. */
	snprintf(cg_iso, sizeof(cg_iso), "/xlb-health-test-%d", (int)getpid());
	snprintf(cg_node, sizeof(cg_node), "/xlb-health-test-%d-node", (int)getpid());
	if (!sandboxes_new(cg_iso, cg_node, &sb_iso, &sb_node)) {
		printf("%d passed, %d failed\n", passed, failed);
		return 1;
	}
	xlb_health_set_sandbox(H, sb_iso);
	ep_add(xlb_health_fd(H), NULL, EPOLLIN);

	v6 = main_targets(closed);

	set_at = now_ms();
	err = xlb_health_set_targets(H, tg, (size_t)ntg);
	check(!err, "set_targets: %d targets accepted (%d)", ntg, err);
	check(xlb_health_get(H, "not-probed", &tg[0].addr, S.tcp.port, &r) == -ENOENT,
	      "a target of kind none is not probed (ENOENT)");
	err = get("tcp-up", &r);
	check(!err && r.verdict == XLB_HV_UNKNOWN && r.probes == 0,
	      "a new target is UNKNOWN before its first probe");

	tick_hook = gone_hook;
	check(run_until_done(main_settled, WAIT_MS),
	      "every target reached its first verdict, with enough probes to judge (%lld ms)",
	      (long long)(now_ms() - set_at));

	verdicts_tcp_http(set_at);
	verdicts_exec();
	verdicts_timing(set_at, v6);
	same_set_case();
	flap_case();
	set_cases();
	tcp_modes(S.tcp.port, closed);
	exec_removed_case();
	sandbox_cases(sb_iso, false);
	sandbox_cases(sb_node, true);
	xlb_health_set_sandbox(H, sb_iso);

	stall_case();

	/* Freeing with a probe running: killed and reaped too. */
	xlb_health_set_targets(H, tg, 1);
	run_until(now_ms() + 200);
	epoll_ctl(epfd, EPOLL_CTL_DEL, xlb_health_fd(H), NULL);
	xlb_health_free(H);
	children(&n, &z, "", NULL);
	check(n == 0, "xlb_health_free: running children killed and reaped (%d children)", n);
	xlb_sandbox_free(sb_iso);
	xlb_sandbox_free(sb_node);
	cgroups_gone(cg_iso, cg_node);

	n = engine_fds((const struct srv *const *)servers, N_SERVERS, fd_snap, nsnap, false);
	check(n == 0, "no fd left by the engine: pidfd, timerfd, pipe, epoll, probe socket (%d)", n);

	servers_close(v6);
	close(closed_fd);
	close(epfd);

	printf("1..%d\n%d passed, %d failed\n", passed + failed, passed, failed);
	return failed ? 1 : 0;
}
