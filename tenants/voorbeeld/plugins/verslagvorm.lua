-- An example of a section's own layout in the report (report.layout,
-- docs/plugins.md "A section's own layout"): Voorbeeld shows its
-- decisions as one overview table (each decision, what was chosen, how
-- many votes) followed by the minority's points that were added, as
-- quotes, instead of a page per decision. The same blocks make the
-- report's page and its PDF. Returning nil keeps the default layout, as
-- does an error here (the daemon logs it).

plugin.hook("report.layout", function(section, doc, lang)
	if section ~= "decisions" or #doc.decisions == 0 then return nil end
	local function t(key) return plugin.t("verslagvorm." .. key, nil, lang) end
	local rows = {}
	for _, d in ipairs(doc.decisions) do
		local chosen, votes = t("no_majority"), 0
		if d.path == "collective" then chosen = t("together") end
		for _, c in ipairs(d.choices) do
			if c.id == d.outcome then chosen = c.label[lang] or c.label.nl or c.id end
			votes = votes + (math.tointeger(c.total) or 0)
		end
		rows[#rows + 1] = { d.title, chosen, d.path == "collective" and "–" or votes }
	end
	local blocks = {
		{ type = "paragraph", text = t("intro") },
		{ type = "table", header = { t("decision"), t("chosen"), t("votes") }, rows = rows },
	}
	local added = {}
	for _, d in ipairs(doc.decisions) do
		for _, p in ipairs(d.points) do
			if p.added == true then added[#added + 1] = { type = "quote", text = p.body } end
		end
	end
	if #added > 0 then
		blocks[#blocks + 1] = { type = "heading", text = t("added") }
		for _, q in ipairs(added) do blocks[#blocks + 1] = q end
	end
	return { title = t("title"), blocks = blocks }
end)
