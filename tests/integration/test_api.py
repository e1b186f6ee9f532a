"""The JSON API's conventions, through its first operations (me, API
tokens, members): one error shape, validation errors naming the field,
cursor pagination, ETags on reads, tokens shown once and stored hashed,
a session cookie accepted for changes only with its CSRF header, and
nothing of one municipality reachable from another's host. Every answer
is validated against the OpenAPI document (api_client.check_answer)."""
import hashlib
import json
import re

import pytest
from jsonschema import Draft202012Validator

from api_client import Api, openapi
from harness import aantafel, make_request, parse_response, wait_for
from test_signin import SMALL, Browser

PASSWORD = "een lang wachtwoord 123"
A, B = "api-a.test", "api-b.test"


def make(pg, slug, email, role, name):
    r = aantafel("user", "create", "--tenant", slug, "--email", email, "--role", role, "--name", name,
                 env={**pg.daemon_env(), **SMALL}, input=PASSWORD + "\n", check=False)
    assert r.returncode == 0, r.stderr


def query(pg, sql, *args):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None


@pytest.fixture(scope="module")
def site(pg, make_daemon_module):
    for slug, name, host in (("api-a", "Gemeente Api", A), ("api-b", "Gemeente Ander", B)):
        aantafel("tenant", "create", slug, "--name", name, "--host", host, env=pg.daemon_env())
    make(pg, "api-a", "baas@example.nl", "admin", "Bea Baas")
    make(pg, "api-a", "lid@example.nl", "member", "Lex Lid")
    make(pg, "api-b", "vreemd@example.nl", "admin", "Vera Vreemd")
    d = make_daemon_module({"workers": "2"}, {**pg.daemon_env(), **SMALL})
    wait_for(lambda: d.get("/inloggen", host=A)[0] == 200, what="sign-in page")
    return d


def session(d, email, host=A):
    b = Browser(d, host)
    assert b.signin(email, PASSWORD)[0] == 303
    st, _, me = Api(d, host, browser=b).get("/me")
    assert st == 200
    return Api(d, host, browser=b, csrf=me["csrf_token"])


def new_token(d, email, name="script", host=A):
    s = session(d, email, host)
    st, _, body = s.post("/tokens", {"name": name})
    assert st == 201, body
    return body["token"], body["id"], s


def test_the_document_is_openapi_3_1_and_its_schemas_are_valid(site):
    doc = openapi(site, A)
    assert doc["openapi"] == "3.1.0"
    for name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
    st, hdr, body = parse_response(site.raw(make_request("GET", "/api/v1/openapi.json", A, {"Connection": "close"})))
    st2, hdr2, body2 = parse_response(site.raw(make_request(
        "GET", "/api/v1/openapi.json", A, {"Connection": "close", "If-None-Match": hdr["etag"]})))
    assert st2 == 304 and body2 == b"" and hdr2["etag"] == hdr["etag"]


def test_a_guest_gets_401_in_the_error_shape(site):
    st, hdr, body = Api(site, A).get("/me")
    assert st == 401 and body["error"]["code"] == "unauthorized" and body["error"]["fields"] == {}
    assert hdr["www-authenticate"].startswith("Bearer")
    assert hdr["cache-control"] == "no-store"


def test_unknown_paths_and_methods(site):
    st, _, body = Api(site, A).get("/nothing/here", check=False)
    assert st == 404 and body["error"]["code"] == "not_found"
    st, hdr, body = Api(site, A).call("PATCH", "/tokens", {}, check=False)
    assert st == 405 and "GET" in hdr["allow"] and "POST" in hdr["allow"]
    st, _, body = Api(site, A).get("/tokens/0", check=False)
    assert st == 404                                           # ids are positive integers
    st, _, body = Api(site, A).get("/tokens/12abc", check=False)
    assert st == 404


def test_a_session_reads_me_and_changes_only_with_its_csrf_header(site, pg):
    s = session(site, "lid@example.nl")
    st, hdr, me = s.get("/me")
    assert me["name"] == "Lex Lid" and me["roles"] == ["member"] and me["email"] == "lid@example.nl"
    assert hdr["cache-control"] == "private, no-cache" and "Cookie" in hdr["vary"]
    forged = Api(site, A, browser=s.browser)                      # the cookie alone, as a cross-site form sends it
    st, _, body = forged.post("/tokens", {"name": "forged"})
    assert st == 403 and body["error"]["code"] == "csrf"
    wrong = Api(site, A, browser=s.browser, csrf="x" * 43)
    assert wrong.post("/tokens", {"name": "forged"})[0] == 403
    assert query(pg, "SELECT count(*) FROM api_tokens WHERE name = 'forged'")[0][0] == 0


