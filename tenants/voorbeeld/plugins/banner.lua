-- A municipality's own plugin: a banner above every page the site
-- renders, added to the view model through the page.view event.
local text = plugin.option("text", "string", "", { max = 300 })

plugin.hook("page.view", function(template, view)
	if text ~= "" then
		view.banner = text
	end
end)
