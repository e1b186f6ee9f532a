"""What an operator sees: the access log, SIGHUP reloads (broken, valid
and restart-only changes), SIGTERM during a slow request, `aantafel check`
and --help on every subcommand."""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from harness import BIN, SOURCE_DIR, aantafel, make_request, wait_for

ACCESS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z access id=[0-9a-f]{10} tenant=\S+ "
                       r"method=\S+ path=\S+ status=\d{3} bytes=\d+ ms=\d+\.\d{3}$")


# ---------------------------------------------------------------- access log

def test_access_log_line_per_request(daemon):
    daemon.write_static("a.txt", "alpha")
    mark = daemon.log_mark()
    sent = []
    with daemon.conn() as c:
        sent.append(("GET", "/healthz", c.request("GET", "/healthz")))
        sent.append(("GET", "/static/a.txt", c.request("GET", "/static/a.txt")))
        sent.append(("POST", "/nope", c.request("POST", "/nope", body=b"x" * 300)))
        sent.append(("HEAD", "/static/a.txt", c.request("HEAD", "/static/a.txt")))
        sent.append(("DELETE", "/static/a.txt", c.request("DELETE", "/static/a.txt")))
    lines = wait_for(lambda: (lambda l: l if len(l) >= len(sent) else None)(daemon.access_log(mark)),
                     timeout=10, what="access-log lines")
    assert len(lines) == len(sent), "one line per request"
    for (method, path, r), rec in zip(sent, lines):
        assert ACCESS_RE.match(rec["line"]), rec["line"]
        assert rec["id"] == r.headers["x-request-id"]
        assert rec["method"] == method
        assert rec["path"] == path
        assert rec["status"] == str(r.status)
        assert rec["tenant"] == "-"
        # bytes: everything sent for the response, head included.
        assert int(rec["bytes"]) == len(r.raw), rec["line"]
        assert float(rec["ms"]) >= 0


def test_access_log_strips_query_values(daemon):
    mark = daemon.log_mark()
    with daemon.conn() as c:
        r1 = c.request("GET", "/x?token=secret")
        r2 = c.request("GET", "/healthz?a=secret1&b=secret2&flag&c=&d=se=cret")
        r3 = c.request("GET", "/static/nothing.css?session=secret3")
    lines = daemon.access_log(mark)
    assert [l["path"] for l in lines] == ["/x?token=", "/healthz?a=&b=&flag=&c=&d=", "/static/nothing.css?session="]
    assert [l["id"] for l in lines] == [r.headers["x-request-id"] for r in (r1, r2, r3)]
    assert "secret" not in daemon.log_since(mark)
    assert "cret" not in daemon.log_since(mark)


def test_rejected_request_is_logged_with_its_id(daemon):
    """A request refused before any handler still gets an access line, and
    the error line carries the same id as the response."""
    mark = daemon.log_mark()
    with daemon.conn() as c:
        c.send(b"GET /x?token=secret HTTP/1.1\r\nHost: localhost\r\nHost: other\r\n\r\n")
        r = c.read_response()
        assert c.wait_closed() == b""
    assert r.status == 400
    rid = r.headers["x-request-id"]
    lines = daemon.access_log(mark)
    assert len(lines) == 1
    assert lines[0]["id"] == rid and lines[0]["status"] == "400"
    assert int(lines[0]["bytes"]) == len(r.raw)
    errors = [l for l in daemon.log_since(mark).splitlines() if "rejected 400" in l]
    assert len(errors) == 1
    assert f"id={rid}" in errors[0], errors[0]
    assert "secret" not in daemon.log_since(mark)


def test_request_ids_are_unique(daemon):
    ids = set()
    for _ in range(5):
        with daemon.conn() as c:
            for _ in range(10):
                ids.add(c.request().headers["x-request-id"])
    assert len(ids) == 50


def test_access_log_off(make_daemon):
    d = make_daemon({"access_log": "off"})
    mark = d.log_mark()
    assert d.get("/healthz")[0] == 200
    assert d.get("/nope")[0] == 404
    assert d.access_log(mark) == []


# ---------------------------------------------------------------- SIGHUP

def body_status(d, size):
    with d.conn() as c:
        return c.request("POST", "/healthz", body=b"x" * size).status


