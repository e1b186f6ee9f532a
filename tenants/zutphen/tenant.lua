-- Gemeente Zutphen: the bundle's settings. Deploy with
--   aantafel tenant deploy zutphen
return {
	name = "Gemeente Zutphen",
	locale = "nl",
	theme = {
		primary = "#8a1538",
		background = "#fffdf8",
		text = "#1d1d1b",
		font = "Georgia, 'Times New Roman', serif",
	},
	-- New tables follow the seven steps of the method (plugins/methode).
	workflow = "volledig",
	plugins = {
		methode = { min_interviews = 3 },
		site = {
			welcome = "Welkom aan tafel in Zutphen. Hier praten inwoners, ondernemers en gemeente samen over wat de stad nodig heeft.",
		},
	},
}
