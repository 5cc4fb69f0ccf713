// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * List + watch over libcurl's multi interface, events decoded by jansson
 * (contract in watch.h). The protocol is the API server's, as "API
 * Concepts" describes it (kubernetes.io/docs/reference/using-api/api-concepts):
 * a list's metadata.resourceVersion starts the watch; a watch stream is one
 * JSON object per line, {"type": ..., "object": ...}.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <jansson.h>
#include <malloc.h>

#include "log.h"
#include "feeder/watch.h"
#include "util/clock.h"

#define BACKOFF_MIN_MS	200
#define BACKOFF_MAX_MS	30000
#define WATCH_MIN_S	300	/* client-go: timeoutSeconds in [5, 10) minutes */
#define CONNECT_S	10
#define LIST_TIMEOUT_S	120
#define MAX_TOKEN	8192
#define BUF_KEEP	65536	/* bytes of a request's buffer kept after it ends */

const char *const xlb_kube_ev_name[XLB_KUBE_N_EV] = {
	"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR",
};

enum wstate { W_LIST, W_WATCH };

struct xlb_kube_watch {
	struct xlb_kube *k;
	struct xlb_kube_watch *next;
	char *name, *path, *selector;	/* selector: escaped, or NULL */
	const struct xlb_kube_ops *ops;
	void *arg;
	enum wstate state;
	bool listing;			/* list_begin called, list_end not yet */
	char rv[64];
	char *cont;			/* continue token of the next page */
	CURL *easy;			/* the request in flight, or NULL */
	struct curl_slist *hdrs;
	char *buf;
	size_t len, cap;
	bool gone;			/* 410 seen: list again */
	bool failed;			/* an ERROR event or a bad body */
	bool got_event;
	uint64_t next_ms;		/* no request before */
	unsigned int backoff_ms;
	struct xlb_kube_stats st;
};

struct xlb_kube {
	const struct xlb_kube_conf *conf;
	CURLM *multi;
	struct xlb_kube_watch *watches;
};

int xlb_kube_new(const struct xlb_kube_conf *conf, struct xlb_kube **out, char *err,
		 size_t errlen)
{
	struct xlb_kube *k = calloc(1, sizeof(*k));

	if (!k || curl_global_init(CURL_GLOBAL_DEFAULT)) {
		free(k);
		snprintf(err, errlen, "libcurl: initialisation failed");
		return -ENOMEM;
	}
	k->conf = conf;
	k->multi = curl_multi_init();
	if (!k->multi) {
		free(k);
		snprintf(err, errlen, "libcurl: initialisation failed");
		return -ENOMEM;
	}
	*out = k;
	return 0;
}

static void end_request(struct xlb_kube_watch *w)
{
	if (w->easy) {
		curl_multi_remove_handle(w->k->multi, w->easy);
		curl_easy_cleanup(w->easy);
		w->easy = NULL;
	}
	curl_slist_free_all(w->hdrs);
	w->hdrs = NULL;
	w->len = 0;
	/* A list page's buffer is not kept for the events that follow. */
	if (w->cap > BUF_KEEP) {
		free(w->buf);
		w->buf = NULL;
		w->cap = 0;
	}
}

void xlb_kube_free(struct xlb_kube *k)
{
	struct xlb_kube_watch *w, *next;

	if (!k)
		return;
	for (w = k->watches; w; w = next) {
		next = w->next;
		end_request(w);
		free(w->buf);
		free(w->name);
		free(w->path);
		curl_free(w->selector);
		free(w->cont);
		free(w);
	}
	curl_multi_cleanup(k->multi);
	curl_global_cleanup();
	free(k);
}

static void backoff(struct xlb_kube_watch *w)
{
	unsigned int b = w->backoff_ms ? w->backoff_ms * 2 : BACKOFF_MIN_MS;

	if (b > BACKOFF_MAX_MS)
		b = BACKOFF_MAX_MS;
	w->backoff_ms = b;
	/* Jitter: half fixed, half random, so nodes do not retry in step. */
	w->next_ms = (uint64_t)xlb_clock_ms() + b / 2 + (unsigned int)random() % (b / 2 + 1);
}

static const char *obj_rv(const json_t *obj)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"),
						 "resourceVersion"));
}

