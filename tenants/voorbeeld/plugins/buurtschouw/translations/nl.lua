-- The neighbourhood walk's strings in Dutch.
return {
	["buurtschouw.name"] = "Buurtschouw",
	["buurtschouw.dorpshuis"] = "Dorpshuis (met buurtschouw)",
	["buurtschouw.refuse.route"] = "De route van de buurtschouw is nog niet vastgelegd",
	["buurtschouw.refuse.observations"] = "Er zijn {count} waarnemingen vastgelegd; er zijn er minstens {min} nodig",
}
