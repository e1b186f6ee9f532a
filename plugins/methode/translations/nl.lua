-- The methode plugin's strings in Dutch.
return {
	["methode.volledig"] = "Volledige methode (zeven stappen)",
	["methode.kort"] = "Burgerinitiatief (kort)",
	["methode.intake"] = "Intake",
	["methode.interviews"] = "Interviews",
	["methode.draaiboek"] = "Draaiboek",
	["methode.gesprek"] = "Gesprek",
	["methode.opbrengst"] = "Opbrengst",
	["methode.verslag"] = "Verslag",
	["methode.evaluatie"] = "Evaluatie",
	["methode.refuse.question"] = "De centrale vraag begint nog niet met '{prefix}'",
	["methode.refuse.quote"] = "De offerte is nog niet geaccepteerd",
	["methode.refuse.interviews"] = "Er zijn {count} interviews gehouden; er zijn er minstens {min} nodig",
	["methode.refuse.seldom_heard"] = "Er is nog niemand geïnterviewd die zelden gehoord wordt",
	["methode.refuse.no_agenda"] = "Het draaiboek heeft nog geen onderdelen",
	["methode.refuse.not_approved"] = "Het draaiboek is nog niet goedgekeurd door de opdrachtgever",
	["methode.refuse.changed"] = "Het draaiboek is gewijzigd na de laatste goedkeuring; vraag de opdrachtgever opnieuw om goedkeuring",
	["methode.refuse.no_report"] = "Het verslag is nog niet gepubliceerd",
	["methode.refuse.no_evaluation"] = "De evaluatie is nog niet vastgelegd",
	["methode.refuse.client_quote"] = "De opdrachtgever kan alleen een verstuurde offerte accepteren of weigeren",
	["methode.refuse.quote_by_client"] = "Alleen de opdrachtgever accepteert of weigert de offerte",
	["methode.refuse.approval_by_client"] = "Alleen de opdrachtgever keurt het draaiboek goed",
	-- Steps, as residents see them: the labels of what residents read
	-- (the kinds visible to "readers"), by the convention of
	-- docs/plugins.md ("<step type's name>.<kind>.<field>").
	["methode.opbrengst.outcome"] = "Gedeelde opbrengst",
	["methode.opbrengst.outcome.decision"] = "Besluit",
	["methode.opbrengst.outcome.minority"] = "Wijsheid van de minderheid",
	["methode.verslag.report"] = "Verslag",
	["methode.verslag.report.summary"] = "Samenvatting",
	["methode.verslag.report.published_on"] = "Gepubliceerd op",
}
