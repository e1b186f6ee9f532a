/* Fuzzes the parser glue: a connection without a socket (http_conn_detached)
 * fed a byte stream in pieces, through head checks, body framing
 * (Content-Length and chunked bodies, pipelining, Expect), limits and a
 * handler that answers in every way the http.h API allows: at once, later
 * (after more input, or after the connection is gone), streamed, with an
 * error page, with a body by reference. Nothing may leak, no reference may
 * stay unreleased, and the connection must be gone or freeable at the end.
 *
 * Input: byte 0 = flags (bit 0: small limits; bits 1-3: the handler's
 * first behaviour; bit 4: the client leaves while a request is still
 * with the handler), bytes 1-3 = sizes of the pieces fed in turn (0: all
 * the rest), then the stream. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The code under test is compiled into this target, not taken from the
 * core library: only so does it get libFuzzer's coverage instrumentation
 * and the sanitizers. The library supplies the rest (config, log, error
 * pages, worker). */
#include "../../core/net/http_chunked.c"
#include "../../core/net/http_head.c"
#include "../../core/net/http_response.c"
#include "../../core/net/http_conn.c"
#include "../../core/base/lang.c"

#include "http_error.h"
#include "fz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

enum fz_way {
	FZ_PLAIN,               /* a small body, sent at once */
	FZ_ECHO,                /* reads everything, echoes the body */
	FZ_STREAM,              /* chunked (1.1) or close-delimited (1.0) */
	FZ_ERROR,               /* a static error page */
	FZ_NO_BODY,             /* 204/304: the body is dropped */
	FZ_HEADERS,             /* header checks and a body by reference */
	FZ_LATER,               /* answered after the next piece of input */
	FZ_STREAM_LATER,        /* stream begun now, ended later */
	FZ_NWAYS
};

static struct worker fz_w;
static struct config *fz_cfg_default, *fz_cfg_small;
static bool fz_ready;

static unsigned fz_first_way;
static unsigned fz_nreq;
static struct http_request *fz_pending;
static bool fz_pending_stream;
static long fz_refs_out;        /* body references not yet released */
static unsigned long fz_sum;    /* keeps the reads of request bytes alive */

static const char fz_ref_body[] = "a body passed by reference\n";

static void fz_handler(struct http_request *req);

static void fz_setup(void)
{
	char err[512];
	if (fz_ready)
		return;
	fz_cfg_default = config_load(NULL, err, sizeof(err));
	fz_cfg_small = config_load(NULL, err, sizeof(err));
	FZ_ASSERT(fz_cfg_default && fz_cfg_small);
	/* Quiet: a rejection is logged at info, every request in the
	 * access log. */
	fz_cfg_default->log_level = LOG_LEVEL_ERROR;
	fz_cfg_default->access_log = false;
	FZ_ASSERT(log_configure(fz_cfg_default, err, sizeof(err)) == 0);
	/* Small limits, set on the struct directly (some below what a file
	 * may set) so that every limit is within the fuzzer's reach. */
	fz_cfg_small->max_head_size = 256;
	fz_cfg_small->max_headers = 6;
	fz_cfg_small->max_body_size = 40;
	fz_cfg_small->max_requests_per_connection = 5;
	fz_cfg_small->max_pipelined_output = 256;

	fz_w.index = 0;
	fz_w.state = WORKER_RUNNING;
	fz_w.base = NULL;
	fz_w.static_dirfd = -1;
	fz_w.handler = fz_handler;
	fz_w.pages = error_pages_load("errors");
	FZ_ASSERT(fz_w.pages);
	fz_ready = true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_setup();
	return 0;
}

static void fz_release(const void *data, size_t len, void *arg)
{
	FZ_ASSERT(data == fz_ref_body && len == sizeof(fz_ref_body) - 1 && arg == &fz_refs_out);
	fz_refs_out--;
}

static int fz_aborts;

static void fz_on_abort(void *arg)
{
	FZ_ASSERT(arg == fz_pending);
	fz_aborts++;
}

/* Reads every part of the request the API offers and checks its shape. */
static void fz_inspect(struct http_request *req)
{
	size_t plen = 0, blen = 0;
	const char *path = http_req_path(req, &plen);
	FZ_ASSERT(path && plen > 0 && strlen(path) == plen);
	const char *query = http_req_query(req);
	FZ_ASSERT(query);
	fz_sum += strlen(query);
	const char *host = http_req_host(req);
	size_t hlen = strlen(host);
	FZ_ASSERT(hlen < 256);
	for (size_t i = 0; i < hlen; i++)
		FZ_ASSERT(!(host[i] >= 'A' && host[i] <= 'Z') && (unsigned char)host[i] > 0x20);
	const unsigned char *body = http_req_body(req, &blen);
	FZ_ASSERT(body && blen <= (size_t)fz_w.cfg->max_body_size);
	for (size_t i = 0; i < blen; i++)
		fz_sum += body[i];
	const char *m = http_req_method_name(req);
	FZ_ASSERT(m && strlen(m) > 0);
	fz_sum += (unsigned)http_req_method(req);
	static const char *names[] = {"Content-Type", "host", "X-Fuzz", "Accept-Language", "Connection"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *v = http_req_header(req, names[i]);
		if (v)
			fz_sum += strlen(v);
	}
	const char *lang = http_req_lang(req);
	FZ_ASSERT(strcmp(lang, "nl") == 0 || strcmp(lang, "en") == 0);
	FZ_ASSERT(strlen(http_req_id(req)) == 10);
	FZ_ASSERT(http_req_peer(req) != NULL);
	FZ_ASSERT(http_req_worker(req) == &fz_w);
	FZ_ASSERT(!http_req_aborted(req));
	http_req_set_tenant(req, "fuzz");
	FZ_ASSERT(strcmp(http_req_tenant(req), "fuzz") == 0);
}

