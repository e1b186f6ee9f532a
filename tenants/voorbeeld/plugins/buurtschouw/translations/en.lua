-- The neighbourhood walk's strings in English.
return {
	["buurtschouw.name"] = "Neighbourhood walk",
	["buurtschouw.dorpshuis"] = "Village hall (with a neighbourhood walk)",
	["buurtschouw.refuse.route"] = "The route of the neighbourhood walk has not been recorded yet",
	["buurtschouw.refuse.observations"] = "{count} observations were recorded; at least {min} are needed",
}
