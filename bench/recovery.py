#!/usr/bin/env python3
"""How fast ticketgate recovers when PostgreSQL crashes and comes back, under load.

    python3 bench/recovery.py                                   # 8, 32 and 128 clients
    python3 bench/recovery.py --clients 8 --tries 10            # one level
    python3 bench/recovery.py --binary /path/to/ticketgate --tries 8:10,32:5,128:5

One private, durable PostgreSQL cluster (ticketgate's own launcher creates it in
bench/.work/recovery/; fsync, synchronous_commit and full_page_writes on), seeded with one
team. Then, per load level and per try:

1. two fresh ticketgate replicas (`ticketgate serve`, DATABASE_URL set, the rate limit off)
   and one API key (read + write);
2. N client threads (in a process of their own, so that the clock of the probes below is
   not held up by the clients' interpreter lock) send `sendMessage` with a unique content
   to the two replicas in turn, over keep-alive connections, recording every answer;
   `/readyz` of each replica is polled every 20 ms from the main process;
3. after 2 s of load PostgreSQL is killed as `pg_ctl stop -m immediate` does it (SIGQUIT to
   the postmaster), started again 3 s later on the same port (`pg_ctl start`, crash
   recovery), and polled with a real `SELECT 1` (TCP + SCRAM + query, stdlib only) every
   5 ms: "PostgreSQL ready" is the end of the first that succeeds;
4. once every client has succeeded again (and both `/readyz` say 200), load goes on for
   1 s more, stops, and every acknowledged message is looked up in the database.

Measured, from "PostgreSQL ready": the first successful request (overall and per replica),
when every client has succeeded again, each replica's `/readyz` 200; from the kill: each
`/readyz` 503. Also the slowest failed request (requests must fail fast), every error code,
and the acknowledged messages missing from the database (must be 0). Results:
bench/results/recovery-<UTC time>/ (results.json, results.md, the server logs), and the
tables on stdout. Only the Python standard library is used. See BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import gzip
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import pickle
import platform
import pwd
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work" / "recovery"
RESULTS = BENCH / "results"
TEAM = "recovery"
SEND = "mutation($t: UUID!, $c: String!) { sendMessage(ticketId: $t, content: $c) { id } }"
TARGET_MS = 1000  # first success within 1 s of PostgreSQL being ready
DEFAULT_TRIES = {8: 10}  # the issue asks for 10 tries at 8 clients; other levels: 5
RECOVERY_DEADLINE_S = 30  # give up on a try when clients are not all back by then
IDLE_RECONNECT_S = 4.0  # below ticketgate's 5 s keep-alive

# Logging, redaction, free ports and the machine's busy time: bench/run.py's.
sys.path.insert(0, str(BENCH))
import run as R  # noqa: E402

log, die, redact, free_port, machine_busy_seconds = (
    R.log, R.die, R.redact, R.free_port, R.machine_busy_seconds
)


def run(cmd, *, env=None, check=True, timeout=600):
    out = subprocess.run([str(c) for c in cmd], env=env, text=True, capture_output=True, timeout=timeout)
    if check and out.returncode != 0:
        die(redact(f"{cmd[0]} {cmd[1] if len(cmd) > 1 else ''} exited with {out.returncode}\n{out.stderr[-3000:]}"))
    return out


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def ms(seconds):
    return None if seconds is None else round(seconds * 1000, 1)


# --------------------------------------------------------------------------------------
# CPU from /proc (to say how busy the shared machine was)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        raw = f.read()
    rest = raw[raw.rindex(")") + 2 :].split()
    return int(rest[1]), sum(int(x) for x in rest[11:15])  # ppid, utime+stime+cutime+cstime


def tree_cpu_seconds(pid) -> float:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents.setdefault(_stat(entry)[0], []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            total += _stat(p)[1]
        except (OSError, ValueError, IndexError):
            continue
        stack.extend(parents.get(p, []))
    return total / CLK_TCK


# --------------------------------------------------------------------------------------
# A real `SELECT 1`: PostgreSQL's wire protocol with SCRAM-SHA-256, standard library only
# (a psql process per probe would add its own start-up to every measurement).


class PgProbe:
    def __init__(self, port, user, password, database):
        self.port, self.user, self.password, self.database = port, user, password, database
        self._salted = {}  # (salt, iterations) -> SaltedPassword: PBKDF2 once, not per probe
        self.last_error = None

    def select1(self, timeout=1.0) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
                s.settimeout(timeout)
                return self._session(s)
        except (OSError, ValueError, struct.error) as err:
            self.last_error = f"{type(err).__name__}: {err}"
            return False

    @staticmethod
    def _send(s, kind: bytes, payload: bytes):
        s.sendall(kind + struct.pack("!I", len(payload) + 4) + payload)

    @staticmethod
    def _read(s):
        head = PgProbe._exactly(s, 5)
        length = struct.unpack("!I", head[1:5])[0]
        return head[:1], PgProbe._exactly(s, length - 4)

    @staticmethod
    def _exactly(s, n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed by the server")
            buf += chunk
        return buf

    def _session(self, s) -> bool:
        params = b"user\0" + self.user.encode() + b"\0database\0" + self.database.encode() + b"\0\0"
        body = struct.pack("!I", 196608) + params
        s.sendall(struct.pack("!I", len(body) + 4) + body)
        nonce = base64.b64encode(os.urandom(18)).decode()
        client_first_bare = f"n=,r={nonce}"
        auth_message = None
        while True:
            kind, payload = self._read(s)
            if kind == b"E":
                self.last_error = self._error_text(payload)
                return False
            if kind == b"R":
                code = struct.unpack("!I", payload[:4])[0]
                if code == 0:  # AuthenticationOk
                    continue
                if code == 10:  # SASL: start SCRAM-SHA-256
                    first = ("n,," + client_first_bare).encode()
                    self._send(s, b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first)
                elif code == 11:  # SASLContinue: the server-first message
                    server_first = payload[4:].decode()
                    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
                    if not attrs["r"].startswith(nonce):
                        raise ValueError("SCRAM: bad nonce")
                    key = (attrs["s"], int(attrs["i"]))
                    if key not in self._salted:
                        self._salted[key] = hashlib.pbkdf2_hmac(
                            "sha256", self.password.encode(), base64.b64decode(attrs["s"]), key[1]
                        )
                    salted = self._salted[key]
                    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
                    stored_key = hashlib.sha256(client_key).digest()
                    without_proof = f"c=biws,r={attrs['r']}"
                    auth_message = f"{client_first_bare},{server_first},{without_proof}".encode()
                    signature = hmac.new(stored_key, auth_message, "sha256").digest()
                    proof = bytes(a ^ b for a, b in zip(client_key, signature))
                    final = f"{without_proof},p={base64.b64encode(proof).decode()}".encode()
                    self._send(s, b"p", final)
                elif code == 12:  # SASLFinal
                    continue
                elif code == 3:  # cleartext password
                    self._send(s, b"p", self.password.encode() + b"\0")
                else:
                    raise ValueError(f"unsupported authentication {code}")
            elif kind == b"Z":  # ReadyForQuery: the session is up
                break
            # ParameterStatus, BackendKeyData, notices: ignored
        self._send(s, b"Q", b"SELECT 1\0")
        row = False
        while True:
            kind, payload = self._read(s)
            if kind == b"D":
                row = True
            elif kind == b"E":
                self.last_error = self._error_text(payload)
                return False
            elif kind == b"Z":
                break
        self._send(s, b"X", b"")
        return row

    @staticmethod
    def _error_text(payload: bytes) -> str:
        fields = {}
        for part in payload.split(b"\0"):
            if part:
                fields[part[:1]] = part[1:].decode(errors="replace")
        return f"{fields.get(b'C', '?')}: {fields.get(b'M', '?')}"


# --------------------------------------------------------------------------------------
# The cluster: created by ticketgate's launcher (as bench/run.py does), crashed and
# restarted with the server binaries the launcher used, as the user it runs them as.


class Cluster:
    def __init__(self, data_dir: Path, binary: Path):
        self.dir = data_dir
        self.binary = binary
        self.lock_fd = None

    def tg(self, *args, check=True):
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        return run([self.binary, "--data-dir", self.dir, *args], env=env, check=check)

    # The launcher stops the cluster when its last user leaves; a shared lock on
    # clients.lock (what every ticketgate process of the data directory holds) keeps it up.
    def hold(self):
        self.lock_fd = open(self.dir / "clients.lock", "r+")
        fcntl.flock(self.lock_fd, fcntl.LOCK_SH)

    def release(self):
        if self.lock_fd:
            fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
            self.lock_fd.close()
            self.lock_fd = None

    @property
    def pgdata(self) -> Path:
        return Path(os.path.realpath(self.dir / "pgdata"))

    @property
    def port(self) -> int:
        return int((self.dir / "port").read_text().strip())

    @property
    def password(self) -> str:
        return (self.dir / "password").read_text().strip()

    def url(self, db="ticketgate"):
        return f"postgres://postgres:{self.password}@127.0.0.1:{self.port}/{db}?sslmode=disable"

    def psql(self, sql: str) -> str:
        return run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", self.url(), "-c", sql]).stdout.strip()

    def postmaster_pid(self):
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def pidfile_status(self):
        """The postmaster's own status line in postmaster.pid ("ready" once it accepts connections)."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            return lines[7].strip() if len(lines) > 7 else None
        except OSError:
            return None

    def create(self, settings: dict):
        self.drop()
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        self.tg("migrate")  # creates the cluster, migrates, and stops it (it was the last user)
        with open(self.pgdata / "postgresql.conf", "a") as f:
            f.write("\n# bench/recovery.py: durable, as in production\n")
            for k, v in settings.items():
                f.write(f"{k} = {v}\n")

    def drop(self):
        link = self.dir / "pgdata"
        target = Path(os.path.realpath(link)).parent if link.is_symlink() else None
        shutil.rmtree(self.dir, ignore_errors=True)
        if target and str(target).startswith("/var/lib/ticketgate/"):
            shutil.rmtree(target, ignore_errors=True)

    def start(self):
        self.hold()
        self.tg("migrate")  # starts it; our lock keeps it up afterwards
        pid = self.postmaster_pid()
        self.bin_dir = Path(os.path.realpath(f"/proc/{pid}/exe")).parent
        owner = os.stat(self.pgdata).st_uid
        self.owner = None if owner == os.geteuid() else pwd.getpwuid(owner)

    def stop(self):
        self.release()
        self.tg("migrate", check=False)  # the last user to leave stops the cluster

    def crash(self):
        """SIGQUIT to the postmaster: what `pg_ctl stop -m immediate` sends. Returns (killed,
        port refusing connections, pid file removed) once both happened."""
        pid = self.postmaster_pid()
        os.kill(pid, signal.SIGQUIT)
        killed = time.monotonic()
        deadline = killed + 30
        down = None
        pid_file = self.pgdata / "postmaster.pid"
        while time.monotonic() < deadline:
            if down is None and not port_open(self.port):
                down = time.monotonic()
            # The postmaster removes its pid file on its way out (its exit itself may be
            # seen late: a zombie until the machine's init reaps it).
            if down is not None and not pid_file.exists():
                return killed, down, time.monotonic()
            time.sleep(0.002)
        die("PostgreSQL did not go away after SIGQUIT")

    def start_again(self, log_path: Path):
        """`pg_ctl start` on the port it had, as the cluster's owner: crash recovery runs."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        kwargs = {}
        if self.owner:
            kwargs = dict(user=self.owner.pw_uid, group=self.owner.pw_gid, extra_groups=[], cwd="/")
        with open(log_path, "ab") as out:
            return subprocess.Popen(
                [self.bin_dir / "pg_ctl", "start", "-D", self.pgdata, "-l", self.pgdata / "server.log",
                 "-w", "-t", "120", "-o", f"-p {self.port}"],
                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True, **kwargs,
            )


# --------------------------------------------------------------------------------------
# ticketgate replicas


class Replica:
    def __init__(self, name, binary, url, port, pool_size, log_path, extra_env):
        self.name, self.port, self.log_path = name, port, log_path
        env = dict(os.environ)
        env.update(
            DATABASE_URL=url,
            TICKETGATE_RATE_LIMIT_PER_SECOND="0",  # one key for every client: no per-key limit
            TICKETGATE_POOL_SIZE=str(pool_size),
        )
        env.update(extra_env)
        self.log = open(log_path, "ab")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", f"127.0.0.1:{port}", "--no-demo"],
            env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, start_new_session=True,
        )
        LIVE.append(self)

    def get(self, path, timeout=5):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                die(f"{self.name} exited with {self.proc.returncode} (log: {self.log_path})")
            try:
                if self.get("/readyz")[0] == 200:
                    self.ready_ms = ms(time.monotonic() - self.started)
                    return
            except OSError:
                pass
            time.sleep(0.05)
        die(f"{self.name}: /readyz not 200 after {timeout} s (log: {self.log_path})")

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop in 30 s: killing it")
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        if self in LIVE:
            LIVE.remove(self)


LIVE: list[Replica] = []  # replicas running now: stopped on the way out, whatever happens
LIVE_CLIENTS: list = []  # the client process of the try under way
LIVE_POLLERS: list = []  # and its /readyz pollers


def send_message(port, key, ticket, content, conn=None, timeout=30):
    """(status, code, message) of one sendMessage. code: None when acknowledged."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    body = json.dumps({"query": SEND, "variables": {"t": ticket, "c": content}}).encode()
    try:
        conn.request("POST", "/graphql", body=body, headers={
            "Content-Type": "application/json", "Accept": "application/json", "Authorization": f"Bearer {key}",
        })
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        if own:
            conn.close()
    return resp.status, *classify(resp.status, raw)


