/* Tests of the template engine: every construct, compile errors with their
 * lines, XSS payloads in every context, inheritance, the caps, Lua stack
 * balance and that metatables on the view are never consulted. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "template.h"

static lua_State *L;

/* Templates the lookup knows, by name. */
#define MAX_REG 16
static struct {
	char name[64];
	struct tmpl *t;
} reg[MAX_REG];
static size_t nreg;

static const struct tmpl *lookup(void *ctx, const char *name);
static const char *translate(void *ctx, const char *key);
static int lua_safe(lua_State *l);
static void push_view(const char *lua);
static int render_with(const char *src, const char *view, size_t max, char *out, size_t outlen, char *err,
		       size_t errlen);
static void expect(const char *src, const char *view, const char *want);
static void expect_render_error(const char *src, const char *view, const char *needle);
static void expect_compile_error(const char *src, const char *needle);
static void define(const char *name, const char *src);
static void clear_registry(void);

static struct tmpl_env env = {lookup, translate, NULL, 16, 100000};

static const struct tmpl *lookup(void *ctx, const char *name)
{
	(void)ctx;
	for (size_t i = 0; i < nreg; i++)
		if (strcmp(reg[i].name, name) == 0)
			return reg[i].t;
	return NULL;
}

static const char *translate(void *ctx, const char *key)
{
	(void)ctx;
	if (strcmp(key, "hello") == 0)
		return "Hallo <b>\"jij\"</b> & 'u'";
	if (strcmp(key, "evil_url") == 0)
		return "javascript:alert(1)";
	if (strcmp(key, "help_url") == 0)
		return "https://example.org/help?a=1&b=2";
	return NULL;
}

static int lua_safe(lua_State *l)
{
	size_t n;
	const char *s = luaL_checklstring(l, 1, &n);
	tmpl_push_safehtml(l, s, n);
	return 1;
}

/* Runs "return <LUA>" and leaves the value on the stack. */
static void push_view(const char *lua)
{
	char code[8192];
	snprintf(code, sizeof(code), "return %s", lua ? lua : "{}");
	if (luaL_dostring(L, code) != LUA_OK) {
		fprintf(stderr, "view error: %s\n", lua_tostring(L, -1));
		exit(2);
	}
}

static void define(const char *name, const char *src)
{
	char err[256];
	struct tmpl *t = tmpl_compile(name, src, strlen(src), err, sizeof(err));
	CHECK_MSG(t != NULL, "template %s does not compile: %s", name, err);
	if (!t || nreg == MAX_REG)
		return;
	snprintf(reg[nreg].name, sizeof(reg[nreg].name), "%s", name);
	reg[nreg++].t = t;
}

static void clear_registry(void)
{
	for (size_t i = 0; i < nreg; i++)
		tmpl_free(reg[i].t);
	nreg = 0;
}

/* Compiles SRC as "t", renders it with VIEW (a Lua expression); checks
 * the stack is balanced. Returns the render result or -2 when the
 * template does not compile. */
static int render_with(const char *src, const char *view, size_t max, char *out, size_t outlen, char *err,
		       size_t errlen)
{
	struct tmpl *t = tmpl_compile("t", src, strlen(src), err, errlen);
	if (!t)
		return -2;
	push_view(view);
	int top = lua_gettop(L);
	struct tbuf b;
	tbuf_init(&b, max);
	int rc = tmpl_render(t, &env, L, -1, &b, err, errlen);
	CHECK_MSG(lua_gettop(L) == top, "stack %d before, %d after rendering [%s]", top, lua_gettop(L), src);
	CHECK_MSG(lua_gc(L, LUA_GCISRUNNING) == 1, "the collector was not restarted");
	lua_settop(L, top - 1);
	snprintf(out, outlen, "%s", b.data ? b.data : "");
	tbuf_free(&b);
	tmpl_free(t);
	return rc;
}

static void expect(const char *src, const char *view, const char *want)
{
	char out[8192], err[256];
	int rc = render_with(src, view, 1 << 20, out, sizeof(out), err, sizeof(err));
	CHECK_MSG(rc == 0, "[%s] failed: %s", src, err);
	if (rc == 0)
		CHECK_MSG(strcmp(out, want) == 0, "[%s]\n     gave [%s]\n expected [%s]", src, out, want);
}

static void expect_render_error(const char *src, const char *view, const char *needle)
{
	char out[8192], err[256];
	int rc = render_with(src, view, 1 << 20, out, sizeof(out), err, sizeof(err));
	CHECK_MSG(rc == -1, "[%s] should fail to render (rc %d, out [%s], err [%s])", src, rc, out, rc ? err : "");
	if (rc == -1)
		CHECK_MSG(strstr(err, needle) != NULL, "[%s] failed with [%s], expected [%s]", src, err, needle);
}

static void expect_compile_error(const char *src, const char *needle)
{
	char err[256] = "";
	struct tmpl *t = tmpl_compile("t", src, strlen(src), err, sizeof(err));
	CHECK_MSG(t == NULL, "[%s] should not compile", src);
	tmpl_free(t);
	if (!t)
		CHECK_MSG(strstr(err, needle) != NULL, "[%s] gave [%s], expected [%s]", src, err, needle);
}

/* ------------------------------------------------------------- tests */

