"""Mail from the outbox to a file or a real SMTP server (aiosmtpd, started
by the test): rows are inserted by the daemon's own role in a transaction
with the tenant set, exactly as a request does, and the running daemon's
deliverer sends them. Covers retry with backoff while the server is down,
the give-up after the last attempt, rows left 'sending' by a dead
deliverer, a clean stop in the middle of a slow SMTP exchange, two daemons
sharing one outbox, rolled-back mail, and tenant isolation of the table."""
import contextlib
import email
import email.policy
import os
import re
import socket
import stat
import threading
import time

import psycopg2
import pytest
from aiosmtpd.controller import Controller

from harness import free_port, wait_for

FROM = "noreply@zutphen.example"
NAME_A = "Gemeente S\u00fadwest-Frysl\u00e2n"
SUBJECT = "\u00c9\u00e9n tafel voor iedereen"
TEXT = "Hallo Ria,\n\n\u00c9\u00e9n tafel, \u20ac 0 = gratis.\n.\nFrom the facilitator\n"
HTML = "<p>Hallo Ria,</p><p>\u00c9\u00e9n tafel &amp; koffie.</p>"
FAST = {"mail_poll_interval": "200ms", "log_level": "debug"}


@contextlib.contextmanager
def cursor(pg, role):
    c = pg.connect(role)
    try:
        yield c.cursor()
    finally:
        c.close()