def classify(status, raw):
    try:
        doc = json.loads(raw)
    except ValueError:
        return f"HTTP_{status}_NOT_JSON", None
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if errors:
        ext = (errors[0] or {}).get("extensions") or {}
        return ext.get("code") or "NO_CODE", errors[0].get("message")
    data = (doc.get("data") or {}).get("sendMessage") if isinstance(doc, dict) else None
    if status == 200 and isinstance(data, dict) and isinstance(data.get("id"), str):
        return None, None
    return f"HTTP_{status}_NO_ID", None


# --------------------------------------------------------------------------------------
# The clients: a process of their own (so that the main process's probes are timed
# without waiting for the clients' interpreter lock), one thread per client.


def clients_process(cfg, ready, go, stop, t_down, back, back_replica, out_path):
    """Runs cfg['clients'] threads until `stop`; each alternates between the two replicas.
    back[i]: when client i first succeeded with a request sent after t_down (0: not yet);
    back_replica[r]: the same for replica r."""
    records = [[] for _ in range(cfg["clients"])]
    idle_reconnects = [0] * cfg["clients"]
    barrier = threading.Barrier(cfg["clients"] + 1)
    pause = cfg["fail_pause_ms"] / 1000
    tickets = cfg["tickets"]

    def client(i):
        rnd = random.Random(i * 7919 + cfg["try"])
        conns = [http.client.HTTPConnection("127.0.0.1", p, timeout=cfg["timeout"]) for p in cfg["ports"]]
        last_used = [0.0, 0.0]
        mine = records[i]
        barrier.wait()
        go.wait()
        n = 0
        while not stop.value:
            n += 1
            if cfg["routing"] == "pinned":
                r = i % 2  # half the clients on each replica, whatever the other one does
            else:
                r = n % 2 if i % 2 else (n + 1) % 2  # in turn; half the clients start on each
            content = f"{cfg['prefix']}w{i}/{n}"
            if conns[r].sock is not None and time.monotonic() - last_used[r] > IDLE_RECONNECT_S:
                # The server closes a connection idle for 5 s (keep-alive): a send on it
                # would meet a closed socket. Reconnect first, as HTTP clients do.
                conns[r].close()
                idle_reconnects[i] += 1
            sent = time.monotonic()
            try:
                status, code, message = send_message(None, cfg["key"], rnd.choice(tickets), content, conn=conns[r])
            except (OSError, http.client.HTTPException) as err:
                status, code, message = 0, f"CLIENT_{type(err).__name__}", str(err)[:200]
                conns[r].close()
                conns[r] = http.client.HTTPConnection("127.0.0.1", cfg["ports"][r], timeout=cfg["timeout"])
            done = last_used[r] = time.monotonic()
            mine.append((sent, done, r, status, code, content, message if code else None))
            if code is None:
                if t_down.value and sent >= t_down.value:
                    if back[i] == 0:
                        back[i] = done
                    if back_replica[r] == 0:
                        back_replica[r] = done
            elif pause:
                time.sleep(pause)
        for c in conns:
            c.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(cfg["clients"])]
    for t in threads:
        t.start()
    barrier.wait()
    ready.set()
    for t in threads:
        t.join()
    with open(out_path, "wb") as f:
        pickle.dump({"records": records, "idle_reconnects": sum(idle_reconnects)}, f)