static void test_values(void)
{
	const char *v = "{ s = 'tekst', i = 42, neg = -7, f = 1.5, g = 3.0, big = 1e100, yes = true, no = false,"
			" t = { name = 'Zutphen', list = { 'a', 'b' } }, items = { { title = 'een' }, { title = 'twee' } } }";
	expect("{{ s }}|{{s}}|{{ i }}|{{ neg }}|{{ f }}|{{ g }}|{{ big }}", v, "tekst|tekst|42|-7|1.5|3|1e+100");
	expect("{{ yes }} {{ no }}", v, "true false");
	expect("{{ a }} {{ b }} {{ c }} {{ d }}", "{ a = math.mininteger, b = math.maxinteger, c = 0, d = 0.1 }",
	       "-9223372036854775808 9223372036854775807 0 0.1");
	expect("[{{ missing }}][{{ t }}][{{ t.missing.deeper }}][{{ s.x }}]", v, "[][][][]");
	expect("{{ t.name }} {{ t.list.2 }} {{ items.1.title }} {{ items.2.title }} [{{ items.3.title }}]", v,
	       "Zutphen b een twee []");
	expect("{{\n  t.name\n}}", v, "Zutphen");
	expect("plain text with { braces } and }} and {x", v, "plain text with { braces } and }} and {x");
	expect("a{# a comment {{ s }} #}b", v, "ab");
	expect("{% raw %}{{ s }} {% if %}{% endraw %}|{{ s }}", v, "{{ s }} {% if %}|tekst");
	/* the view at a relative index, and a view that is not a table */
	expect("{{ s }}", "'not a table'", "");
}

