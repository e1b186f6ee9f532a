"""What guests read (pages and /api/v1 reads) is kept in each worker's
cache until the tenant's data changes: a write through this daemon makes
it stale at once, a write elsewhere (another daemon, SQL) by the
database's notification. A cached page needs no database at all."""
import json

from api_client import Api
from harness import aantafel, make_request, parse_response, wait_for
from test_signin import SMALL, Browser

PASSWORD = "een lang wachtwoord 123"
HOST = "cache-a.test"


def setup_site(pg, make_daemon):
    aantafel("tenant", "create", "cache-a", "--name", "Gemeente Cache", "--host", HOST, env=pg.daemon_env(), check=False)
    aantafel("user", "create", "--tenant", "cache-a", "--email", "gl@example.nl", "--role", "facilitator",
             "--name", "Gea", env={**pg.daemon_env(), **SMALL}, input=PASSWORD + "\n", check=False)
    a = make_daemon({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    b = make_daemon({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    wait_for(lambda: a.get("/", host=HOST)[0] == 200 and b.get("/", host=HOST)[0] == 200, what="both daemons")
    br = Browser(a, HOST)
    assert br.signin("gl@example.nl", PASSWORD)[0] == 303
    st, _, me = Api(a, HOST, browser=br).get("/me")
    fac = Api(a, HOST, browser=br, csrf=me["csrf_token"])
    st, _, t = fac.post("/tables", {"title": "Het park", "question": "Wat is ervoor nodig?", "visibility": "public"})
    assert st == 201
    return a, b, fac, t["id"]


def page(d, path):
    st, _, body = d.get(path, host=HOST)
    return st, body.decode()


def test_writes_make_guests_reads_stale(pg, make_daemon):
    a, b, fac, tid = setup_site(pg, make_daemon)
    for d in (a, b):
        st, body = page(d, f"/tafels/{tid}")
        assert st == 200 and "eerste bijdrage" not in body
        assert page(d, f"/tafels/{tid}") == (st, body)                      # the cached page, the same
        assert Api(d, HOST).get(f"/tables/{tid}/contributions")[2]["items"] == []
    assert fac.post(f"/tables/{tid}/contributions", {"body": "De eerste bijdrage"})[0] == 201
    # The daemon that wrote: at once.
    assert "eerste bijdrage" in page(a, f"/tafels/{tid}")[1]
    assert len(Api(a, HOST).get(f"/tables/{tid}/contributions")[2]["items"]) == 1
    # The other daemon: by the notification.
    wait_for(lambda: "eerste bijdrage" in page(b, f"/tafels/{tid}")[1], what="the other daemon's page")
    wait_for(lambda: len(Api(b, HOST).get(f"/tables/{tid}/contributions")[2]["items"]) == 1,
             what="the other daemon's API read")
    # A change made in SQL, outside any daemon: by the notification too.
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("UPDATE tables SET title = 'Het stadspark' WHERE id = %s", (tid,))
    for d in (a, b):
        wait_for(lambda: "Het stadspark" in page(d, f"/tafels/{tid}")[1], what="the SQL change")
    # Hidden for guests as soon as it is hidden.
    cid = Api(a, HOST).get(f"/tables/{tid}/contributions")[2]["items"][0]["id"]
    assert fac.post(f"/contributions/{cid}/hide", {"reason": "Dubbel"})[0] == 200
    assert "De eerste bijdrage" not in page(a, f"/tafels/{tid}")[1]


def test_a_cached_page_needs_no_database(pg, make_daemon):
    a, b, fac, tid = setup_site(pg, make_daemon)
    assert fac.post(f"/tables/{tid}/contributions", {"body": "Blijft staan"})[0] == 201
    st, body = page(a, f"/tafels/{tid}")
    assert st == 200 and "Blijft staan" in body
    st, _, api = Api(a, HOST).get(f"/tables/{tid}")
    assert st == 200
    # The feed reads newest first, not the page's reads: read once.
    assert parse_response(a.raw(make_request("GET", f"/tafels/{tid}/feed.atom", HOST, {"Connection": "close"})))[0] == 200
    # A signed-in person's visit writes only their own mark: the guests'
    # cached reads stay valid.
    assert fac.post(f"/tables/{tid}/visit")[0] == 200
    pg.stop()
    try:
        st2, body2 = page(a, f"/tafels/{tid}")
        assert st2 == 200 and "Blijft staan" in body2                          # from the cache
        st2, _, api2 = Api(a, HOST).get(f"/tables/{tid}")
        assert (st2, api2) == (200, api)
        # What is not cached needs the database, which is away.
        st3, _, _ = parse_response(a.raw(make_request("GET", f"/tafels/{tid}/feed.atom", HOST,
                                                      {"Connection": "close"})))
        assert st3 == 200                                                      # its reads from the cache
        st3, _, _ = parse_response(a.raw(make_request("GET", "/tafels/999999", HOST, {"Connection": "close"})))
        assert st3 == 503
        assert Api(a, HOST).get("/search?q=park")[0] == 503
    finally:
        pg.start()
    wait_for(lambda: Api(a, HOST).get("/search?q=park")[0] == 200, what="the database back")
