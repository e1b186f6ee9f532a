-- An example plugin, off unless tenant.lua names it:
--   plugins = { bezoeken = { recent = 5 } }
-- It counts the views of the home page in the plugin store and shows the
-- count and the times of the last views at the bottom of it. The
-- platform's site does neither on purpose: every view then writes to the
-- database (one row that every view updates, compare-and-set), and when
-- residents visit becomes public. A municipality that wants it anyway
-- takes this plugin, or makes its own from it.

local recent = plugin.option("recent", "integer", 5, { min = 0, max = 20 })
local counter = plugin.option("counter", "boolean", true)

-- Counts a view; a concurrent writer makes the put fail with "conflict",
-- and then it reads and tries again. Nil when it gave up.
local function count()
	for _ = 1, 5 do
		local doc, version = plugin.store.get("stats")
		local views = (type(doc) == "table" and doc.views or 0) + 1
		local ok, err = plugin.store.put("stats", { views = views }, version or 0)
		if ok then return views end
		if err ~= "conflict" then return nil end
	end
	return nil
end

-- Keeps the last RECENT views as documents "view/NNN…".
local function keep(views)
	if recent == 0 or not views then return end
	plugin.store.put(string.format("view/%012d", views), { at = os.time() })
	if views > recent then
		plugin.store.delete(string.format("view/%012d", views - recent))
	end
end

local function last()
	local out = {}
	if recent == 0 then return out end
	for _, row in ipairs(plugin.store.list("view/", { order = "key", limit = 100 })) do
		local v = row.value
		if type(v) == "table" and math.type(v.at) == "integer" then
			table.insert(out, 1, { at = os.date("!%Y-%m-%d %H:%M UTC", v.at), iso = os.date("!%Y-%m-%dT%H:%MZ", v.at) })
		end
	end
	while #out > recent do table.remove(out) end
	return out
end

-- The site's home page has a list of sections that plugins fill: this
-- one adds its own, rendered from its template.
plugin.hook("page.view", function(template, view)
	if template ~= "home.html" or type(view.sections) ~= "table" then return end
	local views = counter and count() or nil
	keep(views)
	view.sections[#view.sections + 1] = plugin.render("bezoeken.html", { views = views, visits = last() }, view.lang)
end)
