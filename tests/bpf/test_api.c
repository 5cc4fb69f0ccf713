// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The dataplane library seen from the packets: invalid service updates
 * are refused with a negative errno and change nothing (the service list
 * and the forwarding stay as they were), and pinned maps carry services
 * and conntrack across a close and re-open.
 */
#include "flow.h"	/* first: it sets _GNU_SOURCE */

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

static struct xlb_dp *dp;

#define CLIENT		"10.10.1.2"
#define VIP		"10.96.0.10"
#define BE		"10.20.1.2"
#define ISN_C		0x11223344u
#define ISN_B		0x55667788u

/* A client packet 10.10.1.2:sport -> vip:80: SYN, or ACK with 20 bytes. */
static struct pkt_desc client_pkt(const char *vip, uint16_t sport, bool syn)
{
	struct pkt_desc d = {
		.eth_dst = MAC_NODE, .eth_src = MAC_CLIENT,
		.saddr = CLIENT, .daddr = vip, .ip_id = 0x4242, .ttl = 61, .frag = PKT_IP_DF,
		.proto = IPPROTO_TCP, .sport = sport, .dport = 80,
		.tcp_flags = syn ? PKT_SYN : PKT_ACK, .seq = syn ? ISN_C : ISN_C + 1,
		.ack = syn ? 0 : ISN_B + 1, .window = 502, .payload_len = syn ? 0 : 20,
	};
	return d;
}

/* Send d and return the index in be[0..n) of the backend it was DNATed to
 * (checked byte for byte), or -1 (with the output dumped) if none. */
static int dnat_to(const struct pkt_desc *in, const struct xlb_backend_spec *be, size_t n)
{
	struct pkt_desc d = *in;
	uint8_t buf[PKT_MAX], exp[PKT_MAX];
	char addr[INET_ADDRSTRLEN];
	struct xt_run r;
	size_t len;
	int i;

	len = xt_build(&d, buf);
	xt_run(dp, buf, len, 0, &r);
	i = xt_backend_of(&r, be, n);
	if (i < 0) {
		print_error("%s:%u -> %s:%u: %s, not DNATed to a backend\n", d.saddr, d.sport, d.daddr,
			    d.dport, xt_verdict_name(r.verdict));
		pkt_hexdump(stderr, "got", r.out, r.len, buf, len);
		return -1;
	}
	d.daddr = inet_ntop(AF_INET, be[i].addr.addr.a8, addr, sizeof(addr));
	d.dport = (uint16_t)be[i].port;
	len = xt_build(&d, exp);
	xt_expect("DNAT", &r, XDP_PASS, exp, len);
	return i;
}

/* What xlb_dp_service_list returned. */
struct listing {
	int n;
	struct xlb_service_spec spec[8];
	size_t n_be[8];
	struct xlb_backend_spec be[8][8];
};

static int list_cb(const struct xlb_dp_service *s, void *arg)
{
	struct listing *l = arg;
	size_t i;

	if (l->n < 8) {
		l->spec[l->n] = s->spec;
		l->n_be[l->n] = s->n_backends;
		for (i = 0; i < s->n_backends && i < 8; i++)
			l->be[l->n][i] = s->backends[i];
	}
	l->n++;
	return 0;
}

/* The dataplane lists exactly svc with be[0..n) (in any order). */
static void expect_listing(const struct xlb_service_spec *svc, const struct xlb_backend_spec *be,
			   size_t n)
{
	struct listing l;
	size_t i, j;
	int ret;

	memset(&l, 0, sizeof(l));
	ret = xlb_dp_service_list(dp, list_cb, &l);
	if (ret)
		fail_msg("xlb_dp_service_list: %d", ret);
	if (l.n != 1)
		fail_msg("%d services listed, expected 1", l.n);
	if (!xlb_ip_equal(&l.spec[0].vip, &svc->vip) || l.spec[0].port != svc->port ||
	    l.spec[0].proto != svc->proto || l.spec[0].algo != svc->algo ||
	    l.spec[0].type != svc->type)
		fail_msg("listed service is not %s (port %u proto %u algo %d type %d)", svc->name,
			 l.spec[0].port, l.spec[0].proto, l.spec[0].algo, l.spec[0].type);
	if (l.n_be[0] != n)
		fail_msg("%zu backends listed, expected %zu", l.n_be[0], n);
	for (i = 0; i < n; i++) {
		for (j = 0; j < n; j++)
			if (xlb_ip_equal(&l.be[0][j].addr, &be[i].addr) && l.be[0][j].port == be[i].port)
				break;
		if (j == n)
			fail_msg("backend %zu (port %u) is not listed", i, be[i].port);
		if (l.be[0][j].weight != be[i].weight)
			fail_msg("backend %zu listed with weight %u, expected %u", i,
				 l.be[0][j].weight, be[i].weight);
	}
}

/* 16. Invalid updates. The good state: VIP:80/tcp rr -> 10.20.1.2:8080,
 * and flow 10.10.1.2:40000 established to it. */
static struct xlb_service_spec good_svc;
static struct xlb_backend_spec good_be;

struct bad_case {
	const char *desc;
	/* Turn the good service and one backend into the bad request. */
	void (*mk)(struct xlb_service_spec *s, struct xlb_backend_spec *b, size_t *n);
};

static void mk_svc_port_0(struct xlb_service_spec *s, struct xlb_backend_spec *b, size_t *n)
{
	s->port = 0;
}

static void mk_svc_port_70000(struct xlb_service_spec *s, struct xlb_backend_spec *b, size_t *n)
{
	s->port = 70000;
}