static void set_rv(struct xlb_kube_watch *w, const char *rv)
{
	if (rv && strlen(rv) < sizeof(w->rv))
		snprintf(w->rv, sizeof(w->rv), "%s", rv);
}

/* One line of a watch stream. */
static void on_event(struct xlb_kube_watch *w, const char *line, size_t len)
{
	static const enum xlb_kube_ev by_name[] = { XLB_KUBE_ADDED, XLB_KUBE_MODIFIED,
						    XLB_KUBE_DELETED, XLB_KUBE_BOOKMARK,
						    XLB_KUBE_ERROR };
	json_error_t e;
	json_t *ev = json_loadb(line, len, JSON_REJECT_DUPLICATES, &e);
	const char *type;
	json_t *obj;
	size_t i;

	if (!ev) {
		pr_warn("watch %s: bad event: %s", w->name, e.text);
		w->failed = true;
		return;
	}
	type = json_string_value(json_object_get(ev, "type"));
	obj = json_object_get(ev, "object");
	for (i = 0; type && i < XLB_KUBE_N_EV; i++)
		if (!strcmp(type, xlb_kube_ev_name[i]))
			break;
	if (!type || i == XLB_KUBE_N_EV || !json_is_object(obj)) {
		pr_warn("watch %s: event without a known type or an object", w->name);
		w->failed = true;
		goto out;
	}
	w->st.events[by_name[i]]++;
	if (by_name[i] == XLB_KUBE_ERROR) {
		json_int_t code = json_integer_value(json_object_get(obj, "code"));
		const char *msg = json_string_value(json_object_get(obj, "message"));

		/* "410 Gone": the version is too old to resume from. */
		if (code == 410) {
			pr_info("watch %s: resourceVersion %s expired (%s): listing again",
				w->name, w->rv, msg ? msg : "410 Gone");
			w->gone = true;
		} else {
			pr_warn("watch %s: error %lld: %s", w->name, (long long)code,
				msg ? msg : "(no message)");
			w->failed = true;
		}
		goto out;
	}
	set_rv(w, obj_rv(obj));
	w->st.last_ms = (uint64_t)xlb_clock_ms();
	w->got_event = true;
	if (by_name[i] != XLB_KUBE_BOOKMARK)
		w->ops->object(w->arg, by_name[i], obj);
out:
	json_decref(ev);
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xlb_kube_watch *w = arg;
	size_t n = size * nmemb, start = 0;

	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 65536;
		char *v;

		while (cap < w->len + n + 1)
			cap *= 2;
		if (cap > XLB_KUBE_MAX_BODY + 1) {
			pr_warn("%s %s: more than %u bytes at once: dropped", w->state == W_LIST ?
				"list" : "watch", w->name, XLB_KUBE_MAX_BODY);
			return 0;	/* fails the transfer */
		}
		v = realloc(w->buf, cap);
		if (!v)
			return 0;
		w->buf = v;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, data, n);
	w->len += n;
	if (w->state != W_WATCH)
		return n;
	{
		long http = 0;

		curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &http);
		if (http != 200)	/* a Status, read when the request ends */
			return n;
	}
	/* Events end with a line feed; JSON strings escape theirs. */
	for (size_t i = 0; i < w->len; i++) {
		if (w->buf[i] != '\n')
			continue;
		if (i > start && !w->gone)
			on_event(w, w->buf + start, i - start);
		start = i + 1;
	}
	memmove(w->buf, w->buf + start, w->len - start);
	w->len -= start;
	return n;
}

static int add_auth(struct xlb_kube_watch *w)
{
	const struct xlb_kube_conf *c = w->k->conf;
	char token[MAX_TOKEN], hdr[MAX_TOKEN + 32], err[256];
	struct curl_slist *l;

	if (xlb_kube_conf_token(c, token, sizeof(token), err, sizeof(err))) {
		pr_warn("%s: %s", w->name, err);
		return -EINVAL;
	}
	l = curl_slist_append(NULL, "Accept: application/json");
	if (l && token[0]) {
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", token);
		l = curl_slist_append(l, hdr);
	}
	explicit_bzero(token, sizeof(token));
	explicit_bzero(hdr, sizeof(hdr));
	if (!l)
		return -ENOMEM;
	w->hdrs = l;
	return 0;
}

