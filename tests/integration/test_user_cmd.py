"""`aantafel user create`: a municipality's first administrator from the
command line, password on standard input, stored as an scrypt hash that
Python's own scrypt verifies, within the tenant's row-level security."""
import base64
import hashlib

import pytest

from harness import aantafel

GOOD = "lange zin met spaties 42"


def run(pg, *args, password=GOOD + "\n"):
    # Small scrypt parameters: the format and the check are the point here.
    env = {**pg.daemon_env(), "AANTAFEL_SCRYPT_N": "1024", "AANTAFEL_SCRYPT_MAXMEM": "16MiB"}
    return aantafel("user", *args, env=env, check=False, input=password)


def account(pg, slug, email):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT a.display_name, a.password_hash, a.email_verified_at IS NOT NULL,"
                    " array(SELECT role FROM account_roles r WHERE r.tenant_id = a.tenant_id"
                    "       AND r.account_id = a.id ORDER BY role)"
                    " FROM accounts a JOIN platform.tenants t ON t.id = a.tenant_id"
                    " WHERE t.slug = %s AND a.email = %s", (slug, email))
        return cur.fetchone()


def b64(s):
    return base64.b64decode(s + "=" * (-len(s) % 4))


@pytest.fixture
def two(tenants):
    return tenants(("usr-a", "Gemeente A", "usr-a.test"), ("usr-b", "Gemeente B", "usr-b.test"))


def test_create_an_admin(pg, two):
    r = run(pg, "create", "--tenant", "usr-a", "--email", "Beheer@Example.NL", "--role", "admin",
            "--name", "Beheerder Één")
    assert r.returncode == 0, r.stderr
    assert "created with role admin" in r.stdout
    name, stored, verified, roles = account(pg, "usr-a", "beheer@example.nl")
    assert name == "Beheerder Één" and verified and roles == ["admin"]
    # "$scrypt$ln=10,r=8,p=1$salt$key", verified independently.
    _, kind, params, salt, key = stored.split("$")
    assert kind == "scrypt"
    p = dict(kv.split("=") for kv in params.split(","))
    derived = hashlib.scrypt(GOOD.encode(), salt=b64(salt), n=2 ** int(p["ln"]), r=int(p["r"]), p=int(p["p"]),
                             maxmem=64 * 1024 * 1024, dklen=len(b64(key)))
    assert derived == b64(key)
    assert GOOD not in stored


def test_a_second_create_adds_the_role_and_keeps_the_password(pg, two):
    assert run(pg, "create", "--tenant", "usr-a", "--email", "twee@example.nl", "--role", "member").returncode == 0
    before = account(pg, "usr-a", "twee@example.nl")
    r = run(pg, "create", "--tenant", "usr-a", "--email", "twee@example.nl", "--role", "facilitator",
            password="een heel ander wachtwoord\n")
    assert r.returncode == 0 and "password unchanged" in r.stdout
    after = account(pg, "usr-a", "twee@example.nl")
    assert after[1] == before[1] and after[3] == ["facilitator", "member"]
    assert before[0] == "twee"                                  # the name defaults to the local part


@pytest.mark.parametrize("password, why", [
    ("kort\n", "12"),
    ("winniethepooh\n", "many people use"),
    ("", "standard input"),
])
def test_weak_or_missing_passwords_are_refused(pg, two, password, why):
    r = run(pg, "create", "--tenant", "usr-a", "--email", "zwak@example.nl", "--role", "member", password=password)
    assert r.returncode == 1
    assert why.lower() in r.stderr.lower(), r.stderr
    assert account(pg, "usr-a", "zwak@example.nl") is None


@pytest.mark.parametrize("args, code, why", [
    (["--tenant", "nope", "--email", "x@example.nl", "--role", "admin"], 1, "no tenant 'nope'"),
    (["--tenant", "usr-a", "--email", "geen-adres", "--role", "admin"], 1, "not an e-mail address"),
    (["--tenant", "usr-a", "--email", "a b@example.nl", "--role", "admin"], 1, "not an e-mail address"),
    (["--tenant", "usr-a", "--email", "x@example.nl", "--role", "root"], 2, "role must be"),
    (["--tenant", "usr-a", "--email", "x@example.nl"], 2, "required"),
    (["--tenant", "usr-a", "--email", "x@example.nl", "--role", "admin", "--name", ""], 1, "name"),
])
def test_bad_arguments_are_refused(pg, two, args, code, why):
    r = run(pg, "create", *args)
    assert r.returncode == code, (r.stdout, r.stderr)
    assert why in r.stderr


def test_accounts_stay_in_their_tenant(pg, two):
    assert run(pg, "create", "--tenant", "usr-b", "--email", "b@example.nl", "--role", "admin").returncode == 0
    assert account(pg, "usr-a", "b@example.nl") is None
    # The same address is a different account on each tenant.
    assert run(pg, "create", "--tenant", "usr-a", "--email", "b@example.nl", "--role", "member").returncode == 0
    assert account(pg, "usr-a", "b@example.nl")[3] == ["member"]
    assert account(pg, "usr-b", "b@example.nl")[3] == ["admin"]
    # The daemon's role sees neither without the tenant set.
    with pg.connect("app") as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM accounts")
        assert cur.fetchone()[0] == 0