static void mk_be_port_0(struct xlb_service_spec *s, struct xlb_backend_spec *b, size_t *n)
{
	b[0].port = 0;
}

static void mk_be_port_70000(struct xlb_service_spec *s, struct xlb_backend_spec *b, size_t *n)
{
	b[0].port = 70000;
}

static void mk_dup(struct xlb_service_spec *s, struct xlb_backend_spec *b, size_t *n)
{
	b[0] = xt_be("10.20.1.3", 8080, 1);
	b[1] = xt_be("10.20.1.4", 8080, 1);
	b[2] = xt_be("10.20.1.3", 8080, 2);
	*n = 3;
}

static void mk_proto_gre(struct xlb_service_spec *s, struct xlb_backend_spec *b, size_t *n)
{
	s->proto = 47;
}

static void mk_proto_0(struct xlb_service_spec *s, struct xlb_backend_spec *b, size_t *n)
{
	s->proto = 0;
}

static void mk_too_many(struct xlb_service_spec *s, struct xlb_backend_spec *b, size_t *n)
{
	char a[INET_ADDRSTRLEN];
	size_t i;

	for (i = 0; i < XLB_MAX_BACKENDS_PER_SVC + 1; i++) {
		snprintf(a, sizeof(a), "10.21.%zu.%zu", i / 250, i % 250 + 1);
		b[i] = xt_be(a, 8080, 1);
	}
	*n = XLB_MAX_BACKENDS_PER_SVC + 1;
}

static void mk_weight(struct xlb_service_spec *s, struct xlb_backend_spec *b, size_t *n)
{
	b[0].weight = 70000;
}

static void mk_family(struct xlb_service_spec *s, struct xlb_backend_spec *b, size_t *n)
{
	b[1] = xt_be("fd00::2", 8080, 1);
	*n = 2;
}

static void mk_algo(struct xlb_service_spec *s, struct xlb_backend_spec *b, size_t *n)
{
	s->algo = XLB_ALGO_MAX;
}

static void mk_nodeport_0(struct xlb_service_spec *s, struct xlb_backend_spec *b, size_t *n)
{
	s->type = XLB_SVC_NODE_PORT;
	s->node_port = 0;
}

static void mk_nodeport_70000(struct xlb_service_spec *s, struct xlb_backend_spec *b, size_t *n)
{
	s->type = XLB_SVC_NODE_PORT;
	s->node_port = 70000;
}

static void mk_new_svc_bad_be(struct xlb_service_spec *s, struct xlb_backend_spec *b, size_t *n)
{
	s->vip = xt_ip("10.96.0.20");
	b[0] = xt_be("10.20.1.3", 8080, 1);
	b[1] = xt_be("10.20.1.3", 8080, 1);
	*n = 2;
}

static const struct bad_case bad_cases[] = {
	{ "rejects service port 0; nothing changes", mk_svc_port_0 },
	{ "rejects service port 70000; nothing changes", mk_svc_port_70000 },
	{ "rejects backend port 0 on the existing service; nothing changes", mk_be_port_0 },
	{ "rejects backend port 70000 on the existing service; nothing changes", mk_be_port_70000 },
	{ "rejects a duplicate backend (10.20.1.3:8080 twice) on the existing service; nothing changes",
	  mk_dup },
	{ "rejects protocol 47 (GRE); nothing changes", mk_proto_gre },
	{ "rejects protocol 0; nothing changes", mk_proto_0 },
	{ "rejects 513 backends (XLB_MAX_BACKENDS_PER_SVC + 1) on the existing service; nothing changes",
	  mk_too_many },
	{ "rejects backend weight 70000; nothing changes", mk_weight },
	{ "rejects an IPv6 backend on an IPv4 service; nothing changes", mk_family },
	{ "rejects algorithm XLB_ALGO_MAX; nothing changes", mk_algo },
	{ "rejects NodePort 0; nothing changes", mk_nodeport_0 },
	{ "rejects NodePort 70000; nothing changes", mk_nodeport_70000 },
	{ "rejects a new service 10.96.0.20:80 with a duplicate backend; it is not created", mk_new_svc_bad_be },
};

static const char *bad_desc(const void *row)
{
	return ((const struct bad_case *)row)->desc;
}

static void test_bad(void **state)
{
	const struct bad_case *c = *state;
	static struct xlb_backend_spec be[XLB_MAX_BACKENDS_PER_SVC + 8];
	struct xlb_service_spec s = good_svc;
	struct pkt_desc ack = client_pkt(VIP, 40000, false);
	struct pkt_desc syn = client_pkt(VIP, 40100, true);
	char err[256] = "";
	size_t n = 1;
	int ret;

	be[0] = good_be;
	c->mk(&s, be, &n);
	ret = xlb_dp_service_set(dp, &s, be, n, err, sizeof(err));
	print_message("  service_set: %d (%s) \"%s\"\n", ret, ret < 0 ? strerror(-ret) : "", err);
	if (ret >= 0)
		fail_msg("service_set returned %d, expected a negative errno", ret);
	if (!err[0])
		print_error("note: no message in err\n");

	expect_listing(&good_svc, &good_be, 1);
	assert_int_equal(dnat_to(&ack, &good_be, 1), 0);
	assert_int_equal(dnat_to(&syn, &good_be, 1), 0);
	xlb_dp_ct_flush(dp, NULL);
	syn.sport = 40000;
	assert_int_equal(dnat_to(&syn, &good_be, 1), 0);
}

