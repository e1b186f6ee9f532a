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
	plugins = {
		site = { activity = 3 },
		banner = { text = "Doe mee met de tafel over het nieuwe dorpshuis!" },
	},
}
