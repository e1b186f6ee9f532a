-- The method's own views: the interviews' coverage (which players were
-- heard, the seldom heard marked), shown on the interviews step's page,
-- the decisions of the outcome step, shown on its page, and the report:
-- one document built from everything the table kept before it (the
-- question, the players and who was heard, the interviews' perspectives,
-- the conversation's notes, the outcomes with the minority's wisdom, the
-- closed decisions with their outcome, the minority's points and what was
-- added, the advice, the report's summary, and the evaluation once its
-- step is done), rendered
-- as the page /tafels/ID/verslag with print CSS. The document is plain
-- data (strings, numbers, booleans, lists), so that a later PDF renderer
-- can render the same one. Everything is read through plugin.api as the
-- person asking: what they may not read is not in their document.
-- Loaded on first use (plugin.module).

local M = {}

local MAX_PAGES = 20

local function T(req, key, vars)
	return plugin.t(key, vars, req.lang)
end

-- Every record of the table the person reads, oldest first; nil and the
-- status when the table is not theirs to read.
local function all_records(table_id)
	local out, cursor = {}, nil
	for _ = 1, MAX_PAGES do
		local st, page = plugin.api.get("/tables/" .. table_id .. "/records", { limit = 100, cursor = cursor })
		if st ~= 200 then return nil, st end
		for _, r in ipairs(page.items) do out[#out + 1] = r end
		cursor = page.next_cursor
		if type(cursor) ~= "string" then break end
	end
	return out
end

-- The records of the table by the step type that keeps them (a tenant's
-- workflow may give a step another id): type -> kind -> list.
local function by_type(steps, records)
	local types = {}
	for _, s in ipairs(steps) do types[s.id] = s.type end
	local out = {}
	for _, r in ipairs(records) do
		local ty = types[r.step_id]
		if ty then
			out[ty] = out[ty] or {}
			out[ty][r.kind] = out[ty][r.kind] or {}
			table.insert(out[ty][r.kind], r)
		end
	end
	return function(ty, kind) return out[ty] and out[ty][kind] or {} end
end

------------------------------------------------------------------ coverage

-- The players of the intake and their interviews: {name, url, interviews,
-- heard, seldom_heard, central}, the seldom heard first among the unheard.
function M.coverage(records_of)
	local heard = {}
	for _, i in ipairs(records_of("interviews", "interview")) do
		local p = i.fields.player
		if p ~= nil then heard[p] = (heard[p] or 0) + 1 end
	end
	local list = {}
	for _, p in ipairs(records_of("intake", "player")) do
		list[#list + 1] = {
			id = p.id, name = p.fields.name, organisation = p.fields.organisation, url = "/vastleggingen/" .. p.id,
			interviews = heard[p.id] or 0, heard = (heard[p.id] or 0) > 0,
			seldom_heard = p.fields.seldom_heard == true, central = p.fields.central == true,
		}
	end
	table.sort(list, function(a, b)
		if a.heard ~= b.heard then return not a.heard end
		if a.seldom_heard ~= b.seldom_heard then return a.seldom_heard end
		return a.id < b.id
	end)
	return list
end

-- The section for the interviews step's page (a page.view hook on
-- steps/step.html): safe HTML, or nil when there is nothing to show.
function M.coverage_section(view)
	local id = view.step.table_id
	local records = all_records(id)
	if not records then return nil end
	local st, s = plugin.api.get("/tables/" .. id .. "/steps")
	if st ~= 200 then return nil end
	local players = M.coverage(by_type(s.steps, records))
	local heard = 0
	for _, p in ipairs(players) do if p.heard then heard = heard + 1 end end
	return {
		title = plugin.t("methode.page.coverage", nil, view.lang),
		html = plugin.render("coverage.html", {
			players = players,
			summary = plugin.t("methode.page.coverage_heard", { heard = heard, total = #players }, view.lang),
		}, view.lang),
	}
end

-- The verslag step's page links to the report.
function M.report_section(view)
	return {
		title = plugin.t("methode.page.report_section", nil, view.lang),
		html = plugin.render("report_link.html", { url = "/tafels/" .. view.step.table_id .. "/verslag" }, view.lang),
	}
end

-- The outcome step's page (opbrengst) offers decisions: the decisions
-- made in this step (the site's /besluiten/ID pages), and for the
-- table's facilitators the way to put a new one forward in it (the
-- site's /tafels/ID/besluiten/nieuw?stap=STEP, so that it belongs to the
-- step).
function M.decisions_section(view)
	local id, step = view.step.table_id, view.step.id
	local r = plugin.api.batch({ { "GET", "/tables/" .. id }, { "GET", "/tables/" .. id .. "/decisions", { limit = 100 } } })
	if r[1].status ~= 200 or r[2].status ~= 200 then return nil end
	local list = {}
	for _, d in ipairs(r[2].body.items) do
		if d.step_id == step then
			list[#list + 1] = { url = "/besluiten/" .. d.id, title = d.title,
				state = plugin.t("methode.page.decision_" .. d.state, nil, view.lang) }
		end
	end
	return {
		title = plugin.t("methode.page.decisions", nil, view.lang),
		html = plugin.render("decisions.html", {
			decisions = list,
			new_url = r[1].body.my_role == "facilitator" and ("/tafels/" .. id .. "/besluiten/nieuw?stap=" .. step) or nil,
		}, view.lang),
	}
end

-- The conversation step's page (gesprek) offers meetings: the meetings
-- planned in this step (the site's /bijeenkomsten/ID pages), and for the
-- table's facilitators the way to plan one in it (the site's
-- /tafels/ID/bijeenkomsten/nieuw?stap=STEP, so that it belongs to the
-- step).
function M.meetings_section(view)
	local id, step = view.step.table_id, view.step.id
	local r = plugin.api.batch({ { "GET", "/tables/" .. id }, { "GET", "/tables/" .. id .. "/meetings", { limit = 100 } } })
	if r[1].status ~= 200 or r[2].status ~= 200 then return nil end
	local list = {}
	for _, m in ipairs(r[2].body.items) do
		if m.step_id == step then
			list[#list + 1] = { url = "/bijeenkomsten/" .. m.id, title = m.title,
				starts = type(m.starts_local) == "string" and (m.starts_local:sub(1, 10) .. " " .. m.starts_local:sub(12, 16)) or nil,
				cancelled = m.state == "cancelled" }
		end
	end
	return {
		title = plugin.t("methode.page.meetings", nil, view.lang),
		html = plugin.render("meetings.html", {
			meetings = #list > 0 and list or nil,
			new_url = r[1].body.my_role == "facilitator" and ("/tafels/" .. id .. "/bijeenkomsten/nieuw?stap=" .. step) or nil,
		}, view.lang),
	}
end

------------------------------------------------------------------ the report

-- The table's meetings whose attendance was recorded (which is done once
-- they have begun), by start: the number present (registered who came
-- and walk-ins), and the names of those who came when the person reads
-- the registrations' names (the table's facilitators and its client;
-- docs/api.md, "Meetings").
local function held_meetings(table_id)
	local out = {}
	local st, page = plugin.api.get("/tables/" .. table_id .. "/meetings", { limit = 100 })
	if st ~= 200 then return out end
	for _, m in ipairs(page.items) do
		if m.state == "planned" and type(m.attendance) == "table" then
			local came = math.tointeger(m.attendance.attended) or 0
			local walk = math.tointeger(m.attendance.walk_ins) or 0
			out[#out + 1] = { id = m.id, title = m.title, step_id = m.step_id, starts_at = m.starts_at,
				held_on = type(m.starts_local) == "string" and m.starts_local:sub(1, 10) or nil,
				place = type(m.place) == "string" and m.place or nil,
				online_url = type(m.online_url) == "string" and m.online_url or nil,
				registered = math.tointeger(m.registered) or 0,
				attendance = { present = came + walk, registered = came, walk_ins = walk } }
		end
	end
	-- Who came, by name, read a batch at a time (eight meetings a round
	-- trip, not one each).
	for first = 1, #out, 8 do
		local calls = {}
		for i = first, math.min(first + 7, #out) do
			calls[#calls + 1] = { "GET", "/meetings/" .. out[i].id .. "/registrations" }
		end
		local answers = plugin.api.batch(calls)
		for k, a in ipairs(answers) do
			local item = out[first + k - 1]
			if a.status == 200 and type(a.body.items) == "table" then
				item.attendees = {}
				for _, g in ipairs(a.body.items) do
					if g.attended == true and type(g.name) == "string" then item.attendees[#item.attendees + 1] = g.name end
				end
			end
		end
	end
	return out
end

-- Every closed decision of the table the person reads, oldest first.
local function closed_decisions(table_id)
	local out, cursor = {}, nil
	for _ = 1, MAX_PAGES do
		local st, page = plugin.api.get("/tables/" .. table_id .. "/decisions", { limit = 100, cursor = cursor })
		if st ~= 200 then return out end
		for _, d in ipairs(page.items) do
			if d.state == "closed" then out[#out + 1] = d end
		end
		cursor = page.next_cursor
		if type(cursor) ~= "string" then break end
	end
	table.sort(out, function(a, b) return a.id < b.id end)
	return out
end

-- A decision in the document (plain data): its proposal, the counts per
-- choice (individual votes and the room's apart; nil while the API hides
-- them), the majority's outcome or the shared one, the minority's points
-- with what was added, and the final text. Markdown parts name the
-- decision and field they came from.
local function decision_part(d)
	local function mdd(field, text)
		if type(text) ~= "string" or text == "" then return nil end
		return { markdown = text, decision = d.id, field = field }
	end
	local choices = {}
	for _, c in ipairs(d.choices or {}) do
		local votes = type(d.counts) == "table" and math.tointeger(d.counts[c.id]) or nil
		local room = type(d.room_counts) == "table" and math.tointeger(d.room_counts[c.id]) or nil
		choices[#choices + 1] = { id = c.id, label = { nl = c.label and c.label.nl, en = c.label and c.label.en },
			votes = votes and votes or (type(d.counts) == "table" and 0 or nil),
			room = room and room or (type(d.room_counts) == "table" and 0 or nil),
			total = type(d.totals) == "table" and math.tointeger(d.totals[c.id]) or nil }
	end
	local points = {}
	for _, p in ipairs(d.points or {}) do
		points[#points + 1] = { body = p.body, for_room = p.for_room == true, added = p.added, reason = p.reason }
	end
	return {
		id = d.id, title = d.title, step_id = d.step_id, path = d.path, closed_at = d.closed_at,
		proposal = mdd("proposal", d.proposal), choices = choices, outcome = d.outcome,
		shared_outcome = mdd("outcome", d.outcome_text), points = points, final = mdd("final", d.final_text),
	}
end

-- Perspectives "groen, spelen" of every interview, counted: {name, count},
-- the most named first.
local function themes(interviews)
	local count, first = {}, {}
	for _, i in ipairs(interviews) do
		local p = i.fields.perspectives
		if type(p) == "string" then
			for part in p:gmatch("[^,;]+") do
				local name = part:gsub("^%s+", ""):gsub("%s+$", "")
				if name ~= "" then
					local key = name:lower()
					if not count[key] then first[#first + 1] = key; count[key] = { name = name, count = 0 } end
					count[key].count = count[key].count + 1
				end
			end
		end
	end
	local out = {}
	for n, key in ipairs(first) do out[n] = { name = count[key].name, count = count[key].count, order = n } end
	table.sort(out, function(a, b)
		if a.count ~= b.count then return a.count > b.count end
		return a.order < b.order
	end)
	for _, t in ipairs(out) do t.order = nil end
	return out
end

-- A Markdown field of a record in the document: its text and where it
-- came from (the page renders the record's HTML of it).
local function md(r, name)
	local v = r.fields[name]
	if type(v) ~= "string" or v == "" then return nil end
	return { markdown = v, record = r.id, field = name }
end

-- The report's document for table ID as the person asking reads it (in
-- LANG: a report.layout hook may write words of its own); nil and a
-- status (404 when there is no published report for them).
function M.document(id, lang)
	local base = "/tables/" .. id
	local r = plugin.api.batch({ { "GET", base }, { "GET", base .. "/steps" } })
	if r[1].status ~= 200 then return nil, r[1].status end
	if r[2].status ~= 200 then return nil, r[2].status end
	local tbl, steps = r[1].body, r[2].body.steps
	local records, st = all_records(id)
	if not records then return nil, st end
	local of = by_type(steps, records)
	local reports = of("verslag", "report")
	local report = reports[#reports]
	if not report then return nil, 404 end
	local doc = {
		format = "aantafel.report/1",
		table = { id = tbl.id, title = tbl.title, question = tbl.question },
		published_on = report.fields.published_on,
		updated_at = report.updated_at,
		summary = md(report, "summary"),
		question = { text = tbl.question, rewordings = {} },
		players = {},
		themes = themes(of("interviews", "interview")),
		conversation = {},
		outcomes = {},
		advice = {},
		-- The sections in their order: names of the parts above, or a
		-- plugin's own {id, title, body = {markdown}} (report.sections).
		sections = { "question", "summary", "players", "themes", "conversation", "meetings", "outcomes",
			"decisions", "advice", "evaluation" },
		evaluation = {},
		decisions = {},
		meetings = held_meetings(id),
	}
	for _, i in ipairs(of("interviews", "interview")) do
		if i.fields.question == "reworded" and type(i.fields.new_wording) == "string" then
			table.insert(doc.question.rewordings, i.fields.new_wording)
		end
	end
	for _, p in ipairs(M.coverage(of)) do
		doc.players[#doc.players + 1] = { name = p.name, organisation = p.organisation, central = p.central,
			seldom_heard = p.seldom_heard, heard = p.heard }
	end
	table.sort(doc.players, function(a, b) return tostring(a.name) < tostring(b.name) end)
	for _, n in ipairs(of("gesprek", "note")) do
		doc.conversation[#doc.conversation + 1] = { held_on = n.fields.held_on, body = md(n, "body") }
	end
	for _, o in ipairs(of("opbrengst", "outcome")) do
		doc.outcomes[#doc.outcomes + 1] = { decision = md(o, "decision"), minority = md(o, "minority") }
	end
	for _, a in ipairs(of("verslag", "advice")) do
		doc.advice[#doc.advice + 1] = { title = a.fields.title, body = md(a, "body") }
	end
	-- The evaluation with the client, once its step is done: before, it
	-- is a conversation still going on. Who may not read the records
	-- (they are the client's) has none here.
	local evaluated = false
	for _, s in ipairs(steps) do
		if s.type == "evaluatie" and s.state == "done" then evaluated = true end
	end
	if evaluated then
		for _, e in ipairs(of("evaluatie", "evaluation")) do
			local part = { held_on = type(e.created_at) == "string" and e.created_at:sub(1, 10) or nil,
				went_well = md(e, "went_well"), learned = md(e, "learned"), follows = md(e, "follows") }
			if part.went_well or part.learned or part.follows then doc.evaluation[#doc.evaluation + 1] = part end
		end
	end
	-- Every closed decision of the table, with the minority's wisdom.
	local dhtml = {}
	for _, d in ipairs(closed_decisions(id)) do
		doc.decisions[#doc.decisions + 1] = decision_part(d)
		dhtml[d.id] = { proposal = d.proposal_html, outcome = d.outcome_html, final = d.final_html }
	end
	local html = {}
	for _, rec in ipairs(records) do html[rec.id] = rec.fields_html end
	plugin.report_sections(doc, lang)
	return doc, 200, html, dhtml
end

-- "2026-06-01" as "1 juni 2026".
local MONTHS = {
	nl = { "januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
		"november", "december" },
	en = { "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
		"November", "December" },
}
local function date_text(lang, s)
	local y, m, d = tostring(s):match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
	local names = MONTHS[lang] or MONTHS.nl
	if not y or not names[tonumber(m)] then return s end
	if lang == "en" then return names[tonumber(m)] .. " " .. tonumber(d) .. ", " .. y end
	return tonumber(d) .. " " .. names[tonumber(m)] .. " " .. y
end

-- A Markdown part of the document for the page: the record's HTML of it
-- when the API gives it, else its text (escaped by the template).
local function part(html, m, dhtml)
	if not m then return nil end
	local h = html[m.record]
	if m.decision then h = dhtml and dhtml[m.decision] end
	local safe = type(h) == "table" and h[m.field]
	if safe and plugin.is_html(safe) then return { html = safe } end
	return { text = m.markdown }
end

-- The table's id in the path, and its document as the person asking
-- reads it; nil and the answer when there is none for them.
local function requested(req, p)
	local id = type(p.id) == "string" and p.id:match("^[1-9]%d*$") and #p.id <= 18 and math.tointeger(tonumber(p.id))
	if not id then return nil, { status = 404 } end
	local doc, st, html, dhtml = M.document(id, req.lang)
	if not doc then
		if st == 401 then return nil, { redirect = "/inloggen" } end
		if st == 503 then return nil, { status = 503 } end
		return nil, { status = 404 }
	end
	return id, doc, html, dhtml
end

-- The parts of the document the page shows, by their section names.
local PAGE_SECTIONS = { question = true, summary = true, players = true, themes = true, conversation = true,
	meetings = true, outcomes = true, decisions = true, advice = true, evaluation = true }

-- The titles of the built-in sections, for one whose layout a
-- report.layout hook gave without a title of its own.
local SECTION_TITLES = { question = "methode.page.report_question", summary = "methode.page.report_summary",
	players = "methode.page.report_players", themes = "methode.page.report_themes",
	conversation = "methode.page.report_conversation", meetings = "methode.pdf.meetings",
	outcomes = "methode.page.report_outcomes", decisions = "methode.page.report_decisions",
	advice = "methode.page.report_advice", evaluation = "methode.pdf.evaluation" }

-- A section's blocks (report.layout) as the page's template reads them:
-- each block's type names the one part it shows.
local function page_blocks(blocks)
	local out = {}
	for i, b in ipairs(blocks) do
		if b.type == "list" then
			out[i] = { list = b.items, ordered = b.ordered }
		elseif b.type == "table" then
			out[i] = { table = { header = b.header, rows = b.rows } }
		else
			out[i] = { [b.type] = b.text }
		end
	end
	return out
end

-- GET /tafels/ID/verslag: the document as a page, a whole HTML document
-- of its own that a facilitator prints or saves. It says what the PDF
-- (core/report/pdf.c) says, section by section and in its words, so
-- that the two never disagree: the same parts of the document, the same
-- labels (methode.pdf.*), the same order; only the form differs
-- (test_report_page checks each line of the PDF against the page).
function M.report(req, p)
	local id, doc, html, dhtml = requested(req, p)
	if not id then return doc end
	local function label(c) return c.label[req.lang] or c.label.nl or c.id end
	local view = {
		doc = doc,
		user = req.user, csrf = req.csrf,
		table_url = "/tafels/" .. id,
		published = doc.published_on and T(req, "methode.page.report_published",
			{ date = date_text(req.lang, doc.published_on) }),
		summary = part(html, doc.summary),
		rewordings = #doc.question.rewordings > 0 and doc.question.rewordings or nil,
		players = #doc.players > 0 and {} or nil,
		themes = #doc.themes > 0 and doc.themes or nil,
		conversation = {}, outcomes = {}, advice = {},
	}
	-- The players as the PDF lists them: how many, heard and seldom heard,
	-- then each with whether they were heard.
	local heard, seldom = 0, 0
	for _, pl in ipairs(doc.players) do
		if pl.heard then heard = heard + 1 end
		if pl.seldom_heard then seldom = seldom + 1 end
		view.players[#view.players + 1] = { name = pl.name, organisation = pl.organisation, central = pl.central,
			seldom_heard = pl.seldom_heard, heard = pl.heard,
			status = T(req, pl.heard and "methode.page.report_heard" or "methode.pdf.not_heard") }
	end
	view.players_summary = #doc.players .. " " .. T(req, "methode.pdf.players_count") .. " · " .. heard .. " "
		.. T(req, "methode.page.report_heard") .. " · " .. seldom .. " " .. T(req, "methode.pdf.seldom_heard")
	for _, c in ipairs(doc.conversation) do
		view.conversation[#view.conversation + 1] = { held_on = c.held_on and date_text(req.lang, c.held_on),
			body = part(html, c.body) }
	end
	for n, o in ipairs(doc.outcomes) do
		view.outcomes[#view.outcomes + 1] = { n = n, decision = part(html, o.decision), minority = part(html, o.minority) }
	end
	for _, a in ipairs(doc.advice) do
		view.advice[#view.advice + 1] = { title = a.title, body = part(html, a.body) }
	end
	view.evaluation = {}
	for _, e in ipairs(doc.evaluation or {}) do
		view.evaluation[#view.evaluation + 1] = {
			held_on = #doc.evaluation > 1 and e.held_on and date_text(req.lang, e.held_on) or nil,
			went_well = part(html, e.went_well), learned = part(html, e.learned), follows = part(html, e.follows) }
	end
	if #view.evaluation == 0 then view.evaluation = nil end
	view.meetings = {}
	for _, m in ipairs(doc.meetings or {}) do
		view.meetings[#view.meetings + 1] = { title = m.title, held_on = m.held_on and date_text(req.lang, m.held_on),
			present = m.attendance and m.attendance.present,
			attendees = m.attendees and #m.attendees > 0 and table.concat(m.attendees, ", ") or nil }
	end
	if #view.meetings == 0 then view.meetings = nil end
	-- The decisions: the proposal; the shared outcome, or the counts per
	-- choice and what the majority chose; the minority's points not added
	-- (with the reason), then those added; the final text.
	view.decisions = {}
	for n, d in ipairs(doc.decisions) do
		local v = { title = d.title or (T(req, "methode.pdf.decision") .. " " .. n), proposal = part(html, d.proposal, dhtml),
			collective = d.path == "collective", shared = part(html, d.shared_outcome, dhtml),
			final = part(html, d.final, dhtml), counts = {}, minority = {}, added = {} }
		for _, c in ipairs(d.choices) do
			if c.id == d.outcome then v.outcome = label(c) end
			if c.votes then
				v.counts[#v.counts + 1] = { label = label(c), votes = c.votes, room = c.room or 0,
					total = c.total or (c.votes + (c.room or 0)) }
			end
		end
		for _, pt in ipairs(d.points) do
			if pt.added == true then
				v.added[#v.added + 1] = { body = pt.body }
			else
				v.minority[#v.minority + 1] = { body = pt.body, reason = pt.added == false and pt.reason or nil }
			end
		end
		if #v.counts == 0 then v.counts = nil end
		if #v.minority == 0 then v.minority = nil end
		if #v.added == 0 then v.added = nil end
		view.decisions[#view.decisions + 1] = v
	end
	if #view.decisions == 0 then view.decisions = nil end
	-- The sections in the document's order (report.sections): each entry
	-- names the one part the template shows there.
	view.sections = {}
	for _, s in ipairs(doc.sections) do
		if type(s) == "table" and s.blocks then
			view.sections[#view.sections + 1] = { layout = { id = s.id,
				title = s.title or T(req, SECTION_TITLES[s.id] or s.id), blocks = page_blocks(s.blocks) } }
		elseif type(s) == "table" then
			-- A plugin's own section: its Markdown as the PDF shows it.
			view.sections[#view.sections + 1] = { custom = { title = s.title,
				html = s.body and plugin.markdown(s.body.markdown) } }
		elseif PAGE_SECTIONS[s] then
			view.sections[#view.sections + 1] = { [s] = true }
		end
	end
	view.pdf_url = "/tafels/" .. id .. "/verslag.pdf"
	-- The same for every guest (made of the API's reads alone): a shared
	-- page, kept until the table's data changes.
	return { status = 200, html = plugin.render("report.html", view, req.lang), shared = req.user == nil }
end

-- The words the PDF prints, in the person's language.
local PDF_LABELS = {
	contents = "methode.pdf.contents", report_kind = "methode.page.report_title",
	question = "methode.page.report_question", summary = "methode.page.report_summary",
	rewordings = "methode.pdf.rewordings", players = "methode.page.report_players",
	players_count = "methode.pdf.players_count", heard = "methode.page.report_heard",
	not_heard = "methode.pdf.not_heard", central = "methode.pdf.central",
	seldom_heard = "methode.pdf.seldom_heard", seldom_heard_one = "methode.pdf.seldom_heard_one",
	themes = "methode.page.report_themes", conversation = "methode.page.report_conversation",
	meetings = "methode.pdf.meetings", present = "methode.pdf.present",
	outcomes = "methode.page.report_outcomes", decisions = "methode.pdf.decisions",
	decision = "methode.pdf.decision", majority = "methode.pdf.majority",
	minority = "methode.page.report_minority", added = "methode.pdf.added",
	advice = "methode.page.report_advice", evaluation = "methode.pdf.evaluation",
	went_well = "methode.evaluatie.evaluation.went_well", learned = "methode.evaluatie.evaluation.learned",
	follows = "methode.evaluatie.evaluation.follows",
	published = "methode.pdf.published", empty = "methode.pdf.empty",
	proposal = "methode.page.report_proposal", shared_outcome = "methode.page.report_shared_outcome",
	counts = "methode.page.report_counts", individual = "methode.page.report_individual",
	room = "methode.page.report_room", no_majority = "methode.page.report_no_majority",
	not_added = "methode.page.report_not_added", final = "methode.page.report_final",
}

-- "Het plein: een vraag" as "verslag-het-plein-een-vraag.pdf".
local function file_name(req, title)
	local slug = tostring(title or ""):lower():gsub("[^a-z0-9]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")
	slug = slug:sub(1, 80):gsub("%-+$", "")
	local base = T(req, "methode.pdf.file")
	return base .. (slug ~= "" and ("-" .. slug) or "") .. ".pdf"
end

-- GET /tafels/ID/verslag.pdf: the same document as a PDF, for whoever
-- may read the page; its ETag names the document and the look it was
-- made of, so it changes when the table does.
function M.report_pdf(req, p)
	local id, doc = requested(req, p)
	if not id then return doc end
	local theme = plugin.theme()
	local style = { name = plugin.tenant().name, lang = req.lang, primary = theme.primary, text = theme.text,
		labels = {} }
	for k, key in pairs(PDF_LABELS) do style.labels[k] = T(req, key) end
	local pdf, etag = plugin.pdf.report(doc, style)
	if not pdf then
		plugin.log("the report of table " .. id .. " could not be made as a PDF: " .. tostring(etag))
		return { status = 500 }
	end
	local headers = { ETag = etag, ["Cache-Control"] = "private, no-cache",
		["Content-Disposition"] = 'inline; filename="' .. file_name(req, doc.table.title) .. '"' }
	if req.headers and req.headers["if-none-match"] == etag then
		return { status = 304, body = "", type = "application/pdf", headers = headers }
	end
	return { status = 200, body = pdf, type = "application/pdf", headers = headers }
end

return M
