/* runtime_check_bundle: what `aantafel tenant deploy` and `aantafel check`
 * refuse, each problem named with its file and line, and the shipped
 * example bundles accepted. Runs the real prelude and plugins in the real
 * sandbox. */
#include <stdlib.h>

#include "bundle.h"
#include "check.h"
#include "runtime.h"

static struct bundle *plat;

/* Checks a bundle of up to four files; returns the problems ("" if none),
 * to be freed. */
static char *check(const char *p1, const char *d1, const char *p2, const char *d2, const char *p3, const char *d3)
{
	const char *paths[3] = {p1, p2, p3}, *datas[3] = {d1, d2, d3};
	size_t lens[3];
	size_t n = 0;
	for (; n < 3 && paths[n]; n++)
		lens[n] = strlen(datas[n]);
	char err[256];
	struct bundle *b = bundle_from_files(1, 1, n, paths, datas, lens, err, sizeof(err));
	CHECK_MSG(b != NULL, "bundle_from_files: %s", err);
	if (!b)
		return strdup("?");
	char *problems = malloc(8192);
	problems[0] = '\0';
	if (runtime_check_bundle(plat, b, "proef", problems, 8192) == 0)
		CHECK_STR_EQ(problems, "");
	else
		CHECK(problems[0] != '\0');
	bundle_unref(b);
	return problems;
}

static void expect_ok(const char *what, char *problems)
{
	CHECK_MSG(problems[0] == '\0', "%s: unexpected problems: %s", what, problems);
	free(problems);
}

static void expect_problem(const char *what, char *problems, const char *needle)
{
	CHECK_MSG(strstr(problems, needle) != NULL, "%s: expected '%s' in: %s", what, needle, problems);
	free(problems);
}

