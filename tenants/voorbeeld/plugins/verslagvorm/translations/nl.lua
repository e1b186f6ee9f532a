return {
	["verslagvorm.title"] = "Wat we samen besloten",
	["verslagvorm.intro"] = "Elk besluit van de tafel in één overzicht.",
	["verslagvorm.decision"] = "Besluit",
	["verslagvorm.chosen"] = "Gekozen",
	["verslagvorm.votes"] = "Stemmen",
	["verslagvorm.no_majority"] = "geen meerderheid",
	["verslagvorm.together"] = "samen besloten",
	["verslagvorm.added"] = "Wat de minderheid eraan toevoegde",
}
