"""Starts the real daemon for the integration tests and talks to it over
real sockets. Shared by every tests/integration/test_*.py."""
import collections
import os
import random
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

BIN = os.environ.get("AANTAFEL_BIN", os.path.join(os.getcwd(), "build", "aantafel"))
SOURCE_DIR = os.environ.get("AANTAFEL_SOURCE_DIR", os.getcwd())


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Daemon:
    """One `aantafel serve` process with its own config file and log."""

    def __init__(self, options=None, env=None, workdir=None):
        self.owns_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="aantafel-test-")
        self.port = free_port()
        self.options = {"listen": f"127.0.0.1:{self.port}", "workers": "2",
                        "static_dir": os.path.join(self.dir, "static"),
                        "errors_dir": os.path.join(SOURCE_DIR, "errors"),
                        "plugins_dir": os.path.join(SOURCE_DIR, "plugins"),
                        "log_level": "debug"}
        self.options.update(options or {})
        self.env = dict(os.environ)
        # The environment must not override what the test configures.
        for k in list(self.env):
            if k.startswith("AANTAFEL_") and k not in ("AANTAFEL_BIN", "AANTAFEL_SOURCE_DIR", "AANTAFEL_BUILD_DIR"):
                del self.env[k]
        self.env.update(env or {})
        os.makedirs(os.path.join(self.dir, "static"), exist_ok=True)
        self.config_path = os.path.join(self.dir, "aantafel.conf")
        self.log_path = os.path.join(self.dir, "daemon.log")
        self.proc = None

    def write_config(self, options=None, raw=None):
        with open(self.config_path, "w") as f:
            if raw is not None:
                f.write(raw)
            else:
                for k, v in (options or self.options).items():
                    f.write(f"{k} = {v}\n")

    def start(self, wait=True, args=()):
        self.write_config()
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BIN, "serve", "-c", self.config_path, *args],
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=self.dir)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status, _, _ = self.get("/healthz", timeout=1)
                # Until the tenant registry is loaded (at once without a
                # database, from it otherwise) other paths answer 503; an
                # unknown host's 404 says it is there. A test whose
                # database is away at start gets the daemon after a few
                # seconds anyway. Several probes: connections spread over
                # the workers.
                if status == 200 and (all(self.get("/", host="registry.probe", timeout=1)[0] == 404
                                          for _ in range(4)) or
                                      (self.has_database() and time.time() > deadline - timeout + 5)):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("daemon did not become ready:\n" + self.log())

    def has_database(self):
        return bool(self.options.get("database_url") or self.env.get("AANTAFEL_DATABASE_URL"))

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit code. Fails the test when a
        sanitizer reported anything."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("daemon did not stop after SIGTERM:\n" + self.log()[-4000:])
        self.logf.close()
        self.assert_clean_log()
        return rc

    def remove_dir(self):
        """Removes the daemon's temporary directory (config, log, static)
        unless the test gave its own or AANTAFEL_KEEP_TEST_DIRS is set."""
        if self.owns_dir:
            remove_tree(self.dir)

    def assert_clean_log(self):
        text = self.log()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in text, f"sanitizer report in daemon log:\n{text[-8000:]}"

    # -- talking to it

    def connect(self, timeout=5):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.settimeout(timeout)
        return s

    def raw(self, data, timeout=5):
        """Sends DATA on a new connection, returns everything read until
        the server closes (or the timeout)."""
        s = self.connect(timeout)
        try:
            s.sendall(data)
            return read_until_close(s, timeout)
        finally:
            s.close()

    def get(self, path, host="localhost", headers=None, timeout=5):
        hs = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{hs}\r\n".encode()
        return parse_response(self.raw(req, timeout))


    def conn(self, timeout=10, rcvbuf=None):
        """A new client connection with its own read buffer (Conn). RCVBUF
        shrinks the client's receive buffer before connecting, so a client
        that does not read fills up quickly."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect(("127.0.0.1", self.port))
        return Conn(s, timeout)

    def static_path(self, *parts):
        return os.path.join(self.dir, "static", *parts)

    def write_static(self, name, data):
        """Creates static/NAME (and its folders) with DATA (bytes or str)."""
        path = self.static_path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        return path

    def log_mark(self):
        """A position in the log; log_since(mark) returns what came after."""
        return os.path.getsize(self.log_path)

    def log_since(self, mark=0):
        with open(self.log_path, "rb") as f:
            f.seek(mark)
            return f.read().decode("utf-8", "replace")

    def access_log(self, mark=0):
        """The access-log lines (after MARK) as dicts of their key=value
        fields, in order."""
        out = []
        for line in self.log_since(mark).splitlines():
            parts = line.split(" ")
            if len(parts) < 3 or parts[1] != "access":
                continue
            rec = {"time": parts[0], "line": line}
            for p in parts[2:]:
                k, _, v = p.partition("=")
                rec[k] = v
            out.append(rec)
        return out

    def wait_log(self, text, mark=0, timeout=20):
        """Waits until TEXT (a substring or a compiled regex) appears in the
        log after MARK; returns the first matching line."""
        def find():
            for line in self.log_since(mark).splitlines():
                if (text.search(line) if hasattr(text, "search") else text in line):
                    return line
            return None
        return wait_for(find, timeout=timeout, what=f"log line {text!r}")

    def refusing(self):
        """True when a new connection to the port is refused (after
        SIGTERM, once every listener is closed)."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
            return False
        except ConnectionRefusedError:
            return True
        except OSError:
            return False    # reset or timed out while a listener closes

    def wait_refusing(self, timeout=15):
        wait_for(self.refusing, timeout=timeout, interval=0.1, what="new connections refused")

    def reload(self, options=None, raw=None):
        """Rewrites the configuration file and sends SIGHUP."""
        self.write_config(options, raw)
        self.signal(signal.SIGHUP)