static void test_escaping_text(void)
{
	expect("<p>{{ x }}</p>", "{ x = '<script>alert(1)</script>' }", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>");
	expect("<p>{{ x }}</p>", "{ x = [[a & b \" c ' d]] }", "<p>a &amp; b &quot; c &#39; d</p>");
	expect("<p>{{ x }}</p>", "{ x = '<img src=x onerror=alert(1)>' }", "<p>&lt;img src=x onerror=alert(1)&gt;</p>");
	/* control bytes dropped except tab, newline, carriage return */
	expect("{{ x }}", "{ x = 'a\\0b\\1c\\27d\\te\\nf\\rg\\127h' }", "abcd\te\nf\rg\x7fh");
	/* valid UTF-8 kept, invalid replaced with U+FFFD */
	expect("{{ x }}", "{ x = 'caf\\xc3\\xa9 \\xf0\\x9f\\x98\\x80' }", "caf\xc3\xa9 \xf0\x9f\x98\x80");
	expect("{{ x }}", "{ x = 'a\\xffb\\xc3c\\xed\\xa0\\x80d\\xc0\\xafe' }",
	       "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "d\xef\xbf\xbd\xef\xbf\xbd" "e");
	/* an overlong '<' stays inert */
	expect("{{ x }}", "{ x = '\\xc0\\xbcscript' }", "\xef\xbf\xbd\xef\xbf\xbdscript");
	/* inside <title> and <textarea> the same escaping */
	expect("<title>{{ x }}</title><textarea>{{ x }}</textarea>", "{ x = '</title><script>x</script>' }",
	       "<title>&lt;/title&gt;&lt;script&gt;x&lt;/script&gt;</title>"
	       "<textarea>&lt;/title&gt;&lt;script&gt;x&lt;/script&gt;</textarea>");
}

static void test_escaping_attributes(void)
{
	expect("<a title=\"{{ x }}\">", "{ x = '\" onmouseover=\"x' }", "<a title=\"&quot; onmouseover=&quot;x\">");
	expect("<a title='{{ x }}'>", "{ x = \"' onfocus='x\" }", "<a title='&#39; onfocus=&#39;x'>");
	expect("<input value=\"{{ x }}\" class=\"c-{{ y }}\">", "{ x = '<script>alert(1)</script>', y = 'a\"b' }",
	       "<input value=\"&lt;script&gt;alert(1)&lt;/script&gt;\" class=\"c-a&quot;b\">");
	/* an end tag's attributes are harmless */
	expect("<p></p title=\"{{ x }}\">", "{ x = '\"' }", "<p></p title=\"&quot;\">");
	/* names that only look like event handlers are plain */
	expect("<a data-x=\"{{ x }}\" aria-label=\"{{ x }}\">", "{ x = 'javascript:alert(1)' }",
	       "<a data-x=\"javascript:alert(1)\" aria-label=\"javascript:alert(1)\">");
}

static void test_escaping_urls(void)
{
	static const char *const blocked[] = {
		"javascript:alert(1)", " JaVaScRiPt:alert(1)", "\\tjavascript:alert(1)", "java\\tscript:alert(1)",
		"java\\nscript:alert(1)", "\\1\\2javascript:alert(1)", "java\\0script:alert(1)",
		"data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "foo:bar", "JAVASCRIPT:x",
		"javascript&colon;x:", "\\xc3\\xa9:x", "verylongscheme:x", NULL,
	};
	char view[256], want[512];
	for (size_t i = 0; blocked[i]; i++) {
		snprintf(view, sizeof(view), "{ u = \"%s\" }", blocked[i]);
		expect("<a href=\"{{ u }}\">x</a>", view, "<a href=\"about:invalid#blocked\">x</a>");
		expect("<img src='{{ u }}'>", view, "<img src='about:invalid#blocked'>");
		expect("<form action=\" {{ u }}\">", view, "<form action=\" about:invalid#blocked\">");
		expect("<svg><a xlink:href=\"{{ u }}\"></a></svg>", view,
		       "<svg><a xlink:href=\"about:invalid#blocked\"></a></svg>");
		expect("<div data-src=\"{{ u }}\" data-url=\"{{ u }}\"></div>", view,
		       "<div data-src=\"about:invalid#blocked\" data-url=\"about:invalid#blocked\"></div>");
	}
	static const char *const allowed[][2] = {
		{"https://example.org/a?b=1&c=2", "https://example.org/a?b=1&amp;c=2"},
		{"HTTP://example.org", "HTTP://example.org"},
		{"mailto:info@example.org", "mailto:info@example.org"},
		{"tel:+31575123456", "tel:+31575123456"},
		{"/tafels/1", "/tafels/1"},
		{"//cdn.example.org/x.png", "//cdn.example.org/x.png"},
		{"#top", "#top"},
		{"?page=2", "?page=2"},
		{"./a:b", "./a:b"},
		{"relative/a:b", "relative/a:b"},
		{"plain", "plain"},
		{"\\\" onclick=\\\"x", "&quot; onclick=&quot;x"},
		{"", ""},
		{NULL, NULL},
	};
	for (size_t i = 0; allowed[i][0]; i++) {
		snprintf(view, sizeof(view), "{ u = \"%s\" }", allowed[i][0]);
		snprintf(want, sizeof(want), "<a href=\"%s\">", allowed[i][1]);
		expect("<a href=\"{{ u }}\">", view, want);
	}
	expect("<svg xmlns:xlink=\"{{ u }}\"></svg>", "{ u = 'javascript:x' }",
	       "<svg xmlns:xlink=\"about:invalid#blocked\"></svg>");
	/* code URLs: only later parts may come from the view */
	expect("<script src=\"/static/{{ v }}/app.js\"></script><script data-src=\"{{ u }}\"></script>",
	       "{ v = '../x', u = '/y' }",
	       "<script src=\"/static/..%2Fx/app.js\"></script><script data-src=\"/y\"></script>");
	/* later in the value: percent-encoded */
	expect("<a href=\"/zoek?q={{ q }}&amp;p={{ p }}\">", "{ q = 'a b&c\"<>/é', p = 2 }",
	       "<a href=\"/zoek?q=a%20b%26c%22%3C%3E%2F%C3%A9&amp;p=2\">");
	expect("<a href=\"/u/{{ u }}\">", "{ u = 'javascript:alert(1)' }", "<a href=\"/u/javascript%3Aalert%281%29\">");
	expect("<a href=\"mailto:{{ u }}\">", "{ u = 'a@b.nl?subject=x' }", "<a href=\"mailto:a%40b.nl%3Fsubject%3Dx\">");
	expect("<a href=\"{{ a }}{{ b }}\">", "{ a = 'java', b = 'script:alert(1)' }",
	       "<a href=\"javascript%3Aalert%281%29\">");
	expect("<a href=\"x{{ b }}\">", "{ b = '\\xff\\1' }", "<a href=\"x%EF%BF%BD\">");
	/* safe HTML is just a string in a URL */
	expect("<a href=\"{{ h }}\">", "{ h = safe('javascript:alert(1)') }", "<a href=\"about:invalid#blocked\">");
	/* an {% if %} that ends at different URL positions: percent-encoding covers both */
	expect("<a href=\"{% if a %}/x/{% end %}{{ b }}\">", "{ a = true, b = 'https://e.org' }",
	       "<a href=\"/x/https%3A%2F%2Fe.org\">");
	expect("<a href=\"{% if a %}{{ a }}{% else %}/standaard{% end %}\">", "{ a = 'javascript:alert(1)' }",
	       "<a href=\"about:invalid#blocked\">");
	expect("<a href=\"{% if a %}{{ a }}{% else %}/standaard{% end %}#top\">", "{ a = 'https://e.org/' }",
	       "<a href=\"https://e.org/#top\">");
	expect("<a href=\"{% for p in ps %}{{ p }}/{% end %}\">", "{ ps = { 'javascript:x', 'b c' } }",
	       "<a href=\"javascript%3Ax/b%20c/\">");
	/* literal javascript: written by the author stays allowed without interpolation */
	expect("<a href=\"javascript:void(0)\" title=\"{{ x }}\">", "{ x = 1 }",
	       "<a href=\"javascript:void(0)\" title=\"1\">");
	/* translations are checked like any value */
	expect("<a href=\"{% t \"evil_url\" %}\">", NULL, "<a href=\"about:invalid#blocked\">");
	expect("<a href=\"{% t \"help_url\" %}\">", NULL, "<a href=\"https://example.org/help?a=1&amp;b=2\">");
}

static void test_safe_html(void)
{
	const char *v = "{ h = safe('<b>vet</b> & \"x\"'), e = safe('') }";
	expect("<div>{{ h }}</div>", v, "<div><b>vet</b> & \"x\"</div>");
	expect("<div title=\"{{ h }}\"></div>", v, "<div title=\"&lt;b&gt;vet&lt;/b&gt; &amp; &quot;x&quot;\"></div>");
	expect("<title>{{ h }}</title>", v, "<title>&lt;b&gt;vet&lt;/b&gt; &amp; &quot;x&quot;</title>");
	expect("<textarea>{{ h }}</textarea>", v, "<textarea>&lt;b&gt;vet&lt;/b&gt; &amp; &quot;x&quot;</textarea>");
	expect("{% if h %}ja{% end %}{% if e %}nee{% end %}", v, "ja");
	/* Lua can neither read nor replace its metatable, tostring gives the HTML */
	push_view("(function() local h = safe('<i>x</i>'); return { getmetatable(h), pcall(setmetatable, h, {}), tostring(h) } end)()");
	lua_rawgeti(L, -1, 1);
	CHECK_MSG(lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1), "getmetatable(safe) is not false");
	lua_rawgeti(L, -2, 2);
	CHECK_MSG(lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1), "setmetatable on safe html did not fail");
	lua_rawgeti(L, -3, 3);
	CHECK_MSG(lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "<i>x</i>") == 0, "tostring(safe)");
	lua_pop(L, 4);
	/* other userdata and tables are not safe HTML */
	lua_newtable(L);
	CHECK_MSG(tmpl_to_safehtml(L, -1, NULL) == NULL, "a table is safe html");
	lua_pop(L, 1);
	lua_newuserdatauv(L, 16, 0);
	CHECK_MSG(tmpl_to_safehtml(L, -1, NULL) == NULL, "a plain userdata is safe html");
	lua_pop(L, 1);
	tmpl_push_safehtml(L, "<p>", 3);
	size_t n = 0;
	const char *s = tmpl_to_safehtml(L, -1, &n);
	CHECK_MSG(s && n == 3 && memcmp(s, "<p>", 3) == 0, "safe html round trip");
	lua_pop(L, 1);
}

