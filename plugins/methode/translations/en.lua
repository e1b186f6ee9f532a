-- The methode plugin's strings in English.
return {
	["methode.volledig"] = "Full method (seven steps)",
	["methode.kort"] = "Citizens' initiative (short)",
	["methode.intake"] = "Intake",
	["methode.interviews"] = "Interviews",
	["methode.draaiboek"] = "Run-sheet",
	["methode.gesprek"] = "Conversation",
	["methode.opbrengst"] = "Outcome",
	["methode.verslag"] = "Report",
	["methode.evaluatie"] = "Evaluation",
	["methode.refuse.question"] = "The central question does not start with '{prefix}' yet",
	["methode.refuse.quote"] = "The quote has not been accepted yet",
	["methode.refuse.interviews"] = "{count} interviews were held; at least {min} are needed",
	["methode.refuse.seldom_heard"] = "Nobody who is seldom heard has been interviewed yet",
	["methode.refuse.no_agenda"] = "The run-sheet has no items yet",
	["methode.refuse.not_approved"] = "The client has not approved the run-sheet yet",
	["methode.refuse.changed"] = "The run-sheet changed after the last approval; ask the client to approve it again",
	["methode.refuse.no_report"] = "The report has not been published yet",
	["methode.refuse.no_evaluation"] = "The evaluation has not been recorded yet",
	["methode.refuse.client_quote"] = "The client can only accept or decline a quote that was sent",
	["methode.refuse.quote_by_client"] = "Only the client accepts or declines the quote",
	["methode.refuse.approval_by_client"] = "Only the client approves the run-sheet",
	-- Steps, as residents see them: the labels of what residents read
	-- (the kinds visible to "readers"), by the convention of
	-- docs/plugins.md ("<step type's name>.<kind>.<field>").
	["methode.opbrengst.outcome"] = "Shared outcome",
	["methode.opbrengst.outcome.decision"] = "Decision",
	["methode.opbrengst.outcome.minority"] = "The minority's wisdom",
	["methode.verslag.report"] = "Report",
	["methode.verslag.report.summary"] = "Summary",
	["methode.verslag.report.published_on"] = "Published on",
}
