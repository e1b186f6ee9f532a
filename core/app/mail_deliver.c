/* Mail: the two transports (files, SMTP through libcurl) and the
 * deliverer thread. The deliverer has its own blocking connection, since
 * SMTP is blocking anyway and nothing else runs on its thread; it is woken
 * by NOTIFY aantafel_mail, by a poll timer (retries fall due without a
 * notification) and by stop. */
#include "mail.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "mail_internal.h"
#include "tenant_set.h"

#define MAIL_BATCH 16                   /* messages claimed at once */
#define MAIL_PATH_MAX 4096
#define CONNECT_TIMEOUT_MS 10000
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 10000
#define SWEEP_MAX_MS 60000              /* stale 'sending' rows are looked for at least this often */
#define ERROR_MAX 512

/* ---------------------------------------------------------------- state */

enum dl_state {
	DL_DOWN,                /* no connection: connect after the backoff */
	DL_WORKING,             /* claiming and delivering due messages */
	DL_IDLE,                /* listening: a notification, the poll timer or stop wakes it */
	DL_STOPPING,            /* stop was asked: close the connection */
	DL_STOPPED,
};

struct mail_deliverer {
	pthread_t thread;
	enum dl_state state;
	atomic_bool stop;
	int wake[2];                    /* a pipe: stop writes one byte */
	enum mail_transport_kind kind;
	char *transport;                /* the option as given */
	char *dir;                      /* file: the directory */
	char *smtp_url;                 /* smtp: the URL with our domain as the EHLO name */
	char *conninfo;
	char *from_addr;
	PGconn *pg;
	CURL *curl;
	int backoff_ms;
	bool down_logged;
	int64_t next_sweep_ms;
	/* Whom the next claim looks at: every tenant (after connecting, on
	 * the poll timer, when too many were notified) or the notified ones. */
	struct tenant_set notified;
};

/* One claimed row; the strings point into the claim's PGresult. */
struct outbox_row {
	int64_t tenant_id, id, created_us;
	int attempts;
	const char *slug, *tenant_name, *to, *from_name, *subject, *text, *html;
	const char *unsubscribe;        /* a notification's unsubscribe link, or NULL */
};

enum wait_result { WAIT_READY, WAIT_TIMEOUT, WAIT_STOP, WAIT_ERROR };

static const char CLAIM_SQL[] =
	"SELECT tenant_id, id, slug, tenant_name, created_us, to_addr, from_name, subject,"
	" body_text, body_html, attempts, unsubscribe_url FROM platform.mail_claim($1::int, $2::bigint[])";

static int file_deliver(const struct mail_deliverer *d, const struct outbox_row *r, const char *msg, size_t len,
			char *err, size_t errlen);
static int mkdir_p(char *path, mode_t mode);
static int smtp_deliver(struct mail_deliverer *d, const struct config *c, const struct outbox_row *r,
			const char *msg, size_t len, char *err, size_t errlen);
static size_t smtp_read(char *buf, size_t size, size_t nitems, void *arg);
static int smtp_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);
static void deliverer_free(struct mail_deliverer *d);
static void *dl_main(void *arg);
static void dl_step(struct mail_deliverer *d);
static void dl_connect(struct mail_deliverer *d);
static void dl_work(struct mail_deliverer *d);
static void dl_idle(struct mail_deliverer *d);
static void dl_down(struct mail_deliverer *d, const char *why);
static bool dl_notifications(struct mail_deliverer *d);
static enum wait_result dl_wait(struct mail_deliverer *d, int fd, short events, int64_t timeout_ms);
static int dl_row(const PGresult *res, int i, struct outbox_row *r, char *err, size_t errlen);
static int dl_deliver(struct mail_deliverer *d, const struct config *c, const struct outbox_row *r);
static int dl_finish(struct mail_deliverer *d, const struct config *c, const struct outbox_row *r,
		     int outcome, const char *error);