static int bad_setup(void **state)
{
	struct pkt_desc syn = client_pkt(VIP, 40000, true);
	char err[256] = "";

	good_svc = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	good_be = xt_be(BE, 8080, 1);
	dp = xt_dp_open();
	if (!dp)
		return -1;
	if (xlb_dp_service_set(dp, &good_svc, &good_be, 1, err, sizeof(err))) {
		print_error("service_set: %s\n", err);
		return -1;
	}
	return dnat_to(&syn, &good_be, 1) == 0 ? 0 : -1;
}

static int dp_close(void **state)
{
	xlb_dp_close(dp);
	dp = NULL;
	return 0;
}

/* Capacity: past max_services the library refuses with a negative errno
 * and leaves no half-made service behind. */
static void test_capacity(void **state)
{
	struct xlb_dp_opts o = xt_dp_opts("");
	struct xlb_backend_spec be[16];
	struct listing l;
	char vip[INET_ADDRSTRLEN], err[256];
	int i, ret = 0, ok_svcs = 0, limit;

	for (i = 0; i < 16; i++) {
		char a[INET_ADDRSTRLEN];

		snprintf(a, sizeof(a), "10.22.0.%d", i + 1);
		be[i] = xt_be(a, 8080, 1);
	}
	/* Services with one backend each, until the table is full. */
	limit = (int)o.max_services + 8;
	for (i = 0; i < limit; i++) {
		struct xlb_service_spec s;

		snprintf(vip, sizeof(vip), "10.97.%d.%d", i / 250, i % 250 + 1);
		s = xt_svc(vip, 80, IPPROTO_TCP, XLB_ALGO_RR);
		err[0] = 0;
		ret = xlb_dp_service_set(dp, &s, &be[i % 16], 1, err, sizeof(err));
		if (ret)
			break;
		ok_svcs++;
	}
	print_message("  %d services accepted (max_services %u), then %d \"%s\"\n", ok_svcs,
		      o.max_services, ret, err);
	if (ret >= 0)
		fail_msg("%d services accepted with max_services %u", ok_svcs, o.max_services);
	memset(&l, 0, sizeof(l));
	assert_int_equal(xlb_dp_service_list(dp, list_cb, &l), 0);
	assert_int_equal(l.n, ok_svcs + 1);
	{
		/* The refused one has no key: its address is not a service. */
		struct pkt_desc d = client_pkt(vip, 40000, true);
		uint8_t in[PKT_MAX];
		struct xt_run r;
		size_t len = xt_build(&d, in);

		xt_run(dp, in, len, 0, &r);
		xt_expect("SYN to the refused service's address", &r, XDP_PASS, in, len);
	}
	/* The first services still work. */
	{
		struct pkt_desc d = client_pkt("10.97.0.1", 40000, true);

		assert_int_equal(dnat_to(&d, be, 16), 0);
	}
}

/* Capacity: past max_backends the same, and the backend ids of a refused
 * update are not lost: once a service is deleted, the update fits. */
static void test_backend_capacity(void **state)
{
	struct xlb_dp_opts o = xt_dp_opts("");
	static struct xlb_backend_spec be[16][XLB_MAX_BACKENDS_PER_SVC];
	struct xlb_service_spec s[16];
	struct listing l;
	char err[256];
	int i, j, ret = 0, ok_svcs = 0;

	for (i = 0; i < 16; i++) {
		char a[INET_ADDRSTRLEN];

		snprintf(a, sizeof(a), "10.98.0.%d", i + 1);
		s[i] = xt_svc(a, 80, IPPROTO_TCP, XLB_ALGO_RR);
		for (j = 0; j < XLB_MAX_BACKENDS_PER_SVC; j++) {
			snprintf(a, sizeof(a), "10.%d.%d.%d", 100 + i, j / 250, j % 250 + 1);
			be[i][j] = xt_be(a, 8080, 1);
		}
	}
	for (i = 1; i < 16; i++) {
		err[0] = 0;
		ret = xlb_dp_service_set(dp, &s[i], be[i], XLB_MAX_BACKENDS_PER_SVC, err, sizeof(err));
		if (ret)
			break;
		ok_svcs++;
	}
	print_message("  %d services of 512 backends accepted (max_backends %u), then %d \"%s\"\n",
		      ok_svcs, o.max_backends, ret, err);
	if (ret >= 0)
		fail_msg("%d x 512 backends accepted with max_backends %u", ok_svcs, o.max_backends);
	memset(&l, 0, sizeof(l));
	assert_int_equal(xlb_dp_service_list(dp, list_cb, &l), 0);
	assert_int_equal(l.n, ok_svcs + 1);
	{
		struct pkt_desc d = client_pkt(VIP, 40000, true);
		char a[INET_ADDRSTRLEN];
		uint8_t in[PKT_MAX];
		struct xt_run r;
		size_t len;

		snprintf(a, sizeof(a), "10.98.0.%d", i + 1);
		d.daddr = a;
		len = xt_build(&d, in);
		xt_run(dp, in, len, 0, &r);
		xt_expect("SYN to the refused service's address", &r, XDP_PASS, in, len);
	}
	/* Free one service's worth of ids; once they have rested for the
	 * grace period (xt_dp_opts: 20 ms), the refused update fits. */
	err[0] = 0;
	ret = xlb_dp_service_delete(dp, &s[1], err, sizeof(err));
	if (ret)
		fail_msg("service_delete %s: %s (%d)", s[1].name, err, ret);
	usleep(3 * o.grace_ms * 1000);
	err[0] = 0;
	ret = xlb_dp_service_set(dp, &s[i], be[i], XLB_MAX_BACKENDS_PER_SVC, err, sizeof(err));
	if (ret)
		fail_msg("after deleting a service, %s still refused: %s (%d)", s[i].name, err, ret);
}

