// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "ipvs_rules.h"
#include "util/clock.h"

extern char **environ;

#define RUN_TIMEOUT_MS 20000

struct buf {
	char *p;
	size_t len, cap;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 1024) + n;
		char *np = realloc(b->p, cap);

		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

static int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -EINVAL;
	return buf_add(b, tmp, (size_t)n);
}

/* Run argv (PATH lookup) with `in` on stdin; stdout into *out, stderr into
 * errout. Returns the exit status (0..255), -ENOENT when not found, or a
 * negative errno. Bounded in time: the child is killed after 20 s. */
static int run(char *const argv[], const char *in, struct buf *out, struct buf *errout)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	size_t in_off = 0, in_len = in ? strlen(in) : 0;
	int64_t deadline = xlb_clock_ms() + RUN_TIMEOUT_MS;
	pid_t pid;
	int status = 0, ret;

	if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC)) {
		ret = -errno;
		goto close;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	ret = -posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (ret)
		goto close;
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	pin[0] = pout[1] = perr[1] = -1;
	if (!in_len) {
		close(pin[1]);
		pin[1] = -1;
	}
	fcntl(pin[1], F_SETFL, O_NONBLOCK);

	while (pout[0] >= 0 || perr[0] >= 0) {
		struct pollfd p[3] = { { .fd = pout[0], .events = POLLIN },
				       { .fd = perr[0], .events = POLLIN },
				       { .fd = pin[1], .events = POLLOUT } };
		int64_t left = deadline - xlb_clock_ms();
		char tmp[4096];

		if (left <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(p, 3, (int)left) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			int *fd = i ? &perr[0] : &pout[0];
			ssize_t n;

			if (*fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(*fd, tmp, sizeof(tmp));
			if (n > 0)
				buf_add(i ? errout : out, tmp, (size_t)n);
			else if (n == 0 || errno != EINTR) {
				close(*fd);
				*fd = -1;
			}
		}
		if (pin[1] >= 0 && (p[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = write(pin[1], in + in_off, in_len - in_off);

			if (n > 0)
				in_off += (size_t)n;
			if (n < 0 || in_off == in_len) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	ret = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	/* posix_spawnp reports a missing program as exit 127 on glibc */
	if (ret == 127)
		ret = -ENOENT;
close:
	for (int i = 0; i < 2; i++) {
		if (pin[i] >= 0)
			close(pin[i]);
		if (pout[i] >= 0)
			close(pout[i]);
		if (perr[i] >= 0)
			close(perr[i]);
	}
	return ret;
}

static void first_line(const char *s, char *dst, size_t len)
{
	size_t n = 0;

	while (s && s[n] && s[n] != '\n')
		n++;
	snprintf(dst, len, "%.*s", (int)n, s ? s : "");
}

/* The nat table as iptables-save prints it. */
static int save_nat(struct buf *out, char *err, size_t errlen)
{
	char *const argv[] = { "iptables-save", "-t", "nat", NULL };
	struct buf e = {};
	char msg[256];
	int ret = run(argv, NULL, out, &e);

	if (ret) {
		first_line(e.p, msg, sizeof(msg));
		if (err)
			snprintf(err, errlen, "iptables-save -t nat: %s",
				 ret == -ENOENT ? "not installed" : ret < 0 ? strerror(-ret) :
				 msg[0] ? msg : "failed");
		free(e.p);
		return ret < 0 ? ret : -EIO;
	}
	free(e.p);
	return 0;
}

static bool has_line_prefix(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, prefix, n))
			return true;
	return false;
}

static int restore(const char *rules, char *err, size_t errlen, const char *what)
{
	char *const argv[] = { "iptables-restore", "-w", "5", "--noflush", NULL };
	struct buf o = {}, e = {};
	char msg[256];
	int ret = run(argv, rules, &o, &e);

	if (ret) {
		first_line(e.p, msg, sizeof(msg));
		if (err)
			snprintf(err, errlen, "%s: iptables-restore: %s", what,
				 ret == -ENOENT ? "not installed" : ret < 0 ? strerror(-ret) :
				 msg[0] ? msg : "failed");
		ret = ret < 0 ? ret : -EIO;
	}
	free(o.p);
	free(e.p);
	return ret;
}

#define JUMP_PRE  "-A PREROUTING -m comment --comment \"xlb service portals\" -j XLB-SERVICES"
#define JUMP_POST "-A POSTROUTING -m comment --comment \"xlb postrouting rules\" -j XLB-POSTROUTING"

int ipvs_rules_ensure(char *backend, size_t blen, char *err, size_t errlen)
{
	struct buf cur = {}, r = {}, vo = {}, ve = {};
	char *const vargv[] = { "iptables", "--version", NULL };
	int ret;

	if (backend && blen) {
		backend[0] = 0;
		if (!run(vargv, NULL, &vo, &ve))
			first_line(vo.p, backend, blen);
		free(vo.p);
		free(ve.p);
	}
	ret = save_nat(&cur, err, errlen);
	if (ret)
		return ret;
	ret = buf_printf(&r, "*nat\n:XLB-SERVICES - [0:0]\n:XLB-POSTROUTING - [0:0]\n"
			     ":XLB-MARK-MASQ - [0:0]\n");
	ret = ret ?: buf_printf(&r, "-A XLB-MARK-MASQ -j MARK --or-mark 0x%x\n", XLB_IPVS_MASQ_MARK);
	ret = ret ?: buf_printf(&r, "-A XLB-SERVICES -p tcp -m set --match-set XLB-NODE-PORT-TCP dst "
			      "-m addrtype --dst-type LOCAL -m comment --comment \"xlb: NodePort TCP\" "
			      "-j XLB-MARK-MASQ\n");
	ret = ret ?: buf_printf(&r, "-A XLB-SERVICES -p udp -m set --match-set XLB-NODE-PORT-UDP dst "
			      "-m addrtype --dst-type LOCAL -m comment --comment \"xlb: NodePort UDP\" "
			      "-j XLB-MARK-MASQ\n");
	ret = ret ?: buf_printf(&r, "-A XLB-POSTROUTING -m set --match-set XLB-LOOP-BACK dst,dst,src "
			      "-m comment --comment \"xlb: hairpin\" -j MASQUERADE\n");
	ret = ret ?: buf_printf(&r, "-A XLB-POSTROUTING -m mark ! --mark 0x%x/0x%x -j RETURN\n",
			      XLB_IPVS_MASQ_MARK, XLB_IPVS_MASQ_MARK);
	/* clear the bit so a packet leaving again is not masqueraded twice */
	ret = ret ?: buf_printf(&r, "-A XLB-POSTROUTING -j MARK --xor-mark 0x%x\n", XLB_IPVS_MASQ_MARK);
	ret = ret ?: buf_printf(&r, "-A XLB-POSTROUTING -m comment --comment \"xlb: NodePort\" "
			      "-j MASQUERADE\n");
	if (!ret && !has_line_prefix(cur.p, JUMP_PRE))
		ret = buf_printf(&r, "-I%s\n", JUMP_PRE + 2);
	if (!ret && !has_line_prefix(cur.p, JUMP_POST))
		ret = buf_printf(&r, "-I%s\n", JUMP_POST + 2);
	ret = ret ?: buf_printf(&r, "COMMIT\n");
	if (!ret)
		ret = restore(r.p, err, errlen, "install xlb's nat rules");
	free(cur.p);
	free(r.p);
	return ret;
}

int ipvs_rules_remove(char *err, size_t errlen)
{
	static const char *const chains[] = { "XLB-SERVICES", "XLB-POSTROUTING", "XLB-MARK-MASQ" };
	struct buf cur = {}, r = {};
	bool any = false;
	int ret;

	ret = save_nat(&cur, err, errlen);
	if (ret)
		return ret == -ENOENT ? 0 : ret;
	ret = buf_printf(&r, "*nat\n");
	/* every jump into our chains, as iptables-save printed it */
	for (char *l = cur.p; !ret && l && *l;) {
		char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);

		if (!strncmp(l, "-A ", 3) && strncmp(l, "-A XLB-", 7) &&
		    (memmem(l, n, "-j XLB-", 7))) {
			ret = buf_add(&r, "-D", 2) ?: buf_add(&r, l + 2, n - 2) ?: buf_add(&r, "\n", 1);
			any = true;
		}
		l = nl ? nl + 1 : NULL;
	}
	for (size_t i = 0; !ret && i < sizeof(chains) / sizeof(chains[0]); i++) {
		char decl[64];

		snprintf(decl, sizeof(decl), ":%s ", chains[i]);
		if (has_line_prefix(cur.p, decl)) {
			ret = buf_printf(&r, "-F %s\n", chains[i]);
			any = true;
		}
	}
	for (size_t i = 0; !ret && i < sizeof(chains) / sizeof(chains[0]); i++) {
		char decl[64];

		snprintf(decl, sizeof(decl), ":%s ", chains[i]);
		if (has_line_prefix(cur.p, decl))
			ret = buf_printf(&r, "-X %s\n", chains[i]);
	}
	ret = ret ?: buf_printf(&r, "COMMIT\n");
	if (!ret && any)
		ret = restore(r.p, err, errlen, "remove xlb's nat rules");
	free(cur.p);
	free(r.p);
	return ret;
}