static int dl_release(struct mail_deliverer *d, const struct outbox_row *r);
static PGresult *dl_exec(struct mail_deliverer *d, const char *sql, int nparams, const char *const *values);
static int64_t now_ms(void);

/* ---------------------------------------------------------------- transports */

int mail_transport_parse(const char *spec, enum mail_transport_kind *kind, char *err, size_t errlen)
{
	if (!spec || strcmp(spec, "off") == 0 || spec[0] == '\0') {
		*kind = MAIL_TRANSPORT_OFF;
		return 0;
	}
	if (strncmp(spec, "file:", 5) == 0) {
		if (spec[5] == '\0') {
			mail_errf(err, errlen, "file: needs a directory, e.g. file:var/mail");
			return -1;
		}
		if (strlen(spec + 5) > MAIL_PATH_MAX - 100) {
			mail_errf(err, errlen, "file: directory name too long");
			return -1;
		}
		*kind = MAIL_TRANSPORT_FILE;
		return 0;
	}
	const char *host;
	if (strncmp(spec, "smtp://", 7) == 0)
		host = spec + 7;
	else if (strncmp(spec, "smtps://", 8) == 0)
		host = spec + 8;
	else {
		mail_errf(err, errlen, "expected off, file:DIR, smtp://HOST[:PORT] or smtps://HOST[:PORT]");
		return -1;
	}
	/* HOST[:PORT] and nothing else: no user or password in the URL (they
	 * are options, and URLs get logged), no path. */
	if (strchr(host, '@')) {
		mail_errf(err, errlen, "no credentials in mail_transport: use smtp_user and smtp_password");
		return -1;
	}
	const char *p = host;
	if (*p == '[') {
		p++;
		while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F') || *p == ':' ||
		       *p == '.')
			p++;
		if (*p != ']' || p == host + 1) {
			mail_errf(err, errlen, "malformed IPv6 address in %s", spec);
			return -1;
		}
		p++;
	} else {
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		       *p == '.')
			p++;
		if (p == host || p - host > 253) {
			mail_errf(err, errlen, "no host in %s", spec);
			return -1;
		}
	}
	if (*p == ':') {
		const char *port = ++p;
		long v = 0;
		while (*p >= '0' && *p <= '9' && p - port < 6)
			v = v * 10 + (*p++ - '0');
		if (p == port || v < 1 || v > 65535) {
			mail_errf(err, errlen, "bad port in %s", spec);
			return -1;
		}
	}
	if (*p != '\0') {
		mail_errf(err, errlen, "unexpected '%c' in %s: give HOST[:PORT] only (credentials are smtp_user and smtp_password)",
		     *p, spec);
		return -1;
	}
	*kind = MAIL_TRANSPORT_SMTP;
	return 0;
}

/* DIR/SLUG/ID.eml, written to a temporary name and renamed, so a reader
 * never sees half a message; writing the same message again replaces it. */