static void test_conditionals(void)
{
	const char *v = "{ t = true, f = false, z = 0, zs = '0', e = '', et = {}, list = {1}, map = { a = 1 }, s = 'x' }";
	expect("{% if t %}T{% end %}{% if f %}F{% end %}{% if z %}Z{% end %}{% if zs %}ZS{% end %}", v, "TZZS");
	expect("{% if e %}E{% end %}{% if et %}ET{% end %}{% if list %}L{% end %}{% if map %}M{% end %}"
	       "{% if missing %}X{% end %}{% if s.deeper %}D{% end %}",
	       v, "LM");
	expect("{% if not f %}a{% end %}{% if not t %}b{% end %}{% if not missing %}c{% end %}", v, "ac");
	expect("{% if f %}1{% elif e %}2{% elif not t %}3{% elif s %}4{% else %}5{% end %}", v, "4");
	expect("{% if f %}1{% elif e %}2{% else %}5{% end %}", v, "5");
	expect("{% if f %}1{% elif map %}2{% end %}", v, "2");
	expect("{% if t %}{% if f %}x{% else %}{% if s %}deep{% end %}{% end %}{% end %}", v, "deep");
	/* attributes that depend on a condition */
	expect("<input type=\"checkbox\" {% if t %}checked{% end %} name=\"n\">", v,
	       "<input type=\"checkbox\" checked name=\"n\">");
	expect("<input {% if f %}checked{% end %}>", v, "<input >");
	expect("<option{% if t %} selected{% end %}>", v, "<option selected>");
	expect("<a {% if t %}class=\"x\"{% else %}id=\"y\"{% end %} title=\"{{ s }}\">", v, "<a class=\"x\" title=\"x\">");
	expect("<p class=\"{% if t %}on{% else %}off{% end %}\">{{ s }}</p>", v, "<p class=\"on\">x</p>");
}

static void test_loops(void)
{
	const char *v = "{ items = { { title = 'een' }, { title = '<twee>' }, { title = 'drie' } }, empty = {},"
			" str = 'abc', map = { a = 1 }, holes = { 'a', nil, 'c' }, name = 'buiten',"
			" groups = { { name = 'g1', members = { 'x', 'y' } }, { name = 'g2', members = {} } } }";
	expect("<ul>{% for it in items %}<li>{{ it.title }}</li>{% end %}</ul>", v,
	       "<ul><li>een</li><li>&lt;twee&gt;</li><li>drie</li></ul>");
	expect("{% for it in items %}{{ loop.index }}/{{ loop.length }}{% if loop.first %}F{% end %}"
	       "{% if loop.last %}L{% end %} {% end %}",
	       v, "1/3F 2/3 3/3L ");
	expect("{% for x in empty %}x{% else %}leeg{% end %}|{% for x in str %}x{% else %}geen lijst{% end %}|"
	       "{% for x in map %}x{% else %}map{% end %}|{% for x in missing %}x{% else %}niets{% end %}",
	       v, "leeg|geen lijst|map|niets");
	/* nested loops shadow; outer variables stay visible; loop is the innermost */
	expect("{% for g in groups %}{{ g.name }}:{% for g in g.members %}{{ g }}{{ loop.index }}{% else %}-{% end %}"
	       "({{ loop.index }}) {% end %}",
	       v, "g1:x1y2(1) g2:-(2) ");
	expect("{% for g in groups %}{% for m in g.members %}{{ g.name }}.{{ m }}={{ name }} {% end %}{% end %}", v,
	       "g1.x=buiten g1.y=buiten ");
	expect("{{ loop.index }}|{% for i in items %}{% end %}{{ it.title }}", v, "|");
	expect("{% for i in items %}{{ i }}{% end %}", v, "");
	expect("{% for i in items %}{{ loop }}{{ loop.x }}{{ loop.index.x }}{{ loop.1 }}{% end %}", v, "");
}

/* Regression: {{ loop }} read the second part of its path before checking
 * there is one; as the last of the 16 parts the first segment array holds,
 * that was a heap read past the end (seen by ASan). */
static void test_regression_loop_alone_reads_past_segments(void)
{
	expect("{% for x in a.b.c.d.e.f.g.h.i.j.k.l.m.n.o %}[{{ loop }}]{% end %}",
	       "(function() local v = { 1 } for k in ('onmlkjihgfedcba'):gmatch('.') do v = { [k] = v } end return v end)()",
	       "[]");
}

static void test_include(void)
{
	define("kop", "<h1>{{ title }}</h1>");
	define("rij", "<li>{{ it.title }} {{ loop.index }}</li>");
	define("zelf", "x{% include \"zelf\" %}");
	define("zelf_in_lus", "{% for i in items %}{% include \"zelf_in_lus\" %}{% end %}");
	define("html", "{{ h }}");
	expect("{% include \"kop\" %}<ul>{% for it in items %}{% include \"rij\" %}{% end %}</ul>",
	       "{ title = 'Tafel & stoel', items = { { title = 'a' }, { title = 'b' } } }",
	       "<h1>Tafel &amp; stoel</h1><ul><li>a 1</li><li>b 2</li></ul>");
	expect_render_error("{% include \"bestaat_niet\" %}", NULL, "t:1: template 'bestaat_niet' not found");
	expect_render_error("\n{% include \"zelf\" %}", NULL, "zelf:1: templates nested deeper than 16");
	expect_render_error("{% include \"zelf_in_lus\" %}", "{ items = { 1, 2 } }", "nested deeper than 16");
	/* the included template's safe HTML is escaped when included in <title> */
	expect("<title>{% include \"html\" %}</title><p>{% include \"html\" %}</p>", "{ h = safe('<b>') }",
	       "<title>&lt;b&gt;</title><p><b></p>");
	clear_registry();
}

