-- The site plugin: each tenant's home page, its theme's stylesheet, the
-- account pages and their mails (account.lua) and the tables' pages
-- (tables.lua), both loaded on first use.
-- The home page reads the tenant's notices and welcome from the plugin
-- store (the database) and its tables, each with the step it is at,
-- through the API, and renders home.html inside layout.html; it writes
-- nothing. (A visit counter is an example plugin of a bundle:
-- tenants/voorbeeld/plugins/bezoeken.lua.)

local welcome = plugin.option("welcome", "string", nil, { max = 2000 })
local notices = plugin.option("notices", "integer", 5, { min = 0, max = 20 })

-- Form fields for the pages' templates (forms.lua), shared by the
-- modules below through the plugin's globals.
forms = plugin.module("forms")

-- The tables' pages and the mails of their events, loaded on first use.
local tables = plugin.module("tables")

-- Each route of tables.lua: method, path, the module's function.
for _, r in ipairs({
	{ "GET", "/zoeken", "search" },
	{ "GET", "/beheer/tafels", "admin" },
	{ "GET", "/tafels/nieuw", "new_form" },
	{ "POST", "/tafels/nieuw", "create" },
	{ "GET", "/tafels/:id", "show" },
	{ "GET", "/tafels/:id/bewerken", "edit_form" },
	{ "POST", "/tafels/:id/bewerken", "update" },
	{ "POST", "/tafels/:id/deelnemen", "join" },
	{ "POST", "/tafels/:id/verlaten", "leave" },
	{ "POST", "/tafels/:id/bijdragen", "contribute" },
	{ "GET", "/tafels/:id/feed.atom", "feed" },
	{ "GET", "/tafels/:id/moderatie", "moderation" },
	{ "POST", "/meldingen/:id", "handle_report" },
	{ "GET", "/tafels/:id/mensen", "people" },
	{ "POST", "/tafels/:id/mensen", "set_person" },
	{ "POST", "/tafels/:id/uitnodigingen", "invite" },
	{ "POST", "/tafels/:id/uitnodigingen/:invitation/intrekken", "revoke_invitation" },
	{ "POST", "/tafels/:id/groepen", "group_create" },
	{ "GET", "/groepen/:id", "group" },
	{ "POST", "/groepen/:id/deelnemen", "group_join" },
	{ "POST", "/groepen/:id/verlaten", "group_leave" },
	{ "POST", "/groepen/:id/bijdragen", "group_contribute" },
	{ "POST", "/groepen/:id/verzoeken/:request", "group_decide" },
	{ "GET", "/bijdragen/:id", "thread" },
	{ "POST", "/bijdragen/:id/reactie", "reply" },
	{ "POST", "/bijdragen/:id/bewerken", "edit" },
	{ "POST", "/bijdragen/:id/verbergen", "hide" },
	{ "POST", "/bijdragen/:id/melden", "report" },
	{ "GET", "/uitnodiging", "invitation" },
	{ "POST", "/uitnodiging", "accept" },
}) do
	local fn = r[3]
	plugin.route(r[1], r[2], function(req, params) return tables()[fn](req, params) end)
end

-- The pages of a table's workflow (steps.lua): its steps and history,
-- one step with its records and forms, one record with its versions.
local steps = plugin.module("steps")
for _, r in ipairs({
	{ "GET", "/tafels/:id/stappen", "steps" },
	{ "GET", "/tafels/:id/stappen/:step", "step" },
	{ "POST", "/tafels/:id/stappen/:step/:action", "change" },
	{ "POST", "/tafels/:id/stappen/:step/nieuw/:kind", "create" },
	{ "GET", "/vastleggingen/:id", "record" },
	{ "POST", "/vastleggingen/:id", "update" },
}) do
	local fn = r[3]
	plugin.route(r[1], r[2], function(req, params) return steps()[fn](req, params) end)
end

-- The pages of a table's decisions (decisions.lua): a new one, one
-- decision with its vote, results, outcome and minority round, and the
-- changes their forms make. The time helpers of steps.lua are shared.
site_steps = steps
decisions = plugin.module("decisions")
for _, r in ipairs({
	{ "GET", "/tafels/:id/besluiten/nieuw", "new_form" },
	{ "POST", "/tafels/:id/besluiten", "create" },
	{ "GET", "/besluiten/:id", "show" },
	{ "POST", "/besluiten/:id/stem", "vote" },
	{ "POST", "/besluiten/:id/zaal", "room" },
	{ "POST", "/besluiten/:id/sluiten", "close" },
	{ "POST", "/besluiten/:id/gezamenlijk", "collective" },
	{ "POST", "/besluiten/:id/punten", "point" },
	{ "POST", "/besluiten/:id/punten/:point", "mark" },
	{ "POST", "/besluiten/:id/besluittekst", "final" },
}) do
	local fn = r[3]
	plugin.route(r[1], r[2], function(req, params) return decisions()[fn](req, params) end)
