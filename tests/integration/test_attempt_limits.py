"""Password attempts are limited on every path, and alike for every address.

Each attempt (a sign-in, the current password of a change or a deletion)
is counted before anything is hashed, and the count is kept whatever the
answer is: a 401 or 422 of the JSON API commits it as the form's pages do.
The per-address count is keyed by the address asked for, so an address
without an account is counted, limited and answered exactly as one with
an account. The daemon trusts 127.0.0.1 as a proxy, so that each test
speaks from a client address of its own (X-Forwarded-For)."""
import json
import re
import urllib.parse

import pytest

from harness import aantafel, make_request, parse_response, wait_for
from test_signin import SMALL, cookies_of

PASSWORD = "een lang wachtwoord 123"
WRONG = "niet het goede wachtwoord"
HOST = "pogingen.test"
PER_ACCOUNT, PER_ADDRESS = 100, 300
# What differs between two answers for reasons other than the address.
VOLATILE = {"date", "x-request-id", "set-cookie", "retry-after", "content-length"}


@pytest.fixture(scope="module")
def site(pg, make_daemon_module):
    aantafel("tenant", "create", "pogingen", "--name", "Gemeente Pogingen", "--host", HOST, env=pg.daemon_env())
    for email, name in (("echt@example.nl", "Echte Persoon"), ("api@example.nl", "Api Persoon"),
                        ("mix@example.nl", "Mix Persoon"), ("wissel@example.nl", "Wissel Persoon"),
                        ("veel@example.nl", "Veel Persoon"), ("form@example.nl", "Form Persoon")):
        r = aantafel("user", "create", "--tenant", "pogingen", "--email", email, "--role", "member", "--name", name,
                     env={**pg.daemon_env(), **SMALL}, input=PASSWORD + "\n", check=False)
        assert r.returncode == 0, r.stderr
    d = make_daemon_module({"workers": "2", "trusted_proxies": "127.0.0.1"}, {**pg.daemon_env(), **SMALL})
    wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
    return d