static void test_inheritance(void)
{
	define("basis", "<html><head><title>{% block title %}Aantafel{% end %}</title></head>\n"
			"<body>{% block content %}<p>leeg</p>{% end %}\n"
			"<footer>{% block footer %}basis-voet{% end %}</footer></body></html>");
	define("pagina", "{% extends \"basis\" %}\ntekst buiten blokken wordt genegeerd\n"
			 "{% block content %}<main>{% block inner %}pagina-inner{% end %}{{ tenant.name }}</main>{% end %}\n"
			 "{% block footer %}pagina-voet{% end %}");
	define("tafel", "{# a comment first #}\n{% extends \"pagina\" %}\n"
			"{% block title %}{{ h }} - Tafel{% end %}\n"
			"{% block inner %}<h1>{{ tafel }}</h1>{% for x in xs %}{% block item %}[{{ x }}]{% end %}{% end %}{% end %}");
	define("lus", "{% extends \"basis\" %}{% block content %}{% for x in xs %}{% block item %}{% end %}{% end %}{% end %}");
	define("lus2", "{% extends \"lus\" %}{% block item %}({{ x }}){% end %}");
	define("wees", "{% extends \"bestaat_niet\" %}{% block a %}{% end %}");
	define("kring1", "{% extends \"kring2\" %}");
	define("kring2", "{% extends \"kring1\" %}");
	const char *v = "{ tenant = { name = 'Zutphen' }, tafel = 'Tafel <1>', h = safe('<b>v</b>'), xs = { 'a', 'b' } }";
	struct tbuf b;
	char err[256];
	push_view(v);
	int top = lua_gettop(L);
	tbuf_init(&b, 1 << 16);
	int rc = tmpl_render(lookup(NULL, "tafel"), &env, L, top, &b, err, sizeof(err));
	CHECK_MSG(rc == 0, "three levels: %s", err);
	CHECK_MSG(rc != 0 || strcmp(b.data, "<html><head><title>&lt;b&gt;v&lt;/b&gt; - Tafel</title></head>\n"
					 "<body><main><h1>Tafel &lt;1&gt;</h1>[a][b]Zutphen</main>\n"
					 "<footer>pagina-voet</footer></body></html>") == 0,
	      "three levels gave [%s]", b.data);
	tbuf_free(&b);
	tbuf_init(&b, 1 << 16);
	rc = tmpl_render(lookup(NULL, "pagina"), &env, L, top, &b, err, sizeof(err));
	CHECK_MSG(rc == 0 && strstr(b.data, "<title>Aantafel</title>") && strstr(b.data, "<main>pagina-innerZutphen</main>"),
	      "two levels gave [%s] %s", b.data ? b.data : "", err);
	tbuf_free(&b);
	tbuf_init(&b, 1 << 16);
	rc = tmpl_render(lookup(NULL, "lus2"), &env, L, top, &b, err, sizeof(err));
	CHECK_MSG(rc == 0 && strstr(b.data, "<body>(a)(b)\n"), "block in a parent's loop gave [%s] %s",
	      b.data ? b.data : "", err);
	tbuf_free(&b);
	tbuf_init(&b, 1 << 16);
	rc = tmpl_render(lookup(NULL, "wees"), &env, L, top, &b, err, sizeof(err));
	CHECK_MSG(rc == -1 && strcmp(err, "wees:1: template 'bestaat_niet' not found") == 0, "missing parent: %s", err);
	tbuf_free(&b);
	tbuf_init(&b, 1 << 16);
	rc = tmpl_render(lookup(NULL, "kring1"), &env, L, top, &b, err, sizeof(err));
	CHECK_MSG(rc == -1 && strstr(err, "nested deeper than 16"), "extends cycle: %s", err);
	tbuf_free(&b);
	CHECK_MSG(lua_gettop(L) == top, "stack after inheritance");
	lua_settop(L, top - 1);
	CHECK_MSG(strcmp(tmpl_parent(lookup(NULL, "tafel")), "pagina") == 0, "tmpl_parent");
	CHECK_MSG(tmpl_parent(lookup(NULL, "basis")) == NULL, "tmpl_parent of a root");
	CHECK_MSG(strcmp(tmpl_name(lookup(NULL, "tafel")), "tafel") == 0, "tmpl_name");
	clear_registry();
}

static void test_translate(void)
{
	expect("<p title=\"{% t \"hello\" %}\">{% t \"hello\" %}</p>{% t 'onbekend.key' %}", NULL,
	       "<p title=\"Hallo &lt;b&gt;&quot;jij&quot;&lt;/b&gt; &amp; &#39;u&#39;\">"
	       "Hallo &lt;b&gt;&quot;jij&quot;&lt;/b&gt; &amp; &#39;u&#39;</p>onbekend.key");
	struct tmpl_env bare = {NULL, NULL, NULL, 0, 0};
	const char *src = "{% t \"hello\" %}";
	struct tmpl *t = tmpl_compile("t", src, strlen(src), NULL, 0);
	struct tbuf b;
	tbuf_init(&b, 100);
	lua_newtable(L);
	CHECK_MSG(t && tmpl_render(t, &bare, L, -1, &b, NULL, 0) == 0 && strcmp(b.data, "hello") == 0,
	      "no translate function");
	lua_pop(L, 1);
	tbuf_free(&b);
	tmpl_free(t);
}