@pytest.mark.parametrize("bad,name", [
    ("bogus_option = 1\n", "bogus_option"),
    ("max_headers = 0\n", "max_headers"),
    ("max_head_size = 100GiB\n", "max_head_size"),
    ("head_timeout = soon\n", "head_timeout"),
    ("log_level = loud\n", "log_level"),
    ("this line has no equals sign\n", ":3"),
])
def test_sighup_refuses_a_broken_file(make_daemon, bad, name):
    d = make_daemon({"max_body_size": "1000"})
    assert body_status(d, 500) == 200
    mark = d.log_mark()
    # A stricter limit plus one bad line: nothing of it may apply.
    good = "".join(f"{k} = {v}\n" for k, v in {**d.options, "max_body_size": "10"}.items()
                   if k in ("listen", "max_body_size"))
    d.reload(raw=good + bad + "".join(f"{k} = {v}\n" for k, v in d.options.items()
                                      if k not in ("listen", "max_body_size")))
    line = d.wait_log("reload refused", mark=mark)
    assert name in line, line
    assert "error" in line.split()[1]
    # Still serving, with the old settings.
    time.sleep(0.5)
    assert d.proc.poll() is None
    for _ in range(4):
        assert body_status(d, 500) == 200
    assert "configuration reloaded" not in d.log_since(mark)


def test_sighup_with_the_file_gone(make_daemon):
    d = make_daemon({"max_body_size": "1000"})
    mark = d.log_mark()
    os.unlink(d.config_path)
    d.signal(signal.SIGHUP)
    line = d.wait_log("reload refused", mark=mark)
    assert d.config_path in line
    assert body_status(d, 500) == 200
    d.write_config()        # for the final stop's sake: nothing reads it


def test_sighup_applies_a_valid_change(make_daemon):
    d = make_daemon({"max_body_size": "1000"})
    assert body_status(d, 500) == 200
    mark = d.log_mark()
    d.options["max_body_size"] = "100"
    d.reload()
    d.wait_log("configuration reloaded", mark=mark)
    # Workers take the new table on their next turn; every new connection
    # after that sees it.
    wait_for(lambda: all(body_status(d, 500) == 413 for _ in range(4)), timeout=20, interval=0.1,
             what="413 under the reloaded max_body_size")
    assert body_status(d, 100) == 200
    assert d.proc.poll() is None


def test_sighup_after_a_refused_reload_still_works(make_daemon):
    d = make_daemon({"max_headers": "50"})
    mark = d.log_mark()
    d.reload(raw="max_headers = 5000\n")
    d.wait_log("reload refused", mark=mark)
    mark = d.log_mark()
    d.options["max_headers"] = "5"
    d.reload()
    d.wait_log("configuration reloaded", mark=mark)

    def limited():
        with d.conn() as c:
            c.send(make_request(headers=[(f"X-{i}", "v") for i in range(6)]))
            return c.read_response().status == 431
    wait_for(limited, timeout=20, interval=0.1, what="431 under max_headers = 5")


def test_sighup_names_restart_only_change_and_keeps_it(make_daemon):
    d = make_daemon({"max_body_size": "1000"})
    old_port = d.port
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    new_port = other.getsockname()[1]
    other.close()
    mark = d.log_mark()
    d.options["listen"] = f"127.0.0.1:{new_port}"
    d.options["max_body_size"] = "100"       # reloadable: applies
    d.reload()
    warn = d.wait_log("cannot change without a restart", mark=mark)
    assert "listen" in warn and "warn" in warn.split()[1]
    assert "max_body_size" not in warn
    d.wait_log("configuration reloaded", mark=mark)
    # Still on the old port; nothing on the new one.
    d.port = old_port
    wait_for(lambda: body_status(d, 500) == 413, timeout=20, interval=0.1, what="the reloadable change")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", new_port), timeout=2).close()


def test_sighup_restart_only_workers_is_named(make_daemon):
    d = make_daemon()
    mark = d.log_mark()
    d.options["workers"] = "3"
    d.options["static_dir"] = d.dir + "/elsewhere"
    d.reload()
    warn = d.wait_log("cannot change without a restart", mark=mark)
    assert "workers" in warn and "static_dir" in warn


