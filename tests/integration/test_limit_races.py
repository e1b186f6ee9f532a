"""Every limit holds when the requests come at once.

Each test sends many requests from threads released together, over real
connections to a daemon with two workers, and then counts in the database:
the plugin store's quota, 20 live API tokens per account, 200 invitations
a day and 100 groups per table, 30 reports an hour, 5 valid reset,
verification and address links, and the attempt counts of sign-in (per
address asked for and per client address) and sign-up. Each limit's check
and write are serialized by a lock (sql/017), so the count never passes
the limit, however the requests interleave."""
import concurrent.futures
import json
import threading

import pytest

from api_client import Api
from bundle_util import deployed, sql, wait_page, write_bundle
from harness import aantafel, make_request, parse_response, wait_for
from test_signin import SMALL
from world import PASSWORD, token_for

HOST = "race.test"
STORE_HOST = "race-opslag.test"
WRONG = "niet het goede wachtwoord"
DOC = 200 * 1024
QUOTA = 2 * 1024 * 1024

FILL = r'''-- Puts four documents of 200 KiB per request.
plugin.route("GET", "/vul", function(req)
	local doc = string.rep("x", 204800)
	local stored = 0
	for i = 1, 4 do
		if plugin.store.put(req.query.tag .. "/" .. i, doc) then stored = stored + 1 end
	end
	return { json = { stored = stored } }
end)
'''


