/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Who may do what over the API: a role per client, from rules the
 * operator gives (xlbd --api-writer, --api-reader, --api-roles FILE).
 *
 *   read    every call that changes nothing (ListServices, GetStatus,
 *           Watch, Backup, ListConntrack, Explain)
 *   write   all calls (those that change state: UpsertService,
 *           DeleteService, SetEndpoints, Sync, Restore, FlushConntrack)
 *
 * A rule is "ROLE PATTERN"; PATTERN is one of
 *   uid:N          a peer on a unix socket whose uid (SO_PEERCRED) is N
 *   cn:NAME        a client certificate whose subject's CN is NAME
 *   san:NAME       ... with NAME among its subjectAltNames (DNS, URI, ...)
 *   subject:DN     ... whose subject is DN as gRPC prints it ("CN=a,O=b")
 *   cert:*         any client certificate the client CA signed
 * A client gets the highest role a matching rule gives. Besides: on a
 * unix socket root and xlbd's own uid always write, other uids without a
 * rule have no role (their connection is closed); a client certificate
 * without a rule may read, unless read rules for certificates exist (then
 * only those may); a TLS client without a certificate (no
 * --tls-client-ca) may read, and write only with --api-insecure-tls-writes.
 * Pure: no gRPC, unit tested.
 */
#ifndef XLB_API_AUTHZ_H
#define XLB_API_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum xlb_api_role { XLB_API_ROLE_NONE = 0, XLB_API_ROLE_READ = 1, XLB_API_ROLE_WRITE = 2 };

enum xlb_api_match { XLB_MATCH_UID, XLB_MATCH_CN, XLB_MATCH_SAN, XLB_MATCH_SUBJECT,
		     XLB_MATCH_ANY_CERT };

struct xlb_api_rule {
	enum xlb_api_role role;
	enum xlb_api_match match;
	uint32_t uid;
	char value[256];
};

struct xlb_api_rules {
	struct xlb_api_rule *r;
	size_t n;
	bool insecure_tls_writes;	/* TLS clients without a certificate may write */
};

/* "read" or "write" and a pattern into a new rule of rules. 0, -EINVAL
 * (err says why) or -ENOMEM. */
int xlb_api_rule_add(struct xlb_api_rules *rules, const char *role, const char *pattern,
		     char *err, size_t errlen);
/* A file of "ROLE PATTERN" lines (# comments, blank lines). -errno with
 * err naming FILE:LINE. */
int xlb_api_rules_load(struct xlb_api_rules *rules, const char *path, char *err, size_t errlen);
void xlb_api_rules_free(struct xlb_api_rules *rules);
/* Whether a rule names a unix uid other than root and self (the socket
 * must then let others connect). */
bool xlb_api_rules_other_uids(const struct xlb_api_rules *rules, uint32_t self);

/* A unix socket peer. */
enum xlb_api_role xlb_api_role_of_uid(const struct xlb_api_rules *rules, uint32_t uid,
				      uint32_t self);
/* A TLS client: authenticated (a certificate the CA signed) with its CN,
 * subjectAltNames and subject, or not. */
enum xlb_api_role xlb_api_role_of_cert(const struct xlb_api_rules *rules, bool authenticated,
				       const char *cn, const char *const *san, size_t n_san,
				       const char *subject);

const char *xlb_api_role_name(enum xlb_api_role r);

#endif /* XLB_API_AUTHZ_H */
