return {
	["verslagvorm.title"] = "What we decided together",
	["verslagvorm.intro"] = "Every decision of the table in one overview.",
	["verslagvorm.decision"] = "Decision",
	["verslagvorm.chosen"] = "Chosen",
	["verslagvorm.votes"] = "Votes",
	["verslagvorm.no_majority"] = "no majority",
	["verslagvorm.together"] = "decided together",
	["verslagvorm.added"] = "What the minority added",
}
