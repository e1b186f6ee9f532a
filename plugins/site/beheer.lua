-- What a municipality's admins change on their own site without a deploy
-- (docs/plugins.md, "The site's settings and pages"): the settings page
-- (welcome text, notices with an end date, the footer's contact details,
-- the default language), the content pages in Markdown with their menu,
-- and the accessibility statement after the government's model. Every
-- read and change goes through plugin.api (/settings, /pages): the core
-- checks who may change what, these pages show its answers. Loaded on
-- first use (plugin.module).

local M = {}

local function T(req, key, vars)
	return plugin.t(key, vars, req.lang)
end

local refused = forms().refused
local function field(...) return forms().field(...) end

local function page(...) return forms().page(...) end

-- The API's field errors as translated messages (the API's English
-- message when there is no translation for its code).
local function field_errors(req, body)
	local out = {}
	local fields = type(body) == "table" and body.error and body.error.fields or {}
	for name, f in pairs(fields) do
		local key = "beheer.error_" .. tostring(f.code)
		local text = T(req, key)
		out[name] = text ~= key and text or f.message
	end
	return out
end

-- Admins only: a guest is asked to sign in, anyone else gets 403.
local function admin(req)
	if not req.user then return { redirect = "/inloggen" } end
	if not req.user.roles.admin then return { status = 403 } end
	return nil
end

-- Now in UTC as the API writes a notice's end ("…Z"), for comparing.
local function now_utc()
	return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

-- ---------------------------------------------------------------- every page