def call(d, method, path, ip, body=None, cookies=None, headers=None, form=False):
    """(status, headers, body text, cookies set) of one request from client IP."""
    h = {"Connection": "close", "X-Forwarded-For": ip, **(headers or {})}
    data = None
    if cookies:
        h["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if body is not None:
        h["Content-Type"] = "application/x-www-form-urlencoded" if form else "application/json"
        data = (urllib.parse.urlencode(body) if form else json.dumps(body)).encode()
    raw = d.raw(make_request(method, path, HOST, h, data), timeout=30)
    head = raw.partition(b"\r\n\r\n")[0].decode("latin-1")
    st, hdr, out = parse_response(raw)
    return st, hdr, out.decode("utf-8", "replace"), cookies_of(head)


def api_signin(d, ip, email, password):
    return call(d, "POST", "/api/v1/session", ip, {"email": email, "password": password})


class Form:
    """The sign-in form from one client address, with its CSRF cookie."""

    def __init__(self, d, ip):
        self.d, self.ip = d, ip
        _, _, _, set_cookies = call(d, "GET", "/inloggen", ip)
        self.csrf = set_cookies["at_csrf"].split(";", 1)[0].split("=", 1)[1]

    def signin(self, email, password):
        return call(self.d, "POST", "/inloggen", self.ip, {"csrf": self.csrf, "email": email, "password": password},
                    cookies={"at_csrf": self.csrf}, form=True)


def session(d, ip, email):
    """Cookies and CSRF token of an API sign-in."""
    st, _, body, cookies = api_signin(d, ip, email, PASSWORD)
    assert st == 200, body
    jar = {k: v.split(";", 1)[0].split("=", 1)[1] for k, v in cookies.items()}
    return jar, json.loads(body)["csrf_token"]


def assert_limited(st, hdr, body, api=True):
    assert st == 429, (st, body[:300])
    retry = int(hdr["retry-after"])
    assert 3000 <= retry <= 3600, retry
    if api:
        err = json.loads(body)["error"]
        assert err["code"] == "limited" and err["retry_after"] == retry, err
    return retry


def dummy_lines(d, mark):
    return d.log_since(mark).count("unknown address (dummy hash)")


# ---------------------------------------------------------------- the API counts


def test_api_sign_in_failures_are_limited_per_address(site):
    ip = "198.51.100.1"
    for _ in range(PER_ACCOUNT):
        st, _, body, cookies = api_signin(site, ip, "echt@example.nl", WRONG)
        assert st == 401 and "at_session" not in cookies, body
    # The right password now: refused before it is checked, and said when.
    st, hdr, body, cookies = api_signin(site, ip, "echt@example.nl", PASSWORD)
    assert_limited(st, hdr, body)
    assert "at_session" not in cookies
    # Other clients are refused too: the limit is the address's.
    st, hdr, body, _ = api_signin(site, "198.51.100.2", "Echt@Example.NL", PASSWORD)
    assert_limited(st, hdr, body)


def test_api_sign_in_failures_are_limited_per_client_address(site):
    ip = "198.51.100.3"
    for i in range(PER_ADDRESS):
        st, _, body, _ = api_signin(site, ip, f"onbekend{i}@example.nl", WRONG)
        assert st == 401, (i, body)
    st, hdr, body, cookies = api_signin(site, ip, "api@example.nl", PASSWORD)
    assert_limited(st, hdr, body)
    assert "at_session" not in cookies
    # The account itself is not limited: from elsewhere it signs in.
    assert api_signin(site, "198.51.100.4", "api@example.nl", PASSWORD)[0] == 200


def test_form_and_api_failures_count_together(site):
    ip = "198.51.100.5"
    form = Form(site, ip)
    for i in range(PER_ACCOUNT):
        if i % 2:
            assert form.signin("mix@example.nl", WRONG)[0] == 401
        else:
            assert api_signin(site, ip, "mix@example.nl", WRONG)[0] == 401
    assert_limited(*api_signin(site, ip, "mix@example.nl", PASSWORD)[:3])
    st, hdr, body, cookies = form.signin("mix@example.nl", PASSWORD)
    assert_limited(st, hdr, body, api=False)
    assert "Te veel" in body and "at_session" not in cookies


def test_the_limit_comes_before_any_hashing(site):
    ip = "198.51.100.6"
    mark = site.log_mark()
    for _ in range(PER_ACCOUNT):
        assert api_signin(site, ip, "niemand.hier@example.nl", WRONG)[0] == 401
    wait_for(lambda: dummy_lines(site, mark) == PER_ACCOUNT, what="a dummy hash per attempt")
    mark = site.log_mark()
    form = Form(site, "198.51.100.7")
    for _ in range(3):
        assert_limited(*api_signin(site, ip, "niemand.hier@example.nl", WRONG)[:3])
        assert_limited(*form.signin("niemand.hier@example.nl", WRONG)[:3], api=False)
    # A request that was hashed logs its line before it is answered.
    assert dummy_lines(site, mark) == 0


def test_wrong_current_passwords_through_the_api_count(site):
    ip = "198.51.100.8"
    jar, csrf = session(site, ip, "wissel@example.nl")
    h = {"X-CSRF-Token": csrf}
    for i in range(PER_ACCOUNT):
        if i % 3 == 0:
            st, _, body, _ = call(site, "PUT", "/api/v1/me/password", ip,
                                  {"current": WRONG, "password": "een nieuw lang wachtwoord"}, jar, h)
        elif i % 3 == 1:
            st, _, body, _ = call(site, "POST", "/api/v1/me/email", ip,
                                  {"current": WRONG, "email": "ander@example.nl"}, jar, h)
        else:
            st, _, body, _ = call(site, "DELETE", "/api/v1/me", ip, {"current": WRONG}, jar, h)
        assert st == 422 and json.loads(body)["error"]["fields"]["current"]["code"] == "wrong", body
    for method, path, args in (("PUT", "/api/v1/me/password", {"current": PASSWORD, "password": "een nieuw lang wachtwoord"}),
                               ("POST", "/api/v1/me/email", {"current": PASSWORD, "email": "ander@example.nl"}),
                               ("DELETE", "/api/v1/me", {"current": PASSWORD})):
        assert_limited(*call(site, method, path, ip, args, jar, h)[:3])
    # The same count as a sign-in with the address.
    assert_limited(*api_signin(site, "198.51.100.9", "wissel@example.nl", PASSWORD)[:3])


def test_sign_up_attempts_through_the_api_count(site, pg):
    ip = "198.51.100.10"
    for i in range(100):
        st, _, body, _ = call(site, "POST", "/api/v1/accounts", ip,
                              {"email": "veel@example.nl", "name": "Iemand", "password": PASSWORD + str(i)})
        assert st == 202, body
    assert_limited(*call(site, "POST", "/api/v1/accounts", ip,
                         {"email": "nieuw.veel@example.nl", "name": "Iemand", "password": PASSWORD})[:3])


# ---------------------------------------------------------------- alike for every address


def normalized(answer, address):
    """An answer without what differs for reasons other than the address."""
    st, hdr, body, _ = answer
    body = re.sub(r'value="[^"]*"', 'value=""', body.replace(address, "ADRES"))
    body = re.sub(r"\d+ seconds", "N seconds", re.sub(r'"retry_after":\d+', '"retry_after":N', body))
    return st, {k: v for k, v in hdr.items() if k not in VOLATILE}, body


def same_sequence(site, attempt, known, unknown):
    """Runs the same attempts for KNOWN and UNKNOWN; returns both lists of
    answers, which must be equal but for the address."""
    out = []
    for address in (known, unknown):
        answers = [attempt(address, WRONG) for _ in range(PER_ACCOUNT)]
        answers += [attempt(address, PASSWORD) for _ in range(2)]
        out.append(answers)
    for a, b in zip(*out):
        assert normalized(a, known) == normalized(b, unknown)
        assert a[0] not in (401, 422) or "retry-after" not in a[1]
        if a[0] == 429:
            assert abs(int(a[1]["retry-after"]) - int(b[1]["retry-after"])) <= 5
    return out


def test_known_and_unknown_addresses_are_limited_alike_on_the_api(site):
    ips = iter(("198.51.100.11", "198.51.100.12"))
    state = {}

    def attempt(address, password):
        if address not in state:
            state[address] = next(ips)
        return api_signin(site, state[address], address, password)
    known, unknown = same_sequence(site, attempt, "veel@example.nl", "nooit@example.nl")
    assert [a[0] for a in known] == [401] * PER_ACCOUNT + [429, 429]


def test_known_and_unknown_addresses_are_limited_alike_on_the_form(site):
    forms = {}

    def attempt(address, password):
        if address not in forms:
            forms[address] = Form(site, f"198.51.100.{13 + len(forms)}")
        return forms[address].signin(address, password)
    known, unknown = same_sequence(site, attempt, "form@example.nl", "ook.nooit@example.nl")
    assert [a[0] for a in known] == [401] * PER_ACCOUNT + [429, 429]


def test_counts_do_not_keep_the_address(site, pg):
    api_signin(site, "198.51.100.20", "spoor@example.nl", WRONG)
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT key FROM signin_limits WHERE key LIKE %s OR key = platform.address_key(%s)",
                    ("%spoor%", "spoor@example.nl"))
        keys = [r[0] for r in cur.fetchall()]
    assert len(keys) == 1 and re.fullmatch(r"e:[0-9a-f]{64}", keys[0])


