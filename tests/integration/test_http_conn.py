"""Connection handling: keep-alive, HTTP/1.0, Connection: close, the
per-connection request cap, pipelining and its output cap, Expect:
100-continue, HEAD and chunked request bodies."""
import os
import socket
import time

import pytest

from harness import make_request, wait_for


def test_keepalive_several_requests_on_one_connection(daemon):
    daemon.write_static("a.txt", "alpha\n")
    with daemon.conn() as c:
        ids = []
        for path in ["/healthz", "/static/a.txt", "/nope", "/healthz", "/static/a.txt"]:
            r = c.request("GET", path)
            assert r.status == (404 if path == "/nope" else 200)
            assert "connection" not in r.headers, "HTTP/1.1 keep-alive needs no Connection header"
            ids.append(r.headers["x-request-id"])
        assert len(set(ids)) == len(ids), "request ids are unique"
        assert c.is_open(0.3)


def test_http10_without_keepalive_closes(daemon):
    with daemon.conn() as c:
        r = c.request("GET", "/healthz", host=None, version="HTTP/1.0")
        assert r.status == 200
        assert r.headers["connection"] == "close"
        assert c.wait_closed() == b""


def test_http10_with_keepalive_stays_open(daemon):
    with daemon.conn() as c:
        for _ in range(3):
            r = c.request("GET", "/healthz", host=None, version="HTTP/1.0",
                          headers={"Connection": "keep-alive"})
            assert r.status == 200
            assert r.headers["connection"] == "keep-alive"
        # Without the header the next one is the last.
        r = c.request("GET", "/healthz", host=None, version="HTTP/1.0")
        assert r.headers["connection"] == "close"
        assert c.wait_closed() == b""


def test_http10_keepalive_and_close_means_close(daemon):
    with daemon.conn() as c:
        r = c.request("GET", "/healthz", version="HTTP/1.0", headers={"Connection": "keep-alive, close"})
        assert r.headers["connection"] == "close"
        assert c.wait_closed() == b""


def test_connection_close(daemon):
    with daemon.conn() as c:
        assert c.request().status == 200
        r = c.request(headers={"Connection": "close"})
        assert r.status == 200
        assert r.headers["connection"] == "close"
        assert c.wait_closed() == b""


def test_connection_close_among_other_tokens(daemon):
    with daemon.conn() as c:
        r = c.request(headers={"Connection": "TE, Close"})
        assert r.headers["connection"] == "close"
        assert c.wait_closed() == b""


def test_max_requests_per_connection(make_daemon):
    d = make_daemon({"max_requests_per_connection": "3"})
    with d.conn() as c:
        for _ in range(2):
            r = c.request()
            assert r.status == 200 and "connection" not in r.headers
        r = c.request()
        assert r.status == 200
        assert r.headers["connection"] == "close"
        assert c.wait_closed() == b""


def test_max_requests_per_connection_with_pipelined_extra(make_daemon):
    """Requests pipelined past the cap are not answered."""
    d = make_daemon({"max_requests_per_connection": "2"})
    with d.conn() as c:
        c.send(make_request() * 4)
        assert "connection" not in c.read_response().headers
        assert c.read_response().headers["connection"] == "close"
        assert c.wait_closed() == b""


def test_pipelining_answers_in_order(daemon):
    """Several requests in one send, a POST with a body in the middle whose
    body looks like a request: answered in order, the body never parsed
    as a request."""
    daemon.write_static("a.txt", "alpha\n")
    daemon.write_static("b.css", "b{}\n")
    sneaky = b"GET /nope-body HTTP/1.1\r\nHost: localhost\r\n\r\n"
    mark = daemon.log_mark()
    reqs = [
        make_request("GET", "/static/a.txt"),
        make_request("GET", "/nope-1"),
        make_request("POST", "/healthz", body=sneaky),
        make_request("HEAD", "/static/b.css"),
        make_request("POST", "/healthz", headers={"Transfer-Encoding": "chunked"},
                     body=b"5\r\nhello\r\n0\r\n\r\n"),
        make_request("GET", "/static/b.css"),
        make_request("GET", "/healthz", headers={"Connection": "close"}),
    ]
    with daemon.conn() as c:
        c.send(b"".join(reqs))
        got = [c.read_response(head_request=(i == 3)) for i in range(len(reqs))]
        assert c.wait_closed() == b""
    assert [r.status for r in got] == [200, 404, 200, 200, 200, 200, 200]
    assert got[0].body == b"alpha\n"
    assert got[2].body == b"ok\n"
    assert got[3].body == b"" and got[3].headers["content-length"] == "4"
    assert got[5].body == b"b{}\n"
    assert got[6].headers["connection"] == "close"
    lines = daemon.access_log(mark)
    assert [l["path"] for l in lines] == ["/static/a.txt", "/nope-1", "/healthz", "/static/b.css",
                                          "/healthz", "/static/b.css", "/healthz"]
    assert [l["id"] for l in lines] == [r.headers["x-request-id"] for r in got]
    assert "/nope-body" not in daemon.log_since(mark)


