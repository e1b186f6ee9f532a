return {
	["site.welcome"] = "Welcome to the local tables of {name}.",
	["site.notices"] = "Notices",
	["site.no_notices"] = "There are no notices yet.",
	["site.views"] = "Times viewed:",
	["site.skip"] = "Skip to content",
	["site.activity"] = "Recent visits",
}
