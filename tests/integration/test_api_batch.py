"""plugin.api.batch: several of the API's operations in one round trip, in
order, with the same answers as one call each; operations with events or
secrets, the platform's own operations and more than eight calls are
refused to the plugin with a clear error."""
import json

from bundle_util import deployed, write_bundle
from harness import wait_for

PLUGIN = r'''
local function try(calls)
	local ok, r = pcall(plugin.api.batch, calls)
	if not ok then return { error = tostring(r) } end
	local out = {}
	for i, a in ipairs(r) do out[i] = a.status end
	return { statuses = out, first = r[1].body }
end
plugin.route("GET", "/b", function()
	return { json = try({ { "GET", "/tables" }, { "GET", "/search", { q = "park" } }, { "GET", "/tables/999999" },
		{ "GET", "/search" } }) }
end)
plugin.route("GET", "/b-events", function()
	return { json = try({ { "POST", "/tables", { title = "x" } } }) }
end)
plugin.route("GET", "/b-platform", function() return { json = try({ { "GET", "/members" } }) } end)
plugin.route("GET", "/b-many", function()
	local calls = {}
	for i = 1, 9 do calls[i] = { "GET", "/tables" } end
	return { json = try(calls) }
end)
plugin.route("GET", "/b-nothing", function() return { json = try({ { "GET", "/nowhere" } }) } end)
'''


def test_batches(pg, tenants, db_daemon, tmp_path):
    tenants(("batch-a", "Gemeente Batch", "batch-a.test"))
    folder = write_bundle(tmp_path / "b", {
        "tenant.lua": 'return { name = "Gemeente Batch", plugins = { bundel = {} } }\n',
        "plugins/bundel.lua": PLUGIN,
    })
    deployed(pg, "batch-a", folder)
    d = db_daemon({"workers": "1"})
    wait_for(lambda: d.get("/b", host="batch-a.test")[0] == 200, what="the plugin")

    def get(path):
        st, _, body = d.get(path, host="batch-a.test")
        assert st == 200, body
        return json.loads(body)
    out = get("/b")
    assert out["statuses"] == [200, 200, 404, 422] and not out["first"]["items"]
    assert get("/b")["statuses"] == [200, 200, 404, 422]              # the reads again, from the cache
    assert "call it alone" in get("/b-events")["error"]
    assert "platform" in get("/b-platform")["error"]
    assert "1 to 8 calls" in get("/b-many")["error"]
    assert "no such operation" in get("/b-nothing")["error"]
