// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/mountinfo.h"

/* Undo mountinfo's octal escapes (space, tab, newline, backslash) in place. */
static void unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = 0;
}

/* A line: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER */
int xlb_mountinfo_find(FILE *f, const char *fstype, char *buf, size_t len)
{
	char *line = NULL;
	size_t cap = 0;
	int ret = -ENOENT;

	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *tok, *mnt = NULL;
		int field = 0;
		bool dash = false;

		for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
			field++;
			if (field == 5)
				mnt = tok;
			else if (field > 6 && !dash && !strcmp(tok, "-"))
				dash = true;
			else if (dash)
				break;	/* the filesystem type */
		}
		if (!tok || !mnt || strcmp(tok, fstype))
			continue;
		unescape(mnt);
		if (strlen(mnt) >= len) {
			ret = -ENAMETOOLONG;
			break;
		}
		memcpy(buf, mnt, strlen(mnt) + 1);
		ret = 0;
		break;
	}
	free(line);
	return ret;
}

int xlb_mount_point(const char *fstype, char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int ret;

	if (!f)
		return -errno;
	ret = xlb_mountinfo_find(f, fstype, buf, len);
	fclose(f);
	return ret;
}
