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
	-- New tables take the short workflow of a citizens' initiative; the
	-- full method (volledig) can be chosen when a table is opened.
	workflow = "kort",
	plugins = {
		methode = { min_interviews = 1, seldom_heard = true },
		banner = { text = "Doe mee met de tafel over het nieuwe dorpshuis!" },
		-- plugins/bezoeken.lua counts the home page's views and shows the
		-- last ones; off unless named here:
		-- bezoeken = { recent = 3 },
	},
}
