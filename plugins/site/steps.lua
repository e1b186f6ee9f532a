-- The pages of a table's workflow: its steps with their states and
-- history (/tafels/ID/stappen), one step with its records and a form per
-- kind of record (/tafels/ID/stappen/STEP), and one record with its
-- earlier versions (/vastleggingen/ID). They know no step type: what a
-- step keeps, and who reads and writes it, comes from the table's
-- snapshot as GET /tables/{id}/steps gives it to the person asking, so a
-- municipality's own step type gets working pages without code of its
-- own. Labels are the step type's translations by convention
-- (NAME.KIND, NAME.KIND.FIELD, NAME.KIND.FIELD.CHOICE, docs/plugins.md);
-- a plugin adds a section to a step's page with a page.view hook on
-- "steps/step.html" (view.sections). Every read and change is a
-- plugin.api call: the core decides who sees and does what.
-- Loaded on first use (plugin.module).

local M = {}

local MAX_PAGES = 20   -- of 100 records: more than one table keeps

local function T(req, key, vars)
	return plugin.t(key, vars, req.lang)
end

-- A translation, or nil when the key has none.
local function label_or_nil(req, key)
	local s = plugin.t(key, nil, req.lang)
	if s == key then return nil end
	return s
end

-- "player_name" when there is no label: the id, readable.
local function readable(id)
	local s = tostring(id):gsub("_", " ")
	return (s:gsub("^%l", string.upper))
end

local function page(...) return forms().page(...) end

local refused, id_of = forms().refused, forms().id_of

local function step_id_of(s)
	if type(s) ~= "string" or #s > 64 or not s:match("^[a-z][a-z0-9_]*$") then return nil end
	return s
end

------------------------------------------------------------------ values

local function month(req, m) return T(req, "tables.month_" .. math.tointeger(m)) end

-- "2026-03-02" as "2 maart 2026".
local function date_text(req, s)
	local y, m, d = tostring(s):match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
	if not y or tonumber(m) < 1 or tonumber(m) > 12 then return tostring(s) end
	return T(req, "steppages.date", { day = math.tointeger(tonumber(d)), month = month(req, tonumber(m)),
		year = math.tointeger(tonumber(y)) })
end

-- Days since 1970-01-01 of a civil date (proleptic Gregorian).
local function days_from_civil(y, m, d)
	y = m <= 2 and y - 1 or y
	local era = (y >= 0 and y or y - 399) // 400
	local yoe = y - era * 400
	local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
	local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
	return era * 146097 + doe - 719468
end

-- The last Sunday of month M in year Y, as days since 1970.
local function last_sunday(y, m)
	local last = days_from_civil(y, m, 31)
	local weekday = (last + 4) % 7           -- 1970-01-01 was a Thursday (4)
	return last - weekday
end

-- The Netherlands' offset from UTC in seconds at UTC time SECS: summer
-- time from the last Sunday of March to the last of October, 01:00 UTC.
local function nl_offset(secs)
	local y = tonumber(os.date("!%Y", secs))
	local from = last_sunday(y, 3) * 86400 + 3600
	local to = last_sunday(y, 10) * 86400 + 3600
	return (secs >= from and secs < to) and 7200 or 3600
end

-- An ISO time with its zone as seconds since 1970 (UTC), or nil.
local function parse_iso(s)
	local y, mo, d, h, mi, rest = tostring(s):match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d)(.*)$")
	if not y then return nil end
	local sec = rest:match("^:(%d%d)") or "0"
	local zone = rest:match("([Zz+-][%d:]*)$")
	local off = 0
	if zone and zone ~= "Z" and zone ~= "z" then
		local sign, zh, zm = zone:match("^([+-])(%d%d):?(%d%d)$")
		if not sign then return nil end
		off = (tonumber(zh) * 3600 + tonumber(zm) * 60) * (sign == "-" and -1 or 1)
	elseif not zone then
		return nil
	end
	return days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400 + tonumber(h) * 3600
		+ tonumber(mi) * 60 + tonumber(sec) - off
