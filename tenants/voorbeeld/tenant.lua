-- Gemeente Voorbeeld: an example municipality with a plugin of its own.
return {
	name = "Gemeente Voorbeeld",
	locale = "nl",
	theme = {
		primary = "#00695c",
		background = "#f4f8f7",
		text = "#102a27",
		font = "'Fira Sans', system-ui, sans-serif",
	},
	-- New tables take Voorbeeld's own workflow, with its neighbourhood
	-- walk (plugins/buurtschouw); the full method (volledig) and the short
	-- one of a citizens' initiative (kort) can be chosen when a table is
	-- opened.
	workflow = "dorpshuis",
	plugins = {
		methode = { min_interviews = 1, seldom_heard = true },
		buurtschouw = { min_observations = 2 },
		banner = { text = "Doe mee met de tafel over het nieuwe dorpshuis!" },
		-- plugins/verslagvorm.lua: the report's decisions as one table.
		verslagvorm = {},
		-- plugins/bezoeken.lua counts the home page's views and shows the
		-- last ones; off unless named here:
		-- bezoeken = { recent = 3 },
	},
}
