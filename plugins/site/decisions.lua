-- The pages of a table's decisions (Deep Democracy, sql/code/decisions.sql):
-- a new decision (/tafels/ID/besluiten/nieuw, from the table or from a
-- step's page with ?stap=STEP), one decision (/besluiten/ID) with the
-- resident's vote and the form to cast or change it, the results as the
-- API shows them (hidden until closing when so set, names only when the
-- decision is not secret), the facilitator's room counts, closing and
-- collective wisdom, and after closing the outcome, the minority round
-- (what it would take to go along), the facilitator's marks and the final
-- text. Every read and change is a plugin.api call: the core decides who
-- sees and does what; a refusal it gives is shown on the page in the
-- request's language. The table page's list of decisions is made here
-- too (M.list_view). Loaded on first use (plugin.module).

local M = {}

local function T(req, key, vars)
	return plugin.t(key, vars, req.lang)
end

local refused, id_of = forms().refused, forms().id_of

-- The time helpers of the steps' pages: Dutch time, Dutch dates.
local function when(req, s)
	if type(s) ~= "string" then return nil end
	return site_steps().when(req, s)
end

local function page(...) return forms().page(...) end

-- A choice's label in the request's language.
local function choice_label(req, d, id)
	for _, c in ipairs(d.choices or {}) do
		if c.id == id then
			local l = type(c.label) == "table" and (c.label[req.lang] or c.label.nl) or nil
			return l or id
		end
	end
	return id
end

-- A step's title as the table's steps name it ({id -> step}).
local function step_name(req, steps, id)
	local s = id and steps and steps[id]
	if not s then return nil end
	local title = type(s.title) == "table" and (s.title[req.lang] or s.title.nl) or nil
	if title then return title end
	local key = s.name or s.id
	local text = T(req, key)
	return text ~= key and text or s.id
end

local function steps_by_id(body)
	local out = {}
	for _, s in ipairs(type(body) == "table" and body.steps or {}) do out[s.id] = s end
	return out
end

-- A decision in a list: {url, title, open, state_label, step, closes}.
local function item(req, d, steps)
	return {
		id = d.id, url = "/besluiten/" .. d.id, title = d.title, open = d.state == "open",
		state_label = T(req, "decisions.state_" .. d.state),
		step = step_name(req, steps, d.step_id),
		closes = d.state == "open" and d.closes_at and when(req, d.closes_at) or nil,
		closed_at = d.state == "closed" and when(req, d.closed_at) or nil,
	}
end

-- The table page's section: its decisions, open ones first. LIST is the
-- API's answer of GET /tables/ID/decisions, STEPS of GET /tables/ID/steps.
function M.list_view(req, id, list, steps, facilitator)
	local open, closed = {}, {}
	local by = steps_by_id(steps)
	for _, d in ipairs(type(list) == "table" and list.items or {}) do
		local i = item(req, d, by)
		if i.open then open[#open + 1] = i else closed[#closed + 1] = i end
	end
	-- Nothing to show a reader of a table without decisions.
	if #open + #closed == 0 and not facilitator then return nil end
	return {
		-- nil rather than an empty list: a template's "if" takes {} for true.
		open = #open > 0 and open or nil, closed = #closed > 0 and closed or nil, any = #open + #closed > 0,
		new_url = facilitator and ("/tafels/" .. id .. "/besluiten/nieuw") or nil,
	}
end

------------------------------------------------------------------ a new decision

local function new_page(req, id, status, values, errors)
	local st, t = plugin.api.get("/tables/" .. id)
	if st ~= 200 then return refused(st) end
	if t.my_role ~= "facilitator" then return { status = 403 } end
	local sst, sbody = plugin.api.get("/tables/" .. id .. "/steps")
	local steps = sst == 200 and steps_by_id(sbody) or {}
	local v = values or {}
	local step = v.step
	if step and not steps[step] then step = nil end
	local f = forms()
	local errs = errors or {}
	local fields = {
		f.field(req, "title", "decisions.field_title", v.title, errs, { id = "b-title", max = 200, required = true }),
		f.field(req, "proposal", "decisions.field_proposal", v.proposal, errs,
			{ id = "b-proposal", textarea = true, rows = 8, max = 20000, required = true, hint = "tables.hint_markdown" }),
		f.field(req, "closes_at", "decisions.field_closes_at", v.closes_at, errs,
			{ id = "b-closes_at", type = "datetime-local", hint = "decisions.hint_closes_at" }),
	}
	return page(req, status or 200, "decisions/new.html", {
		table = { id = id, url = "/tafels/" .. id, title = t.title },
		action = "/tafels/" .. id .. "/besluiten",
		step = step, step_title = step_name(req, steps, step),
		step_url = step and ("/tafels/" .. id .. "/stappen/" .. step) or nil,
		fields = fields,
		results_hidden = v.results_hidden == "1", secret = v.secret == "1",
		errors = M.summary(errs, { title = "b-title", proposal = "b-proposal", closes_at = "b-closes_at" }),
	})
end

-- A summary as the templates loop over it (a list of one, or nil).
local function one(x) return x and { x } or nil end

-- The error summary of a form: {text, href} per field error (in ORDER's
-- ids), and the form's own message first.
function M.summary(errors, ids)
	if not errors or next(errors) == nil then return nil end
	local list = {}
	if errors.form then list[1] = { text = errors.form } end
	local names = {}
	for name in pairs(errors) do if name ~= "form" then names[#names + 1] = name end end
	table.sort(names)
	for _, name in ipairs(names) do
		list[#list + 1] = { text = errors[name], href = ids[name] and ("#" .. ids[name]) or nil }
	end
	return list
end

-- The API's refusal as messages by field, and the form's message.
local function api_errors(req, st, body)
	local out = {}
	local e = type(body) == "table" and body.error or {}
	for name, f in pairs(type(e.fields) == "table" and e.fields or {}) do
		local key = "decisions.error_" .. name .. "_" .. tostring(f.code)
		local text = T(req, key)
		if text == key then
			key = "decisions.error_" .. tostring(f.code)
			text = T(req, key)
		end
		out[name] = text ~= key and text or f.message
	end
	if next(out) == nil then
		local key = "decisions.error_" .. tostring(e.code)
		local text = T(req, key)
		if e.code == "refused" and type(e.message) == "string" then
			text = e.message
		elseif text == key then
			text = st == 403 and T(req, "decisions.error_forbidden") or T(req, "decisions.error_save")
		end
		out.form = text
	end
	return out
end

function M.new_form(req, p)
	local id = id_of(p.id)
	if not id then return { status = 404 } end
	if not req.user then return { redirect = "/inloggen" } end
	return new_page(req, id, 200, { step = type(req.query.stap) == "string" and req.query.stap or nil })
end

-- POST /tafels/ID/besluiten: a new decision (its step kept from the form).
function M.create(req, p)
	local id = id_of(p.id)
	if not id then return { status = 404 } end
	local f = req.form
	local args = { title = f.title, proposal = f.proposal, results_hidden = f.results_hidden == "1",
		secret = f.secret == "1" }
	if type(f.step) == "string" and f.step ~= "" then args.step = f.step end
	local errors = {}
	if type(f.closes_at) == "string" and f.closes_at ~= "" then
		args.closes_at = site_steps().datetime_value(f.closes_at)
		if not args.closes_at then errors.closes_at = T(req, "decisions.error_closes_at_invalid") end
	end
	if next(errors) == nil then
		local st, body = plugin.api.post("/tables/" .. id .. "/decisions", args)
		if st == 201 then return { redirect = "/besluiten/" .. body.id } end
		if st ~= 400 and st ~= 409 and st ~= 422 then return refused(st) end
		errors = api_errors(req, st, body)
		if errors.step then errors.form, errors.step = errors.step, nil end
	end
	return new_page(req, id, 400, f, errors)
end

------------------------------------------------------------------ one decision

-- FAILED = {form = which form, errors = {...}, raw = the form typed}.
local function show(req, did, status, failed)
	local st, d = plugin.api.get("/decisions/" .. did)
	if st ~= 200 then return refused(st) end
	local r = plugin.api.batch({ { "GET", "/tables/" .. d.table_id }, { "GET", "/tables/" .. d.table_id .. "/steps" } })
	if r[1].status ~= 200 then return refused(r[1].status) end
	local t = r[1].body
	local steps = r[2].status == 200 and steps_by_id(r[2].body) or {}
	local base = "/besluiten/" .. did
	local failed_form = failed and failed.form
	local errors = failed and failed.errors or {}
	local raw = failed and failed.raw or {}
	local open = d.state == "open"
	local view = {
		id = did, base = base, title = d.title, open = open, closed = not open,
		state_label = T(req, "decisions.state_" .. d.state),
		table = { id = t.id, url = "/tafels/" .. t.id, title = t.title },
		step = step_name(req, steps, d.step_id),
		step_url = d.step_id and steps[d.step_id] and (t.my_role == "facilitator" or t.my_role == "client")
			and ("/tafels/" .. t.id .. "/stappen/" .. d.step_id) or nil,
		proposal_html = plugin.is_html(d.proposal_html) and d.proposal_html or nil,
		proposal = not plugin.is_html(d.proposal_html) and d.proposal or nil,
		secret = d.secret, results_hidden = d.results_hidden,
		opens = when(req, d.opens_at), closes = d.closes_at and when(req, d.closes_at) or nil,
		closed_at = d.closed_at and when(req, d.closed_at) or nil,
		votes_cast = math.tointeger(d.votes_cast) or 0,
		my_vote = d.my_vote and choice_label(req, d, d.my_vote) or nil,
		can_vote = d.can_vote, manage = d.can_manage,
		collective = d.path == "collective",
	}
	view.votes_cast_text = T(req, view.votes_cast == 1 and "decisions.votes_cast_one" or "decisions.votes_cast",
		{ n = view.votes_cast })
	-- The vote: one radio per choice, the person's own vote checked.
	local chosen = failed_form == "vote" and raw.choice or d.my_vote
	view.choices = {}
	for n, c in ipairs(d.choices or {}) do
		view.choices[n] = { id = "keuze-" .. n, value = c.id, label = choice_label(req, d, c.id), checked = c.id == chosen }
	end
	-- The results, when the API gives them: the individual votes and the
	-- room's counts apart, and their totals.
	if type(d.counts) == "table" then
		view.results = {}
		local room_any = false
		for _, c in ipairs(d.choices or {}) do
			local mine = math.tointeger(d.counts[c.id]) or 0
			local room = type(d.room_counts) == "table" and math.tointeger(d.room_counts[c.id]) or 0
			if room > 0 then room_any = true end
			view.results[#view.results + 1] = { label = choice_label(req, d, c.id), votes = mine, room = room,
				total = type(d.totals) == "table" and math.tointeger(d.totals[c.id]) or mine + room }
		end
		view.room_any = room_any
	end
	if type(d.votes) == "table" and #d.votes > 0 then
		view.named = {}
		for _, v in ipairs(d.votes) do
			view.named[#view.named + 1] = { name = v.account and v.account.name or T(req, "tables.former"),
				choice = choice_label(req, d, v.choice) }
		end
	end
	-- After closing: the outcome.
	if not open then
		if d.path == "collective" then
			view.outcome_html = plugin.is_html(d.outcome_html) and d.outcome_html or nil
			view.outcome_text = not view.outcome_html and d.outcome_text or nil
		elseif d.outcome then
			view.outcome = choice_label(req, d, d.outcome)
		else
			view.no_outcome = true
		end
	end
	view.final_html = plugin.is_html(d.final_html) and d.final_html or nil
	view.final_text = not view.final_html and d.final_text or nil
	view.has_final = d.final_text ~= nil
	-- The minority round's points, with the facilitator's marks.
	view.points = {}
	local can_mark = d.can_manage and not open and d.final_text == nil
	for _, pt in ipairs(d.points or {}) do
		local who
		if pt.for_room then who = T(req, "decisions.point_room")
		elseif pt.mine then who = T(req, "decisions.point_mine")
		elseif type(pt.by) == "table" then who = pt.by.name
		else who = T(req, "decisions.point_someone") end
		local mark = failed_form == ("mark-" .. pt.id)
		view.points[#view.points + 1] = {
			id = pt.id, body = pt.body, by = who,
			added = pt.added == true, not_added = pt.added == false, unmarked = pt.added == nil,
			reason = pt.reason,
			mark = can_mark and {
				action = base .. "/punten/" .. pt.id,
				added_id = "punt-" .. pt.id .. "-ja", not_id = "punt-" .. pt.id .. "-nee",
				reason_id = "punt-" .. pt.id .. "-reden",
				added = (mark and raw.added == "1") or (not mark and pt.added == true),
				not_added = (mark and raw.added == "0") or (not mark and pt.added == false),
				reason = mark and raw.reason or pt.reason,
				errors = one(mark and M.summary(errors, { added = "punt-" .. pt.id .. "-ja", reason = "punt-" .. pt.id .. "-reden" })),
				reason_error = mark and errors.reason, added_error = mark and errors.added,
			} or nil,
		}
	end
	view.minority_round = d.path == "vote" and not open
	view.can_add_point = d.can_add_point
	if d.can_add_point then
		local mine = failed_form == "point"
		view.point_form = {
			action = base .. "/punten",
			bodys = { forms().field(req, "body", "decisions.field_point", mine and raw.body or nil, mine and errors or nil,
				{ id = "p-body", textarea = true, rows = 4, max = 5000, hint = "decisions.hint_point" }) },
			-- A facilitator speaks for the room (they lead, they do not vote).
			for_room = d.can_manage,
			errors = one(mine and M.summary(errors, { body = "p-body" })),
		}
	end
	-- The facilitator's forms.
	if d.can_manage then
		if open then
			local rc = failed_form == "room"
			view.room_form = { action = base .. "/zaal", inputs = {},
				errors = one(rc and M.summary(errors, { counts = "zaal-1" })) }
			for n, c in ipairs(d.choices or {}) do
				local cur = type(d.room_counts) == "table" and d.room_counts[c.id]
				view.room_form.inputs[n] = { id = "zaal-" .. n, name = "zaal_" .. c.id, label = choice_label(req, d, c.id),
					value = rc and raw["zaal_" .. c.id] or (cur and tostring(math.tointeger(cur)) or "") }
			end
			view.close_action = base .. "/sluiten"
			local co = failed_form == "collective"
			view.collective_form = {
				action = base .. "/gezamenlijk",
				outcomes = { forms().field(req, "outcome", "decisions.field_collective", co and raw.outcome or nil,
					co and errors or nil, { id = "c-outcome", textarea = true, rows = 5, max = 20000, hint = "tables.hint_markdown" }) },
				errors = one(co and M.summary(errors, { outcome = "c-outcome" })),
			}
			view.close_errors = failed_form == "close" and one(M.summary(errors, {})) or nil
		else
			local fi = failed_form == "final"
			view.final_form = {
				action = base .. "/besluittekst",
				texts = { forms().field(req, "final_text", "decisions.field_final", fi and raw.final_text or d.final_text,
					fi and errors or nil, { id = "f-final", textarea = true, rows = 6, max = 20000, hint = "decisions.hint_final" }) },
				errors = one(fi and M.summary(errors, { final_text = "f-final" })),
			}
		end
	end
	-- Why a voter cannot vote on an open decision: its closing time has
	-- passed (it is closed shortly), or voting has not opened yet.
	if open and not d.can_vote then
		local now = os.time()
		local closes = d.closes_at and site_steps().parse_iso(d.closes_at)
		local opens = d.opens_at and site_steps().parse_iso(d.opens_at)
		if closes and closes <= now then
			view.voting_over = true
		elseif opens and opens > now then
			view.not_yet = true
		end
	end
	-- "Your vote": while open, or once one was cast or refused.
	view.vote_section = open or view.my_vote ~= nil or failed_form == "vote"
	if failed_form == "vote" then view.vote_errors = one(M.summary(errors, { choice = "keuze-1" })) end
	if failed_form == "point" and not view.point_form then view.point_refused = one(M.summary(errors, {})) end
	view.signin = not req.user
	return page(req, status or 200, "decisions/decision.html", view)
end

local by_decision = forms().by_id

M.show = by_decision(function(req, did)
	return show(req, did)
end)

-- A change: on success back to the decision (at ANCHOR); a 400, 403, 409
-- or 422 is shown on the decision's page by form FORM.
local function change(req, did, form, method, path, args, anchor)
	local st, body = plugin.api[method](path, args)
	if st == 200 or st == 201 then return { redirect = "/besluiten/" .. did .. (anchor or "") } end
	if st ~= 400 and st ~= 403 and st ~= 409 and st ~= 422 then return refused(st) end
	-- A refusal of the table itself (not at it, no such decision) is a 404.
	return show(req, did, st, { form = form, errors = api_errors(req, st, body), raw = req.form })
end

M.vote = by_decision(function(req, did)
	local choice = req.form.choice
	if type(choice) ~= "string" or choice == "" then
		return show(req, did, 400, { form = "vote", errors = { choice = T(req, "decisions.error_choice_required") },
			raw = req.form })
	end
	return change(req, did, "vote", "put", "/decisions/" .. did .. "/vote", { choice = choice }, "#stem")
end)

M.room = by_decision(function(req, did)
	local st, d = plugin.api.get("/decisions/" .. did)
	if st ~= 200 then return refused(st) end
	local counts, bad = {}, false
	for _, c in ipairs(d.choices or {}) do
		local s = req.form["zaal_" .. c.id]
		if type(s) == "string" then s = s:gsub("^%s+", ""):gsub("%s+$", "") end
		if s ~= nil and s ~= "" then
			local n = s:match("^%d+$") and #s <= 6 and math.tointeger(tonumber(s))
			if not n then bad = true else counts[c.id] = n end
		end
	end
	if bad or next(counts) == nil then
		return show(req, did, 400, { form = "room", raw = req.form,
			errors = { counts = T(req, bad and "decisions.error_counts_invalid" or "decisions.error_counts_required") } })
	end
	return change(req, did, "room", "put", "/decisions/" .. did .. "/room", { counts = counts }, "#uitslag")
end)

M.close = by_decision(function(req, did)
	return change(req, did, "close", "post", "/decisions/" .. did .. "/close", nil, "#uitkomst")
end)

M.collective = by_decision(function(req, did)
	return change(req, did, "collective", "post", "/decisions/" .. did .. "/collective",
		{ outcome = req.form.outcome }, "#uitkomst")
end)

M.point = by_decision(function(req, did)
	return change(req, did, "point", "post", "/decisions/" .. did .. "/points",
		{ body = req.form.body, for_room = req.form.for_room == "1" or nil }, "#minderheid")
end)

function M.mark(req, p)
	local did, pid = id_of(p.id), id_of(p.point)
	if not did or not pid then return { status = 404 } end
	local f = req.form
	local form = "mark-" .. pid
	if f.added ~= "1" and f.added ~= "0" then
		return show(req, did, 400, { form = form, raw = f, errors = { added = T(req, "decisions.error_added_required") } })
	end
	local args = { added = f.added == "1" }
	if type(f.reason) == "string" and f.reason:match("%S") then args.reason = f.reason end
	return change(req, did, form, "post", "/decisions/" .. did .. "/points/" .. pid, args, "#punt-" .. pid)
end

M.final = by_decision(function(req, did)
	return change(req, did, "final", "put", "/decisions/" .. did .. "/final", { final_text = req.form.final_text },
		"#besluittekst")
end)

return M
