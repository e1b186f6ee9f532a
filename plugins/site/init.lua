-- The site plugin: each tenant's home page and its theme's stylesheet.
-- The home page reads the tenant's notices and visit counter from the
-- plugin store (the database), counts the visit with a compare-and-set
-- write, and renders home.html inside layout.html.

local welcome = plugin.option("welcome", "string", nil, { max = 2000 })
local notices = plugin.option("notices", "integer", 5, { min = 0, max = 20 })
local counter = plugin.option("counter", "boolean", true)
local activity = plugin.option("activity", "integer", 5, { min = 0, max = 20 })

-- Counts a visit; a concurrent writer makes the put fail with "conflict",
-- and then it reads and tries again.
local function count_visit()
	for _ = 1, 5 do
		local doc, version = plugin.store.get("stats")
		local views = (doc and doc.views or 0) + 1
		local ok, err = plugin.store.put("stats", { views = views }, version or 0)
		if ok then return views end
		if err ~= "conflict" then return nil end
	end
	return nil
end

-- Keeps the last ACTIVITY visits as documents "activity/NNN…".
local function record(views, path)
	if activity == 0 or not views then return end
	plugin.store.put(string.format("activity/%012d", views), { path = path, at = os.time() })
	if views > activity then
		plugin.store.delete(string.format("activity/%012d", views - activity))
	end
end

local function recent()
	local out = {}
	for _, row in ipairs(plugin.store.list("activity/", { order = "key", limit = 100 })) do
		local v = row.value
		if type(v) == "table" then
			table.insert(out, 1, { path = v.path, at = os.date("!%Y-%m-%d %H:%M UTC", v.at) })
		end
	end
	while #out > activity do table.remove(out) end
	return out
end

plugin.route("GET", "/", function(req)
	local views = counter and count_visit() or nil
	record(views, req.path)
	local items = {}
	if notices > 0 then
		for _, row in ipairs(plugin.store.list("notice/", { order = "recent", limit = notices })) do
			local v = row.value
			if type(v) == "table" and type(v.title) == "string" then
				items[#items + 1] = { title = v.title, text = v.text, url = v.url }
			end
		end
	end
	-- A welcome text kept in the store (set by the municipality's editors)
	-- wins over the one in tenant.lua.
	local stored = plugin.store.get("welcome")
	local text = type(stored) == "table" and type(stored.text) == "string" and stored.text or welcome
	return plugin.render("home.html", {
		user = req.user,
		csrf = req.csrf,
		welcome = text or plugin.t("site.welcome", { name = plugin.tenant().name }, req.lang),
		notices = items,
		views = views,
		activity = recent(),
	}, req.lang)
end)

-- The theme's tokens as CSS custom properties (tenant.lua checked each
-- value when it was loaded).
plugin.route("GET", "/theme.css", function()
	local lines = { ":root {" }
	local theme = plugin.theme()
	local names = {}
	for name in pairs(theme) do names[#names + 1] = name end
	table.sort(names)
	for _, name in ipairs(names) do
		lines[#lines + 1] = "  --at-" .. name .. ": " .. theme[name] .. ";"
	end
	lines[#lines + 1] = "}"
	return { body = table.concat(lines, "\n") .. "\n", type = "text/css; charset=utf-8" }
end)

-- Signing in and out. The core checks the password on its hashing
-- threads, counts failures and sets the session cookie; this page only
-- asks and answers.
local function signin_page(req, status, message, email)
	return {
		status = status,
		html = plugin.render("signin.html", {
			csrf = req.csrf,
			email = email,
			message = message,
			user = req.user,
		}, req.lang),
	}
end

plugin.route("GET", "/inloggen", function(req)
	return signin_page(req, 200)
end)

plugin.route("POST", "/inloggen", function(req)
	local email = req.form.email or ""
	local ok, why, retry = plugin.auth.signin(email, req.form.password or "")
	if ok then
		return { redirect = "/" }
	end
	if why == "limited" then
		local page = signin_page(req, 429, plugin.t("site.signin_limited", nil, req.lang), email)
		page.headers = { ["Retry-After"] = tostring(retry) }
		return page
	end
	return signin_page(req, 401, plugin.t("site.signin_invalid", nil, req.lang), email)
end)

plugin.route("POST", "/uitloggen", function(req)
	plugin.auth.signout()
	return { redirect = "/" }
end)