def test_sighup_with_error_pages_still_queued(make_daemon, tmp_path):
    """A reload loads the error pages afresh; responses carrying the old
    ones may still be queued unread and must come out intact (the old
    pages were freed under them: a use after free)."""
    errors = tmp_path / "errors"
    shutil.copytree(os.path.join(SOURCE_DIR, "errors"), errors)
    page = b"<!doctype html><p>" + b"x" * 60000 + b"</p>\n"
    (errors / "nl" / "404.html").write_bytes(page)
    d = make_daemon({"errors_dir": str(errors), "workers": "1"})
    n = 150
    start = d.log_mark()
    with d.conn(rcvbuf=16384, timeout=60) as c:
        c.send(b"".join(make_request("GET", f"/nope{i}") for i in range(n)))
        # Output queued: more than the socket buffers hold.
        wait_for(lambda: len(d.access_log(start)) > 3, timeout=20, what="the first answers")
        mark = d.log_mark()
        d.reload()
        d.wait_log("configuration reloaded", mark=mark)
        time.sleep(0.5)
        for i in range(n):
            r = c.read_response()
            assert r.status == 404 and r.body == page, f"response {i} damaged"
    assert d.proc.poll() is None
    d.assert_clean_log()


def test_sighup_changes_error_pages(make_daemon, tmp_path):
    errors = tmp_path / "errors"
    shutil.copytree(os.path.join(SOURCE_DIR, "errors"), errors)
    d = make_daemon({"errors_dir": str(errors)})
    assert b"Pagina niet gevonden" in d.get("/nope")[2]
    (errors / "nl" / "404.html").write_bytes(b"<p>nieuw</p>\n")
    mark = d.log_mark()
    d.reload()
    d.wait_log("configuration reloaded", mark=mark)
    wait_for(lambda: all(d.get("/nope")[2] == b"<p>nieuw</p>\n" for _ in range(4)), timeout=20,
             interval=0.1, what="the new 404 page")


# ---------------------------------------------------------------- SIGTERM

def test_sigterm_lets_a_slow_request_finish(make_daemon):
    """Head with Content-Length: 10 and 5 body bytes, SIGTERM, then the
    other 5: the request completes with Connection: close; idle
    connections are closed, new ones refused, and the exit code is 0.
    Expect: 100-continue tells the client the head has been read before
    the signal (otherwise the connection could still be idle)."""
    d = make_daemon({"shutdown_timeout": "60s"})
    idle = d.conn()
    assert idle.request().status == 200          # a kept-alive, idle connection
    fresh = d.conn()                             # connected, nothing sent
    slow = d.conn(timeout=30)
    slow.send(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
              b"Content-Length: 10\r\n\r\n")
    assert slow.read_response().status == 100
    slow.send(b"12345")

    d.signal(signal.SIGTERM)
    # Idle connections are closed.
    assert idle.wait_closed(15) == b""
    assert fresh.wait_closed(15) == b""

    # New connections are refused once the listeners are gone.
    d.wait_refusing()
    # A second SIGTERM changes nothing.
    d.signal(signal.SIGTERM)
    time.sleep(0.3)
    assert d.proc.poll() is None, "the daemon left with a request in flight"

    slow.send(b"67890")
    r = slow.read_response()
    assert r.status == 200 and r.body == b"ok\n"
    assert r.headers["connection"] == "close"
    assert slow.wait_closed(15) == b""
    rc = d.proc.wait(30)
    assert rc == 0, d.log()[-3000:]
    d.assert_clean_log()
    log = d.log()
    assert "finishing in-flight requests" in log and log.rstrip().endswith("info stopped")
    for c in (idle, fresh, slow):
        c.close()


def test_sigterm_with_a_response_still_queued(make_daemon):
    """A response answered before SIGTERM but still queued (the client
    reads slowly): once the client has it all the connection is closed,
    not kept idle until shutdown_timeout."""
    d = make_daemon({"shutdown_timeout": "60s", "max_pipelined_output": "4096"})
    body = os.urandom(8 * 1024 * 1024)
    d.write_static("huge.bin", body)
    mark = d.log_mark()
    c = d.conn(rcvbuf=16384, timeout=60)
    c.send(make_request("GET", "/static/huge.bin"))
    d.wait_log("path=/static/huge.bin status=200", mark=mark)
    d.signal(signal.SIGTERM)
    d.wait_refusing()
    r = c.read_response()
    assert r.status == 200 and r.body == body
    assert c.wait_closed(15) == b""
    c.close()
    assert d.proc.wait(20) == 0
    d.assert_clean_log()


