return {
	["bezoeken.title"] = "Visits",
	["bezoeken.views"] = "Times this page was viewed:",
}