def test_a_token_is_shown_once_stored_hashed_and_works_until_revoked(site, pg):
    token, tid, s = new_token(site, "lid@example.nl", "backup script")
    assert token.startswith("at_") and len(token) == 46
    rows = query(pg, "SELECT encode(token_hash, 'hex'), name FROM api_tokens WHERE id = %s", tid)
    assert rows[0] == (hashlib.sha256(token[3:].encode()).hexdigest(), "backup script")
    dump = query(pg, "SELECT string_agg(t::text, ' ') FROM api_tokens t")[0][0]
    assert token[3:] not in dump
    t = Api(site, A, token=token)
    st, _, me = t.get("/me")
    assert st == 200 and me["name"] == "Lex Lid" and "csrf_token" not in me
    # Listing never shows the secret again.
    st, _, page = s.get("/tokens")
    assert st == 200 and all("token" not in k for k in page["items"])
    assert any(k["id"] == tid and k["last_used_at"] for k in page["items"])
    # A token cannot mint tokens, but can revoke itself.
    st, _, body = t.post("/tokens", {"name": "more"})
    assert st == 403 and body["error"]["code"] == "session_required"
    st, _, body = t.delete(f"/tokens/{tid}")
    assert st == 200 and body["revoked_at"]
    st, _, body = t.get("/me")
    assert st == 401 and body["error"]["code"] == "invalid_token"


def test_malformed_tokens_are_refused(site):
    for value in ("Bearer", "Bearer at_short", "Basic dXNlcjpwYXNz", "Bearer " + "at_" + "A" * 43):
        st, hdr, body = Api(site, A).get("/me", headers={"Authorization": value})
        assert st == 401 and body["error"]["code"] == "invalid_token", value


