// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Capabilities per thread role. See privs.h for the sets and why. */
#include <errno.h>
#include <linux/securebits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/utsname.h>

#include "util/errmsg.h"
#include "node/privs.h"

#ifndef CAP_BPF
#define CAP_PERFMON 38
#define CAP_BPF 39
#endif

static void add(struct xlb_privs *p, enum xlb_role r, cap_value_t c)
{
	for (size_t i = 0; i < p->n[r]; i++)
		if (p->set[r][i] == c)
			return;
	if (p->n[r] < XLB_PRIVS_MAX)
		p->set[r][p->n[r]++] = c;
}

static bool has(const struct xlb_privs *p, enum xlb_role r, cap_value_t c)
{
	for (size_t i = 0; i < p->n[r]; i++)
		if (p->set[r][i] == c)
			return true;
	return false;
}

/* Before 6.5 (Andrii Nakryiko's "bpf: Move unprivileged checks into
 * map_create() and bpf_prog_load()"), every bpf() command, map reads by
 * fd too, needs CAP_BPF while unprivileged BPF is off. */
static bool map_reads_need_bpf(void)
{
	struct utsname u;
	unsigned int major = 0, minor = 0;
	int off = 1;
	FILE *f = fopen("/proc/sys/kernel/unprivileged_bpf_disabled", "re");

	if (f) {
		if (fscanf(f, "%d", &off) != 1)
			off = 1;
		fclose(f);
	}
	if (!off || uname(&u) || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return off != 0;
	return major < 6 || (major == 6 && minor < 5);
}

void xlb_privs_init(struct xlb_privs *p, bool exec_probes, bool ipvs)
{
	static const cap_value_t main_caps[] = { CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF,
						 CAP_PERFMON, CAP_NET_RAW, CAP_SYS_RESOURCE,
						 CAP_KILL };

	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < sizeof(main_caps) / sizeof(main_caps[0]); i++)
		add(p, XLB_ROLE_MAIN, main_caps[i]);
	if (exec_probes) {
		add(p, XLB_ROLE_MAIN, CAP_SETUID);
		add(p, XLB_ROLE_MAIN, CAP_SETGID);
	}
	add(p, XLB_ROLE_WRITER, CAP_NET_ADMIN);
	add(p, XLB_ROLE_WRITER, CAP_BPF);
	if (!CAP_IS_SUPPORTED(CAP_BPF))
		add(p, XLB_ROLE_WRITER, CAP_SYS_ADMIN);
	if (ipvs)
		add(p, XLB_ROLE_NET, CAP_NET_ADMIN);
	else if (map_reads_need_bpf())
		add(p, XLB_ROLE_NET, CAP_BPF);
	p->noroot = !ipvs;
}

/* Whether the calling thread may change securebits and bounding sets. */
static bool have_setpcap(void)
{
	cap_flag_value_t v = CAP_CLEAR;
	cap_t cur = cap_get_proc();

	if (cur)
		cap_get_flag(cur, CAP_SETPCAP, CAP_EFFECTIVE, &v);
	cap_free(cur);
	return v == CAP_SET;
}

int xlb_privs_lock(const struct xlb_privs *p, char *err, size_t errlen)
{
	unsigned long bits = SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
			     SECBIT_KEEP_CAPS_LOCKED;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return xlb_errf(err, errlen, -errno, "no_new_privs: %s", strerror(errno));
	/* Without CAP_SETPCAP (a container that did not grant it) neither
	 * can change: no_new_privs alone keeps exec from gaining anything. */
	if (!have_setpcap())
		return 0;
	if (p->noroot)
		bits |= SECBIT_NOROOT | SECBIT_NOROOT_LOCKED;
	if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0))
		return xlb_errf(err, errlen, -errno, "securebits: %s", strerror(errno));
	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
		bool keep = false;

		for (int r = 0; r < XLB_ROLE_MAX; r++)
			keep |= has(p, (enum xlb_role)r, c);
		if (!keep && prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, c, 0, 0, 0))
			return xlb_errf(err, errlen, -errno, "bounding set, drop capability %d: %s",
					(int)c, strerror(errno));
	}
	return 0;
}

int xlb_privs_limit(const struct xlb_privs *p, enum xlb_role role)
{
	cap_value_t keep[XLB_PRIVS_MAX];
	size_t n = 0;
	cap_t cur, caps;
	int ret = 0;

	/* The bounding set first: dropping needs CAP_SETPCAP, which goes next.
	 * Without it (xlbd started with a few capabilities only) the bounding
	 * set stays: no_new_privs keeps exec from using it anyway. */
	for (cap_value_t c = 0; c <= CAP_LAST_CAP && have_setpcap(); c++)
		if (!has(p, role, c) && prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, c, 0, 0, 0))
			return -errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return -errno;
	cur = cap_get_proc();
	caps = cap_init();
	if (!cur || !caps) {
		ret = -errno;
		goto out;
	}
	/* Keep only what is held: asking for more fails the whole call. */
	for (size_t i = 0; i < p->n[role]; i++) {
		cap_flag_value_t v = CAP_CLEAR;

		if (CAP_IS_SUPPORTED(p->set[role][i]) &&
		    !cap_get_flag(cur, p->set[role][i], CAP_PERMITTED, &v) && v == CAP_SET)
			keep[n++] = p->set[role][i];
	}
	if ((n && (cap_set_flag(caps, CAP_PERMITTED, (int)n, keep, CAP_SET) ||
		   cap_set_flag(caps, CAP_EFFECTIVE, (int)n, keep, CAP_SET))) ||
	    cap_set_proc(caps))
		ret = -errno;
out:
	cap_free(cur);
	cap_free(caps);
	return ret;
}

struct run {
	const struct xlb_privs *p;
	enum xlb_role role;
	int (*fn)(void *);
	void *arg;
	int ret;
};

static void *run_main(void *arg)
{
	struct run *r = arg;

	r->ret = xlb_privs_limit(r->p, r->role);
	if (!r->ret)
		r->ret = r->fn(r->arg);
	return NULL;
}

int xlb_privs_run(const struct xlb_privs *p, enum xlb_role role, int (*fn)(void *), void *arg)
{
	struct run r = { .p = p, .role = role, .fn = fn, .arg = arg };
	pthread_t t;
	int ret = pthread_create(&t, NULL, run_main, &r);

	if (ret)
		return -ret;
	pthread_join(t, NULL);
	return r.ret;
}

const char *xlb_privs_describe(const struct xlb_privs *p, enum xlb_role role, char *buf,
			       size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < p->n[role] && o + 1 < len; i++) {
		char *name = cap_to_name(p->set[role][i]);

		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "", name ? name : "?");
		cap_free(name);
	}
	if (!buf[0])
		snprintf(buf, len, "none");
	return buf;
}