static void tls_opts(CURL *e, const struct xlb_kube_conf *c)
{
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (c->ca_pem) {
		struct curl_blob b = { c->ca_pem, c->ca_pem_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
	}
	if (c->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->cert_file)
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
	if (c->key_file)
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
	if (c->cert_pem) {
		struct curl_blob b = { c->cert_pem, c->cert_pem_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
		curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (c->key_pem) {
		struct curl_blob b = { c->key_pem, c->key_pem_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
		curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	}
}

static void start_request(struct xlb_kube_watch *w)
{
	const struct xlb_kube_conf *c = w->k->conf;
	char url[4096];
	long timeout;
	int n;
	CURL *e;

	if (w->state == W_LIST) {
		if (!w->cont && !w->listing) {
			w->listing = true;
			w->ops->list_begin(w->arg);
		}
		n = snprintf(url, sizeof(url), "%s%s?limit=%d%s%s%s%s", c->server, w->path,
			     XLB_KUBE_PAGE, w->cont ? "&continue=" : "", w->cont ? w->cont : "",
			     w->selector ? "&fieldSelector=" : "", w->selector ? w->selector : "");
		timeout = LIST_TIMEOUT_S;
	} else {
		long secs = WATCH_MIN_S + random() % WATCH_MIN_S;

		n = snprintf(url, sizeof(url),
			     "%s%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s"
			     "&timeoutSeconds=%ld%s%s", c->server, w->path, w->rv, secs,
			     w->selector ? "&fieldSelector=" : "", w->selector ? w->selector : "");
		timeout = secs + 30;	/* the server ends it first */
	}
	if (n < 0 || (size_t)n >= sizeof(url)) {
		pr_warn("%s: URL too long", w->name);
		backoff(w);
		return;
	}
	e = curl_easy_init();
	if (!e || add_auth(w)) {
		if (e)
			curl_easy_cleanup(e);
		w->st.errors++;
		backoff(w);
		return;
	}
	w->easy = e;
	w->len = 0;
	w->gone = w->failed = w->got_event = false;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->hdrs);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "xlb-k8s");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(e, CURLOPT_PRIVATE, w);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_S);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
	tls_opts(e, c);
	if (curl_multi_add_handle(w->k->multi, e)) {
		end_request(w);
		w->st.errors++;
		backoff(w);
	}
}

/* Status message of a failed request's body, for the log. */
static void log_status(struct xlb_kube_watch *w, long http)
{
	json_t *st = w->len ? json_loadb(w->buf, w->len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(st, "message"));

	pr_warn("%s %s: HTTP %ld: %s", w->state == W_LIST ? "list" : "watch", w->name, http,
		msg ? msg : "(no status)");
	json_decref(st);
}

static void list_done(struct xlb_kube_watch *w, long http)
{
	json_t *body, *items, *meta;
	const char *cont, *rv;
	json_error_t e;

	if (http == 410) {		/* the continue token expired: start over */
		pr_info("list %s: continue token expired: listing again", w->name);
		free(w->cont);
		w->cont = NULL;
		w->listing = false;
		w->next_ms = 0;
		return;
	}
	if (http != 200) {
		log_status(w, http);
		goto fail;
	}
	body = json_loadb(w->buf, w->len, JSON_REJECT_DUPLICATES, &e);
	items = json_object_get(body, "items");
	meta = json_object_get(body, "metadata");
	rv = json_string_value(json_object_get(meta, "resourceVersion"));
	if (!body || (!json_is_array(items) && !json_is_null(items) && items) || !rv) {
		pr_warn("list %s: not a list: %s", w->name, body ? "no items or version" : e.text);
		json_decref(body);
		goto fail;
	}
	for (size_t i = 0; i < json_array_size(items); i++)
		w->ops->object(w->arg, XLB_KUBE_ADDED, json_array_get(items, i));
	cont = json_string_value(json_object_get(meta, "continue"));
	pr_debug("list %s: %zu objects at %s%s%s", w->name, json_array_size(items), rv,
		 cont && *cont ? ", continue " : "", cont && *cont ? cont : "");
	free(w->cont);
	w->cont = cont && *cont ? strdup(cont) : NULL;
	if (!w->cont) {
		set_rv(w, rv);
		w->listing = false;
		w->ops->list_end(w->arg);
		if (w->st.synced)
			w->st.relists++;
		w->st.lists++;
		w->st.synced = true;
		w->st.last_ms = (uint64_t)xlb_clock_ms();
		w->state = W_WATCH;
		w->backoff_ms = 0;
	}
	json_decref(body);
	/* The pages' trees are freed between the objects kept from them:
	 * hand the whole pages among those holes back to the kernel. */
	if (!w->cont)
		malloc_trim(0);
	w->next_ms = 0;
	return;
fail:
	free(w->cont);		/* a failed page: the whole list again */
	w->cont = NULL;
	w->listing = false;
	w->st.errors++;
	backoff(w);
}

static void watch_done(struct xlb_kube_watch *w, CURLcode rc, long http)
{
	if (w->gone || http == 410) {
		w->state = W_LIST;
		w->next_ms = 0;
		return;
	}
	if (rc == CURLE_OK && http == 200 && !w->failed) {
		w->next_ms = 0;	/* the server ended it (timeoutSeconds): resume */
		return;
	}
	if (http && http != 200)
		log_status(w, http);
	else if (rc != CURLE_OK)
		pr_warn("watch %s: %s: resuming from %s", w->name, curl_easy_strerror(rc), w->rv);
	if (w->got_event)
		w->backoff_ms = 0;
	w->st.errors++;
	backoff(w);
}

static void on_done(CURLMsg *m)
{
	struct xlb_kube_watch *w;
	long http = 0;

	curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&w);
	curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &http);
	if (w->state == W_LIST && m->data.result != CURLE_OK) {
		pr_warn("list %s: %s", w->name, curl_easy_strerror(m->data.result));
		free(w->cont);
		w->cont = NULL;
		w->listing = false;
		w->st.errors++;
		backoff(w);
	} else if (w->state == W_LIST) {
		list_done(w, http);
	} else {
		watch_done(w, m->data.result, http);
	}
	end_request(w);
}