static int file_deliver(const struct mail_deliverer *d, const struct outbox_row *r, const char *msg, size_t len,
			char *err, size_t errlen)
{
	char dir[MAIL_PATH_MAX], tmp[MAIL_PATH_MAX], path[MAIL_PATH_MAX];
	int n1 = snprintf(dir, sizeof(dir), "%s/%s", d->dir, r->slug);
	int n2 = snprintf(tmp, sizeof(tmp), "%s/.%" PRId64 ".eml.tmp", dir, r->id);
	int n3 = snprintf(path, sizeof(path), "%s/%" PRId64 ".eml", dir, r->id);
	if (n1 < 0 || n2 < 0 || n3 < 0 || (size_t)n1 >= sizeof(dir) || (size_t)n2 >= sizeof(tmp) ||
	    (size_t)n3 >= sizeof(path)) {
		mail_errf(err, errlen, "path too long");
		return -1;
	}
	if (mkdir_p(dir, 0700) != 0) {
		mail_errf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		mail_errf(err, errlen, "open %s: %s", tmp, strerror(errno));
		return -1;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, msg + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			mail_errf(err, errlen, "write %s: %s", tmp, w < 0 ? strerror(errno) : "no progress");
			close(fd);
			unlink(tmp);
			return -1;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		mail_errf(err, errlen, "write %s: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) != 0) {
		mail_errf(err, errlen, "rename to %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

static int mkdir_p(char *path, mode_t mode)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int rc = mkdir(path, mode);
		*p = '/';
		if (rc != 0 && errno != EEXIST)
			return -1;
	}
	if (mkdir(path, mode) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

struct upload {
	const char *p;
	size_t len, off;
};

/* 0 sent; -1 failed (ERR says why); 1 aborted because the deliverer stops. */
static int smtp_deliver(struct mail_deliverer *d, const struct config *c, const struct outbox_row *r,
			const char *msg, size_t len, char *err, size_t errlen)
{
	CURL *h = d->curl;
	char from[MAIL_ADDR_MAX + 3], to[MAIL_ADDR_MAX + 3], cerr[CURL_ERROR_SIZE];
	snprintf(from, sizeof(from), "<%s>", d->from_addr);
	snprintf(to, sizeof(to), "<%s>", r->to);
	struct curl_slist *rcpt = curl_slist_append(NULL, to);
	if (!rcpt) {
		mail_errf(err, errlen, "out of memory");
		return -1;
	}
	struct upload up = {msg, len, 0};
	bool smtps = strncmp(d->transport, "smtps://", 8) == 0;
	cerr[0] = '\0';
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, d->smtp_url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, smtps ? "smtps" : "smtp");
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, smtp_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &up);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->smtp_timeout < CONNECT_TIMEOUT_MS ? c->smtp_timeout
											    : CONNECT_TIMEOUT_MS));
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->smtp_timeout);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, smtp_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, d);
	if (!smtps)
		curl_easy_setopt(h, CURLOPT_USE_SSL, c->smtp_insecure ? (long)CURLUSESSL_TRY : (long)CURLUSESSL_ALL);
	if (c->smtp_insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->smtp_user[0]) {
		curl_easy_setopt(h, CURLOPT_USERNAME, c->smtp_user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, c->smtp_password);
	}
	CURLcode rc = curl_easy_perform(h);
	curl_slist_free_all(rcpt);
	if (rc == CURLE_OK)
		return 0;
	if (rc == CURLE_ABORTED_BY_CALLBACK && atomic_load(&d->stop))
		return 1;
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	/* The error buffer may name the host; it never holds credentials. */
	if (code > 0)
		mail_errf(err, errlen, "%s: %s (last SMTP reply %ld)", curl_easy_strerror(rc), cerr[0] ? cerr : "-", code);
	else
		mail_errf(err, errlen, "%s: %s", curl_easy_strerror(rc), cerr[0] ? cerr : "-");
	return -1;
}

static size_t smtp_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct upload *up = arg;
	size_t room = size * nitems, left = up->len - up->off;
	size_t n = left < room ? left : room;
	memcpy(buf, up->p + up->off, n);
	up->off += n;
	return n;
}

/* Lets stop interrupt a slow server instead of waiting for smtp_timeout. */
static int smtp_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct mail_deliverer *d = arg;
	return atomic_load(&d->stop) ? 1 : 0;
}

/* ---------------------------------------------------------------- the deliverer */