class ReadyzPoller(threading.Thread):
    """GET /readyz every `every` seconds on a keep-alive connection: [(sent, done, status)]."""

    def __init__(self, port, every=0.02):
        super().__init__(daemon=True)
        self.port, self.every = port, every
        self.samples = []
        self.halt = threading.Event()

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        while not self.halt.is_set():
            sent = time.monotonic()
            try:
                conn.request("GET", "/readyz")
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            done = time.monotonic()
            self.samples.append((sent, done, status))
            self.halt.wait(max(0.0, self.every - (done - sent)))
        conn.close()


# --------------------------------------------------------------------------------------
# One try


def one_try(args, cluster, level, attempt, ctx, run_dir):
    clients = level
    name = f"c{clients}-t{attempt}"
    logs = run_dir / "logs"
    cluster.psql("CHECKPOINT")  # every try's crash recovery replays about as much WAL
    replicas = []
    for r in range(2):
        rep = Replica(f"replica-{r + 1}", ctx["binary"], ctx["url"], free_port(), args.pool_size,
                      logs / f"{name}-replica-{r + 1}.log", ctx["extra_env"])
        rep.wait_ready()  # one after the other: the first runs any pending migration alone
        replicas.append(rep)
    # The key is looked up once per replica (then cached) and each pool has a connection.
    for rep in replicas:
        status, code, message = send_message(rep.port, ctx["key"], ctx["tickets"][0], f"{ctx['prefix']}warm/{name}/{rep.name}")
        if code:
            die(f"{rep.name}: warm-up sendMessage failed: {status} {code} {message}")

    mp = multiprocessing.get_context("spawn")
    ready, go = mp.Event(), mp.Event()
    stop = mp.Value("b", 0, lock=False)
    t_down_shared = mp.Value("d", 0.0, lock=False)
    back = mp.Array("d", clients, lock=False)
    back_replica = mp.Array("d", 2, lock=False)
    out_path = WORK / f"clients-{name}.pickle"
    cfg = {
        "clients": clients, "try": attempt, "ports": [r.port for r in replicas], "key": ctx["key"],
        "tickets": ctx["tickets"], "prefix": f"{ctx['prefix']}{name}/", "fail_pause_ms": args.fail_pause_ms,
        "timeout": args.request_timeout, "routing": args.routing,
    }
    proc = mp.Process(target=clients_process, args=(cfg, ready, go, stop, t_down_shared, back, back_replica, out_path), daemon=True)
    proc.start()
    LIVE_CLIENTS.append(proc)
    if not ready.wait(60):
        die("the client threads did not start")
    pollers = [ReadyzPoller(r.port, args.readyz_every_ms / 1000) for r in replicas]
    for p in pollers:
        p.start()
    LIVE_POLLERS.extend(pollers)

    load = os.getloadavg()[0]
    busy0, ours0 = machine_busy_seconds(), tree_cpu_seconds(os.getpid())
    pm_old = cluster.postmaster_pid()
    pg_cpu0 = tree_cpu_seconds(pm_old)
    t_go = time.monotonic()
    go.set()
    time.sleep(args.load_before_kill)

    pg_cpu_old = tree_cpu_seconds(pm_old) - pg_cpu0
    t_kill, t_down, t_gone = cluster.crash()
    t_down_shared.value = t_down
    time.sleep(max(0.0, t_kill + args.down_for - time.monotonic()))

    probe = PgProbe(cluster.port, "postgres", cluster.password, "ticketgate")
    t_restart = time.monotonic()
    pg_ctl = cluster.start_again(logs / f"{name}-pg_ctl.log")
    t_pidfile_ready = t_ready = t_last_refused = None
    first_accept = None
    deadline = t_restart + 120
    while time.monotonic() < deadline:
        if t_pidfile_ready is None and cluster.pidfile_status() == "ready":
            t_pidfile_ready = time.monotonic()
        attempt_start = time.monotonic()
        if probe.select1():
            # Ready: when the connection of the first probe that got its answer was opened
            # (the one before it, at most ~5 ms earlier plus its own duration, was turned away).
            t_ready, t_ready_end = attempt_start, time.monotonic()
            break
        if first_accept is None and probe.last_error and "Refused" not in probe.last_error:
            first_accept = (ms(time.monotonic() - t_restart), probe.last_error)
        t_last_refused = time.monotonic()
        time.sleep(0.005)
    if t_ready is None:
        die(f"PostgreSQL did not come back within 120 s (last error: {probe.last_error})")
    if t_pidfile_ready is None and cluster.pidfile_status() == "ready":
        t_pidfile_ready = time.monotonic()

    # Until every client and both replicas have succeeded again and both /readyz say 200,
    # then 1 s more; and at least until --min-after-kill (7 s) after the kill, past the 5 s
    # a request may wait for a pooled connection, so that requests caught in a checkout
    # when PostgreSQL died have come out before the load stops.
    recovered = False
    limit = t_ready + RECOVERY_DEADLINE_S
    while time.monotonic() < limit:
        all_back = all(back[i] > 0 for i in range(clients)) and all(back_replica[r] > 0 for r in range(2))
        readyz_back = all(any(s >= t_down and st == 200 for s, _, st in list(p.samples)) for p in pollers)
        if all_back and readyz_back:
            recovered = True
            break
        time.sleep(0.02)
    time.sleep(max(args.load_after, t_kill + args.min_after_kill - time.monotonic()))
    stop.value = 1
    t_stop = time.monotonic()
    busy = machine_busy_seconds() - busy0
    ours = tree_cpu_seconds(os.getpid()) - ours0
    pm_new = cluster.postmaster_pid()
    pg_cpu = pg_cpu_old + (tree_cpu_seconds(pm_new) if pm_new else 0.0)
    proc.join(120)
    LIVE_CLIENTS.remove(proc)
    if proc.exitcode != 0:
        die(f"the client process exited with {proc.exitcode}")
    for p in pollers:
        p.halt.set()
    for p in pollers:
        p.join(10)
        LIVE_POLLERS.remove(p)
    if pg_ctl.wait(120) != 0:
        log(f"  pg_ctl start exited with {pg_ctl.returncode} (see {logs / (name + '-pg_ctl.log')})")
    for rep in replicas:
        rep.stop()
    with open(out_path, "rb") as f:
        got = pickle.load(f)
    records = got["records"]
    out_path.unlink()
    # Every request of the try, for a closer look (times in ms from the kill).
    with gzip.open(logs / f"{name}-requests.jsonl.gz", "wt") as f:
        for i, rs in enumerate(records):
            for sent, done, r, status, code, content, message in rs:
                f.write(json.dumps([i, r + 1, round((sent - t_kill) * 1000, 2), round((done - t_kill) * 1000, 2), status, code, message]) + "\n")
    with gzip.open(logs / f"{name}-readyz.jsonl.gz", "wt") as f:
        for r, p in enumerate(pollers):
            for sent, done, status in p.samples:
                f.write(json.dumps([r + 1, round((sent - t_kill) * 1000, 2), round((done - t_kill) * 1000, 2), status]) + "\n")

    # Every acknowledged message stored?
    prefix = cfg["prefix"]
    stored = set(cluster.psql(f"SELECT content FROM messages WHERE content LIKE '{prefix}%'").splitlines())
    acked = {rec[5] for rs in records for rec in rs if rec[4] is None}
    failed = {rec[5] for rs in records for rec in rs if rec[4] is not None}
    lost = sorted(acked - stored)

    elapsed = t_stop - t_go
    other = busy - ours - pg_cpu
    result = analyse(records, pollers, replicas, clients, t_go, t_kill, t_down, t_ready)
    result.update(
        clients=clients,
        attempt=attempt,
        recovered=recovered,
        pool_size=args.pool_size,
        postgres={
            "down_after_kill_ms": ms(t_down - t_kill),
            "pid_file_gone_after_kill_ms": ms(t_gone - t_kill),
            "restart_after_kill_ms": ms(t_restart - t_kill),
            "ready_after_restart_ms": ms(t_ready - t_restart),
            "ready_probe_took_ms": ms(t_ready_end - t_ready),
            "last_failed_probe_ended_before_ready_ms": ms(t_ready - t_last_refused) if t_last_refused else None,
            "first_answer_before_ready": first_accept,
            "pidfile_ready_relative_to_ready_ms": ms(t_pidfile_ready - t_ready) if t_pidfile_ready else None,
        },
        idle_reconnects=got["idle_reconnects"],
        acknowledged=len(acked),
        stored=len(stored),
        lost=len(lost),
        lost_sample=lost[:20],
        failed_but_stored=len(failed & stored),
        replica_ready_ms=[r.ready_ms for r in replicas],
        machine={
            "loadavg_1m_at_start": round(load, 2),
            "seconds": round(elapsed, 2),
            "cpu_ours_s": round(ours, 2),
            "cpu_postgres_s": round(pg_cpu, 2),
            "cpu_other_s": round(other, 2),
            "other_share": round(max(0.0, other) / (elapsed * (os.cpu_count() or 1)), 3),
        },
        server_logs=[server_log_summary(r.log_path) for r in replicas],
    )
    return result


