// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The state file: framing, CRC, atomic write. See statefile.h. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "util/errmsg.h"
#include "convert/convert.h"
#include "store/statefile.h"


static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint32_t crc_of(const uint8_t *p, size_t len)
{
	return (uint32_t)crc32_z(crc32_z(0, Z_NULL, 0), p, len);
}

int xlb_statefile_pack(const Xlb__V1__BackupResponse *pb, uint8_t **buf, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(&pb->base);
	uint8_t *b;

	*buf = NULL;
	*len = 0;
	if (n > XLB_STATEFILE_MAX)
		return -E2BIG;
	b = malloc(XLB_STATEFILE_HDR_LEN + n);
	if (!b)
		return -ENOMEM;
	if (protobuf_c_message_pack(&pb->base, b + XLB_STATEFILE_HDR_LEN) != n) {
		free(b);
		return -EIO;
	}
	memcpy(b, XLB_STATEFILE_MAGIC, 8);
	put_le32(b + 8, (uint32_t)n);
	put_le32(b + 12, crc_of(b + XLB_STATEFILE_HDR_LEN, n));
	*buf = b;
	*len = XLB_STATEFILE_HDR_LEN + n;
	return 0;
}

int xlb_statefile_unpack(const uint8_t *buf, size_t len, Xlb__V1__BackupResponse **out,
			 char *err, size_t errlen)
{
	Xlb__V1__BackupResponse *pb;
	uint32_t n, crc;
	char msg[256];

	*out = NULL;
	if (len < XLB_STATEFILE_HDR_LEN)
		return xlb_errf(err, errlen, -EBADMSG, "truncated: %zu bytes, header needs %d",
			    len, XLB_STATEFILE_HDR_LEN);
	if (memcmp(buf, XLB_STATEFILE_MAGIC, 8))
		return xlb_errf(err, errlen, -EBADMSG, "bad magic (not an xlb state file)");
	n = get_le32(buf + 8);
	if (n > XLB_STATEFILE_MAX || n != len - XLB_STATEFILE_HDR_LEN)
		return xlb_errf(err, errlen, -EBADMSG,
			    "length mismatch: header says %u payload bytes, file has %zu", n,
			    len - XLB_STATEFILE_HDR_LEN);
	crc = crc_of(buf + XLB_STATEFILE_HDR_LEN, n);
	if (crc != get_le32(buf + 12))
		return xlb_errf(err, errlen, -EBADMSG, "CRC mismatch: header %08x, payload %08x",
			    get_le32(buf + 12), crc);
	pb = xlb__v1__backup_response__unpack(NULL, n, buf + XLB_STATEFILE_HDR_LEN);
	if (!pb)
		return xlb_errf(err, errlen, -EBADMSG, "payload does not unpack as xlb.v1.BackupResponse");
	if (xlb_api_check_wire(pb->base.descriptor, buf + XLB_STATEFILE_HDR_LEN, n, "", msg,
			       sizeof(msg))) {
		xlb__v1__backup_response__free_unpacked(pb, NULL);
		return xlb_errf(err, errlen, -EBADMSG, "%s", msg);
	}
	*out = pb;
	return 0;
}

struct collect {
	Xlb__V1__BackupResponse *pb;
	size_t cap;
};

static int collect_one(const struct xlb_svc_desired *s, void *arg)
{
	struct collect *c = arg;
	Xlb__V1__Service *svc;

	if (c->pb->n_services == c->cap)
		return -EOVERFLOW;	/* the state changed under us: a caller bug */
	svc = xlb_api_service_to_pb(s);
	if (!svc)
		return -ENOMEM;
	c->pb->services[c->pb->n_services++] = svc;
	return 0;
}

int xlb_statefile_encode(const struct xlb_state *st, uint8_t **buf, size_t *len)
{
	Xlb__V1__BackupResponse pb = XLB__V1__BACKUP_RESPONSE__INIT;
	struct collect c = { .pb = &pb, .cap = xlb_state_count(st) };
	int ret;

	*buf = NULL;
	*len = 0;
	pb.version = xlb_state_version(st);
	if (c.cap) {
		pb.services = calloc(c.cap, sizeof(*pb.services));
		if (!pb.services)
			return -ENOMEM;
	}
	ret = xlb_state_foreach(st, collect_one, &c);
	if (!ret)
		ret = xlb_statefile_pack(&pb, buf, len);
	for (size_t i = 0; i < pb.n_services; i++)
		xlb_api_service_free_pb(pb.services[i]);
	free(pb.services);
	return ret;
}