int mail_deliverer_start(const struct config *cfg, struct mail_deliverer **out)
{
	char err[256];
	enum mail_transport_kind kind;
	*out = NULL;
	if (mail_transport_parse(cfg->mail_transport, &kind, err, sizeof(err)) != 0) {
		log_error("mail_transport: %s", err);
		return -1;
	}
	if (kind == MAIL_TRANSPORT_OFF) {
		log_info("mail: delivery is off (mail_transport = off): mails stay queued");
		return 0;
	}
	if (!cfg->database_url[0])
		return 0;
	const char *from = cfg->mail_from;
	if (!from[0] && kind == MAIL_TRANSPORT_FILE)
		from = "noreply@localhost";
	if (!mail_address_valid(from)) {
		log_error("mail_from: %s", from[0] ? "not a plain address (local@domain)"
						 : "must be set for SMTP delivery (the sender address)");
		return -1;
	}
	if (cfg->mail_claim_timeout < 2 * cfg->smtp_timeout)
		log_warn("mail: mail_claim_timeout (%" PRId64 " ms) is less than twice smtp_timeout (%" PRId64
			 " ms): a slow delivery may be sent twice", cfg->mail_claim_timeout, cfg->smtp_timeout);

	struct mail_deliverer *d = calloc(1, sizeof(*d));
	if (!d) {
		log_error("mail: out of memory");
		return -1;
	}
	d->wake[0] = d->wake[1] = -1;
	d->kind = kind;
	d->state = DL_DOWN;
	atomic_init(&d->stop, false);
	d->transport = strdup(cfg->mail_transport);
	d->conninfo = strdup(cfg->database_url);
	d->from_addr = strdup(from);
	if (!d->transport || !d->conninfo || !d->from_addr)
		goto fail;
	if (kind == MAIL_TRANSPORT_FILE) {
		d->dir = strdup(cfg->mail_transport + 5);
		if (!d->dir)
			goto fail;
	} else {
		/* curl sends the URL's path as the EHLO name: our own domain
		 * rather than its default "localhost". */
		size_t n = strlen(d->transport) + strlen(d->from_addr) + 2;
		d->smtp_url = malloc(n);
		if (!d->smtp_url)
			goto fail;
		snprintf(d->smtp_url, n, "%s/%s", d->transport, strchr(d->from_addr, '@') + 1);
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			log_error("mail: curl_global_init failed");
			goto fail;
		}
		d->curl = curl_easy_init();
		if (!d->curl) {
			curl_global_cleanup();
			log_error("mail: curl_easy_init failed");
			goto fail;
		}
	}
	if (pipe2(d->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		log_error("mail: pipe: %s", strerror(errno));
		goto fail;
	}
	int rc = pthread_create(&d->thread, NULL, dl_main, d);
	if (rc != 0) {
		log_error("mail: cannot start the deliverer thread: %s", strerror(rc));
		goto fail;
	}
	if (kind == MAIL_TRANSPORT_FILE)
		log_info("mail: delivering as files under %s/<tenant>/<id>.eml", d->dir);
	else
		log_info("mail: delivering through %s%s", d->transport,
			 strncmp(d->transport, "smtps://", 8) == 0 ? " (TLS)"
			 : cfg->smtp_insecure                      ? " (smtp_insecure: TLS optional and unverified)"
								   : " (STARTTLS required)");
	*out = d;
	return 0;
fail:
	deliverer_free(d);
	return -1;
}

/* What start made, once the thread is gone (or was never started). */
static void deliverer_free(struct mail_deliverer *d)
{
	if (d->curl) {
		curl_easy_cleanup(d->curl);
		curl_global_cleanup();
	}
	if (d->wake[0] >= 0)
		close(d->wake[0]);
	if (d->wake[1] >= 0)
		close(d->wake[1]);
	free(d->transport);
	free(d->conninfo);
	free(d->from_addr);
	free(d->dir);
	free(d->smtp_url);
	free(d);
}

void mail_deliverer_stop(struct mail_deliverer *d)
{
	if (!d)
		return;
	atomic_store(&d->stop, true);
	ssize_t w;
	do
		w = write(d->wake[1], "x", 1);
	while (w < 0 && errno == EINTR);
	pthread_join(d->thread, NULL);
	deliverer_free(d);
	log_info("mail: deliverer stopped");
}

static void *dl_main(void *arg)
{
	struct mail_deliverer *d = arg;
	while (d->state != DL_STOPPED)
		dl_step(d);
	return NULL;
}