def first(values):
    values = [v for v in values if v is not None]
    return min(values) if values else None


def analyse(records, pollers, replicas, clients, t_go, t_kill, t_down, t_ready):
    flat = [rec for rs in records for rec in rs]
    after = [rec for rec in flat if rec[0] >= t_down]  # sent once PostgreSQL was gone
    ok_after = [rec for rec in after if rec[4] is None]
    failures = [rec for rec in flat if rec[4] is not None]
    codes = {}
    unexpected = []
    for rec in failures:
        label = f"{rec[3]} {rec[4]}"
        codes[label] = codes.get(label, 0) + 1
        if not (rec[4] == "DB_UNAVAILABLE" and rec[3] in (200, 503)):
            unexpected.append({"status": rec[3], "code": rec[4], "message": rec[6], "sent_after_kill_ms": ms(rec[0] - t_kill)})
    # Acknowledged while PostgreSQL was away: impossible unless something is wrong.
    ok_while_down = [rec for rec in ok_after if rec[1] < t_ready]

    def since_ready(t):
        return ms(t - t_ready) if t is not None else None

    first_ok = first(rec[1] for rec in ok_after)
    first_ok_by_replica = [first(rec[1] for rec in ok_after if rec[2] == r) for r in range(len(replicas))]
    back_by_client = []
    for rs in records:
        back_by_client.append(first(rec[1] for rec in rs if rec[0] >= t_down and rec[4] is None))
    all_back = None if any(b is None for b in back_by_client) else max(back_by_client)

    readyz = []
    for p in pollers:
        samples = list(p.samples)
        went_503 = first(done for sent, done, st in samples if done >= t_kill and st != 200)
        back_200 = first(done for sent, done, st in samples if sent >= t_down and st == 200)
        slowest = max((done - sent for sent, done, st in samples if sent >= t_go), default=None)
        readyz.append({
            "not_200_after_kill_ms": ms(went_503 - t_kill) if went_503 else None,
            "ok_after_ready_ms": since_ready(back_200),
            "slowest_ms": ms(slowest),
            "polls": len(samples),
            "statuses": sorted({st for _, _, st in samples}),
        })
    before = [rec for rec in flat if rec[1] <= t_kill and rec[0] >= t_go]
    return {
        "requests": len(flat),
        "failures": len(failures),
        "codes": codes,
        "unexpected_errors": len(unexpected),
        "unexpected_sample": unexpected[:10],
        "acknowledged_while_down": len(ok_while_down),
        "rps_before_kill": round(len(before) / (t_kill - t_go), 1) if t_kill > t_go else None,
        "first_success_ms": since_ready(first_ok),
        "first_success_by_replica_ms": [since_ready(t) for t in first_ok_by_replica],
        "all_clients_back_ms": since_ready(all_back),
        "clients_back": sum(b is not None for b in back_by_client),
        "client_back_ms": [since_ready(b) for b in back_by_client],
        "slowest_failure_ms": ms(max((rec[1] - rec[0] for rec in failures), default=None)),
        "slowest_request_ms": ms(max((rec[1] - rec[0] for rec in flat), default=None)),
        "readyz": readyz,
    }


