"""Starts the real daemon for the integration tests and talks to it over
real sockets. Shared by every tests/integration/test_*.py."""
import os
import signal
import socket
import subprocess
import tempfile
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
        self.dir = workdir or tempfile.mkdtemp(prefix="aantafel-test-")
        self.port = free_port()
        self.options = {"listen": f"127.0.0.1:{self.port}", "workers": "2",
                        "static_dir": os.path.join(self.dir, "static"),
                        "errors_dir": os.path.join(SOURCE_DIR, "errors"),
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
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("daemon did not become ready:\n" + self.log())

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


class Postgres:
    """A throwaway PostgreSQL cluster made by packaging/pg.sh (as the
    'postgres' user when the tests run as root), migrated with the
    daemon's own `aantafel migrate`."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="aantafel-pg-")
        os.chmod(self.dir, 0o755)
        self.script = os.path.join(SOURCE_DIR, "packaging", "pg.sh")
        self.env = {}

    def start(self):
        out = subprocess.run([self.script, "start", self.dir], check=True, capture_output=True, text=True,
                             env={**os.environ, "AANTAFEL_PG_FSYNC": "off"}).stdout
        for line in out.splitlines():
            k, _, v = line.partition("=")
            self.env[k] = v.strip("'")
        return self

    def stop(self):
        subprocess.run([self.script, "stop", self.dir], check=False, capture_output=True)

    def restart_immediate(self):
        """pg_ctl restart -m immediate: a crash and recovery."""
        bindir = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
        ctl = f"/usr/lib/postgresql/{bindir}/bin/pg_ctl"
        cmd = [ctl, "-D", os.path.join(self.dir, "data"), "-m", "immediate", "-w", "-t", "60",
               "-l", os.path.join(self.dir, "postgresql.log"), "restart"]
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
