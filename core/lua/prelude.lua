-- The runtime's own Lua, compiled into the daemon and run first in every
-- tenant's sandboxed state. It loads tenant.lua and the plugins, keeps the
-- hooks and routes, and drives each request. It sees `core` (the C
-- primitives); plugins never do: each gets its own environment holding one
-- handle, `plugin`, whose functions close over what they may touch.

local core = ...

local LANGS = { nl = true, en = true }
local OPTION_TYPES = { string = true, integer = true, number = true, boolean = true, choice = true }
local EVENTS = {
	["tenant.loaded"] = true, ["request.before"] = true, ["page.view"] = true,
	-- Fired around the core's operations, whether a page or the JSON API
	-- asked for them (the core's route table names them).
	["table.created"] = true, ["table.updated"] = true, ["member.joined"] = true,
	["contribution.before_create"] = true, ["contribution.created"] = true,
	["invitation.created"] = true, ["group.joined"] = true, ["group.request_decided"] = true,
	-- A table's workflow: the steps' changes (named by the operations'
	-- answers), a guard on every completion (the step type's own guard
	-- runs first), and a guard on every record saved.
	["step.before_complete"] = true, ["step.entered"] = true, ["step.completed"] = true,
	["step.skipped"] = true, ["step.reopened"] = true, ["record.before_save"] = true,
	-- Decisions: opened and closed (named by the operations' answers), and
	-- a guard on every vote cast or changed.
	["decision.opened"] = true, ["decision.closed"] = true, ["vote.before_cast"] = true,
	-- Meetings: planned, changed and cancelled (named by the operations'
	-- answers).
	["meeting.created"] = true, ["meeting.changed"] = true, ["meeting.cancelled"] = true,
	-- A report's sections, before its page or its PDF is made
	-- (plugin.report_sections): hooks add, drop or reorder them.
	["report.sections"] = true,
	-- A built-in section's layout (plugin.report_sections): a hook may
	-- answer the section's blocks instead of its default layout.
	["report.layout"] = true,
	-- Named by the account operations' answers (API_EVENTS), with what a
	-- mail needs: a link's secret among it, so only the platform's own
	-- plugins may hook them.
	["account.created"] = "platform", ["account.exists"] = "platform",
	["verification.resent"] = "platform", ["password.forgotten"] = "platform",
	["email.change_requested"] = "platform",
}
local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true }

local tenant = {}          -- name, slug, locale, theme
local hooks = {}           -- event -> { {fn, priority, plugin, seq}, ... }
local routes = {}          -- method -> { {parts, fn, plugin}, ... }
local strings = { nl = {}, en = {} }
local plugins = {}         -- name -> { options, source }
-- plugin -> name -> { type, default, min, max, choices, label = {nl, en} }:
-- the options plugins declared editable by the municipality's admins
-- (plugin.option's fifth argument), as data for the database.
local editable = {}
local problems = {}
local seq = 0
local step_types = {}      -- id -> declaration (see plugin.step_type)
local workflows = {}       -- id -> declaration (see plugin.workflow)
local workflow_order = {}  -- ids in the order declared

local function problem(msg)
	problems[#problems + 1] = msg
	core.log("warn", msg)
end

-- Lua's own message says file:line; an error value that is not a string
-- gets the chunk's name at least.
local function message(err, where)
	if type(err) == "string" then return err end
	return where .. ": " .. core.describe(err)
end

------------------------------------------------------------------ files

-- A file of the tenant's bundle, else of the platform: (source, name).
local function find_source(tenant_path, platform_path)
	local src = tenant_path and core.file("tenant", tenant_path)
	if src then return src, tenant_path, "tenant" end
	src = platform_path and core.file("platform", platform_path)
	if src then return src, "plugins/" .. platform_path, "platform" end
	return nil
end

-- Runs a data file (tenant.lua, translations) in an empty environment.
local function run_data(src, name)
	local fn, err = core.load(src, name, core.new_env())
	if not fn then return nil, err end
	local ok, value = pcall(fn)
	if not ok then return nil, message(value, name) end
	return value
end

------------------------------------------------------------------ tenant.lua

local tenant_src        -- tenant.lua's text, to name the line of a problem

-- The line of tenant.lua where NAME is assigned (`name =` or
-- `["name"] =`), searching from line AFTER on; nil when not found.
local function line_of(name, after)
	if not tenant_src or type(name) ~= "string" then return nil end
	local n = 0
	for line in (tenant_src .. "\n"):gmatch("([^\n]*)\n") do
		n = n + 1
		if n > (after or 0) then
			local s = line:find(name, 1, true)
			while s do
				local before = s > 1 and line:sub(s - 1, s - 1) or ""
				if not before:match("[%w_]") and line:sub(s + #name):match("^[\"']?%]?%s*=") then
					return n
				end
				s = line:find(name, s + 1, true)
			end
		end
	end
	return nil
end

-- "tenant.lua:LINE:" for NAME (after line AFTER), or "tenant.lua:".
local function at(name, after)
	local n = line_of(name, after)
	return n and ("tenant.lua:" .. n .. ":") or "tenant.lua:"
end

local CSS_VALUE = "^[%w%s#%%%.,%-%(%)'\"/]+$"

local function check_theme(theme)
	if theme == nil then return {} end
	if type(theme) ~= "table" then
		problem(at("theme") .. " 'theme' must be a table of name = value")
		return {}
	end
	local out = {}
	for k, v in pairs(theme) do
		if type(k) ~= "string" or not k:match("^[a-z][a-z0-9-]*$") then
			problem(at(k, line_of("theme")) .. " theme token names are lowercase words with dashes: " .. core.describe(k))
		elseif type(v) ~= "string" or #v > 200 or not v:match(CSS_VALUE) then
			problem(at(k, line_of("theme")) .. " theme token '" .. k .. "' must be a CSS value without ; { } < > or \\")
		else
			out[k] = v
		end
	end
	return out
end

local function read_tenant(info)
	tenant.slug = info.slug
	tenant.name = info.name
	tenant.locale = "nl"
	tenant.theme = {}
	local src = core.file("tenant", "tenant.lua")
	if not src then return { site = {} } end
	tenant_src = src
	local conf, err = run_data(src, "tenant.lua")
	if err then
		problem(err)
		return { site = {} }
	end
	if type(conf) ~= "table" then
		problem("tenant.lua: must return a table, not " .. type(conf))
		return { site = {} }
	end
	local known = { name = true, locale = true, theme = true, plugins = true, workflow = true, decisions = true }
	for k in pairs(conf) do
		if not known[k] then problem(at(k) .. " unknown field " .. core.describe(k)) end
	end
	if conf.name ~= nil then
		if type(conf.name) ~= "string" or #conf.name == 0 or #conf.name > 800 then
			problem(at("name") .. " 'name' must be a non-empty string")
		else
			tenant.name = conf.name
		end
	end
	if conf.locale ~= nil then
		if not LANGS[conf.locale] then
			problem(at("locale") .. " 'locale' must be \"nl\" or \"en\"")
		else
			tenant.locale = conf.locale
		end
	end
	tenant.theme = check_theme(conf.theme)
	if conf.workflow ~= nil then
		if type(conf.workflow) ~= "string" then
			problem(at("workflow") .. " 'workflow' must be the id of a workflow")
		else
			tenant.workflow = conf.workflow
			tenant.workflow_at = at("workflow")
		end
	end
	-- The municipality's defaults for new decisions (docs/plugins.md).
	tenant.decisions = {}
	if conf.decisions ~= nil then
		if type(conf.decisions) ~= "table" then
			problem(at("decisions") .. " 'decisions' must be a table such as { results_hidden = true }")
		else
			for k, v in pairs(conf.decisions) do
				if k == "results_hidden" then
					if type(v) ~= "boolean" then
						problem(at("decisions") .. " 'decisions.results_hidden' must be true or false")
					else
						tenant.decisions.results_hidden = v
					end
				else
					problem(at("decisions") .. " unknown field decisions." .. core.describe(k))
				end
			end
		end
	end
	local list = conf.plugins
	if list == nil then list = {} end
	if type(list) ~= "table" then
		problem(at("plugins") .. " 'plugins' must be a table of name = { options }")
		list = {}
	end
	local out = { site = {} }
	for name, opts in pairs(list) do
		if type(name) ~= "string" or not name:match("^[a-z][a-z0-9_]*$") then
			problem(at(name, line_of("plugins")) .. " plugin names are lowercase identifiers: " .. core.describe(name))
		elseif opts ~= true and type(opts) ~= "table" then
			problem(at(name, line_of("plugins")) .. " plugin '" .. name .. "' needs a table of options (or true)")
		else
			out[name] = opts == true and {} or opts
		end
	end
	return out
end

------------------------------------------------------------------ translations

local function load_strings(which, path, into, name)
	local src = core.file(which, path)
	if not src then return end
	local t, err = run_data(src, name)
	if err then return problem(err) end
	if type(t) ~= "table" then return problem(name .. ": must return a table of key = text") end
	for k, v in pairs(t) do
		if type(k) == "string" and type(v) == "string" then
			into[k] = v
		else
			problem(name .. ": translations are key = text strings: " .. core.describe(k))
		end
	end
end

local function translate(lang, key, vars)
	-- The tenant's own strings win over the platform's (core.text, one
	-- table in the daemon for every tenant), in the language asked, then
	-- the tenant's locale, then Dutch.
	local s = strings[lang][key] or core.text(lang, key) or strings[tenant.locale][key]
		or core.text(tenant.locale, key) or strings.nl[key] or core.text("nl", key) or key
	if vars then
		s = s:gsub("{([%w_]+)}", function(k)
			local v = vars[k]
			if v == nil then return nil end
			return tostring(v)
		end)
	end
	return s
end

------------------------------------------------------------------ options

-- An editable option's declaration as data: its bounds by type, the base
-- value (tenant.lua's or the default) and the two labels.
local function editable_decl(oname, otype, base, bounds, labels)
	if type(labels) ~= "table" then error("option '" .. oname .. "': the fifth argument is { nl =, en = }, its labels", 3) end
	for _, lang in ipairs({ "nl", "en" }) do
		local l = labels[lang]
		if type(l) ~= "string" or l == "" or #l > 200 then
			error("option '" .. oname .. "': label " .. lang .. " must be a text of 1 to 200 bytes", 3)
		end
	end
	if not oname:match("^[a-z][a-z0-9_]*$") or #oname > 60 then
		error("option '" .. oname .. "': an editable option's name is lower-case letters, digits and _", 3)
	end
	local d = { type = otype, default = base, label = { nl = labels.nl, en = labels.en } }
	bounds = type(bounds) == "table" and bounds or {}
	if otype == "choice" then
		local list = {}
		for i, c in ipairs(bounds) do list[i] = c end
		d.choices = list
	elseif otype ~= "boolean" then
		d.min = type(bounds.min) == "number" and bounds.min or nil
		d.max = type(bounds.max) == "number" and bounds.max or nil
	end
	return d
end

-- Whether V fits the editable option's declaration D (a stored value may
-- be older than the declaration that now reads it).
local function editable_fits(d, v)
	if d.type == "boolean" then return type(v) == "boolean" end
	if d.type == "string" then return type(v) == "string" and (not d.max or #v <= d.max) end
	if d.type == "choice" then
		for _, c in ipairs(d.choices) do
			if c == v then return true end
		end
		return false
	end
	if type(v) ~= "number" or (d.type == "integer" and math.type(v) ~= "integer") then return false end
	return not ((d.min and v < d.min) or (d.max and v > d.max))
end

local function option_checker(name, opts, declared, pending)
	return function(oname, otype, default, bounds, labels)
		if type(oname) ~= "string" then error("option name must be a string", 2) end
		if not OPTION_TYPES[otype] then
			error("option '" .. oname .. "': type must be string, integer, number, boolean or choice", 2)
		end
		declared[oname] = true
		local v = opts[oname]
		if labels ~= nil then
			-- Editable: checked here, kept when the plugin has loaded.
			local base = v
			if base == nil then base = default end
			pending[#pending + 1] = { kind = "option", name = oname,
				decl = editable_decl(oname, otype, base, bounds, labels) }
		end
		if v == nil then return default end
		local where = at(oname, line_of(name, line_of("plugins"))) .. " plugin '" .. name .. "' option '" .. oname .. "'"
		if otype == "boolean" then
			if type(v) ~= "boolean" then error(where .. " must be true or false", 0) end
		elseif otype == "string" then
			if type(v) ~= "string" then error(where .. " must be a string", 0) end
			if bounds and bounds.max and #v > bounds.max then
				error(where .. " is longer than " .. bounds.max .. " bytes", 0)
			end
		elseif otype == "choice" then
			local ok = false
			for _, c in ipairs(bounds or {}) do
				if c == v then ok = true end
			end
			if not ok then error(where .. " must be one of: " .. table.concat(bounds or {}, ", "), 0) end
		else
			if type(v) ~= "number" or (otype == "integer" and math.type(v) ~= "integer") then
				error(where .. " must be " .. (otype == "integer" and "an integer" or "a number"), 0)
			end
			if bounds and ((bounds.min and v < bounds.min) or (bounds.max and v > bounds.max)) then
				error(where .. " must be between " .. tostring(bounds.min) .. " and " .. tostring(bounds.max), 0)
			end
		end
		return v
	end
end

------------------------------------------------------------------ routes

local function split_path(path)
	local parts = {}
	for part in path:gmatch("[^/]+") do parts[#parts + 1] = part end
	return parts
end

local function compile_pattern(pattern)
	if type(pattern) ~= "string" or pattern:sub(1, 1) ~= "/" then
		error("route pattern must start with /", 3)
	end
	local parts = split_path(pattern)
	for i, p in ipairs(parts) do
		if p:sub(1, 1) == "*" and i ~= #parts then error("a *rest part must come last", 3) end
	end
	return parts
end

local function match_parts(parts, segs)
	local params = {}
	for i, p in ipairs(parts) do
		local c = p:sub(1, 1)
		if c == "*" then
			params[p:sub(2)] = table.concat(segs, "/", i)
			return params
		end
		local s = segs[i]
		if s == nil then return nil end
		if c == ":" then
			params[p:sub(2)] = s
		elseif p ~= s then
			return nil
		end
	end
	if #segs ~= #parts then return nil end
	return params
end

local function find_route(method, path)
	local segs = split_path(path)
	for _, r in ipairs(routes[method] or {}) do
		local params = match_parts(r.parts, segs)
		if params then return r, params end
	end
	return nil
end

------------------------------------------------------------------ report layouts

-- A report.layout hook's answer is a list of blocks (or {title =, blocks
-- =}) in the report's block vocabulary; docs/plugins.md, "A section's own
-- layout". Checked and copied here, so that both renderers get plain,
-- bounded data: a text is a string (a number is written as one), at most
-- LAYOUT_TEXT bytes; lists, tables and the blocks themselves are bounded.
local LAYOUT_BLOCKS, LAYOUT_ITEMS, LAYOUT_COLUMNS, LAYOUT_TEXT = 2000, 1000, 8, 100000

local function layout_text(v, what)
	if math.type(v) == "integer" or math.type(v) == "float" then v = tostring(v) end
	if type(v) ~= "string" then error(what .. " must be a string", 0) end
	if #v > LAYOUT_TEXT then error(what .. " is longer than " .. LAYOUT_TEXT .. " bytes", 0) end
	return v
end

local function layout_list(v, what, max)
	if type(v) ~= "table" then error(what .. " must be a list", 0) end
	local n = #v
	if n > max then error(what .. " has more than " .. max .. " entries", 0) end
	return n
end

local function layout_block(b, i)
	local what = "block " .. i
	if type(b) ~= "table" then error(what .. " must be a table", 0) end
	local ty = b.type
	if ty == "heading" or ty == "paragraph" or ty == "quote" then
		return { type = ty, text = layout_text(b.text, what .. "'s text") }
	elseif ty == "list" then
		local items = {}
		for k = 1, layout_list(b.items, what .. "'s items", LAYOUT_ITEMS) do
			items[k] = layout_text(b.items[k], what .. "'s item " .. k)
		end
		return { type = "list", items = items, ordered = b.ordered == true }
	elseif ty == "table" then
		local out = { type = "table", rows = {} }
		local width = 0
		if b.header ~= nil then
			out.header = {}
			width = layout_list(b.header, what .. "'s header", LAYOUT_COLUMNS)
			for k = 1, width do out.header[k] = layout_text(b.header[k], what .. "'s header " .. k) end
		end
		for r = 1, layout_list(b.rows, what .. "'s rows", LAYOUT_ITEMS) do
			local row = b.rows[r]
			local n = layout_list(row, what .. "'s row " .. r, LAYOUT_COLUMNS)
			-- Every row as wide as the header, or as the first row.
			if width == 0 then
				width = n
			elseif n ~= width then
				error(what .. "'s row " .. r .. " has " .. n .. " cells, not " .. width, 0)
			end
			out.rows[r] = {}
			for k = 1, n do out.rows[r][k] = layout_text(row[k], what .. "'s row " .. r .. " cell " .. k) end
		end
		return out
	end
	error(what .. " has no known type (heading, paragraph, list, table, quote)", 0)
end

-- The checked copy of a report.layout hook's answer A: (title or nil,
-- blocks); raises the reason when it is not one.
local function layout_answer(a)
	if type(a) ~= "table" then error("the answer must be a table of blocks", 0) end
	local title, list = nil, a
	if a.blocks ~= nil then
		if a.title ~= nil then title = layout_text(a.title, "the title") end
		list = a.blocks
	end
	local blocks = {}
	for i = 1, layout_list(list, "the blocks", LAYOUT_BLOCKS) do blocks[i] = layout_block(list[i], i) end
	return title, blocks
end

-- Section NAME of DOC laid out by the report.layout hooks: the first
-- hook (by priority) that answers gives {id, title, blocks}; nil when
-- none does. A hook that fails, or answers what is no layout, is logged
-- and skipped: the section keeps its default layout.
local function report_layout(name, doc, lang)
	for _, h in ipairs(hooks["report.layout"] or {}) do
		local ok, a = pcall(h.fn, name, doc, lang)
		local title, blocks
		if ok and a ~= nil then
			ok, title, blocks = pcall(layout_answer, a)
			if not ok then a = title end
		end
		if not ok then
			core.log("warn", "plugin '" .. tostring(h.plugin) .. "': the report.layout of section '" .. name
				.. "' failed, its default layout is used: " .. message(a, "report.layout"))
		elseif blocks then
			return { id = name, title = title, blocks = blocks }
		end
	end
	return nil
end

------------------------------------------------------------------ hooks

local function fire(event, ...)
	for _, h in ipairs(hooks[event] or {}) do
		local a, b = h.fn(...)
		if a ~= nil then return a, b end
	end
	return nil
end

------------------------------------------------------------------ workflows

-- Step types and workflows, declared by plugins (plugin.step_type,
-- plugin.workflow) and checked here; docs/plugins.md, "Workflows and step
-- types". What reaches the database is their definitions without the
-- functions (core.definitions): a table keeps a snapshot of its
-- workflow's when it is opened (sql/code/workflows.sql).

local ID = "^[a-z][a-z0-9_]*$"
local FIELD_TYPES = {
	text = true, markdown = true, choice = true, choices = true, date = true, datetime = true,
	int = true, cents = true, bool = true, person = true, ref = true,
}
local VISIBILITY = { facilitators = true, client = true, people = true, readers = true }
local WRITERS = { facilitators = true, client = true }
local MAX_ID = 64

local function good_id(v) return type(v) == "string" and #v <= MAX_ID and v:match(ID) ~= nil end

-- The fields of one record kind: name -> {type, required, choices, max};
-- nil and the problem when something is wrong.
local function check_fields(fields, what)
	if type(fields) ~= "table" or next(fields) == nil then
		return nil, what .. " needs fields = { name = { type = ... }, ... }"
	end
	local out = {}
	for fname, f in pairs(fields) do
		if not good_id(fname) then
			return nil, what .. ": field names are lowercase identifiers: " .. core.describe(fname)
		end
		-- A value under a name ending in _html reaches the pages as safe
		-- HTML (the core's rendered Markdown): a record's text may not.
		if fname:sub(-5) == "_html" then
			return nil, what .. ": a field's name may not end in _html: " .. core.describe(fname)
		end
		local where = what .. " field '" .. fname .. "'"
		if type(f) ~= "table" then return nil, where .. " must be a table { type = ... }" end
		for k in pairs(f) do
			if k ~= "type" and k ~= "required" and k ~= "choices" and k ~= "max" and k ~= "kind" then
				return nil, where .. ": unknown key " .. core.describe(k)
			end
		end
		if not FIELD_TYPES[f.type] then
			return nil, where .. ": unknown field type " .. core.describe(f.type)
				.. " (text, markdown, choice, choices, date, datetime, int, cents, bool, person, ref)"
		end
		if f.required ~= nil and type(f.required) ~= "boolean" then
			return nil, where .. ": 'required' must be true or false"
		end
		local field = { type = f.type, required = f.required == true }
		if f.type == "choice" or f.type == "choices" then
			if type(f.choices) ~= "table" or #f.choices == 0 then
				return nil, where .. " needs choices = { \"a\", \"b\", ... }"
			end
			local list = {}
			for i, c in ipairs(f.choices) do
				if type(c) ~= "string" or #c == 0 or #c > 100 then
					return nil, where .. ": choices are strings of 1 to 100 bytes"
				end
				list[i] = c
			end
			field.choices = list
		elseif f.choices ~= nil then
			return nil, where .. ": only choice and choices fields have choices"
		end
		-- A ref may name the kind of record it points to (checked by the
		-- database, offered by the pages).
		if f.kind ~= nil then
			if f.type ~= "ref" or not good_id(f.kind) then
				return nil, where .. ": 'kind' (a record kind's id) is for ref fields"
			end
			field.kind = f.kind
		end
		if f.max ~= nil then
			if (f.type ~= "text" and f.type ~= "markdown") or math.type(f.max) ~= "integer" or f.max < 1
				or f.max > 100000 then
				return nil, where .. ": 'max' (1 to 100000 characters) is for text and markdown fields"
			end
			field.max = f.max
		end
		out[fname] = field
	end
	return out
end

-- plugin.step_type{...}: checked; nil and the problem, or the declaration.
local function check_step_type(def, where)
	if type(def) ~= "table" then return nil, where .. " step_type needs a table" end
	local known = { id = true, name = true, records = true, guard = true, on_enter = true, on_complete = true }
	for k in pairs(def) do
		if not known[k] then return nil, where .. " step type: unknown key " .. core.describe(k) end
	end
	if not good_id(def.id) then
		return nil, where .. " step type: 'id' must be a lowercase identifier of at most 64 bytes"
	end
	local what = where .. " step type '" .. def.id .. "'"
	if type(def.name) ~= "string" or #def.name == 0 or #def.name > 200 then
		return nil, what .. ": 'name' must be a translation key"
	end
	for _, fn in ipairs({ "guard", "on_enter", "on_complete" }) do
		if def[fn] ~= nil and type(def[fn]) ~= "function" then
			return nil, what .. ": '" .. fn .. "' must be a function"
		end
	end
	local records = {}
	if def.records ~= nil then
		if type(def.records) ~= "table" then return nil, what .. ": 'records' must be a table of kinds" end
		for kind, r in pairs(def.records) do
			if not good_id(kind) then
				return nil, what .. ": record kinds are lowercase identifiers: " .. core.describe(kind)
			end
			local rwhat = what .. " record '" .. kind .. "'"
			if type(r) ~= "table" then return nil, rwhat .. " must be a table { fields = ..., visible = ... }" end
			for k in pairs(r) do
				if k ~= "fields" and k ~= "visible" and k ~= "write" then
					return nil, rwhat .. ": unknown key " .. core.describe(k)
				end
			end
			local visible = r.visible == nil and "facilitators" or r.visible
			if not VISIBILITY[visible] then
				return nil, rwhat .. ": visible must be facilitators, client, people or readers, not "
					.. core.describe(visible)
			end
			-- Who writes it: the facilitators, or also the client, who
			-- must then read it too (sql/code/records.sql, api.may_write).
			local write = r.write == nil and "facilitators" or r.write
			if not WRITERS[write] then
				return nil, rwhat .. ": write must be facilitators or client, not " .. core.describe(write)
			end
			if write == "client" and visible == "facilitators" then
				return nil, rwhat .. ": the client writes it but may not read it (visible = \"facilitators\")"
			end
			local fields, err = check_fields(r.fields, rwhat)
			if not fields then return nil, err end
			records[kind] = { visible = visible, write = write, fields = fields }
		end
	end
	return { id = def.id, name = def.name, records = records, guard = def.guard, on_enter = def.on_enter,
		on_complete = def.on_complete, where = where }
end

-- plugin.workflow{id =, name =, steps = {"intake", {id = "x", type = "y"}, ...}}.
local function check_workflow(def, where)
	if type(def) ~= "table" then return nil, where .. " workflow needs a table" end
	for k in pairs(def) do
		if k ~= "id" and k ~= "name" and k ~= "steps" then
			return nil, where .. " workflow: unknown key " .. core.describe(k)
		end
	end
	if not good_id(def.id) then
		return nil, where .. " workflow: 'id' must be a lowercase identifier of at most 64 bytes"
	end
	local what = where .. " workflow '" .. def.id .. "'"
	if type(def.name) ~= "string" or #def.name == 0 or #def.name > 200 then
		return nil, what .. ": 'name' must be a translation key"
	end
	if type(def.steps) ~= "table" or #def.steps == 0 or #def.steps > 50 then
		return nil, what .. ": 'steps' must list 1 to 50 steps"
	end
	local steps, seen = {}, {}
	for i, s in ipairs(def.steps) do
		local step
		if type(s) == "string" then
			step = { id = s, type = s }
		elseif type(s) == "table" then
			step = { id = s.id, type = s.type or s.id }
		end
		if not step or not good_id(step.id) or not good_id(step.type) then
			return nil, what .. ": step " .. i .. " must be a step type's id or { id = ..., type = ... }"
		end
		if seen[step.id] then return nil, what .. ": duplicate step '" .. step.id .. "'" end
		seen[step.id] = true
		steps[i] = step
	end
	return { id = def.id, name = def.name, steps = steps, where = where }
end

-- Whether KEY has a translation in LANG (the tenant's or the platform's).
local function translated(lang, key)
	return strings[lang][key] ~= nil or core.text(lang, key) ~= nil
end

-- After every plugin and translation is loaded: the declarations that
-- refer to each other. A workflow with an unknown step type is not
-- offered; a missing translation is a problem, not a refusal.
local function check_declarations()
	local function names(decl, what)
		for lang in pairs(LANGS) do
			if not translated(lang, decl.name) then
				problem(decl.where .. " " .. what .. " '" .. decl.id .. "': no translation of '" .. decl.name
					.. "' in " .. lang)
			end
		end
	end
	for _, id in ipairs(workflow_order) do
		local w = workflows[id]
		names(w, "workflow")
		for _, s in ipairs(w.steps) do
			if not step_types[s.type] then
				problem(w.where .. " workflow '" .. id .. "': unknown step type '" .. s.type .. "'")
				w.broken = true
			end
		end
	end
	-- The labels of a step type's kinds, fields and choices are keys made
	-- of its name: NAME.KIND, NAME.KIND.FIELD, NAME.KIND.FIELD.CHOICE
	-- (docs/plugins.md). They may be left out (the pages show the ids),
	-- but one given in a language must be given in the other.
	local function labels(t)
		local function both(key, what)
			local nl, en = translated("nl", key), translated("en", key)
			if nl ~= en then
				problem(t.where .. " step type '" .. t.id .. "' " .. what .. ": no translation of '" .. key
					.. "' in " .. (nl and "en" or "nl"))
			end
		end
		for kind, r in pairs(t.records) do
			local base = t.name .. "." .. kind
			both(base, "record '" .. kind .. "'")
			for fname, f in pairs(r.fields) do
				both(base .. "." .. fname, "field '" .. kind .. "." .. fname .. "'")
				for _, c in ipairs(f.choices or {}) do
					both(base .. "." .. fname .. "." .. c, "choice '" .. kind .. "." .. fname .. "." .. c .. "'")
				end
			end
		end
	end
	for _, t in pairs(step_types) do
		names(t, "step type")
		labels(t)
	end
	if tenant.workflow and (not workflows[tenant.workflow] or workflows[tenant.workflow].broken) then
		problem(tenant.workflow_at .. " unknown workflow '" .. tenant.workflow .. "'")
		tenant.workflow = nil
	end
end

-- The definitions as data, for the database: every usable workflow with
-- its steps, their types' names and record kinds; the default one.
local function definitions()
	local out = { workflows = {} }
	local function titles(key) return { nl = translate("nl", key), en = translate("en", key) } end
	for _, id in ipairs(workflow_order) do
		local w = workflows[id]
		if not w.broken then
			local steps = {}
			for i, s in ipairs(w.steps) do
				local t = step_types[s.type]
				local records = {}
				for kind, r in pairs(t.records) do records[kind] = r end
				steps[i] = { id = s.id, type = s.type, name = t.name, title = titles(t.name), records = records }
			end
			out.workflows[id] = { id = id, name = w.name, title = titles(w.name), steps = steps }
			out.default = out.default or id
		end
	end
	if tenant.workflow then out.default = tenant.workflow end
	out.decisions = { results_hidden = tenant.decisions and tenant.decisions.results_hidden or false }
	-- The editable options, for PUT /settings/options to check values
	-- against (an empty table would be a JSON list: nil when there are none).
	if next(editable) then out.options = editable end
	return out
end

-- The step type of the table's step STEP_ID, from the table's own steps
-- (GET /tables/{id}/steps, as the person asking): the step and its type,
-- or nil when the operation itself should answer (no such step, no table).
local function step_of(api, table_id, step_id)
	local status, body = api("GET", "/tables/" .. tostring(table_id) .. "/steps", nil, true)
	if status ~= 200 or type(body) ~= "table" then return nil end
	for _, s in ipairs(body.steps or {}) do
		if s.id == step_id then return s, step_types[s.type] end
	end
	return nil
end

------------------------------------------------------------------ the core's operations

-- One operation of the JSON API on behalf of the person asking: the core
-- decides who may see and change what. A guard on the operation's
-- "before" event may refuse (false, reason): 422 with the reason. Hooks
-- on its "after" event see the answer when it succeeded, and so do the
-- hooks of the events the operation's answer names, with their data.
-- Gives status, body (a table, or with TEXT the API's JSON text; *_html
-- fields are safe HTML), and true when the answer is the core's own (not
-- a guard's refusal).
local REFUSED = { ["step.before_complete"] = 409, ["vote.before_cast"] = 409 }     -- else 422
local STEP_HOOKS = { ["step.entered"] = "on_enter", ["step.completed"] = "on_complete" }

-- The options' values as the request read them (plugin.setting), by the
-- request's coroutine: read once per request, and again after a write.
local options_read = setmetatable({}, { __mode = "k" })

local function call_api(method, path, args, platform, own, text)
	if type(path) ~= "string" then error("api: the path must be a string", 3) end
	if method ~= "GET" then options_read[coroutine.running()] = nil end
	if args ~= nil and type(args) ~= "table" then error("api: the arguments must be a table", 3) end
	local before, after, params = core.api_route(method, path, platform)
	if before then
		-- The arguments with the path's parameters over them (a copy:
		-- the caller's table stays as it was).
		local info = {}
		for k, v in pairs(args or {}) do info[k] = v end
		for k, v in pairs(params) do info[k] = v end
		-- Which operation asks (a new record is POST, a change PATCH):
		-- the caller's arguments cannot say otherwise.
		info.method = method
		local ok, reason
		if before == "step.before_complete" then
			-- The step type's own guard first: may this step complete?
			-- Only for the table's facilitators: anyone else gets the
			-- operation's own refusal, never a guard's reason.
			local status, x = call_api("GET", "/tables/" .. tostring(info.id), nil, true)
			local step, ty
			if status == 200 and x.my_role == "facilitator" then step, ty = step_of(call_api, info.id, info.step) end
			if step and step.state == "active" and ty and ty.guard then
				ok, reason = ty.guard(x, step)
			end
		end
		if ok ~= false then ok, reason = fire(before, info) end
		if ok == false then
			return REFUSED[before] or 422, { error = { code = "refused", fields = {},
				message = type(reason) == "string" and reason or "Refused." } }
		end
	end
	local status, body, events = core.api(method, path, args, platform, own, text)
	if status < 300 then
		if after then fire(after, body, params) end
		for _, e in ipairs(events or {}) do
			fire(e.name, e.data)
			-- A step type's own hooks on entering and completing its steps.
			local hook = STEP_HOOKS[e.name]
			local ty = hook and type(e.data) == "table" and type(e.data.step) == "table"
				and step_types[e.data.step.type]
			if ty and ty[hook] then ty[hook](e.data) end
		end
	end
	return status, body, true
end

------------------------------------------------------------------ the handle

local function new_handle(name, opts, pending, declared, from_platform, home)
	local P = {}
	P.name = name
	P.option = option_checker(name, opts, declared, pending)

	-- plugin.setting(name): an option declared editable, as the
	-- municipality's admins set it at /beheer/instellingen (PUT
	-- /settings/options), else as tenant.lua or the declaration gives it.
	-- Read while serving a request, from the request's transaction (once
	-- per request, again after one of its writes): a change holds at once
	-- on every daemon.
	function P.setting(oname)
		local d = editable[name] and editable[name][oname]
		if not d then
			error("setting '" .. tostring(oname) .. "': not an option this plugin declared editable", 2)
		end
		local co = coroutine.running()
		local all = options_read[co]
		if not all then
			local status, body = call_api("GET", "/settings/options", nil, true)
			all = status == 200 and type(body) == "table" and type(body.options) == "table" and body.options or {}
			options_read[co] = all
		end
		local mine = all[name]
		local v = type(mine) == "table" and mine[oname] or nil
		if v ~= nil and editable_fits(d, v) then return v end
		return d.default
	end

	function P.hook(event, fn, priority)
		if home.loaded then error("hooks are declared while the plugin loads", 2) end
		if not EVENTS[event] then error("unknown event '" .. tostring(event) .. "'", 2) end
		if EVENTS[event] == "platform" and not from_platform then
			error("the event '" .. event .. "' is for the platform's own plugins", 2)
		end
		if type(fn) ~= "function" then error("hook needs a function", 2) end
		if priority ~= nil and math.type(priority) ~= "integer" then error("priority must be an integer", 2) end
		seq = seq + 1
		pending[#pending + 1] = { kind = "hook", event = event, fn = fn, priority = priority or 0, seq = seq }
	end

	function P.route(method, pattern, fn)
		if home.loaded then error("routes are declared while the plugin loads", 2) end
		if not METHODS[method] then error("unknown method '" .. tostring(method) .. "'", 2) end
		if type(fn) ~= "function" then error("route needs a function", 2) end
		pending[#pending + 1] = { kind = "route", method = method, parts = compile_pattern(pattern), fn = fn }
	end

	-- plugin.step_type{...} and plugin.workflow{...}: declared while the
	-- plugin loads, checked at once (file and line of the declaration).
	function P.step_type(def)
		if home.loaded then error("step types are declared while the plugin loads", 2) end
		local where = core.where(2)
		local decl, err = check_step_type(def, where)
		if not decl then return problem(err) end
		pending[#pending + 1] = { kind = "step_type", decl = decl }
	end

	function P.workflow(def)
		if home.loaded then error("workflows are declared while the plugin loads", 2) end
		local where = core.where(2)
		local decl, err = check_workflow(def, where)
		if not decl then return problem(err) end
		pending[#pending + 1] = { kind = "workflow", decl = decl }
	end

	function P.render(template, view, lang)
		if type(template) ~= "string" then error("render needs a template name", 2) end
		if type(view) ~= "table" then error("render needs a view table", 2) end
		lang = LANGS[lang] and lang or tenant.locale
		view.tenant = view.tenant or { name = tenant.name, slug = tenant.slug }
		view.theme = view.theme or tenant.theme
		view.lang = view.lang or lang
		view.other_lang = lang == "nl" and "en" or "nl"
		fire("page.view", template, view)
		return core.render(name, template, view, strings[lang], lang)
	end

	function P.t(key, vars, lang)
		if type(key) ~= "string" then error("t needs a key", 2) end
		return translate(LANGS[lang] and lang or tenant.locale, key, vars)
	end

	function P.log(...)
		local parts = {}
		for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
		core.log("info", name .. ": " .. table.concat(parts, " "))
	end

	local store = {}
	function store.get(key) return core.db("get", name, key) end
	function store.put(key, doc, version) return core.db("put", name, key, doc, version) end
	function store.list(prefix, opts) return core.db("list", name, prefix or "", opts) end
	function store.delete(key, version) return core.db("delete", name, key, version) end
	P.store = core.protect(store)

	P.tenant = function() return { name = tenant.name, slug = tenant.slug, locale = tenant.locale } end
	P.theme = function()
		local copy = {}
		for k, v in pairs(tenant.theme) do copy[k] = v end
		return copy
	end
	P.is_html = core.is_safe
	-- Markdown TEXT as safe HTML, rendered as the platform renders the
	-- Markdown it keeps (raw HTML and unsafe links left out).
	function P.markdown(text)
		if type(text) ~= "string" then error("markdown needs a text", 2) end
		return core.markdown(text)
	end
	-- An absolute URL on the current request's host (links in mails).
	P.url = core.url

	-- plugin.module("pages") returns a loader: the first call runs
	-- pages.lua (next to the plugin's init.lua) in the plugin's
	-- environment and keeps what it returns. Code that only some requests
	-- need then costs no memory in a tenant until it is used.
	function P.module(mod)
		if type(mod) ~= "string" or not mod:match("^[a-z][a-z0-9_]*$") then
			error("module names are lowercase identifiers", 2)
		end
		if not home.dir then error("a single-file plugin has no modules", 2) end
		local value
		return function()
			if value == nil then
				local file = home.dir .. mod .. ".lua"
				local src = core.file(home.which, file)
				if not src then error("plugin '" .. name .. "' has no module '" .. mod .. "'", 2) end
				local fn, err = core.load(src, home.label .. mod .. ".lua", home.env)
				if not fn then error(err, 0) end
				value = fn()
				if value == nil then value = false end
			end
			return value
		end
	end

	-- plugin.api.get(path, query), .post(path, body), .put, .patch,
	-- .delete: the JSON API's operations (docs/plugins.md), in this
	-- request's transaction. Some (API tokens, members, the accounts) are
	-- the platform plugins' only, as is { text = true } as the third
	-- argument: the body as the API's JSON text (a download).
	local api = {}
	for _, m in ipairs({ "GET", "POST", "PUT", "PATCH", "DELETE" }) do
		api[m:lower()] = function(path, args, opts)
			if opts ~= nil and type(opts) ~= "table" then error("api: the options must be a table", 2) end
			return call_api(m, path, args, from_platform, nil, opts and opts.text == true)
		end
	end
	-- plugin.api.batch({ {method, path, args}, ... }): several operations
	-- (without events) in one round trip; a list of {status =, body =}.
	function api.batch(calls) return core.api_batch(calls, from_platform) end
	P.api = core.protect(api)

	if from_platform then
		-- Mail in the request's transaction, from the tenant's name: sent
		-- only when the request commits. A municipality's plugin sends
		-- none of its own.
		local mail = {}
		function mail.send(to, subject, text, html) return core.mail(to, subject, text, html) end
		P.mail = core.protect(mail)
		-- A report document (aantafel.report/1) as a PDF, rendered on the
		-- PDF threads: (bytes, etag), or nil and the reason.
		local pdf = {}
		function pdf.report(doc, style) return core.pdf(doc, style) end
		P.pdf = core.protect(pdf)
		-- Every option the tenant's plugins declared editable, by plugin
		-- and name, each a copy with its label in LANG: the settings
		-- page's form (plugins/site/beheer.lua).
		function P.editable_options(lang)
			lang = LANGS[lang] and lang or tenant.locale
			local out = {}
			for pname, list in pairs(editable) do
				for oname, d in pairs(list) do
					local choices
					if d.choices then
						choices = {}
						for i, c in ipairs(d.choices) do choices[i] = c end
					end
					out[#out + 1] = { plugin = pname, name = oname, type = d.type, default = d.default,
						min = d.min, max = d.max, choices = choices, label = d.label[lang] }
				end
			end
			table.sort(out, function(a, b)
				if a.plugin ~= b.plugin then return a.plugin < b.plugin end
				return a.name < b.name
			end)
			return out
		end
	end

	-- The report.sections hooks on DOC.sections (a list of section names
	-- and {id =, title =, body = {markdown =}} tables): each hook gets the
	-- list and the document and may change the list in place. Returns the
	-- list, checked: what is neither a name nor such a table is dropped.
	-- Then each named section that a report.layout hook lays out (for a
	-- reader of LANG) becomes {id = name, title, blocks}.
	function P.report_sections(doc, lang)
		if type(doc) ~= "table" or type(doc.sections) ~= "table" then
			error("report_sections needs a document with its sections", 2)
		end
		lang = LANGS[lang] and lang or tenant.locale
		for _, h in ipairs(hooks["report.sections"] or {}) do h.fn(doc.sections, doc) end
		local out = {}
		for _, s in ipairs(doc.sections) do
			if type(s) == "string" and s:match(ID) then
				out[#out + 1] = s
			elseif type(s) == "table" and type(s.title) == "string" then
				local body = s.body
				if type(body) == "string" then body = { markdown = body } end
				if body ~= nil and (type(body) ~= "table" or type(body.markdown) ~= "string") then body = nil end
				out[#out + 1] = { id = type(s.id) == "string" and s.id or nil, title = s.title, body = body }
			end
		end
		-- A built-in section whose layout a hook gives: its blocks.
		if hooks["report.layout"] then
			for i, s in ipairs(out) do
				if type(s) == "string" then out[i] = report_layout(s, doc, lang) or s end
			end
		end
		doc.sections = out
		return out
	end
	return core.protect(P)
end

local function commit(name, pending)
	for _, p in ipairs(pending) do
		if p.kind == "hook" then
			local list = hooks[p.event] or {}
			hooks[p.event] = list
			list[#list + 1] = { fn = p.fn, priority = p.priority, seq = p.seq, plugin = name }
			table.sort(list, function(a, b)
				if a.priority ~= b.priority then return a.priority > b.priority end
				return a.seq < b.seq
			end)
		elseif p.kind == "step_type" or p.kind == "workflow" then
			local into = p.kind == "step_type" and step_types or workflows
			local d = p.decl
			if into[d.id] then
				problem(d.where .. " duplicate " .. (p.kind == "step_type" and "step type" or "workflow") .. " '"
					.. d.id .. "' (first declared at " .. into[d.id].where .. ")")
			else
				d.plugin = name
				into[d.id] = d
				if p.kind == "workflow" then workflow_order[#workflow_order + 1] = d.id end
			end
		elseif p.kind == "option" then
			editable[name] = editable[name] or {}
			editable[name][p.name] = p.decl
		else
			local list = routes[p.method] or {}
			routes[p.method] = list
			list[#list + 1] = { parts = p.parts, fn = p.fn, plugin = name }
		end
	end
end

local function load_plugin(name, opts)
	local src, file, which = find_source("plugins/" .. name .. ".lua", name .. "/init.lua")
	if not src then
		src, file, which = find_source("plugins/" .. name .. "/init.lua", name .. ".lua")
	end
	if not src then
		return problem(at(name, line_of("plugins")) .. " unknown plugin '" .. name .. "'")
	end
	local pending, declared = {}, {}
	local env = core.new_env()
	-- Where its modules are: the directory of an init.lua.
	local home = { which = which, env = env }
	if file:match("/init%.lua$") then
		home.label = file:gsub("init%.lua$", "")
		home.dir = which == "platform" and (name .. "/") or ("plugins/" .. name .. "/")
	end
	env.plugin = new_handle(name, opts, pending, declared, which == "platform", home)
	local fn, err = core.load(src, file, env)
	if not fn then
		return problem(err .. " (plugin '" .. name .. "' disabled)")
	end
	local ok, e = pcall(fn)
	if not ok then
		return problem(message(e, file) .. " (plugin '" .. name .. "' disabled)")
	end
	for k in pairs(opts) do
		if not declared[k] then
			return problem(at(k, line_of(name, line_of("plugins"))) .. " plugin '" .. name .. "' has no option "
				.. core.describe(k)
				.. " (plugin disabled)")
		end
	end
	plugins[name] = { file = file }
	home.loaded = true
	commit(name, pending)
	for lang in pairs(LANGS) do
		-- A platform plugin's strings are the daemon's (core.text).
		load_strings("tenant", "plugins/" .. name .. "/translations/" .. lang .. ".lua", strings[lang],
			"plugins/" .. name .. "/translations/" .. lang .. ".lua")
	end
end

------------------------------------------------------------------ entry points

-- Builds the tenant: returns the list of problems (empty when all is well).
local function load_tenant(info)
	local list = read_tenant(info)
	local names = {}
	for name in pairs(list) do names[#names + 1] = name end
	table.sort(names)
	for _, name in ipairs(names) do load_plugin(name, list[name]) end
	for lang in pairs(LANGS) do
		load_strings("tenant", "translations/" .. lang .. ".lua", strings[lang], "translations/" .. lang .. ".lua")
	end
	check_declarations()
	core.definitions(definitions())
	local ok, err = pcall(fire, "tenant.loaded", { name = tenant.name, slug = tenant.slug })
	if not ok then problem(message(err, "tenant.loaded")) end
	-- A guard on every request must see every request: no page is then
	-- given to a guest from the worker's cache.
	if hooks["request.before"] and #hooks["request.before"] > 0 then core.guarded() end
	return problems
end

-- One request: request.before may answer it, else the first route that
-- matches; 404 when none does.
local function handle(req)
	local answer, reason = fire("request.before", req)
	if answer == false then
		-- A guard refused: 403 with its reason as plain text.
		return { status = 403, text = type(reason) == "string" and reason or "Geweigerd" }
	end
	if answer ~= nil then return answer end
	local method = req.method == "HEAD" and "GET" or req.method
	local route, params = find_route(method, req.path)
	if not route then
		for m in pairs(METHODS) do
			if m ~= method and find_route(m, req.path) then return { status = 405 } end
		end
		return { status = 404 }
	end
	return route.fn(req, params)
end

-- A request of the JSON API whose operation has events: the same call as
-- a plugin's, answered as JSON by the core.
local function handle_api(method, path, args)
	local status, body, own = call_api(method, path, args, true, true)
	return status, body, own
end

-- Events that came from a job (the scheduler, core/app/scheduler.c: a
-- decision closed at its time), fired to the tenant's hooks as an
-- operation's are, with no viewer: the hooks' plugin.api calls are
-- answered as a guest's. An error in a hook stops the rest and rolls back
-- what the hooks wrote (the daemon logs it; the job stays done).
local function handle_events(events)
	for _, e in ipairs(events or {}) do
		if type(e) == "table" and type(e.name) == "string" then fire(e.name, e.data) end
	end
	return 200, {}
end

return load_tenant, handle, handle_api, handle_events