def test_pipelining_byte_by_byte(daemon):
    """The same requests trickled one byte at a time."""
    data = make_request("GET", "/healthz") + make_request("POST", "/healthz", body=b"abc") + \
        make_request("GET", "/nope")
    with daemon.conn() as c:
        for i in range(len(data)):
            c.send(data[i:i + 1])
        assert [c.read_response().status for _ in range(3)] == [200, 200, 404]


def test_pipelined_output_cap(make_daemon):
    """With max_pipelined_output small, the daemon stops taking pipelined
    requests while the client does not read (the access-log count stops
    short); reading then drains every answer, whole and in order."""
    d = make_daemon({"max_pipelined_output": "4096", "workers": "1"})
    size = 512 * 1024
    body = os.urandom(size)
    d.write_static("half.bin", body)
    n = 24
    mark = d.log_mark()
    with d.conn(rcvbuf=16384, timeout=30) as c:
        c.send(b"".join(make_request("GET", "/static/half.bin", headers={"X-N": str(i)}) for i in range(n)))

        # Wait until the count stops moving for a while.
        def settled():
            a = len(d.access_log(mark))
            time.sleep(1.0)
            b = len(d.access_log(mark))
            return a if a == b and a > 0 else None
        processed = wait_for(settled, timeout=30, interval=0, what="the access-log count to settle")
        # 12 MiB cannot sit in socket buffers: the cap held them back.
        assert processed < n, f"all {n} pipelined requests were processed without the client reading"
        for i in range(n):
            r = c.read_response()
            assert r.status == 200
            assert r.body == body, f"response {i} damaged"
        assert c.is_open(0.2)
    wait_for(lambda: len(d.access_log(mark)) == n, timeout=20, what=f"{n} access-log lines")