int main(void)
{
	char err[512];
	plat = bundle_read_dir("plugins", err, sizeof(err));
	CHECK_MSG(plat != NULL, "platform plugins: %s", err);
	if (!plat)
		return check_exit("test_runtime_check");

	expect_ok("empty tenant.lua", check("tenant.lua", "return {}", NULL, NULL, NULL, NULL));
	expect_ok("no tenant.lua at all", check("static/x.css", "a{}", NULL, NULL, NULL, NULL));
	expect_ok("site options",
		  check("tenant.lua", "return { plugins = { site = { welcome = 'Hoi', notices = 3 } } }", NULL, NULL,
			NULL, NULL));

	/* Syntax errors name file and line. */
	expect_problem("tenant.lua syntax", check("tenant.lua", "return {\n name = 'x',\n theme = {\n", NULL, NULL, NULL, NULL),
		       "tenant.lua:4:");
	expect_problem("plugin syntax",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "local x = 1\nplugin.hook('page.view', function() end\n", NULL, NULL),
		       "plugins/mine.lua:3:");
	expect_problem("unused plugin file syntax",
		       check("tenant.lua", "return {}", "plugins/spare.lua", "x = = 1", NULL, NULL),
		       "plugins/spare.lua:1:");
	expect_problem("runtime error while loading",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "\n\nlocal t = nil\nreturn t.x\n", NULL, NULL),
		       "plugins/mine.lua:4:");
	expect_problem("translation syntax",
		       check("tenant.lua", "return {}", "translations/nl.lua", "return { a = }", NULL, NULL),
		       "translations/nl.lua:1:");

	/* Shape of tenant.lua. */
	expect_problem("not a table", check("tenant.lua", "return 42", NULL, NULL, NULL, NULL), "must return a table");
	expect_problem("unknown field", check("tenant.lua", "return { nmae = 'x' }", NULL, NULL, NULL, NULL),
		       "unknown field 'nmae'");
	expect_problem("bad locale", check("tenant.lua", "return { locale = 'de' }", NULL, NULL, NULL, NULL), "locale");
	expect_problem("theme injection",
		       check("tenant.lua", "return { theme = { primary = 'red;} body{display:none' } }", NULL, NULL, NULL,
			     NULL),
		       "theme token 'primary'");
	expect_problem("theme closing style",
		       check("tenant.lua", "return { theme = { primary = '</style><script>' } }", NULL, NULL, NULL, NULL),
		       "theme token 'primary'");

	/* Plugins and options. */
	expect_problem("unknown plugin", check("tenant.lua", "return { plugins = { nope = {} } }", NULL, NULL, NULL, NULL),
		       "unknown plugin 'nope'");
	expect_problem("unknown option",
		       check("tenant.lua", "return { plugins = { site = { colour = 'x' } } }", NULL, NULL, NULL, NULL),
		       "has no option 'colour'");
	expect_problem("option type",
		       check("tenant.lua", "return { plugins = { site = { notices = 'veel' } } }", NULL, NULL, NULL, NULL),
		       "option 'notices' must be an integer");
	expect_problem("option bounds",
		       check("tenant.lua", "return { plugins = { site = { notices = 99 } } }", NULL, NULL, NULL, NULL),
		       "option 'notices' must be between 0 and 20");
	expect_problem("unknown event",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "plugin.hook('page.vieww', function() end)", NULL, NULL),
		       "unknown event 'page.vieww'");

	/* Problems found in tenant.lua's values name their line. */
	expect_problem("line of an unknown plugin",
		       check("tenant.lua", "return {\n\tname = 'x',\n\tplugins = {\n\t\tsite = {},\n\t\tnope = {},\n\t},\n}",
			     NULL, NULL, NULL, NULL),
		       "tenant.lua:5: unknown plugin 'nope'");
	expect_problem("line of a bad option",
		       check("tenant.lua",
			     "return {\n\tplugins = {\n\t\tsite = {\n\t\t\twelcome = 'hoi',\n\t\t\tnotices = 99,\n\t\t},\n\t},\n}",
			     NULL, NULL, NULL, NULL),
		       "tenant.lua:5: plugin 'site' option 'notices' must be between 0 and 20");
	expect_problem("line of an unknown field",
		       check("tenant.lua", "return {\n\tname = 'x',\n\tnmae = 'y',\n}", NULL, NULL, NULL, NULL),
		       "tenant.lua:3: unknown field 'nmae'");
	expect_problem("line of a theme token",
		       check("tenant.lua", "return {\n\ttheme = {\n\t\tprimary = '#fff',\n\t\t[\"text\"] = 'a;b',\n\t},\n}",
			     NULL, NULL, NULL, NULL),
		       "tenant.lua:4: theme token 'text'");

	/* Limits while loading stop the load, named. */
	expect_problem("endless tenant.lua", check("tenant.lua", "while true do end", NULL, NULL, NULL, NULL),
		       "instruction limit exceeded");
	expect_problem("escape attempt",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "io.open('/etc/passwd')", NULL, NULL),
		       "undeclared global 'io'");
	expect_problem("store while loading",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "plugin.store.get('x')", NULL, NULL),
		       "while serving a request");

	/* The handle and the environment cannot be changed or escaped. */
	expect_problem("handle read-only",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua", "plugin.route = nil",
			     NULL, NULL),
		       "read-only");
	expect_problem("store read-only",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "plugin.store.get = function() end", NULL, NULL),
		       "read-only");
	expect_problem("handle metatable",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "setmetatable(plugin, {})", NULL, NULL),
		       "protected metatable");
	expect_problem("env metatable",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "setmetatable(_ENV, {})", NULL, NULL),
		       "protected metatable");
	expect_problem("another plugin's globals",
		       check("tenant.lua", "return { plugins = { a = {}, b = {} } }", "plugins/a.lua", "shared = 1",
			     "plugins/b.lua", "local x = shared"),
		       "plugins/b.lua:1: undeclared global 'shared'");
	expect_problem("the prelude's core is out of reach",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua", "return core.file",
			     NULL, NULL),
		       "undeclared global 'core'");
	expect_problem("a tenant plugin gets no sign-in",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "local f = plugin.auth.signin", NULL, NULL),
		       "plugins/mine.lua:1: attempt to index a nil value (field 'auth')");
	expect_problem("a tenant plugin sends no mail",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "local f = plugin.mail.send", NULL, NULL),
		       "plugins/mine.lua:1: attempt to index a nil value (field 'mail')");
	expect_problem("tenant.lua cannot reach plugins",
		       check("tenant.lua", "return { name = plugin.name }", NULL, NULL, NULL, NULL),
		       "undeclared global 'plugin'");

	/* Workflows and step types: each problem with its file and line. */