/* The one driver: every state change happens here or in the function of
 * the state it calls. */
static void dl_step(struct mail_deliverer *d)
{
	if (d->state != DL_STOPPED && atomic_load(&d->stop))
		d->state = DL_STOPPING;
	switch (d->state) {
	case DL_DOWN:
		dl_connect(d);
		break;
	case DL_WORKING:
		dl_work(d);
		break;
	case DL_IDLE:
		dl_idle(d);
		break;
	case DL_STOPPING:
		if (d->pg)
			PQfinish(d->pg);
		d->pg = NULL;
		d->state = DL_STOPPED;
		break;
	case DL_STOPPED:
		break;
	}
}

/* DL_DOWN: after the backoff, connect and LISTEN; then claim at once, for
 * mail may have been queued while there was no connection. */
static void dl_connect(struct mail_deliverer *d)
{
	if (d->backoff_ms > 0 && dl_wait(d, -1, 0, d->backoff_ms) == WAIT_STOP)
		return;
	const char *keys[] = {"dbname", "application_name", NULL};
	const char *vals[] = {d->conninfo, "aantafel-mail", NULL};
	PGconn *pg = PQconnectStartParams(keys, vals, 1);
	if (!pg) {
		dl_down(d, "out of memory");
		return;
	}
	d->pg = pg;
	if (PQstatus(pg) == CONNECTION_BAD) {
		dl_down(d, PQerrorMessage(pg));
		return;
	}
	int64_t deadline = now_ms() + CONNECT_TIMEOUT_MS;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED) {
			dl_down(d, PQerrorMessage(pg));
			return;
		}
		enum wait_result w = dl_wait(d, PQsocket(pg), st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
					     deadline - now_ms());
		if (w == WAIT_STOP)
			return;
		if (w == WAIT_TIMEOUT) {
			dl_down(d, "timed out connecting");
			return;
		}
		st = PQconnectPoll(pg);
	}
	PGresult *r = dl_exec(d, "LISTEN aantafel_mail", 0, NULL);
	if (!r)
		return;
	PQclear(r);
	if (d->down_logged)
		log_info("mail: database connection is back");
	d->down_logged = false;
	d->backoff_ms = 0;
	d->next_sweep_ms = 0;
	tenant_set_all(&d->notified);
	d->state = DL_WORKING;
}

/* DL_WORKING: puts back rows of dead deliverers now and then, claims one
 * batch and delivers it. A full batch means there may be more: claim
 * again; otherwise listen. */
