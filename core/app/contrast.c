/* WCAG 2.1 contrast: https://www.w3.org/TR/WCAG21/#dfn-relative-luminance
 * and #dfn-contrast-ratio. */
#include "contrast.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "encode.h"

/* An integer 0-255 at *p (digits only); advances *p past it. */
static bool parse_channel(const char **p, unsigned char *out)
{
	const char *s = *p;
	int v = 0, digits = 0;
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (*s - '0');
		if (++digits > 3)
			return false;
		s++;
	}
	if (digits == 0 || v > 255)
		return false;
	*out = (unsigned char)v;
	*p = s;
	return true;
}

static const char *skip_space(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f')
		s++;
	return s;
}

static bool parse_hex(const char *s, size_t n, unsigned char rgb[3])
{
	if (n != 3 && n != 6)
		return false;
	for (size_t i = 0; i < n; i++)
		if (enc_hex_value(s[i]) < 0)
			return false;
	for (int i = 0; i < 3; i++) {
		if (n == 3)
			rgb[i] = (unsigned char)(enc_hex_value(s[i]) * 17);
		else
			rgb[i] = (unsigned char)(enc_hex_value(s[2 * i]) * 16 + enc_hex_value(s[2 * i + 1]));
	}
	return true;
}

bool contrast_parse(const char *css, unsigned char rgb[3])
{
	if (!css)
		return false;
	const char *s = skip_space(css);
	size_t n = strlen(s);
	while (n > 0 && strchr(" \t\n\r\f", s[n - 1]))
		n--;
	if (n > 0 && s[0] == '#')
		return parse_hex(s + 1, n - 1, rgb);
	if (n < 4 || strncasecmp(s, "rgb(", 4) != 0 || s[n - 1] != ')')
		return false;
	const char *p = s + 4, *end = s + n - 1;
	unsigned char v[3];
	int commas = 0;
	for (int i = 0; i < 3; i++) {
		p = skip_space(p);
		if (i > 0 && *p == ',') {
			commas++;
			p = skip_space(p + 1);
		}
		if (!parse_channel(&p, &v[i]))
			return false;
	}
	/* Either both separators are commas or neither is. */
	if (commas != 0 && commas != 2)
		return false;
	if (skip_space(p) != end)
		return false;
	memcpy(rgb, v, 3);
	return true;
}

static double linear(unsigned char c)
{
	double s = c / 255.0;
	return s <= 0.03928 ? s / 12.92 : pow((s + 0.055) / 1.055, 2.4);
}

double contrast_luminance(const unsigned char rgb[3])
{
	return 0.2126 * linear(rgb[0]) + 0.7152 * linear(rgb[1]) + 0.0722 * linear(rgb[2]);
}

double contrast_ratio(const unsigned char a[3], const unsigned char b[3])
{
	double la = contrast_luminance(a), lb = contrast_luminance(b);
	double hi = la > lb ? la : lb, lo = la > lb ? lb : la;
	return (hi + 0.05) / (lo + 0.05);
}

/* S without surrounding white space, cut to fit, for the message. */
static void trimmed(const char *s, char *out, size_t outlen)
{
	s = skip_space(s);
	size_t n = strlen(s);
	while (n > 0 && strchr(" \t\n\r\f", s[n - 1]))
		n--;
	snprintf(out, outlen, "%.*s", (int)n, s);
}

int contrast_warning(const char *name, const char *fg, const char *background, char *msg, size_t len)
{
	unsigned char a[3], b[3];
	if (!contrast_parse(fg, a) || !contrast_parse(background, b))
		return 0;
	double r = contrast_ratio(a, b);
	if (r >= CONTRAST_AA_NORMAL)
		return 0;
	/* Two decimals, rounded, unless rounding up would reach the threshold
	 * (4.497 is shown as 4.49, not as a 4.50 that is "below 4.5"). */
	double shown = round(r * 100) / 100;
	if (shown >= CONTRAST_AA_NORMAL)
		shown = floor(r * 100) / 100;
	char f[64], g[64];
	trimmed(fg, f, sizeof(f));
	trimmed(background, g, sizeof(g));
	snprintf(msg, len, "theme: %s %s on background %s has contrast %.2f:1, below the %.1f:1 of WCAG AA", name, f, g,
		 shown, CONTRAST_AA_NORMAL);
	return 1;
}

int theme_contrast_warning(const char *text, const char *background, char *msg, size_t len)
{
	return contrast_warning("text", text, background, msg, len);
}