static void test_compile_errors(void)
{
	/* escaping contexts that are refused */
	expect_compile_error("<script>var x = {{ x }};</script>", "t:1: interpolation in <script> is not allowed");
	expect_compile_error("<SCRIPT type=\"module\">\n{{ x }}</SCRIPT>", "t:2: interpolation in <script>");
	expect_compile_error("<style>p { color: {{ c }} }</style>", "t:1: interpolation in <style> is not allowed");
	expect_compile_error("<a onclick=\"go({{ x }})\">", "t:1: interpolation in event handler attribute 'onclick'");
	expect_compile_error("<a OnMouseOver='{{ x }}'>", "event handler attribute 'onmouseover'");
	expect_compile_error("<p style=\"color: {{ c }}\">", "interpolation in a style attribute");
	expect_compile_error("<img srcset=\"{{ s }} 2x\">", "interpolation in a srcset attribute");
	expect_compile_error("<iframe srcdoc=\"{{ s }}\">", "interpolation in a srcdoc attribute");
	expect_compile_error("<a href={{ u }}>", "unquoted attribute value");
	expect_compile_error("<a title=x{{ u }}>", "unquoted attribute value");
	expect_compile_error("<a {{ attrs }}>", "inside an HTML tag is only allowed in a quoted attribute value");
	expect_compile_error("<a href=\"x\"{{ attrs }}>", "inside an HTML tag");
	expect_compile_error("<{{ tag }}>", "interpolation in a tag name");
	expect_compile_error("<h{{ n }}>", "interpolation in a tag name");
	expect_compile_error("<!-- {{ x }} -->", "interpolation in an HTML comment");
	expect_compile_error("<!DOCTYPE {{ x }}>", "interpolation in an HTML comment");
	expect_compile_error("<script src=\"{{ x }}\"></script>", "the start of the src URL of <script> must be written");
	expect_compile_error("<base href=\"{{ x }}\">", "the start of the href URL of <base>");
	expect_compile_error("<embed src=' {{ x }}'>", "of <embed>");
	expect_compile_error("<object data=\"{{ x }}\"></object>", "of <object>");
	expect_compile_error("<scri{% if a %}pt{% end %} src=\"{{ x }}\">", "different HTML contexts");
	expect_compile_error("<bas{% if a %}e{% end %} href=\"{{ x }}\">", "of <?>");
	expect_compile_error("<a href=\"javascript:{{ x }}\">", "scheme is not http, https, mailto or tel");
	expect_compile_error("<a href=\"data:text/html,{{ x }}\">", "scheme is not http");
	expect_compile_error("<a href=\"&#106;avascript:{{ x }}\">", "scheme is not http");
	expect_compile_error("<a href=\"{{ a }}:{{ b }}\">", "':' after an interpolation");
	expect_compile_error("<a href=\"{{ a }}script:alert(1)\">", "':' after an interpolation");
	expect_compile_error("<a href=\"{{ a }}&#58;alert(1)\">", "'&' after an interpolation");
	expect_compile_error("<a href=\"&{{ a }}\">", "after '&' in the scheme part");
	expect_compile_error("<a {% if x %}on{% end %}click=\"{{ y }}\">", "unclear which attribute");
	expect_compile_error("<a {% if x %}href{% end %}=\"{{ y }}\">", "unclear which attribute");
	expect_compile_error("<title><b>{{ x }}</b></title>", "markup inside <title>");
	expect_compile_error("<script><!--</script>", "'<!' inside <script>");
	/* contexts that differ between branches, loops that change context */
	expect_compile_error("x\n<a {% if x %}href=\"{% end %}{{ y }}\">", "t:2: the branches of this {% if %} end in different HTML contexts");
	expect_compile_error("{% if x %}<script>{% end %}", "different HTML contexts");
	expect_compile_error("{% for x in y %}<a href=\"{% end %}", "t:1: the body of this {% for %} starts in HTML text");
	expect_compile_error("{% for x in y %}{% else %}<b title=\"{% end %}\">", "the {% else %} of this {% for %}");
	/* placement of include and block */
	expect_compile_error("<a href=\"{% include \"x\" %}\">", "{% include %} is only allowed in HTML text");
	expect_compile_error("<script>{% block b %}{% end %}</script>", "{% block %} is only allowed in HTML text");
	expect_compile_error("{% block b %}<a href=\"{% end %}\">", "block 'b' ends inside a URL attribute value");
	expect_compile_error("<p>\n<script>", "t:2: template ends inside <script>");
	expect_compile_error("<a href=\"x", "template ends inside a URL attribute value");
	expect_compile_error("<!-- open", "template ends inside an HTML comment");
	/* syntax, with lines */
	expect_compile_error("a\nb\n{% end %}", "t:3: {% end %} without {% if %}, {% for %} or {% block %}");
	expect_compile_error("\n{% foo %}", "t:2: unknown tag {% foo %}");
	expect_compile_error("{% if x %}\n{% for y in z %}\n", "t:2: {% for %} is not closed");
	expect_compile_error("\n\n{% if x %}", "t:3: {% if %} is not closed");
	expect_compile_error("a\n{{ x", "t:2: unclosed {{");
	expect_compile_error("{{ x }", "t:1: unclosed {{");
	expect_compile_error("\n{{ x y }}", "t:2: expected }} after 'x'");
	expect_compile_error("{{ a..b }}", "bad path 'a..b'");
	expect_compile_error("{{ a. }}", "bad path 'a.'");
	expect_compile_error("{{ .a }}", "bad path '.a'");
	expect_compile_error("{{ 1a }}", "bad path '1a'");
	expect_compile_error("{{ 1 }}", "must start with a name");
	expect_compile_error("{{ a.99999999999 }}", "index too large");
	expect_compile_error("{{ a-b }}", "expected }} after 'a'");
	expect_compile_error("{{ }}", "expected a name after {{");
	expect_compile_error("{{", "unclosed {{");
	expect_compile_error("x\n{# open", "t:2: unclosed comment");
	expect_compile_error("{% if x", "unclosed {%");
	expect_compile_error("{% if %}", "expected {% if PATH %}");
	expect_compile_error("{% if x y %}", "expected {% if PATH %}");
	expect_compile_error("{% if not %}", "expected {% if PATH %}");
	expect_compile_error("{% if x %}{% else %}{% elif y %}{% end %}", "{% elif %} after {% else %}");
	expect_compile_error("{% if x %}{% else %}{% else %}{% end %}", "a second {% else %}");
	expect_compile_error("{% else %}", "{% else %} without");
	expect_compile_error("{% elif x %}", "{% elif %} without {% if %}");
	expect_compile_error("{% for x in y %}{% elif z %}{% end %}", "{% elif %} without {% if %}");
	expect_compile_error("{% block b %}{% else %}{% end %}", "{% else %} without");
	expect_compile_error("{% for x items %}", "expected {% for NAME in PATH %}");
	expect_compile_error("{% for x.y in items %}", "bad loop variable");
	expect_compile_error("{% for loop in items %}{% end %}", "'loop' is reserved");
	expect_compile_error("{% include x %}", "expected {% include \"name\" %}");
	expect_compile_error("{% include \"\" %}", "template name must have");
	expect_compile_error("{% t key %}", "expected {% t \"key\" %}");
	expect_compile_error("{% t \"a\nb\" %}", "unterminated string");
	expect_compile_error("{% if x & y %}", "unexpected character '&'");
	expect_compile_error("{% %}", "expected a keyword");
	expect_compile_error("{% \"if\" %}", "expected a keyword");
	expect_compile_error("{{ x }}{% extends \"b\" %}", "{% extends %} must be the first tag");
	expect_compile_error("{% extends \"b\" %}{% extends \"c\" %}", "must be the first tag");
	expect_compile_error("{% extends \"b\" %}\n{{ x }}", "t:2: a template that extends another may only have {% block %}");
	expect_compile_error("{% extends \"b\" %}{% if x %}{% block a %}{% end %}{% end %}", "may only have {% block %}");
	expect_compile_error("{% block a %}{% end %}\n{% block a %}{% end %}", "t:2: block 'a' is defined twice");
	expect_compile_error("{% block a.b %}{% end %}", "expected {% block NAME %}");
	expect_compile_error("{% endraw %}", "{% endraw %} without {% raw %}");
	expect_compile_error("{% raw %}abc", "{% raw %} without {% endraw %}");
	expect_compile_error("{% if a b c d e f g h i %}", "too many words");
	char deep[40 * 12 + 1];
	size_t dl = 0;
	for (int i = 0; i < 33; i++)
		dl += (size_t)snprintf(deep + dl, sizeof(deep) - dl, "{%% if x %%}");
	expect_compile_error(deep, "nested deeper than 32");
	/* loops that change the URL position settle after one extra pass of
	 * the innermost: 30 levels compile (and at the joined context) */
	char loops[64 * 30];
	size_t ll = (size_t)snprintf(loops, sizeof(loops), "<a href=\"");
	for (int i = 0; i < 30; i++)
		ll += (size_t)snprintf(loops + ll, sizeof(loops) - ll, "{%% for x in y %%}");
	ll += (size_t)snprintf(loops + ll, sizeof(loops) - ll, "{{ x }}/");
	for (int i = 0; i < 30; i++)
		ll += (size_t)snprintf(loops + ll, sizeof(loops) - ll, "{%% end %%}");
	snprintf(loops + ll, sizeof(loops) - ll, "\">");
	expect(loops, "{ y = { 'j:' } }", "<a href=\"j%3A/\">");
	/* text before extends is allowed (and ignored) */
	const char *pre = "x{% extends \"b\" %}";
	struct tmpl *t = tmpl_compile("t", pre, strlen(pre), NULL, 0);
	CHECK_MSG(t != NULL, "text before extends");
	tmpl_free(t);
	/* a NULL or tiny error buffer is fine */
	CHECK_MSG(tmpl_compile("t", "{% end %}", 9, NULL, 0) == NULL, "error without buffer");
	char small[4];
	CHECK_MSG(tmpl_compile("t", "{% end %}", 9, small, sizeof(small)) == NULL && strcmp(small, "t:1") == 0,
	      "error truncated to [%s]", small);
}