#define WF_TENANT "return { workflow = 'kort', plugins = { mine = {} } }"
#define WF_NL "return { ['wf.intake'] = 'Intake', ['wf.kort'] = 'Kort', ['wf.gesprek'] = 'Gesprek' }"
#define WF_EN "return { ['wf.intake'] = 'Intake', ['wf.kort'] = 'Short', ['wf.gesprek'] = 'Conversation' }"
	{
		const char *ok_plugin =
			"plugin.step_type{ id = 'intake', name = 'wf.intake',\n"
			"  records = { quote = { visible = 'client', write = 'client', fields = {\n"
			"    amount = { type = 'cents', required = true },\n"
			"    status = { type = 'choice', choices = { 'draft', 'sent', 'accepted' } } } } },\n"
			"  guard = function(t, s) return false, 'Nog niet' end }\n"
			"plugin.step_type{ id = 'gesprek', name = 'wf.gesprek' }\n"
			"plugin.workflow{ id = 'kort', name = 'wf.kort', steps = { 'intake', 'gesprek' } }\n";
		const char *paths[4] = {"tenant.lua", "plugins/mine.lua", "translations/nl.lua", "translations/en.lua"};
		const char *datas[4] = {WF_TENANT, ok_plugin, WF_NL, WF_EN};
		size_t lens[4];
		for (int i = 0; i < 4; i++)
			lens[i] = strlen(datas[i]);
		struct bundle *b = bundle_from_files(1, 1, 4, paths, datas, lens, err, sizeof(err));
		CHECK(b != NULL);
		if (b) {
			char p[4096] = "";
			CHECK_MSG(runtime_check_bundle(plat, b, "proef", p, sizeof(p)) == 0, "workflow bundle: %s", p);
			bundle_unref(b);
		}
	}
	expect_problem("unknown step type in a workflow",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "plugin.step_type{ id = 'intake', name = 'wf.intake' }\n"
			     "plugin.workflow{ id = 'kort', name = 'wf.kort',\n  steps = { 'intake', 'buurtschouw' } }\n",
			     NULL, NULL),
		       "plugins/mine.lua:2: workflow 'kort': unknown step type 'buurtschouw'");
	expect_problem("duplicate step type",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "plugin.step_type{ id = 'intake', name = 'wf.intake' }\n\n"
			     "plugin.step_type{ id = 'intake', name = 'wf.intake' }\n",
			     NULL, NULL),
		       "plugins/mine.lua:3: duplicate step type 'intake' (first declared at plugins/mine.lua:1:)");
	expect_problem("duplicate workflow across plugins",
		       check("tenant.lua", "return { plugins = { a = {}, b = {} } }", "plugins/a.lua",
			     "plugin.step_type{ id = 'x', name = 'wf.x' }\nplugin.workflow{ id = 'w', name = 'wf.w', steps = {'x'} }",
			     "plugins/b.lua", "plugin.workflow{ id = 'w', name = 'wf.w', steps = {'x'} }"),
		       "plugins/b.lua:1: duplicate workflow 'w'");
	expect_problem("duplicate step in a workflow",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "plugin.step_type{ id = 'x', name = 'wf.x' }\nplugin.workflow{ id = 'w', name = 'wf.w', steps = {'x', 'x'} }",
			     NULL, NULL),
		       "plugins/mine.lua:2: workflow 'w': duplicate step 'x'");
	expect_problem("unknown field type",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "\nplugin.step_type{ id = 'intake', name = 'wf.intake',\n"
			     "  records = { quote = { fields = { amount = { type = 'money' } } } } }\n",
			     NULL, NULL),
		       "plugins/mine.lua:2: step type 'intake' record 'quote' field 'amount': unknown field type 'money'");
	expect_problem("bad visibility",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "plugin.step_type{ id = 'intake', name = 'wf.intake',\n"
			     "  records = { quote = { visible = 'everyone', fields = { a = { type = 'int' } } } } }\n",
			     NULL, NULL),
		       "plugins/mine.lua:1: step type 'intake' record 'quote': visible must be facilitators, client, people or "
		       "readers, not 'everyone'");
	expect_problem("bad writers",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "plugin.step_type{ id = 'intake', name = 'wf.intake',\n"
			     "  records = { quote = { visible = 'client', write = 'people', fields = { a = { type = 'int' } } } } }\n",
			     NULL, NULL),
		       "plugins/mine.lua:1: step type 'intake' record 'quote': write must be facilitators or client, not "
		       "'people'");
	expect_problem("the client writes what it may not read",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "\nplugin.step_type{ id = 'intake', name = 'wf.intake',\n"
			     "  records = { quote = { write = 'client', fields = { a = { type = 'int' } } } } }\n",
			     NULL, NULL),
		       "plugins/mine.lua:2: step type 'intake' record 'quote': the client writes it but may not read it");
	expect_problem("choice without choices",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "plugin.step_type{ id = 'i', name = 'wf.i',\n"
			     "  records = { q = { fields = { s = { type = 'choice' } } } } }\n",
			     NULL, NULL),
		       "field 's' needs choices");
	expect_problem("missing translation of a name",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "plugin.step_type{ id = 'intake', name = 'wf.intake' }\n", "translations/nl.lua",
			     "return { ['wf.intake'] = 'Intake' }"),
		       "plugins/mine.lua:1: step type 'intake': no translation of 'wf.intake' in en");
	/* The declarations travel with the operations that start a table's
	 * workflow: over their bound they are refused when the state is built,
	 * not with a 413 at the first table. */
	expect_problem("definitions over their bound",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "local f = {}\nfor i = 1, 20000 do f['veld' .. i] = { type = 'text' } end\n"
			     "plugin.step_type{ id = 'groot', name = 'wf.intake', records = { k = { fields = f } } }\n"
			     "plugin.workflow{ id = 'groot', name = 'wf.kort', steps = { 'groot' } }\n",
			     NULL, NULL),
		       "over the limit of 256 KiB");
	expect_problem("unknown default workflow",
		       check("tenant.lua", "return {\n\tworkflow = 'volledig',\n}", NULL, NULL, NULL, NULL),
		       "tenant.lua:2: unknown workflow 'volledig'");
	expect_problem("step type declared late",
		       check("tenant.lua", "return { plugins = { mine = {} } }", "plugins/mine.lua",
			     "plugin.hook('tenant.loaded', function() plugin.step_type{ id = 'x', name = 'y' } end)", NULL,
			     NULL),
		       "step types are declared while the plugin loads");

	/* Templates. */
	expect_problem("template error",
		       check("tenant.lua", "return {}", "templates/home.html", "<p>\n{% if x %}\n<b>{{ y }}</b>\n", NULL,
			     NULL),
		       "templates/home.html:");
	expect_problem("script interpolation",
		       check("tenant.lua", "return {}", "templates/home.html", "<script>var x = {{ y }};</script>", NULL,
			     NULL),
		       "templates/home.html:1:");

	/* The platform's own plugins pass; a broken platform plugin or
	 * template is named. */
	char problems[4096] = "";
	CHECK_MSG(runtime_check_platform(plat, problems, sizeof(problems)) == 0, "platform: %s", problems);
	{
		const char *paths[3] = {"site/init.lua", "broken/init.lua", "templates/x.html"};
		const char *datas[3] = {"plugin.route('GET', '/', function() return {text = 'x'} end)",
					"local = 1", "<script>{{ x }}</script>"};
		size_t lens[3] = {strlen(datas[0]), strlen(datas[1]), strlen(datas[2])};
		struct bundle *bad = bundle_from_files(0, 0, 3, paths, datas, lens, err, sizeof(err));
		CHECK(bad != NULL);
		if (bad) {
			problems[0] = '\0';
			CHECK(runtime_check_platform(bad, problems, sizeof(problems)) != 0);
			CHECK_CONTAINS(problems, "plugins/broken/init.lua:1:");
			CHECK_CONTAINS(problems, "plugins/templates/x.html:1:");
			bundle_unref(bad);
		}
	}

	/* The shipped examples pass. */
	const char *examples[] = {"tenants/zutphen", "tenants/voorbeeld"};
	for (int i = 0; i < 2; i++) {
		struct bundle *b = bundle_read_dir(examples[i], err, sizeof(err));
		CHECK_MSG(b != NULL, "%s: %s", examples[i], err);
		if (!b)
			continue;
		problems[0] = '\0';
		int rc = runtime_check_bundle(plat, b, "x", problems, sizeof(problems));
		CHECK_MSG(rc == 0, "%s: %s", examples[i], problems);
		bundle_unref(b);
	}
	bundle_unref(plat);
	return check_exit("test_runtime_check");
}
