-- The method (DESIGN.md, "The process the software carries"): its seven
-- step types, the records each keeps, the guards that say when a step may
-- complete, and two workflows, `volledig` (all seven) and `kort` (for a
-- citizens' initiative). Built on the workflow engine only: the core
-- checks the records' fields and who reads and writes them; this file
-- adds what the method means (an accepted quote, an approved run-sheet).
-- A municipality names it in tenant.lua: plugins = { methode = { ... } }.

-- Options: how strict the guards are (docs/plugins.md, "The methode plugin").
-- The interviews' two are editable by the municipality's admins at
-- /beheer/instellingen: the guard reads them when it runs (plugin.setting).
local question_prefix = plugin.option("question_prefix", "boolean", true)
plugin.option("min_interviews", "integer", 2, { min = 0, max = 50 },
	{ nl = "Minimaal aantal interviews voor de stap Interviews", en = "Interviews the interviews step needs at least" })
plugin.option("seldom_heard", "boolean", true,
	nil, { nl = "Eén interview met een zelden gehoorde speler is verplicht",
		en = "One interview must be with a seldom-heard player" })
local client_decides = plugin.option("client_decides", "boolean", true)

local PREFIX = "Wat is ervoor nodig zodat"
local MAX_PAGES = 20   -- 2,000 records of one kind: far more than a table keeps

---------------------------------------------------------------- reading

-- Every record of KIND in the table's step STEP_ID (nil: any step) that
-- the person asking reads, oldest first.
local function records(table_id, step_id, kind)
	local out, cursor = {}, nil
	for _ = 1, MAX_PAGES do
		local status, page = plugin.api.get("/tables/" .. table_id .. "/records",
			{ step = step_id, kind = kind, limit = 100, cursor = cursor })
		if status ~= 200 then break end
		for _, r in ipairs(page.items) do out[#out + 1] = r end
		cursor = page.next_cursor
		if type(cursor) ~= "string" then break end
	end
	return out
end

-- The newest of RECORDS (by id), or nil.
local function newest(list)
	local best
	for _, r in ipairs(list) do
		if not best or r.id > best.id then best = r end
	end
	return best
end

-- The fields of ITEM (an agenda item) as the approval at time AT and the
-- deviations the client agreed to (AGREED["id/version"]) describe it: its
-- newest version that the client agreed to after AT, else its newest
-- version saved by AT, else nil (it did not exist then).
local function agreed_version(item, at, agreed)
	local status, v = plugin.api.get("/records/" .. tostring(item.id) .. "/versions")
	if status ~= 200 then return nil end
	for _, x in ipairs(v.items) do                -- newest first
		if x.saved_at <= at then return x.fields end
		if agreed[tostring(item.id) .. "/" .. tostring(x.version)] == "agreed" then return x.fields end
	end
	return nil
end

-- Whether two versions of an agenda item (nil: not there) describe the
-- same part of the run-sheet: the same fields, leaving out the reason; a
-- removed item is one that is not there.
local function same_item(a, b)
	if a and a.removed == true then a = nil end
	if b and b.removed == true then b = nil end
	if a == nil or b == nil then return a == b end
	for k, v in pairs(a) do
		if k ~= "reason" and b[k] ~= v then return false end
	end
	for k, v in pairs(b) do
		if k ~= "reason" and a[k] ~= v then return false end
	end
	return true
end

local function refuse(key, vars) return false, plugin.t("methode.refuse." .. key, vars) end

---------------------------------------------------------------- step types

-- 1. Intake: the central question is sharpened (it is the table's own
-- question), the players are mapped, duration and cost agreed; work
-- starts once the client has accepted the quote.
plugin.step_type{
	id = "intake", name = "methode.intake",
	records = {
		player = { visible = "client", fields = {
			name = { type = "text", required = true, max = 200 },
			organisation = { type = "text", max = 200 },
			role = { type = "text", max = 200 },
			central = { type = "bool" },          -- central according to others
			seldom_heard = { type = "bool" },
			contact = { type = "text", max = 500 },
			consent = { type = "bool" },          -- agreed to be contacted
		} },
		agreement = { visible = "client", fields = {
			duration = { type = "text", required = true, max = 500 },
			cost = { type = "cents" },
			note = { type = "markdown", max = 5000 },
		} },
		quote = { visible = "client", write = "client", fields = {
			amount = { type = "cents", required = true },
			description = { type = "markdown", max = 10000 },
			status = { type = "choice", required = true, choices = { "draft", "sent", "accepted", "declined" } },
		} },
	},
	guard = function(tbl, step)
		if question_prefix and (type(tbl.question) ~= "string" or tbl.question:sub(1, #PREFIX) ~= PREFIX) then
			return refuse("question", { prefix = PREFIX })
		end
		for _, q in ipairs(records(tbl.id, step.id, "quote")) do
			if q.fields.status == "accepted" then return nil end
		end
		return refuse("quote")
	end,
}

-- 2. Interviews with players: those others call central and those seldom
-- heard; each tests the central question.
plugin.step_type{
	id = "interviews", name = "methode.interviews",
	records = {
		interview = { visible = "facilitators", fields = {
			player = { type = "ref", kind = "player", required = true },   -- a player of the intake
			held_on = { type = "date" },
			question = { type = "choice", choices = { "held", "reworded" } },
			new_wording = { type = "text", max = 500 },
			perspectives = { type = "text", max = 1000 },  -- tags, separated by commas
			notes = { type = "markdown", max = 20000 },
		} },
	},
	guard = function(tbl, step)
		local list = records(tbl.id, step.id, "interview")
		local min_interviews = plugin.setting("min_interviews")
		if #list < min_interviews then
			return refuse("interviews", { count = #list, min = min_interviews })
		end
		if plugin.setting("seldom_heard") then
			-- The players once (one page of reads), not one read per interview.
			local seldom = {}
			for _, p in ipairs(records(tbl.id, nil, "player")) do
				if p.fields.seldom_heard == true then seldom[p.id] = true end
			end
			for _, i in ipairs(list) do
				if seldom[i.fields.player] then return nil end
			end
			return refuse("seldom_heard")
		end
	end,
}

-- 3. The run-sheet, agreed with the client: agenda items and the client's
-- approvals. Once the newest approval approves, the run-sheet is the
-- recorded design: every change of an item after it is a deviation that
-- carries its `reason` (record.before_save below refuses one without), an
-- item is taken out by marking it `removed` (its versions stay), and the
-- client answers each deviation with a `deviation` record naming the
-- item's version (agreed or declined). The items' versions are the
-- run-sheet's versions; the client reads them as the facilitators do.
plugin.step_type{
	id = "draaiboek", name = "methode.draaiboek",
	records = {
		agenda_item = { visible = "client", fields = {
			start = { type = "text", required = true, max = 20 },   -- e.g. 19:30
			duration = { type = "int" },                             -- minutes
			activity = { type = "text", required = true, max = 500 },
			working_form = { type = "text", max = 200 },
			who = { type = "text", max = 200 },
			removed = { type = "bool" },                             -- taken out of the run-sheet
			reason = { type = "markdown", max = 2000 },             -- why this version deviates
		} },
		approval = { visible = "client", write = "client", fields = {
			decision = { type = "choice", required = true, choices = { "approved", "changes_requested" } },
			note = { type = "markdown", max = 5000 },
		} },
		deviation = { visible = "client", write = "client", fields = {
			item = { type = "ref", required = true, kind = "agenda_item" },   -- the agenda item
			version = { type = "int", required = true },             -- its version that deviates
			decision = { type = "choice", required = true, choices = { "agreed", "declined" } },
			note = { type = "markdown", max = 5000 },
		} },
	},
	guard = function(tbl, step)
		local items = records(tbl.id, step.id, "agenda_item")
		local kept = 0
		for _, item in ipairs(items) do
			if item.fields.removed ~= true then kept = kept + 1 end
		end
		if kept == 0 then return refuse("no_agenda") end
		local last = newest(records(tbl.id, step.id, "approval"))
		if not last or last.fields.decision ~= "approved" then return refuse("not_approved") end
		-- The client's newest answer to each item's version.
		local answers = {}
		for _, d in ipairs(records(tbl.id, step.id, "deviation")) do
			answers[tostring(d.fields.item) .. "/" .. tostring(d.fields.version)] = d.fields.decision
		end
		-- Timestamps in the database's one ISO form compare as strings.
		for _, item in ipairs(items) do
			if item.updated_at > last.updated_at
				and not same_item(agreed_version(item, last.updated_at, answers), item.fields) then
				local vars = { activity = item.fields.activity }
				if answers[tostring(item.id) .. "/" .. tostring(item.version)] == "declined" then
					return refuse("deviation_declined", vars)
				end
				return refuse("deviation_open", vars)
			end
		end
	end,
}

-- 4. and 5. The conversation and its outcome: the table's groups and
-- conversation carry them; the outcome step's page offers the table's
-- decisions (Deep Democracy, pages.lua: decisions made there belong to
-- the step); meetings come later.
plugin.step_type{
	id = "gesprek", name = "methode.gesprek",
	records = {
		note = { visible = "people", fields = {
			body = { type = "markdown", required = true },
			held_on = { type = "date" },
		} },
	},
}

plugin.step_type{
	id = "opbrengst", name = "methode.opbrengst",
	records = {
		outcome = { visible = "readers", fields = {
			decision = { type = "markdown", required = true },
			minority = { type = "markdown" },     -- the minority's wisdom added to it
		} },
	},
}

-- 6. The report: advice for what comes next (for the client first), and
-- the report the facilitator publishes for whoever reads the table.
plugin.step_type{
	id = "verslag", name = "methode.verslag",
	records = {
		advice = { visible = "client", fields = {
			title = { type = "text", required = true, max = 300 },
			body = { type = "markdown" },
		} },
		report = { visible = "readers", fields = {
			summary = { type = "markdown", required = true },
			published_on = { type = "date" },
		} },
	},
	guard = function(tbl, step)
		if #records(tbl.id, step.id, "report") == 0 then return refuse("no_report") end
	end,
}

-- 7. The closing conversation with the client; completing it closes the
-- table.
plugin.step_type{
	id = "evaluatie", name = "methode.evaluatie",
	records = {
		evaluation = { visible = "client", write = "client", fields = {
			went_well = { type = "markdown" },
			learned = { type = "markdown" },
			follows = { type = "markdown" },
		} },
	},
	guard = function(tbl, step)
		if #records(tbl.id, step.id, "evaluation") == 0 then return refuse("no_evaluation") end
	end,
	on_complete = function(ev)
		local status, body = plugin.api.patch("/tables/" .. ev.table_id, { status = "closed" })
		if status ~= 200 then
			error("closing table " .. tostring(ev.table_id) .. ": " .. tostring(status) .. " "
				.. tostring(type(body) == "table" and body.error and body.error.message))
		end
	end,
}

plugin.workflow{ id = "volledig", name = "methode.volledig",
	steps = { "intake", "interviews", "draaiboek", "gesprek", "opbrengst", "verslag", "evaluatie" } }
plugin.workflow{ id = "kort", name = "methode.kort", steps = { "intake", "gesprek", "opbrengst", "verslag" } }

---------------------------------------------------------------- the client's decisions

-- The quote, the run-sheet's approval and the answers to its deviations
-- are the client's to decide: the client may only accept or decline a
-- quote that was sent, and (unless client_decides is off) nobody else may
-- accept, decline, approve, agree or decline. Once the run-sheet is
-- approved, a facilitator's change of an agenda item (a new one, a
-- change, `removed`) must give its `reason`. The core already limits who
-- writes which kind; this says what they write.
local DECISIONS = { quote = "intake", approval = "draaiboek", agenda_item = "draaiboek", deviation = "draaiboek" }

local function given(v) return type(v) == "string" and v:find("%S") ~= nil end

local function lists(list, name)
	for _, v in ipairs(list or {}) do
		if v == name then return true end
	end
	return false
end

-- A change of agenda item R after an approval: with a reason.
local function check_item(r, tbl, step_id)
	local last = newest(records(tbl.id, step_id, "approval"))
	if last and last.fields.decision == "approved"
		and (not given(r.fields.reason) or lists(r.remove, "reason")) then
		return refuse("deviation_reason")
	end
end

-- The client's answer R to a deviation: it names one of the step's agenda
-- items and a version it had, and keeps naming them.
local function check_deviation(r, tbl, step_id, current)
	local client = tbl.my_role == "client"
	if client_decides and not client then return refuse("deviation_by_client") end
	local item, version = r.fields.item, r.fields.version
	if current then
		if (item ~= nil and item ~= current.item) or (version ~= nil and version ~= current.version) then
			return refuse("deviation_fixed")
		end
		item, version = current.item, current.version
	end
	item, version = math.tointeger(item), math.tointeger(version)
	if not item or not version then return nil end   -- the core names the bad field
	local status, rec = plugin.api.get("/records/" .. tostring(item))
	if status ~= 200 or rec.table_id ~= tbl.id or rec.step_id ~= step_id or rec.kind ~= "agenda_item"
		or version < 1 or version > rec.version then
		return refuse("deviation_item")
	end
end

plugin.hook("record.before_save", function(r)
	local table_id, step_id, kind, current
	if r.method == "POST" then                -- a new record: r.id is the table's
		table_id, step_id, kind = r.id, r.step, r.kind
	else
		local status, rec = plugin.api.get("/records/" .. tostring(r.id))
		if status ~= 200 then return nil end
		table_id, step_id, kind, current = rec.table_id, rec.step_id, rec.kind, rec.fields
	end
	if type(kind) ~= "string" or not DECISIONS[kind] or type(r.fields) ~= "table"
		or (r.remove ~= nil and type(r.remove) ~= "table") then
		return nil                            -- not a decision, or the core refuses it
	end
	local status, tbl = plugin.api.get("/tables/" .. tostring(table_id))
	if status ~= 200 or (tbl.my_role ~= "client" and tbl.my_role ~= "facilitator") then return nil end
	local _, s = plugin.api.get("/tables/" .. tostring(table_id) .. "/steps")
	local ty
	for _, step in ipairs(type(s) == "table" and s.steps or {}) do
		if step.id == step_id then ty = step.type end
	end
	if ty ~= DECISIONS[kind] then return nil end   -- another plugin's kind of the same name
	local client = tbl.my_role == "client"
	if kind == "approval" then
		if client_decides and not client then return refuse("approval_by_client") end
		return nil
	elseif kind == "agenda_item" then
		if client then return nil end          -- the core refuses the client
		return check_item(r, tbl, step_id)
	elseif kind == "deviation" then
		return check_deviation(r, tbl, step_id, current)
	end
	local new = r.fields.status
	if client then
		local only_status = next(r.fields, next(r.fields)) == nil and r.fields.status ~= nil
			and (r.remove == nil or next(r.remove) == nil)
		if not current or current.status ~= "sent" or not only_status
			or (new ~= "accepted" and new ~= "declined") then
			return refuse("client_quote")
		end
	elseif client_decides and (new == "accepted" or new == "declined")
		and (not current or current.status ~= new) then
		return refuse("quote_by_client")
	end
end)

---------------------------------------------------------------- the method's pages

-- The interviews' coverage and the report (pages.lua, loaded on first
-- use). A step's page (the site's steps/step.html) gets the method's own
-- section through page.view: the view names the step, its type and
-- name, and its table; a hook adds {title, html} to view.sections.
local pages = plugin.module("pages")

plugin.hook("page.view", function(template, view)
	if template ~= "steps/step.html" or type(view.step) ~= "table" or type(view.sections) ~= "table" then
		return nil
	end
	local section
	if view.step.name == "methode.interviews" then
		section = pages().coverage_section(view)
	elseif view.step.name == "methode.gesprek" then
		section = pages().meetings_section(view)
	elseif view.step.name == "methode.opbrengst" then
		section = pages().decisions_section(view)
	elseif view.step.name == "methode.verslag" then
		section = pages().report_section(view)
	end
	if section then view.sections[#view.sections + 1] = section end
	return nil
end)

plugin.route("GET", "/tafels/:id/verslag", function(req, params) return pages().report(req, params) end)
plugin.route("GET", "/tafels/:id/verslag.pdf", function(req, params) return pages().report_pdf(req, params) end)
