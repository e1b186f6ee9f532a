-- Gemeente Voorbeeld's own step of the method: the neighbourhood walk
-- (buurtschouw). Before the conversation, residents, the facilitator and
-- the municipality walk through the neighbourhood along a route, tick a
-- checklist of what to look at, and note what they see and where. The
-- workflow "dorpshuis" puts the walk between the intake and the
-- conversation; the other steps are the methode plugin's. Declared here
-- in the municipality's bundle only, on the platform's workflow engine.

-- How many observations the walk needs before the step completes.
local min_observations = plugin.option("min_observations", "integer", 1, { min = 0, max = 100 })

-- What the walkers look at (the checklist's choices and an observation's topic).
local POINTS = { "verlichting", "groen", "verkeer", "spelen", "afval", "toegankelijkheid", "ontmoeting", "veiligheid" }

-- Every record of KIND in step STEP_ID of table TABLE_ID that the
-- facilitator reads (up to 500; the guard needs only a few).
local function count(table_id, step_id, kind)
	local n, cursor = 0, nil
	for _ = 1, 5 do
		local status, page = plugin.api.get("/tables/" .. table_id .. "/records",
			{ step = step_id, kind = kind, limit = 100, cursor = cursor })
		if status ~= 200 then break end
		n = n + #page.items
		cursor = page.next_cursor
		if type(cursor) ~= "string" then break end
	end
	return n
end

plugin.step_type{
	id = "buurtschouw", name = "buurtschouw.name",
	records = {
		-- The route: where the walk starts, which streets it takes, when.
		route = { visible = "readers", fields = {
			description = { type = "markdown", required = true, max = 10000 },
			start = { type = "text", max = 200 },           -- the meeting point
			walked_on = { type = "date" },
			walkers = { type = "text", max = 500 },         -- who walk along
		} },
		-- What the walkers look at on the way.
		checklist = { visible = "people", fields = {
			points = { type = "choices", required = true, choices = POINTS },
			note = { type = "markdown", max = 5000 },
		} },
		-- What was seen, and where.
		observation = { visible = "people", fields = {
			place = { type = "text", required = true, max = 300 },
			seen_on = { type = "date" },
			topic = { type = "choice", choices = POINTS },
			what = { type = "markdown", required = true, max = 5000 },
			photo_caption = { type = "text", max = 300 },
		} },
	},
	guard = function(tbl, step)
		if count(tbl.id, step.id, "route") == 0 then
			return false, plugin.t("buurtschouw.refuse.route")
		end
		local n = count(tbl.id, step.id, "observation")
		if n < min_observations then
			return false, plugin.t("buurtschouw.refuse.observations", { count = n, min = min_observations })
		end
	end,
}

-- A table about the village hall: intake, the walk, the conversation, its
-- outcome and the report (the methode plugin's steps around this one).
plugin.workflow{ id = "dorpshuis", name = "buurtschouw.dorpshuis",
	steps = { "intake", "buurtschouw", "gesprek", "opbrengst", "verslag" } }
