/* WCAG 2.1 colour contrast for theme tokens: CSS colours (#rgb, #rrggbb,
 * rgb(r, g, b)) parsed, their relative luminance and contrast ratio, and
 * the warning `aantafel check` and `aantafel tenant deploy` print when a
 * theme's text is below AA for normal text (4.5:1). */
#ifndef AANTAFEL_CONTRAST_H
#define AANTAFEL_CONTRAST_H

#include <stdbool.h>
#include <stddef.h>

#define CONTRAST_AA_NORMAL 4.5  /* WCAG 2.1 SC 1.4.3, normal text */

/* Parses a CSS colour: "#rgb", "#rrggbb" (hex digits of either case) or
 * "rgb(r, g, b)" with integers 0-255 (commas or spaces between them);
 * surrounding white space is allowed. Returns false for anything else
 * (named colours, alpha, percentages, var(...)). */
bool contrast_parse(const char *css, unsigned char rgb[3]);

/* WCAG 2.1 relative luminance of an sRGB colour, 0 (black) to 1 (white). */
double contrast_luminance(const unsigned char rgb[3]);

/* WCAG 2.1 contrast ratio of two colours, 1 to 21; the order does not
 * matter. */
double contrast_ratio(const unsigned char a[3], const unsigned char b[3]);

/* Whether the token NAME (its value FG) on BACKGROUND is below AA: returns
 * 1 with "theme: NAME FG on background BACKGROUND has contrast R:1, below
 * the 4.5:1 of WCAG AA" in msg, or 0 when it is not, or when either
 * colour cannot be parsed (nothing to judge). */
int contrast_warning(const char *name, const char *fg, const char *background, char *msg, size_t len);

/* contrast_warning for the theme's text token. */
int theme_contrast_warning(const char *text, const char *background, char *msg, size_t len);

#endif