/* A freed backend id rests for the grace period before anybody gets it:
 * a packet that read it from the old table must not find another
 * backend there. Eight ids (0 is none): seven in use, one freed by
 * removing a backend, and a new backend finds none while the grace runs. */
static void test_id_grace(void **state)
{
	struct xlb_dp_opts o = xt_dp_opts("");
	struct xlb_service_spec svc = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec be[8];
	struct xlb_dp *d;
	char err[256] = "";
	int ret, i;

	for (i = 0; i < 8; i++) {
		char a[INET_ADDRSTRLEN];

		snprintf(a, sizeof(a), "10.20.1.%d", i + 1);
		be[i] = xt_be(a, 8080, 1);
	}
	o.max_backends = 8;
	o.grace_ms = 3600 * 1000;	/* longer than any test runs */
	assert_int_equal(xlb_dp_bpf_open(&o, &d, err, sizeof(err)), 0);
	XT_SVC_SET(d, &svc, be, 7);
	XT_SVC_SET(d, &svc, be, 6);	/* frees be[6]'s id, the only one */
	be[6] = be[7];
	ret = xlb_dp_service_set(d, &svc, be, 7, err, sizeof(err));
	print_message("  a new backend while the only free id rests: %d \"%s\"\n", ret, err);
	assert_int_equal(ret, -ENOSPC);
	xlb_dp_close(d);

	be[6] = xt_be("10.20.1.7", 8080, 1);
	o.grace_ms = 10;
	assert_int_equal(xlb_dp_bpf_open(&o, &d, err, sizeof(err)), 0);
	XT_SVC_SET(d, &svc, be, 7);
	XT_SVC_SET(d, &svc, be, 6);
	be[6] = be[7];
	usleep(30 * 1000);
	XT_SVC_SET(d, &svc, be, 7);		/* after the grace: reused */
	xlb_dp_close(d);
}

/* Contract: on error nothing changed. The node port's entry cannot be
 * written (svc_map full): the service keeps its type, backends and
 * forwarding, and no entry of the update is left behind. */
static void test_nodeport_write_fails(void **state)
{
	struct xlb_service_spec np = good_svc;
	struct xlb_backend_spec nbe = xt_be("10.20.1.3", 8080, 1);
	struct pkt_desc syn = client_pkt(VIP, 40200, true);
	int fd = xlb_dp_bpf_map_fd(dp, "svc_map");
	struct xlb_svc_key k;
	struct xlb_svc_val v = {};
	char err[256] = "";
	uint32_t junk = 0;
	int ret;

	assert_true(fd >= 0);
	memset(&k, 0, sizeof(k));
	k.family = XLB_AF_INET;
	k.proto = IPPROTO_TCP;
	k.port = htons(9);
	do {		/* fill svc_map with keys no packet will use */
		k.addr.a32[0] = htonl(0x7f000100u + junk++);
	} while (!bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST));
	np.type = XLB_SVC_NODE_PORT;
	np.node_port = 30080;
	ret = xlb_dp_service_set(dp, &np, &nbe, 1, err, sizeof(err));
	print_message("  NodePort update with svc_map full: %d \"%s\"\n", ret, err);
	assert_true(ret < 0);
	while (junk--) {
		k.addr.a32[0] = htonl(0x7f000100u + junk);
		bpf_map_delete_elem(fd, &k);
	}
	expect_listing(&good_svc, &good_be, 1);
	assert_int_equal(dnat_to(&syn, &good_be, 1), 0);
	memset(&k, 0, sizeof(k));
	k.family = XLB_AF_INET;
	k.proto = IPPROTO_TCP;
	k.port = htons(30080);
	assert_int_not_equal(bpf_map_lookup_elem(fd, &k, &v), 0);
	/* and the same update goes through once there is room */
	XT_SVC_SET(dp, &np, &nbe, 1);
	XT_SVC_SET(dp, &good_svc, &good_be, 1);
}

/* 17. Pinning. */
static char pin_dir[64];