int xlb_statefile_decode(const uint8_t *buf, size_t len, struct xlb_state **out,
			 char *err, size_t errlen)
{
	Xlb__V1__BackupResponse *pb;
	struct xlb_state *st;
	char msg[256], at[32];
	int ret;

	*out = NULL;
	ret = xlb_statefile_unpack(buf, len, &pb, err, errlen);
	if (ret)
		return ret;
	st = xlb_state_new();
	if (!st) {
		ret = xlb_errf(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < pb->n_services; i++) {
		struct xlb_svc_desired s;

		snprintf(at, sizeof(at), "services[%zu]", i);
		ret = xlb_api_service_from_pb_at(pb->services[i], at, &s, msg, sizeof(msg));
		if (!ret) {
			ret = xlb_state_upsert(st, &s, msg, sizeof(msg));
			xlb_svc_free(&s);
		}
		if (ret == -ENOMEM) {
			ret = xlb_errf(err, errlen, -ENOMEM, "out of memory");
			goto out;
		}
		if (ret) {
			ret = xlb_errf(err, errlen, -EBADMSG, "%s", msg);
			goto out;
		}
	}
	xlb_state_set_version(st, pb->version);
	*out = st;
	st = NULL;
out:
	xlb_state_free(st);
	xlb__v1__backup_response__free_unpacked(pb, NULL);
	return ret;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int xlb_statefile_stage(const char *path, const uint8_t *buf, size_t len, char *tmp)
{
	int fd, ret;

	if (snprintf(tmp, PATH_MAX, "%s.tmp.XXXXXX", path) >= PATH_MAX)
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);	/* same directory, so rename() is atomic; mode 0600 */
	if (fd < 0)
		return -errno;
	ret = write_all(fd, buf, len);
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

int xlb_statefile_commit(const char *tmp, const char *path)
{
	if (rename(tmp, path)) {
		int ret = -errno;

		unlink(tmp);
		return ret;
	}
	/* The rename itself must survive a crash. */
	return xlb_fsync_dir_of(path);
}

int xlb_statefile_write(const char *path, const uint8_t *buf, size_t len)
{
	char tmp[PATH_MAX];
	int ret = xlb_statefile_stage(path, buf, len, tmp);

	return ret ? ret : xlb_statefile_commit(tmp, path);
}

int xlb_fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	int dfd, ret = 0;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd))
		ret = -errno;
	close(dfd);
	return ret;
}

int xlb_statefile_read(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
	struct stat sb;
	uint8_t *b = NULL;
	size_t got = 0;
	int fd, ret = 0;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		return xlb_errf(err, errlen, ret, "open %s: %s", path, strerror(-ret));
	}
	if (fstat(fd, &sb)) {
		ret = -errno;
		xlb_errf(err, errlen, ret, "stat %s: %s", path, strerror(-ret));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		ret = xlb_errf(err, errlen, -EBADMSG, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)sb.st_size > (uint64_t)XLB_STATEFILE_MAX + XLB_STATEFILE_HDR_LEN) {
		ret = xlb_errf(err, errlen, -EBADMSG, "%s: too large (%lld bytes)", path,
			   (long long)sb.st_size);
		goto out;
	}
	b = malloc((size_t)sb.st_size + 1);
	if (!b) {
		ret = xlb_errf(err, errlen, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	/* Read to EOF rather than trusting st_size (the file may shrink). */
	while (got <= (size_t)sb.st_size) {
		ssize_t n = read(fd, b + got, (size_t)sb.st_size + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			xlb_errf(err, errlen, ret, "read %s: %s", path, strerror(-ret));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > (size_t)sb.st_size) {
		ret = xlb_errf(err, errlen, -EBADMSG, "%s: grew while being read", path);
		goto out;
	}
	*buf = b;
	*len = got;
	b = NULL;
out:
	free(b);
	close(fd);
	return ret;
}

int xlb_statefile_save(const char *path, const struct xlb_state *st)
{
	uint8_t *buf;
	size_t len;
	int ret;

	ret = xlb_statefile_encode(st, &buf, &len);
	if (ret)
		return ret;
	ret = xlb_statefile_write(path, buf, len);
	free(buf);
	return ret;
}

int xlb_statefile_load(const char *path, struct xlb_state **out, char *err, size_t errlen)
{
	char msg[256];
	uint8_t *buf;
	size_t len;
	int ret;

	*out = NULL;
	ret = xlb_statefile_read(path, &buf, &len, err, errlen);
	if (ret)
		return ret;
	ret = xlb_statefile_decode(buf, len, out, msg, sizeof(msg));
	if (ret)
		xlb_errf(err, errlen, ret, "state file %s: %s", path, msg);
	free(buf);
	return ret;
}
