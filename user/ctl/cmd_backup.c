// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* backup / restore: the desired state as a state file (statefile.h), the
 * same format xlbd keeps in --state-dir. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/statefile.h"
#include "ctl/ctl.h"

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int do_backup(struct ctl *c)
{
	Xlb__V1__BackupRequest req = XLB__V1__BACKUP_REQUEST__INIT;
	bool to_stdout = !c->file || !strcmp(c->file, "-");
	Xlb__V1__BackupResponse *r;
	uint8_t *buf = NULL;
	size_t len;
	int rc;

	/* Check before asking the daemon: the answer would be lost. */
	if (to_stdout && isatty(STDOUT_FILENO)) {
		ctl_err(c, "refusing to write binary data to a terminal; "
			   "redirect it (xlbctl backup > FILE) or use -f FILE");
		return CTL_FAIL;
	}
	if (ctl_call(c, "Backup", &req.base, &xlb__v1__backup_response__descriptor,
		     (ProtobufCMessage **)&r))
		return CTL_FAIL;
	rc = xlb_statefile_pack(r, &buf, &len);
	if (rc) {
		ctl_err(c, "pack: %s", strerror(-rc));
		goto out;
	}
	if (to_stdout)
		rc = write_all(STDOUT_FILENO, buf, len);
	else
		rc = xlb_statefile_write(c->file, buf, len);
	if (rc) {
		ctl_err(c, "write %s: %s", to_stdout ? "<stdout>" : c->file, strerror(-rc));
		goto out;
	}
	if (!to_stdout)
		printf("backup: %zu services (version %" PRIu64 ") written to %s\n", r->n_services,
		       r->version, c->file);
out:
	free(buf);
	xlb__v1__backup_response__free_unpacked(r, NULL);
	return rc ? CTL_FAIL : CTL_OK;
}

int do_restore(struct ctl *c)
{
	Xlb__V1__RestoreRequest req = XLB__V1__RESTORE_REQUEST__INIT;
	const char *path = c->file ? c->file : "-";
	Xlb__V1__BackupResponse *b = NULL;
	Xlb__V1__RestoreResponse *r;
	char err[256] = "";
	size_t len;
	char *buf;
	int rc;

	if (!strcmp(path, "-") && isatty(STDIN_FILENO)) {
		ctl_err(c, "refusing to read a backup from a terminal; "
			   "redirect it (xlbctl restore < FILE) or use -f FILE");
		return CTL_FAIL;
	}
	if (ctl_read_input(c, path, &buf, &len))
		return CTL_FAIL;
	rc = xlb_statefile_unpack((const uint8_t *)buf, len, &b, err, sizeof(err));
	free(buf);
	if (rc) {
		ctl_err(c, "%s: %s", ctl_input_name(path), err[0] ? err : strerror(-rc));
		return CTL_FAIL;
	}
	/* Borrowed from the backup; b frees them. */
	req.services = b->services;
	req.n_services = b->n_services;
	rc = ctl_call(c, "Restore", &req.base, &xlb__v1__restore_response__descriptor,
		      (ProtobufCMessage **)&r);
	if (!rc) {
		printf("restored %zu services (version %" PRIu64 ")\n", b->n_services, r->version);
		xlb__v1__restore_response__free_unpacked(r, NULL);
		rc = fflush(stdout) ? CTL_FAIL : CTL_OK;
	}
	xlb__v1__backup_response__free_unpacked(b, NULL);
	return rc;
}