def read_until_close(s, timeout=5):
    chunks = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


def parse_response(data):
    """(status, headers dict lower-cased, body) of the first response in
    DATA; status 0 when nothing came."""
    if not data:
        return 0, {}, b""
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        rest = rest[: int(headers["content-length"])]
    return status, headers, rest


def split_responses(data):
    """All complete responses (status, headers, body) in DATA, in order."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        out.append((status, headers, rest[:n]))
        data = rest[n:]
    return out


class Response(collections.namedtuple("Response", "status headers body")):
    """One parsed response. Unpacks as (status, headers, body) like
    parse_response; also carries .header_list (name, value) in order and
    .raw (the bytes it was parsed from)."""


class Conn:
    """A client connection that reads whole responses (Content-Length,
    chunked or close-delimited) and tells a close from a timeout."""

    def __init__(self, sock, timeout=10):
        self.sock = sock
        self.timeout = timeout
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fill(self, deadline):
        """Reads more into buf; False at EOF or reset. Raises
        socket.timeout after DEADLINE."""
        if self.eof:
            return False
        left = deadline - time.time()
        if left <= 0:
            raise socket.timeout("timed out waiting for the server")
        self.sock.settimeout(left)
        try:
            b = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            b = b""
        if not b:
            self.eof = True
            return False
        self.buf += b
        return True

    def _take_until(self, sep, deadline):
        while sep not in self.buf:
            if not self._fill(deadline):
                raise EOFError(f"connection closed before {sep!r}; have {self.buf[:200]!r}")
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _take(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise EOFError(f"connection closed with {len(self.buf)} of {n} body bytes")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, timeout=None, head_request=False):
        """The next response. HEAD_REQUEST: it answers a HEAD (no body
        whatever the headers say). Raises EOFError when the connection
        closes first, socket.timeout when nothing comes in time."""
        deadline = time.time() + (timeout or self.timeout)
        head = self._take_until(b"\r\n\r\n", deadline)
        lines = head[:-4].decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        assert version == "HTTP/1.1", f"status line {lines[0]!r}"
        status = int(rest.split(" ")[0])
        header_list = []
        for line in lines[1:]:
            k, sep, v = line.partition(":")
            assert sep and k == k.strip(), f"bad response header line {line!r}"
            header_list.append((k.lower(), v.strip()))
        headers = {}
        for k, v in header_list:
            assert k not in headers, f"duplicate response header {k}"
            headers[k] = v
        raw = head
        if head_request or status in (204, 304) or status < 200:
            body = b""
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size_line = self._take_until(b"\r\n", deadline)
                raw += size_line
                n = int(size_line.split(b";")[0].strip(), 16)
                if n == 0:
                    raw += self._take_until(b"\r\n", deadline)  # no trailers from us
                    break
                chunk = self._take(n + 2, deadline)
                raw += chunk
                assert chunk.endswith(b"\r\n")
                body += chunk[:-2]
        elif "content-length" in headers:
            body = self._take(int(headers["content-length"]), deadline)
            raw += body
        else:
            while self._fill(deadline):
                pass
            body, self.buf = self.buf, b""
            raw += body
        r = Response(status, headers, body)
        r.header_list = header_list
        r.raw = raw
        return r

    def request(self, method="GET", path="/healthz", host="localhost", headers=None, body=None,
                version="HTTP/1.1", timeout=None):
        """Sends one request and reads its response."""
        self.send(make_request(method, path, host, headers, body, version))
        return self.read_response(timeout, head_request=(method == "HEAD"))

    def wait_closed(self, timeout=None):
        """Reads until the server closes (EOF or reset) and returns the
        bytes that came; fails when the connection is still open after
        TIMEOUT."""
        deadline = time.time() + (timeout or self.timeout)
        try:
            while self._fill(deadline):
                pass
        except socket.timeout:
            raise AssertionError(f"connection still open after {timeout or self.timeout} s"
                                 f" (read {len(self.buf)} bytes)")
        out, self.buf = self.buf, b""
        return out

    def is_open(self, wait=0.2):
        """True when the server has not closed the connection within WAIT
        seconds (and sent nothing); bytes that do come stay buffered."""
        try:
            return self._fill(time.time() + wait) or not self.eof
        except socket.timeout:
            return True


def remove_tree(path):
    """Removes a test's temporary directory, so that a whole run leaves
    nothing behind and a small disk does not fill up while it runs;
    AANTAFEL_KEEP_TEST_DIRS=1 keeps them for a post-mortem."""
    if not os.environ.get("AANTAFEL_KEEP_TEST_DIRS"):
        shutil.rmtree(path, ignore_errors=True)


def make_request(method="GET", path="/healthz", host="localhost", headers=None, body=None,
                 version="HTTP/1.1"):
    """The bytes of one request. HOST None leaves Host out; a body gets a
    Content-Length unless HEADERS frame it already."""
    lines = [f"{method} {path} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    hs = list((headers or {}).items()) if isinstance(headers, dict) else list(headers or [])
    if body is not None:
        body = body.encode() if isinstance(body, str) else body
        names = {k.lower() for k, _ in hs}
        if "content-length" not in names and "transfer-encoding" not in names:
            hs.append(("Content-Length", str(len(body))))
    for k, v in hs:
        lines.append(f"{k}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class Postgres:
    """A throwaway PostgreSQL cluster made by packaging/pg.sh (as the
    'postgres' user when the tests run as root), migrated with the
    daemon's own `aantafel migrate`. With AANTAFEL_TEST_CITUS set, a Citus
    cluster instead (packaging/citus.sh: a coordinator and two workers),
    migrated with `aantafel migrate --distribute`; the tests talk to the
    coordinator as they would to one server."""

    def __init__(self):
        self.citus = bool(os.environ.get("AANTAFEL_TEST_CITUS"))
        self.dir = tempfile.mkdtemp(prefix="aantafel-citus-" if self.citus else "aantafel-pg-")
        os.chmod(self.dir, 0o755)
        self.script = os.path.join(SOURCE_DIR, "packaging", "citus.sh" if self.citus else "pg.sh")
        self.env = {}

    @property
    def migrate_args(self):
        """The arguments of `aantafel` that migrate this cluster."""
        return ("migrate", "--distribute") if self.citus else ("migrate",)

    def start(self):
        # A throwaway cluster: no fsync, and small WAL segments so that
        # each one takes a few megabytes of disk, not a hundred.
        p = subprocess.run([self.script, "start", self.dir], capture_output=True, text=True,
                           env={**os.environ, "AANTAFEL_PG_THROWAWAY": "1"})
        if p.returncode != 0:
            raise RuntimeError(f"packaging/{os.path.basename(self.script)} start {self.dir} exited {p.returncode}:\n"
                               f"{p.stderr}\n{shutil.disk_usage(self.dir)}")
        out = p.stdout
        for line in out.splitlines():
            k, _, v = line.partition("=")
            self.env[k] = v.strip("'")
        return self

    def stop(self):
        """Stops the cluster (fast shutdown); start() starts it again."""
        subprocess.run([self.script, "stop", self.dir], check=False, capture_output=True)

    def destroy(self):
        """Stops the cluster and removes its directory (see remove_tree)."""
        self.stop()
        remove_tree(self.dir)

    def restart_immediate(self):
        """pg_ctl restart -m immediate: a crash and recovery."""
        bindir = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
        ctl = f"/usr/lib/postgresql/{bindir}/bin/pg_ctl"
        cmd = [ctl, "-D", os.path.join(self.dir, "data"), "-m", "immediate", "-w", "-t", "60",
               "-l", os.path.join(self.dir, "postgresql.log"), "restart"]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        subprocess.run(cmd, check=True, capture_output=True)

    def pg_ctl(self, *args):
        """pg_ctl ARGS on the cluster, as its owner, waiting for the
        outcome: pg_ctl("restart", "-m", "fast"), pg_ctl("stop", "-m",
        "immediate")."""
        bindir = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
        cmd = [f"/usr/lib/postgresql/{bindir}/bin/pg_ctl", "-D", os.path.join(self.dir, "data"), "-w", "-t", "60",
               "-l", os.path.join(self.dir, "postgresql.log"), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        subprocess.run(cmd, check=True, capture_output=True)

    @property
    def app_url(self):
        return self.env["AANTAFEL_DATABASE_URL"]

    @property
    def owner_url(self):
        return self.env["AANTAFEL_OWNER_DATABASE_URL"]

    @property
    def super_url(self):
        return self.env["AANTAFEL_PG_SUPERUSER_URL"]

    def connect(self, role="app"):
        import psycopg2
        url = {"app": self.app_url, "owner": self.owner_url, "super": self.super_url}[role]
        conn = psycopg2.connect(url)
        conn.autocommit = True
        return conn

    def daemon_env(self):
        return {"AANTAFEL_DATABASE_URL": self.app_url, "AANTAFEL_OWNER_DATABASE_URL": self.owner_url}


def aantafel(*args, env=None, check=True, input=None, cwd=None):
    """Runs an `aantafel` command; returns CompletedProcess (text)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("AANTAFEL_") or k in ("AANTAFEL_BIN", "AANTAFEL_SOURCE_DIR", "AANTAFEL_BUILD_DIR")}
    e["AANTAFEL_SQL_DIR"] = os.path.join(SOURCE_DIR, "sql")
    e.update(env or {})
    p = subprocess.run([BIN, *args], capture_output=True, text=True, env=e, input=input, cwd=cwd or SOURCE_DIR)
    if check and p.returncode != 0:
        raise AssertionError(f"aantafel {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def wait_for(cond, timeout=20, interval=0.05, what="condition"):
    """Polls COND until it returns a truthy value; fails after TIMEOUT."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class FaultyProxy:
    """A PostgreSQL Unix socket in a directory of its own (connect with
    host=proxy.dir) that forwards to PG's and, while .faults is set,
    breaks connections on purpose, each in one way drawn at random:
    refused at once; cut after a number of the server's bytes (in the
    start-up or in the middle of a batch's results) or after a while;
    stalled in the start-up; desynchronised by a message of impossible
    length slipped in between two of the server's, which makes libpq drop
    the connection itself while results are being read. The server's own
    bytes are never altered. With .faults unset, everything goes through
    (connections cut earlier stay cut). And .mute_queries = N holds the
    server's answers to the next N simple queries, whatever the faults
    (the registry's LISTEN: the pool's statements use the extended
    protocol), for a minute before it cuts their connections."""

    KINDS = {"pass": 40, "cut": 25, "refuse": 10, "desync": 17, "stall": 8}
    BAD_MESSAGE = b"D\x00\x00\x00\x01"       # a length below the minimum of 4

    def __init__(self, pg, seed=None):
        self.dir = tempfile.mkdtemp(prefix="aantafel-proxy-")
        os.chmod(self.dir, 0o755)
        self.target = os.path.join(pg.dir, "run", ".s.PGSQL.5432")
        self.rnd = random.Random(seed)
        self.lock = threading.Lock()
        self.faults = True
        self.mute_queries = 0
        self.closing = False
        self.counts = collections.Counter()     # connections by kind
        self.listener = socket.socket(socket.AF_UNIX)
        path = os.path.join(self.dir, ".s.PGSQL.5432")
        self.listener.bind(path)
        os.chmod(path, 0o777)
        self.listener.listen(128)
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.closing = True
        self.listener.close()
        remove_tree(self.dir)

    def _plan(self):
        with self.lock:
            kind = "pass"
            if self.faults:
                kind = self.rnd.choices(list(self.KINDS), list(self.KINDS.values()))[0]
            self.counts[kind] += 1
            r = self.rnd
            return {"kind": kind,
                    "life": r.uniform(0, 1.5),               # pass: how long while faults are on
                    "bytes": r.randint(1, 4000) if r.random() < 0.6 else None,
                    "secs": r.uniform(0, 0.5),
                    "after": r.randint(1, 60) if kind == "desync" else r.randint(1, 4),
                    "stall": r.uniform(2, 4),
                    "reset": r.random() < 0.5}

    def _accept(self):
        while not self.closing:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            plan = self._plan()
            if plan["kind"] == "refuse":
                c.close()
                continue
            threading.Thread(target=self._serve, args=(c, plan), daemon=True).start()

    def _serve(self, c, plan):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(self.target)
        except OSError:
            c.close()
            s.close()
            return
        kind = plan["kind"]
        start = time.monotonic()
        budget = plan["bytes"] if kind == "cut" else None
        deadline = start + (plan["life"] if kind == "pass" else plan["secs"])
        parser = _ServerMessages()
        sel = selectors.DefaultSelector()
        sel.register(c, selectors.EVENT_READ, s)
        sel.register(s, selectors.EVENT_READ, c)
        try:
            while not self.closing:
                if self.faults and kind in ("pass", "cut") and budget is None and time.monotonic() > deadline:
                    break
                done = False
                for key, _ in sel.select(0.05):
                    try:
                        data = key.fileobj.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        done = True
                        break
                    if key.fileobj is c and data[:1] == b"Q" and self._take_mute():
                        s.sendall(data)
                        self._stall(60, always=True)
                        done = True
                        break
                    if key.fileobj is s and self.faults:
                        if budget is not None:
                            if len(data) >= budget:
                                c.sendall(data[:budget])
                                done = True
                                break
                            budget -= len(data)
                        elif kind in ("desync", "stall") and parser.count < plan["after"]:
                            at = parser.feed(data, plan["after"])
                            if parser.count == plan["after"]:
                                if kind == "desync":
                                    data = data[:at] + self.BAD_MESSAGE + data[at:]
                                else:
                                    c.sendall(data[:at])
                                    self._stall(plan["stall"])
                                    done = True
                                    break
                    try:
                        key.data.sendall(data)
                    except OSError:
                        done = True
                        break
                if done:
                    break
        finally:
            if plan["reset"]:
                try:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            sel.close()
            c.close()
            s.close()

    def _take_mute(self):
        with self.lock:
            if self.mute_queries <= 0:
                return False
            self.mute_queries -= 1
            return True

    def _stall(self, secs, always=False):
        end = time.monotonic() + secs
        while time.monotonic() < end and (self.faults or always) and not self.closing:
            time.sleep(0.05)


class _ServerMessages:
    """Counts the messages in a PostgreSQL server's byte stream, given in
    pieces (type byte, four bytes of length, the rest)."""

    def __init__(self):
        self.head = b""
        self.left = 0
        self.count = 0

    def feed(self, data, upto):
        """Takes DATA; when message number UPTO ends in it, stops there and
        returns the offset just after it, else len(DATA)."""
        i = 0
        while i < len(data):
            if len(self.head) < 5:
                take = min(5 - len(self.head), len(data) - i)
                self.head += data[i:i + take]
                i += take
                if len(self.head) < 5:
                    continue
                self.left = max(int.from_bytes(self.head[1:5], "big") - 4, 0)
            take = min(self.left, len(data) - i)
            self.left -= take
            i += take
            if self.left == 0:
                self.head = b""
                self.count += 1
                if self.count == upto:
                    return i
        return i


def freeze(pg):
    """SIGSTOP the test cluster (started by this session's pg.sh): the
    postmaster first, so that it forks no backend behind our back, then
    every child it has. Returns the stopped pids."""
    with open(os.path.join(pg.dir, "data", "postmaster.pid")) as f:
        pm = int(f.readline())
    os.kill(pm, signal.SIGSTOP)
    stopped = [pm]
    with open(f"/proc/{pm}/task/{pm}/children") as f:
        children = [int(x) for x in f.read().split()]
    for pid in children:
        try:
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        except ProcessLookupError:
            pass
    return stopped


def thaw(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