-- The current notices, the menu of content pages and the footer's contact
-- details for the layout (templates/layout.html), read once per page.
function M.layout_view(view)
	local calls = { { "GET", "/settings" }, { "GET", "/pages" } }
	-- A signed-in person's unread notifications, counted beside the
	-- header's link to /meldingen (which sets site_unread itself: it marks
	-- them read).
	if view.user and view.site_unread == nil then
		calls[3] = { "GET", "/me/notifications", { unread = "true", limit = 1 } }
	end
	local r = plugin.api.batch(calls)
	if r[3] and r[3].status == 200 then view.site_unread = forms().unread_badge(r[3].body.unread) end
	local s = r[1].status == 200 and r[1].body or {}
	local now = now_utc()
	local notices = {}
	for _, n in ipairs(s.notices or {}) do
		-- The API leaves out what has ended; a cached answer may be older.
		if type(n.ends_at) == "string" and n.ends_at > now then notices[#notices + 1] = n end
	end
	view.site_notices = notices
	view.site_contact = s.contact and next(s.contact) and s.contact or nil
	local menu = {}
	if r[2].status == 200 then
		for _, p in ipairs(r[2].body.items) do
			if p.menu_order ~= nil then menu[#menu + 1] = { title = p.title, url = "/pagina/" .. p.slug } end
		end
	end
	view.site_menu = menu
	-- The welcome text of the settings (Markdown) wins on the home page.
	if s.welcome_html ~= nil and s.welcome ~= "" then view.site_welcome_html = s.welcome_html end
end

-- ---------------------------------------------------------------- settings

-- "YYYY-MM-DD" of a notice's end, for the form's date field.
local function date_of(ts)
	return type(ts) == "string" and ts:sub(1, 10) or nil
end

local NOTICE_ROWS = 3

-- The options the site's plugins declare editable (plugin.option with its
-- labels), as fields named opt.PLUGIN.NAME with their values now (or as
-- GIVEN, the form sent back after a refusal). Nil when there are none.
local function option_fields(req, given, errors)
	local decls = plugin.editable_options(req.lang)
	if #decls == 0 then return nil end
	local st, body = plugin.api.get("/settings/options")
	local set = st == 200 and body.options or {}
	local out = {}
	for _, d in ipairs(decls) do
		local key = "opt." .. d.plugin .. "." .. d.name
		local v = given and given[key]
		if v == nil then
			v = set[d.plugin] and set[d.plugin][d.name]
			if v == nil then v = d.default end
		end
		local hint = T(req, "beheer.option_of", { plugin = d.plugin })
		local extra = {}
		if d.type == "boolean" then
			local on = v == true or v == "true"
			extra.choices = { { value = "true", label = T(req, "beheer.yes"), selected = on },
				{ value = "false", label = T(req, "beheer.no"), selected = not on } }
		elseif d.type == "choice" then
			extra.choices = {}
			for _, c in ipairs(d.choices or {}) do
				extra.choices[#extra.choices + 1] = { value = c, label = c, selected = c == v }
			end
		elseif d.type == "string" then
			extra.max = d.max
		else
			extra.type = "number"
			extra.min = d.min
			if d.min or d.max then
				hint = hint .. " " .. T(req, "beheer.option_range", { min = d.min or "…", max = d.max or "…" })
			end
		end
		local f = field(req, key, "beheer.options", v ~= nil and tostring(v) or "", errors, extra)
		f.label = d.label
		f.hint = hint
		out[#out + 1] = f
	end
	return out
end

local function settings_form(req, status, s, errors, message, options)
	local c = s.contact or {}
	local rows = {}
	local notices = s.notices or {}
	for i = 1, math.max(#notices + 1, NOTICE_ROWS) do
		if i > 10 then break end
		local n = notices[i] or {}
		rows[#rows + 1] = {
			n = i,
			fields = {
				field(req, "notice_title_" .. i, "beheer.notice_title", n.title, nil, { max = 200 }),
				field(req, "notice_text_" .. i, "beheer.notice_text", n.text, nil, { textarea = true, rows = 2, max = 1000 }),
				field(req, "notice_end_" .. i, "beheer.notice_end", date_of(n.ends_at), nil,
					{ type = "date", hint = "beheer.notice_end_hint" }),
			},
		}
	end
	local lang_choices = {
		{ value = "", label = T(req, "beheer.lang_browser"), selected = s.default_lang == nil or s.default_lang == "" },
		{ value = "nl", label = T(req, "beheer.lang_nl"), selected = s.default_lang == "nl" },
		{ value = "en", label = T(req, "beheer.lang_en"), selected = s.default_lang == "en" },
	}
	-- The digest mails' hour (the tenant's local time) and the weekly
	-- one's weekday (the notifications' settings; defaults 7 and Monday).
	local hours, days = {}, {}
	local hour, weekday = math.tointeger(s.digest_hour) or 7, math.tointeger(s.digest_weekday) or 1
	for h = 0, 23 do
		hours[#hours + 1] = { value = tostring(h), label = T(req, "beheer.hour", { hour = string.format("%02d", h) }),
			selected = h == hour }
	end
	for d = 1, 7 do
		days[#days + 1] = { value = tostring(d), label = T(req, "beheer.weekday_" .. d), selected = d == weekday }
	end
	local digest = {
		field(req, "digest_hour", "beheer.digest_hour", nil, errors, { choices = hours }),
		field(req, "digest_weekday", "beheer.digest_weekday", nil, errors, { choices = days }),
	}
	return page(req, status, "beheer/settings.html", {
		digest = digest,
		welcome = { field(req, "welcome", "beheer.welcome", s.welcome, errors,
			{ textarea = true, rows = 6, max = 5000, hint = "beheer.hint_markdown" }) },
		notice_rows = rows,
		notices_error = errors and errors.notices,
		contact = {
			field(req, "contact_name", "beheer.contact_name", c.name, nil, { max = 200 }),
			field(req, "contact_email", "beheer.contact_email", c.email, nil, { type = "email", max = 200 }),
			field(req, "contact_phone", "beheer.contact_phone", c.phone, nil, { type = "tel", max = 200 }),
			field(req, "contact_address", "beheer.contact_address", c.address, nil, { max = 200 }),
			field(req, "contact_url", "beheer.contact_url", c.url, nil, { type = "url", max = 200 }),
		},
		contact_error = errors and errors.contact,
		lang_fields = { field(req, "default_lang", "beheer.default_lang", nil, errors, { choices = lang_choices }) },
		options = options or option_fields(req),
		message = message,
		updated_by = s.updated_by,
	})
end

function M.settings(req)
	local no = admin(req)
	if no then return no end
	local st, s = plugin.api.get("/settings")
	if st ~= 200 then return refused(st) end
	return settings_form(req, 200, s, nil, req.query.saved and T(req, "beheer.saved") or nil)
end

-- A date field's value as the end of that day in the Netherlands (CET;
-- in summer an hour later).
local function end_of(date)
	if type(date) ~= "string" or not date:match("^%d%d%d%d%-%d%d%-%d%d$") then return date end
	return date .. "T23:59:59+01:00"
end

local function blank(v)
	return v == nil or v:match("^%s*$") ~= nil
end

function M.save_settings(req)
	local no = admin(req)
	if no then return no end
	local f = req.form
	local notices = {}
	for i = 1, 10 do
		local title = f["notice_title_" .. i]
		if not blank(title) then
			notices[#notices + 1] = { title = title, text = f["notice_text_" .. i] or "",
				ends_at = end_of(f["notice_end_" .. i] or "") }
		end
	end
	local contact = {}
	for _, k in ipairs({ "name", "email", "phone", "address", "url" }) do
		local v = f["contact_" .. k]
		if not blank(v) then contact[k] = v end
	end
	local values = { welcome = f.welcome or "", notices = notices, contact = contact,
		default_lang = (f.default_lang == "nl" or f.default_lang == "en") and f.default_lang or nil }
	-- The digest's hour and weekday as numbers; a value that is not a whole
	-- number goes to the API as it is, which refuses it naming the field.
	for _, k in ipairs({ "digest_hour", "digest_weekday" }) do
		if f[k] ~= nil then values[k] = math.tointeger(tonumber(f[k])) or f[k] end
	end
	local st, body = plugin.api.put("/settings", values)
	if st == 200 then return { redirect = "/beheer/instellingen?saved=1" } end
	if st == 422 then
		values.notices = notices
		return settings_form(req, 422, values, field_errors(req, body), T(req, "beheer.not_saved"))
	end
	return refused(st)
end

-- The options' form (POST /beheer/instellingen/opties): each field as its
-- declaration's type, checked by the core against the declaration (PUT
-- /settings/options); a refusal shows the form again with the reason at
-- the option.
function M.save_options(req)
	local no = admin(req)
	if no then return no end
	local options, given = {}, {}
	for _, d in ipairs(plugin.editable_options(req.lang)) do
		local key = "opt." .. d.plugin .. "." .. d.name
		local raw = req.form[key]
		if raw ~= nil then
			given[key] = raw
			local v = raw
			if d.type == "boolean" then
				if raw == "true" then v = true elseif raw == "false" then v = false end
			elseif d.type == "integer" or d.type == "number" then
				local n = tonumber(raw)
				if n and d.type == "integer" then n = math.tointeger(n) or n end
				if n then v = n end
			end
			options[d.plugin] = options[d.plugin] or {}
			options[d.plugin][d.name] = v
		end
	end
	local st, body = plugin.api.put("/settings/options", { options = options })
	if st == 200 then return { redirect = "/beheer/instellingen?saved=1" } end
	if st == 422 then
		local errors = {}
		for name, text in pairs(field_errors(req, body)) do
			errors[(name:gsub("^options%.", "opt."))] = text
		end
		local st2, s = plugin.api.get("/settings")
		if st2 ~= 200 then return refused(st2) end
		return settings_form(req, 422, s, nil, T(req, "beheer.not_saved"), option_fields(req, given, errors))
	end
	return refused(st)
end

-- ---------------------------------------------------------------- content pages

-- A page's slug as the API takes it (lower-case letters, digits and
-- hyphens, at most 60); anything else is no page: a 404 here, not a path
-- that plugin.api would refuse with an error.
local function slug_ok(s)
	return type(s) == "string" and #s <= 60 and s:match("^[a-z0-9][a-z0-9%-]*$") ~= nil
