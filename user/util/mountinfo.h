/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Where a filesystem type is mounted, from /proc/self/mountinfo (proc(5)):
 * the cgroup2 hierarchy the socket programs attach to is at
 * /sys/fs/cgroup on a pure v2 node, /sys/fs/cgroup/unified on a hybrid
 * one, or wherever an agent mounted its own.
 */
#ifndef XLB_MOUNTINFO_H
#define XLB_MOUNTINFO_H

#include <stddef.h>
#include <stdio.h>

/* The mount point of the first mount of filesystem type fstype in the
 * mountinfo text read from f, into buf (octal escapes such as \040 undone).
 * 0, -ENOENT when there is none, -ENAMETOOLONG when buf is too small. */
int xlb_mountinfo_find(FILE *f, const char *fstype, char *buf, size_t len);

/* xlb_mountinfo_find() on /proc/self/mountinfo. */
int xlb_mount_point(const char *fstype, char *buf, size_t len);

#endif /* XLB_MOUNTINFO_H */
