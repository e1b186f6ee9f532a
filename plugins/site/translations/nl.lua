return {
	["site.welcome"] = "Welkom bij de lokale tafels van {name}.",
	["site.notices"] = "Berichten",
	["site.no_notices"] = "Er zijn nog geen berichten.",
	["site.views"] = "Aantal keer bekeken:",
	["site.skip"] = "Naar de inhoud",
	["site.activity"] = "Recente bezoeken",
}
