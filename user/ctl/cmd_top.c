// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* top: per-service rates from the difference of two ListServices answers,
 * refreshed every interval. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl/output_table.h"
#include "util/clock.h"

#define TOP_DEFAULT_INTERVAL_MS 2000

struct top_row {
	const Xlb__V1__ServiceStatus *s;
	double pps, bps, fps;		/* < 0: unknown */
};

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int by_name(const void *a, const void *b)
{
	const Xlb__V1__ServiceStatus *const *x = a, *const *y = b;

	return strcmp((*x)->service->name, (*y)->service->name);
}

/* Busiest first, then by name. */
static int by_rate(const void *a, const void *b)
{
	const struct top_row *x = a, *y = b;

	if (x->pps != y->pps)
		return x->pps < y->pps ? 1 : -1;
	return strcmp(x->s->service->name, y->s->service->name);
}

static double rate(uint64_t now, uint64_t before, double dt)
{
	return now >= before && dt > 0 ? (double)(now - before) / dt : -1;
}

static const char *fmt_rate(double r, char *buf, size_t len)
{
	if (r < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, r < 10 ? "%.1f" : "%.0f", r);
	return buf;
}

/* prev is sorted by name (it is only searched). */
static int show(struct ctl *c, const struct ctl_svc_list *prev, const struct ctl_svc_list *cur,
		double dt, bool tty, bool first)
{
	struct top_row *rows = calloc(cur->n ? cur->n : 1, sizeof(*rows));
	struct table t;
	char title[64];
	time_t wall = time(NULL);
	struct tm tm;

	if (!rows) {
		ctl_err(c, "%s", strerror(ENOMEM));
		return CTL_FAIL;
	}
	for (size_t i = 0; i < cur->n; i++) {
		const Xlb__V1__ServiceStatus *s = cur->v[i], *const *p;

		rows[i] = (struct top_row){ .s = s, .pps = -1, .bps = -1, .fps = -1 };
		p = prev->n ? bsearch(&s, prev->v, prev->n, sizeof(*prev->v), by_name) : NULL;
		if (!p)
			continue;
		rows[i].pps = rate(s->packets, (*p)->packets, dt);
		rows[i].bps = rate(s->bytes, (*p)->bytes, dt);
		rows[i].fps = rate(s->new_flows, (*p)->new_flows, dt);
	}
	qsort(rows, cur->n, sizeof(*rows), by_rate);

	if (tty) {
		/* Home, clear the screen, then a title. */
		strftime(title, sizeof(title), "%H:%M:%S", localtime_r(&wall, &tm));
		printf("\033[H\033[2Jxlbctl top: %zu services, every %.1fs (Ctrl-C quits)   %s\n\n",
		       cur->n, (double)(c->interval_ms ? c->interval_ms : TOP_DEFAULT_INTERVAL_MS) /
				       1000, title);
	} else if (!first) {
		printf("\n");
	}
	if (!cur->n) {
		free(rows);
		if (tty)
			printf("No services.\n");
		else
			fprintf(stderr, "No services.\n");
		return fflush(stdout) ? CTL_FAIL : CTL_OK;
	}
	table_init(&t, 6, "NAME", "PKT/S", "BYTES/S", "FLOWS/S", "ENDPOINTS", "HEALTH");
	for (size_t i = 0; i < cur->n; i++) {
		const Xlb__V1__ServiceStatus *s = rows[i].s;
		char pps[32], bps[32], fps[32], eps[32], health[96];
		size_t ready = 0;

		for (size_t j = 0; j < s->n_endpoints; j++)
			ready += s->endpoints[j]->in_datapath;
		snprintf(eps, sizeof(eps), "%zu/%zu", ready, s->n_endpoints);
		table_row(&t, s->service->name, fmt_rate(rows[i].pps, pps, sizeof(pps)),
			  fmt_rate(rows[i].bps, bps, sizeof(bps)),
			  fmt_rate(rows[i].fps, fps, sizeof(fps)), eps,
			  ctl_health_summary(s, health, sizeof(health)));
	}
	free(rows);
	return ctl_table_end(c, &t);
}

int do_top(struct ctl *c)
{
	const char *name = c->argc ? c->argv[0] : NULL;
	int interval = c->interval_ms ? c->interval_ms : TOP_DEFAULT_INTERVAL_MS;
	bool tty = isatty(STDOUT_FILENO);
	struct ctl_svc_list prev, cur;
	double t0, t1;
	int rc = CTL_OK;

	if (ctl_list_services(c, name, &prev))
		return CTL_FAIL;
	t0 = xlb_clock_s();
	for (uint32_t i = 0; rc == CTL_OK && (!c->iterations || i < c->iterations); i++) {
		if (prev.n)
			qsort(prev.v, prev.n, sizeof(*prev.v), by_name);
		sleep_ms(interval);
		if (ctl_list_services(c, name, &cur)) {
			rc = CTL_FAIL;
			break;
		}
		t1 = xlb_clock_s();
		rc = show(c, &prev, &cur, t1 - t0, tty, i == 0);
		ctl_svc_list_free(&prev);
		prev = cur;
		t0 = t1;
	}
	ctl_svc_list_free(&prev);
	return rc;
}