@pytest.fixture(scope="module")
def d(pg, make_daemon_module, tmp_path_factory):
    env = pg.daemon_env()
    aantafel("tenant", "create", "race", "--name", "Gemeente Race", "--host", HOST, env=env)
    aantafel("tenant", "create", "race-opslag", "--name", "Gemeente Opslag", "--host", STORE_HOST, env=env)
    deployed(pg, "race-opslag", write_bundle(tmp_path_factory.mktemp("b"), {
        "tenant.lua": 'return { name = "Gemeente Opslag", plugins = { fill = true } }\n',
        "plugins/fill.lua": FILL}))
    for email, role, name in (("fac@example.nl", "facilitator", "Fee Facilitator"),
                              ("lid@example.nl", "member", "Lot Lid"), ("sleutel@example.nl", "member", "Sam Sleutel"),
                              ("vergeten@example.nl", "member", "Vera Vergeten"),
                              ("adres@example.nl", "member", "Ad Adres"), ("raak@example.nl", "member", "Rik Raak")):
        r = aantafel("user", "create", "--tenant", "race", "--email", email, "--role", role, "--name", name,
                     env={**env, **SMALL}, input=PASSWORD + "\n", check=False)
        assert r.returncode == 0, r.stderr
    # What is raced here is the counting, not the speed: up to sixty
    # requests at once wait on one lock in turn, longer than the default
    # two seconds of Lua, or of waiting for a pool connection, on a busy
    # machine (503 from either would not be the limit's answer).
    daemon = make_daemon_module({"workers": "2", "trusted_proxies": "127.0.0.1", "lua_time_limit": "60s",
                                 "db_wait_timeout": "60s"},
                                {**env, **SMALL})
    wait_for(lambda: daemon.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
    wait_page(daemon, STORE_HOST, "Gemeente Opslag")
    return daemon


def tenant_id(pg, slug):
    return sql(pg, "super", "SELECT id FROM platform.tenants WHERE slug = %s", (slug,))[0][0]


def together(n, fn):
    """fn(i) for i in 0..n-1, each in its own thread, all released at once;
    the results in order."""
    gate = threading.Barrier(n)

    def run(i):
        gate.wait()
        return fn(i)
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def send(d, method, path, body=None, headers=None, host=HOST):
    """(status, headers, parsed JSON body or text) of one request."""
    h = {"Connection": "close", **(headers or {})}
    data = None
    if body is not None:
        h["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    st, hdr, out = parse_response(d.raw(make_request(method, path, host, h, data), timeout=60))
    try:
        return st, hdr, json.loads(out)
    except ValueError:
        return st, hdr, out.decode("utf-8", "replace")


def bearer(d, email):
    tok, _ = token_for(d, HOST, email)
    return {"Authorization": "Bearer " + tok}


def session(d, email, ip="127.0.0.1"):
    """Headers that carry an API sign-in's session cookie and CSRF token."""
    st, hdr, body = send(d, "POST", "/api/v1/session", {"email": email, "password": PASSWORD},
                         {"X-Forwarded-For": ip})
    assert st == 200, body
    cookie = hdr["set-cookie"].split(";", 1)[0]
    return {"Cookie": cookie, "X-CSRF-Token": body["csrf_token"]}


def statuses(answers):
    out = {}
    for st, _, _ in answers:
        out[st] = out.get(st, 0) + 1
    return out


# ---------------------------------------------------------------- quotas of things made


def test_the_store_quota_holds(d, pg):
    tid = tenant_id(pg, "race-opslag")
    sql(pg, "owner", "UPDATE platform.tenants SET store_quota = %s WHERE id = %s", (QUOTA, tid))
    try:
        answers = together(12, lambda i: send(d, "GET", f"/vul?tag=r{i}", host=STORE_HOST))
        assert all(st == 200 for st, _, _ in answers), statuses(answers)
        stored = sum(body["stored"] for _, _, body in answers)
        (total, big), = sql(pg, "super", "SELECT coalesce(sum(octet_length(value::text)), 0),"
                                         " count(*) FILTER (WHERE key LIKE 'r%%')"
                                         " FROM plugin_store WHERE tenant_id = %s", (tid,))
        (used,), = sql(pg, "super", "SELECT bytes FROM plugin_store_usage WHERE tenant_id = %s", (tid,))
        assert total <= QUOTA and used == total, (total, used)
        assert big == stored == QUOTA // (DOC + 2)                 # as many as fit, and not one more
    finally:
        sql(pg, "owner", "UPDATE platform.tenants SET store_quota = DEFAULT WHERE id = %s", (tid,))


def test_twenty_api_tokens_at_most(d, pg):
    auth = session(d, "sleutel@example.nl")                    # tokens are made with a session
    answers = together(30, lambda i: send(d, "POST", "/api/v1/tokens", {"name": f"sleutel {i}"}, auth))
    assert statuses(answers) == {201: 20, 409: 10}
    (live,), = sql(pg, "super", "SELECT count(*) FROM api_tokens k JOIN accounts a ON a.tenant_id = k.tenant_id"
                                " AND a.id = k.account_id WHERE a.email = 'sleutel@example.nl'"
                                " AND k.revoked_at IS NULL")
    assert live == 20


def new_table(d, auth):
    st, _, body = send(d, "POST", "/api/v1/tables", {"title": "Racetafel", "question": "Wat is ervoor nodig?",
                                                     "visibility": "public"}, auth)
    assert st == 201, body
    return body["id"]


def test_two_hundred_invitations_a_day_per_table(d, pg):
    auth = bearer(d, "fac@example.nl")
    table = new_table(d, auth)
    tid = tenant_id(pg, "race")
    sql(pg, "super", "INSERT INTO invitations (tenant_id, table_id, role, token_hash, expires_at)"
                     " SELECT %s, %s, 'member', sha256(convert_to('race' || i, 'UTF8')), now() + interval '1 day'"
                     " FROM generate_series(1, 185) i", (tid, table))
    answers = together(30, lambda i: send(d, "POST", f"/api/v1/tables/{table}/invitations", {}, auth))
    assert statuses(answers) == {201: 15, 429: 15}
    # The day runs from the oldest of the last 200, one of those inserted
    # just now.
    for st, hdr, body in answers:
        if st == 429:
            assert 86400 - 120 < int(hdr["retry-after"]) <= 86400, hdr["retry-after"]
            assert body["error"]["retry_after"] == int(hdr["retry-after"])
    assert sql(pg, "super", "SELECT count(*) FROM invitations WHERE table_id = %s", (table,))[0][0] == 200


def test_a_hundred_groups_per_table(d, pg):
    auth = bearer(d, "fac@example.nl")
    table = new_table(d, auth)
    tid = tenant_id(pg, "race")
    sql(pg, "super", "INSERT INTO groups (tenant_id, table_id, name, visibility)"
                     " SELECT %s, %s, 'groep ' || i, 'public' FROM generate_series(1, 85) i", (tid, table))
    answers = together(30, lambda i: send(d, "POST", f"/api/v1/tables/{table}/groups",
                                          {"name": f"nieuw {i}", "visibility": "public"}, auth))
    assert statuses(answers) == {201: 15, 409: 15}
    assert sql(pg, "super", "SELECT count(*) FROM groups WHERE table_id = %s", (table,))[0][0] == 100


def test_thirty_reports_an_hour(d, pg):
    fac = bearer(d, "fac@example.nl")
    table = new_table(d, fac)
    ids = []
    for i in range(45):
        st, _, body = send(d, "POST", f"/api/v1/tables/{table}/contributions", {"body": f"bijdrage {i}"}, fac)
        assert st == 201, body
        ids.append(body["id"])
    tid = tenant_id(pg, "race")
    reporter = bearer(d, "lid@example.nl")
    (me,), = sql(pg, "super", "SELECT id FROM accounts WHERE email = 'lid@example.nl'")
    sql(pg, "super", "INSERT INTO reports (tenant_id, contribution_id, reporter_id, reason)"
                     " SELECT %s, c, %s, 'eerder' FROM unnest(%s::bigint[]) c", (tid, me, ids[:15]))
    answers = together(30, lambda i: send(d, "POST", f"/api/v1/contributions/{ids[15 + i]}/reports",
                                          {"reason": "racemelding"}, reporter))
    assert statuses(answers) == {201: 15, 429: 15}
    # The hour runs from the oldest of the last 30, one of those inserted
    # just now.
    assert all(3600 - 120 < int(hdr["retry-after"]) <= 3600 for st, hdr, _ in answers if st == 429), answers
    assert sql(pg, "super", "SELECT count(*) FROM reports WHERE reporter_id = %s"
                            " AND created_at > now() - interval '1 hour'", (me,))[0][0] == 30


# ---------------------------------------------------------------- links by mail


def valid_tokens(pg, email, purpose):
    return sql(pg, "super", "SELECT count(*) FROM account_tokens k JOIN accounts a ON a.tenant_id = k.tenant_id"
                            " AND a.id = k.account_id WHERE a.email = %s AND k.purpose = %s AND k.used_at IS NULL"
                            " AND k.expires_at > now()", (email, purpose))[0][0]


def test_five_reset_links_at_most(d, pg):
    answers = together(20, lambda i: send(d, "POST", "/api/v1/password/forgot", {"email": "vergeten@example.nl"}))
    assert statuses(answers) == {202: 20}
    assert valid_tokens(pg, "vergeten@example.nl", "reset") == 5
    assert sql(pg, "super", "SELECT count(*) FROM mail_outbox WHERE to_addr = 'vergeten@example.nl'")[0][0] == 5


def test_five_verification_links_at_most(d, pg):
    st, _, body = send(d, "POST", "/api/v1/accounts", {"email": "onbevestigd@example.nl", "name": "Otto",
                                                       "password": PASSWORD}, {"X-Forwarded-For": "203.0.113.1"})
    assert st == 202, body
    answers = together(20, lambda i: send(d, "POST", "/api/v1/accounts/verify/resend",
                                          {"email": "onbevestigd@example.nl"}))
    assert statuses(answers) == {202: 20}
    assert valid_tokens(pg, "onbevestigd@example.nl", "verify") == 5
    assert sql(pg, "super", "SELECT count(*) FROM mail_outbox WHERE to_addr = 'onbevestigd@example.nl'")[0][0] == 5


def test_five_address_links_at_most(d, pg):
    auth = session(d, "adres@example.nl")
    answers = together(20, lambda i: send(d, "POST", "/api/v1/me/email",
                                          {"current": PASSWORD, "email": f"nieuw{i}@example.nl"}, auth))
    assert statuses(answers) == {202: 20}                       # alike: nobody learns why no mail came
    assert valid_tokens(pg, "adres@example.nl", "email") == 5
    assert sql(pg, "super", "SELECT count(*) FROM mail_outbox WHERE to_addr LIKE 'nieuw%%@example.nl'")[0][0] == 5


# ---------------------------------------------------------------- attempts


def preload(pg, key_sql, arg, failures):
    tid = tenant_id(pg, "race")
    sql(pg, "super", "INSERT INTO signin_limits (tenant_id, key, window_start, failures)"
                     f" VALUES (%s, {key_sql}, now() - interval '1 minute', %s)", (tid, arg, failures))


def failures(pg, key_sql, arg):
    return sql(pg, "super", f"SELECT failures FROM signin_limits WHERE key = {key_sql}", (arg,))[0][0]


def signin(d, email, password, ip):
    return send(d, "POST", "/api/v1/session", {"email": email, "password": password}, {"X-Forwarded-For": ip})


def test_sign_in_failures_per_client_address_under_concurrency(d, pg):
    ip = "203.0.113.50"
    preload(pg, "%s", "ip:" + ip, 280)
    mark = d.log_mark()
    answers = together(60, lambda i: signin(d, f"onbekend{i}@example.nl", WRONG, ip))
    assert statuses(answers) == {401: 20, 429: 40}
    assert failures(pg, "%s", "ip:" + ip) == 300
    wait_for(lambda: d.log_since(mark).count("unknown address (dummy hash)") == 20, what="20 hashes")
    assert d.log_since(mark).count("unknown address (dummy hash)") == 20


def test_sign_in_failures_per_address_under_concurrency(d, pg):
    preload(pg, "platform.address_key(%s)", "raak@example.nl", 80)
    answers = together(60, lambda i: signin(d, "raak@example.nl", WRONG, f"203.0.113.{100 + i}"))
    assert statuses(answers) == {401: 20, 429: 40}
    assert failures(pg, "platform.address_key(%s)", "raak@example.nl") == 100
    assert signin(d, "raak@example.nl", PASSWORD, "203.0.113.99")[0] == 429


def test_sign_ups_per_client_address_under_concurrency(d, pg):
    ip = "203.0.113.60"
    preload(pg, "%s", "signup-ip:" + ip, 90)
    answers = together(30, lambda i: send(d, "POST", "/api/v1/accounts",
                                          {"email": f"aanmelding{i}@example.nl", "name": "Aan", "password": PASSWORD},
                                          {"X-Forwarded-For": ip}))
    assert statuses(answers) == {202: 10, 429: 20}
    assert failures(pg, "%s", "signup-ip:" + ip) == 100
