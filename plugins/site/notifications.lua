-- What a resident hears about the tables and groups they follow: the list
-- of what is new (/meldingen, marked read once shown), their follows with
-- a cadence each and the switch for mail; the follow form of a table's
-- and a group's page; and the unsubscribe page a mail links to
-- (/afmelden/TOKEN, RFC 8058), which needs no session. Every read and
-- change goes through plugin.api (/me/follows, /me/notifications,
-- /tables/ID/follow, /groups/ID/follow, /unsubscribe): the core decides
-- what a person may follow and read. Loaded on first use (plugin.module).

local M = {}

local function T(req, key, vars)
	return plugin.t(key, vars, req.lang)
end

local refused, id_of = forms().refused, forms().id_of
local function page(...) return forms().page(...) end

-- The cadences of the API, in the order the forms offer them.
local CADENCES = { "each", "daily", "weekly", "none" }
local CADENCE = {}
for _, c in ipairs(CADENCES) do CADENCE[c] = true end

local PAGE_SIZE = 20

-- "29 november 2026, 14:05" in Dutch time of the API's UTC timestamp
-- (steps.lua's helper, which the decisions' pages share too).
local function when(req, ts)
	return site_steps().when(req, ts)
end

-- A site path from the API's url: only a path of this site ("/…", not
-- "//…"), else the table's page.
local function site_path(url, table_id)
	if type(url) == "string" and url:sub(1, 1) == "/" and url:sub(2, 2) ~= "/" and not url:find("[\r\n\\]") then
		return url
	end
	return table_id and ("/tafels/" .. math.tointeger(table_id)) or "/"
end

------------------------------------------------------------------ a follow form

-- The follow form's view for a place (KIND "table" or "group", its ID)
-- from the API's follow F: the radio choices (ids unique on the page by
-- PREFIX), what the person follows now, and where the form posts.
local function follow_view(req, kind, id, f, prefix, back)
	local cadence = f and CADENCE[f.cadence] and f.cadence or "none"
	local choices = {}
	for _, c in ipairs(CADENCES) do
		choices[#choices + 1] = {
			value = c, id = prefix .. "-" .. c, checked = c == cadence,
			label = T(req, "notify.cadence_" .. c),
		}
	end
	local following = cadence ~= "none"
	return {
		kind = kind, id = id,
		action = (kind == "group" and "/groepen/" or "/tafels/") .. id .. "/volgen",
		choices = choices,
		following = following,
		automatic = f and f.automatic == true and following,
		status = following and T(req, "notify.following", { cadence = T(req, "notify.following_" .. cadence) }) or nil,
		legend = T(req, kind == "group" and "notify.follow_group_legend" or "notify.follow_table_legend"),
		button = T(req, following and "notify.follow_save" or "notify.follow"),
		back = back,
	}
end

-- The follow section of a table's or a group's page: for a guest the
-- sign-in line (the same for every guest, so the page stays shared), for
-- a signed-in person their follow as the API says it.
function M.place_view(req, kind, id)
	if not req.user then return { signin = true } end
	local path = (kind == "group" and "/groups/" or "/tables/") .. id .. "/follow"
	local st, f = plugin.api.get(path)
	if st ~= 200 then return nil end
	return follow_view(req, kind, id, f, "volgen")
end

-- POST /tafels/ID/volgen and /groepen/ID/volgen: the cadence chosen, then
-- back to the place's page (or to /meldingen when the form was there).
local function follow(kind)
	return forms().by_id(function(req, id)
		if not req.user then return { redirect = "/inloggen" } end
		local cadence = req.form.cadence
		local back = req.form.terug == "meldingen" and "/meldingen"
			or ((kind == "group" and "/groepen/" or "/tafels/") .. id)
		if not CADENCE[cadence or ""] then
			return page(req, 422, "notifications/refused.html",
				{ message = T(req, "notify.bad_cadence"), back = back })
		end
		local st, body = plugin.api.put((kind == "group" and "/groups/" or "/tables/") .. id .. "/follow",
			{ cadence = cadence })
		if st == 422 then
			local e = type(body) == "table" and body.error and body.error.fields or {}
			return page(req, 422, "notifications/refused.html",
				{ message = e.cadence and T(req, "notify.bad_cadence") or T(req, "notify.not_saved"), back = back })
		end
		if st ~= 200 then return refused(st) end
		return { redirect = back .. (back == "/meldingen" and "?opgeslagen=1#volgend" or "#volgen") }
	end)
end

M.follow_table = follow("table")
M.follow_group = follow("group")

------------------------------------------------------------------ /meldingen

