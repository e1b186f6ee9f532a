-- The pages of a table's meetings (sql/code/meetings.sql): a new meeting
-- (/tafels/ID/bijeenkomsten/nieuw, from the table or from a step's page
-- with ?stap=STEP), one meeting (/bijeenkomsten/ID) with its time in
-- Dutch, the place or link, the support arranged, the places left or the
-- waiting list, the person's registration with the buttons to register
-- or cancel, its iCalendar file and the table's feed; for the table's
-- facilitators the change and cancel forms, registering someone by name,
-- the registrations, and attendance once it has begun. Every read and
-- change is a plugin.api call: the core decides who sees and does what;
-- a refusal is shown on the page in the request's language. The table
-- page's list of meetings to come is made here too (M.list_view).
-- Loaded on first use (plugin.module).

local M = {}

local function T(req, key, vars)
	return plugin.t(key, vars, req.lang)
end

local refused, id_of = forms().refused, forms().id_of
local summary = function(...) return decisions().summary(...) end

local function when(req, s)
	if type(s) ~= "string" then return nil end
	return site_steps().when(req, s)
end

-- "2026-12-10T20:00" (Europe/Amsterdam, as the API gives starts_local)
-- written out: "donderdag 10 december 2026, 20:00" ("Thursday 10
-- December 2026, 20:00"); with SAME_DAY_AS another such time, only the
-- time when both are on one day.
local DAYS = { nl = { "zondag", "maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag" },
	en = { "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday" } }
local MONTHS = { nl = { "januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
	"oktober", "november", "december" }, en = { "January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December" } }
local function local_when(req, s, same_day_as)
	local y, mo, d, hm = tostring(s):match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d:%d%d)")
	if not y then return s end
	if same_day_as and tostring(same_day_as):sub(1, 10) == s:sub(1, 10) then return hm end
	y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
	-- The weekday (Sakamoto's method; 0 is Sunday).
	local t = { 0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4 }
	local yy = mo < 3 and y - 1 or y
	local wd = (yy + yy // 4 - yy // 100 + yy // 400 + t[mo] + d) % 7
	local lang = req.lang == "en" and "en" or "nl"
	return DAYS[lang][wd + 1] .. " " .. d .. " " .. MONTHS[lang][mo] .. " " .. y .. ", " .. hm
end

local function page(...) return forms().page(...) end

local function one(x) return x and { x } or nil end

local function site_steps_title(req, s)
	local title = type(s.title) == "table" and (s.title[req.lang] or s.title.nl) or nil
	if title then return title end
	local key = s.name or s.id
	local text = T(req, key)
	return text ~= key and text or s.id
end

local SUPPORT = { "actor", "playback_theatre", "interpreter", "other" }

-- A meeting in a list: {url, title, starts, where, state_label, cancelled}.
local function item(req, m)
	return {
		id = m.id, url = "/bijeenkomsten/" .. m.id, title = m.title, starts = local_when(req, m.starts_local),
		where = m.place or (m.online_url and T(req, "meetings.online")) or nil,
		cancelled = m.state == "cancelled",
		places = m.places_left and T(req, "meetings.places_left", { n = math.tointeger(m.places_left) }) or nil,
		mine = m.my_registration and T(req, "meetings.my_" .. m.my_registration.state) or nil,
	}
end

-- The table page's section: its meetings to come (not ended), by start.
-- LIST is the API's answer of GET /tables/ID/meetings.
function M.list_view(req, id, list, facilitator, closed)
	local coming = {}
	local now = os.time()
	for _, m in ipairs(type(list) == "table" and list.items or {}) do
		local ends = site_steps().parse_iso(m.ends_at)
		if not ends or ends > now then coming[#coming + 1] = item(req, m) end
	end
	if #coming == 0 and not facilitator then return nil end
	return {
		items = #coming > 0 and coming or nil,
		new_url = facilitator and ("/tafels/" .. id .. "/bijeenkomsten/nieuw") or nil,
		feed = "/tafels/" .. id .. "/bijeenkomsten.ics",
	}
end

------------------------------------------------------------------ the form

-- The API's refusal as messages by field, and the form's message.
local function api_errors(req, st, body)
	local out = {}
	local e = type(body) == "table" and body.error or {}
	for name, f in pairs(type(e.fields) == "table" and e.fields or {}) do
		local key = "meetings.error_" .. name .. "_" .. tostring(f.code)
		local text = T(req, key)
		out[name] = text ~= key and text or f.message
	end
	if next(out) == nil then
		local key = "meetings.error_" .. tostring(e.code)
		local text = T(req, key)
		if e.code == "refused" and type(e.message) == "string" then
			text = e.message
		elseif text == key then
			text = type(e.message) == "string" and e.message or T(req, "decisions.error_save")
		end
		out.form = text
	end
	return out
end

local IDS = { title = "m-title", description = "m-description", starts_at = "m-starts_at", ends_at = "m-ends_at",
	place = "m-place", online_url = "m-online_url", capacity = "m-capacity", support = "m-support-1",
	support_note = "m-support_note", step = "m-title" }

-- The fields of a meeting's form, VALUES as typed (or the meeting's).
local function form_fields(req, v, errs)
	local f = forms()
	return {
		f.field(req, "title", "meetings.field_title", v.title, errs, { id = "m-title", max = 200, required = true }),
		f.field(req, "description", "meetings.field_description", v.description, errs,
			{ id = "m-description", textarea = true, rows = 5, max = 20000, hint = "tables.hint_markdown" }),
		f.field(req, "starts_at", "meetings.field_starts_at", v.starts_at, errs,
			{ id = "m-starts_at", type = "datetime-local", required = true, hint = "meetings.hint_time" }),
		f.field(req, "ends_at", "meetings.field_ends_at", v.ends_at, errs,
			{ id = "m-ends_at", type = "datetime-local", required = true }),
		f.field(req, "place", "meetings.field_place", v.place, errs, { id = "m-place", max = 500, hint = "meetings.hint_place" }),
		f.field(req, "online_url", "meetings.field_online_url", v.online_url, errs,
			{ id = "m-online_url", type = "url", max = 2000 }),
		f.field(req, "capacity", "meetings.field_capacity", v.capacity, errs,
			{ id = "m-capacity", type = "number", min = 0, hint = "meetings.hint_capacity" }),
	}
end

local function support_view(req, chosen, note, errs)
	local set = {}
	for _, s in ipairs(type(chosen) == "table" and chosen or {}) do set[s] = true end
	local out = {}
	for n, s in ipairs(SUPPORT) do
		out[n] = { id = "m-support-" .. n, name = "support_" .. s, label = T(req, "meetings.support_" .. s), checked = set[s] == true }
	end
	return out, forms().field(req, "support_note", "meetings.field_support_note", note, errs,
		{ id = "m-support_note", max = 1000 })
end

-- The form's view for a new meeting (MID nil) or a change.
local function form_page(req, status, t, steps, v, errors, mid)
	local errs = errors or {}
	local step = v.step
	if step and not steps[step] then step = nil end
	local support, note = support_view(req, v.support, v.support_note, errs)
	return page(req, status, "meetings/form.html", {
		table = { id = t.id, url = "/tafels/" .. t.id, title = t.title },
		new = mid == nil, meeting_url = mid and ("/bijeenkomsten/" .. mid) or nil,
		action = mid and ("/bijeenkomsten/" .. mid) or ("/tafels/" .. t.id .. "/bijeenkomsten"),
		step = step, step_title = step and site_steps_title(req, steps[step]) or nil,
		step_url = step and ("/tafels/" .. t.id .. "/stappen/" .. step) or nil,
		fields = form_fields(req, v, errs), support = support, support_note = { note },
		registration_open = v.registration_open ~= false and v.registration_open ~= "0",
		errors = summary(errs, IDS),
	})
end

local function steps_by_id(body)
	local out = {}
	for _, s in ipairs(type(body) == "table" and body.steps or {}) do out[s.id] = s end
	return out
end

local function table_and_steps(id)
	local r = plugin.api.batch({ { "GET", "/tables/" .. id }, { "GET", "/tables/" .. id .. "/steps" } })
	if r[1].status ~= 200 then return nil, refused(r[1].status) end
	return r[1].body, r[2].status == 200 and steps_by_id(r[2].body) or {}
end

-- The API's arguments from the form; ERRORS for what cannot be sent.
local function args_from(req, f, change)
	local args, errors = {}, {}
	args.title = f.title
	-- Blank texts are left out (the API takes no empty text).
	if type(f.description) == "string" and f.description:match("%S") then args.description = f.description end
	for _, name in ipairs({ "starts_at", "ends_at" }) do
		if type(f[name]) == "string" and f[name] ~= "" then
			args[name] = site_steps().datetime_value(f[name])
			if not args[name] then errors[name] = T(req, "meetings.error_time_invalid") end
		else
			errors[name] = T(req, "meetings.error_time_required")
		end
	end
	args.place = type(f.place) == "string" and f.place or ""
	args.online_url = type(f.online_url) == "string" and f.online_url or ""
	local cap = type(f.capacity) == "string" and f.capacity:gsub("%s", "") or ""
	if cap == "" then
		args.capacity = 0
	elseif cap:match("^%d+$") and #cap <= 6 then
		args.capacity = math.tointeger(tonumber(cap))
	else
		errors.capacity = T(req, "meetings.error_capacity_invalid")
	end
	local support = {}
	for _, s in ipairs(SUPPORT) do
		if f["support_" .. s] == "1" then support[#support + 1] = s end
	end
	args.support = support
	args.support_note = type(f.support_note) == "string" and f.support_note or ""
	args.registration_open = f.registration_open == "1"
	if not change and not args.place:match("%S") then args.place = nil end
	if not change and not args.online_url:match("%S") then args.online_url = nil end
	if not change and args.capacity == 0 then args.capacity = nil end
	-- An empty note is left out (the API takes no empty text).
	if not args.support_note:match("%S") then args.support_note = nil end
	return args, errors
end

-- The form's values as typed, the support as a list.
local function typed(f)
	local v = {}
	for k, x in pairs(f) do v[k] = x end
	v.support = {}
	for _, s in ipairs(SUPPORT) do
		if f["support_" .. s] == "1" then v.support[#v.support + 1] = s end
	end
	v.registration_open = f.registration_open == "1"
	return v
end

function M.new_form(req, p)
	local id = id_of(p.id)
	if not id then return { status = 404 } end
	if not req.user then return { redirect = "/inloggen" } end
	local t, steps = table_and_steps(id)
	if not t then return steps end
	if t.my_role ~= "facilitator" then return { status = 403 } end
	return form_page(req, 200, t, steps, { step = type(req.query.stap) == "string" and req.query.stap or nil,
		registration_open = true })
end

-- POST /tafels/ID/bijeenkomsten: a new meeting (its step kept).
function M.create(req, p)
	local id = id_of(p.id)
	if not id then return { status = 404 } end
	local f = req.form
	local args, errors = args_from(req, f, false)
	if type(f.step) == "string" and f.step ~= "" then args.step = f.step end
	if next(errors) == nil then
		local st, body = plugin.api.post("/tables/" .. id .. "/meetings", args)
		if st == 201 then return { redirect = "/bijeenkomsten/" .. body.id } end
		if st ~= 400 and st ~= 409 and st ~= 422 then return refused(st) end
		errors = api_errors(req, st, body)
		if errors.step then errors.form, errors.step = errors.step, nil end
	end
	local t, steps = table_and_steps(id)
	if not t then return steps end
	return form_page(req, 400, t, steps, typed(f), errors)
end

------------------------------------------------------------------ one meeting

local function show(req, mid, status, failed)
	local st, m = plugin.api.get("/meetings/" .. mid)
	if st ~= 200 then return refused(st) end
	local calls = { { "GET", "/tables/" .. m.table_id }, { "GET", "/tables/" .. m.table_id .. "/steps" } }
	if m.can_manage then calls[3] = { "GET", "/meetings/" .. mid .. "/registrations" } end
	local r = plugin.api.batch(calls)
	if r[1].status ~= 200 then return refused(r[1].status) end
	local t = r[1].body
	local steps = r[2].status == 200 and steps_by_id(r[2].body) or {}
	local base = "/bijeenkomsten/" .. mid
	local failed_form = failed and failed.form
	local errors = failed and failed.errors or {}
	local raw = failed and failed.raw or {}
	local now = os.time()
	local starts, ends = site_steps().parse_iso(m.starts_at), site_steps().parse_iso(m.ends_at)
	local begun = starts and starts <= now
	local over = ends and ends <= now
	local cancelled = m.state == "cancelled"
	local support = {}
	for _, s in ipairs(m.support or {}) do
		support[#support + 1] = { label = T(req, "meetings.support_" .. s) }
	end
	local mine = m.my_registration
	local view = {
		id = mid, base = base, title = m.title, cancelled = cancelled, cancel_reason = m.cancel_reason,
		table = { id = t.id, url = "/tafels/" .. t.id, title = t.title },
		step = m.step_id and steps[m.step_id] and site_steps_title(req, steps[m.step_id]) or nil,
		step_url = m.step_id and steps[m.step_id] and (t.my_role == "facilitator" or t.my_role == "client")
			and ("/tafels/" .. t.id .. "/stappen/" .. m.step_id) or nil,
		description_html = plugin.is_html(m.description_html) and m.description_html ~= "" and m.description_html or nil,
		starts = local_when(req, m.starts_local), ends = local_when(req, m.ends_local, m.starts_local),
		place = m.place, online_url = m.online_url,
		support = #support > 0 and support or nil, support_note = m.support_note,
		capacity = m.capacity and math.tointeger(m.capacity) or nil,
		registered = math.tointeger(m.registered) or 0, waiting = math.tointeger(m.waiting) or 0,
		places_left = m.places_left and math.tointeger(m.places_left) or nil,
		full = m.places_left ~= nil and math.tointeger(m.places_left) == 0,
		registration_closed = not m.registration_open,
		begun = begun, over = over,
		ical = base .. "/agenda.ics", feed = "/tafels/" .. t.id .. "/bijeenkomsten.ics",
		mine_registered = mine and mine.state == "registered",
		mine_waiting = mine and mine.state == "waiting",
		position = mine and mine.position and math.tointeger(mine.position) or nil,
		can_register = m.can_register == true, manage = m.can_manage == true,
		signin = not req.user,
		can_cancel_mine = mine ~= nil and not begun and not cancelled,
	}
	view.places_text = view.places_left and T(req, view.places_left == 1 and "meetings.places_left_one" or "meetings.places_left",
		{ n = view.places_left }) or T(req, "meetings.no_limit")
	view.registered_text = T(req, "meetings.registered_count", { n = view.registered })
	view.waiting_text = view.waiting > 0 and T(req, "meetings.waiting_count", { n = view.waiting }) or nil
	if type(m.attendance) == "table" then
		view.attendance = T(req, "meetings.attendance_text", { attended = math.tointeger(m.attendance.attended) or 0,
			walk_ins = math.tointeger(m.attendance.walk_ins) or 0 })
	end
	if failed_form == "register" or failed_form == "unregister" then
		view.register_errors = one(summary(errors, {}))
	end
	if m.can_manage then
		local regs = r[3] and r[3].status == 200 and r[3].body or {}
		view.registrations = {}
		for _, g in ipairs(type(regs.items) == "table" and regs.items or {}) do
			if g.state ~= "cancelled" then
				view.registrations[#view.registrations + 1] = {
					id = g.id, name = g.name or T(req, "tables.former"),
					state = T(req, "meetings.reg_" .. g.state), waiting = g.state == "waiting",
					position = g.position and math.tointeger(g.position) or nil,
					box = "aanwezig-" .. g.id, attended = g.attended == true,
					by_name = type(g.account) ~= "table",
				}
			end
		end
		view.any_registrations = #view.registrations > 0
		if not cancelled and not over then
			local nm = failed_form == "name"
			view.name_form = { action = base .. "/namen",
				names = { forms().field(req, "name", "meetings.field_name", nm and raw.name or nil, nm and errors or nil,
					{ id = "n-name", max = 100, required = true, hint = "meetings.hint_name" }) },
				errors = one(nm and summary(errors, { name = "n-name" })) }
			view.edit_url = base .. "/wijzigen"
			local cc = failed_form == "cancel"
			view.cancel_form = { action = base .. "/afgelasten",
				reasons = { forms().field(req, "reason", "meetings.field_reason", cc and raw.reason or nil, cc and errors or nil,
					{ id = "c-reason", textarea = true, rows = 3, max = 2000 }) },
				errors = one(cc and summary(errors, { reason = "c-reason" })) }
		end
		if begun and not cancelled then
			local at = failed_form == "attendance"
			view.attendance_form = { action = base .. "/aanwezigheid",
				walk_ins = at and raw.walk_ins or (type(m.attendance) == "table" and tostring(math.tointeger(m.attendance.walk_ins) or 0) or ""),
				errors = one(at and summary(errors, { walk_ins = "a-walk_ins" })),
				walk_ins_error = at and errors.walk_ins or nil }
		end
	end
	-- A refusal of a form the page does not show (attendance before the
	-- meeting began): at the top of the registrations.
	if failed_form == "attendance" and not view.attendance_form then
		view.manage_errors = one(summary(errors, {}))
	end
	return page(req, status or 200, "meetings/meeting.html", view)
end

local by_meeting = forms().by_id

M.show = by_meeting(function(req, mid) return show(req, mid) end)

-- A change: on success back to the meeting (at ANCHOR); a 400, 403, 409
-- or 422 is shown on the meeting's page by form FORM.
local function change(req, mid, form, method, path, args, anchor)
	local st, body = plugin.api[method](path, args)
	if st == 200 or st == 201 then return { redirect = "/bijeenkomsten/" .. mid .. (anchor or "") } end
	if st ~= 400 and st ~= 403 and st ~= 409 and st ~= 422 then return refused(st) end
	return show(req, mid, st, { form = form, errors = api_errors(req, st, body), raw = req.form })
end

M.register = by_meeting(function(req, mid)
	return change(req, mid, "register", "put", "/meetings/" .. mid .. "/registration",
		{ lang = req.lang == "en" and "en" or "nl" }, "#aanmelding")
end)

M.unregister = by_meeting(function(req, mid)
	return change(req, mid, "unregister", "delete", "/meetings/" .. mid .. "/registration", nil, "#aanmelding")
end)

M.add_name = by_meeting(function(req, mid)
	return change(req, mid, "name", "post", "/meetings/" .. mid .. "/registrations", { name = req.form.name },
		"#aanmeldingen")
end)

M.cancel = by_meeting(function(req, mid)
	local args = {}
	if type(req.form.reason) == "string" and req.form.reason:match("%S") then args.reason = req.form.reason end
	return change(req, mid, "cancel", "post", "/meetings/" .. mid .. "/cancel", args)
end)

M.attendance = by_meeting(function(req, mid)
	local st, regs = plugin.api.get("/meetings/" .. mid .. "/registrations")
	if st ~= 200 then return refused(st) end
	local list = {}
	for _, g in ipairs(type(regs.items) == "table" and regs.items or {}) do
		if g.state == "registered" then
			list[#list + 1] = { registration_id = g.id, attended = req.form["aanwezig_" .. g.id] == "1" }
		end
	end
	local w = type(req.form.walk_ins) == "string" and req.form.walk_ins:gsub("%s", "") or ""
	local args = { attended = list }
	if w ~= "" then
		if not w:match("^%d+$") or #w > 6 then
			return show(req, mid, 400, { form = "attendance", raw = req.form,
				errors = { walk_ins = T(req, "meetings.error_walk_ins_invalid") } })
		end
		args.walk_ins = math.tointeger(tonumber(w))
	end
	return change(req, mid, "attendance", "put", "/meetings/" .. mid .. "/attendance", args, "#aanwezigheid")
end)

M.edit_form = by_meeting(function(req, mid)
	local st, m = plugin.api.get("/meetings/" .. mid)
	if st ~= 200 then return refused(st) end
	if not m.can_manage then return { status = 403 } end
	local t, steps = table_and_steps(m.table_id)
	if not t then return steps end
	return form_page(req, 200, t, steps, {
		title = m.title, description = m.description, starts_at = m.starts_local, ends_at = m.ends_local,
		place = m.place, online_url = m.online_url, capacity = m.capacity and tostring(math.tointeger(m.capacity)) or "",
		support = m.support, support_note = m.support_note, registration_open = m.registration_open,
	}, nil, mid)
end)

M.update = by_meeting(function(req, mid)
	local f = req.form
	local args, errors = args_from(req, f, true)
	if next(errors) == nil then
		local st, body = plugin.api.patch("/meetings/" .. mid, args)
		if st == 200 then return { redirect = "/bijeenkomsten/" .. mid } end
		if st ~= 400 and st ~= 409 and st ~= 422 and st ~= 403 then return refused(st) end
		errors = api_errors(req, st, body)
	end
	local st, m = plugin.api.get("/meetings/" .. mid)
	if st ~= 200 then return refused(st) end
	local t, steps = table_and_steps(m.table_id)
	if not t then return steps end
	return form_page(req, 400, t, steps, typed(f), errors, mid)
end)

------------------------------------------------------------------ calendars

M.ical = by_meeting(function(req, mid)
	local st, body = plugin.api.get("/meetings/" .. mid .. "/ical")
	if st ~= 200 or type(body) ~= "string" then return refused(st) end
	return { body = body, type = "text/calendar; charset=utf-8" }
end)

M.feed = by_meeting(function(req, id)
	local st, body = plugin.api.get("/tables/" .. id .. "/meetings.ical")
	if st ~= 200 or type(body) ~= "string" then return refused(st) end
	return { body = body, type = "text/calendar; charset=utf-8" }
end)

M.local_when = local_when

return M
