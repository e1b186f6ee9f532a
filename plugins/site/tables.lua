-- The pages of the local tables: the list, a table with its groups and
-- its conversation, a group, a contribution's thread, the moderation
-- queue, the table's people and invitations, search and the Atom feed.
-- Every read and change goes through plugin.api: the core decides who may
-- see and do what, and these pages only show its answers. What the core
-- answers 404 (not there, or not for this person) is a 404 page here too.
-- Loaded on first use (plugin.module), so a tenant whose tables nobody
-- opens does not keep this code in memory.

local M = {}

local function T(req, key, vars)
	return plugin.t(key, vars, req.lang)
end

-- A timestamp of the API as "29 november 2026, 14:05" (the database's
-- time zone; the API's timestamps carry their offset).
local function when(req, ts)
	if type(ts) ~= "string" then return nil end
	-- "YYYY-MM-DDTHH:MM…", read by position (patterns cost more here).
	local y, mo, d = tonumber(ts:sub(1, 4)), tonumber(ts:sub(6, 7)), tonumber(ts:sub(9, 10))
	if not (y and mo and d) or ts:sub(11, 11) ~= "T" or mo < 1 or mo > 12 then return ts end
	return T(req, "tables.when", {
		day = math.tointeger(d), month = T(req, "tables.month_" .. math.tointeger(mo)),
		year = math.tointeger(y), time = ts:sub(12, 16),
	})
end

-- SHARED: the page is made of the API's reads and the request's path,
-- query and language alone, so that for guests the core may keep it and
-- give it to the next guest until the tenant's data changes.
local function page(req, status, template, view, shared)
	view.csrf = req.csrf
	view.user = req.user
	return { status = status, html = plugin.render(template, view, req.lang), shared = shared and req.user == nil }
end

local refused, id_of = forms().refused, forms().id_of

-- The API's field errors as translated messages (the API's own English
-- message when there is no translation for its code).
local function field_errors(req, body)
	local out = {}
	local fields = type(body) == "table" and body.error and body.error.fields or {}
	for name, f in pairs(fields) do
		local key = "tables.error_" .. tostring(f.code)
		local text = T(req, key)
		out[name] = text ~= key and text or f.message
	end
	return out
end

local function field(...) return forms().field(...) end
local function choices(...) return forms().choices(...) end

local function author(req, c)
	local a = c.author or {}
	if a.kind == "former" then return T(req, "tables.former") end
	if a.kind == "table" and a.name == "deelnemer aan tafel" then return T(req, "tables.at_table") end
	return a.name
end

-- A contribution for the templates; SINCE marks what came after a visit.
local function contribution(req, c, since)
	return {
		id = c.id,
		url = "/bijdragen/" .. c.id,
		author = author(req, c),
		table_mode = c.author and c.author.kind == "table",
		body_html = c.body_html,
		hidden = c.hidden,
		hidden_reason = c.hidden_reason,
		when = when(req, c.created_at),
		at = c.created_at,
		edited = c.edited_at and when(req, c.edited_at),
		replies = (c.replies or 0) > 0 and c.replies or nil,
		is_new = since ~= nil and type(c.created_at) == "string" and c.created_at > since and not c.mine,
		can_edit = c.can_edit,
		mine = c.mine,
	}
end

local by_id = forms().by_id

------------------------------------------------------------------ steps, as residents see them