static void test_caps(void)
{
	char out[256], err[256];
	env.max_iterations = 50;
	expect_render_error("{% for a in l %}{% for b in l %}x{% end %}{% end %}",
			    "{ l = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 } }", "t:1: more than 50 loop iterations");
	/* every iteration counts, outer ones too: 6 + 36 */
	expect("{% for a in l %}{% for b in l %}x{% end %}{% end %}", "{ l = { 1, 2, 3, 4, 5, 6 } }",
	       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	env.max_iterations = 100000;
	int rc = render_with("0123456789{{ x }}", "{ x = 'abc' }", 11, out, sizeof(out), err, sizeof(err));
	CHECK_MSG(rc == -1 && strcmp(err, "t:1: output larger than 11 bytes") == 0, "output cap: %d %s", rc, err);
	rc = render_with("0123456789{{ x }}", "{ x = 'a' }", 11, out, sizeof(out), err, sizeof(err));
	CHECK_MSG(rc == 0 && strcmp(out, "0123456789a") == 0, "output exactly at the cap: %d %s", rc, err);
	rc = render_with("\n\n0123456789>", NULL, 5, out, sizeof(out), err, sizeof(err));
	CHECK_MSG(rc == -1 && strcmp(err, "t:1: output larger than 5 bytes") == 0, "text over the cap: %s", err);
	/* a huge rawlen does not loop forever */
	env.max_iterations = 1000;
	expect_render_error("{% for a in l %}{% end %}", "(function() local t = {} for i = 1, 2000 do t[i] = i end return { l = t } end)()",
			    "more than 1000 loop iterations");
	env.max_iterations = 100000;
	struct tbuf b;
	tbuf_init(&b, 4);
	CHECK_MSG(tbuf_add(&b, "abcd", 4) == 0 && tbuf_add(&b, "e", 1) == -1 && b.len == 4 && strcmp(b.data, "abcd") == 0,
	      "tbuf max");
	tbuf_free(&b);
}

static int called;

static int forbidden(lua_State *l)
{
	called++;
	lua_pushstring(l, "from a metamethod");
	return 1;
}

static void test_metatables_ignored(void)
{
	lua_pushcfunction(L, forbidden);
	lua_setglobal(L, "forbidden");
	called = 0;
	const char *v = "setmetatable({ list = setmetatable({}, { __len = forbidden, __index = forbidden, __pairs = forbidden }),"
			" obj = setmetatable({}, { __index = forbidden, __tostring = forbidden, __name = 'x' }),"
			" proxy = setmetatable({}, { __index = { name = 'verborgen' } }),"
			" items = setmetatable({ 'a' }, { __len = forbidden, __index = forbidden }) },"
			" { __index = forbidden })";
	expect("[{{ missing }}][{{ obj }}][{{ obj.x }}][{{ proxy.name }}]", v, "[][][][]");
	expect("{% for x in list %}x{% else %}leeg{% end %}{% if list %}vol{% end %}{% if obj %}obj{% end %}", v, "leeg");
	expect("{% for x in items %}{{ x }}{{ items.2 }}{% end %}", v, "a");
	CHECK_MSG(called == 0, "a metamethod was called %d times", called);
}

/* An allocator that fails past a limit, to see a Lua memory error during
 * rendering come back as an error, not a crash or a longjmp past us. */
static size_t mem_used, mem_limit = SIZE_MAX;

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	(void)ud;
	if (ptr == NULL)
		osize = 0;
	if (nsize == 0) {
		free(ptr);
		mem_used -= osize;
		return NULL;
	}
	if (nsize > osize && mem_used + (nsize - osize) > mem_limit)
		return NULL;
	void *p = realloc(ptr, nsize);
	if (p)
		mem_used = mem_used - osize + nsize;
	return p;
}