static void fz_answer(struct http_request *req, unsigned way)
{
	static const int errors[] = {400, 403, 404, 405, 413, 418, 431, 500, 501, 503};
	size_t blen = 0;
	const char *body;

	switch (way) {
	case FZ_PLAIN:
	case FZ_LATER:
		http_resp_header(req, "Content-Type", "text/plain");
		http_resp_body(req, "hello\n", 6);
		http_resp_send(req);
		break;
	case FZ_ECHO:
		body = http_req_body(req, &blen);
		http_resp_status(req, 201);
		http_resp_printf(req, "%s %s %zu\n", http_req_method_name(req), http_req_path(req, NULL), blen);
		http_resp_body(req, body, blen);
		http_resp_send(req);
		break;
	case FZ_STREAM:
	case FZ_STREAM_LATER:
		http_resp_stream_begin(req);
		http_resp_stream_write(req, "part one\n", 9);
		http_resp_stream_write(req, "", 0);
		http_resp_pending(req);
		http_resp_stream_end(req);
		break;
	case FZ_ERROR:
		http_resp_header(req, "Retry-After", "1");
		http_resp_error(req, errors[fz_nreq % (sizeof(errors) / sizeof(errors[0]))]);
		break;
	case FZ_NO_BODY:
		http_resp_status(req, fz_nreq % 2 ? 204 : 304);
		http_resp_body(req, "dropped", 7);
		http_resp_send(req);
		break;
	case FZ_HEADERS: {
		/* No header injection through the API. */
		FZ_ASSERT(http_resp_header(req, "X-Bad", "a\r\nSet-Cookie: x") == -1);
		FZ_ASSERT(http_resp_header(req, "X-Bad", "a\nb") == -1);
		FZ_ASSERT(http_resp_header(req, "Bad Name", "v") == -1);
		FZ_ASSERT(http_resp_header(req, "", "v") == -1);
		FZ_ASSERT(http_resp_header(req, "X-Nul", "a\x01") == -1);
		/* A request's header value is always a valid response value. */
		const char *v = http_req_header(req, "X-Fuzz");
		if (v && strlen(v) < 4096)
			FZ_ASSERT(http_resp_header(req, "X-Echo", v) == 0);
		fz_refs_out++;
		http_resp_body_ref(req, fz_ref_body, sizeof(fz_ref_body) - 1, fz_release, &fz_refs_out);
		http_resp_send(req);
		break;
	}
	default:
		FZ_ASSERT(0);
	}
}

static void fz_handler(struct http_request *req)
{
	unsigned way = (fz_first_way + fz_nreq++) % FZ_NWAYS;
	fz_inspect(req);
	if (way == FZ_LATER || way == FZ_STREAM_LATER) {
		FZ_ASSERT(fz_pending == NULL);
		fz_pending = req;
		fz_pending_stream = way == FZ_STREAM_LATER;
		http_req_on_abort(req, fz_on_abort, req);
		if (fz_pending_stream) {
			http_resp_stream_begin(req);
			http_resp_stream_write(req, "first\n", 6);
		}
		return;
	}
	fz_answer(req, way);
}

/* Answers the request the handler kept, if any. The answer may let the
 * connection dispatch a pipelined request, which may be kept again. */
static void fz_answer_pending(void)
{
	struct http_request *req = fz_pending;
	if (!req)
		return;
	fz_pending = NULL;
	if (fz_pending_stream) {
		http_resp_stream_write(req, "second\n", 7);
		http_resp_stream_end(req);
	} else {
		fz_answer(req, FZ_LATER);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_setup();
	if (size < 4)
		return 0;
	fz_w.cfg = data[0] & 1 ? fz_cfg_small : fz_cfg_default;
	fz_first_way = (unsigned)(data[0] >> 1) % FZ_NWAYS;
	bool leave_early = data[0] & 0x10;
	fz_nreq = 0;
	fz_pending = NULL;
	fz_refs_out = 0;
	fz_aborts = 0;

	struct http_conn *c = http_conn_detached(&fz_w);
	FZ_ASSERT(c && fz_w.conns == c && fz_w.nconns == 1);

	/* Feed from an exact-size copy, so a read past the input shows. */
	size_t left = size - 4;
	char *copy = malloc(left ? left : 1);
	FZ_ASSERT(copy);
	memcpy(copy, data + 4, left);
	const char *p = copy;
	for (unsigned k = 0; left > 0 && fz_w.conns; k++) {
		size_t n = data[1 + k % 3];
		if (n == 0 || n > left)
			n = left;
		http_conn_feed(c, p, n);
		p += n;
		left -= n;
		/* Between pieces, an asynchronous answer arrives. */
		if (k % 2 == 1 && fz_w.conns)
			fz_answer_pending();
	}
	/* Answers still owed while the connection lives may release more
	 * pipelined requests; each answer takes at least one request. */
	for (int i = 0; i < 10000 && !leave_early && fz_pending && fz_w.conns; i++)
		fz_answer_pending();

	/* The connection closed itself, or the client goes away now. */
	FZ_ASSERT(fz_w.nconns == (fz_w.conns ? 1u : 0u));
	bool owed = fz_pending != NULL;
	if (fz_w.conns)
		http_conn_free_detached(c);
	FZ_ASSERT(fz_w.conns == NULL && fz_w.nconns == 0);
	/* A handler still owning a request was told, once, and answers it
	 * into the void. */
	if (owed) {
		FZ_ASSERT(fz_aborts == 1);
		FZ_ASSERT(http_req_aborted(fz_pending));
		fz_answer_pending();
	}
	FZ_ASSERT(fz_pending == NULL);
	FZ_ASSERT(fz_refs_out == 0);
	free(copy);
	return 0;
}