def test_validation_errors_name_the_field(site):
    s = session(site, "lid@example.nl")
    st, _, body = s.post("/tokens", {})
    assert st == 422 and body["error"]["fields"]["name"]["code"] == "required"
    st, _, body = s.post("/tokens", {"name": "x" * 101})
    assert st == 422 and body["error"]["fields"]["name"]["code"] == "too_long"
    st, _, body = s.post("/tokens", {"name": 7})
    assert st == 422 and body["error"]["fields"]["name"]["code"] == "type"
    st, _, body = s.post("/tokens", raw=b"{not json", headers={"Content-Type": "application/json"})
    assert st == 400 and body["error"]["code"] == "invalid_json"
    st, _, body = s.post("/tokens", raw=b"[1]", headers={"Content-Type": "application/json"})
    assert st == 400
    st, _, body = s.post("/tokens", raw=b'{"name": "a", "name": "b"}', headers={"Content-Type": "application/json"})
    assert st == 400                                          # duplicate keys are ambiguous
    st, _, body = s.post("/tokens", raw=b"name=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 415 and body["error"]["code"] == "unsupported_media_type"
    # Keys the daemon sets itself are not the client's to send.
    st, _, body = s.post("/tokens", {"name": "ok", "_secret_hash": "00" * 32})
    assert st == 201 and body["token"].startswith("at_")


def test_cursor_pagination_walks_every_item_once(site):
    s = session(site, "baas@example.nl")
    made = {s.post("/tokens", {"name": f"t{i}"})[2]["id"] for i in range(5)}
    seen = [k["id"] for k in s.pages("/tokens", limit=2)]
    # The account's tokens are these five and those of earlier tests: the
    # walk by twos gives what one page of a hundred gives.
    st, _, whole = s.get("/tokens?limit=100")
    assert st == 200 and whole["next_cursor"] is None
    assert seen == [k["id"] for k in whole["items"]] and made <= set(seen)
    assert seen == sorted(seen, reverse=True)                 # newest first
    for bad in ("zzz", "a" * 40, "k1", "-_-_"):
        st, _, body = s.get("/tokens?cursor=" + bad)
        assert st == 400 and body["error"]["code"] == "invalid_cursor", bad
    st, _, body = s.get("/tokens?cursor=%00")
    assert st == 400 and body["error"]["code"] == "invalid_query"
    st, _, body = s.get("/tokens?limit=100000")
    assert st == 200 and body["items"] == whole["items"]       # at most 100: all of them here


def test_arguments_over_the_limit_are_refused_with_the_reason(site):
    s = session(site, "lid@example.nl")
    st, _, body = s.post("/tables", {"title": "Groot", "question": "Wat?", "description": "a" * 600_000})
    assert st == 413 and body["error"]["code"] == "too_large" and "512 KiB" in body["error"]["message"], body


def test_at_most_twenty_live_tokens(site):
    s = session(site, "vreemd@example.nl", B)
    for i in range(20):
        st, _, body = s.post("/tokens", {"name": f"n{i}"})
        assert st == 201, (i, body)
    st, _, body = s.post("/tokens", {"name": "one too many"})
    assert st == 409 and body["error"]["code"] == "too_many"


def test_reads_carry_an_etag_and_answer_304(site):
    token, _, _ = new_token(site, "lid@example.nl")
    t = Api(site, A, token=token)
    st, hdr, body = t.get("/me")
    st2, hdr2, body2 = t.get("/me", headers={"If-None-Match": hdr["etag"]})
    assert st2 == 304 and body2 is None and hdr2["etag"] == hdr["etag"]
    st3, _, _ = t.get("/me", headers={"If-None-Match": '"other"'})
    assert st3 == 200


def test_another_municipality_is_out_of_reach(site, pg):
    token, _, _ = new_token(site, "baas@example.nl")
    st, _, body = Api(site, B, token=token).get("/me")
    assert st == 401                                          # A's token means nothing on B
    s = session(site, "baas@example.nl")
    st, _, _ = Api(site, B, browser=s.browser).get("/me")
    assert st == 401                                          # nor does A's session cookie
    foreign = query(pg, "SELECT id FROM accounts WHERE email = 'vreemd@example.nl'")[0][0]
    st, _, body = Api(site, A, token=token).put(f"/members/{foreign}/roles/facilitator")
    assert st == 404
    assert query(pg, "SELECT count(*) FROM account_roles WHERE account_id = %s AND role = 'facilitator'",
                 foreign)[0][0] == 0


def test_admins_manage_roles_through_the_api(site, pg):
    token, _, _ = new_token(site, "baas@example.nl")
    admin = Api(site, A, token=token)
    members = admin.pages("/members", limit=1)
    names = [m["name"] for m in members]
    assert "Lex Lid" in names and "Vera Vreemd" not in names
    lid = next(m["id"] for m in members if m["name"] == "Lex Lid")
    me = next(m["id"] for m in members if m["name"] == "Bea Baas")
    st, _, body = admin.put(f"/members/{lid}/roles/facilitator")
    assert st == 200 and body["roles"] == ["facilitator", "member"]
    st, _, body = admin.delete(f"/members/{lid}/roles/facilitator")
    assert st == 200 and body["roles"] == ["member"]
    st, _, body = admin.delete(f"/members/{me}/roles/admin")
    assert st == 409 and body["error"]["code"] == "own_admin"
    st, _, body = admin.put(f"/members/{lid}/roles/emperor")
    assert st == 404
    ltoken, _, _ = new_token(site, "lid@example.nl")
    st, _, body = Api(site, A, token=ltoken).get("/members")
    assert st == 403 and body["error"]["code"] == "forbidden"
    st, _, body = Api(site, A, token=ltoken).put(f"/members/{lid}/roles/admin")
    assert st == 403
    assert query(pg, "SELECT count(*) FROM account_roles WHERE account_id = %s AND role = 'admin'", lid)[0][0] == 0


def test_tokens_on_the_account_page(site, pg):
    b = Browser(site, A)
    assert b.signin("lid@example.nl", PASSWORD)[0] == 303
    st, _, body, _ = b.go("GET", "/account/sleutels")
    assert st == 200 and "API-sleutels" in body
    st, _, body, _ = b.go("POST", "/account/sleutels", {"csrf": b.jar["at_csrf"], "name": "koppeling <b>"})
    assert st == 201
    token = re.search(r"<code>(at_[A-Za-z0-9_-]{43})</code>", body).group(1)
    assert "koppeling &lt;b&gt;" in body and "koppeling <b>" not in body
    st, _, me = Api(site, A, token=token).get("/me")
    assert st == 200 and me["name"] == "Lex Lid"
    st, _, body, _ = b.go("GET", "/account/sleutels")
    assert token not in body                                   # shown once
    kid = query(pg, "SELECT id FROM api_tokens WHERE name = 'koppeling <b>'")[0][0]
    assert b.go("POST", f"/account/sleutels/{kid}/intrekken", {})[0] == 403      # no CSRF token
    assert b.go("POST", f"/account/sleutels/{kid}/intrekken", {"csrf": b.jar["at_csrf"]})[0] == 303
    assert Api(site, A, token=token).get("/me")[0] == 401
    other = Browser(site, A)
    assert other.signin("baas@example.nl", PASSWORD)[0] == 303
    # Another person cannot revoke it, nor see it.
    _, kid2, _ = new_token(site, "lid@example.nl", "nog een")
    assert other.go("POST", f"/account/sleutels/{kid2}/intrekken", {"csrf": other.jar["at_csrf"]})[0] == 404
    assert query(pg, "SELECT revoked_at IS NULL FROM api_tokens WHERE id = %s", kid2)[0][0]
    assert "koppeling" not in other.go("GET", "/account/sleutels")[2]