static int ensure_bpffs(void)
{
	struct statfs st;

	if (!statfs("/sys/fs/bpf", &st) && st.f_type == BPF_FS_MAGIC)
		return 0;
	mkdir("/sys/fs/bpf", 0700);
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, NULL)) {
		print_error("mount bpffs on /sys/fs/bpf: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int pin_setup(void **state)
{
	if (ensure_bpffs())
		return -1;
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/xlb-test-%d", (int)getpid());
	xlb_dp_bpf_unpin(pin_dir);	/* a leftover of a crashed run */
	return 0;
}

static int pin_teardown(void **state)
{
	struct stat st;
	int ret;

	xlb_dp_close(dp);
	dp = NULL;
	ret = xlb_dp_bpf_unpin(pin_dir);
	if (ret)
		print_error("xlb_dp_bpf_unpin %s: %d\n", pin_dir, ret);
	if (!stat(pin_dir, &st)) {
		print_error("%s still exists after unpin\n", pin_dir);
		rmdir(pin_dir);
		return -1;
	}
	return ret;
}

static int count_cb(const struct xlb_ct_entry *e, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

/* The backend's SYN-ACK to client_pkt(vip, sport, true), from be: it must
 * come back from vip:80. */
static void synack(const char *vip, uint16_t sport, const struct xlb_backend_spec *be)
{
	char addr[INET_ADDRSTRLEN];
	struct pkt_desc d = {
		.eth_dst = MAC_NODE, .eth_src = MAC_BACKEND,
		.saddr = inet_ntop(AF_INET, be->addr.addr.a8, addr, sizeof(addr)),
		.daddr = CLIENT, .ip_id = 0x2424, .ttl = 64, .frag = PKT_IP_DF,
		.proto = IPPROTO_TCP, .sport = (uint16_t)be->port, .dport = sport,
		.tcp_flags = PKT_SYN | PKT_ACK, .seq = ISN_B, .ack = ISN_C + 1, .window = 502,
	};
	uint8_t in[PKT_MAX];
	struct pkt_info pi;
	struct xt_run r;
	char why[160];
	size_t len = xt_build(&d, in);
	uint32_t v;

	xt_run(dp, in, len, 0, &r);
	inet_pton(AF_INET, vip, &v);
	if (r.verdict != XT_VERDICT_BACK || pkt_parse(r.out, r.len, &pi, why, sizeof(why)) ||
	    pi.saddr != ntohl(v) || pi.sport != 80)
		fail_msg("SYN-ACK from %s:%u to port %u not sent back from %s:80", d.saddr, d.sport,
			 sport, vip);
}

/* A flow through the whole handshake: SYN, SYN-ACK, ACK. Its backend. */
static int handshake(uint16_t sport, const struct xlb_backend_spec *be, size_t n)
{
	struct pkt_desc syn = client_pkt(VIP, sport, true), ack = client_pkt(VIP, sport, false);
	int i = dnat_to(&syn, be, n);

	if (i < 0)
		fail_msg("SYN from port %u not DNATed", sport);
	synack(VIP, sport, &be[i]);
	assert_int_equal(dnat_to(&ack, be, n), i);
	return i;
}

static void test_pin(void **state)
{
	struct xlb_service_spec svc = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec be[5] = {
		xt_be("10.20.1.1", 8080, 1), xt_be("10.20.1.2", 8080, 1), xt_be("10.20.1.3", 8080, 2),
		xt_be("10.20.1.4", 8080, 1), xt_be("10.20.1.5", 8080, 1),
	};
	struct xlb_backend_spec grown[5] = { be[4], be[3], be[2], be[1], be[0] };
	struct pkt_desc a, b, c = client_pkt(VIP, 40002, true);
	char path[128];
	int ba, bb, n = 0;

	dp = xt_dp_open_at(pin_dir);
	assert_non_null(dp);
	XT_SVC_SET(dp, &svc, be, 3);
	ba = handshake(40000, be, 3);
	bb = handshake(40001, be, 3);
	xlb_dp_close(dp);
	dp = NULL;

	snprintf(path, sizeof(path), "%s/ct4", pin_dir);
	if (access(path, F_OK))
		fail_msg("%s is not pinned after close", path);
	/* An older build's global counters: fewer of them. A new build
	 * replaces that map (counters restart) and adopts everything else. */
	snprintf(path, sizeof(path), "%s/stats", pin_dir);
	assert_int_equal(unlink(path), 0);
	{
		int fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "stats", 4, 8, XLB_STAT_MAX - 1,
					NULL);

		assert_true(fd >= 0);
		assert_int_equal(bpf_obj_pin(fd, path), 0);
		close(fd);
	}

	dp = xt_dp_open_at(pin_dir);
	assert_non_null(dp);
	expect_listing(&svc, be, 3);
	assert_int_equal(xlb_dp_ct_list(dp, count_cb, &n), 0);
	print_message("  %d conntrack entries after re-open\n", n);
	assert_int_equal(n, 4);
	{
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_obj_get(path);

		assert_true(fd >= 0);
		assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
		close(fd);
		assert_int_equal(info.max_entries, 1);
		assert_int_equal(info.value_size, sizeof(struct xlb_stats));
	}
	/* Another table: both flows' next segments still go where their
	 * SYNs went (conntrack adopted, not the table's new choice). */
	XT_SVC_SET(dp, &svc, grown, 5);
	a = client_pkt(VIP, 40000, false);
	b = client_pkt(VIP, 40001, false);
	assert_int_equal(dnat_to(&b, be, 5), bb);
	assert_int_equal(dnat_to(&a, be, 5), ba);
	/* And new flows are still load balanced. */
	assert_true(dnat_to(&c, be, 5) >= 0);
}

struct adopted {
	struct xlb_service_spec spec;
	struct xlb_backend_spec be[4];
	size_t n;
	bool found;
};

static int adopted_cb(const struct xlb_dp_service *s, void *arg)
{
	struct adopted *a = arg;

	if (!xlb_ip_equal(&s->spec.vip, &a->spec.vip) || s->spec.port != a->spec.port)
		return 0;
	assert_int_equal(xlb_service_copy(&a->spec, &s->spec), 0);
	assert_true(s->n_backends <= 4);
	memcpy(a->be, s->backends, s->n_backends * sizeof(*a->be));
	a->n = s->n_backends;
	a->found = true;
	return 0;
}

/* The backend of be[0..n) at b's address, or NULL. */
static const struct xlb_backend_spec *be_at(const struct xlb_backend_spec *be, size_t n,
					    const struct xlb_backend_spec *b)
{
	for (size_t i = 0; i < n; i++)
		if (xlb_ip_equal(&be[i].addr, &b->addr) && be[i].port == b->port)
			return &be[i];
	return NULL;
}

/*
 * What a restart reads back of a LoadBalancer service from the pinned
 * maps: its type, ingress and external IPs, loadBalancerSourceRanges (in
 * any order, an IPv6 one too, which src_ranges6 holds for this alone),
 * internalTrafficPolicy Local, its own lb-mode (snat given, which the
 * node's default snat alone would not tell), and which backends are local
 * or remote. A range of no service (left by a crash) is removed, so that
 * no service given that id later lets its sources in.
 */
static void test_pin_external(void **state)
{
	struct xlb_service_spec svc = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec be[3] = { xt_be("10.20.1.1", 8080, 1), xt_be("10.20.1.2", 8080, 1),
					  xt_be("10.20.1.3", 8080, 1) };
	struct xlb_svc_addrs addrs = {};
	struct adopted got = { .spec = svc };
	struct xlb_src_range_key orphan = { .prefixlen = 32 + 8, .svc_id = 4000,
					    .addr = htonl(0x0a000000) };
	uint32_t one = 1;
	char path[128];
	int fd;

	(void)state;
	svc.type = XLB_SVC_LOAD_BALANCER;
	svc.node_port = 30080;
	svc.int_policy = XLB_POLICY_LOCAL;
	svc.lb_mode = XLB_LB_MODE_SNAT;	/* the node's too: only its own record tells */
	svc.addrs = &addrs;
	addrs.lb_ips[0] = xt_ip("192.0.2.10");
	addrs.lb_ips[1] = xt_ip("192.0.2.11");
	addrs.external_ips[0] = xt_ip("198.51.100.7");
	assert_int_equal(xlb_cidr_parse("172.16.0.0/28", &addrs.source_ranges[0]), 0);
	assert_int_equal(xlb_cidr_parse("10.1.0.0/16", &addrs.source_ranges[1]), 0);
	assert_int_equal(xlb_cidr_parse("203.0.113.9/32", &addrs.source_ranges[2]), 0);
	assert_int_equal(xlb_cidr_parse("2001:db8:7::/48", &addrs.source_ranges[3]), 0);
	svc.n_lb_ips = 2;
	svc.n_external_ips = 1;
	svc.n_source_ranges = 4;
	be[0].local = true;
	be[1].remote = true;	/* be[2]: its node unknown */
	dp = xt_dp_open_at(pin_dir);
	assert_non_null(dp);
	XT_SVC_SET(dp, &svc, be, 3);
	xlb_dp_close(dp);
	dp = NULL;
	snprintf(path, sizeof(path), "%s/src_ranges", pin_dir);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(bpf_map_update_elem(fd, &orphan, &one, BPF_ANY), 0);

	dp = xt_dp_open_at(pin_dir);
	assert_non_null(dp);
	assert_int_equal(xlb_dp_service_list(dp, adopted_cb, &got), 0);
	assert_true(got.found);
	assert_int_equal(got.spec.type, XLB_SVC_LOAD_BALANCER);
	assert_int_equal(got.spec.node_port, 30080);
	assert_int_equal(got.spec.int_policy, XLB_POLICY_LOCAL);
	assert_int_equal(got.spec.ext_policy, XLB_POLICY_CLUSTER);
	assert_int_equal(got.spec.lb_mode, XLB_LB_MODE_SNAT);
	assert_int_equal(got.spec.n_lb_ips, 2);
	assert_int_equal(got.spec.n_external_ips, 1);
	assert_true(xlb_ip_equal(&got.spec.addrs->external_ips[0], &addrs.external_ips[0]));
	assert_int_equal(got.spec.n_source_ranges, 4);
	for (uint32_t i = 0; i < 4; i++) {
		uint32_t j;

		for (j = 0; j < 4; j++)
			if (got.spec.addrs->source_ranges[j].prefix == addrs.source_ranges[i].prefix &&
			    xlb_ip_equal(&got.spec.addrs->source_ranges[j].ip,
					 &addrs.source_ranges[i].ip))
				break;
		if (j == 4)
			fail_msg("source range %u (/%u) not read back", i, addrs.source_ranges[i].prefix);
	}
	assert_int_equal(got.n, 3);
	for (size_t i = 0; i < 3; i++) {
		const struct xlb_backend_spec *b = be_at(got.be, got.n, &be[i]);

		assert_non_null(b);
		assert_int_equal(b->local, be[i].local);
		assert_int_equal(b->remote, be[i].remote);
		assert_false(b->terminating);
	}
	assert_int_not_equal(bpf_map_lookup_elem(fd, &orphan, &one), 0);	/* gone */
	close(fd);
	xlb_service_fini(&got.spec);
}

/*
 * What a restart reads back that the datapath's own state does not tell:
 * internalTrafficPolicy Local with every backend on this node (both
 * policies give the same table), externalTrafficPolicy Local on a
 * LoadBalancer with no external address yet, and each backend's
 * terminating and local_terminating as given: a local endpoint serving
 * while terminating that KEP-1669's fallback keeps selectable for the
 * node-local table only, and one terminating with a weight of 0.
 */
static void test_pin_policies(void **state)
{
	struct xlb_service_spec svc = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec be[3] = { xt_be("10.20.1.1", 8080, 1), xt_be("10.20.1.2", 8080, 1),
					  xt_be("10.20.1.3", 8080, 0) };
	struct adopted got = { .spec = svc };

	(void)state;
	svc.type = XLB_SVC_LOAD_BALANCER;
	svc.int_policy = XLB_POLICY_LOCAL;
	svc.ext_policy = XLB_POLICY_LOCAL;
	for (size_t i = 0; i < 3; i++)
		be[i].local = true;
	be[1].terminating = true;	/* be[1]: local fallback (local_terminating false) */
	be[2].terminating = be[2].local_terminating = true;
	dp = xt_dp_open_at(pin_dir);
	assert_non_null(dp);
	XT_SVC_SET(dp, &svc, be, 3);
	xlb_dp_close(dp);
	dp = NULL;

	dp = xt_dp_open_at(pin_dir);
	assert_non_null(dp);
	assert_int_equal(xlb_dp_service_list(dp, adopted_cb, &got), 0);
	assert_true(got.found);
	assert_int_equal(got.spec.int_policy, XLB_POLICY_LOCAL);
	assert_int_equal(got.spec.ext_policy, XLB_POLICY_LOCAL);
	assert_int_equal(got.n, 3);
	for (size_t i = 0; i < 3; i++) {
		const struct xlb_backend_spec *b = be_at(got.be, got.n, &be[i]);

		assert_non_null(b);
		assert_int_equal(b->weight, be[i].weight);
		assert_int_equal(b->terminating, be[i].terminating);
		assert_int_equal(b->local_terminating, be[i].local_terminating);
		assert_true(b->local);
	}
	xlb_service_fini(&got.spec);
}

/* The flags of the node port's wildcard entry (port, TCP) in dp's svc_map. */
static uint32_t nodeport_flags(struct xlb_dp *d, uint16_t port)
{
	int fd = xlb_dp_bpf_map_fd(d, "svc_map");
	struct xlb_svc_key k;
	struct xlb_svc_val v = {};

	assert_true(fd >= 0);
	memset(&k, 0, sizeof(k));
	k.family = XLB_AF_INET;
	k.proto = IPPROTO_TCP;
	k.port = htons(port);
	assert_int_equal(bpf_map_lookup_elem(fd, &k, &v), 0);
	return v.flags;
}

/* A service of the node's lb-mode (none of its own), written by a process
 * under --lb-mode snat, adopted by one under --lb-mode dsr: read back as
 * snat, so that it differs from the desired spec (the reconcile's cue),
 * and rewritten by DSR; adopted again in dsr, it reads as written. */
static void test_pin_lb_mode(void **state)
{
	struct xlb_service_spec svc = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec be = xt_be("10.20.1.1", 8080, 1);
	struct xlb_dp_opts o = xt_dp_opts(pin_dir);
	struct adopted got = { .spec = svc };
	char err[256] = "";

	(void)state;
	svc.type = XLB_SVC_NODE_PORT;
	svc.node_port = 30080;
	be.remote = true;
	dp = xt_dp_open_at(pin_dir);
	assert_non_null(dp);
	XT_SVC_SET(dp, &svc, &be, 1);
	assert_false(nodeport_flags(dp, 30080) & XLB_SVC_F_DSR);
	xlb_dp_close(dp);
	dp = NULL;

	o.lb_mode_dsr = true;
	assert_int_equal(xlb_dp_bpf_open(&o, &dp, err, sizeof(err)), 0);
	assert_int_equal(xlb_dp_service_list(dp, adopted_cb, &got), 0);
	assert_true(got.found);
	assert_int_equal(got.spec.lb_mode, XLB_LB_MODE_SNAT);
	assert_false(xlb_service_equal(&got.spec, &svc));
	xlb_service_fini(&got.spec);
	XT_SVC_SET(dp, &svc, &be, 1);
	assert_true(nodeport_flags(dp, 30080) & XLB_SVC_F_DSR);
	xlb_dp_close(dp);
	dp = NULL;

	assert_int_equal(xlb_dp_bpf_open(&o, &dp, err, sizeof(err)), 0);
	got = (struct adopted){ .spec = svc };
	assert_int_equal(xlb_dp_service_list(dp, adopted_cb, &got), 0);
	assert_true(got.found);
	assert_int_equal(got.spec.lb_mode, XLB_LB_MODE_DEFAULT);
	xlb_service_fini(&got.spec);
}

static int backend_ids_cb(const struct xlb_dp_service *s, void *arg)
{
	memcpy(arg, s->backend_ids, s->n_backends * sizeof(uint32_t));
	return 0;
}

/*
 * Upgrade from layout 1 (the build before the meta map: one ct_map of
 * 40-byte keys, two entries a flow) with an established flow, then a
 * downgrade attempt. The flow's forward entry names a backend the new
 * build's table would not pick for it: after the upgrade its packets
 * still go there and its replies are still translated.
 */
static void test_upgrade_v1(void **state)
{
	struct xlb_service_spec svc = xt_svc(VIP, 80, IPPROTO_TCP, XLB_ALGO_RR);
	struct xlb_backend_spec be[3] = {
		xt_be("10.20.1.1", 8080, 1), xt_be("10.20.1.2", 8080, 1), xt_be("10.20.1.3", 8080, 1),
	};
	struct pkt_desc ack = client_pkt(VIP, 40000, false);
	uint32_t ids[3], layout_fd_key = 0;
	struct xlb_ct_key_v1 fk = {}, rk = {};
	struct xlb_ct_val_v1 fv = {}, rv = {};
	struct xlb_dp *d2 = NULL;
	char path[128], err[256] = "";
	int fd, pick, old, ret;

	dp = xt_dp_open_at(pin_dir);
	assert_non_null(dp);
	XT_SVC_SET(dp, &svc, be, 3);
	assert_int_equal(xlb_dp_service_list(dp, backend_ids_cb, ids), 0);
	pick = dnat_to(&ack, be, 3);	/* what the table gives this flow */
	assert_true(pick >= 0);
	old = (pick + 1) % 3;		/* the old build chose another one */
	xlb_dp_close(dp);
	dp = NULL;

	/* What layout 1 left pinned: no meta, no ct4/ct_syn, its own ct_map
	 * (not this build's guard). */
	for (const char *const *m = (const char *const[]){ "meta", "ct4", "ct_syn", "ct_map", NULL };
	     *m; m++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, *m);
		assert_int_equal(unlink(path), 0);
	}
	fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "ct_map", sizeof(fk), sizeof(fv), 1024, NULL);
	assert_true(fd >= 0);
	inet_pton(AF_INET, CLIENT, fk.saddr.a8);
	inet_pton(AF_INET, VIP, fk.daddr.a8);
	fk.sport = htons(40000);
	fk.dport = htons(80);
	fk.proto = IPPROTO_TCP;
	fk.family = XLB_AF_INET;
	fv.dir = XLB_CT_FWD;
	fv.state = XLB_CT_ESTABLISHED;
	fv.svc_id = 0;
	fv.backend_id = ids[old];
	fv.backend_gen = 1;
	rk.saddr = be[old].addr.addr;
	rk.daddr = fk.saddr;
	rk.sport = htons(8080);
	rk.dport = fk.sport;
	rk.proto = IPPROTO_TCP;
	rk.family = XLB_AF_INET;
	rv.dir = XLB_CT_REV;
	rv.state = XLB_CT_ESTABLISHED;
	rv.backend_id = ids[old];
	rv.nat_addr = fk.daddr;
	rv.nat_port = htons(80);
	rv.ifindex = 1;		/* lo: where BPF_PROG_TEST_RUN's packets come in */
	rv.flags = 1;		/* layout 1's "next hop cached" */
	memcpy(rv.smac, mac_node, 6);
	memcpy(rv.dmac, mac_client, 6);
	assert_int_equal(bpf_map_update_elem(fd, &fk, &fv, BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(fd, &rk, &rv, BPF_ANY), 0);
	snprintf(path, sizeof(path), "%s/ct_map", pin_dir);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	close(fd);

	dp = xt_dp_open_at(pin_dir);
	assert_non_null(dp);
	{	/* layout 1's ct_map is gone; in its place, a guard a layout-1
		 * build cannot load (a one-entry array) */
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		fd = bpf_obj_get(path);
		assert_true(fd >= 0);
		assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
		close(fd);
		if (info.type != BPF_MAP_TYPE_ARRAY || info.max_entries != 1)
			fail_msg("%s after the upgrade: type %u, %u entries", path, info.type,
				 info.max_entries);
	}
	ack = client_pkt(VIP, 40000, false);
	assert_int_equal(dnat_to(&ack, be, 3), old);
	synack(VIP, 40000, &be[old]);	/* a reply of the flow: translated */
	xlb_dp_close(dp);
	dp = NULL;

	/* A newer layout pinned (a downgrade): refused, clearly, and nothing
	 * of it is touched. */
	snprintf(path, sizeof(path), "%s/meta", pin_dir);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	{
		struct xlb_meta mv = { .layout = XLB_LAYOUT_VERSION + 1 };

		assert_int_equal(bpf_map_update_elem(fd, &layout_fd_key, &mv, BPF_ANY), 0);
	}
	close(fd);
	{
		struct xlb_dp_opts o = xt_dp_opts(pin_dir);

		ret = xlb_dp_bpf_open(&o, &d2, err, sizeof(err));
	}
	print_message("  open over a newer layout: %d \"%s\"\n", ret, err);
	assert_int_equal(ret, -EPROTO);
	assert_null(d2);
	snprintf(path, sizeof(path), "%s/ct4", pin_dir);
	assert_int_equal(access(path, F_OK), 0);
}

int main(void)
{
	const struct CMUnitTest capacity[] = {
		{ "capacity: the service past max_services is refused and leaves no key behind",
		  test_capacity, bad_setup, dp_close, NULL },
		{ "capacity: 512-backend services past max_backends are refused; deleting one frees the ids "
		  "after the grace period", test_backend_capacity, bad_setup, dp_close, NULL },
		{ "backend ids: a freed id is not reused within the grace period, and is after it",
		  test_id_grace, NULL, NULL, NULL },
		{ "contract: the NodePort entry cannot be written (svc_map full): error, nothing changed",
		  test_nodeport_write_fails, bad_setup, dp_close, NULL },
	};
	const struct CMUnitTest pin[] = {
		{ "pinned: service and established flows survive close and re-open (an older counter map is replaced); unpin removes everything",
		  test_pin, pin_setup, pin_teardown, NULL },
		{ "pinned: a LoadBalancer's type, addresses, source ranges (IPv6 too), internal "
		  "policy and backends' nodes are read back; a range of no service is removed",
		  test_pin_external, pin_setup, pin_teardown, NULL },
		{ "pinned: traffic policies no table tells, and backends' terminating flags as "
		  "given, are read back",
		  test_pin_policies, pin_setup, pin_teardown, NULL },
		{ "a service of the node's lb-mode adopted under another --lb-mode: read back as "
		  "written (differs from the desired spec) and rewritten in the new mode",
		  test_pin_lb_mode, pin_setup, pin_teardown, NULL },
		{ "upgrade from layout 1 keeps an established flow (backend and reply translation); "
		  "a newer layout is refused (-EPROTO)",
		  test_upgrade_v1, pin_setup, pin_teardown, NULL },
	};
	int fails;

	xt_init();
	fails = xt_run_table("api: invalid updates change nothing", test_bad, bad_cases,
			     sizeof(bad_cases[0]), sizeof(bad_cases) / sizeof(bad_cases[0]), bad_desc,
			     NULL, NULL, bad_setup, dp_close);
	fails += cmocka_run_group_tests_name("api: capacity", capacity, NULL, NULL);
	fails += cmocka_run_group_tests_name("api: pinning", pin, NULL, NULL);
	return fails ? 1 : 0;
}
