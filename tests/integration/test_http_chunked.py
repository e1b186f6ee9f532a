"""Chunked request bodies, read strictly (RFC 9112 7.1), seen from a raw
socket. Anything outside the grammar gets 400 with the reason in the log,
and the connection closes: a request sent behind it is never answered.
Debian's http-parser read most of these laxly ("2 1" as a chunk of two
bytes, any byte as the LF after a chunk's data), so a front proxy that
read them another way would see a different next request."""
import time

import pytest

from harness import make_request

HEAD = b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
# Sent behind every bad body: it must never be answered.
FOLLOWER = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"


def assert_refused(d, body, status, reason):
    """Sends a chunked POST with BODY and a valid request behind it; expects
    one response with STATUS and Connection: close, the connection closed
    with nothing more, and REASON in the log's rejection line."""
    mark = d.log_mark()
    with d.conn() as c:
        c.send(HEAD + body + FOLLOWER)
        r = c.read_response()
        assert r.status == status, f"{body!r}: got {r.status}, want {status}"
        assert r.headers.get("connection") == "close"
        rest = c.wait_closed()
        assert rest == b"", f"answered after a rejection: {rest[:200]!r}"
    line = d.wait_log(f"rejected {status}", mark=mark)
    assert reason in line, f"{body!r}: log line {line!r} does not say {reason!r}"
    # One request seen: the refused one.
    assert [l["status"] for l in d.access_log(mark)] == [str(status)]


def assert_served(d, body):
    """A chunked POST with BODY and a GET pipelined behind it in the same
    send: both answered, and the connection stays open."""
    with d.conn() as c:
        c.send(HEAD + body + make_request("GET", "/nope-after-chunked"))
        r = c.read_response()
        assert r.status == 200 and r.body == b"ok\n", f"{body!r}: got {r.status}"
        assert "connection" not in r.headers
        r = c.read_response()
        assert r.status == 404, f"{body!r}: the pipelined request got {r.status}"
        assert c.request().status == 200
        assert c.is_open(0.2)


# ---------------------------------------------------------------- refused

BAD = {
    # The outside test's finding: a space and more digits after the size.
    "space and a digit after the size": (b"2 1\r\n{}\r\n0\r\n\r\n", "space in chunk line"),
    "tab and a digit after the size": (b"2\t1\r\n{}\r\n0\r\n\r\n", "space in chunk line"),
    "space after the size": (b"2 \r\n{}\r\n0\r\n\r\n", "space in chunk line"),
    "plus sign": (b"+2\r\n{}\r\n0\r\n\r\n", "not hexadecimal"),
    "0x prefix": (b"0x2\r\n{}\r\n0\r\n\r\n", "invalid byte after chunk size"),
    "space before the size": (b" 2\r\n{}\r\n0\r\n\r\n", "not hexadecimal"),
    "minus one": (b"-1\r\n{}\r\n0\r\n\r\n", "not hexadecimal"),
    "no size": (b"\r\n{}\r\n0\r\n\r\n", "not hexadecimal"),
    "17 hex digits": (b"00000000000000002\r\n{}\r\n0\r\n\r\n", "16 hex digits"),
    "size over 64 bits": (b"1FFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n", "16 hex digits"),
    "bare LF after the size": (b"2\n{}\r\n0\r\n\r\n", "bare LF"),
    "bare CR after the size": (b"2\r{}\r\n0\r\n\r\n", "bare CR"),
    "data followed by other bytes": (b"2\r\n{}XY0\r\n\r\n", "not followed by CRLF"),
    "data longer than its size": (b"2\r\n{}}\r\n0\r\n\r\n", "not followed by CRLF"),
    "data followed by bare LF": (b"2\r\n{}\n0\r\n\r\n", "bare LF"),
    "data followed by CR and a byte": (b"2\r\n{}\rX0\r\n\r\n", "not followed by CRLF"),
    "empty extension name": (b"2;\r\n{}\r\n0\r\n\r\n", "extension name not a token"),
    "space inside an extension name": (b"2;a b\r\n{}\r\n0\r\n\r\n", "not before '=' or ';'"),
    "space inside an extension value": (b"2;a=b c\r\n{}\r\n0\r\n\r\n", "space in chunk line"),
    "extension value not a token": (b"2;a=(b)\r\n{}\r\n0\r\n\r\n", "value not a token"),
    "unterminated quoted value": (b"2;a=\"b\r\n{}\r\n0\r\n\r\n", "control byte"),
    "control byte in an extension": (b"2;a\x01\r\n{}\r\n0\r\n\r\n", "extension name"),
    "trailer name with a space": (b"0\r\nX A: 1\r\n\r\n", "trailer field name"),
    "trailer without a colon": (b"0\r\nX-A\r\n\r\n", "trailer field name"),
    "trailer folded": (b"0\r\nX-A: 1\r\n 2\r\n\r\n", "trailer field name"),
    "trailer with a control byte": (b"0\r\nX-A: \x01\r\n\r\n", "control byte in trailer"),
    "trailer with a bare CR": (b"0\r\nX-A: 1\rX\r\n\r\n", "bare CR in trailer"),
    "trailer with a bare LF": (b"0\r\nX-A: 1\n\r\n", "bare LF"),
    "final line a bare LF": (b"0\r\n\n", "bare LF"),
    "final line CR and a byte": (b"0\r\n\rX", "bare CR in trailer"),
}


