# xlb: one entry point. `make` builds, `make test` runs every test,
# `make demo` runs the lab demo, `make bench` the benchmarks. V=1 for verbose.
.DELETE_ON_ERROR:
.SUFFIXES:

BUILD     ?= build
CC        ?= gcc
CLANG     ?= clang
BPFTOOL   ?= bpftool
ARCH      := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

PKGS      := libbpf libelf zlib libmnl libipset
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS    ?= -O2 -g
CFLAGS    += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	     -Iinclude -Iuser -I$(BUILD) $(PKG_CFLAGS)
LDLIBS    += $(PKG_LIBS) -lm

BPF_CFLAGS := -O2 -g -target bpf -Werror -Wall -D__TARGET_ARCH_$(ARCH) \
	      -Iinclude -Ibpf -I/usr/include/$(shell uname -m)-linux-gnu

SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# Two libraries. libxlb.a: what needs no gRPC (model, reconciler, netlink,
# both dataplanes); tools and the datapath tests link it alone.
# libxlb-control.a: the control plane over it (core, API, store, protobuf
# conversion, metrics, health checks, manifests, the CLI's commands).
MODEL_SRCS := user/log.c $(wildcard user/model/*.c user/util/*.c user/reconcile/*.c)
DP_SRCS    := $(wildcard user/dataplane/*/*.c)
LIB_SRCS   := $(MODEL_SRCS) $(wildcard user/netlink/*.c) $(DP_SRCS)
LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/%.o)

# One object per entry file in bpf/: the XDP program (xlb.bpf.c), the
# socket programs (sock.bpf.c), the pod veth programs (tc_pod.bpf.c), the
# UDP socket iterator (sock_destroy.bpf.c). Skeletons: xlb.skel.h and
# xlb_NAME.skel.h for the others.
BPF_ENTRIES := xlb sock tc_pod sock_destroy
BPF_OBJ    := $(BPF_ENTRIES:%=$(BUILD)/%.bpf.o)
SKEL       := $(BUILD)/xlb.skel.h $(patsubst %,$(BUILD)/xlb_%.skel.h,$(filter-out xlb,$(BPF_ENTRIES)))

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
UNIT_SAN_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit-san/%)
BPFT_SRCS  := $(wildcard tests/bpf/test_*.c)
BPFT_BINS  := $(BPFT_SRCS:tests/bpf/%.c=$(BUILD)/tests/bpf/%)

TOOLS      := $(BUILD)/xlb-dp

# The control plane: gRPC core C API + protobuf-c, libyaml, libcap, libmnl.
PROTO      := user/api/proto/xlb.proto
PROTO_GEN  := $(BUILD)/gen/xlb.pb-c.c
CP_PKGS    := grpc libprotobuf-c yaml-0.1 jansson libcap libmnl libmicrohttpd libseccomp
CP_CFLAGS  := $(shell pkg-config --cflags $(CP_PKGS) 2>/dev/null) -I$(BUILD)/gen
CP_LIBS    := -Wl,--as-needed $(shell pkg-config --libs $(CP_PKGS) 2>/dev/null) -lpthread
CP_DIRS    := core node api convert store metrics health svchealth k8s ctl
CP_SRCS    := $(wildcard $(CP_DIRS:%=user/%/*.c))
CP_OBJS    := $(CP_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/xlb.pb-c.o
CP_LIB     := $(BUILD)/libxlb-control.a
PROGS      := $(BUILD)/xlbd $(BUILD)/xlbctl

# Header dependencies: every compile writes a .d file next to its output
# (-MMD -MP); they are included at the end. Generated headers are
# order-only prerequisites: needed before the first compile, and tracked by
# the .d files after it.
DEPFLAGS   := -MMD -MP
# A program compiled and linked in one step: its .d file is hidden beside
# it, so that globs over a folder of test programs see programs only.
LINK_DEPFLAGS = $(DEPFLAGS) -MF $(@D)/.$(@F).d

.PHONY: all deps test unit unit-san bpftest fuzz fuzz-dp prev e2e demo bench clean install vmtest vmimage
all: $(BPF_OBJ) $(SKEL) $(BUILD)/libxlb.a $(TOOLS) $(PROGS)

deps:
	$(Q)bash scripts/install-deps.sh

$(BUILD)/%.bpf.o: bpf/%.bpf.c
	$(call msg,BPF,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(notdir $*) > $@

$(BUILD)/xlb_%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name xlb_$(notdir $*) > $@

$(DP_SRCS:%.c=$(BUILD)/%.o): | $(SKEL)

$(BUILD)/user/%.o: user/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/san/user/%.o: user/%.c | $(PROTO_GEN)
	$(call msg,CC-SAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(CP_CFLAGS) $(SAN_FLAGS) $(DEPFLAGS) -c $< -o $@

$(PROTO_GEN) $(PROTO_GEN:.c=.h) &: $(PROTO)
	$(call msg,PROTOC,$@)
	@mkdir -p $(@D)
	$(Q)protoc-c --proto_path=$(dir $(PROTO)) --c_out=$(@D) $(PROTO)

$(BUILD)/gen/xlb.pb-c.o: $(PROTO_GEN)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(CP_CFLAGS) -Wno-error -c $< -o $@

$(CP_SRCS:%.c=$(BUILD)/%.o): | $(PROTO_GEN)
$(CP_SRCS:%.c=$(BUILD)/%.o): CFLAGS += $(CP_CFLAGS)

$(CP_LIB): $(CP_OBJS)
	$(call msg,AR,$@)
	$(Q)ar rcs $@ $^

$(PROGS): $(BUILD)/%: user/%.c $(CP_LIB) $(BUILD)/libxlb.a | $(PROTO_GEN)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(CP_CFLAGS) $(LINK_DEPFLAGS) $< $(CP_LIB) $(BUILD)/libxlb.a $(CP_LIBS) $(LDLIBS) -o $@

# API test helpers: a daemon harness (real core, unpinned BPF dataplane, no
# interface) and a check of the C client; tests/api/test_api.py uses them.
API_TEST_BINS := $(BUILD)/api-harness $(BUILD)/api-client-check

$(BUILD)/api-harness: tests/api/harness.c
$(BUILD)/api-client-check: tests/api/client_check.c
$(API_TEST_BINS): $(CP_LIB) $(BUILD)/libxlb.a | $(PROTO_GEN)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(CP_CFLAGS) $(LINK_DEPFLAGS) $(filter %.c,$^) $(CP_LIB) $(BUILD)/libxlb.a $(CP_LIBS) $(LDLIBS) -o $@

$(BUILD)/libxlb.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)ar rcs $@ $^

$(BUILD)/xlb-dp: tools/xlb-dp.c $(BUILD)/libxlb.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LINK_DEPFLAGS) $< $(BUILD)/libxlb.a $(LDLIBS) -o $@

# Unit tests link the parts that need no kernel: model, util, k8s, health,
# the protobuf conversion and the store (with the generated protobuf).
PURE_SRCS  := $(MODEL_SRCS) $(wildcard user/k8s/*.c user/health/*.c user/convert/*.c user/store/*.c \
	      user/svchealth/*.c) user/api/authz.c user/netlink/nhfilter.c
PURE_OBJS  := $(PURE_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/xlb.pb-c.o
PURE_SAN_OBJS := $(PURE_SRCS:%.c=$(BUILD)/san/%.o) $(BUILD)/san/gen/xlb.pb-c.o
UNIT_LIBS  := -lcmocka $(shell pkg-config --libs yaml-0.1 jansson libprotobuf-c libseccomp \
	      libmicrohttpd libmnl 2>/dev/null) -lz -lm -lpthread

$(BUILD)/san/gen/xlb.pb-c.o: $(PROTO_GEN)
	$(call msg,CC-SAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(CP_CFLAGS) $(SAN_FLAGS) -Wno-error -c $< -o $@

$(BUILD)/tests/unit/%: tests/unit/%.c $(PURE_OBJS)
	$(call msg,LINK,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(CP_CFLAGS) $(LINK_DEPFLAGS) $< $(filter %.o,$^) $(UNIT_LIBS) -o $@

$(BUILD)/tests/unit-san/%: tests/unit/%.c $(PURE_SAN_OBJS)
	$(call msg,LINK-SAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(CP_CFLAGS) $(SAN_FLAGS) $(LINK_DEPFLAGS) $< $(filter %.o,$^) $(UNIT_LIBS) -o $@

# The core's persistence test links the core too (a dataplane that takes
# everything stands in for the kernel's).
CORE_SRCS := $(wildcard user/core/*.c)
$(BUILD)/tests/unit/test_core_persist: $(CORE_SRCS:%.c=$(BUILD)/%.o)
$(BUILD)/tests/unit-san/test_core_persist: $(CORE_SRCS:%.c=$(BUILD)/san/%.o)

$(BUILD)/tests/bpf/%: tests/bpf/%.c $(BUILD)/libxlb.a
	$(call msg,LINK,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LINK_DEPFLAGS) -Itests/bpf -I$(BUILD)/tests/bpf $< $(BUILD)/libxlb.a -lcmocka $(LDLIBS) -o $@

# Small BPF programs that test one piece of bpf/lib on its own
# (tests/bpf/*.bpf.c), loaded by the tests through their skeletons.
BPFT_SKELS := $(patsubst tests/bpf/%.bpf.c,$(BUILD)/tests/bpf/%.skel.h,$(wildcard tests/bpf/*.bpf.c))

$(BUILD)/tests/bpf/%.bpf.o: tests/bpf/%.bpf.c
	$(call msg,BPF,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/tests/bpf/%.skel.h: $(BUILD)/tests/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(notdir $*) > $@

$(BPFT_BINS): | $(BPFT_SKELS) $(BPFT_SKELS:.skel.h=.bpf.o)

unit: $(UNIT_BINS)
	$(Q)for t in $(UNIT_BINS); do echo "== $$t"; $$t || exit 1; done

unit-san: $(UNIT_SAN_BINS)
	$(Q)for t in $(UNIT_SAN_BINS); do echo "== $$t (asan+ubsan)"; \
		ASAN_OPTIONS=detect_leaks=1 $$t || exit 1; done

bpftest: all $(BPFT_BINS)
	$(Q)for t in $(BPFT_BINS); do echo "== $$t"; $$t || exit 1; done

# The previous build, for the upgrade test (tests/e2e/daemon.py): main as
# it was before the conntrack redesign, built from git into $(BUILD)/prev.
PREV_REV ?= $(BENCH_BASE_REV)
prev: $(BUILD)/prev/xlbd
$(BUILD)/prev/xlbd:
	$(call msg,PREV,$@ (git $(PREV_REV)))
	@rm -rf $(BUILD)/prev && mkdir -p $(BUILD)/prev/src
	$(Q)if git cat-file -e '$(PREV_REV)^{commit}' 2>/dev/null; then \
		git archive $(PREV_REV) | tar -x -C $(BUILD)/prev/src && \
		$(MAKE) --no-print-directory -C $(BUILD)/prev/src BUILD=build build/xlbd && \
		cp $(BUILD)/prev/src/build/xlbd $@; \
	else echo "  (no git revision $(PREV_REV): the upgrade test is skipped)"; fi

# The long runs of the datapath's fuzz and flood tests (issue 11): a
# million random and mutated frames, a million SYNs and a million bare ACKs
# (make fuzz runs them before the daemon's fuzzers, make fuzz-dp alone).
fuzz-dp: all $(BUILD)/tests/bpf/test_fuzz $(BUILD)/tests/bpf/test_attack
	$(Q)XLB_FUZZ_N=1000000 $(BUILD)/tests/bpf/test_fuzz
	$(Q)XLB_FLOOD_N=1000000 $(BUILD)/tests/bpf/test_attack

e2e: all
	$(Q)bash tests/e2e/run.sh

test: deps
	$(Q)$(MAKE) --no-print-directory all $(UNIT_BINS) $(UNIT_SAN_BINS) $(BPFT_BINS) $(API_TEST_BINS) \
		$(VM_TEST_BINS) $(HEALTH_TEST_BINS) $(BUILD)/prev/xlbd
	$(Q)BUILD=$(BUILD) bash scripts/test.sh

# The IPVS VM test's servers and clients (the guest has no python3).
VM_TEST_BINS := $(BUILD)/tests/vm/ipvs_lab

$(BUILD)/tests/vm/ipvs_lab: tests/vm/ipvs_lab.c
	$(call msg,LINK,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -O2 -g -Wall -Wextra -Werror $< -o $@

# The health engine against real servers, and its benchmark (tests/health/run.sh
# runs them; SAN=1 picks the ASan+UBSan driver).
HEALTH_TEST_BINS := $(BUILD)/tests/health/driver $(BUILD)/tests/health/bench
HEALTH_LIBS := $(filter-out -lcmocka,$(UNIT_LIBS)) -lpthread

$(HEALTH_TEST_BINS): $(BUILD)/tests/health/%: tests/health/%.c $(PURE_OBJS)
	$(call msg,LINK,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(CP_CFLAGS) $(LINK_DEPFLAGS) $< $(PURE_OBJS) $(HEALTH_LIBS) -o $@

$(BUILD)/tests/health-san/driver: tests/health/driver.c $(PURE_SAN_OBJS)
	$(call msg,LINK-SAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(CP_CFLAGS) $(SAN_FLAGS) $(LINK_DEPFLAGS) $< $(PURE_SAN_OBJS) $(HEALTH_LIBS) -o $@

vmimage:
	$(Q)BUILD=$(BUILD) bash scripts/vmtest.sh --image

vmtest: all $(BPFT_BINS) $(VM_TEST_BINS)
	$(Q)BUILD=$(BUILD) bash scripts/vmtest.sh $(VMTEST)

# The three-node cluster lab (scripts/demo-cluster.sh); DEMO=node: the
# single-node lab (scripts/demo.sh).
demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bash scripts/$(if $(filter node,$(DEMO)),demo.sh,demo-cluster.sh) $(DEMO_ARGS)

# Benchmarks (docs/benchmarks.md); need root. BENCH_QUICK=1: the short
# runs CI uses to keep them working.
BENCH_DIR  := $(BUILD)/bench
BENCH_BINS := $(BENCH_DIR)/xdp_bench $(BENCH_DIR)/tc_bench $(BENCH_DIR)/maglev_quality

$(BENCH_DIR)/bench.bpf.o $(BENCH_DIR)/tc_floor.bpf.o: $(BENCH_DIR)/%.bpf.o: tools/bench/%.bpf.c
	$(call msg,BPF,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) $(DEPFLAGS) -Itools/bench -c $< -o $@

$(BENCH_DIR)/bench.skel.h $(BENCH_DIR)/tc_floor.skel.h: $(BENCH_DIR)/%.skel.h: $(BENCH_DIR)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $* > $@

# A/B: xdp_bench also runs the datapath as main had it before the conntrack
# redesign (issue 11), built from git at BENCH_BASE_REV with its own maps.
# Without git history (a shallow clone) the baseline is left out.
BENCH_BASE_REV ?= 095f53f
$(BENCH_DIR)/base.bpf.o:
	$(call msg,BPF,$@ (git $(BENCH_BASE_REV)))
	@rm -rf $(BENCH_DIR)/base && mkdir -p $(BENCH_DIR)/base
	$(Q)if git cat-file -e '$(BENCH_BASE_REV)^{commit}' 2>/dev/null; then \
		git archive $(BENCH_BASE_REV) bpf include | tar -x -C $(BENCH_DIR)/base && \
		$(CLANG) -I$(BENCH_DIR)/base/include -I$(BENCH_DIR)/base/bpf $(BPF_CFLAGS) \
			-c $(BENCH_DIR)/base/bpf/xlb.bpf.c -o $@; \
	else echo "  (no git revision $(BENCH_BASE_REV): the A/B baseline is left out)"; fi

$(BENCH_DIR)/xdp_bench: tools/bench/xdp_bench.c $(BENCH_DIR)/bench.skel.h $(BUILD)/libxlb.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LINK_DEPFLAGS) -Itools/bench -Itests/bpf -I$(BENCH_DIR) $< $(BUILD)/libxlb.a $(LDLIBS) -o $@

# xlb_from_nic (tc on the NICs) next to floors of its own (tc_floor.bpf.c).
$(BENCH_DIR)/tc_bench: tools/bench/tc_bench.c $(BENCH_DIR)/tc_floor.skel.h $(BUILD)/libxlb.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LINK_DEPFLAGS) -Itools/bench -Itests/bpf -I$(BENCH_DIR) $< $(BUILD)/libxlb.a $(LDLIBS) -o $@

$(BENCH_DIR)/maglev_quality: tools/bench/maglev_quality.c user/model/maglev.c
	$(call msg,LINK,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LINK_DEPFLAGS) $< user/model/maglev.c -o $@

LAB_BENCH_BINS := $(BENCH_DIR)/lab_bench_srv $(BENCH_DIR)/lab_bench_load $(BENCH_DIR)/lab_bench_svc
# The cluster benchmark's: connect() cost of the socket program, one-stream throughput.
CLUSTER_BENCH_BINS := $(BENCH_DIR)/sock_bench $(BENCH_DIR)/stream

$(BENCH_DIR)/sock_bench: tools/bench/sock_bench.c $(BUILD)/libxlb.a
	$(call msg,LINK,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LINK_DEPFLAGS) $< $(BUILD)/libxlb.a $(LDLIBS) -lpthread -o $@

$(BENCH_DIR)/stream: tools/bench/stream.c
	$(call msg,LINK,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LINK_DEPFLAGS) $< -lpthread -o $@

$(BENCH_DIR)/lab_bench_srv $(BENCH_DIR)/lab_bench_load: $(BENCH_DIR)/%: tools/bench/%.c
	$(call msg,LINK,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LINK_DEPFLAGS) $< -o $@

$(BENCH_DIR)/lab_bench_svc: tools/bench/lab_bench_svc.c $(BUILD)/libxlb.a
	$(call msg,LINK,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LINK_DEPFLAGS) $< $(BUILD)/libxlb.a $(LDLIBS) -o $@

bench: deps
	$(Q)$(MAKE) --no-print-directory all $(BENCH_BINS) $(LAB_BENCH_BINS) $(CLUSTER_BENCH_BINS) \
		$(BUILD)/tests/health/bench
	$(Q)$(MAKE) --no-print-directory $(BENCH_DIR)/base.bpf.o
	$(Q)$(BENCH_DIR)/xdp_bench $(if $(BENCH_QUICK),--quick) \
		$$([ -s $(BENCH_DIR)/base.bpf.o ] && echo --baseline $(BENCH_DIR)/base.bpf.o)
	$(Q)$(BENCH_DIR)/tc_bench $(if $(BENCH_QUICK),--quick)
	$(Q)$(BENCH_DIR)/maglev_quality $(if $(BENCH_QUICK),-q)
	$(Q)/usr/bin/python3 tools/bench/sync_bench.py $(if $(BENCH_QUICK),--services 1000 --rounds 1 --changes 100)
	$(Q)/usr/bin/python3 tools/bench/mem_bench.py $(if $(BENCH_QUICK),--quick)
	$(Q)/usr/bin/python3 tools/bench/write_bench.py $(if $(BENCH_QUICK),--writers 1,8 --seconds 2)
	$(Q)/usr/bin/python3 tools/bench/abuse_bench.py $(if $(BENCH_QUICK),--quick)
	$(Q)$(if $(BENCH_QUICK),BENCH_SECS=3 )bash tests/health/run.sh bench $(if $(BENCH_QUICK),1000)
	$(Q)BUILD=$(abspath $(BUILD)) bash tools/bench/lab_bench.sh $(if $(BENCH_QUICK),--quick)
	$(Q)BUILD=$(abspath $(BUILD)) bash tools/bench/cluster_bench.sh $(if $(BENCH_QUICK),--quick) \
		$(if $(BENCH_QUICK),,--plot $(BUILD)/cluster-bench.png)
	$(Q)BUILD=$(abspath $(BUILD)) bash tools/bench/external_bench.sh $(if $(BENCH_QUICK),--quick)

# make install [PREFIX=/usr/local] [DESTDIR=...]: the daemons (xlbd, the
# Kubernetes feeder xlb-k8s) and xlb-dp in sbin (the DaemonSet runs
# /usr/sbin/xlbd: PREFIX=/usr for an image), the CLI in bin, man pages made from their --help, the BPF object (xlbd carries
# it built in; this copy is for inspection with bpftool or ip), the
# DaemonSet and the docs under share.
PREFIX     ?= /usr/local
MAN_PAGES  := $(BUILD)/man/xlbd.8 $(BUILD)/man/xlb-k8s.8 $(BUILD)/man/xlbctl.1

$(BUILD)/man/xlbd.8: $(BUILD)/xlbd scripts/manpage.sh
	$(call msg,MAN,$@)
	@mkdir -p $(@D)
	$(Q)bash scripts/manpage.sh $< 8 "the xlb node agent: Kubernetes Services in XDP or IPVS" > $@

$(BUILD)/man/xlb-k8s.8: $(BUILD)/xlb-k8s scripts/manpage.sh
	$(call msg,MAN,$@)
	@mkdir -p $(@D)
	$(Q)bash scripts/manpage.sh $< 8 "keeps xlbd in step with the Kubernetes API" > $@

$(BUILD)/man/xlbctl.1: $(BUILD)/xlbctl scripts/manpage.sh
	$(call msg,MAN,$@)
	@mkdir -p $(@D)
	$(Q)bash scripts/manpage.sh $< 1 "drive and inspect xlbd" > $@

install: all $(MAN_PAGES)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/xlb \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/xlb $(DESTDIR)$(PREFIX)/share/doc/xlb
	install -m 755 $(BUILD)/xlbd $(BUILD)/xlb-k8s $(BUILD)/xlb-dp $(DESTDIR)$(PREFIX)/sbin/
	install -m 755 $(BUILD)/xlbctl $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BPF_OBJ) $(DESTDIR)$(PREFIX)/lib/xlb/
	install -m 644 $(BUILD)/man/xlbctl.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(BUILD)/man/xlbd.8 $(BUILD)/man/xlb-k8s.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 deploy/xlbd-daemonset.yaml user/api/proto/xlb.proto $(DESTDIR)$(PREFIX)/share/xlb/
	install -m 644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/xlb/

clean:
	rm -rf $(BUILD)

# --- xlb-k8s, the Kubernetes feeder: its own block (issue 15) ---------------
FEEDER_SRCS := $(wildcard user/feeder/*.c)
FEEDER_OBJS := $(FEEDER_SRCS:%.c=$(BUILD)/%.o)
FEEDER_LIBS := $(shell pkg-config --libs libcurl jansson 2>/dev/null)

$(FEEDER_OBJS): | $(PROTO_GEN)
$(FEEDER_OBJS): CFLAGS += $(CP_CFLAGS) $(shell pkg-config --cflags libcurl 2>/dev/null)

$(BUILD)/xlb-k8s: user/xlb-k8s.c $(FEEDER_OBJS) $(CP_LIB) $(BUILD)/libxlb.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(CP_CFLAGS) $(LINK_DEPFLAGS) $< $(FEEDER_OBJS) $(CP_LIB) $(BUILD)/libxlb.a \
		$(CP_LIBS) $(FEEDER_LIBS) $(LDLIBS) -o $@

all: $(BUILD)/xlb-k8s

# From a watch event on the API server to the datapath, at 10k Services x 10
# endpoints (BENCH_QUICK: 1k); part of `make bench`.
.PHONY: feeder-bench
feeder-bench: $(BUILD)/xlb-k8s $(BUILD)/xlbd
	$(Q)/usr/bin/python3 tools/bench/feeder_bench.py --build $(BUILD) \
		$(if $(BENCH_QUICK),--services 1000 --changes 100)

bench: feeder-bench

# The container image (scripts/image.sh): an OCI layout in IMAGE_OUT
# (default $(BUILD)/image), offline from Debian packages; image-test runs
# it with podman as the DaemonSet does (tests/image/run.sh).
IMAGE_OUT ?= $(BUILD)/image
.PHONY: image image-test
image: $(BUILD)/xlbd $(BUILD)/xlbctl $(BUILD)/xlb-k8s
	$(Q)IMAGE_OUT=$(IMAGE_OUT) BUILD=$(BUILD) bash scripts/image.sh

image-test: $(BUILD)/xlbd $(BUILD)/xlbctl $(BUILD)/xlb-k8s
	$(Q)IMAGE_OUT=$(IMAGE_OUT) BUILD=$(BUILD) bash tests/image/run.sh

# The feeder under ASan+UBSan, with every C file it runs (the k8s suite uses
# it when it is there, so CI runs the feeder sanitized).
FEEDER_SAN_SRCS := user/xlb-k8s.c $(FEEDER_SRCS) $(wildcard user/k8s/*.c user/util/*.c user/model/*.c) \
		   user/convert/convert.c user/api/client.c user/api/wire.c user/log.c
$(BUILD)/san/xlb-k8s: $(FEEDER_SAN_SRCS) $(PROTO_GEN) $(wildcard user/*.h user/*/*.h include/xlb/*.h)
	$(call msg,LINK-SAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(CP_CFLAGS) $(shell pkg-config --cflags libcurl 2>/dev/null) $(SAN_FLAGS) \
		$(FEEDER_SAN_SRCS) $(PROTO_GEN) -Wno-error $(CP_LIBS) $(FEEDER_LIBS) -lm -o $@

# --- fuzzing and xlbd sanitized (issue 14) ------------------------------------
# libFuzzer targets (clang, ASan+UBSan) over the daemon's input gates: API
# requests as random bytes and as semantic mutations of a valid one, YAML
# and JSON manifests, journals and state files. `make fuzz` runs each for
# FUZZ_SECS (60), after the datapath's fuzz-dp; make test runs them a short
# while (the fuzz suite).
FUZZ_NAMES := api semantic yaml journal
FUZZ_BINS  := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_SRCS  := user/log.c $(wildcard user/model/*.c user/util/*.c user/k8s/*.c user/convert/*.c \
	      user/store/*.c)
FUZZ_FLAGS := -g -O1 -std=gnu11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	      -Iinclude -Iuser -I$(BUILD) $(CP_CFLAGS)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(FUZZ_SRCS) $(PROTO_GEN)
	$(call msg,FUZZ,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_FLAGS) $< $(FUZZ_SRCS) $(PROTO_GEN) \
		$(shell pkg-config --libs yaml-0.1 jansson libprotobuf-c 2>/dev/null) -lz -lm -o $@

.PHONY: fuzz
fuzz: fuzz-dp $(FUZZ_BINS) $(BUILD)/san/xlbd
	$(Q)BUILD=$(BUILD) bash tests/fuzz/run.sh long
	$(Q)/usr/bin/python3 tests/fuzz/grpc_fuzz.py --xlbd $(BUILD)/san/xlbd --count $(or $(FUZZ_GRPC),50000)

# xlbd with every C file it runs under ASan+UBSan: the api-san suite runs
# the API tests and random gRPC requests against it.
XLBD_SAN_SRCS := user/xlbd.c $(LIB_SRCS) $(filter-out user/ctl/%,$(CP_SRCS))
$(BUILD)/san/xlbd: $(XLBD_SAN_SRCS) $(PROTO_GEN) $(SKEL) $(wildcard user/*.h user/*/*.h \
		   include/xlb/*.h)
	$(call msg,LINK-SAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(CP_CFLAGS) $(SAN_FLAGS) $(XLBD_SAN_SRCS) $(PROTO_GEN) -Wno-error \
		$(CP_LIBS) $(PKG_LIBS) -lm -o $@

test: $(FUZZ_BINS) $(BUILD)/san/xlbd
test: $(BUILD)/san/xlb-k8s

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
