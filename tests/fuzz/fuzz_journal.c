// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A journal and a state file of any bytes, onto the recorded snapshot
 * (tests/unit/fixtures/journal-v1): replay never crashes, applies whole
 * records only, and what it reports adds up (applied + lost within the
 * file, a damaged journal names its losses by version).
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "store/journal.h"
#include "store/statefile.h"

static uint8_t *snap;
static size_t snap_len;
static char path[64];

static void setup(void)
{
	char err[256];

	if (snap)
		return;
	fuzz_state();
	FUZZ_ASSERT(!xlb_statefile_read("tests/unit/fixtures/journal-v1/state.pb", &snap,
					&snap_len, err, sizeof(err)));
	snprintf(path, sizeof(path), "/tmp/xlb-fuzz-journal.%d", (int)getpid());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xlb_journal_info info;
	struct xlb_state *st;
	char err[256];
	uint32_t crc;
	int fd, ret;

	setup();
	/* The bytes as a state file. */
	if (!xlb_statefile_decode(data, size, &st, err, sizeof(err)))
		xlb_state_free(st);

	FUZZ_ASSERT(!xlb_statefile_decode(snap, snap_len, &st, err, sizeof(err)));
	crc = (uint32_t)snap[12] | (uint32_t)snap[13] << 8 | (uint32_t)snap[14] << 16 |
	      (uint32_t)snap[15] << 24;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_ASSERT(fd >= 0 && write(fd, data, size) == (ssize_t)size);
	close(fd);
	ret = xlb_journal_replay(path, st, crc, &info, err, sizeof(err));
	if (!ret) {
		FUZZ_ASSERT(info.end <= info.size && info.size == size);
		FUZZ_ASSERT(xlb_state_version(st) == 10 + info.records);
		FUZZ_ASSERT(!info.damaged || (info.lost >= 1 && info.lost_first == 11 + info.records &&
					      info.lost_last >= info.lost_first));
	} else {
		FUZZ_ASSERT(ret == -EBADMSG || ret == -ESTALE || ret == -ENOMEM);
		FUZZ_ASSERT(xlb_state_version(st) == 10);	/* nothing applied */
	}
	xlb_state_free(st);
	unlink(path);
	return 0;
}
