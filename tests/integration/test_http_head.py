"""The request-head checks and size limits of the HTTP layer, seen from a
raw socket: each rejection with its status, and the connection closed after
it (a request pipelined behind the bad one is never answered)."""
import pytest

from harness import make_request

# Sent behind every bad request: it must never be answered.
FOLLOWER = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"


def assert_rejected(d, data, status, follower=FOLLOWER):
    """Sends DATA (plus a valid request behind it); expects one response
    with STATUS and Connection: close, then the connection closed with
    nothing more."""
    with d.conn() as c:
        c.send(data + follower)
        r = c.read_response()
        assert r.status == status, f"{data!r}: got {r.status}, want {status}"
        assert r.headers.get("connection") == "close"
        assert r.headers.get("content-type") == "text/html; charset=utf-8"
        assert r.headers.get("x-request-id")
        assert f"{status}".encode() in r.body
        rest = c.wait_closed()
        assert rest == b"", f"answered after a rejection: {rest[:200]!r}"
    return r


def test_valid_request_is_answered(daemon):
    """The baseline the rejections differ from."""
    with daemon.conn() as c:
        c.send(FOLLOWER)
        r = c.read_response()
        assert r.status == 200 and r.body == b"ok\n"


BAD_400 = {
    "bare LF everywhere": b"GET /healthz HTTP/1.1\nHost: localhost\n\n",
    "bare LF after request line": b"GET /healthz HTTP/1.1\nHost: localhost\r\n\r\n",
    "bare LF after one header": b"GET /healthz HTTP/1.1\r\nHost: localhost\nX-A: b\r\n\r\n",
    "bare LF as the blank line": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\n",
    "bare CR inside a header": b"GET /healthz HTTP/1.1\r\nHost: localhost\rX-A: b\r\n\r\n",
    "folded header (space)": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-A: b\r\n c\r\n\r\n",
    "folded header (tab)": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-A: b\r\n\tc\r\n\r\n",
    "folded first header": b"GET /healthz HTTP/1.1\r\n Host: localhost\r\n\r\n",
    "space in header name": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nBad Name: x\r\n\r\n",
    "parenthesis in header name": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX(a): x\r\n\r\n",
    "non-ASCII header name": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-\xe9: x\r\n\r\n",
    "empty header name": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n: x\r\n\r\n",
    "header without colon": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-A\r\n\r\n",
    "space before colon (Host)": b"GET /healthz HTTP/1.1\r\nHost : localhost\r\n\r\n",
    "space before colon (other)": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-A : b\r\n\r\n",
    "tab before colon": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-A\t: b\r\n\r\n",
    "HTTP/2.0": b"GET /healthz HTTP/2.0\r\nHost: localhost\r\n\r\n",
    "HTTP/1.2": b"GET /healthz HTTP/1.2\r\nHost: localhost\r\n\r\n",
    "HTTP/1.10": b"GET /healthz HTTP/1.10\r\nHost: localhost\r\n\r\n",
    "HTTP/0.9 style (no version)": b"GET /healthz\r\n\r\n",
    "lower-case version": b"GET /healthz http/1.1\r\nHost: localhost\r\n\r\n",
    "two spaces in request line": b"GET  /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "HTTP/1.1 without Host": b"GET /healthz HTTP/1.1\r\nX-A: b\r\n\r\n",
    "duplicate Host": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nHost: other\r\n\r\n",
    "duplicate Host, same value": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nhost: localhost\r\n\r\n",
    "invalid Host": b"GET /healthz HTTP/1.1\r\nHost: local host\r\n\r\n",
    "userinfo in Host": b"GET /healthz HTTP/1.1\r\nHost: user@localhost\r\n\r\n",
    "duplicate Content-Length":
        b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "duplicate Content-Length, same value":
        b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab",
    "Content-Length list": b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2, 2\r\n\r\nab",
    "negative Content-Length": b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n",
    "signed Content-Length": b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: +2\r\n\r\nab",
    "hex Content-Length": b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0x2\r\n\r\nab",
    "duplicate Transfer-Encoding":
        b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "Content-Length with Transfer-Encoding":
        b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "Transfer-Encoding with Content-Length":
        b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 5\r\n\r\n0\r\n\r\n",
    "Transfer-Encoding on HTTP/1.0":
        b"POST /healthz HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "NUL in a header value": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-A: a\x00b\r\n\r\n",
    "NUL in the target": b"GET /healthz\x00 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "NUL in the method": b"G\x00ET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "control byte 0x01 in a value": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-A: a\x01b\r\n\r\n",
    "escape byte in a value": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-A: \x1b[31m\r\n\r\n",
    "DEL in a value": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-A: a\x7fb\r\n\r\n",
    "vertical tab in a value": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-A: a\x0bb\r\n\r\n",
    "control byte in the target": b"GET /health\x01z HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "tab in the target": b"GET /health\tz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "asterisk target outside OPTIONS": b"GET * HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "relative target": b"GET healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
}


@pytest.mark.parametrize("data", BAD_400.values(), ids=BAD_400.keys())
def test_rejected_400(daemon, data):
    assert_rejected(daemon, data, 400)


BAD_501 = {
    "Transfer-Encoding: gzip, chunked":
        b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "Transfer-Encoding: chunked, chunked":
        b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    "Transfer-Encoding: identity":
        b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: identity\r\n\r\n",
    "Transfer-Encoding: xchunked":
        b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    "unknown method": b"FOO /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "unknown method, token-like": b"BREW /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "lower-case method": b"get /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
}


@pytest.mark.parametrize("data", BAD_501.values(), ids=BAD_501.keys())
def test_rejected_501(daemon, data):
    assert_rejected(daemon, data, 501)


def test_connect_is_refused(daemon):
    """CONNECT is no method of ours; its authority-form target is not a
    target we accept either, so the head check answers first (400)."""
    r = assert_rejected(daemon, b"CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n", 400)
    assert r.status == 400
    assert_rejected(daemon, b"CONNECT /x HTTP/1.1\r\nHost: localhost\r\n\r\n", 501)


def test_chunked_is_case_insensitive_and_accepted(daemon):
    """The one Transfer-Encoding that is allowed, in any case."""
    with daemon.conn() as c:
        r = c.request("POST", "/healthz", headers={"Transfer-Encoding": "Chunked"}, body=b"3\r\nabc\r\n0\r\n\r\n")
        assert r.status == 200


def test_smuggling_attempt_answers_once(daemon):
    """Content-Length plus Transfer-Encoding with a request hidden in the
    body: one 400, and the hidden request is never seen."""
    mark = daemon.log_mark()
    smuggled = (b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 50\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hidden HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert_rejected(daemon, smuggled, 400)
    assert "/hidden" not in daemon.log_since(mark)


def test_empty_lines_before_request_are_ignored(daemon):
    """RFC 9112 2.2: CRLFs before a request line (a client's stray CRLF
    after a POST body) are skipped, not refused."""
    with daemon.conn() as c:
        c.send(b"\r\n\r\n" + FOLLOWER)
        assert c.read_response().status == 200


# ---------------------------------------------------------------- head limits

def test_head_over_max_head_size_is_431(make_daemon):
    d = make_daemon({"max_head_size": "4096"})
    big = make_request(headers={"X-Big": "a" * 5000})
    assert_rejected(d, big, 431)


def test_incomplete_head_over_max_head_size_is_431(make_daemon):
    """The head never ends: refused once it passes the limit, without
    waiting for its end."""
    d = make_daemon({"max_head_size": "4096", "head_timeout": "60s"})
    with d.conn() as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 5000)
        r = c.read_response()
        assert r.status == 431
        assert r.headers["connection"] == "close"
        assert c.wait_closed() == b""


def test_head_of_exactly_max_head_size_is_served(make_daemon):
    d = make_daemon({"max_head_size": "4096"})
    base = make_request(headers={"X-Pad": ""})
    exact = make_request(headers={"X-Pad": "p" * (4096 - len(base))})
    assert len(exact) == 4096
    with d.conn() as c:
        c.send(exact)
        assert c.read_response().status == 200
    one_more = make_request(headers={"X-Pad": "p" * (4097 - len(base))})
    assert_rejected(d, one_more, 431)


def test_head_at_default_limit(daemon):
    """The default max_head_size is 32 KiB."""
    with daemon.conn() as c:
        c.send(make_request(headers={"X-Big": "a" * 30000}))
        assert c.read_response().status == 200
    assert_rejected(daemon, make_request(headers={"X-Big": "a" * 33000}), 431)


def test_more_than_max_headers_is_431(make_daemon):
    d = make_daemon({"max_headers": "10"})
    # Host plus 9 more: exactly the limit.
    ok = make_request(headers=[(f"X-H{i}", "v") for i in range(9)])
    with d.conn() as c:
        c.send(ok)
        assert c.read_response().status == 200
    too_many = make_request(headers=[(f"X-H{i}", "v") for i in range(10)])
    assert_rejected(d, too_many, 431)


def test_default_max_headers_is_100(daemon):
    with daemon.conn() as c:
        c.send(make_request(headers=[(f"X-H{i}", "v") for i in range(99)]))
        assert c.read_response().status == 200
    assert_rejected(daemon, make_request(headers=[(f"X-H{i}", "v") for i in range(100)]), 431)


# ---------------------------------------------------------------- body limits

def test_body_over_max_body_size_is_413_before_the_body(make_daemon):
    """Only the head is sent: the 413 must come without the body."""
    d = make_daemon({"max_body_size": "1000"})
    with d.conn() as c:
        c.send(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1001\r\n\r\n")
        r = c.read_response()
        assert r.status == 413
        assert r.headers["connection"] == "close"
        assert c.wait_closed() == b""


def test_huge_content_length_is_413(daemon):
    with daemon.conn() as c:
        c.send(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 999999999999999999\r\n\r\n")
        assert c.read_response().status == 413
        assert c.wait_closed() == b""


def test_body_of_exactly_max_body_size_is_served(make_daemon):
    d = make_daemon({"max_body_size": "1000"})
    with d.conn() as c:
        assert c.request("POST", "/healthz", body=b"x" * 1000).status == 200
        # And the connection goes on.
        assert c.request("GET", "/healthz").status == 200


def test_expect_continue_over_limit_gets_413_not_100(make_daemon):
    d = make_daemon({"max_body_size": "1000"})
    with d.conn() as c:
        c.send(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
               b"Content-Length: 5000\r\n\r\n")
        r = c.read_response()
        assert r.status == 413
        assert c.wait_closed() == b""


def test_chunked_body_growing_past_the_limit_is_413(make_daemon):
    d = make_daemon({"max_body_size": "1000"})
    chunk = b"190\r\n" + b"c" * 400 + b"\r\n"     # 0x190 = 400 bytes
    with d.conn() as c:
        c.send(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n")
        c.send(chunk)
        c.send(chunk)
        # 800 bytes: still within the limit, no answer yet.
        assert c.is_open(0.5)
        assert c.buf == b""
        c.send(chunk)
        r = c.read_response()
        assert r.status == 413
        assert r.headers["connection"] == "close"
        assert c.wait_closed() == b""


def test_chunked_body_within_the_limit_is_served(make_daemon):
    d = make_daemon({"max_body_size": "1000"})
    with d.conn() as c:
        body = b"190\r\n" + b"c" * 400 + b"\r\n" + b"190\r\n" + b"c" * 400 + b"\r\n0\r\n\r\n"
        r = c.request("POST", "/healthz", headers={"Transfer-Encoding": "chunked"}, body=body)
        assert r.status == 200


def test_chunk_size_line_over_limit_is_413_before_its_bytes(make_daemon):
    """One chunk announcing more than the limit: refused on its size line."""
    d = make_daemon({"max_body_size": "1000"})
    with d.conn() as c:
        c.send(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"100000\r\n")
        r = c.read_response()
        assert r.status == 413
        assert c.wait_closed() == b""


def test_bad_chunk_framing_is_400(daemon):
    with daemon.conn() as c:
        c.send(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"zz\r\nabc\r\n0\r\n\r\n")
        r = c.read_response()
        assert r.status == 400
        assert r.headers["connection"] == "close"
        assert c.wait_closed() == b""