static void dl_work(struct mail_deliverer *d)
{
	struct config *c = config_acquire();
	if (!c) {
		d->state = DL_IDLE;
		return;
	}
	char a[32], b[32];
	if (now_ms() >= d->next_sweep_ms) {
		snprintf(a, sizeof(a), "%.3f", (double)c->mail_claim_timeout / 1000.0);
		snprintf(b, sizeof(b), "%" PRId64, c->mail_max_attempts);
		const char *v[] = {a, b};
		PGresult *r = dl_exec(d, "SELECT platform.mail_requeue_stale(make_interval(secs => $1::float8), $2::int)",
				      2, v);
		if (!r) {
			config_unref(c);
			return;
		}
		if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "0") != 0)
			log_warn("mail: %s message(s) were still 'sending' after %s s (a deliverer stopped mid-way);"
				 " put back in the queue", PQgetvalue(r, 0, 0), a);
		PQclear(r);
		int64_t every = c->mail_claim_timeout / 2;
		d->next_sweep_ms = now_ms() + (every < 1000 ? 1000 : every > SWEEP_MAX_MS ? SWEEP_MAX_MS : every);
	}

	/* Tenants notified while the last batch was delivered join this
	 * claim. */
	dl_notifications(d);
	char tenants[TENANT_SET_TEXT];
	snprintf(a, sizeof(a), "%d", MAIL_BATCH);
	const char *v[] = {a, tenant_set_array(&d->notified, tenants, sizeof(tenants))};
	PGresult *res = dl_exec(d, CLAIM_SQL, 2, v);
	if (!res) {
		config_unref(c);
		return;
	}
	int n = PQntuples(res);
	int64_t claimed_at = now_ms();
	int i = 0;
	for (; i < n && d->state == DL_WORKING; i++) {
		struct outbox_row row;
		char why[ERROR_MAX];
		if (atomic_load(&d->stop))
			break;
		if (dl_row(res, i, &row, why, sizeof(why)) != 0) {
			/* A row this code cannot send will never be sendable. */
			log_error("mail: tenant_id=%s id=%s cannot be sent: %s", PQgetvalue(res, i, 0),
				  PQgetvalue(res, i, 1), why);
			if (row.tenant_id > 0 && row.id > 0)
				dl_finish(d, c, &row, -2, why);
			continue;
		}
		/* Rows that waited in the batch for half the claim timeout go
		 * back: another daemon's sweep must never find a row that is
		 * still to be sent here. */
		if (now_ms() - claimed_at > c->mail_claim_timeout / 2)
			break;
		dl_deliver(d, c, &row);
	}
	/* Stop, a lost connection or the time limit: what is left was never
	 * tried. */
	for (; i < n && d->pg && d->state != DL_DOWN; i++) {
		struct outbox_row row = {
			.tenant_id = db_int(res, i, 0),
			.id = db_int(res, i, 1),
		};
		if (dl_release(d, &row) != 0)
			break;
	}
	PQclear(res);
	config_unref(c);
	if (d->state == DL_WORKING && n < MAIL_BATCH) {
		/* Those tenants have nothing due now; a full batch means they
		 * may have more, so the same claim runs again. */
		tenant_set_clear(&d->notified);
		d->state = DL_IDLE;
	}
}

/* DL_IDLE: waits for a notification, the poll interval or stop. */
static void dl_idle(struct mail_deliverer *d)
{
	struct config *c = config_acquire();
	int64_t interval = c ? c->mail_poll_interval : 30000;
	if (c)
		config_unref(c);
	int64_t until = now_ms() + interval;
	if (d->next_sweep_ms && d->next_sweep_ms < until)
		until = d->next_sweep_ms;
	for (;;) {
		if (!PQconsumeInput(d->pg)) {
			dl_down(d, PQerrorMessage(d->pg));
			return;
		}
		if (dl_notifications(d)) {
			d->state = DL_WORKING;
			return;
		}
		enum wait_result w = dl_wait(d, PQsocket(d->pg), POLLIN, until - now_ms());
		if (w == WAIT_STOP)
			return;
		if (w == WAIT_TIMEOUT) {
			/* Retries fall due without a notification. */
			tenant_set_all(&d->notified);
			d->state = DL_WORKING;
			return;
		}
		if (w == WAIT_ERROR) {
			dl_down(d, "poll failed");
			return;
		}
	}
}

/* Takes the notifications libpq has read (also those that came during
 * earlier statements); each payload names a tenant. Returns whether there
 * were any. */
static bool dl_notifications(struct mail_deliverer *d)
{
	bool any = false;
	PGnotify *nt;
	while ((nt = PQnotifies(d->pg))) {
		any = true;
		tenant_set_note(&d->notified, nt->extra);
		PQfreemem(nt);
	}
	return any;
}

static void dl_down(struct mail_deliverer *d, const char *why)
{
	if (!d->down_logged)
		log_warn("mail: database: %.*s; reconnecting", (int)strcspn(why, "\n"), why);
	d->down_logged = true;
	if (d->pg)
		PQfinish(d->pg);
	d->pg = NULL;
	d->backoff_ms = d->backoff_ms ? d->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (d->backoff_ms > BACKOFF_MAX_MS)
		d->backoff_ms = BACKOFF_MAX_MS;
	d->state = DL_DOWN;
}

/* Waits until FD (when >= 0) is ready for EVENTS, stop is asked or
 * TIMEOUT_MS pass. */