LOG_LINE = re.compile(r"\b(WARN|ERROR)\b")


def server_log_summary(path: Path):
    """What the replica said about the outage: its outage lines, and its warnings/errors."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {}
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    lines = text.splitlines()
    outage = [l for l in lines if "lost the database" in l or "answers again" in l]
    down_for = [int(m.group(1)) for l in outage for m in [re.search(r"down_for_ms\D+(\d+)", l)] if m]
    counts, samples = {}, []
    for line in lines:
        m = LOG_LINE.search(line)
        if not m:
            continue
        counts[m.group(1)] = counts.get(m.group(1), 0) + 1
        key = re.sub(r"^\S+\s+", "", line)[:160]
        if len(samples) < 8 and "lost the database" not in line and not any(key[:60] in s for s in samples):
            samples.append(line[:400])
    return {
        "file": path.name,
        "outage_lines": outage[:6],
        "times_marked_down": sum("lost the database" in l for l in outage),
        "down_for_ms": down_for,
        "pool_checkout_timeouts": sum("timed out waiting for connection" in l for l in lines),
        "counts": counts,
        "samples": samples,
    }


# --------------------------------------------------------------------------------------
# Reporting


def p50(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def vmax(values):
    values = [v for v in values if v is not None]
    return max(values) if values else None


def f0(v):
    return "–" if v is None else f"{v:,.0f}"


def pair(values):
    return f"{f0(p50(values))} / {f0(vmax(values))}"


def summarise(tries):
    by_level = {}
    for t in tries:
        by_level.setdefault(t["clients"], []).append(t)
    out = []
    for level, ts in sorted(by_level.items()):
        def col(fn):
            return [fn(t) for t in ts]

        firsts = col(lambda t: t["first_success_ms"])
        out.append({
            "clients": level,
            "tries": len(ts),
            "first_success_ms": {"p50": p50(firsts), "max": vmax(firsts)},
            "first_success_by_replica_ms": [
                {"p50": p50(col(lambda t, r=r: t["first_success_by_replica_ms"][r])),
                 "max": vmax(col(lambda t, r=r: t["first_success_by_replica_ms"][r]))} for r in range(2)
            ],
            "all_clients_back_ms": {"p50": p50(col(lambda t: t["all_clients_back_ms"])), "max": vmax(col(lambda t: t["all_clients_back_ms"]))},
            "readyz_ok_after_ready_ms": [
                {"p50": p50(col(lambda t, r=r: t["readyz"][r]["ok_after_ready_ms"])),
                 "max": vmax(col(lambda t, r=r: t["readyz"][r]["ok_after_ready_ms"]))} for r in range(2)
            ],
            "readyz_not_200_after_kill_ms": {
                "p50": p50([x for t in ts for x in (t["readyz"][0]["not_200_after_kill_ms"], t["readyz"][1]["not_200_after_kill_ms"])]),
                "max": vmax([x for t in ts for x in (t["readyz"][0]["not_200_after_kill_ms"], t["readyz"][1]["not_200_after_kill_ms"])]),
            },
            "slowest_failure_ms": vmax(col(lambda t: t["slowest_failure_ms"])),
            "lost": sum(col(lambda t: t["lost"])),
            "acknowledged": sum(col(lambda t: t["acknowledged"])),
            "failed_but_stored": sum(col(lambda t: t["failed_but_stored"])),
            "unexpected_errors": sum(col(lambda t: t["unexpected_errors"])),
            "acknowledged_while_down": sum(col(lambda t: t["acknowledged_while_down"])),
            "not_recovered": sum(1 for t in ts if not t["recovered"] or t["first_success_ms"] is None),
            # A replica that marked the database down again after it was back (see server_logs).
            "tries_marked_down_twice": sum(1 for t in ts if any(l.get("times_marked_down", 0) > 1 for l in t["server_logs"])),
            "pool_checkout_timeouts": sum(l.get("pool_checkout_timeouts", 0) for t in ts for l in t["server_logs"]),
            "failures_over_1s": sum(1 for t in ts if (t["slowest_failure_ms"] or 0) > 1000),
            "idle_reconnects": sum(col(lambda t: t.get("idle_reconnects", 0))),
            "tries_over_target": sum(1 for t in ts if t["first_success_ms"] is None or t["first_success_ms"] > TARGET_MS),
            "postgres_ready_after_restart_ms": {"p50": p50(col(lambda t: t["postgres"]["ready_after_restart_ms"])), "max": vmax(col(lambda t: t["postgres"]["ready_after_restart_ms"]))},
            "rps_before_kill": p50(col(lambda t: t["rps_before_kill"])),
            "codes": merge_counts(col(lambda t: t["codes"])),
            "other_share": {"p50": p50(col(lambda t: t["machine"]["other_share"])), "max": vmax(col(lambda t: t["machine"]["other_share"]))},
            "loadavg_1m": {"min": min(col(lambda t: t["machine"]["loadavg_1m_at_start"])), "max": max(col(lambda t: t["machine"]["loadavg_1m_at_start"]))},
        })
    return out


def merge_counts(dicts):
    total = {}
    for d in dicts:
        for k, v in d.items():
            total[k] = total.get(k, 0) + v
    return total


def markdown(results):
    meta = results["meta"]
    m = meta["machine"]
    p = meta["parameters"]
    lines = [
        f"Run `{meta['run']}`: {m['cores']} cores ({m['cpu']}), PostgreSQL {m['postgres']} (durable: "
        f"fsync, synchronous_commit, full_page_writes on), two ticketgate replicas with {p['pool_size']} "
        f"connections each, clients {'alternating between the replicas' if p.get('routing', 'alternate') == 'alternate' else 'pinned to one replica each'}, binary of {m['binary_modified_at']} (git `{(m['git_revision'] or '?')[:10]}` checked out), "
        f"load average at start {m['loadavg_at_start'][0]:.2f}. Per try: two fresh replicas, {p['load_before_kill']:g} s of load, "
        f"SIGQUIT to the postmaster, {p['down_for']:g} s down, `pg_ctl start` (crash recovery), load until every client "
        f"and both replicas have succeeded again and at least {p['min_after_kill']:g} s after the kill; times in ms from "
        f"\"PostgreSQL ready\" (the connection of its first successful `SELECT 1`, probed every 5 ms) unless said otherwise.",
        "",
        "| clients | tries | first success p50 / max | replica 1 first success p50 / max | replica 2 first success p50 / max "
        "| all clients back p50 / max | `/readyz` 200, replica 1 p50 / max | `/readyz` 200, replica 2 p50 / max "
        "| `/readyz` 503 after the kill p50 / max | slowest failure | lost / acknowledged | tries first success > 1 s |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in results["levels"]:
        fr = s["first_success_by_replica_ms"]
        rz = s["readyz_ok_after_ready_ms"]
        lines.append(
            f"| {s['clients']} | {s['tries']} | {f0(s['first_success_ms']['p50'])} / {f0(s['first_success_ms']['max'])} "
            f"| {f0(fr[0]['p50'])} / {f0(fr[0]['max'])} | {f0(fr[1]['p50'])} / {f0(fr[1]['max'])} "
            f"| {f0(s['all_clients_back_ms']['p50'])} / {f0(s['all_clients_back_ms']['max'])} "
            f"| {f0(rz[0]['p50'])} / {f0(rz[0]['max'])} | {f0(rz[1]['p50'])} / {f0(rz[1]['max'])} "
            f"| {f0(s['readyz_not_200_after_kill_ms']['p50'])} / {f0(s['readyz_not_200_after_kill_ms']['max'])} "
            f"| {f0(s['slowest_failure_ms'])} | {s['lost']} / {s['acknowledged']:,} | {s['tries_over_target']} |"
        )
    lines += [
        "",
        "| clients | req/s before the kill (p50) | PostgreSQL ready after `pg_ctl start` p50 / max | failures (status code: count) "
        "| other errors | failed but stored | tries with a failure > 1 s | pool checkout timeouts (server logs) "
        "| tries where a replica marked the database down twice | other processes' share of the machine p50 / max | load average at try start |",
        "|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in results["levels"]:
        codes = ", ".join(f"{k}: {v:,}" for k, v in sorted(s["codes"].items())) or "–"
        o = s["other_share"]
        lines.append(
            f"| {s['clients']} | {f0(s['rps_before_kill'])} | {f0(s['postgres_ready_after_restart_ms']['p50'])} / "
            f"{f0(s['postgres_ready_after_restart_ms']['max'])} | {codes} | {s['unexpected_errors']} | {s['failed_but_stored']} "
            f"| {s['failures_over_1s']} | {s['pool_checkout_timeouts']} | {s['tries_marked_down_twice']} "
            f"| {o['p50'] * 100:.0f} % / {o['max'] * 100:.0f} % | {s['loadavg_1m']['min']:.2f}–{s['loadavg_1m']['max']:.2f} |"
        )
    verdict = []
    for s in results["levels"]:
        if s["tries_over_target"] or s["not_recovered"]:
            verdict.append(f"{s['clients']} clients: first success later than 1 s (or never) in {s['tries_over_target']} of {s['tries']} tries")
        if s["lost"]:
            verdict.append(f"{s['clients']} clients: {s['lost']} acknowledged messages lost")
        if s["unexpected_errors"]:
            verdict.append(f"{s['clients']} clients: {s['unexpected_errors']} errors other than DB_UNAVAILABLE")
    lines += ["", "Targets (first success ≤ 1 s after PostgreSQL is ready in every try; 0 acknowledged messages lost): "
              + ("**met**." if not verdict else "**missed**: " + "; ".join(verdict) + ".")]
    return "\n".join(lines) + "\n"


def try_line(t):
    rz = t["readyz"]
    return (
        f"  {t['clients']:>3} clients, try {t['attempt']}: first success {f0(t['first_success_ms'])} ms "
        f"(replicas {f0(t['first_success_by_replica_ms'][0])} / {f0(t['first_success_by_replica_ms'][1])}), "
        f"all back {f0(t['all_clients_back_ms'])} ms ({t['clients_back']}/{t['clients']}), "
        f"/readyz 200 {f0(rz[0]['ok_after_ready_ms'])} / {f0(rz[1]['ok_after_ready_ms'])} ms, "
        f"503 after kill {f0(rz[0]['not_200_after_kill_ms'])} / {f0(rz[1]['not_200_after_kill_ms'])} ms, "
        f"slowest failure {f0(t['slowest_failure_ms'])} ms, PG ready {f0(t['postgres']['ready_after_restart_ms'])} ms "
        f"after start, lost {t['lost']}/{t['acknowledged']}, other errors {t['unexpected_errors']}, "
        f"other load {t['machine']['other_share'] * 100:.0f} %, marked down "
        + "/".join(str(l.get("times_marked_down")) for l in t["server_logs"])
        + " times, pool timeouts " + "/".join(str(l.get("pool_checkout_timeouts")) for l in t["server_logs"])
    )


# --------------------------------------------------------------------------------------


def parse_tries(text, levels):
    """`10` (every level) or `8:10,32:5` (per level; others: the default)."""
    tries = {lv: DEFAULT_TRIES.get(lv, 5) for lv in levels}
    if text:
        if ":" in text:
            for part in text.split(","):
                lv, _, n = part.partition(":")
                tries[int(lv)] = int(n)
        else:
            tries = {lv: int(text) for lv in levels}
    return tries


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", default="8,32,128", help="load levels: concurrent clients (default 8,32,128)")
    p.add_argument("--tries", default=None, help="tries per level: N for all, or LEVEL:N,… (default: 10 at 8 clients, 5 at the others)")
    p.add_argument("--binary", type=Path, default=ROOT / "target" / "release" / "ticketgate", help="the ticketgate binary (default target/release/ticketgate; built with cargo build --release when missing and not given)")
    p.add_argument("--pool-size", type=int, default=32, help="database connections per replica (default 32; ticketgate's default is 16)")
    p.add_argument("--tickets", type=int, default=1000, help="tickets seeded; the clients write to random ones of them (default 1000)")
    p.add_argument("--load-before-kill", type=float, default=2.0, help="seconds of load before PostgreSQL is killed (default 2)")
    p.add_argument("--down-for", type=float, default=3.0, help="seconds from the kill to `pg_ctl start` (default 3)")
    p.add_argument("--load-after", type=float, default=1.0, help="seconds of load once every client is back (default 1)")
    p.add_argument("--routing", choices=["alternate", "pinned"], default="alternate", help="alternate: every client sends to the two replicas in turn (default); pinned: client i to replica i %% 2 only")
    p.add_argument("--min-after-kill", type=float, default=7.0, help="seconds of load after the kill at least (default 7: past the 5 s pool checkout timeout)")
    p.add_argument("--fail-pause-ms", type=float, default=20, help="a client's pause after a failed request (default 20 ms)")
    p.add_argument("--request-timeout", type=float, default=30, help="client-side timeout of a request, s (default 30)")
    p.add_argument("--readyz-every-ms", type=float, default=20, help="/readyz poll interval (default 20 ms)")
    p.add_argument("--tg-env", action="append", default=[], metavar="NAME=VALUE", help="extra environment for the replicas (repeatable)")
    args = p.parse_args()
    args.levels = [int(x) for x in args.clients.split(",") if x.strip()]
    args.tries_by_level = parse_tries(args.tries, args.levels)
    return args


def machine_info(cluster, binary):
    def cmd(c):
        try:
            return subprocess.run(c, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return None

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), None)
    mem = next((int(l.split()[1]) // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), None)
    return {
        "host": platform.node(),
        "kernel": platform.release(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mb": mem,
        "loadavg_at_start": os.getloadavg(),
        "git_revision": cmd(["git", "-C", str(ROOT), "rev-parse", "HEAD"]),
        "git_dirty": bool(cmd(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])),
        "binary": str(binary),
        "binary_modified_at": datetime.fromtimestamp(binary.stat().st_mtime, timezone.utc).isoformat(timespec="seconds"),
        "binary_sha256": hashlib.sha256(binary.read_bytes()).hexdigest(),
        "postgres": cluster.psql("SHOW server_version"),
        "postgres_settings": dict(
            line.split("|", 1) for line in cluster.psql(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('fsync','synchronous_commit','full_page_writes','max_connections','shared_buffers','wal_level')"
            ).splitlines()
        ),
        "python": platform.python_version(),
    }


def main():
    args = parse_args()
    binary = args.binary.resolve()
    if not binary.exists():
        if args.binary == ROOT / "target" / "release" / "ticketgate":
            log("building ticketgate (cargo build --release)")
            subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "ticketgate"], cwd=ROOT, check=True)
        else:
            die(f"{binary} does not exist")
    for tool in ("psql",):
        if not shutil.which(tool):
            die(f"{tool} is missing (Debian: apt-get install postgresql-client-15)")
    WORK.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_name = f"recovery-{stamp}"
    run_dir = RESULTS / run_name
    (run_dir / "logs").mkdir(parents=True)
    R._log_file = open(run_dir / "run.log", "w")
    # A copy: a rebuild of the original during the run must not change what the tries run.
    copy = WORK / "ticketgate"
    shutil.copy2(binary, copy)

    cluster = Cluster(WORK / "data", copy)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    results = {"meta": {}, "tries": [], "levels": []}
    try:
        log(f"creating a durable PostgreSQL cluster in {cluster.dir.relative_to(ROOT)}")
        cluster.create({
            "fsync": "on", "synchronous_commit": "on", "full_page_writes": "on",
            "max_connections": max(200, 2 * args.pool_size + 50),
            "log_line_prefix": "'%m [%p] '",
        })
        cluster.start()
        log(f"PostgreSQL on port {cluster.port}, binaries {cluster.bin_dir}, running as "
            f"{cluster.owner.pw_name if cluster.owner else 'ourselves'}")
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["DATABASE_URL"] = cluster.url()
        run([copy, "seed", "--team", TEAM, "--tickets", args.tickets], env=env)
        key = run([copy, "api-key", "create", "--team", TEAM, "--name", "recovery-bench"], env=env).stdout.strip()
        tickets = cluster.psql(
            f"SELECT t.id FROM tickets t JOIN teams s ON s.id = t.team_id WHERE s.slug = '{TEAM}' ORDER BY t.ticket_number"
        ).split()
        cluster.psql("VACUUM ANALYZE")
        log(f"seeded team {TEAM!r}: {len(tickets)} tickets")
        ctx = {
            "binary": copy, "url": cluster.url(), "key": key, "tickets": tickets, "prefix": f"rb{stamp}/",
            "extra_env": dict(item.partition("=")[::2] for item in args.tg_env),
        }
        results["meta"] = {
            "run": run_name,
            "started_at": stamp,
            "machine": machine_info(cluster, binary),
            "parameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "notes": [
                "Times: CLOCK_MONOTONIC, shared by the main process (PostgreSQL and /readyz probes) and the client process.",
                "PostgreSQL ready: when the first SELECT 1 probe that succeeded after `pg_ctl start` opened its "
                "connection (a new connection, SCRAM, the query; tried every 5 ms). pidfile_ready_relative_to_ready_ms "
                "compares it with PostgreSQL's own status line in postmaster.pid.",
                "First success: the earliest acknowledged sendMessage among requests sent after PostgreSQL stopped "
                "accepting connections; its response time, from PostgreSQL ready.",
                "All clients back: the latest, over the clients, of each one's first such success.",
                "Failed but stored: requests that failed (their outcome unknown to the client) whose message is "
                "in the database: the commit happened, the answer was lost. Not a loss.",
                "Replicas run with TICKETGATE_RATE_LIMIT_PER_SECOND=0 (one key for every client).",
            ],
        }
        log(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; binary {binary} "
            f"(modified {results['meta']['machine']['binary_modified_at']})")
        for level in args.levels:
            for attempt in range(1, args.tries_by_level[level] + 1):
                t = one_try(args, cluster, level, attempt, ctx, run_dir)
                results["tries"].append(t)
                log(try_line(t))
                (run_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
        results["levels"] = summarise(results["tries"])
        results["meta"]["loadavg_at_end"] = os.getloadavg()
        md = markdown(results)
        (run_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
        (run_dir / "results.md").write_text(md)
        print(md)
        log(f"results: {run_dir.relative_to(ROOT)}/")
    except KeyboardInterrupt:
        log("interrupted")
        raise SystemExit(130)
    finally:
        # First the load: a replica's graceful stop waits for its open connections.
        for proc in LIVE_CLIENTS:
            proc.terminate()
            proc.join(10)
        for p in LIVE_POLLERS:
            p.halt.set()
            p.join(10)
        for rep in list(LIVE):
            rep.stop()
        try:
            shutil.copy(cluster.pgdata / "server.log", run_dir / "logs" / "postgresql.log")
        except OSError:
            pass
        try:
            cluster.stop()
        except SystemExit:
            pass


if __name__ == "__main__":
    main()
