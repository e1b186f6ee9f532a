-- What the site's pages share: form fields for
-- templates/partials/field.html (the tables', the steps' and the account
-- pages: label, hint and error tied to the control, aria-describedby,
-- aria-invalid, in the request's language), an API refusal's page and a
-- path's id.

local M = {}

-- The page for an API refusal: sign in first, or the static 403/404.
function M.refused(status)
	if status == 401 then return { redirect = "/inloggen" } end
	if status == 403 then return { status = 403 } end
	if status == 503 then return { status = 503 } end
	return { status = 404 }
end

-- A path's id: a positive whole number, else nil (the page is a 404).
function M.id_of(s)
	if type(s) ~= "string" or not s:match("^[1-9]%d*$") or #s > 18 then return nil end
	return math.tointeger(tonumber(s))
end

-- A handler of a page under /…/:id: the id checked first (a 404 page
-- otherwise), then FN(req, id, params).
-- The unread count as the header and /meldingen show it: nil for none,
-- "99+" from 100 on (the API's count stops at 100, "100 or more").
function M.unread_badge(n)
	if type(n) ~= "number" or n <= 0 then return nil end
	return n > 99 and "99+" or math.tointeger(n)
end

function M.by_id(fn)
	return function(req, p)
		local id = M.id_of(p.id)
		if not id then return { status = 404 } end
		return fn(req, id, p)
	end
end

-- A page of the site: TEMPLATE rendered with VIEW (its csrf and user set)
-- in the request's language, answered with STATUS. SHARED: the page is
-- made of the API's reads and the request's path, query and language
-- alone, so that for guests the core may keep it and give it to the next
-- guest until the tenant's data changes (a signed-in person's page is
-- never kept; the core also keeps nothing that read or wrote what the
-- data generation does not follow).
function M.page(req, status, template, view, shared)
	view.csrf = req.csrf
	view.user = req.user
	return { status = status, html = plugin.render(template, view, req.lang), shared = shared == true and req.user == nil }
end

-- One field. EXTRA may set: id (default "f-NAME"), type, textarea, rows,
-- choices, max, min, minlength, required, autocomplete, hint (a key).
function M.field(req, name, label, value, errors, extra)
	local f = extra or {}
	f.name = name
	f.id = f.id or ("f-" .. name)
	f.label = plugin.t(label, nil, req.lang)
	f.value = value
	f.error = errors and errors[name]
	if f.hint then f.hint = plugin.t(f.hint, nil, req.lang) end
	f.type = f.type or "text"
	return f
end

-- The options of a select: {value, label (PREFIX .. value), selected}.
function M.choices(req, prefix, list, selected)
	local out = {}
	for _, v in ipairs(list) do
		out[#out + 1] = { value = v, label = plugin.t(prefix .. v, nil, req.lang), selected = v == selected }
	end
	return out
end

-- The account pages' fields, by name.
local ACCOUNT = {
	name = { "site.name", { type = "text", autocomplete = "name", max = 100 } },
	email = { "site.email", { type = "email", autocomplete = "email" } },
	new_email = { "site.new_email", { type = "email", autocomplete = "email" }, "email" },
	current = { "site.current_password", { type = "password", autocomplete = "current-password" } },
	password = { "site.password", { type = "password", autocomplete = "new-password", minlength = 12,
		hint = "site.password_hint" } },
	new_password = { "site.new_password", { type = "password", autocomplete = "new-password", minlength = 12,
		hint = "site.password_hint" }, "password" },
}

-- The fields KINDS (names above) of an account page, with VALUES and
-- ERRORS by field name; their ids are the plain names.
function M.account(req, kinds, values, errors)
	local out = {}
	for _, kind in ipairs(kinds) do
		local spec = ACCOUNT[kind]
		local name = spec[3] or kind
		local extra = { id = name, required = true }
		for k, v in pairs(spec[2]) do extra[k] = v end
		out[#out + 1] = M.field(req, name, spec[1], values and values[name], errors, extra)
	end
	return out
end

return M