static enum wait_result dl_wait(struct mail_deliverer *d, int fd, short events, int64_t timeout_ms)
{
	for (;;) {
		if (atomic_load(&d->stop)) {
			d->state = DL_STOPPING;
			return WAIT_STOP;
		}
		if (timeout_ms < 0)
			timeout_ms = 0;
		struct pollfd p[2] = {{.fd = d->wake[0], .events = POLLIN}, {.fd = fd, .events = events}};
		int64_t start = now_ms();
		int rc = poll(p, fd >= 0 ? 2 : 1, timeout_ms > 3600000 ? 3600000 : (int)timeout_ms);
		if (rc < 0 && errno == EINTR) {
			timeout_ms -= now_ms() - start;
			continue;
		}
		if (rc < 0)
			return WAIT_ERROR;
		if (p[0].revents) {
			if (atomic_load(&d->stop)) {
				d->state = DL_STOPPING;
				return WAIT_STOP;
			}
			char buf[16];
			while (read(d->wake[0], buf, sizeof(buf)) > 0)
				;
		}
		if (fd >= 0 && p[1].revents)
			return WAIT_READY;
		if (rc == 0)
			return WAIT_TIMEOUT;
		timeout_ms -= now_ms() - start;
	}
}

/* Reads row I of a claim, checking what the code relies on (the
 * database's constraints say the same; a row is outside data all the
 * same). On error R's ids are set when they could be read. */
static int dl_row(const PGresult *res, int i, struct outbox_row *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (PQnfields(res) != 12) {
		mail_errf(err, errlen, "claim returned %d columns", PQnfields(res));
		return -1;
	}
	r->tenant_id = db_int(res, i, 0);
	r->id = db_int(res, i, 1);
	if (r->tenant_id <= 0 || r->id <= 0) {
		mail_errf(err, errlen, "bad ids");
		return -1;
	}
	r->slug = PQgetvalue(res, i, 2);
	r->tenant_name = PQgetvalue(res, i, 3);
	r->created_us = db_int(res, i, 4);
	r->to = PQgetvalue(res, i, 5);
	r->from_name = PQgetisnull(res, i, 6) ? NULL : PQgetvalue(res, i, 6);
	r->subject = PQgetvalue(res, i, 7);
	r->text = PQgetvalue(res, i, 8);
	r->html = PQgetisnull(res, i, 9) ? NULL : PQgetvalue(res, i, 9);
	r->attempts = (int)strtol(PQgetvalue(res, i, 10), NULL, 10);
	r->unsubscribe = PQgetisnull(res, i, 11) ? NULL : PQgetvalue(res, i, 11);
	size_t sl = (size_t)PQgetlength(res, i, 2);
	if (sl == 0 || sl > 63 || !(r->slug[0] >= 'a' && r->slug[0] <= 'z') ||
	    strspn(r->slug, "abcdefghijklmnopqrstuvwxyz0123456789-") != sl) {
		mail_errf(err, errlen, "bad tenant slug");
		return -1;
	}
	if (!mail_address_valid(r->to)) {
		mail_errf(err, errlen, "invalid recipient address");
		return -1;
	}
	if (PQgetlength(res, i, 8) > MAIL_BODY_MAX || PQgetlength(res, i, 9) > MAIL_BODY_MAX) {
		mail_errf(err, errlen, "body larger than %d bytes", MAIL_BODY_MAX);
		return -1;
	}
	return 0;
}