end

-- The pages of a table's meetings (meetings.lua): a new one, one meeting
-- with registration, the facilitator's changes, registrations by name and
-- attendance, and the iCalendar file and feed.
meetings = plugin.module("meetings")
for _, r in ipairs({
	{ "GET", "/tafels/:id/bijeenkomsten/nieuw", "new_form" },
	{ "POST", "/tafels/:id/bijeenkomsten", "create" },
	{ "GET", "/tafels/:id/bijeenkomsten.ics", "feed" },
	{ "GET", "/bijeenkomsten/:id", "show" },
	{ "POST", "/bijeenkomsten/:id", "update" },
	{ "GET", "/bijeenkomsten/:id/wijzigen", "edit_form" },
	{ "GET", "/bijeenkomsten/:id/agenda.ics", "ical" },
	{ "POST", "/bijeenkomsten/:id/aanmelden", "register" },
	{ "POST", "/bijeenkomsten/:id/afmelden", "unregister" },
	{ "POST", "/bijeenkomsten/:id/namen", "add_name" },
	{ "POST", "/bijeenkomsten/:id/afgelasten", "cancel" },
	{ "POST", "/bijeenkomsten/:id/aanwezigheid", "attendance" },
}) do
	local fn = r[3]
	plugin.route(r[1], r[2], function(req, params) return meetings()[fn](req, params) end)
end

