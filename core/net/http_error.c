/* Error pages in memory. Files are read at start and on reload, never
 * while serving. */
#include "http_error.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "log.h"

#define ERROR_PAGE_MAX (64 * 1024)

static const int statuses[] = {400, 403, 404, 405, 408, 413, 414, 429, 431, 500, 501, 502, 503, 504};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))
static const char *langs[] = {"nl", "en"};
#define NLANG 2

struct page {
	char *body;
	size_t len;
};

struct error_pages {
	struct page pages[NLANG][NSTATUS];
};

static char *read_small_file(const char *path, size_t *len);
static char *builtin_page(const char *lang, int status, size_t *len);
static const char *dutch_title(int status);

struct error_pages *error_pages_load(const char *dir)
{
	struct error_pages *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	for (size_t l = 0; l < NLANG; l++) {
		for (size_t s = 0; s < NSTATUS; s++) {
			char path[4200];
			snprintf(path, sizeof(path), "%s/%s/%d.html", dir, langs[l], statuses[s]);
			struct page *pg = &p->pages[l][s];
			pg->body = read_small_file(path, &pg->len);
			if (!pg->body)
				pg->body = builtin_page(langs[l], statuses[s], &pg->len);
			if (!pg->body) {
				error_pages_free(p);
				return NULL;
			}
		}
	}
	return p;
}

void error_pages_free(struct error_pages *p)
{
	if (!p)
		return;
	for (size_t l = 0; l < NLANG; l++)
		for (size_t s = 0; s < NSTATUS; s++)
			free(p->pages[l][s].body);
	free(p);
}

const char *error_pages_get(const struct error_pages *p, const char *lang, int status, size_t *len)
{
	size_t l = (lang && strcmp(lang, "en") == 0) ? 1 : 0;
	for (size_t s = 0; s < NSTATUS; s++) {
		if (statuses[s] == status) {
			*len = p->pages[l][s].len;
			return p->pages[l][s].body;
		}
	}
	/* Not a page we keep: the generic one of its class. */
	return error_pages_get(p, lang, status >= 500 ? 500 : 400, len);
}

static char *read_small_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > ERROR_PAGE_MAX) {
		log_warn("error page %s: not a regular file under %d bytes", path, ERROR_PAGE_MAX);
		close(fd);
		return NULL;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!buf || got != (size_t)st.st_size) {
		free(buf);
		return NULL;
	}
	buf[got] = '\0';
	*len = got;
	return buf;
}

static char *builtin_page(const char *lang, int status, size_t *len)
{
	bool nl = strcmp(lang, "nl") == 0;
	const char *title = nl ? dutch_title(status) : http_status_reason(status);
	char *buf = malloc(1024);
	if (!buf)
		return NULL;
	int n = snprintf(buf, 1024,
			 "<!doctype html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\">"
			 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
			 "<title>%d %s</title></head>\n<body><main><h1>%s</h1><p>%s %d.</p></main></body></html>\n",
			 lang, status, title, title, nl ? "Foutcode" : "Error code", status);
	*len = (size_t)n;
	return buf;
}

static const char *dutch_title(int status)
{
	switch (status) {
	case 400: return "Ongeldig verzoek";
	case 403: return "Geen toegang";
	case 404: return "Pagina niet gevonden";
	case 405: return "Methode niet toegestaan";
	case 408: return "Verzoek duurde te lang";
	case 413: return "Verzoek te groot";
	case 414: return "Adres te lang";
	case 429: return "Te veel verzoeken";
	case 431: return "Kopregels te groot";
	case 501: return "Niet ondersteund";
	case 502: return "Ongeldig antwoord";
	case 503: return "Tijdelijk niet beschikbaar";
	case 504: return "Geen tijdig antwoord";
	default: return "Er ging iets mis";
	}
}