end

-- An API timestamp as "2 maart 2026, 19:30" in Dutch time.
local function when(req, s)
	local secs = parse_iso(s)
	if not secs then return s and tostring(s) end
	local t = secs + nl_offset(secs)
	return T(req, "tables.when", { day = math.tointeger(tonumber(os.date("!%d", t))),
		month = month(req, tonumber(os.date("!%m", t))), year = os.date("!%Y", t), time = os.date("!%H:%M", t) })
end

-- The form's value of a datetime (YYYY-MM-DDTHH:MM, Dutch time).
local function datetime_input(s)
	local secs = parse_iso(s)
	if not secs then return nil end
	return os.date("!%Y-%m-%dT%H:%M", secs + nl_offset(secs))
end

-- A datetime-local input (Dutch time) as ISO 8601 with its zone, or nil.
local function datetime_value(s)
	local y, mo, d, h, mi = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d)$")
	if not y then return nil end
	local local_secs = days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400 + tonumber(h) * 3600
		+ tonumber(mi) * 60
	-- The offset at that moment: try winter time, then check.
	local off = nl_offset(local_secs - 3600)
	if nl_offset(local_secs - off) ~= off then off = nl_offset(local_secs - 7200) end
	local sign = off >= 0 and "+" or "-"
	return string.format("%s-%s-%sT%s:%s:00%s%02d:00", y, mo, d, h, mi, sign, math.abs(off) // 3600)
end

-- Cents as "€ 1.250,00" (nl) or "€1,250.00" (en).
local function euros(req, cents)
	if math.type(cents) ~= "integer" then return tostring(cents) end
	local neg = cents < 0
	local c = neg and -cents or cents
	local whole, rest = tostring(c // 100), c % 100
	local thousands = req.lang == "en" and "," or "."
	local decimal = req.lang == "en" and "." or ","
	local grouped = whole:reverse():gsub("(%d%d%d)", "%1" .. thousands):reverse()
	if grouped:sub(1, 1) == thousands then grouped = grouped:sub(2) end
	local s = grouped .. decimal .. string.format("%02d", rest)
	if req.lang == "en" then return (neg and "-" or "") .. "€" .. s end
	return "€ " .. (neg and "-" or "") .. s
end

-- The form's text for cents: "1250,00" (nl) or "1250.00" (en).
local function euros_input(req, cents)
	if math.type(cents) ~= "integer" then return nil end
	local neg = cents < 0
	local c = neg and -cents or cents
	return (neg and "-" or "") .. tostring(c // 100) .. (req.lang == "en" and "." or ",")
		.. string.format("%02d", c % 100)
end

-- Whether S is digits grouped by thousands with SEP ("1.250.000").
local function grouped(s, sep)
	local first = true
	for part in (s .. sep):gmatch("(.-)%" .. sep) do
		if first then
			if not part:match("^%d%d?%d?$") then return false end
			first = false
		elseif not part:match("^%d%d%d$") then
			return false
		end
	end
	return true
end

-- "1.250,00", "1250,5", "1,250.00", "1250" or "€ 12" as cents, or nil.
local function parse_euros(s)
	s = s:gsub("€", ""):gsub("%s", "")
	if #s == 0 or #s > 20 then return nil end
	local neg = s:sub(1, 1) == "-"
	if neg then s = s:sub(2) end
	if not s:match("^[%d.,]+$") or not s:match("^%d") then return nil end
	local whole, frac = s, ""
	-- The last separator followed by one or two digits is the decimal one.
	local w, sep, f = s:match("^(.-)([.,])(%d%d?)$")
	if w and w ~= "" then
		whole, frac = w, f
		-- The other separator may group thousands in the whole part.
		local other = sep == "," and "." or ","
		if whole:find(sep, 1, true) then return nil end
		if whole:find(other, 1, true) and not grouped(whole, other) then return nil end
		whole = whole:gsub("%" .. other, "")
	else
		-- No decimals: separators group thousands.
		if s:find("[.,]") and not grouped(s, ".") and not grouped(s, ",") then return nil end
		whole = s:gsub("[.,]", "")
	end
	if #frac == 1 then frac = frac .. "0" end
	local n = math.tointeger(tonumber(whole) * 100 + (tonumber(frac) or 0))
	if not n then return nil end
	return neg and -n or n
end

------------------------------------------------------------------ definitions

-- The labels of kind KIND of step STEP (the snapshot's step, with its
-- type's name as the key's start).
local function kind_label(req, step, kind)
	return label_or_nil(req, step.name .. "." .. kind) or readable(kind)
end

local function field_label(req, step, kind, name)
	return label_or_nil(req, step.name .. "." .. kind .. "." .. name) or readable(name)
end

local function choice_label(req, step, kind, name, choice)
	return label_or_nil(req, step.name .. "." .. kind .. "." .. name .. "." .. choice) or choice
end

-- The fields of a kind in the order forms show them: the required ones,
-- then the short ones, then the long texts; by name within each.
local function field_order(fields)
	local names = {}
	for name in pairs(fields) do names[#names + 1] = name end
	local function rank(name)
		local f = fields[name]
		if f.required then return 0 end
		if f.type == "markdown" then return 2 end
		return 1
	end
	table.sort(names, function(a, b)
		local ra, rb = rank(a), rank(b)
		if ra ~= rb then return ra < rb end
		return a < b
	end)
	return names
end

-- A record's name for lists and references: its name, title, activity or
-- summary field, else its kind and number.
local function record_name(req, step, r)
	local f = r.fields or {}
	for _, k in ipairs({ "name", "title", "activity" }) do
		if type(f[k]) == "string" and f[k] ~= "" then return f[k] end
	end
	local label = step and kind_label(req, step, r.kind) or readable(r.kind)
	return T(req, "steppages.record_name", { kind = label, id = r.id })
end

------------------------------------------------------------------ reading

-- Every record the person asking reads with ARGS (step, kind), oldest first.
local function all_records(table_id, args)
	local out, cursor = {}, nil
	for _ = 1, MAX_PAGES do
		local a = { limit = 100, cursor = cursor }
		for k, v in pairs(args or {}) do a[k] = v end
		local st, body = plugin.api.get("/tables/" .. table_id .. "/records", a)
		if st ~= 200 then return out, st end
		for _, r in ipairs(body.items) do out[#out + 1] = r end
		cursor = body.next_cursor
		if type(cursor) ~= "string" then break end
	end
	return out, 200
end

-- The table, its steps and (when the person may read them) its people:
-- one round trip. Nil and the page of a refusal when the table is not
-- theirs to read.
local function context(req, id)
	local base = "/tables/" .. id
	local r = plugin.api.batch({ { "GET", base }, { "GET", base .. "/steps" }, { "GET", base .. "/people" } })
	if r[1].status ~= 200 then return nil, refused(r[1].status) end
	if r[2].status ~= 200 then return nil, refused(r[2].status) end
	local t, s = r[1].body, r[2].body
	local people = {}
	if r[3].status == 200 then
		for _, p in ipairs(r[3].body.items) do people[#people + 1] = { id = p.id, name = p.name } end
	end
	local by_id = {}
	for _, step in ipairs(s.steps) do by_id[step.id] = step end
	return { table = t, steps = s, people = people, step = by_id }
end

local function table_link(t)
	return { id = t.id, url = "/tafels/" .. t.id, title = t.title, question = t.question,
		steps_url = "/tafels/" .. t.id .. "/stappen" }
end

local function step_title(req, step)
	local title = type(step.title) == "table" and (step.title[req.lang] or step.title.nl) or nil
	return title or label_or_nil(req, step.name) or readable(step.id)
end

------------------------------------------------------------------ showing records

-- Lookups for showing values: the people at the table by id, records by id.
local function lookups(ctx, records)
	local people, recs = {}, {}
	for _, p in ipairs(ctx.people) do people[p.id] = p.name end
	for _, r in ipairs(records or {}) do recs[r.id] = r end
	return { people = people, records = recs }
end

-- One field's value for reading: {label, text, html, url}.
local function shown(req, ctx, look, step, kind, name, decl, r, fields)
	local v = fields[name]
	local out = { name = name, label = field_label(req, step, kind, name) }
	if v == nil then return nil end
	local ty = decl.type
	if ty == "markdown" then
		local html = r and type(r.fields_html) == "table" and fields == r.fields and r.fields_html[name]
		if html and plugin.is_html(html) then out.html = html else out.text, out.long = tostring(v), true end
	elseif ty == "choice" then
		out.text = choice_label(req, step, kind, name, tostring(v))
	elseif ty == "choices" then
		local parts = {}
		for _, c in ipairs(type(v) == "table" and v or {}) do
			parts[#parts + 1] = choice_label(req, step, kind, name, tostring(c))
		end
		out.text = table.concat(parts, ", ")
	elseif ty == "date" then
		out.text = date_text(req, v)
	elseif ty == "datetime" then
		out.text = when(req, v)
	elseif ty == "cents" then
		out.text = euros(req, v)
	elseif ty == "bool" then
		out.text = T(req, v == true and "steppages.yes" or "steppages.no")
	elseif ty == "person" then
		out.text = look.people[v] or T(req, "steppages.someone")
	elseif ty == "ref" then
		local target = look.records[v]
		if target then
			out.text = record_name(req, ctx.step[target.step_id], target)
			out.url = "/vastleggingen/" .. target.id
		else
			out.text = T(req, "steppages.record_hidden")
		end
	else
		out.text = tostring(v)
	end
	return out
end

-- A record for the templates: its name, fields as read, who saved it.
local function record_view(req, ctx, look, step, r)
	local decl = step.records[r.kind]
	local values = {}
	if decl then
		for _, name in ipairs(field_order(decl.fields)) do
			values[#values + 1] = shown(req, ctx, look, step, r.kind, name, decl.fields[name], r, r.fields)
		end
	end
	return {
		id = r.id, url = "/vastleggingen/" .. r.id, name = record_name(req, step, r), values = values,
		version = r.version, by = r.updated_by and r.updated_by.name or T(req, "tables.former"),
		at = when(req, r.updated_at),
	}
end

------------------------------------------------------------------ forms

-- The form's inputs for a kind: one per field, with VALUES (the API's
-- fields, or what was typed: RAW by input name) and ERRORS by field.
local function inputs(req, ctx, step, kind, decl, prefix, values, raw, errors)
	local out = {}
	for _, name in ipairs(field_order(decl.fields)) do
		local f = decl.fields[name]
		local v = values and values[name]
		local i = {
			name = name, id = prefix .. "-" .. name, label = field_label(req, step, kind, name),
			required = f.required, error = errors and errors[name], max = f.max,
		}
		local typed = raw and raw[name]
		local ty = f.type
		if ty == "markdown" then
			i.textarea, i.rows, i.value = true, 6, typed or v
			i.hint = T(req, "tables.hint_markdown")
		elseif ty == "choice" then
			i.select = true
			local sel = typed or v
			i.options = { { value = "", label = T(req, "steppages.choose"), selected = sel == nil or sel == "" } }
			for _, c in ipairs(f.choices) do
				i.options[#i.options + 1] = { value = c, label = choice_label(req, step, kind, name, c), selected = sel == c }
			end
		elseif ty == "choices" then
			i.checkboxes = true
			local on = {}
			if raw then
				for _, c in ipairs(f.choices) do on[c] = raw[name .. "__" .. c] == "1" end
			else
				for _, c in ipairs(type(v) == "table" and v or {}) do on[c] = true end
			end
			i.options = {}
			for n, c in ipairs(f.choices) do
				i.options[n] = { value = c, name = name .. "__" .. c, id = i.id .. "-" .. n,
					label = choice_label(req, step, kind, name, c), checked = on[c] }
			end
		elseif ty == "bool" then
			i.checkbox = true
			if raw then i.checked = raw[name] == "1" else i.checked = v == true end
		elseif ty == "date" then
			i.type, i.value = "date", typed or v
		elseif ty == "datetime" then
			i.type, i.value = "datetime-local", typed or datetime_input(v)
		elseif ty == "int" then
			i.type, i.value, i.inputmode = "text", typed or (v ~= nil and tostring(v) or nil), "numeric"
		elseif ty == "cents" then
			i.type, i.value, i.inputmode = "text", typed or euros_input(req, v), "decimal"
			i.hint = T(req, "steppages.hint_euros")
			i.prefix = "€"
		elseif ty == "person" then
			i.select = true
			local sel = typed or (v ~= nil and tostring(v) or "")
			i.options = { { value = "", label = T(req, "steppages.choose"), selected = sel == "" } }
			local found = false
			for _, p in ipairs(ctx.people) do
				local pv = tostring(p.id)
				found = found or pv == sel
				i.options[#i.options + 1] = { value = pv, label = p.name, selected = pv == sel }
			end
			if sel ~= "" and not found then
				i.options[#i.options + 1] = { value = sel, label = T(req, "steppages.someone"), selected = true }
			end
		elseif ty == "ref" then
			i.select = true
			local sel = typed or (v ~= nil and tostring(v) or "")
			i.options = { { value = "", label = T(req, "steppages.choose"), selected = sel == "" } }
			local list = all_records(ctx.table.id, { kind = f.kind })
			for _, r in ipairs(list) do
				local rv = tostring(r.id)
				i.options[#i.options + 1] = { value = rv, label = record_name(req, ctx.step[r.step_id], r),
					selected = rv == sel }
			end
		else
			i.type, i.value = "text", typed or (v ~= nil and tostring(v) or nil)
		end
		if i.hint then i.hint_id = i.id .. "-hint" end
		out[#out + 1] = i
	end
	return out
end

-- The form REQ.FORM as the API's fields: FIELDS to set, REMOVE (names
-- left empty, for a change) and ERRORS of its own (a number, an amount).
local function from_form(req, decl, editing)
	local form = req.form or {}
	local fields, remove, errors = {}, {}, {}
	for name, f in pairs(decl.fields) do
		local s = form[name]
		if type(s) == "string" then s = s:gsub("^%s+", ""):gsub("%s+$", "") end
		local ty = f.type
		local v
		if ty == "bool" then
			v = form[name] == "1"
		elseif ty == "choices" then
			local list = {}
			for _, c in ipairs(f.choices) do
				if form[name .. "__" .. c] == "1" then list[#list + 1] = c end
			end
			-- An empty list is no value.
			if #list > 0 then v = list end
		elseif s == nil or s == "" then
			v = nil
		elseif ty == "int" then
			v = s:match("^%-?%d+$") and math.tointeger(tonumber(s)) or nil
			if v == nil then errors[name] = T(req, "steppages.error_int") end
		elseif ty == "cents" then
			v = parse_euros(s)
			if v == nil then errors[name] = T(req, "steppages.error_euros") end
		elseif ty == "person" or ty == "ref" then
			v = id_of(s)
			if v == nil then errors[name] = T(req, "steppages.error_choice") end
		elseif ty == "datetime" then
			v = datetime_value(s)
			if v == nil then errors[name] = T(req, "steppages.error_datetime") end
		else
			v = s
		end
		if v ~= nil then
			fields[name] = v
		elseif editing and not errors[name] then
			remove[#remove + 1] = name
		end
	end
	table.sort(remove)
	return fields, remove, errors
end

-- The API's refusal of a save as messages: by field (a 400 names it),
-- or for the form (a plugin's 422, a 403, a 409).
local function save_errors(req, st, body)
	local errors = {}
	local e = type(body) == "table" and body.error or {}
	for name, f in pairs(type(e.fields) == "table" and e.fields or {}) do
		local key = "steppages.error_" .. tostring(f.code)
		local text = label_or_nil(req, key)
		errors[name] = text or f.message
	end
	if next(errors) == nil or e.code == "refused" then
		errors.form = e.code == "refused" and e.message or (st == 403 and T(req, "steppages.error_forbidden"))
			or e.message or T(req, "steppages.error_save")
	end
	return errors
end

------------------------------------------------------------------ the steps page

local ACTIONS = { afronden = "complete", overslaan = "skip", heropenen = "reopen" }

-- The steps page; ERROR (for step ERROR.step) keeps a refusal and the
-- reason typed.
local function show_steps(req, id, status, error)
	local ctx, answer = context(req, id)
	if not ctx then return answer end
	local can = ctx.steps.can_change
	local list = {}
	local titles = {}
	for _, s in ipairs(ctx.steps.steps) do
		titles[s.id] = step_title(req, s)
		local mine = error and error.step == s.id
		list[#list + 1] = {
			id = s.id, url = "/tafels/" .. id .. "/stappen/" .. s.id, title = titles[s.id],
			state = s.state, state_label = T(req, "steppages.state_" .. s.state),
			active = s.state == "active", done = s.state == "done",
			changed = s.state ~= "pending" and s.changed_at and when(req, s.changed_at) or nil,   -- a pending step has no moment yet
			can_complete = can and s.state == "active",
			can_skip = can and (s.state == "pending" or s.state == "active"),
			can_reopen = can and (s.state == "done" or s.state == "skipped"),
			action = "/tafels/" .. id .. "/stappen/" .. s.id .. "/",
			refused = mine and error.message,
		}
		-- What was typed and refused stays with its form.
		local short = mine and (error.action == "overslaan" and "skip" or error.action == "heropenen" and "reopen")
		if short then
			list[#list][short .. "_error"] = error.reason_error
			list[#list][short .. "_reason"] = error.reason
		end
	end
	local history
	if ctx.steps.can_read_history then
		local st, h = plugin.api.get("/tables/" .. id .. "/history", { limit = 100 })
		if st == 200 then
			history = {}
			local wf = ctx.steps.workflow
			local wf_title = wf and type(wf.title) == "table" and (wf.title[req.lang] or wf.title.nl) or nil
			for _, e in ipairs(h.items) do
				local item = {
					when = when(req, e.at), who = e.by and e.by.name or T(req, "tables.former"),
					step = e.step_id and (titles[e.step_id] or e.step_id), what = T(req, "steppages.action_" .. e.action),
					reason = e.reason,
				}
				-- Starting and moving the workflow name it, not a reason.
				if e.action == "started" or e.action == "moved" then
					item.what = T(req, "steppages.action_" .. e.action,
						{ workflow = e.reason == (wf and wf.id) and wf_title or e.reason })
					item.reason = nil
				end
				history[#history + 1] = item
			end
		end
	end
	local wf = ctx.steps.workflow
	return page(req, status or 200, "steps/steps.html", {
		table = table_link(ctx.table), steps = list, history = history, can_change = can,
		workflow = wf and type(wf.title) == "table" and (wf.title[req.lang] or wf.title.nl) or nil,
	}, true)
end

M.steps = function(req, p)
	local id = id_of(p.id)
	if not id then return { status = 404 } end
	return show_steps(req, id)
end

-- POST /tafels/ID/stappen/STEP/afronden|overslaan|heropenen.
function M.change(req, p)
	local id, step, action = id_of(p.id), step_id_of(p.step), ACTIONS[p.action]
	if not id or not step or not action then return { status = 404 } end
	local args
	if action ~= "complete" then args = { reason = req.form.reason } end
	local st, body = plugin.api.post("/tables/" .. id .. "/steps/" .. step .. "/" .. action, args)
	if st == 200 then return { redirect = "/tafels/" .. id .. "/stappen#stap-" .. step } end
	if st == 400 or st == 409 or st == 422 then
		local e = type(body) == "table" and body.error or {}
		local reason = type(e.fields) == "table" and e.fields.reason
		local err = { step = step, action = p.action, reason = req.form.reason }
		if reason then
			err.reason_error = T(req, "steppages.error_reason")
		else
			err.message = e.code == "refused" and e.message or T(req, "steppages.error_state")
		end
		return show_steps(req, id, st, err)
	end
	return refused(st)
end

------------------------------------------------------------------ one step

-- The step page; FAILED = {kind, raw, errors} keeps a form's input.
local function show_step(req, id, step_id, status, failed)
	local ctx, answer = context(req, id)
	if not ctx then return answer end
	local step = ctx.step[step_id]
	if not step then return { status = 404 } end
	local records, st = all_records(id, {})
	if st ~= 200 then return refused(st) end
	local look = lookups(ctx, records)
	local kinds = {}
	for kind in pairs(step.records) do kinds[#kinds + 1] = kind end
	table.sort(kinds, function(a, b) return kind_label(req, step, a) < kind_label(req, step, b) end)
	local sections = {}
	for _, kind in ipairs(kinds) do
		local decl = step.records[kind]
		local list = {}
		for _, r in ipairs(records) do
			if r.step_id == step_id and r.kind == kind then list[#list + 1] = record_view(req, ctx, look, step, r) end
		end
		local forms = {}
		if decl.can_write then
			local mine = failed and failed.kind == kind
			forms[1] = {
				action = "/tafels/" .. id .. "/stappen/" .. step_id .. "/nieuw/" .. kind,
				inputs = inputs(req, ctx, step, kind, decl, "n-" .. kind, nil, mine and failed.raw, mine and failed.errors),
				error = mine and failed.errors.form, invalid = mine,
			}
		end
		sections[#sections + 1] = {
			kind = kind, id = "soort-" .. kind, label = kind_label(req, step, kind), records = list, forms = forms,
			new_label = T(req, "steppages.new_record", { kind = kind_label(req, step, kind) }),
		}
	end
	local view = {
		table = table_link(ctx.table),
		step = { id = step.id, type = step.type, name = step.name, title = step_title(req, step), state = step.state,
			state_label = T(req, "steppages.state_" .. step.state), table_id = id },
		kinds = sections,
		sections = {},
		-- The active step's completion, here too (a refusal is shown on
		-- the steps page, by the step).
		complete = ctx.steps.can_change and step.state == "active"
			and ("/tafels/" .. id .. "/stappen/" .. step_id .. "/afronden"),
	}
	return page(req, status or 200, "steps/step.html", view, true)
end

M.step = function(req, p)
	local id, step = id_of(p.id), step_id_of(p.step)
	if not id or not step then return { status = 404 } end
	return show_step(req, id, step)
end

-- POST /tafels/ID/stappen/STEP/nieuw/KIND: a new record.
function M.create(req, p)
	local id, step_id, kind = id_of(p.id), step_id_of(p.step), step_id_of(p.kind)
	if not id or not step_id or not kind then return { status = 404 } end
	local ctx, answer = context(req, id)
	if not ctx then return answer end
	local step = ctx.step[step_id]
	local decl = step and step.records[kind]
	if not decl then return { status = 404 } end
	local fields, _, errors = from_form(req, decl, false)
	if next(errors) == nil then
		local st, body = plugin.api.post("/tables/" .. id .. "/records", { step = step_id, kind = kind, fields = fields })
		if st == 201 then return { redirect = "/tafels/" .. id .. "/stappen/" .. step_id .. "#soort-" .. kind } end
		if st ~= 400 and st ~= 403 and st ~= 409 and st ~= 422 then return refused(st) end
		return show_step(req, id, step_id, st, { kind = kind, raw = req.form, errors = save_errors(req, st, body) })
	end
	return show_step(req, id, step_id, 400, { kind = kind, raw = req.form, errors = errors })
end

------------------------------------------------------------------ one record

local function show_record(req, rid, status, failed)
	local st, r = plugin.api.get("/records/" .. rid)
	if st ~= 200 then return refused(st) end
	local ctx, answer = context(req, r.table_id)
	if not ctx then return answer end
	local step = ctx.step[r.step_id]
	local decl = step and step.records[r.kind]
	if not decl then return { status = 404 } end
	local records = all_records(r.table_id, {})
	local look = lookups(ctx, records)
	local vst, versions = plugin.api.get("/records/" .. rid .. "/versions")
	local list = {}
	if vst == 200 then
		for _, v in ipairs(versions.items) do
			local values = {}
			for _, name in ipairs(field_order(decl.fields)) do
				values[#values + 1] = shown(req, ctx, look, step, r.kind, name, decl.fields[name], nil, v.fields)
			end
			list[#list + 1] = { version = v.version, by = v.saved_by and v.saved_by.name or T(req, "tables.former"),
				at = when(req, v.saved_at), values = values, current = v.version == r.version }
		end
	end
	local form
	if decl.can_write then
		form = {
			action = "/vastleggingen/" .. rid,
			inputs = inputs(req, ctx, step, r.kind, decl, "e", r.fields, failed and failed.raw, failed and failed.errors),
			error = failed and failed.errors.form, invalid = failed ~= nil,
		}
	end
	return page(req, status or 200, "steps/record.html", {
		table = table_link(ctx.table),
		step = { title = step_title(req, step), url = "/tafels/" .. r.table_id .. "/stappen/" .. r.step_id },
		kind = kind_label(req, step, r.kind),
		record = record_view(req, ctx, look, step, r),
		records = { record_view(req, ctx, look, step, r) },
		versions = list,
		form = form,
	}, true)
end

M.record = function(req, p)
	local id = id_of(p.id)
	if not id then return { status = 404 } end
	return show_record(req, id)
end

-- POST /vastleggingen/ID: a change (PATCH), the emptied fields removed.
function M.update(req, p)
	local rid = id_of(p.id)
	if not rid then return { status = 404 } end
	local st, r = plugin.api.get("/records/" .. rid)
	if st ~= 200 then return refused(st) end
	local ctx, answer = context(req, r.table_id)
	if not ctx then return answer end
	local step = ctx.step[r.step_id]
	local decl = step and step.records[r.kind]
	if not decl then return { status = 404 } end
	local fields, remove, errors = from_form(req, decl, true)
	if next(errors) == nil then
		-- Only what changed: a client who may change one field of a
		-- record (a quote's status) sends that field alone.
		local changed, gone = {}, {}
		for name, v in pairs(fields) do
			local old = r.fields[name]
			local same = old == v or (v == false and old == nil)
			if type(v) == "table" and type(old) == "table" then
				same = table.concat(v, "\0") == table.concat(old, "\0")
			end
			if not same then changed[name] = v end
		end
		for _, name in ipairs(remove) do
			if r.fields[name] ~= nil then gone[#gone + 1] = name end
		end
		local args = { fields = changed }
		if #gone > 0 then args.remove = gone end
		local ust, body = plugin.api.patch("/records/" .. rid, args)
		if ust == 200 then return { redirect = "/tafels/" .. r.table_id .. "/stappen/" .. r.step_id .. "#soort-" .. r.kind } end
		if ust ~= 400 and ust ~= 403 and ust ~= 409 and ust ~= 422 then return refused(ust) end
		return show_record(req, rid, ust, { raw = req.form, errors = save_errors(req, ust, body) })
	end
	return show_record(req, rid, 400, { raw = req.form, errors = errors })
end

-- For the decisions' pages (decisions.lua): Dutch time both ways.
M.when = when
M.datetime_value = datetime_value
M.parse_iso = parse_iso

return M
