/* WCAG contrast of theme colours: parsing, the ratio against known pairs
 * and the warning text. */
#include <math.h>

#include "check.h"
#include "contrast.h"

static double ratio_of(const char *a, const char *b)
{
	unsigned char x[3], y[3];
	if (!contrast_parse(a, x) || !contrast_parse(b, y))
		return -1;
	return contrast_ratio(x, y);
}

static void test_parse(void)
{
	unsigned char c[3];
	CHECK(contrast_parse("#fff", c) && c[0] == 255 && c[1] == 255 && c[2] == 255);
	CHECK(contrast_parse("#000", c) && c[0] == 0 && c[1] == 0 && c[2] == 0);
	CHECK(contrast_parse("#1D1d1B", c) && c[0] == 0x1d && c[1] == 0x1d && c[2] == 0x1b);
	CHECK(contrast_parse("  #a1b2c3\n", c) && c[0] == 0xa1 && c[1] == 0xb2 && c[2] == 0xc3);
	CHECK(contrast_parse("#abc", c) && c[0] == 0xaa && c[1] == 0xbb && c[2] == 0xcc);
	CHECK(contrast_parse("rgb(1,2,3)", c) && c[0] == 1 && c[1] == 2 && c[2] == 3);
	CHECK(contrast_parse("RGB( 255 , 0 , 128 )", c) && c[0] == 255 && c[1] == 0 && c[2] == 128);
	CHECK(contrast_parse("rgb(10 20 30)", c) && c[0] == 10 && c[1] == 20 && c[2] == 30);

	const char *bad[] = {"", "   ", "#", "#ff", "#ffff", "#fffff", "#fffffff", "#ggg", "#12345g", "fff", "white",
			     "var(--x)", "rgb(256,0,0)", "rgb(-1,0,0)", "rgb(1,2)", "rgb(1,2,3,4)", "rgb(1,2,3",
			     "rgb(1, 2 3)", "rgb(1.5,2,3)", "rgb(10%,0,0)", "rgba(0,0,0,1)", "rgb(0001,0,0)",
			     "#fff extra", "rgb(1,2,3) x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(!contrast_parse(bad[i], c), "'%s' parsed", bad[i]);
	CHECK(!contrast_parse(NULL, c));
}

static void test_ratio(void)
{
	CHECK_MSG(fabs(ratio_of("#000", "#fff") - 21.0) < 1e-9, "%f", ratio_of("#000", "#fff"));
	CHECK_MSG(fabs(ratio_of("#fff", "#000") - 21.0) < 1e-9, "order does not matter");
	CHECK(fabs(ratio_of("#123456", "#123456") - 1.0) < 1e-9);
	double r = ratio_of("#777", "#fff");
	CHECK_MSG(r > 4.47 && r < 4.49, "#777 on #fff: %f", r);
	r = ratio_of("#767676", "#fff");
	CHECK_MSG(r > 4.53 && r < 4.55, "#767676 on #fff: %f", r);
	CHECK(fabs(ratio_of("rgb(118,118,118)", "#ffffff") - ratio_of("#767676", "#fff")) < 1e-12);
	unsigned char white[3] = {255, 255, 255}, black[3] = {0, 0, 0};
	CHECK(fabs(contrast_luminance(white) - 1.0) < 1e-9 && contrast_luminance(black) == 0.0);
}

static void test_warning(void)
{
	char msg[256] = "";
	CHECK_INT_EQ(theme_contrast_warning("#777", "#fff", msg, sizeof(msg)), 1);
	CHECK_STR_EQ(msg, "theme: text #777 on background #fff has contrast 4.48:1, below the 4.5:1 of WCAG AA");
	CHECK_INT_EQ(theme_contrast_warning("#767676", "#fff", msg, sizeof(msg)), 0);
	CHECK_INT_EQ(theme_contrast_warning("#000", "#fff", msg, sizeof(msg)), 0);
	CHECK_INT_EQ(theme_contrast_warning(" #fff ", "rgb(255, 255, 0)", msg, sizeof(msg)), 1);
	CHECK_STR_EQ(msg, "theme: text #fff on background rgb(255, 255, 0) has contrast 1.07:1, below the 4.5:1 of WCAG AA");
	/* Nothing to judge when a colour is not parseable. */
	CHECK_INT_EQ(theme_contrast_warning("white", "#fff", msg, sizeof(msg)), 0);
	CHECK_INT_EQ(theme_contrast_warning("#fff", "var(--x)", msg, sizeof(msg)), 0);
	CHECK_INT_EQ(theme_contrast_warning(NULL, "#fff", msg, sizeof(msg)), 0);
	CHECK_INT_EQ(contrast_warning("primary", "#7a7a7a", "#fff", msg, sizeof(msg)), 1);
	CHECK_CONTAINS(msg, "theme: primary #7a7a7a on background #fff has contrast 4.");
	/* Just below the threshold is never shown as 4.50. */
	unsigned char fg[3], bg[3] = {255, 255, 255};
	for (int v = 110; v <= 125; v++) {
		fg[0] = fg[1] = fg[2] = (unsigned char)v;
		char css[48];
		snprintf(css, sizeof(css), "rgb(%d,%d,%d)", v, v, v);
		int w = theme_contrast_warning(css, "#fff", msg, sizeof(msg));
		CHECK_INT_EQ(w, contrast_ratio(fg, bg) < 4.5);
		if (w)
			CHECK_MSG(!strstr(msg, "4.50:1"), "%s", msg);
	}
	/* The message is cut, not overrun. */
	char small[16];
	CHECK_INT_EQ(theme_contrast_warning("#777", "#fff", small, sizeof(small)), 1);
	CHECK_INT_EQ(strlen(small), sizeof(small) - 1);
	/* The Zutphen and Voorbeeld themes pass. */
	CHECK_INT_EQ(theme_contrast_warning("#1d1d1b", "#fffdf8", msg, sizeof(msg)), 0);
	CHECK_INT_EQ(contrast_warning("primary", "#8a1538", "#fffdf8", msg, sizeof(msg)), 0);
	CHECK_INT_EQ(theme_contrast_warning("#102a27", "#f4f8f7", msg, sizeof(msg)), 0);
	CHECK_INT_EQ(contrast_warning("primary", "#00695c", "#f4f8f7", msg, sizeof(msg)), 0);
}

int main(void)
{
	RUN(test_parse());
	RUN(test_ratio());
	RUN(test_warning());
	return check_exit("test_contrast");
}
