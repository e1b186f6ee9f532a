return {
	["zutphen.tagline"] = "Around the table in the Hanseatic town",
	["zutphen.footer"] = "’s-Gravenhof 2, Zutphen",
}