def test_expect_100_continue(daemon):
    with daemon.conn() as c:
        c.send(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        r = c.read_response()
        assert r.status == 100
        assert r.raw == b"HTTP/1.1 100 Continue\r\n\r\n"
        c.send(b"hello")
        r = c.read_response()
        assert r.status == 200 and r.body == b"ok\n"
        # The connection goes on.
        assert c.request().status == 200


def test_expect_100_continue_with_body_already_sent(daemon):
    """A client that sends the body without waiting gets no stray 100."""
    with daemon.conn() as c:
        c.send(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
               b"Content-Length: 5\r\n\r\nhello")
        # Head and body go in one send, which the loopback delivers in one
        # read: the body is there when the head is read (http_conn.c sends
        # 100 only when nothing of it is).
        r = c.read_response()
        assert r.status == 200, r.raw
        assert c.request().status == 200


def test_expect_100_continue_http10_gets_no_100(daemon):
    with daemon.conn() as c:
        c.send(b"POST /healthz HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        assert c.is_open(0.5)
        assert c.buf == b"", "no 100 Continue for HTTP/1.0"
        c.send(b"hello")
        assert c.read_response().status == 200


def test_head_has_length_and_no_body(daemon):
    data = b"0123456789" * 100
    daemon.write_static("k.txt", data)
    with daemon.conn() as c:
        # Twice: the first from disk, the second from the cache.
        for _ in range(2):
            c.send(make_request("HEAD", "/static/k.txt") + make_request("GET", "/healthz"))
            r = c.read_response(head_request=True)
            assert r.status == 200
            assert r.headers["content-length"] == str(len(data))
            assert r.headers["content-type"] == "text/plain; charset=utf-8"
            # No body bytes came: the next response follows the head.
            r2 = c.read_response()
            assert r2.status == 200 and r2.body == b"ok\n"
        r = c.request("HEAD", "/nope")
        page = c.request("GET", "/nope")
        assert r.status == page.status == 404 and r.headers["content-length"] == str(len(page.body)) != "0"
        r = c.request("HEAD", "/healthz")
        assert r.status == 200 and r.headers["content-length"] == "3"
        assert c.request().body == b"ok\n"


def test_chunked_request_body(daemon):
    with daemon.conn() as c:
        body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: t\r\n\r\n"
        r = c.request("POST", "/healthz", headers={"Transfer-Encoding": "chunked"}, body=body)
        assert r.status == 200
        assert c.request().status == 200


def test_chunked_request_body_split_across_sends(daemon):
    with daemon.conn() as c:
        c.send(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in [b"1", b"0\r\n", b"x" * 8, b"x" * 8, b"\r", b"\n0", b"\r\n", b"\r\n"]:
            c.send(part)
            time.sleep(0.05)
        assert c.read_response().status == 200
        assert c.request().status == 200


def test_request_with_empty_body(daemon):
    with daemon.conn() as c:
        assert c.request("POST", "/healthz", body=b"").status == 200
        assert c.request("POST", "/healthz", headers={"Transfer-Encoding": "chunked"},
                         body=b"0\r\n\r\n").status == 200
        assert c.request().status == 200


def test_client_half_close_still_gets_its_answer(daemon):
    """A client that shuts its write side after the request gets the
    response, then the close."""
    with daemon.conn() as c:
        c.send(make_request())
        c.sock.shutdown(socket.SHUT_WR)
        r = c.read_response()
        assert r.status == 200
        assert c.wait_closed() == b""


# ---------------------------------------------------------------- queued output

BIG = 8 * 1024 * 1024


def slow_big_file(make_daemon, options):
    """A daemon with an 8 MiB static file; the client's small receive
    buffer keeps most of a response queued in the daemon."""
    d = make_daemon(options)
    body = os.urandom(BIG)
    d.write_static("big.bin", body)
    return d, body


@pytest.mark.parametrize("cap", ["1MiB", "64MiB"])
def test_half_closed_client_gets_the_whole_response(make_daemon, cap):
    """A client that shuts its write side right after a (keep-alive)
    request still gets all of a large response: the end of its input is
    no reason to drop output already answered."""
    d, body = slow_big_file(make_daemon, {"max_pipelined_output": cap})
    with d.conn(rcvbuf=16384, timeout=60) as c:
        c.send(make_request("GET", "/static/big.bin"))
        c.sock.shutdown(socket.SHUT_WR)
        time.sleep(1)       # the daemon sees the end of input meanwhile
        r = c.read_response()
        assert r.status == 200
        assert len(r.body) == len(body) and r.body == body
        assert c.wait_closed() == b""


def test_half_closed_client_with_pipelined_requests(make_daemon):
    """The same with several requests before the shutdown: all answered."""
    d, body = slow_big_file(make_daemon, {})
    with d.conn(rcvbuf=16384, timeout=60) as c:
        c.send(make_request("GET", "/static/big.bin") + make_request("GET", "/healthz") +
               make_request("GET", "/static/big.bin"))
        c.sock.shutdown(socket.SHUT_WR)
        time.sleep(1)
        got = [c.read_response() for _ in range(3)]
        assert [r.status for r in got] == [200, 200, 200]
        assert got[0].body == body and got[2].body == body
        assert c.wait_closed() == b""


def test_slow_reader_is_bound_by_write_timeout_not_keepalive(make_daemon):
    """keepalive_timeout is idle time between requests; a response still
    being read is governed by write_timeout."""
    d, body = slow_big_file(make_daemon, {"keepalive_timeout": "1s", "write_timeout": "60s",
                                          "max_pipelined_output": "64MiB"})
    with d.conn(rcvbuf=16384, timeout=60) as c:
        c.send(make_request("GET", "/static/big.bin"))
        time.sleep(3)
        r = c.read_response()
        assert r.status == 200 and r.body == body
        # Then the idle timer does apply.
        assert c.wait_closed(15) == b""


def test_many_pipelined_requests(daemon):
    """More pipelined requests than the input buffer holds at once."""
    n = 900     # under max_requests_per_connection (1000)
    with daemon.conn(timeout=60) as c:
        c.send(b"".join(make_request("GET", f"/healthz?n={i}") for i in range(n)))
        ids = [c.read_response().headers["x-request-id"] for _ in range(n)]
        assert len(set(ids)) == n
        assert c.request().status == 200


def test_nothing_answered_after_connection_close(daemon):
    with daemon.conn() as c:
        c.send(make_request(headers={"Connection": "close"}) + make_request("GET", "/nope"))
        r = c.read_response()
        assert r.status == 200 and r.headers["connection"] == "close"
        assert c.wait_closed() == b""


def open_fds(d):
    return len(os.listdir(f"/proc/{d.proc.pid}/fd"))


def test_no_descriptor_leaks(make_daemon):
    """Files served from disk, HEAD, 304, aborted downloads, write
    timeouts and rejections leave no descriptor behind."""
    d = make_daemon({"write_timeout": "1s"})
    body = os.urandom(2 * 1024 * 1024)
    d.write_static("disk.bin", body)        # over the cache's file limit: from disk
    assert d.get("/healthz")[0] == 200
    base = open_fds(d)
    etag = None
    with d.conn(timeout=30) as c:
        for _ in range(3):
            r = c.request("GET", "/static/disk.bin")
            assert r.body == body
            etag = r.headers["etag"]
            assert c.request("HEAD", "/static/disk.bin").status == 200
            assert c.request("GET", "/static/disk.bin", headers={"If-None-Match": etag}).status == 304
    # Aborted mid-download (reset).
    for _ in range(3):
        c = d.conn(rcvbuf=16384)
        c.send(make_request("GET", "/static/disk.bin") * 3)
        time.sleep(0.2)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()
    # Never read: the write deadline.
    mark = d.log_mark()
    c = d.conn(rcvbuf=16384)
    c.send(make_request("GET", "/static/disk.bin") * 5)
    d.wait_log("write timeout", mark=mark)
    c.close()
    # Rejections and errors.
    for data in (b"GET / HTTP/1.1\n\n", b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"POST /static/disk.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"):
        d.raw(data)
    wait_for(lambda: open_fds(d) <= base, timeout=20, interval=0.2,
             what=f"descriptors back to {base} (now {open_fds(d)})")