static void test_memory_error(void)
{
	lua_State *m = lua_newstate(limited_alloc, NULL);
	char src[600], err[256];
	size_t sl = (size_t)snprintf(src, sizeof(src), "een\n{{ a }}\n{{ ");
	for (int i = 0; i < 300; i++)
		src[sl++] = 'k';
	sl += (size_t)snprintf(src + sl, sizeof(src) - sl, " }}");
	struct tmpl *t = tmpl_compile("mem", src, sl, err, sizeof(err));
	CHECK_MSG(t != NULL, "compile: %s", err);
	struct tbuf b;
	tbuf_init(&b, 1 << 16);
	lua_newtable(m);
	int top = lua_gettop(m);
	for (int round = 0; round < 2; round++) {
		lua_gc(m, LUA_GCCOLLECT);
		/* round 0: no room at all, the call fails; round 1: room for the
		 * call and short keys, not for the long key on line 3 (garbage key
		 * strings are freed by the emergency collection) */
		mem_limit = mem_used + (round ? 200 : 0);
		int rc = tmpl_render(t, &env, m, 1, &b, err, sizeof(err));
		CHECK_MSG(rc == -1 && strcmp(err, round ? "mem:3: not enough memory" : "mem:1: not enough memory") == 0,
		      "memory error in round %d: %d %s", round, rc, err);
		CHECK_MSG(lua_gettop(m) == top, "stack after a memory error");
		CHECK_MSG(lua_gc(m, LUA_GCISRUNNING) == 1, "collector restarted after a memory error");
		mem_limit = SIZE_MAX;
	}
	tbuf_free(&b);
	tmpl_free(t);
	lua_close(m);
}

static void test_stack_balance_on_errors(void)
{
	define("zelf", "{% for x in xs %}{% include \"zelf\" %}{% end %}");
	push_view("{ xs = { 1 } }");
	lua_pushinteger(L, 7);   /* something above the view */
	int top = lua_gettop(L);
	struct tbuf b;
	char err[256];
	tbuf_init(&b, 1 << 16);
	int rc = tmpl_render(lookup(NULL, "zelf"), &env, L, -2, &b, err, sizeof(err));
	CHECK_MSG(rc == -1 && lua_gettop(L) == top, "error deep inside loops and includes: %d %d %d", rc, top, lua_gettop(L));
	CHECK_MSG(lua_tointeger(L, -1) == 7, "the stack below was disturbed");
	tbuf_free(&b);
	lua_settop(L, top - 2);
	clear_registry();
}

int main(void)
{
	L = luaL_newstate();
	luaL_openlibs(L);
	lua_pushcfunction(L, lua_safe);
	lua_setglobal(L, "safe");

	RUN(test_values());
	RUN(test_escaping_text());
	RUN(test_escaping_attributes());
	RUN(test_escaping_urls());
	RUN(test_safe_html());
	RUN(test_conditionals());
	RUN(test_loops());
	RUN(test_regression_loop_alone_reads_past_segments());
	RUN(test_include());
	RUN(test_inheritance());
	RUN(test_translate());
	RUN(test_compile_errors());
	RUN(test_caps());
	RUN(test_metatables_ignored());
	RUN(test_memory_error());
	RUN(test_stack_balance_on_errors());

	CHECK_MSG(lua_gettop(L) == 0, "stack left at %d", lua_gettop(L));
	lua_close(L);
	return check_exit("test_template");
}
