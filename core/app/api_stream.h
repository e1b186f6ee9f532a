/* The answer of an API_STREAM operation (api.h), an export that can be far
 * larger than one JSON value: the operation answered 200 with
 * {"content_type", "filename", "head", "sep", "tail", "rows"} and, when
 * "rows" is true, opened the cursor api.export_cursor() names
 * (sql/code/table_export.sql). The stream sends HEAD, the cursor's rows
 * (one text column) joined by SEP, then TAIL, as a chunked response, in
 * bounded memory:
 *
 * - the rows are fetched API_STREAM_BATCH at a time on the request's
 *   connection, in its transaction (one snapshot throughout): what the
 *   daemon holds is a batch (twice: libpq's result and the chunk), at
 *   most 100 contributions of 10,000 characters, not the export;
 * - a batch is fetched only once the client has taken what was queued
 *   when more than API_STREAM_HIGH bytes wait for it (the connection's
 *   write event says when: http_resp_on_drained): a slow client slows
 *   the export, it does not
 *   fill the daemon's memory, and one that stops taking is cut by the
 *   connection's write timeout;
 * - a client that leaves, or a database that fails midway, ends the
 *   transaction (rolled back) and gives the connection back to the pool;
 *   an answer cut short by a failure ends without its last chunk, so the
 *   client cannot take it for a whole one. */
#ifndef AANTAFEL_API_STREAM_H
#define AANTAFEL_API_STREAM_H

#include <jansson.h>
#include <stdbool.h>

#include "db.h"
#include "http.h"

#define API_STREAM_BATCH 100
#define API_STREAM_HIGH (256 * 1024)

/* Prepared statements; before the workers start. */
void api_stream_register_statements(void);

/* Streams the export BODY describes on REQ (status and the common headers
 * already set), taking over TXN: committed at the end when COMMIT (a
 * signed-in caller's last use moved), else released; rolled back on
 * failure. DONE(ARG) runs once when the request is answered. 0, or -1
 * when BODY is not an export's answer (nothing taken over). */
int api_stream_start(struct http_request *req, struct db_txn *txn, bool commit, const json_t *body,
		     void (*done)(void *arg), void *arg);

#endif