def test_the_count_is_kept_before_the_hashing_and_holds_no_lock(pg, make_daemon):
    """A sign-in's lookup commits its count before the password is hashed:
    while the hash (a costly one here, scrypt N = 2^18) is being worked,
    the attempt is already counted for everyone to see and no row of the
    counters is locked. Before, the lock was held until the answer, and
    sign-ins from one client address queued on it, each holding a
    connection of the pool while all the hashes before it were worked."""
    import threading

    from bundle_util import sql
    sql(pg, "super", "CREATE EXTENSION IF NOT EXISTS pgrowlocks")
    big = {"AANTAFEL_SCRYPT_N": "262144", "AANTAFEL_SCRYPT_MAXMEM": "512MiB"}
    d = make_daemon({"workers": "1", "trusted_proxies": "127.0.0.1", "hash_threads": "1"},
                    {**pg.daemon_env(), **big})
    wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
    ip = "198.51.100.77"
    key = "ip:" + ip
    answer = {}
    t = threading.Thread(target=lambda: answer.update(r=api_signin(d, ip, "niemand@example.nl", WRONG)))
    t.start()
    wait_for(lambda: sql(pg, "super", "SELECT failures FROM signin_limits WHERE key = %s", (key,)) == [(1,)],
             what="the attempt counted and committed")
    locked = sql(pg, "super", "SELECT count(*) FROM pgrowlocks('signin_limits') r"
                              " JOIN signin_limits l ON l.ctid = r.locked_row WHERE l.key = %s", (key,))[0][0]
    in_flight = t.is_alive()
    t.join(60)
    assert in_flight, "the count became visible only once the sign-in was answered"
    assert locked == 0
    assert answer["r"][0] == 401