-- What a resident follows and hears about (notifications.lua): the list
-- of what is new with the follows and the mail switch, the follow forms
-- of a table's and a group's page (which read the follow through
-- notifications.place_view), and the unsubscribe page of the mails. The
-- core lets POST /afmelden/TOKEN alone through without a session or a
-- CSRF token (RFC 8058's one-click post; the token is the authority).
notifications = plugin.module("notifications")
for _, r in ipairs({
	{ "GET", "/meldingen", "list" },
	{ "POST", "/meldingen", "save_settings" },
	{ "POST", "/tafels/:id/volgen", "follow_table" },
	{ "POST", "/groepen/:id/volgen", "follow_group" },
	{ "GET", "/afmelden/:token", "unsubscribe_form" },
	{ "POST", "/afmelden/:token", "unsubscribe" },
}) do
	local fn = r[3]
	plugin.route(r[1], r[2], function(req, params) return notifications()[fn](req, params) end)
end

plugin.hook("invitation.created", function(inv) tables().invitation_created(inv) end)
plugin.hook("group.request_decided", function(d) tables().request_decided(d) end)

-- The language switch: remembered in a cookie (the core sets it for the
-- answer's lang), then back to the page it was chosen on (same host).
plugin.route("GET", "/taal", function(req)
	local lang = req.query.lang == "en" and "en" or "nl"
	local back = "/"
	local ref = req.headers.referer or ""
	local host = req.headers.host or ""
	local prefix = req.scheme .. "://" .. host .. "/"
	if host ~= "" and ref:sub(1, #prefix) == prefix and #ref < 500 then
		back = "/" .. ref:sub(#prefix + 1)
		if back:sub(1, 2) == "//" or back:find("[\r\n\\]") then back = "/" end
	end
	return { redirect = back, lang = lang }
end)

-- ---- The site's settings, content pages and accessibility statement,
-- changed by the municipality's admins without a deploy (beheer.lua).
local beheer = plugin.module("beheer")
for _, r in ipairs({
	{ "GET", "/toegankelijkheid", "statement" },
	{ "GET", "/pagina/:slug", "show_page" },
	{ "GET", "/beheer/instellingen", "settings" },
	{ "POST", "/beheer/instellingen", "save_settings" },
	{ "POST", "/beheer/instellingen/opties", "save_options" },
	{ "GET", "/beheer/paginas", "pages" },
	{ "GET", "/beheer/paginas/nieuw", "new_page" },
	{ "POST", "/beheer/paginas/nieuw", "create_page" },
	{ "GET", "/beheer/paginas/:slug", "edit_page" },
	{ "POST", "/beheer/paginas/:slug", "update_page" },
	{ "POST", "/beheer/paginas/:slug/verwijderen", "delete_page" },
	{ "GET", "/beheer/toegankelijkheid", "accessibility" },
	{ "POST", "/beheer/toegankelijkheid", "save_accessibility" },
	{ "GET", "/beheer/bundel", "bundle" },
	{ "POST", "/beheer/bundel/terugzetten", "rollback" },
	{ "POST", "/beheer/bundel/voorbeeld", "preview" },
	{ "POST", "/beheer/bundel/publiceren", "publish" },
	{ "POST", "/beheer/bundel/verwijderen", "delete_draft" },
	-- bundle upload (multipart/form-data: the file goes to POST /bundle from the request)
	{ "POST", "/beheer/bundel/uploaden", "upload" },
}) do
	local fn = r[3]
	plugin.route(r[1], r[2], function(req, params) return beheer()[fn](req, params) end)
end

-- Every page of the site (not the mails) shows the current notices, the
-- menu of content pages and the footer's contact details.
plugin.hook("page.view", function(template, view)
	if template:sub(1, 5) ~= "mail/" and view.site_menu == nil then beheer().layout_view(view) end
end)
-- ---- end of the settings and pages

plugin.route("GET", "/", function(req)
	local items = {}
	if notices > 0 then
		for _, row in ipairs(plugin.store.list("notice/", { order = "recent", limit = notices })) do
			local v = row.value
			if type(v) == "table" and type(v.title) == "string" then
				items[#items + 1] = { title = v.title, text = v.text, url = v.url }
			end
		end
	end
	-- A welcome text kept in the store (set by the municipality's editors)
	-- wins over the one in tenant.lua.
	local stored = plugin.store.get("welcome")
	local text = type(stored) == "table" and type(stored.text) == "string" and stored.text or welcome
	local lists = tables().home_lists(req)
	return plugin.render("home.html", {
		user = req.user,
		csrf = req.csrf,
		welcome = text or plugin.t("site.welcome", { name = plugin.tenant().name }, req.lang),
		notices = items,
		tables = lists.tables,
		mine = lists.mine,
		can_open = lists.can_open,
		-- Safe HTML that a municipality's plugins add with page.view
		-- (printed at the end of the page).
		sections = {},
	}, req.lang)
end)

-- The theme's tokens as CSS custom properties (tenant.lua checked each
-- value when it was loaded).
plugin.route("GET", "/theme.css", function()
	local lines = { ":root {" }
	local theme = plugin.theme()
	local names = {}
	for name in pairs(theme) do names[#names + 1] = name end
	table.sort(names)
	for _, name in ipairs(names) do
		lines[#lines + 1] = "  --at-" .. name .. ": " .. theme[name] .. ";"
	end
	lines[#lines + 1] = "}"
	return { body = table.concat(lines, "\n") .. "\n", type = "text/css; charset=utf-8" }
end)

-- The account pages (account.lua), loaded on first use; each route is
-- "METHOD PATH", the module's function of the same name.
local account = plugin.module("account")
for _, key in ipairs({
	"GET /inloggen",
	"POST /inloggen",
	"POST /uitloggen",
	"GET /registreren",
	"POST /registreren",
	"GET /bevestigen",
	"GET /bevestiging-opnieuw",
	"POST /bevestiging-opnieuw",
	"GET /wachtwoord-vergeten",
	"POST /wachtwoord-vergeten",
	"GET /wachtwoord-herstellen",
	"POST /wachtwoord-herstellen",
	"GET /account/wachtwoord",
	"POST /account/wachtwoord",
	"GET /account",
	"GET /account/gegevens",
	"GET /account/verwijderen",
	"POST /account/verwijderen",
	"GET /beheer/leden",
	"POST /beheer/leden",
	"GET /account/sleutels",
	"POST /account/sleutels",
	"POST /account/sleutels/:id/intrekken",
	"GET /account/email",
	"POST /account/email",
	"GET /email-bevestigen",
}) do
	local method, path = key:match("^(%u+) (.+)$")
	plugin.route(method, path, function(req, params) return account()[key](req, params) end)
end

-- The mails of the account operations (sign-up, the link again, a
-- forgotten password, a new address): the core's operations name these
-- events with what a mail needs, the link's secret among it; the pages
-- and the JSON API lead to the same mails.
for _, event in ipairs({ "account.created", "account.exists", "verification.resent", "password.forgotten",
	"email.change_requested" }) do
	plugin.hook(event, function(e) account().mails[event](e) end)
end