end

function M.show_page(req, params)
	if not slug_ok(params.slug) then return { status = 404 } end
	local st, p = plugin.api.get("/pages/" .. params.slug)
	if st ~= 200 then return refused(st) end
	return { status = 200, shared = req.user == nil, html = plugin.render("beheer/page.html", {
		csrf = req.csrf, user = req.user, page = p, can_edit = req.user and req.user.roles.admin,
	}, req.lang) }
end

function M.pages(req)
	local no = admin(req)
	if no then return no end
	local st, body = plugin.api.get("/pages")
	if st ~= 200 then return refused(st) end
	return page(req, 200, "beheer/pages.html", { pages = body.items,
		deleted = req.query.deleted and true or nil })
end

local function page_form(req, status, slug, p, errors, is_new)
	local fields = {}
	if is_new then
		fields[1] = field(req, "slug", "beheer.page_slug", slug, errors,
			{ max = 60, required = true, hint = "beheer.page_slug_hint" })
	end
	for _, f in ipairs({
		field(req, "title", "beheer.page_title", p.title, errors, { max = 200, required = true }),
		field(req, "body", "beheer.page_body", p.body, errors,
			{ textarea = true, rows = 14, max = 50000, hint = "beheer.hint_markdown" }),
		field(req, "menu_order", "beheer.page_menu", p.menu_order and tostring(math.tointeger(p.menu_order)) or "",
			errors, { type = "number", min = 0, hint = "beheer.page_menu_hint" }),
	}) do fields[#fields + 1] = f end
	return page(req, status, "beheer/page_form.html", {
		slug = slug,
		is_new = is_new,
		fields = fields,
		message = errors and T(req, "beheer.not_saved") or nil,
	})
end

function M.new_page(req)
	local no = admin(req)
	if no then return no end
	return page_form(req, 200, "", {}, nil, true)
end

function M.edit_page(req, params)
	local no = admin(req)
	if no then return no end
	if not slug_ok(params.slug) then return { status = 404 } end
	local st, p = plugin.api.get("/pages/" .. params.slug)
	if st ~= 200 then return refused(st) end
	return page_form(req, 200, params.slug, p, nil, false)
end

local function save_page(req, slug, is_new)
	local f = req.form
	local menu = f.menu_order
	local values = { title = f.title or "", body = f.body or "" }
	if not blank(menu) then
		values.menu_order = (menu:match("^%d%d?$") and math.tointeger(tonumber(menu))) or -1
	end
	if not slug_ok(slug) then
		return page_form(req, 422, slug, values, { slug = T(req, "beheer.error_slug") }, is_new)
	end
	local st, body = plugin.api.put("/pages/" .. slug, values)
	if st == 200 or st == 201 then return { redirect = "/pagina/" .. slug } end
	if st == 422 then return page_form(req, 422, slug, values, field_errors(req, body), is_new) end
	return refused(st)
end

function M.create_page(req)
	local no = admin(req)
	if no then return no end
	return save_page(req, req.form.slug or "", true)
end

function M.update_page(req, params)
	local no = admin(req)
	if no then return no end
	if not slug_ok(params.slug) then return { status = 404 } end
	return save_page(req, params.slug, false)
end

function M.delete_page(req, params)
	local no = admin(req)
	if no then return no end
	if not slug_ok(params.slug) then return { status = 404 } end
	local st = plugin.api.delete("/pages/" .. params.slug)
	if st == 200 then return { redirect = "/beheer/paginas?deleted=1" } end
	return refused(st)
end

-- ---------------------------------------------------------------- accessibility

local STATUSES = { "A", "B", "C", "D", "E" }
local ISSUE_ROWS = 3

-- The public statement (/toegankelijkheid): the municipality's part as
-- its admins filled it in, the platform's own part always.
function M.statement(req)
	local st, s = plugin.api.get("/settings")
	local a = st == 200 and s.accessibility or {}
	return plugin.render("accessibility.html", {
		user = req.user, csrf = req.csrf, a = a, filled = a.status ~= nil,
		status_text = a.status and T(req, "beheer.a11y_status_" .. a.status) or nil,
		issues = a.issues or {},
	}, req.lang)
end

local function a11y_form(req, status, a, errors, message)
	local rows = {}
	local issues = a.issues or {}
	for i = 1, math.max(#issues + 1, ISSUE_ROWS) do
		if i > 30 then break end
		local it = issues[i] or {}
		rows[#rows + 1] = { n = i, fields = {
			field(req, "issue_description_" .. i, "beheer.issue_description", it.description, nil,
				{ textarea = true, rows = 2, max = 1000 }),
			field(req, "issue_fix_" .. i, "beheer.issue_fix", it.fix, nil, { max = 1000 }),
			field(req, "issue_planned_" .. i, "beheer.issue_planned", it.planned, nil, { max = 1000 }),
		} }
	end
	local choices = { { value = "", label = T(req, "beheer.a11y_status_none"), selected = a.status == nil } }
	for _, v in ipairs(STATUSES) do
		choices[#choices + 1] = { value = v, label = T(req, "beheer.a11y_status_" .. v), selected = a.status == v }
	end
	return page(req, status, "beheer/accessibility.html", {
		fields = {
			field(req, "status", "beheer.a11y_status", nil, errors, { choices = choices }),
			field(req, "date", "beheer.a11y_date", a.date, nil, { type = "date" }),
			field(req, "scope", "beheer.a11y_scope", a.scope, nil, { textarea = true, rows = 3, max = 1000,
				hint = "beheer.a11y_scope_hint" }),
			field(req, "contact_email", "beheer.a11y_contact_email", a.contact_email, nil, { type = "email", max = 200 }),
			field(req, "contact_phone", "beheer.a11y_contact_phone", a.contact_phone, nil, { type = "tel", max = 200 }),
			field(req, "evaluation_url", "beheer.a11y_evaluation_url", a.evaluation_url, nil, { type = "url", max = 1000 }),
		},
		issue_rows = rows,
		error = errors and errors.accessibility,
		message = message,
	})
end

function M.accessibility(req)
	local no = admin(req)
	if no then return no end
	local st, s = plugin.api.get("/settings")
	if st ~= 200 then return refused(st) end
	return a11y_form(req, 200, s.accessibility or {}, nil, req.query.saved and T(req, "beheer.saved") or nil)
end

function M.save_accessibility(req)
	local no = admin(req)
	if no then return no end
	local f = req.form
	local a = { issues = {} }
	for _, k in ipairs({ "status", "date", "scope", "contact_email", "contact_phone", "evaluation_url" }) do
		if not blank(f[k]) then a[k] = f[k] end
	end
	for i = 1, 30 do
		local d = f["issue_description_" .. i]
		if not blank(d) then
			a.issues[#a.issues + 1] = { description = d, fix = f["issue_fix_" .. i] or "",
				planned = f["issue_planned_" .. i] or "" }
		end
	end
	local st, body = plugin.api.put("/settings", { accessibility = a })
	if st == 200 then return { redirect = "/beheer/toegankelijkheid?saved=1" } end
	if st == 422 then return a11y_form(req, 422, a, field_errors(req, body), T(req, "beheer.not_saved")) end
	return refused(st)
end

-- ---------------------------------------------------------------- bundle versions

-- "12.3 KB" for a number of bytes.
local function size(n)
	n = tonumber(n) or 0
	if n < 1024 then return string.format("%d B", math.tointeger(n) or 0) end
	if n < 1024 * 1024 then return string.format("%.1f KB", n / 1024) end
	return string.format("%.1f MB", n / 1024 / 1024)
end

-- The versions of the municipality's bundle, who published each and when,
-- with a button to make an older one current again (POST /bundle/rollback,
-- the rollback of `aantafel tenant rollback`).
-- The page with its upload form; STATUS and REFUSAL (the 422 answer's
-- error: message and problems with file and line) after a refused upload.
local function bundle_page(req, status, refusal)
	local st, body = plugin.api.get("/bundle/versions")
	if st ~= 200 then return refused(st) end
	local function num(q) return type(q) == "string" and q:match("^[1-9]%d?%d?%d?%d?%d?$") or nil end
	local done, uploaded, draft = num(req.query.done), num(req.query.uploaded), num(req.query.draft)
	local published, deleted = num(req.query.published), num(req.query.deleted)
	local cur = math.tointeger(body.current) or 0
	local items = {}
	for _, v in ipairs(body.items) do
		local n = math.tointeger(v.version)
		items[#items + 1] = {
			version = n, current = v.current, nfiles = math.tointeger(v.nfiles),
			size = size(v.total_bytes), when = v.created_at:sub(1, 10) .. " " .. v.created_at:sub(12, 16) .. " UTC",
			by = v.published_by == "provider" and T(req, "beheer.by_provider") or v.published_by,
			label = T(req, "beheer.rollback_to", { version = n }),
			draft = v.draft == true,
			publish_label = T(req, "beheer.publish_version", { version = n }),
			preview_label = T(req, "beheer.preview_version", { version = n }),
			delete_label = T(req, "beheer.delete_version", { version = n }),
		}
	end
	local message
	if done then message = T(req, "beheer.rolled_back", { version = done })
	elseif uploaded then message = T(req, "beheer.uploaded", { version = uploaded })
	elseif draft then message = T(req, "beheer.uploaded_draft", { version = draft })
	elseif published then message = T(req, "beheer.published_draft", { version = published })
	elseif deleted then message = T(req, "beheer.deleted_draft", { version = deleted }) end
	local problems
	if refusal then
		problems = {}
		for _, p in ipairs(refusal.problems or {}) do
			problems[#problems + 1] = { file = p.file, line = p.line and math.tointeger(p.line) or nil,
				message = p.message }
		end
	end
	-- The check's problems say what is wrong (in English, as `aantafel
	-- check` says it); the page says that nothing changed in the visitor's
	-- language. A refused archive (a link, a size) has its reason alone.
	local why
	if refusal then
		why = #problems > 0 and T(req, "beheer.upload_invalid") or (refusal.message or "")
	end
	return page(req, status, "beheer/bundle.html", { versions = items, message = message,
		refusal = why, problems = problems })
end

function M.bundle(req)
	local no = admin(req)
	if no then return no end
	return bundle_page(req, 200)
end

-- A bundle uploaded with the page's form (multipart/form-data, field
-- "bundle"): the daemon reads the file from the request and checks it as
-- `aantafel check` does; "draft" stores it without making it current.
function M.upload(req)
	local no = admin(req)
	if no then return no end
	local draft = req.form.draft == "1"
	local st, body = plugin.api.post("/bundle", { draft = draft and "1" or nil })
	if st == 201 then
		local v = math.tointeger(body.version)
		return { redirect = "/beheer/bundel?" .. (draft and "draft=" or "uploaded=") .. v }
	end
	if st == 422 or st == 400 then return bundle_page(req, 422, body.error or {}) end
	if st == 413 and body.error and body.error.code == "over_quota" then
		return bundle_page(req, 413, { message = T(req, "beheer.over_quota",
			{ size = size(body.error.size), quota = size(body.error.quota), used = size(body.error.used) }) })
	end
	return refused(st)
end

-- The version of a form's "version" field, or nil.
local function form_version(req)
	local v = req.form.version
	if type(v) ~= "string" or not v:match("^[1-9]%d?%d?%d?%d?%d?$") then return nil end
	return v
end

-- A draft's preview: a link valid for an hour, for this admin's session
-- only; opening it (the redirect) sets the preview's cookie, and the
-- site's pages are then the draft's, with a banner, until it is stopped
-- (core/lua/runtime_preview.c).
function M.preview(req)
	local no = admin(req)
	if no then return no end
	local v = form_version(req)
	if not v then return { status = 404 } end
	local st, body = plugin.api.post("/bundle/versions/" .. v .. "/preview", {})
	if st == 201 then return { redirect = body.path .. body.token } end
	if st == 409 then return { redirect = "/beheer/bundel" } end      -- published meanwhile: the list says so
	return refused(st)
end

-- A draft published: current on every daemon, recorded with who and when.
function M.publish(req)
	local no = admin(req)
	if no then return no end
	local v = form_version(req)
	if not v then return { status = 404 } end
	local st = plugin.api.post("/bundle/versions/" .. v .. "/publish", {})
	if st == 200 then return { redirect = "/beheer/bundel?published=" .. v } end
	if st == 409 then return { redirect = "/beheer/bundel" } end      -- published meanwhile: the list says so
	return refused(st)
end

-- A draft deleted: its files go, its preview links stop working and its
-- bytes no longer count against the bundle quota; its number is not given
-- again.
function M.delete_draft(req)
	local no = admin(req)
	if no then return no end
	local v = form_version(req)
	if not v then return { status = 404 } end
	local st = plugin.api.delete("/bundle/versions/" .. v, {})
	if st == 200 then return { redirect = "/beheer/bundel?deleted=" .. v } end
	if st == 409 or st == 404 then return { redirect = "/beheer/bundel" } end   -- published or deleted meanwhile
	return refused(st)
end

function M.rollback(req)
	local no = admin(req)
	if no then return no end
	local v = req.form.version
	if type(v) ~= "string" or not v:match("^[1-9]%d?%d?%d?%d?%d?$") then return { status = 404 } end
	local st = plugin.api.post("/bundle/rollback", { version = math.tointeger(tonumber(v)) })
	if st == 200 then return { redirect = "/beheer/bundel?done=" .. v } end
	return refused(st)
end

return M