-- A declared name in the request's language: the title the definitions
-- carry ({nl =, en =}, translated when the tenant's state was built),
-- else the translation of its key.
local function declared_name(req, d)
	local title = type(d.title) == "table" and d.title[req.lang]
	if type(title) == "string" and title ~= "" then return title end
	return T(req, d.name or d.id or "")
end

-- Where a table's workflow stands, for lists: the active step's name, or
-- "afgerond" once none is active; nil for a table without a workflow.
local function progress(req, t)
	local w = t.workflow
	if type(w) ~= "table" then return nil end
	if type(w.step) == "table" then return declared_name(req, w.step) end
	return T(req, "progress.finished")
end

local function table_view(req, t)
	return {
		step = progress(req, t),
		id = t.id,
		url = "/tafels/" .. t.id,
		title = t.title,
		question = t.question,
		description_html = t.description_html,
		closed = t.visibility == "closed",
		status = t.status,
		status_label = T(req, "tables.status_" .. t.status),
		open = t.status == "open",
		my_role = t.my_role,
		role_label = t.my_role and T(req, "tables.role_" .. t.my_role),
		facilitator = t.my_role == "facilitator",
		member = t.my_role ~= nil,
		contributions = t.contributions,
	}
end

------------------------------------------------------------------ lists

-- For the home page: the public tables and, signed in, the person's own.
function M.home_lists(req)
	-- One round trip: the tables anyone may read and, signed in, one's own.
	local calls = { { "GET", "/tables", { limit = 50 } } }
	if req.user then calls[2] = { "GET", "/tables", { filter = "mine", limit = 50 } } end
	local r = plugin.api.batch(calls)
	local function views(a)
		local out = {}
		for _, t in ipairs(a and a.status == 200 and a.body.items or {}) do out[#out + 1] = table_view(req, t) end
		return out
	end
	local roles = req.user and req.user.roles or {}
	return { tables = views(r[1]), mine = req.user and views(r[2]) or nil, can_open = roles.admin or roles.facilitator }
end

-- Admin: every table of the municipality, by status (the core shows an
-- admin the closed ones too), with the way to open a new one.
function M.admin(req)
	if not req.user then return { redirect = "/inloggen" } end
	if not req.user.roles.admin then return { status = 403 } end
	local status = req.query.status
	if status ~= "closed" and status ~= "archived" then status = "open" end
	local st, body = plugin.api.get("/tables", { status = status, limit = 100, cursor = req.query.na })
	if st ~= 200 then return refused(st) end
	local list = {}
	for _, t in ipairs(body.items) do list[#list + 1] = table_view(req, t) end
	local tabs = {}
	for _, s in ipairs({ "open", "closed", "archived" }) do
		tabs[#tabs + 1] = { url = "/beheer/tafels?status=" .. s, label = T(req, "tables.status_" .. s), current = s == status }
	end
	return page(req, 200, "admin_tables.html", {
		tables = list, tabs = tabs,
		more = body.next_cursor and ("/beheer/tafels?status=" .. status .. "&na=" .. body.next_cursor),
	})
end

function M.search(req)
	local q = req.query.q or ""
	local view = { q = q, searched = q ~= "" }
	if q ~= "" then
		local st, body = plugin.api.get("/search", { q = q, limit = 50 })
		if st == 200 then
			view.tables = {}
			for _, t in ipairs(body.tables) do
				view.tables[#view.tables + 1] = { url = "/tafels/" .. t.id, title = t.title, question = t.question }
			end
			view.contributions = {}
			for _, c in ipairs(body.contributions) do
				view.contributions[#view.contributions + 1] = {
					url = "/bijdragen/" .. c.id, table_title = c.table_title, snippet = c.snippet,
				}
			end
			-- What a table's steps keep (GET /search decides who reads which).
			view.records = {}
			for _, r in ipairs(body.records or {}) do
				view.records[#view.records + 1] = {
					url = "/vastleggingen/" .. r.id, table_title = r.table_title,
					step_title = declared_name(req, { title = r.step_title, id = r.step_id }), snippet = r.snippet,
				}
			end
			view.none = #view.tables == 0 and #view.contributions == 0 and #view.records == 0
		else
			view.error = field_errors(req, body).q or T(req, "tables.search_invalid")
		end
	end
	return page(req, view.error and 422 or 200, "tables/search.html", view, true)
end

------------------------------------------------------------------ a table

local function table_form(req, status, values, errors, edit)
	values = values or {}
	local fields = {
		field(req, "title", "tables.field_title", values.title, errors, { required = true, max = 200 }),
		field(req, "question", "tables.field_question", values.question, errors,
			{ required = true, max = 500, hint = "tables.hint_question" }),
		field(req, "description", "tables.field_description", values.description, errors,
			{ textarea = true, rows = 8, max = 20000, hint = "tables.hint_markdown" }),
		field(req, "visibility", "tables.field_visibility", nil, errors, {
			choices = choices(req, "tables.visibility_", { "public", "closed" }, values.visibility or "public"),
		}),
	}
	if edit then
		fields[#fields + 1] = field(req, "status", "tables.field_status", nil, errors, {
			choices = choices(req, "tables.status_", { "open", "closed", "archived" }, values.status),
		})
	else
		-- The municipality's workflows (GET /workflows, as declared now),
		-- its default chosen unless another was.
		local st, body = plugin.api.get("/workflows")
		local list = st == 200 and body.items or {}
		if #list > 0 then
			local chosen = values.workflow or body.default
			local options = {}
			for i, w in ipairs(list) do
				options[i] = { value = w.id, label = declared_name(req, w), selected = w.id == chosen }
			end
			fields[#fields + 1] = field(req, "workflow", "progress.field_workflow", nil, errors,
				{ choices = options, hint = "progress.hint_workflow" })
		end
	end
	return page(req, status, "tables/form.html", {
		fields = fields,
		edit = edit,
		action = edit and ("/tafels/" .. edit .. "/bewerken") or "/tafels/nieuw",
		has_errors = errors and next(errors) ~= nil,
		back = edit and ("/tafels/" .. edit) or "/",
	})
end

function M.new_form(req)
	if not req.user then return { redirect = "/inloggen" } end
	local roles = req.user.roles
	if not (roles.admin or roles.facilitator) then return { status = 403 } end
	return table_form(req, 200, {})
end

function M.create(req)
	local f = req.form
	local values = { title = f.title, question = f.question, description = f.description, visibility = f.visibility,
		workflow = f.workflow ~= "" and f.workflow or nil }
	local st, body = plugin.api.post("/tables", values)
	if st == 201 then return { redirect = "/tafels/" .. body.id } end
	if st == 422 then return table_form(req, 422, values, field_errors(req, body)) end
	return refused(st)
end

M.edit_form = by_id(function(req, id, p)
	local st, t = plugin.api.get("/tables/" .. id)
	if st ~= 200 then return refused(st) end
	-- A public table reads for guests too, so the API's answer alone
	-- would make this a 403 for them; like the other management pages,
	-- a guest is asked to sign in first.
	if not req.user then return { redirect = "/inloggen" } end
	if t.my_role ~= "facilitator" then return { status = 403 } end
	return table_form(req, 200, t, nil, id)
end)

M.update = by_id(function(req, id, p)
	local f = req.form
	local values = { title = f.title, question = f.question, description = f.description, visibility = f.visibility,
		status = f.status }
	local st, body = plugin.api.patch("/tables/" .. id, values)
	if st == 200 then return { redirect = "/tafels/" .. id } end
	if st == 422 then return table_form(req, 422, values, field_errors(req, body), id) end
	return refused(st)
end)

-- The contribution form of a place ("/tafels/ID" or "/groepen/ID").
local function post_form(req, action, errors, value, facilitator, label)
	return {
		action = action,
		fields = { field(req, "body", label or "tables.field_contribution", value, errors,
			{ textarea = true, rows = 5, max = 10000, required = true, hint = "tables.hint_markdown" }) },
		behalf = facilitator,
		behalf_fields = facilitator and { field(req, "behalf_name", "tables.field_behalf", nil, errors,
			{ max = 100, hint = "tables.hint_behalf" }) },
		refused = errors and errors.form,
	}
end

-- A page of contributions from the API's answer ST, BODY, marking what
-- came after SINCE.
local function contributions_from(req, st, body, since)
	if st ~= 200 then return nil, st end
	local list, new = {}, 0
	for _, c in ipairs(body.items) do
		local v = contribution(req, c, since)
		if v.is_new then new = new + 1 end
		list[#list + 1] = v
	end
	return list, nil, new, body.next_cursor
end

local function contributions_of(req, path, since, cursor)
	local st, body = plugin.api.get(path, { limit = 100, cursor = cursor })
	return contributions_from(req, st, body, since)
end

-- Steps' states the indicator knows (anything else shows as pending).
local STEP_STATES = { pending = true, active = true, done = true, skipped = true }

-- The step indicator: each step's name and state in words, the active
-- one marked; for the facilitators and the client each step links to its
-- page (steps.lua). Nil for a table without a workflow (opened before
-- workflows existed).
local function steps_view(req, id, t, body)
	if type(body.workflow) ~= "table" or type(body.steps) ~= "table" or #body.steps == 0 then return nil end
	local manage = t.my_role == "facilitator" or t.my_role == "client"
	local base = "/tafels/" .. id .. "/stappen"
	local list, current = {}, nil
	for i, s in ipairs(body.steps) do
		local state = STEP_STATES[s.state] and s.state or "pending"
		list[i] = {
			name = declared_name(req, s), state = state, state_label = T(req, "progress.state_" .. state),
			active = state == "active", url = manage and (base .. "/" .. s.id) or nil,
		}
		if state == "active" then current = list[i] end
	end
	return {
		workflow = declared_name(req, body.workflow),
		list = list,
		count = #list,
		current = current and current.name,
		finished = current == nil,
		overview = manage and base or nil,
	}
end

-- A label by the convention of docs/plugins.md: KEY ("<step type's
-- name>.<kind>[.<field>[.<choice>]]") translated, else NAME as words.
local function declared_label(req, key, name)
	local text = T(req, key)
	if text ~= key then return text end
	local words = tostring(name):gsub("_", " ")
	return words:sub(1, 1):upper() .. words:sub(2)
end

-- An amount in euro cents as "€ 1.250,00" (nl) or "€1,250.00" (en).
local function euros(req, n)
	n = math.tointeger(n)
	if not n then return nil end
	local neg = n < 0
	if neg then n = -n end
	local whole, rest = tostring(n // 100), string.format("%02d", n % 100)
	local sep, dec = ".", ","
	if req.lang == "en" then sep, dec = ",", "." end
	local grouped = whole:reverse():gsub("(%d%d%d)", "%1" .. sep):reverse()
	if grouped:sub(1, 1) == sep then grouped = grouped:sub(2) end
	local text = grouped .. dec .. rest
	if req.lang == "en" then return (neg and "-" or "") .. "€" .. text end
	return "€ " .. (neg and "-" or "") .. text
end

-- A date "YYYY-MM-DD" as "3 maart 2026".
local function day(req, s)
	local y, m, d = s:match("^(%d%d%d%d)-(%d%d)-(%d%d)$")
	if not y or tonumber(m) < 1 or tonumber(m) > 12 then return s end
	local month = T(req, "tables.month_" .. math.tointeger(tonumber(m)))
	return T(req, "progress.date", { day = math.tointeger(tonumber(d)), month = month, year = y })
end

-- One field of a record for the page: {label, text} or {label, html}
-- (a Markdown field as the core rendered it); nil for what residents
-- need not read (a person's or another record's id) or an empty value.
local function field_value(req, key, name, decl, v, html)
	local ty = decl.type
	if v == nil or ty == "person" or ty == "ref" then return nil end
	local out = { label = declared_label(req, key .. "." .. name, name) }
	if ty == "markdown" then
		if html ~= nil and plugin.is_html(html) then out.html = html else out.text = tostring(v); out.plain = true end
	elseif ty == "choice" then
		out.text = declared_label(req, key .. "." .. name .. "." .. tostring(v), v)
	elseif ty == "choices" and type(v) == "table" then
		local words = {}
		for i, c in ipairs(v) do words[i] = declared_label(req, key .. "." .. name .. "." .. tostring(c), c) end
		out.text = table.concat(words, ", ")
	elseif ty == "date" and type(v) == "string" then
		out.text = day(req, v)
	elseif ty == "datetime" and type(v) == "string" then
		out.text = when(req, v)
	elseif ty == "cents" then
		out.text = euros(req, v)
	elseif ty == "bool" then
		out.text = T(req, v == true and "progress.yes" or "progress.no")
	else
		out.text = tostring(v)
	end
	if out.text == nil and out.html == nil then return nil end
	return out
end

-- The declared fields of a kind in the order a page shows them: the
-- required ones first, then by name (a declaration is a Lua table, which
-- has no order).
local function field_order(fields)
	local names = {}
	for name in pairs(fields) do names[#names + 1] = name end
	table.sort(names, function(a, b)
		local ra, rb = fields[a].required == true, fields[b].required == true
		if ra ~= rb then return ra end
		return a < b
	end)
	return names
end

-- The public results of finished steps: RECORDS (the API's, already only
-- of kinds for "readers" in steps that are done) by step, in the
-- workflow's order, each rendered from its kind's declaration.
local function results_view(req, steps, records)
	local by_step = {}
	for _, r in ipairs(records or {}) do
		local list = by_step[r.step_id] or {}
		list[#list + 1] = r
		by_step[r.step_id] = list
	end
	local out = {}
	for _, s in ipairs(steps.steps or {}) do
		local list = by_step[s.id]
		if list and s.state == "done" then
			local section = { name = declared_name(req, s), records = {} }
			for _, r in ipairs(list) do
				local kind = type(s.records) == "table" and s.records[r.kind]
				if type(kind) == "table" and type(kind.fields) == "table" then
					local key = tostring(s.name) .. "." .. r.kind
					local html = type(r.fields_html) == "table" and r.fields_html or {}
					local fields = {}
					for _, name in ipairs(field_order(kind.fields)) do
						local f = field_value(req, key, name, kind.fields[name], r.fields[name], html[name])
						if f then fields[#fields + 1] = f end
					end
					section.records[#section.records + 1] = {
						id = r.id, kind = declared_label(req, key, r.kind), fields = fields, when = when(req, r.updated_at),
					}
				end
			end
			if #section.records > 0 then out[#out + 1] = section end
		end
	end
	return #out > 0 and out or nil
end

local function show_table(req, id, status, errors, value)
	-- One round trip: the table, its conversation, its groups and, signed
	-- in, the visit (last: the reads before it see the previous mark).
	local base = "/tables/" .. id
	local calls = {
		{ "GET", base },
		{ "GET", base .. "/contributions", { limit = 100, cursor = req.query.na } },
		{ "GET", base .. "/groups" },
		{ "GET", base .. "/steps" },
		{ "GET", base .. "/records", { visible = "readers", step_state = "done", limit = 100 } },
	}
	-- The table's decisions (decisions.lua shows them).
	calls[6] = { "GET", base .. "/decisions", { limit = 50 } }
	calls[7] = { "GET", base .. "/meetings", { limit = 100 } }
	if req.user then calls[8] = { "POST", base .. "/visit" } end
	local r = plugin.api.batch(calls)
	local st, t = r[1].status, r[1].body
	if st ~= 200 then return refused(st) end
	-- What is new is what came after the previous visit; this visit
	-- counts from now on.
	local since = t.last_visit_at
	local list, err, new, more = contributions_from(req, r[2].status, r[2].body, since)
	if not list then return refused(err) end
	local gst, groups = r[3].status, r[3].body
	local glist = {}
	for _, g in ipairs(gst == 200 and groups.items or {}) do
		glist[#glist + 1] = {
			url = "/groepen/" .. g.id, name = g.name, purpose = g.purpose, closed = g.visibility == "closed",
			members = g.members, status = g.my_status and T(req, "tables.group_status_" .. g.my_status),
		}
	end
	local view = table_view(req, t)
	view.contributions = list
	-- nil rather than 0: the template's "if new" takes 0 for true (Lua),
	-- and would say "0 new since" instead of "nothing new since".
	view.new = new > 0 and new or nil
	view.since = since and when(req, since)
	view.more = more and ("/tafels/" .. id .. "?na=" .. more)
	view.groups = glist
	view.can_post = view.member and view.open
	view.can_join = req.user and not view.member and t.status ~= "archived"
	view.feed = not view.closed and ("/tafels/" .. id .. "/feed.atom")
	-- A public table's open data, for everyone; the exports for its
	-- facilitators (docs/api.md, "Exports": the API decides who may).
	view.open_data = not view.closed and ("/api/v1" .. base .. "/open-data")
	view.exports = view.facilitator and ("/api/v1" .. base .. "/export")
	view.form = post_form(req, "/tafels/" .. id .. "/bijdragen", errors, value, view.facilitator)
	view.signin = not req.user
	local steps = r[4].status == 200 and r[4].body or nil
	view.steps = steps and steps_view(req, id, t, steps)
	view.results = steps and r[5].status == 200 and results_view(req, steps, r[5].body.items) or nil
	-- The decisions, open and closed, with the step each belongs to.
	if r[6].status == 200 then
		view.decisions = decisions().list_view(req, id, r[6].body, steps, view.facilitator)
	end
	-- The meetings to come (meetings.lua).
	if r[7].status == 200 then
		view.meetings = meetings().list_view(req, id, r[7].body, view.facilitator)
	end
	-- Following the table (notifications.lua): the person's choice, or
	-- for guests the sign-in line.
	view.follow = notifications().place_view(req, "table", id)
	return page(req, status or 200, "tables/table.html", view, true)
end

M.show = by_id(function(req, id, p)
	return show_table(req, id)
end)

M.join = by_id(function(req, id, p)
	local st = plugin.api.post("/tables/" .. id .. "/join")
	if st ~= 200 then return refused(st) end
	return { redirect = "/tafels/" .. id }
end)

M.leave = by_id(function(req, id, p)
	local st = plugin.api.post("/tables/" .. id .. "/leave")
	if st == 409 then return show_table(req, id, 409, { form = T(req, "tables.last_facilitator") }) end
	if st ~= 200 then return refused(st) end
	return { redirect = "/tafels/" .. id }
end)

-- Posting in a place; on_behalf when a facilitator records for someone
-- at the table (table mode: the "behalf" box).
local function post(req, path, args)
	local f = req.form
	args.body = f.body
	if f.behalf == "1" then
		args.on_behalf = { name = f.behalf_name ~= "" and f.behalf_name or nil }
	end
	if f.parent then args.parent_id = id_of(f.parent) end
	return plugin.api.post(path, args)
end

local function post_errors(req, st, body)
	local errors = field_errors(req, body)
	-- The forms have no field for the parent (it is in the path), so an
	-- error about it (a reply to a reply) is shown above the form.
	if errors.parent_id and not errors.form then errors.form = errors.parent_id end
	-- The API's on_behalf is the form's behalf_name field.
	if errors.on_behalf then errors.behalf_name = errors.on_behalf end
	if body and body.error and body.error.code == "refused" then
		errors.form = body.error.message
	elseif st == 409 then
		errors.form = T(req, "tables.not_open")
	end
	return errors
end

M.contribute = by_id(function(req, id, p)
	local st, body = post(req, "/tables/" .. id .. "/contributions", {})
	if st == 201 then return { redirect = "/tafels/" .. id .. "#bijdrage-" .. body.id } end
	if st == 422 or st == 409 then return show_table(req, id, st, post_errors(req, st, body), req.form.body) end
	return refused(st)
end)

------------------------------------------------------------------ groups

local function show_group(req, id, status, errors, value, message)
	local st, g = plugin.api.get("/groups/" .. id)
	if st ~= 200 then return refused(st) end
	local view = {
		id = g.id, name = g.name, purpose = g.purpose, closed = g.visibility == "closed", members = g.members,
		members_label = T(req, g.members == 1 and "tables.member_one" or "tables.members"),
		can_read = g.can_read, table = g.table, table_url = "/tafels/" .. g.table.id,
		my_status = g.my_status, member = g.my_status == "member" or g.my_status == "manage",
		requested = g.my_status == "requested", manage = g.my_status == "manage", joined = g.my_status == "member",
		open = g.table.status == "open",
	}
	if g.can_read then
		local list, err, _, more = contributions_of(req, "/groups/" .. id .. "/contributions", nil, req.query.na)
		if not list then return refused(err) end
		view.contributions = list
		view.more = more and ("/groepen/" .. id .. "?na=" .. more)
	end
	view.can_post = (view.member or view.manage) and view.open
	view.can_join = req.user and not view.member and not view.requested and not view.manage
		and g.table.status ~= "archived"
	if view.manage then
		local rst, reqs = plugin.api.get("/groups/" .. id .. "/requests")
		if rst == 200 then
			view.requests = {}
			for _, r in ipairs(reqs.items) do
				view.requests[#view.requests + 1] = { id = r.id, name = r.account.name, message = r.message,
					when = when(req, r.created_at) }
			end
		end
	end
	view.form = post_form(req, "/groepen/" .. id .. "/bijdragen", errors, value, view.manage)
	-- Following the group: only what the person may read (a closed
	-- group's members).
	if g.can_read then view.follow = notifications().place_view(req, "group", id) end
	view.errors = errors
	view.message = message           -- a refused request keeps what was typed
	view.signin = not req.user
	return page(req, status or 200, "tables/group.html", view, true)
end

M.group = by_id(function(req, id, p)
	return show_group(req, id)
end)

M.group_join = by_id(function(req, id, p)
	local st, body = plugin.api.post("/groups/" .. id .. "/join", { message = req.form.message })
	if st == 422 then return show_group(req, id, 422, field_errors(req, body), nil, req.form.message) end
	if st ~= 200 and st ~= 202 then return refused(st) end
	return { redirect = "/groepen/" .. id }
end)

M.group_leave = by_id(function(req, id, p)
	local st = plugin.api.post("/groups/" .. id .. "/leave")
	if st ~= 200 then return refused(st) end
	return { redirect = "/groepen/" .. id }
end)

function M.group_decide(req, p)
	local id, rid = id_of(p.id), id_of(p.request)
	if not id or not rid then return { status = 404 } end
	local decision = req.form.decision
	if decision ~= "approve" and decision ~= "decline" then
		return { status = 422, text = T(req, "tables.bad_decision") }
	end
	local st = plugin.api.post("/groups/" .. id .. "/requests/" .. rid, { decision = decision })
	if st ~= 200 then return refused(st) end
	return { redirect = "/groepen/" .. id }
end

M.group_contribute = by_id(function(req, id, p)
	local st, body = post(req, "/groups/" .. id .. "/contributions", {})
	if st == 201 then return { redirect = "/groepen/" .. id .. "#bijdrage-" .. body.id } end
	if st == 422 or st == 409 then return show_group(req, id, st, post_errors(req, st, body), req.form.body) end
	return refused(st)
end)

M.group_create = by_id(function(req, id, p)
	local f = req.form
	local st, body = plugin.api.post("/tables/" .. id .. "/groups",
		{ name = f.name, purpose = f.purpose, visibility = f.visibility })
	if st == 201 then return { redirect = "/groepen/" .. body.id } end
	if st == 422 then return M.people_page(req, id, 422, field_errors(req, body), f) end
	return refused(st)
end)

------------------------------------------------------------------ a thread

local function show_thread(req, id, status, errors, value)
	local st, c = plugin.api.get("/contributions/" .. id)
	if st ~= 200 then return refused(st) end
	local tst, t = plugin.api.get("/tables/" .. c.table_id)
	if tst ~= 200 then return refused(tst) end
	local view = contribution(req, c)
	view.body = c.body
	view.thread = {}
	for _, r in ipairs(c.thread) do view.thread[#view.thread + 1] = contribution(req, r) end
	view.edits = {}
	for _, e in ipairs(c.edits or {}) do view.edits[#view.edits + 1] = { body = e.body, when = when(req, e.replaced_at) } end
	view.table = table_view(req, t)
	view.back = c.group_id and ("/groepen/" .. c.group_id) or ("/tafels/" .. c.table_id)
	view.facilitator = t.my_role == "facilitator"
	-- A refused reply shows its form again with the reason (and the text
	-- typed), even where no reply form is offered (on a reply, or when
	-- the table closed meanwhile): otherwise the refusal would be silent.
	view.can_reply = (c.parent_id == nil and t.status == "open" and req.user ~= nil)
		or (errors ~= nil and errors.reply ~= nil)
	view.reply_forms = { post_form(req, "/bijdragen/" .. id .. "/reactie", errors and errors.reply, value, nil,
		"tables.field_reply") }
	view.errors = errors or {}
	view.signin = not req.user
	-- Likewise a refused edit (the 15 minutes passed meanwhile) keeps its
	-- form, with the reason next to the field.
	view.edit_field = (view.can_edit or (errors ~= nil and errors.edit ~= nil))
		and field(req, "body", "tables.field_edit", c.body, errors and errors.edit,
			{ textarea = true, rows = 5, max = 10000, required = true })
	view.report_field = req.user and field(req, "reason", "tables.field_report", nil, errors and errors.report,
		{ textarea = true, rows = 3, max = 1000, required = true })
	view.hide_field = view.facilitator and not c.hidden and field(req, "reason", "tables.field_hide", nil,
		errors and errors.hide, { max = 1000, required = true })
	if view.hide_field then view.hide_field.id = "f-hide-reason" end
	-- The partial takes lists (one field each here).
	view.edit_fields = view.edit_field and { view.edit_field }
	view.hide_fields = view.hide_field and { view.hide_field }
	view.report_fields = view.report_field and { view.report_field }
	view.reported = req.query.gemeld == "1"
	return page(req, status or 200, "tables/thread.html", view, true)
end

M.thread = by_id(function(req, id, p)
	return show_thread(req, id)
end)

M.reply = by_id(function(req, id, p)
	local st, c = plugin.api.get("/contributions/" .. id)
	if st ~= 200 then return refused(st) end
	local path = c.group_id and ("/groups/" .. c.group_id .. "/contributions")
		or ("/tables/" .. c.table_id .. "/contributions")
	local pst, body = post(req, path, { parent_id = id })
	if pst == 201 then return { redirect = "/bijdragen/" .. id .. "#bijdrage-" .. body.id } end
	if pst == 422 or pst == 409 then
		return show_thread(req, id, pst, { reply = post_errors(req, pst, body) }, req.form.body)
	end
	return refused(pst)
end)

M.edit = by_id(function(req, id, p)
	local st, body = plugin.api.patch("/contributions/" .. id, { body = req.form.body })
	if st == 200 then return { redirect = "/bijdragen/" .. id } end
	if st == 422 then return show_thread(req, id, 422, { edit = field_errors(req, body) }) end
	if st == 409 then return show_thread(req, id, 409, { edit = { body = T(req, "tables.edit_window") } }) end
	return refused(st)
end)

M.hide = by_id(function(req, id, p)
	local st, body = plugin.api.post("/contributions/" .. id .. "/hide", { reason = req.form.reason })
	if st == 200 then return { redirect = "/bijdragen/" .. id } end
	if st == 422 then return show_thread(req, id, 422, { hide = field_errors(req, body) }) end
	return refused(st)
end)

M.report = by_id(function(req, id, p)
	local st, body = plugin.api.post("/contributions/" .. id .. "/reports", { reason = req.form.reason })
	if st == 201 then return { redirect = "/bijdragen/" .. id .. "?gemeld=1" } end
	if st == 422 then return show_thread(req, id, 422, { report = field_errors(req, body) }) end
	if st == 429 then return { status = 429, text = T(req, "tables.too_many_reports") } end
	return refused(st)
end)

------------------------------------------------------------------ moderation

M.moderation = by_id(function(req, id, p)
	local st, t = plugin.api.get("/tables/" .. id)
	if st ~= 200 then return refused(st) end
	local rst, reports = plugin.api.get("/tables/" .. id .. "/reports")
	if rst ~= 200 then return refused(rst) end
	local list = {}
	for _, r in ipairs(reports.items) do
		list[#list + 1] = {
			id = r.id, reason = r.reason, reporter = r.reporter.name, when = when(req, r.created_at),
			contributions = { contribution(req, r.contribution) },
		}
	end
	return page(req, 200, "tables/moderation.html", { table = table_view(req, t), reports = list })
end)

M.handle_report = by_id(function(req, id, p)
	local action = req.form.action
	local st, body = plugin.api.post("/reports/" .. id, { action = action, reason = req.form.reason })
	local back = id_of(req.form.table)
	if st == 200 or st == 409 then
		return { redirect = back and ("/tafels/" .. back .. "/moderatie") or "/" }
	end
	if st == 422 then return { status = 422, text = T(req, "tables.bad_action") } end
	return refused(st)
end)

------------------------------------------------------------------ people and invitations

function M.people_page(req, id, status, errors, values)
	local st, t = plugin.api.get("/tables/" .. id)
	if st ~= 200 then return refused(st) end
	local pst, people = plugin.api.get("/tables/" .. id .. "/people")
	if pst ~= 200 then return refused(pst) end
	local ist, invitations = plugin.api.get("/tables/" .. id .. "/invitations")
	if ist ~= 200 then return refused(ist) end
	local gst, groups = plugin.api.get("/tables/" .. id .. "/groups")
	local plist = {}
	for _, person in ipairs(people.items) do
		plist[#plist + 1] = {
			id = person.id, name = person.name, email = person.email,
			roles = choices(req, "tables.role_", { "facilitator", "client", "member" }, person.role),
			self = req.user and person.id == req.user.id,
		}
	end
	local ilist = {}
	for _, i in ipairs(invitations.items) do
		ilist[#ilist + 1] = {
			id = i.id, email = i.email, link = i.kind == "link", role = T(req, "tables.role_" .. i.role),
			expires = when(req, i.expires_at), valid = i.valid, uses = i.uses,
		}
	end
	local group_choices = { { value = "", label = T(req, "tables.no_group"), selected = true } }
	for _, g in ipairs(gst == 200 and groups.items or {}) do
		group_choices[#group_choices + 1] = { value = tostring(g.id), label = g.name }
	end
	values = values or {}
	return page(req, status or 200, "tables/people.html", {
		table = table_view(req, t),
		people = plist,
		invitations = ilist,
		new_link = values.new_link,
		errors = errors or {},
		invite = {
			field(req, "email", "tables.field_invite_email", values.email, errors,
				{ type = "email", hint = "tables.hint_invite_email" }),
			field(req, "role", "tables.field_role", nil, errors,
				{ choices = choices(req, "tables.role_", { "member", "client", "facilitator" }, "member") }),
			field(req, "group_id", "tables.field_group", nil, errors, { choices = group_choices }),
			field(req, "expires_in_days", "tables.field_expires", values.expires_in_days or "14", errors,
				{ type = "number", min = 1, max = 90 }),
		},
		group = {
			field(req, "name", "tables.field_group_name", values.name, errors, { required = true, max = 100 }),
			field(req, "purpose", "tables.field_group_purpose", values.purpose, errors, { max = 1000 }),
			field(req, "visibility", "tables.field_visibility", nil, errors, {
				choices = choices(req, "tables.group_visibility_", { "public", "closed" }, values.visibility or "public"),
			}),
		},
	})
end

M.people = by_id(function(req, id, p)
	return M.people_page(req, id)
end)

function M.set_person(req, p)
	local id, who = id_of(p.id), id_of(req.form.account)
	if not id then return { status = 404 } end
	if not who then return M.people_page(req, id, 422, { form = T(req, "tables.bad_person") }) end
	local st
	if req.form.action == "remove" then
		st = plugin.api.delete("/tables/" .. id .. "/people/" .. who)
	else
		st = plugin.api.put("/tables/" .. id .. "/people/" .. who, { role = req.form.role })
	end
	if st == 409 then return M.people_page(req, id, 409, { form = T(req, "tables.last_facilitator") }) end
	if st == 422 then return M.people_page(req, id, 422, { form = T(req, "tables.bad_person") }) end
	if st ~= 200 then return refused(st) end
	return { redirect = "/tafels/" .. id .. "/mensen" }
end

M.invite = by_id(function(req, id, p)
	local f = req.form
	local args = {
		role = f.role,
		group_id = id_of(f.group_id),
		expires_in_days = math.tointeger(tonumber(f.expires_in_days or "")) or f.expires_in_days,
	}
	if f.email and f.email ~= "" then args.email = f.email end
	local st, body = plugin.api.post("/tables/" .. id .. "/invitations", args)
	if st == 201 then
		if body.kind == "link" then
			-- The link is shown once, now; only its hash is kept.
			return M.people_page(req, id, 201, nil, { new_link = plugin.url("/uitnodiging?token=" .. body.token) })
		end
		return { redirect = "/tafels/" .. id .. "/mensen" }
	end
	if st == 422 then return M.people_page(req, id, 422, field_errors(req, body), f) end
	if st == 429 then return M.people_page(req, id, 429, { form = T(req, "tables.too_many_invitations") }, f) end
	return refused(st)
end)

function M.revoke_invitation(req, p)
	local id, inv = id_of(p.id), id_of(p.invitation)
	if not id or not inv then return { status = 404 } end
	local st = plugin.api.delete("/tables/" .. id .. "/invitations/" .. inv)
	if st ~= 200 then return refused(st) end
	return { redirect = "/tafels/" .. id .. "/mensen" }
end

-- The link of an invitation: a page that asks to accept (a link opened by
-- a mail scanner changes nothing); a guest signs in or up first.
function M.invitation(req)
	local token = req.query.token or ""
	return page(req, 200, "tables/invitation.html", { token = token, signin = not req.user })
end

function M.accept(req)
	if not req.user then return { redirect = "/inloggen" } end
	local st, body = plugin.api.post("/invitations/accept", { token = req.form.token or "" })
	if st == 200 then
		if body.group_id then return { redirect = "/groepen/" .. body.group_id } end
		return { redirect = "/tafels/" .. body.table.id }
	end
	if st == 401 then return { redirect = "/inloggen" } end
	return page(req, 404, "tables/invitation.html", { invalid = true })
end

------------------------------------------------------------------ the feed

-- Atom for a public table: its newest contributions (hidden ones left
-- out). A closed table has no feed: 404 as for everything else of it.
M.feed = by_id(function(req, id, p)
	local st, t = plugin.api.get("/tables/" .. id)
	if st ~= 200 or t.visibility ~= "public" then return { status = 404 } end
	-- Newest first: oldest first, a busy table's feed ended at its 100th.
	local cst, body = plugin.api.get("/tables/" .. id .. "/contributions", { limit = 100, order = "newest" })
	if cst ~= 200 then return { status = 404 } end
	local entries = {}
	for i = 1, #body.items do
		local c = body.items[i]
		if not c.hidden then
			entries[#entries + 1] = {
				id = c.id, url = plugin.url("/bijdragen/" .. c.id), author = author(req, c),
				updated = c.edited_at or c.created_at, html = c.body_html,
			}
		end
		if #entries == 50 then break end
	end
	return {
		feed = plugin.render("tables/feed.atom", {
			title = t.title, question = t.question, url = plugin.url("/tafels/" .. id),
			self = plugin.url("/tafels/" .. id .. "/feed.atom"),
			updated = entries[1] and entries[1].updated or t.updated_at, entries = entries,
		}, req.lang),
		shared = req.user == nil,
	}
end)

------------------------------------------------------------------ events

-- The mails the core's operations lead to, from this plugin's templates
-- (a municipality can override them): an invitation by e-mail, and the
-- answer to a request to join a closed group.
local function send_mail(to, subject, lines, link, link_text)
	local tenant = plugin.tenant().name
	local lang = plugin.tenant().locale
	local view = { greeting = plugin.t("site.mail_greeting_plain", nil, lang), body = table.concat(lines, " "),
		link = link, link_text = link_text, ignore = "" }
	local text = table.concat({ view.greeting, "", view.body, "", link, "", "-- ", tenant }, "\n") .. "\n"
	return plugin.mail.send(to, subject, text, plugin.render("mail/message.html", view, lang))
end

function M.invitation_created(inv)
	if inv.kind ~= "email" or not inv.email or not inv.token then return end
	local lang = plugin.tenant().locale
	local tenant = plugin.tenant().name
	local ok = send_mail(inv.email, plugin.t("tables.mail_invite_subject", { tenant = tenant }, lang),
		{ plugin.t("tables.mail_invite_body", { tenant = tenant, table = inv.table.title }, lang) },
		plugin.url("/uitnodiging?token=" .. inv.token), plugin.t("tables.mail_invite_link", nil, lang))
	if not ok then error("the invitation mail could not be queued") end
end

function M.request_decided(d)
	if not d.requester or not d.requester.email then return end
	local lang = plugin.tenant().locale
	local key = d.status == "approved" and "tables.mail_approved_body" or "tables.mail_declined_body"
	local ok = send_mail(d.requester.email,
		plugin.t("tables.mail_decided_subject", { group = d.group_name }, lang),
		{ plugin.t(key, { group = d.group_name, table = d.table_title }, lang) },
		plugin.url("/groepen/" .. d.group_id), plugin.t("tables.mail_decided_link", nil, lang))
	if not ok then error("the decision mail could not be queued") end
end

return M