def enqueue(pg, tenant_id, to="ria@example.org", subject="Hallo", text="tekst", html=None, from_name=None,
            commit=True):
    """Inserts one mail as aantafel_app in a transaction with the tenant
    set (what mail_enqueue queues into a request's transaction, entered
    and committed as core/db/db.c does); returns its id."""
    with cursor(pg, "app") as cur:
        cur.execute("BEGIN")
        cur.execute("SELECT platform.enter_tenant(%s)", (str(tenant_id),))
        cur.execute("INSERT INTO mail_outbox (tenant_id, to_addr, from_name, subject, body_text, body_html)"
                    " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                    (tenant_id, to, from_name, subject, text, html))
        mid = cur.fetchone()[0]
        if commit:
            cur.execute("SELECT platform.commit_marks(%s)", (tenant_id,))
        cur.execute("COMMIT" if commit else "ROLLBACK")
        return mid


def row(pg, tenant_id, mid):
    """The row as the superuser sees it (no RLS), or None."""
    with cursor(pg, "super") as cur:
        cur.execute("SELECT status, attempts, next_attempt_at > now() + interval '30 seconds',"
                    " last_error, sent_at IS NOT NULL, claimed_at IS NOT NULL"
                    " FROM mail_outbox WHERE tenant_id = %s AND id = %s", (tenant_id, mid))
        r = cur.fetchone()
    if r is None:
        return None
    keys = ("status", "attempts", "later", "last_error", "sent", "claimed")
    return dict(zip(keys, r))


def wait_row(pg, tenant_id, mid, timeout=30, **want):
    def ok():
        r = row(pg, tenant_id, mid)
        return r if r and all(r[k] == v for k, v in want.items()) else None
    return wait_for(ok, timeout=timeout, interval=0.1, what=f"mail {mid} with {want} (now {row(pg, tenant_id, mid)})")


def eml_path(maildir, slug, mid):
    return os.path.join(maildir, slug, f"{mid}.eml")


def wait_eml(maildir, slug, mid, timeout=30):
    path = eml_path(maildir, slug, mid)
    wait_for(lambda: os.path.exists(path), timeout=timeout, interval=0.1, what=path)
    with open(path, "rb") as f:
        return f.read()


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def check_lines(raw):
    for line in raw.split(b"\r\n"):
        assert b"\n" not in line and b"\r" not in line, "bare CR or LF"
        assert len(line) <= 998
    assert max(raw) < 0x80, "8-bit byte in the message"


class Store:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"

    def all(self):
        with self.lock:
            return list(self.messages)


@contextlib.contextmanager
def smtp_server(port):
    store = Store()
    ctl = Controller(store, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        yield store
    finally:
        ctl.stop()


@pytest.fixture
def ab(tenants):
    return tenants(("mail-a", NAME_A, "mail-a.test"), ("mail-b", "Gemeente Bee", "mail-b.test"))


@pytest.fixture
def maildir(tmp_path):
    return str(tmp_path / "mail")


def smtp_options(port, **more):
    return {"mail_transport": f"smtp://127.0.0.1:{port}", "mail_from": FROM, "smtp_insecure": "on",
            **FAST, **more}


# ---------------------------------------------------------------- file:


def test_file_transport_writes_a_parseable_eml(db_daemon, pg, ab, maildir):
    d = db_daemon({"mail_transport": f"file:{maildir}", "mail_from": FROM, **FAST})
    a = ab["mail-a"]
    mid = enqueue(pg, a, subject=SUBJECT, text=TEXT, html=HTML)
    raw = wait_eml(maildir, "mail-a", mid)
    check_lines(raw)
    msg = parse(raw)
    assert msg["subject"] == SUBJECT
    assert msg["from"].addresses[0].display_name == NAME_A
    assert msg["from"].addresses[0].addr_spec == FROM
    assert msg["to"].addresses[0].addr_spec == "ria@example.org"
    assert msg["mime-version"] == "1.0"
    assert msg["message-id"].endswith("@zutphen.example>")
    assert msg["date"].datetime is not None
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text.get_content_charset() == "utf-8" and html.get_content_charset() == "utf-8"
    assert text.get_content().replace("\r\n", "\n") == TEXT
    assert html.get_content().replace("\r\n", "\n") == HTML
    # Written atomically, readable by the daemon's user only.
    folder = os.path.join(maildir, "mail-a")
    assert [f for f in os.listdir(folder) if f.startswith(".")] == []
    assert stat.S_IMODE(os.stat(eml_path(maildir, "mail-a", mid)).st_mode) == 0o600
    r = wait_row(pg, a, mid, status="sent")
    assert r["attempts"] == 1 and r["sent"] and not r["claimed"] and r["last_error"] is None
    d.wait_log(f"tenant=mail-a id={mid} sent")

    # An explicit sender name, text only, another tenant's folder.
    b = ab["mail-b"]
    mid2 = enqueue(pg, b, subject="Plain", text="Alleen tekst.\n", from_name="De tafelaar")
    msg = parse(wait_eml(maildir, "mail-b", mid2))
    assert msg["from"].addresses[0].display_name == "De tafelaar"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content().replace("\r\n", "\n") == "Alleen tekst.\n"
    assert not os.path.exists(eml_path(maildir, "mail-a", mid2))


def test_rolled_back_mail_is_never_sent(db_daemon, pg, ab, maildir):
    db_daemon({"mail_transport": f"file:{maildir}", **FAST})
    a = ab["mail-a"]
    lost = enqueue(pg, a, subject="Nooit", commit=False)
    marker = enqueue(pg, a, subject="Wel")
    wait_eml(maildir, "mail-a", marker)
    time.sleep(0.5)
    assert not os.path.exists(eml_path(maildir, "mail-a", lost))
    assert row(pg, a, lost) is None


def test_a_notification_wakes_the_deliverer(db_daemon, pg, ab, maildir):
    # The poll timer would take an hour: only NOTIFY can be this quick.
    db_daemon({"mail_transport": f"file:{maildir}", "mail_poll_interval": "1h"})
    time.sleep(0.5)
    t0 = time.time()
    mids = [enqueue(pg, ab["mail-a"], subject="Snel"), enqueue(pg, ab["mail-b"], subject="Snel")]
    wait_eml(maildir, "mail-a", mids[0], timeout=20)
    wait_eml(maildir, "mail-b", mids[1], timeout=20)
    assert time.time() - t0 < 20


def test_a_retry_falls_due_on_the_poll_timer(db_daemon, pg, ab, maildir):
    db_daemon({"mail_transport": f"file:{maildir}", "mail_poll_interval": "300ms"})
    a = ab["mail-a"]
    with cursor(pg, "super") as cur:
        # Queued to be tried in two seconds: the insert's notification
        # finds nothing due yet, no later one comes.
        cur.execute("INSERT INTO mail_outbox (tenant_id, to_addr, subject, body_text, attempts, next_attempt_at)"
                    " VALUES (%s, 'ria@example.org', 'Later', 'tekst', 1, now() + interval '2 seconds')"
                    " RETURNING id", (a,))
        mid = cur.fetchone()[0]
    time.sleep(1)
    assert row(pg, a, mid)["status"] == "queued"
    wait_eml(maildir, "mail-a", mid, timeout=20)
    assert wait_row(pg, a, mid, status="sent")["attempts"] == 2


def test_mail_queued_while_the_daemon_was_down_goes_out_at_start(db_daemon, pg, ab, maildir):
    a = ab["mail-a"]
    mid = enqueue(pg, a, subject="Eerder")
    # No notification reaches a daemon that was not listening; the claim
    # at connect finds it, long before the poll interval.
    db_daemon({"mail_transport": f"file:{maildir}", "mail_poll_interval": "1h"})
    wait_eml(maildir, "mail-a", mid, timeout=20)


def test_rows_left_sending_by_a_dead_deliverer_are_put_back(db_daemon, pg, ab, maildir):
    a = ab["mail-a"]
    with cursor(pg, "super") as cur:
        cur.execute("INSERT INTO mail_outbox (tenant_id, to_addr, subject, body_text, status, attempts, claimed_at)"
                    " VALUES (%s, 'ria@example.org', 'Half', 'tekst', 'sending', 1, now() - interval '1 hour')"
                    " RETURNING id", (a,))
        mid = cur.fetchone()[0]
    d = db_daemon({"mail_transport": f"file:{maildir}", "mail_claim_timeout": "2s", **FAST})
    wait_eml(maildir, "mail-a", mid)
    r = wait_row(pg, a, mid, status="sent")
    assert r["attempts"] == 2
    d.wait_log("put back in the queue")


def test_two_daemons_deliver_each_mail_once(db_daemon, pg, ab, maildir):
    opts = {"mail_transport": f"file:{maildir}", **FAST}
    d1 = db_daemon(opts)
    d2 = db_daemon(opts)
    a, b = ab["mail-a"], ab["mail-b"]
    ids = []
    for i in range(40):
        slug, tid = ("mail-a", a) if i % 2 else ("mail-b", b)
        ids.append((slug, tid, enqueue(pg, tid, subject=f"Nr {i}")))
    for slug, tid, mid in ids:
        wait_eml(maildir, slug, mid)
        wait_row(pg, tid, mid, status="sent", attempts=1)
    logs = d1.log() + d2.log()
    for slug, tid, mid in ids:
        assert len(re.findall(rf"tenant={slug} id={mid} sent", logs)) == 1, mid


# ---------------------------------------------------------------- SMTP


def test_smtp_delivery(db_daemon, pg, ab):
    port = free_port()
    with smtp_server(port) as store:
        d = db_daemon(smtp_options(port))
        a = ab["mail-a"]
        mid = enqueue(pg, a, subject=SUBJECT, text=TEXT, html=HTML)
        wait_for(lambda: store.all(), timeout=30, what="a message at the SMTP server")
        wait_row(pg, a, mid, status="sent", attempts=1)
        (mail_from, rcpts, content), = store.all()
        assert mail_from == FROM
        assert rcpts == ["ria@example.org"]
        msg = parse(content)
        assert msg["subject"] == SUBJECT
        assert msg["from"].addresses[0].display_name == NAME_A
        assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == TEXT
        assert msg.get_body(("html",)).get_content().replace("\r\n", "\n") == HTML
        d.wait_log(f"tenant=mail-a id={mid} sent")
        # A second one reuses or reopens the connection: either way it
        # arrives.
        mid2 = enqueue(pg, ab["mail-b"], subject="Tweede", to="piet@example.net")
        wait_for(lambda: len(store.all()) == 2, timeout=30, what="the second message")
        assert store.all()[1][1] == ["piet@example.net"]
        wait_row(pg, ab["mail-b"], mid2, status="sent")


def test_smtp_down_retries_with_backoff_then_delivers(db_daemon, pg, ab):
    port = free_port()     # nothing listens there yet
    # No polling: the retry below is woken by the trigger's notification
    # when next_attempt_at moves to now().
    d = db_daemon(smtp_options(port, mail_poll_interval="1h"))
    a = ab["mail-a"]
    mark = d.log_mark()
    mid = enqueue(pg, a, subject=SUBJECT, text=TEXT)
    r = wait_row(pg, a, mid, status="queued", attempts=1)
    assert r["later"], r            # next_attempt_at about a minute ahead
    assert r["last_error"] and not r["claimed"] and not r["sent"]
    line = d.wait_log(f"tenant=mail-a id={mid} attempt 1 failed", mark)
    assert "next attempt at" in line
    # Still queued: the backoff holds it back.
    time.sleep(1)
    assert row(pg, a, mid)["attempts"] == 1
    with smtp_server(port) as store:
        with cursor(pg, "super") as cur:
            cur.execute("UPDATE mail_outbox SET next_attempt_at = now() WHERE tenant_id = %s AND id = %s", (a, mid))
            if pg.citus:
                # The trigger ran on a worker: on a cluster SQL outside the
                # daemons wakes them itself (docs/operations.md).
                cur.execute("SELECT pg_notify('aantafel_mail', %s)", (str(a),))
        wait_for(lambda: store.all(), timeout=30, what="the retried message")
        r = wait_row(pg, a, mid, status="sent")
        assert r["attempts"] == 2 and r["last_error"] is None
        assert parse(store.all()[0][2])["subject"] == SUBJECT


def test_smtp_gives_up_after_max_attempts(db_daemon, pg, ab):
    port = free_port()
    d = db_daemon(smtp_options(port, mail_max_attempts="1"))
    a = ab["mail-a"]
    mid = enqueue(pg, a)
    r = wait_row(pg, a, mid, status="failed", attempts=1)
    assert r["last_error"]
    d.wait_log(f"tenant=mail-a id={mid} attempt 1 failed")
    d.wait_log("giving up")


def test_stop_during_a_slow_smtp_exchange_is_prompt_and_puts_the_mail_back(db_daemon, pg, ab):
    # A server that accepts connections (the kernel does) and never says
    # hello.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    port = s.getsockname()[1]
    try:
        d = db_daemon(smtp_options(port, smtp_timeout="60s"))
        a = ab["mail-a"]
        mid = enqueue(pg, a)
        wait_row(pg, a, mid, status="sending")
        time.sleep(0.5)
        t0 = time.time()
        assert d.stop() == 0
        assert time.time() - t0 < 15
        r = row(pg, a, mid)
        assert r["status"] == "queued" and r["attempts"] == 0 and not r["claimed"], r
    finally:
        s.close()


def test_starttls_is_required_unless_insecure(db_daemon, pg, ab):
    """aiosmtpd without TLS offers no STARTTLS: a secure configuration
    refuses to send in clear text."""
    port = free_port()
    with smtp_server(port) as store:
        opts = smtp_options(port)
        del opts["smtp_insecure"]
        d = db_daemon(opts)
        a = ab["mail-a"]
        mid = enqueue(pg, a)
        r = wait_row(pg, a, mid, status="queued", attempts=1)
        assert r["last_error"]
        time.sleep(0.5)
        assert store.all() == []
        d.wait_log(f"tenant=mail-a id={mid} attempt 1 failed")


def test_invalid_mail_options_stop_the_start(make_daemon, pg):
    for opts, why in (({"mail_transport": "smtp://user:pw@host"}, "smtp_user"),
                      ({"mail_transport": "smtp://127.0.0.1:25"}, "mail_from"),
                      ({"mail_transport": "smtp://127.0.0.1:25", "mail_from": "a b@c"}, "mail_from"),
                      ({"mail_transport": "pigeon://loft"}, "mail_transport")):
        d = make_daemon(opts, pg.daemon_env(), start=False)
        d.start(wait=False)
        assert d.proc.wait(30) != 0
        assert why in d.log(), d.log()


# ---------------------------------------------------------------- the table


def test_the_outbox_is_a_tenant_table(pg, ab):
    a, b = ab["mail-a"], ab["mail-b"]
    mid = enqueue(pg, a, subject="Van A")
    mine = enqueue(pg, b, subject="Van B")
    with cursor(pg, "app") as cur:
        # Without a tenant: nothing.
        cur.execute("SELECT count(*) FROM mail_outbox")
        assert cur.fetchone() == (0,)
        # As B: none of A's rows, by any filter.
        cur.execute("BEGIN")
        cur.execute("SELECT platform.enter_tenant(%s)", (str(b),))
        cur.execute("SELECT count(*) FROM mail_outbox WHERE id = %s", (mid,))
        assert cur.fetchone() == (0,)
        # B's own rows, and only those (so the filter is not blind).
        cur.execute("SELECT DISTINCT tenant_id FROM mail_outbox")
        assert [r[0] for r in cur.fetchall()] == [b]
        cur.execute("SELECT count(*) FROM mail_outbox WHERE tenant_id = %s AND id = %s", (b, mine))
        assert cur.fetchone() == (1,)
        cur.execute("UPDATE mail_outbox SET status = 'queued' WHERE tenant_id = %s", (a,))
        assert cur.rowcount == 0
        cur.execute("ROLLBACK")
        # As B, a row for A is refused.
        cur.execute("BEGIN")
        cur.execute("SELECT platform.enter_tenant(%s)", (str(b),))
        with pytest.raises(psycopg2.Error) as e:
            cur.execute("INSERT INTO mail_outbox (tenant_id, to_addr, subject, body_text)"
                        " VALUES (%s, 'x@example.org', 's', 't')", (a,))
        assert e.value.pgcode == "42501"
        cur.execute("ROLLBACK")
        # As A it is there.
        cur.execute("BEGIN")
        cur.execute("SELECT platform.enter_tenant(%s)", (str(a),))
        cur.execute("SELECT subject FROM mail_outbox WHERE id = %s", (mid,))
        assert cur.fetchone() == ("Van A",)
        # Header injection cannot even be stored.
        for col, val in (("subject", "a\r\nBcc: x@y.z"), ("to_addr", "a@b.c\r\nBcc: x@y.z"),
                         ("from_name", "A\nB")):
            cur.execute("SAVEPOINT s")
            with pytest.raises(psycopg2.Error) as e:
                values = {"to_addr": "x@example.org", "subject": "s", "from_name": None, col: val}
                cur.execute("INSERT INTO mail_outbox (tenant_id, to_addr, subject, from_name, body_text)"
                            " VALUES (%s, %s, %s, %s, 't')", (a, values["to_addr"], values["subject"],
                                                              values["from_name"]))
            assert e.value.pgcode == "23514", (col, e.value.pgerror)
            cur.execute("ROLLBACK TO SAVEPOINT s")
        cur.execute("ROLLBACK")


def test_delivery_functions_are_for_the_daemon_role_only(pg):
    with cursor(pg, "super") as cur:
        cur.execute("""
            SELECT p.proname, p.prosecdef, pg_get_userbyid(p.proowner), p.proconfig, p.proacl::text[]
              FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'platform' AND p.proname LIKE 'mail\\_%'""")
        funcs = {r[0]: r[1:] for r in cur.fetchall()}
    # The delivery functions and the outbox trigger's (which no role calls).
    assert set(funcs) == {"mail_claim", "mail_sent", "mail_retry", "mail_release", "mail_requeue_stale",
                          "mail_notify"}, funcs
    for name in ("mail_claim", "mail_sent", "mail_retry", "mail_release", "mail_requeue_stale"):
        secdef, owner, config, acl = funcs[name]
        assert secdef and owner == "aantafel_owner", name
        assert config and any(c.startswith("search_path=") for c in config), name
        grantees = sorted(a.split("=")[0] for a in acl)
        # No empty grantee (PUBLIC); the app role may execute.
        assert "" not in grantees and "aantafel_app" in grantees, (name, acl)
        assert grantees == ["aantafel_app", "aantafel_owner"], (name, acl)
