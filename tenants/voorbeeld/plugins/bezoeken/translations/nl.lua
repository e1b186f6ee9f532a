return {
	["bezoeken.title"] = "Bezoeken",
	["bezoeken.views"] = "Deze pagina is zo vaak bekeken:",
}