int xlb_kube_watch(struct xlb_kube *k, const char *name, const char *path,
		   const char *field_selector, const struct xlb_kube_ops *ops, void *arg,
		   struct xlb_kube_watch **out)
{
	struct xlb_kube_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->k = k;
	w->ops = ops;
	w->arg = arg;
	w->name = strdup(name);
	w->path = strdup(path);
	if (field_selector)
		w->selector = curl_easy_escape(NULL, field_selector, 0);
	if (!w->name || !w->path || (field_selector && !w->selector)) {
		free(w->name);
		free(w->path);
		curl_free(w->selector);
		free(w);
		return -ENOMEM;
	}
	w->next = k->watches;
	k->watches = w;
	if (out)
		*out = w;
	return 0;
}

const struct xlb_kube_stats *xlb_kube_watch_stats(const struct xlb_kube_watch *w)
{
	return &w->st;
}

const char *xlb_kube_watch_name(const struct xlb_kube_watch *w)
{
	return w->name;
}

int xlb_kube_poll(struct xlb_kube *k, int timeout_ms)
{
	uint64_t now = (uint64_t)xlb_clock_ms();
	struct xlb_kube_watch *w;
	int running, left;
	CURLMsg *m;
	CURLMcode mc;

	for (w = k->watches; w; w = w->next) {
		if (!w->easy && w->next_ms <= now)
			start_request(w);
		if (!w->easy && w->next_ms > now && (int64_t)(w->next_ms - now) < timeout_ms)
			timeout_ms = (int)(w->next_ms - now);
	}
	mc = curl_multi_poll(k->multi, NULL, 0, timeout_ms, NULL);
	if (mc == CURLM_OK)
		mc = curl_multi_perform(k->multi, &running);
	if (mc != CURLM_OK) {
		pr_err("libcurl: %s", curl_multi_strerror(mc));
		return -EIO;
	}
	while ((m = curl_multi_info_read(k->multi, &left)))
		if (m->msg == CURLMSG_DONE)
			on_done(m);
	return 0;
}

void xlb_kube_wakeup(struct xlb_kube *k)
{
	curl_multi_wakeup(k->multi);
}
