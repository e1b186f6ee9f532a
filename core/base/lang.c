/* Accept-Language parsing (RFC 9110 12.5.4) reduced to the question the
 * platform asks: Dutch or English? */
#include "lang.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

static int parse_q(const char *p, const char *end);

const char *lang_negotiate(const char *al)
{
	int best_nl = -1, best_en = -1, star = -1;
	if (!al)
		return "nl";
	const char *p = al;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		const char *tag = p;
		while (*p && *p != ';' && *p != ',' && *p != ' ')
			p++;
		size_t tlen = (size_t)(p - tag);
		const char *params = p;
		while (*p && *p != ',')
			p++;
		int q = parse_q(params, p);
		bool nl = tlen >= 2 && strncasecmp(tag, "nl", 2) == 0 && (tlen == 2 || tag[2] == '-');
		bool en = tlen >= 2 && strncasecmp(tag, "en", 2) == 0 && (tlen == 2 || tag[2] == '-');
		if (nl && q > best_nl)
			best_nl = q;
		if (en && q > best_en)
			best_en = q;
		if (tlen == 1 && tag[0] == '*' && q > star)
			star = q;
	}
	if (best_nl < 0)
		best_nl = star;
	if (best_en < 0)
		best_en = star;
	return best_en > best_nl && best_en > 0 ? "en" : "nl";
}

/* q in thousandths; 1000 when absent, 0 when malformed. */
static int parse_q(const char *p, const char *end)
{
	while (p < end) {
		if (*p == ';') {
			p++;
			while (p < end && *p == ' ')
				p++;
			if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
				p += 2;
				int v = 0, digits = 0;
				if (p < end && *p == '1')
					return 1000;
				if (p < end && *p == '0') {
					p++;
					if (p < end && *p == '.') {
						p++;
						while (p < end && isdigit((unsigned char)*p) && digits < 3) {
							v = v * 10 + (*p - '0');
							digits++;
							p++;
						}
					}
					while (digits++ < 3)
						v *= 10;
					return v;
				}
				return 0;
			}
		}
		p++;
	}
	return 1000;
}