local function item_view(req, n)
	local place = n.group_name and (tostring(n.table_title) .. " – " .. n.group_name) or n.table_title
	return {
		title = n.title,
		summary = n.summary,
		url = site_path(n.url, n.table_id),
		-- The place, unless the title says it already (a contribution's).
		place = place ~= n.title and place or nil,
		kind = T(req, "notify.kind_" .. tostring(n.kind)),
		when = when(req, n.created_at),
		unread = n.unread == true,
	}
end

local function follows_view(req, items)
	local out = {}
	for i, f in ipairs(items or {}) do
		local kind = f.kind == "group" and "group" or "table"
		local id = math.tointeger(f.id)
		if id then
			local v = follow_view(req, kind, id, f, "volg-" .. i, "meldingen")
			v.title = f.title
			-- A group's table, named beside it.
			v.table_title = kind == "group" and f.table_title or nil
			v.url = (kind == "group" and "/groepen/" or "/tafels/") .. id
			v.kind_label = T(req, kind == "group" and "notify.group" or "notify.table")
			out[#out + 1] = v
		end
	end
	return out
end

local function settings_view(req, s)
	local mail = s.mail ~= false
	local lang = s.lang == "en" and "en" or "nl"
	return {
		mail = {
			{ value = "1", id = "mail-aan", label = T(req, "notify.mail_on"), checked = mail },
			{ value = "0", id = "mail-uit", label = T(req, "notify.mail_off"), checked = not mail },
		},
		lang = { forms().field(req, "lang", "notify.mail_lang", nil, nil, {
			id = "mail-lang",
			choices = {
				{ value = "nl", label = T(req, "beheer.lang_nl"), selected = lang == "nl" },
				{ value = "en", label = T(req, "beheer.lang_en"), selected = lang == "en" },
			},
		}) },
	}
end

-- GET /meldingen: what is new (newest first, paged by the API's cursor;
-- ?ongelezen=1 shows only the unread), the follows and the mail switch.
-- Once the page is rendered, what it shows is marked read: it is shown
-- as unread this once.
function M.list(req)
	if not req.user then return { redirect = "/inloggen" } end
	local only_unread = req.query.ongelezen == "1"
	local r = plugin.api.batch({
		{ "GET", "/me/notifications", { unread = only_unread and "true" or "false", limit = PAGE_SIZE,
			cursor = req.query.na } },
		{ "GET", "/me/follows" },
		{ "GET", "/me/notification-settings" },
	})
	if r[1].status ~= 200 then return refused(r[1].status) end
	local body = r[1].body
	local items, newest = {}, nil
	for _, n in ipairs(body.items or {}) do
		items[#items + 1] = item_view(req, n)
		local nid = math.tointeger(n.id)
		if nid and (newest == nil or nid > newest) then newest = nid end
	end
	local view = {
		items = items,
		unread = forms().unread_badge(body.unread),
		only_unread = only_unread,
		more = body.next_cursor and ("/meldingen?na=" .. tostring(body.next_cursor)
			.. (only_unread and "&ongelezen=1" or "")),
		follows = r[2].status == 200 and follows_view(req, r[2].body.items) or {},
		settings = r[3].status == 200 and settings_view(req, r[3].body) or nil,
		message = req.query.opgeslagen and T(req, "notify.saved") or nil,
		-- No count beside the header's link: this page marks them read.
		site_unread = false,
	}
	local answer = page(req, 200, "notifications/list.html", view)
	if newest then
		local st = plugin.api.post("/me/notifications/seen", { ["until"] = newest })
		if st ~= 200 then return refused(st) end
	end
	answer.headers = { ["Cache-Control"] = "no-store" }
	return answer
end

-- POST /meldingen: the mail switch and the mails' language.
function M.save_settings(req)
	if not req.user then return { redirect = "/inloggen" } end
	local f = req.form
	local args = {}
	if f.mail == "1" then args.mail = true elseif f.mail == "0" then args.mail = false end
	if f.lang == "nl" or f.lang == "en" then args.lang = f.lang end
	if args.mail == nil and args.lang == nil then
		return page(req, 422, "notifications/refused.html",
			{ message = T(req, "notify.bad_settings"), back = "/meldingen" })
	end
	local st = plugin.api.patch("/me/notification-settings", args)
	if st == 422 then
		return page(req, 422, "notifications/refused.html",
			{ message = T(req, "notify.bad_settings"), back = "/meldingen" })
	end
	if st ~= 200 then return refused(st) end
	return { redirect = "/meldingen?opgeslagen=1#mail" }
end

------------------------------------------------------------------ /afmelden/TOKEN

-- The token as the core lets it through without a CSRF token (letters,
-- digits, - and _, at most 128): anything else is no page.
local function token_of(s)
	if type(s) ~= "string" or #s > 128 or not s:match("^[%w_%-]+$") then return nil end
	return s
end

-- Neither kept by a cache nor indexed: the address is a person's key.
local PRIVATE = { ["Cache-Control"] = "no-store", ["X-Robots-Tag"] = "noindex" }

local function private_page(req, status, template, view)
	local answer = page(req, status, template, view)
	answer.headers = PRIVATE
	return answer
end

-- GET /afmelden/TOKEN: what the button does; it changes nothing (mail
-- scanners open links).
function M.unsubscribe_form(req, p)
	local token = token_of(p.token)
	if not token then return { status = 404 } end
	return private_page(req, 200, "notifications/unsubscribe.html", { token = token })
end

-- POST /afmelden/TOKEN: a mail client's one-click post (body
-- List-Unsubscribe=One-Click) or the page's button. The core lets this
-- path alone through without a session or a CSRF token.
function M.unsubscribe(req, p)
	local token = token_of(p.token)
	if not token then return { status = 404 } end
	local st = plugin.api.post("/unsubscribe", { token = token })
	if st == 404 or st == 422 then return private_page(req, 404, "notifications/unknown.html", {}) end
	if st ~= 200 then return refused(st) end
	return private_page(req, 200, "notifications/unsubscribed.html", {})
end

return M