def test_sigterm_with_a_keepalive_response_partly_sent(make_daemon):
    """An idle keep-alive connection whose last response is still partly
    queued when SIGTERM comes: the response is finished, then closed."""
    d = make_daemon({"shutdown_timeout": "60s", "max_pipelined_output": "64MiB"})
    body = os.urandom(8 * 1024 * 1024)
    d.write_static("huge.bin", body)
    mark = d.log_mark()
    c = d.conn(rcvbuf=16384, timeout=60)
    c.send(make_request("GET", "/static/huge.bin"))
    d.wait_log("path=/static/huge.bin status=200", mark=mark)
    d.signal(signal.SIGTERM)
    d.wait_refusing()
    r = c.read_response()
    assert r.status == 200 and r.body == body
    assert c.wait_closed(15) == b""
    c.close()
    assert d.proc.wait(20) == 0
    d.assert_clean_log()


def test_sigterm_cuts_requests_after_shutdown_timeout(make_daemon):
    d = make_daemon({"shutdown_timeout": "1s"})
    slow = d.conn(timeout=30)
    slow.send(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
              b"Content-Length: 10\r\n\r\n")
    assert slow.read_response().status == 100
    slow.send(b"12345")
    d.signal(signal.SIGTERM)
    assert slow.wait_closed(20) == b""
    assert d.proc.wait(30) == 0
    d.assert_clean_log()
    assert "shutdown_timeout passed" in d.log()
    slow.close()


def test_sigterm_right_after_start_is_a_clean_stop(make_daemon):
    """The daemon answers as soon as its workers run; a SIGTERM at that
    moment must stop it, not kill it."""
    for _ in range(5):
        d = make_daemon()
        rc = d.stop()
        assert rc == 0, f"exit code {rc}:\n{d.log()}"


def test_sigint_stops_too(make_daemon):
    d = make_daemon()
    d.signal(signal.SIGINT)
    assert d.proc.wait(30) == 0


# ---------------------------------------------------------------- check, --help

def write(tmp_path, text):
    p = tmp_path / "aantafel.conf"
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("text,line,name", [
    ("workers = 1\n# comment\nbogus = 3\n", 3, "bogus"),
    ("max_headers = 0\n", 1, "max_headers"),
    ("\n\nmax_body_size = 2GiB\n", 3, "max_body_size"),
    ("head_timeout = 50ms\n", 1, "head_timeout"),
    ("workers = two\n", 1, "workers"),
    ("access_log = perhaps\n", 1, "access_log"),
])
def test_check_names_the_bad_option_and_line(tmp_path, text, line, name):
    path = write(tmp_path, text)
    p = aantafel("check", "-c", path, check=False)
    assert p.returncode == 1, p
    assert f"{path}:{line}" in p.stderr, p.stderr
    assert name in p.stderr, p.stderr
    # serve refuses the same file the same way, before listening.
    s = aantafel("serve", "-c", path, check=False)
    assert s.returncode == 1 and name in s.stderr


def test_check_accepts_a_valid_file(tmp_path):
    path = write(tmp_path, "workers = 2\nmax_body_size = 2MiB\nhead_timeout = 5s\n")
    p = aantafel("check", "-c", path, check=False)
    assert p.returncode == 0 and "ok" in p.stdout


def test_check_missing_file(tmp_path):
    p = aantafel("check", "-c", str(tmp_path / "nope.conf"), check=False)
    assert p.returncode == 1 and "nope.conf" in p.stderr


def test_check_options_table():
    p = aantafel("check", "--options")
    for name in ("max_head_size", "max_headers", "max_body_size", "head_timeout", "body_timeout",
                 "write_timeout", "keepalive_timeout", "max_requests_per_connection",
                 "max_pipelined_output", "max_connections", "shutdown_timeout"):
        assert f"`{name}`" in p.stdout


@pytest.mark.parametrize("cmd", ["serve", "check", "migrate", "tenant", "help", "version"])
def test_help_on_each_subcommand(cmd):
    p = subprocess.run([BIN, cmd, "--help"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p
    assert p.stdout.startswith(f"usage: aantafel {cmd}"), p.stdout


def test_top_level_help():
    p = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0
    for cmd in ("serve", "check", "migrate", "tenant"):
        assert cmd in p.stdout
