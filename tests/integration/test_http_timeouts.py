"""Deadlines and the connection cap, with short configured timeouts. Only
that a close happens is measured, with generous upper bounds: the machine
is slow and shared and the daemon runs under sanitizers."""
import os
import time

from harness import make_request, wait_for

# A 1 s timeout must have closed the connection by then.
CLOSED_WITHIN = 15


def test_fresh_connection_sending_nothing_is_closed(make_daemon):
    d = make_daemon({"head_timeout": "1s"})
    with d.conn() as c:
        assert c.wait_closed(CLOSED_WITHIN) == b""


def test_slow_head_is_closed_at_its_deadline_while_bytes_keep_coming(make_daemon):
    """A byte every 100 ms would satisfy any idle timer: the head deadline
    counts from the first byte and closes it anyway."""
    d = make_daemon({"head_timeout": "1s", "max_head_size": "65536"})
    with d.conn() as c:
        head = make_request(headers={"X-Slow": "s" * 2000})[:-4]
        start = time.time()
        sent = 0
        closed = False
        while time.time() - start < CLOSED_WITHIN and sent < len(head):
            try:
                c.send(head[sent:sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            sent += 1
            if not c.is_open(0.1):
                closed = True
                break
        assert closed, f"still open after {time.time() - start:.1f} s and {sent} bytes"
        # The deadline, not an idle timer: bytes were arriving all along,
        # for longer than the timeout.
        assert time.time() - start >= 0.9
        assert sent >= 5
        assert c.buf == b"", "a timed-out head gets no answer"
    assert "head timeout" in d.log()


def test_partial_request_line_then_silence_is_closed(make_daemon):
    d = make_daemon({"head_timeout": "1s"})
    with d.conn() as c:
        time.sleep(0.3)
        c.send(b"GET /healthz HTTP/1.1\r\n")
        assert c.wait_closed(CLOSED_WITHIN) == b""


def test_stalled_body_is_closed(make_daemon):
    d = make_daemon({"body_timeout": "1s", "head_timeout": "60s"})
    with d.conn() as c:
        c.send(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc")
        assert c.wait_closed(CLOSED_WITHIN) == b"", "a timed-out body gets no answer"
    assert "body timeout" in d.log()


def test_slow_but_steady_body_is_served(make_daemon):
    """body_timeout is the time without a body byte, not a deadline for
    the whole body."""
    d = make_daemon({"body_timeout": "2s"})
    with d.conn() as c:
        c.send(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n")
        for b in b"abcdefghij":        # 3 s in all, 0.3 s apart
            time.sleep(0.3)
            c.send(bytes([b]))
        assert c.read_response().status == 200


def test_client_that_never_reads_is_closed_by_the_write_deadline(make_daemon):
    """A multi-MiB file requested again and again, pipelined, and never
    read: once the socket buffers are full the write deadline closes the
    connection."""
    d = make_daemon({"write_timeout": "1s"})
    size = 4 * 1024 * 1024
    d.write_static("big.bin", os.urandom(size))
    n = 20
    with d.conn(rcvbuf=16384) as c:
        mark = d.log_mark()
        c.send(b"".join(make_request(path="/static/big.bin") for _ in range(n)))
        d.wait_log("write timeout", mark=mark, timeout=CLOSED_WITHIN + 10)
        # Now read: what was in the buffers comes, then the close, long
        # before all the responses.
        got = c.wait_closed(60)
        assert len(got) < n * size
    # The daemon serves on.
    assert d.get("/healthz")[0] == 200


def test_idle_keepalive_is_closed(make_daemon):
    d = make_daemon({"keepalive_timeout": "1s"})
    with d.conn() as c:
        assert c.request().status == 200
        assert c.wait_closed(CLOSED_WITHIN) == b""
    assert "idle timeout" in d.log()


def test_keepalive_connection_used_in_time_stays_open(make_daemon):
    """The idle timer restarts with each request."""
    d = make_daemon({"keepalive_timeout": "3s"})
    with d.conn() as c:
        for _ in range(4):
            assert c.request().status == 200
            time.sleep(1)
        assert c.request().status == 200


def test_keepalive_timeout_zero_turns_keepalive_off(make_daemon):
    d = make_daemon({"keepalive_timeout": "0"})
    with d.conn() as c:
        r = c.request()
        assert r.status == 200 and r.headers["connection"] == "close"
        assert c.wait_closed() == b""


# ---------------------------------------------------------------- connection cap

def served(c):
    """One request on an open keep-alive connection answered?"""
    try:
        return c.request(timeout=10).status == 200
    except (EOFError, OSError):
        return False


def test_connection_cap(make_daemon):
    """max_connections=N: with N open, the next is closed at once, and the
    N can still be served. One worker, so connections are accepted in
    order."""
    n = 4
    d = make_daemon({"max_connections": str(n), "workers": "1"})
    held = []
    try:
        # N-1 connections proven accepted (answered once, now idle) ...
        for _ in range(n - 1):
            def open_one():
                c = d.conn()
                if served(c):
                    return c
                # Refused: the readiness probe's connection may still
                # have been counted. Try again.
                c.close()
                return None
            held.append(wait_for(open_one, timeout=20, interval=0.1, what="an accepted connection"))
        # ... and one fresh connection that sends nothing.
        idle = d.conn()
        held.append(idle)
        # The next one: closed at once, without an answer.
        with d.conn() as extra:
            extra.send(make_request())
            assert extra.wait_closed(10) == b""
        # The N are still served, the idle one included.
        for c in held:
            assert served(c)
        assert "max_connections (4) reached" in d.log()
        # Closing one makes room again.
        held.pop(0).close()
        wait_for(lambda: served_new(d), timeout=20, interval=0.1, what="a connection under the cap")
    finally:
        for c in held:
            c.close()


def served_new(d):
    try:
        with d.conn() as c:
            return served(c)
    except OSError:
        return False