/* Builds and sends one claimed row, then records the outcome. */
static int dl_deliver(struct mail_deliverer *d, const struct config *c, const struct outbox_row *r)
{
	struct mail_message m = {
		.from_addr = d->from_addr,
		.from_name = r->from_name ? r->from_name : r->tenant_name,
		.to = r->to,
		.subject = r->subject,
		.text = r->text,
		.html = r->html,
		.unsubscribe = r->unsubscribe,
		.date = (time_t)(r->created_us / 1000000),
		.tenant_id = r->tenant_id,
		.id = r->id,
		.created_us = r->created_us,
	};
	char err[ERROR_MAX];
	char *msg;
	size_t len;
	if (mail_build(&m, &msg, &len, err, sizeof(err)) != 0) {
		log_error("mail: tenant=%s id=%" PRId64 " cannot be built: %s", r->slug, r->id, err);
		return dl_finish(d, c, r, -2, err);
	}
	int rc;
	if (d->kind == MAIL_TRANSPORT_FILE)
		rc = file_deliver(d, r, msg, len, err, sizeof(err));
	else
		rc = smtp_deliver(d, c, r, msg, len, err, sizeof(err));
	free(msg);
	if (rc == 1)
		return dl_release(d, r);
	return dl_finish(d, c, r, rc, err);
}

/* Records OUTCOME: 0 sent, -1 failed (retry), -2 failed for good. */
static int dl_finish(struct mail_deliverer *d, const struct config *c, const struct outbox_row *r,
		     int outcome, const char *error)
{
	char tid[24], id[24], max[24];
	snprintf(tid, sizeof(tid), "%" PRId64, r->tenant_id);
	snprintf(id, sizeof(id), "%" PRId64, r->id);
	const char *slug = r->slug ? r->slug : "?";
	if (outcome == 0) {
		const char *v[] = {tid, id};
		PGresult *res = dl_exec(d, "SELECT platform.mail_sent($1::bigint, $2::bigint)", 2, v);
		if (!res) {
			log_error("mail: tenant=%s id=%" PRId64 " was sent but could not be marked sent;"
				  " it may be sent again", slug, r->id);
			return -1;
		}
		PQclear(res);
		log_info("mail: tenant=%s id=%" PRId64 " sent (attempt %d)", slug, r->id, r->attempts);
		return 0;
	}
	snprintf(max, sizeof(max), "%" PRId64, outcome == -2 ? (int64_t)0 : c->mail_max_attempts);
	const char *v[] = {tid, id, error, max};
	PGresult *res = dl_exec(d, "SELECT status, next_attempt_at FROM platform.mail_retry($1::bigint, $2::bigint, $3, $4::int)",
				4, v);
	if (!res)
		return -1;
	const char *status = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "";
	if (strcmp(status, "queued") == 0)
		log_warn("mail: tenant=%s id=%" PRId64 " attempt %d failed: %s; next attempt at %s", slug, r->id,
			 r->attempts, error, PQgetvalue(res, 0, 1));
	else
		log_error("mail: tenant=%s id=%" PRId64 " attempt %d failed: %s; giving up", slug, r->id, r->attempts,
			  error);
	PQclear(res);
	return 0;
}

static int dl_release(struct mail_deliverer *d, const struct outbox_row *r)
{
	char tid[24], id[24];
	snprintf(tid, sizeof(tid), "%" PRId64, r->tenant_id);
	snprintf(id, sizeof(id), "%" PRId64, r->id);
	const char *v[] = {tid, id};
	PGresult *res = dl_exec(d, "SELECT platform.mail_release($1::bigint, $2::bigint)", 2, v);
	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

/* Runs one statement; on failure logs it, drops the connection (the
 * backoff keeps a failing function from spinning) and returns NULL. */
static PGresult *dl_exec(struct mail_deliverer *d, const char *sql, int nparams, const char *const *values)
{
	if (!d->pg)
		return NULL;
	PGresult *r = PQexecParams(d->pg, sql, nparams, NULL, values, NULL, NULL, 0);
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return r;
	const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(d->pg);
	if (PQstatus(d->pg) == CONNECTION_OK)
		log_error("mail: %.*s", (int)strcspn(msg, "\n"), msg);
	char why[ERROR_MAX];
	snprintf(why, sizeof(why), "%s", msg);
	PQclear(r);
	dl_down(d, why);
	return NULL;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
