/* multipart/form-data: the parts of a browser's form with a file, found in
 * place; malformed bodies refused without reading past their end. */
#include <stdlib.h>

#include "../../core/base/multipart.c"
#include "check.h"

#define CT "multipart/form-data; boundary=----WebKitFormBoundaryX1"

static void test_form_with_file(void)
{
	const char body[] = "------WebKitFormBoundaryX1\r\n"
			    "Content-Disposition: form-data; name=\"csrf\"\r\n\r\n"
			    "tok123\r\n"
			    "------WebKitFormBoundaryX1\r\n"
			    "Content-Disposition: form-data; name=\"bundle\"; filename=\"b.tar.gz\"\r\n"
			    "Content-Type: application/gzip\r\n\r\n"
			    "\x1f\x8b\0\r\nbinary\r\n"
			    "------WebKitFormBoundaryX1--\r\n";
	struct multipart_part parts[4];
	char err[128];
	int n = multipart_parse(CT, body, sizeof(body) - 1, parts, 4, err, sizeof(err));
	CHECK(n == 2);
	const struct multipart_part *csrf = multipart_find(parts, n, "csrf");
	CHECK(csrf && !csrf->is_file && csrf->len == 6 && memcmp(csrf->data, "tok123", 6) == 0);
	const struct multipart_part *f = multipart_find(parts, n, "bundle");
	CHECK(f && f->is_file && strcmp(f->filename, "b.tar.gz") == 0);
	CHECK(f && f->len == 11 && memcmp(f->data, "\x1f\x8b\0\r\nbinary", 11) == 0);
	CHECK(multipart_find(parts, n, "other") == NULL);
	/* A quoted boundary, an empty file field. */
	const char b2[] = "--a\"b\r\nContent-Disposition: form-data; name=\"x\"; filename=\"\"\r\n\r\n\r\n--a\"b--";
	n = multipart_parse("multipart/form-data; boundary=\"a\\\"b\"", b2, sizeof(b2) - 1, parts, 4, err,
			    sizeof(err));
	CHECK(n == 1 && parts[0].is_file && parts[0].len == 0);
}

static void test_refused(void)
{
	struct multipart_part parts[2];
	char err[128];
	static const struct {
		const char *ct, *body;
	} bad[] = {
		{"text/plain", "--a\r\n\r\n--a--"},
		{"multipart/form-data", "--a\r\n\r\n--a--"},
		{"multipart/form-data; boundary=", "--\r\n\r\n----"},
		{"multipart/form-data; boundary=a", ""},
		{"multipart/form-data; boundary=a", "--a"},
		{"multipart/form-data; boundary=a", "--a\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nno end"},
		{"multipart/form-data; boundary=a", "--a\r\nContent-Disposition: form-data; name=\"x\"\r\n"},
		{"multipart/form-data; boundary=a", "--a\r\nContent-Type: text/plain\r\n\r\nx\r\n--a--"},
		{"multipart/form-data; boundary=a", "--a\r\nContent-Disposition: attachment; name=\"x\"\r\n\r\nx\r\n--a--"},
		{"multipart/form-data; boundary=a", "--a\r\nContent-Disposition: form-data\r\n\r\nx\r\n--a--"},
		{"multipart/form-data; boundary=a", "--aX"},
		/* three parts where two may be */
		{"multipart/form-data; boundary=a",
		 "--a\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--a\r\n"
		 "Content-Disposition: form-data; name=\"y\"\r\n\r\n2\r\n--a\r\n"
		 "Content-Disposition: form-data; name=\"z\"\r\n\r\n3\r\n--a--"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(multipart_parse(bad[i].ct, bad[i].body, strlen(bad[i].body), parts, 2, err, sizeof(err)) < 0,
			  "case %zu", i);
	/* A boundary over 70 characters. */
	char ct[200];
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%071d", 0);
	CHECK(multipart_parse(ct, "x", 1, parts, 2, err, sizeof(err)) < 0);
	CHECK(multipart_is_form("multipart/form-data; boundary=x") && !multipart_is_form("multipart/form-datax"));
}

int main(void)
{
	RUN(test_form_with_file());
	RUN(test_refused());
	return check_exit("test_multipart");
}
