/* multipart/form-data (RFC 7578) as a browser sends a form with a file:
 * the parts found in place in the body, nothing copied. Bounded: at most
 * MULTIPART_MAX_PARTS parts, each part's headers at most 8 KiB; a body
 * that does not follow the form is refused, never read past its end. */
#ifndef AANTAFEL_MULTIPART_H
#define AANTAFEL_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

#define MULTIPART_MAX_PARTS 16
#define MULTIPART_NAME_MAX 64           /* a field's name, and a file's name (cut) */

struct multipart_part {
	char name[MULTIPART_NAME_MAX];  /* the field (Content-Disposition name) */
	char filename[MULTIPART_NAME_MAX]; /* the file's name, "" for a plain field */
	bool is_file;                   /* a filename parameter was given */
	const char *data;               /* in the body */
	size_t len;
};

/* Whether CONTENT_TYPE is multipart/form-data. */
bool multipart_is_form(const char *content_type);

/* Splits BODY by the boundary of CONTENT_TYPE into PARTS (at most MAX);
 * returns their number, or -1 with the reason in ERR. */
int multipart_parse(const char *content_type, const char *body, size_t len, struct multipart_part *parts, int max,
		    char *err, size_t errlen);

/* The first part named NAME, or NULL. */
const struct multipart_part *multipart_find(const struct multipart_part *parts, int n, const char *name);

#endif