@pytest.fixture(scope="module")
def shared(make_daemon_module):
    return make_daemon_module()


@pytest.mark.parametrize("name", list(BAD))
def test_bad_chunked_body_is_400_and_closes(shared, name):
    body, reason = BAD[name]
    assert_refused(shared, body, 400, reason)


def test_the_finding_is_one_400_and_nothing_more(shared):
    """The outside test's input exactly: no 200 for the body, no answer
    for anything after it."""
    mark = shared.log_mark()
    with shared.conn() as c:
        c.send(HEAD + b"2 1\r\n{}\r\n0\r\n\r\n" + FOLLOWER + FOLLOWER)
        r = c.read_response()
        assert r.status == 400
        assert c.wait_closed() == b""
    lines = shared.access_log(mark)
    assert [l["status"] for l in lines] == ["400"], lines


def test_chunk_line_over_the_cap_is_400(shared):
    line = b"2;x=" + b"a" * 4092          # 4096 bytes before the CRLF: the cap
    assert_served(shared, line + b"\r\n{}\r\n0\r\n\r\n")
    assert_refused(shared, line + b"a\r\n{}\r\n0\r\n\r\n", 400, "chunk line too long")


def test_endless_chunk_line_is_400_without_waiting(shared):
    """A chunk line that never ends is refused once it passes the cap."""
    with shared.conn() as c:
        c.send(HEAD + b"2;x=" + b"a" * 5000)
        r = c.read_response()
        assert r.status == 400
        assert c.wait_closed() == b""


def test_trailer_section_over_the_cap_is_400(shared):
    line = b"X-T: " + b"t" * 993 + b"\r\n"    # 1000 bytes
    assert_served(shared, b"0\r\n" + line * 8 + b"\r\n")
    assert_refused(shared, b"0\r\n" + line * 9 + b"\r\n", 400, "trailer section too large")


def test_bad_second_chunk_after_a_good_one(shared):
    assert_refused(shared, b"2\r\n{}\r\n1 1\r\nx\r\n0\r\n\r\n", 400, "space in chunk line")


def test_bad_line_arriving_byte_by_byte(shared):
    """The same verdict when the body trickles in."""
    with shared.conn() as c:
        c.send(HEAD)
        for b in b"2\r\n{}\r\n1 1\r\n":
            c.send(bytes([b]))
            time.sleep(0.01)
            if c.eof:
                break
        r = c.read_response()
        assert r.status == 400
        assert c.wait_closed() == b""


def test_chunk_over_max_body_size_still_413(make_daemon):
    d = make_daemon({"max_body_size": "1000"})
    assert_refused(d, b"3e9\r\n", 413, "chunked body over max_body_size")
    with d.conn() as c:
        c.send(HEAD + b"3e8\r\n" + b"x" * 1000 + b"\r\n0\r\n\r\n")
        assert c.read_response().status == 200


# ---------------------------------------------------------------- served

GOOD = {
    "plain": b"2\r\n{}\r\n0\r\n\r\n",
    "empty": b"0\r\n\r\n",
    "extension": b"2;a=b\r\n{}\r\n0\r\n\r\n",
    "extension with BWS and a quoted value": b"2 ; a = \"q\"\r\n{}\r\n0\r\n\r\n",
    "extensions of every form": b"2;a;b=c ;d=\"x\\\"y\"\t; e\r\n{}\r\n0;end\r\n\r\n",
    "leading zeros": b"002\r\n{}\r\n000\r\n\r\n",
    "16 hex digits": b"0000000000000002\r\n{}\r\n0\r\n\r\n",
    "upper and lower case hex": b"a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n",
    "data that looks like framing": b"9\r\n0\r\n\r\nGET \r\n0\r\n\r\n",
    "trailers": b"2\r\n{}\r\n0\r\nX-A: 1\r\nX-B:\r\nx-c: a\tb\r\n\r\n",
}


@pytest.mark.parametrize("name", list(GOOD))
def test_valid_chunked_body_is_served_and_pipelining_goes_on(shared, name):
    assert_served(shared, GOOD[name])


def test_valid_bodies_pipelined_byte_by_byte(shared):
    """Every valid form back to back on one connection, trickled a byte at
    a time, then a GET: each answered in order."""
    data = b"".join(HEAD + body for body in GOOD.values()) + make_request("GET", "/nope")
    with shared.conn(timeout=30) as c:
        for i in range(0, len(data), 3):
            c.send(data[i:i + 3])
        got = [c.read_response().status for _ in range(len(GOOD) + 1)]
        assert got == [200] * len(GOOD) + [404]
        assert c.is_open(0.2)


def test_expect_100_continue_with_a_chunked_body(shared):
    with shared.conn() as c:
        c.send(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")
        r = c.read_response()
        assert r.status == 100
        c.send(b"5;a=b\r\nhello\r\n0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == b"ok\n"
        assert c.request().status == 200
