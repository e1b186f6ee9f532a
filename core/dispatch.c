/* Request dispatch: routes that belong to the platform, before any tenant
 * is looked up. */
#include "dispatch.h"

#include <string.h>

#include "static_files.h"
#include "worker.h"

#define STATIC_PREFIX "/static/"

void dispatch_request(struct http_request *req)
{
	size_t len;
	const char *path = http_req_path(req, &len);

	if (len == 8 && memcmp(path, "/healthz", 8) == 0) {
		http_resp_header(req, "Content-Type", "text/plain; charset=utf-8");
		http_resp_header(req, "Cache-Control", "no-store");
		http_resp_body(req, "ok\n", 3);
		http_resp_send(req);
		return;
	}
	if (len > sizeof(STATIC_PREFIX) - 1 && memcmp(path, STATIC_PREFIX, sizeof(STATIC_PREFIX) - 1) == 0) {
		static_serve(req, http_req_worker(req)->static_cache, http_req_worker(req)->static_dirfd, path + sizeof(STATIC_PREFIX) - 1,
			     len - (sizeof(STATIC_PREFIX) - 1));
		return;
	}
	http_resp_error(req, 404);
}
