/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Where the API server is and how to prove who we are, as client-go finds
 * it: in a pod, KUBERNETES_SERVICE_HOST/PORT with the service account's
 * token and CA bundle (DIR/token, DIR/ca.crt; the token is read again for
 * every request, so a rotated token is picked up); outside, a kubeconfig
 * file (current or named context; server, certificate-authority(-data),
 * insecure-skip-tls-verify, token, tokenFile, client-certificate(-data),
 * client-key(-data); relative paths from the file's folder).
 *
 * 0, or -EINVAL / -ENOENT / -ENOMEM with err naming the file and field.
 */
#ifndef XLB_FEEDER_KUBECONF_H
#define XLB_FEEDER_KUBECONF_H

#include <stdbool.h>
#include <stddef.h>

#define XLB_KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct xlb_kube_conf {
	char *server;		/* "https://host:port", no trailing '/' */
	char *ca_file;		/* NULL: ca_pem or the system's roots */
	char *ca_pem;		/* certificate-authority-data, decoded */
	size_t ca_pem_len;
	bool insecure;
	char *token;		/* a fixed token */
	char *token_file;	/* read at each request */
	char *cert_file, *key_file;
	char *cert_pem, *key_pem;
	size_t cert_pem_len, key_pem_len;
};

int xlb_kube_conf_in_cluster(struct xlb_kube_conf *c, const char *sa_dir, char *err,
			     size_t errlen);
/* context NULL: the file's current-context. */
int xlb_kube_conf_load(struct xlb_kube_conf *c, const char *path, const char *context,
		       char *err, size_t errlen);
/* The bearer token now ("" when none): 0 or -errno with err. */
int xlb_kube_conf_token(const struct xlb_kube_conf *c, char *buf, size_t len, char *err,
			size_t errlen);
void xlb_kube_conf_free(struct xlb_kube_conf *c);

#endif /* XLB_FEEDER_KUBECONF_H */
