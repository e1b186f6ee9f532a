return {
	["zutphen.tagline"] = "Samen aan tafel in de Hanzestad",
	["zutphen.footer"] = "’s-Gravenhof 2, Zutphen",
}
