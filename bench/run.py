#!/usr/bin/env python3
"""ticketgate vs PostGraphile vs the SQL limit: the whole benchmark in one command.

    python3 bench/run.py                      # 100,000 tickets over 10 teams, 30 s runs
    python3 bench/run.py --tickets 1000000    # the scale run
    python3 bench/run.py --tickets 20000 --duration 5 --scenarios 1,2   # a smoke run

From a clean checkout it: builds ticketgate (`cargo build --release`), installs PostGraphile
and a Node 22 binary from bench/postgraphile/package-lock.json (`npm ci`), creates a
private PostgreSQL cluster with ticketgate's own launcher in bench/.work/, seeds it
(`ticketgate seed`, one team at a time), starts ticketgate and PostGraphile on it, checks
that both answer each query with the same data, captures the SQL ticketgate issues for
each request (statement log) into pgbench scripts, checks that the hand-written SQL of
bench/handsql/ returns ticketgate's data, and then loads ticketgate, PostGraphile, pgbench
with ticketgate's statements and pgbench with the hand-written ones in turn (A/B/C/D,
A/B/C/D, …) with the same concurrency. Results go to
bench/results/<run>/ (JSON, pgbench scripts), bench/results/latest.{json,md,svg}, and the
table in BENCHMARKS.md. Only the Python standard library is used.

Needs: cargo, the PostgreSQL 15 server and client tools (pgbench, psql), wrk, node + npm
(any version: Node 22 comes from npm). See BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import chart  # noqa: E402
import handsql  # noqa: E402
import mixed  # noqa: E402
import scenarios as sc  # noqa: E402

WORK = BENCH / ".work"
RESULTS = BENCH / "results"
PGL_DIR = BENCH / "postgraphile"
NODE22 = PGL_DIR / "node_modules" / ".bin" / "node"
TICKETGATE = ROOT / "target" / "release" / "ticketgate"
FANOUT = ROOT / "tests" / "node" / "fanout.mjs"
BENCH_TEAM = "bench-0"
SEND_TICKETS = 1000
LOG_PREFIX = "@@TG %m [%p] "

# Statements of ticketgate's background jobs, never part of a request.
BACKGROUND = re.compile(
    r"SKIP LOCKED|DELETE FROM events|UPDATE api_keys k SET last_used_at|^LISTEN ", re.I
)


# --------------------------------------------------------------------------------------
# Small helpers


_t0 = time.monotonic()
_log_file = None


def log(message: str) -> None:
    line = f"[{time.monotonic() - _t0:7.1f}s] {message}"
    print(line, file=sys.stderr, flush=True)
    if _log_file:
        _log_file.write(line + "\n")
        _log_file.flush()


def die(message: str) -> None:
    log(f"error: {message}")
    raise SystemExit(1)


def redact(text: str) -> str:
    """The local cluster's password out of URLs, for the logs."""
    return re.sub(r"(postgres://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


def run(cmd, *, cwd=None, env=None, check=True, capture=False, timeout=None, quiet=False):
    if not quiet:
        log("$ " + redact(" ".join(str(c) for c in cmd)))
    out = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
        timeout=timeout,
    )
    if check and out.returncode != 0:
        detail = (out.stderr or "")[-3000:] if capture else ""
        die(redact(f"{cmd[0]} exited with {out.returncode}\n{detail}"))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url, body=None, headers=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, (json.loads(raw) if raw else None), len(raw)
    except ValueError:
        return status, raw.decode(errors="replace"), len(raw)


def wait_until(what, check, timeout=120.0, every=0.25, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            die(f"{what}: the process exited with {proc.returncode}")
        try:
            if check():
                return
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(every)
    die(f"{what}: not ready after {timeout:.0f} s")


def pct(sorted_values, p):
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def mean(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


# --------------------------------------------------------------------------------------
# Processes we start: each in its own process group, stopped by its pid at the end.


class Children:
    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def start(self, name, cmd, *, cwd=None, env=None, log_path=None, stdin=None, stdout=None):
        log(f"starting {name}: " + " ".join(str(c) for c in cmd))
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL
        proc = subprocess.Popen(
            [str(c) for c in cmd],
            cwd=cwd,
            env=env,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=stdout if stdout is not None else out,
            stderr=out,
            start_new_session=True,
        )
        proc.name = name  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def stop(self, proc, timeout=20):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"{proc.name} did not stop in {timeout} s: killing it")  # type: ignore[attr-defined]
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self):
        for proc in reversed(list(self.procs)):
            self.stop(proc)


# --------------------------------------------------------------------------------------
# CPU and memory from /proc


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        raw = f.read()
    rest = raw[raw.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state): utime=14, stime=15, cutime=16, cstime=17, ppid=4
    return {
        "ppid": int(rest[1]),
        "utime": int(rest[11]),
        "stime": int(rest[12]),
        "cutime": int(rest[13]),
        "cstime": int(rest[14]),
    }


def _children_of(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if _stat(entry)["ppid"] == pid:
                    kids.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return kids


def tree_cpu_seconds(pid, include_reaped=True):
    """CPU seconds of a process, its live descendants and (optionally) reaped children."""
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            s = _stat(p)
        except OSError:
            continue
        total += s["utime"] + s["stime"]
        if include_reaped:
            total += s["cutime"] + s["cstime"]
        stack.extend(_children_of(p))
    return total / CLK_TCK


def machine_busy_seconds():
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def children_cpu_seconds():
    """CPU seconds of our finished children (wrk, pgbench, …)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def tree_rss_kb(pid):
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            total += rss_kb(p) or 0
        except OSError:
            continue
        stack.extend(_children_of(p))
    return total


# --------------------------------------------------------------------------------------
# The PostgreSQL cluster, through ticketgate's own launcher


class Cluster:
    def __init__(self, data_dir: Path, children: Children):
        self.dir = data_dir
        self.children = children
        self.lock_fd = None

    # The launcher stops the cluster when the last `ticketgate` process using it exits.
    # Holding a shared lock on clients.lock, as every ticketgate process does, keeps it up
    # between our commands; releasing it lets the next ticketgate process stop it.
    def hold(self):
        self.lock_fd = open(self.dir / "clients.lock", "r+")
        fcntl.flock(self.lock_fd, fcntl.LOCK_SH)

    def release(self):
        if self.lock_fd:
            fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
            self.lock_fd.close()
            self.lock_fd = None

    def tg(self, *args, capture=True, quiet=False):
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        return run([TICKETGATE, "--data-dir", self.dir, *args], env=env, capture=capture, quiet=quiet)

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

    def psql(self, sql, quiet=True):
        out = run(
            ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", self.url(), "-c", sql],
            capture=True,
            quiet=quiet,
        )
        return out.stdout.strip()

    def psql_file(self, path):
        run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", self.url(), "-f", path], capture=True)

    def postmaster_pid(self):
        return int((self.pgdata / "postmaster.pid").read_text().split()[0])

    def cpu_seconds(self):
        return tree_cpu_seconds(self.postmaster_pid())

    def server_log(self) -> Path:
        return self.pgdata / "server.log"

    def create(self, settings: dict):
        """A new cluster: created (and migrated) by `ticketgate migrate`, then tuned."""
        if self.dir.exists() or self.dir.is_symlink():
            self.drop()
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        self.tg("migrate")
        conf = self.pgdata / "postgresql.conf"
        with open(conf, "a") as f:
            f.write("\n# bench/run.py\n")
            for k, v in settings.items():
                f.write(f"{k} = {v}\n")

    def drop(self):
        target = None
        link = self.dir / "pgdata"
        if link.is_symlink():
            target = Path(os.path.realpath(link)).parent
        shutil.rmtree(self.dir, ignore_errors=True)
        if target and str(target).startswith("/var/lib/ticketgate/"):
            shutil.rmtree(target, ignore_errors=True)

    def start(self):
        self.hold()
        self.tg("migrate")  # starts the cluster; our lock keeps it running after

    def stop(self):
        self.release()
        # The last process to leave stops the cluster.
        self.tg("migrate", quiet=True)


# --------------------------------------------------------------------------------------
# Servers


def start_ticketgate(children, cluster, port, args, name="ticketgate"):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        TICKETGATE_RATE_LIMIT_PER_SECOND="0",  # load tests need it off (PostGraphile has none)
        TICKETGATE_WS_MAX_CONNECTIONS_PER_KEY="20000",  # scenario 6: 10,000 sockets on one key
        TICKETGATE_POOL_SIZE=str(args.pool_size),
    )
    if args.tg_workers:
        env["TICKETGATE_WORKERS"] = str(args.tg_workers)
    for item in args.tg_env:
        k, _, v = item.partition("=")
        env[k] = v
    if args.pgbouncer:
        # Through PgBouncer in transaction mode; LISTEN and migrations direct.
        if BOUNCER_PORT[0] is None:
            BOUNCER_PORT[0] = start_pgbouncer(children, cluster)
        bouncer_port = BOUNCER_PORT[0]
        env["DATABASE_URL"] = cluster.url().replace(f":{cluster.port}/", f":{bouncer_port}/")
        env["DATABASE_LISTEN_URL"] = cluster.url()
        env["TICKETGATE_PGBOUNCER"] = "on"
    proc = children.start(
        name,
        [TICKETGATE, "--data-dir", cluster.dir, "serve", "--listen", f"127.0.0.1:{port}", "--no-demo"],
        env=env,
        log_path=WORK / f"{name}.log",
    )
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    wait_until(name, lambda: http_json(base + "/readyz")[0] == 200, proc=proc)
    # Start-up to ready on an existing, migrated database (the poll adds a few ms at most).
    proc.ready_ms = round((time.monotonic() - started) * 1000, 1)
    return proc, base + "/graphql"


def start_pgbouncer(children, cluster):
    """Debian's PgBouncer in transaction pooling mode in front of the cluster (as the
    `postgres` user when we are root: PgBouncer refuses root). Its pool matches
    ticketgate's (--pool-size) so that only the pooler's hop differs."""
    program = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not os.path.exists(program):
        die("--pgbouncer needs Debian's pgbouncer (apt-get install pgbouncer)")
    port = free_port()
    work = WORK / "pgbouncer"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "users.txt").write_text('"postgres" ""\n')
    (work / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host=127.0.0.1 port={cluster.port} user=postgres password={cluster.password}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {work}/users.txt\npool_mode = transaction\n"
        f"max_client_conn = 2000\ndefault_pool_size = {BOUNCER_POOL[0]}\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
        f"logfile = {work}/pgbouncer.log\npidfile = {work}/pgbouncer.pid\n"
    )
    cmd = [program]
    if os.geteuid() == 0:
        run(["chown", "-R", "postgres:postgres", str(work)], quiet=True)
        cmd += ["-u", "postgres"]
    BOUNCER_PROC[0] = children.start(
        "pgbouncer", cmd + [str(work / "pgbouncer.ini")], log_path=WORK / "pgbouncer.out"
    )
    wait_until("pgbouncer", lambda: port_open(port))
    return port


# PgBouncer's server connections (set from --pool-size in main), and its port once started.
BOUNCER_POOL = [16]
BOUNCER_PORT = [None]
BOUNCER_PROC = [None]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def start_postgraphile(children, cluster, port, args):
    env = dict(os.environ)
    env.update(
        DATABASE_URL=cluster.url(),
        PORT=str(port),
        PGL_WORKERS=str(args.pgl_workers),
        PGL_POOL_SIZE=str(args.pool_size),
        NODE_ENV="production",
        GRAPHILE_ENV="production",
    )
    proc = children.start(
        "postgraphile", [NODE22, "server.mjs"], cwd=PGL_DIR, env=env, log_path=WORK / "postgraphile.log"
    )
    url = f"http://127.0.0.1:{port}/graphql"
    wait_until(
        "postgraphile",
        lambda: http_json(url, {"query": "{ __typename }"})[0] == 200,
        timeout=180,
        every=0.5,
        proc=proc,
    )
    return proc, url


def gql(url, request, key=None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    status, body, size = http_json(url, request, headers)
    if status != 200 or not isinstance(body, dict) or body.get("errors"):
        die(f"{url} answered {status}: {json.dumps(body)[:2000]}")
    return body["data"], size


# --------------------------------------------------------------------------------------
# Capturing the SQL ticketgate issues for one request


def backend_pids(pid, cluster):
    """PostgreSQL backends serving process `pid`'s connections (matched by client port)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[9] in inodes and int(parts[2].rsplit(":", 1)[1], 16) == cluster.port:
                ports.append(int(parts[1].rsplit(":", 1)[1], 16))
    if not ports:
        return set()
    out = cluster.psql(
        "SELECT pid FROM pg_stat_activity WHERE client_port IN (%s)" % ",".join(map(str, ports))
    )
    return {int(p) for p in out.split()}


ENTRY = re.compile(r"^@@TG \S+ \S+ \S+ \[(\d+)\] (\w+):  (.*)", re.S)
EXECUTE = re.compile(r"duration: [\d.]+ ms  (?:execute [^:]*|statement): (.*)", re.S)
PARAM = re.compile(r"\$(\d+) = (NULL|'((?:[^']|'')*)')", re.S)


def parse_statement_log(text, pids):
    """[(sql, {n: value|None})] executed by `pids`, in log order."""
    entries = []
    for raw in text.split("\n@@TG ")[0:]:
        raw = raw if raw.startswith("@@TG ") else "@@TG " + raw
        m = ENTRY.match(raw)
        if m:
            entries.append((int(m.group(1)), m.group(2), m.group(3)))
    statements = []  # [sql, params, pid]
    last_by_pid = {}
    for pid, level, message in entries:
        if pid not in pids:
            continue
        if level == "LOG":
            m = EXECUTE.match(message)
            if not m:
                # parse/bind: their DETAIL lines are not the execution's
                last_by_pid.pop(pid, None)
                continue
            sql = m.group(1).strip().rstrip(";")
            stmt = [sql, {}, pid]
            statements.append(stmt)
            last_by_pid[pid] = stmt
        elif level == "DETAIL" and message.startswith("parameters:") and pid in last_by_pid:
            params = {}
            for pm in PARAM.finditer(message):
                params[int(pm.group(1))] = None if pm.group(2) == "NULL" else pm.group(3).replace("''", "'")
            last_by_pid[pid][1] = params
            last_by_pid.pop(pid, None)
    # Drop the background jobs' statements, with the transactions they ran in.
    kept, open_txn = [], {}
    for stmt in statements:
        sql, pid = stmt[0], stmt[2]
        word = sql.split(None, 1)[0].upper() if sql else ""
        if word in ("BEGIN", "START"):
            open_txn[pid] = [stmt]
        elif pid in open_txn:
            open_txn[pid].append(stmt)
            if word in ("COMMIT", "ROLLBACK", "END"):
                txn = open_txn.pop(pid)
                if not any(BACKGROUND.search(s[0]) for s in txn) and len(txn) > 2:
                    kept.extend(txn)
        elif not BACKGROUND.search(sql):
            kept.append(stmt)
    # A transaction still open when the log was read is not the request's (its response
    # came after its commit): a background job that had just begun, e.g. a bare BEGIN.
    kept.sort(key=statements.index)
    return [(s, p) for s, p, _ in kept]


def capture_sql(cluster, tg_proc, do_request):
    """Runs `do_request()` once with every statement logged; returns ticketgate's."""
    cluster.psql("ALTER SYSTEM SET log_min_duration_statement = 0")
    cluster.psql("SELECT pg_reload_conf()")
    time.sleep(0.5)
    logfile = cluster.server_log()
    start = logfile.stat().st_size
    try:
        result = do_request()
        time.sleep(0.5)
        pids = backend_pids(tg_proc.pid, cluster)
        if BOUNCER_PROC[0] is not None:
            # Through PgBouncer, ticketgate's statements run on the pooler's connections.
            pids |= backend_pids(BOUNCER_PROC[0].pid, cluster)
    finally:
        cluster.psql("ALTER SYSTEM RESET log_min_duration_statement")
        cluster.psql("SELECT pg_reload_conf()")
    with open(logfile, "rb") as f:
        f.seek(start)
        text = f.read().decode(errors="replace")
    return parse_statement_log(text, pids), result


def pgbench_script(statements, prologue=(), substitute=None, header=""):
    """A pgbench script running `statements` with their parameters as pgbench variables
    (bound as parameters under -M extended/prepared, as ticketgate binds them).
    `substitute(value) -> variable name or None`: parameters to take from the prologue."""
    lines = [f"-- {line}" for line in header.splitlines()] + list(prologue)
    variables = {}
    for i, (sql, params) in enumerate(statements, start=1):

        def repl(m, i=i, params=params):
            n = int(m.group(1))
            value = params.get(n)
            if value is None and n not in params:
                die(f"statement {i}: no value logged for ${n}: {sql[:200]}")
            if value is None:
                return "NULL"
            if substitute:
                name = substitute(value)
                if name:
                    return f":{name}"
            name = f"s{i}p{n}"
            variables[name] = value
            return f":{name}"

        body = re.sub(r"\$(\d+)", repl, sql)
        lines.append(body + ";")
    return "\n".join(lines) + "\n", variables


# --------------------------------------------------------------------------------------
# Load generators


def run_wrk(url, body, args, key=None, ids_file=None, duration=None):
    duration = duration or args.duration
    body_file = WORK / "wrk-body.json"
    body_file.write_text(json.dumps(body))
    env = dict(os.environ, WRK_BODY=str(body_file), WRK_AUTH=f"Bearer {key}" if key else "")
    if ids_file:
        env["WRK_IDS"] = str(ids_file)
    cmd = [
        "wrk", "-t", str(args.wrk_threads), "-c", str(args.connections), "-d", f"{duration}s",
        "--timeout", "10s", "-s", BENCH / "wrk" / "graphql.lua", url,
    ]
    out = run(cmd, env=env, capture=True, quiet=True)
    line = next((l for l in out.stdout.splitlines() if l.startswith("WRK_JSON ")), None)
    if not line:
        die(f"wrk printed no summary:\n{out.stdout}\n{out.stderr}")
    s = json.loads(line[len("WRK_JSON "):])
    secs = s["duration_us"] / 1e6
    errors = sum(s["errors"].values())
    return {
        "requests": s["requests"],
        "seconds": round(secs, 3),
        "rps": s["requests"] / secs if secs else 0,
        "p50_ms": s["latency_us"]["p50"] / 1000,
        "p90_ms": s["latency_us"]["p90"] / 1000,
        "p99_ms": s["latency_us"]["p99"] / 1000,
        "mean_ms": s["latency_us"]["mean"] / 1000,
        "max_ms": s["latency_us"]["max"] / 1000,
        "errors": errors,
        "error_detail": s["errors"],
        "bytes_per_response": s["bytes"] / s["requests"] if s["requests"] else None,
    }


def run_pgbench(cluster, script_path, variables, args, duration=None, mode=None):
    duration = duration or args.duration
    logdir = Path(tempfile.mkdtemp(prefix="pgbench-", dir=WORK))
    cmd = [
        "pgbench", "-n", "-M", mode or args.pgbench_mode, "-c", str(args.connections),
        "-j", str(args.wrk_threads), "-T", str(duration), "-f", script_path,
        "-l", "--log-prefix", logdir / "tx", "-h", "127.0.0.1", "-p", str(cluster.port),
        "-U", "postgres",
    ]
    for name, value in variables.items():
        cmd += ["-D", f"{name}={value}"]
    cmd.append("ticketgate")
    env = dict(os.environ, PGPASSWORD=cluster.password)
    out = run(cmd, env=env, capture=True, quiet=True, check=False)
    if out.returncode != 0:
        die(f"pgbench failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    latencies = []
    failed = 0
    for f in logdir.iterdir():
        for line in f.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 6:
                if parts[2] == "failed":
                    failed += 1
                    continue
                latencies.append(int(parts[2]))
    shutil.rmtree(logdir, ignore_errors=True)
    latencies.sort()
    processed = re.search(r"number of transactions actually processed: (\d+)", out.stdout)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout)
    errors = re.search(r"number of failed transactions: (\d+)", out.stdout)
    n = int(processed.group(1)) if processed else len(latencies)
    return {
        "requests": n,
        "seconds": duration,
        "rps": float(tps.group(1)) if tps else n / duration,
        "p50_ms": pct(latencies, 50) / 1000 if latencies else None,
        "p90_ms": pct(latencies, 90) / 1000 if latencies else None,
        "p99_ms": pct(latencies, 99) / 1000 if latencies else None,
        "mean_ms": statistics.fmean(latencies) / 1000 if latencies else None,
        "max_ms": latencies[-1] / 1000 if latencies else None,
        "errors": (int(errors.group(1)) if errors else 0) + failed,
    }


# --------------------------------------------------------------------------------------
# Setup


def ensure_tools(args):
    missing = [t for t in ("psql", "pgbench", "wrk", "node", "npm", "cargo") if not shutil.which(t)]
    if "wrk" in missing and os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: installing it from Debian")
        run(["apt-get", "install", "-y", "-q", "wrk"], check=False)
        missing = [t for t in missing if not shutil.which(t)]
    if args.no_build and "cargo" in missing:
        missing.remove("cargo")
    if missing:
        die(
            "missing tools: " + ", ".join(missing)
            + " (Debian: apt-get install postgresql-15 postgresql-client-15 wrk nodejs npm)"
        )


NO_BUILD = [False]


def build(args):
    NO_BUILD[0] = args.no_build
    if not args.no_build:
        run(["cargo", "build", "--release", "--locked", "--bin", "ticketgate"], cwd=ROOT)
    if not TICKETGATE.exists():
        die(f"{TICKETGATE} is missing (drop --no-build)")
    stamp = PGL_DIR / "node_modules" / ".package-lock.json"
    lock = PGL_DIR / "package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime or not NODE22.exists():
        run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PGL_DIR)
    version = run([NODE22, "--version"], capture=True, quiet=True).stdout.strip()
    if not version.startswith("v22."):
        die(f"{NODE22} is {version}, not Node 22: the `node` package's install script did not run")
    if 7 in args.scenarios and FANOUT.exists() and not (FANOUT.parent / "node_modules" / "graphql-ws").exists():
        run(["npm", "ci", "--no-audit", "--no-fund"], cwd=FANOUT.parent)


def seed(cluster, args):
    marker = cluster.dir / "bench-seed.json"
    wanted = {"tickets": args.tickets, "teams": args.teams}
    if args.reuse_data and marker.exists() and json.loads(marker.read_text()) == wanted:
        log(f"reusing the seeded data in {cluster.dir} ({args.tickets} tickets over {args.teams} teams)")
        cluster.start()
        return None
    settings = {
        "shared_buffers": f"'{args.shared_buffers}'",
        "log_line_prefix": f"'{LOG_PREFIX}'",
        "log_min_duration_statement": "-1",
    }
    cluster.create(settings)
    cluster.start()
    # One run seeds every team: bench-0 … bench-<teams-1>, the tickets spread evenly (bench-0
    # takes the remainder), team i from rng seed 42 + i. On this fresh database the seeder
    # drops the secondary indexes, loads, rebuilds them and runs ANALYZE, all inside this
    # one command: the time below is the whole of it.
    started = time.monotonic()
    cluster.tg("seed", "--team", "bench", "--teams", args.teams, "--tickets", args.tickets, "--rng-seed", 42, capture=True)
    seconds = round(time.monotonic() - started, 1)
    log(f"seeded {args.tickets} tickets over {args.teams} teams in {seconds:.0f} s")
    cluster.psql("VACUUM ANALYZE", quiet=False)
    cluster.psql("CHECKPOINT")
    marker.write_text(json.dumps(wanted))
    return seconds


def machine_info(cluster):
    def cmd(c):
        try:
            return subprocess.run(c, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return None

    cpu = None
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) // 1024
    except OSError:
        pass
    rev = cmd(["git", "-C", str(ROOT), "rev-parse", "HEAD"])
    dirty = bool(cmd(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"]))
    return {
        "host": platform.node(),
        "kernel": platform.release(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mb": mem,
        "loadavg_at_start": os.getloadavg(),
        "git_revision": rev,
        "git_dirty": dirty,
        "ticketgate_binary": {
            "built_by_this_run": not NO_BUILD[0],
            "modified_at": datetime.fromtimestamp(TICKETGATE.stat().st_mtime, timezone.utc).isoformat(timespec="seconds"),
        },
        "postgres": cluster.psql("SHOW server_version"),
        "node_postgraphile": cmd([str(NODE22), "--version"]),
        "postgraphile": json.loads((PGL_DIR / "node_modules" / "postgraphile" / "package.json").read_text())["version"],
        "rustc": cmd(["rustc", "--version"]),
        "wrk": ((cmd(["wrk", "--version"]) or "").splitlines() or [None])[0],
        "pgbench": cmd(["pgbench", "--version"]),
    }


def context(cluster, tg_url, key, args):
    team = cluster.psql(f"SELECT id FROM teams WHERE slug = '{BENCH_TEAM}'")
    # Scenario 3: the ticket with the longest conversation, topped up to 40 visible
    # messages through ticketgate so `last: 20` has 20 to return and more before them.
    number, ticket_id, visible = cluster.psql(
        f"SELECT t.ticket_number, t.id, count(m.id) FROM tickets t "
        f"LEFT JOIN messages m ON m.ticket_id = t.id AND NOT m.deleted AND NOT m.is_private "
        f"WHERE t.team_id = '{team}' GROUP BY t.id ORDER BY 3 DESC, 1 LIMIT 1"
    ).split("|")
    for i in range(int(visible), 40):
        gql(tg_url, {"query": sc.SEND_TG, "variables": {"t": ticket_id, "c": f"Follow-up {i}: any news on this?"}}, key)
    ids = cluster.psql(
        f"SELECT id FROM tickets WHERE team_id = '{team}' AND ticket_number <= {SEND_TICKETS} ORDER BY ticket_number"
    ).split()
    ids_file = WORK / "send-ticket-ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    return {
        "team_id": team,
        "ticket_number": int(number),
        "ticket_id": ticket_id,
        "search": args.search,
        "send_ids": ids,
        "send_ids_file": ids_file,
    }


def first_difference(a, b, path="$"):
    if type(a) is not type(b):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}.{k}: only on one side"
            d = first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    if isinstance(a, float) and isinstance(b, float) and abs(a - b) < 1e-5:
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


# --------------------------------------------------------------------------------------
# Scenarios


class Bench:
    def __init__(self, args, cluster, children, run_dir):
        self.args = args
        self.cluster = cluster
        self.children = children
        self.run_dir = run_dir

    def measure(self, label, target, fn):
        """Runs one load run, with the CPU used meanwhile by the server and PostgreSQL."""
        server_pid = {"ticketgate": self.tg_proc.pid, "postgraphile": self.pgl_proc.pid}.get(target)
        cpu_server = tree_cpu_seconds(server_pid) if server_pid else None
        cpu_pg = self.cluster.cpu_seconds()
        busy0, ours0 = machine_busy_seconds(), children_cpu_seconds()
        started = time.monotonic()
        result = fn()
        wall = time.monotonic() - started
        if server_pid:
            result["cpu_server_s"] = round(tree_cpu_seconds(server_pid) - cpu_server, 2)
        result["cpu_postgres_s"] = round(self.cluster.cpu_seconds() - cpu_pg, 2)
        # What else ran meanwhile: the machine's busy time less the server's, PostgreSQL's
        # and the load generator's. More than a few percent: the figures are disturbed.
        load_gen = children_cpu_seconds() - ours0
        other = (machine_busy_seconds() - busy0) - (result.get("cpu_server_s") or 0) - result["cpu_postgres_s"] - load_gen
        result["cpu_load_generator_s"] = round(load_gen, 2)
        result["cpu_other_s"] = round(max(other, 0.0), 2)
        result["other_share_of_machine"] = round(max(other, 0.0) / (wall * (os.cpu_count() or 1)), 3)
        n = max(result["requests"], 1)
        if server_pid:
            result["cpu_server_ms_per_req"] = round(result["cpu_server_s"] * 1000 / n, 3)
        result["cpu_postgres_ms_per_req"] = round(result["cpu_postgres_s"] * 1000 / n, 3)
        log(
            f"  {label:<14} {target:<13} {result['rps']:9.1f} req/s  p50 {fmt(result['p50_ms'], 2)} ms  "
            f"p99 {fmt(result['p99_ms'], 2)} ms  errors {result['errors']}  "
            f"(other processes: {result['other_share_of_machine'] * 100:.0f} % of the machine)"
        )
        return result

    def http_scenario(self, s, key, ids_file=None, send=False):
        args = self.args
        out = {k: s[k] for k in ("id", "name", "title", "offset") if k in s}
        out["requests"] = {"ticketgate": s["ticketgate"], "postgraphile": s["postgraphile"]}
        ctx = self.ctx

        def instantiate(req):
            if not send:
                return req
            text = json.dumps(req).replace("__ID__", ctx["send_ids"][0]).replace("__N__", "check")
            return json.loads(text)

        # 1. Both answer, and with the same data.
        tg_data, tg_size = gql(self.tg_url, instantiate(s["ticketgate"]), key)
        pgl_data, pgl_size = gql(self.pgl_url, instantiate(s["postgraphile"]))
        out["response_bytes"] = {"ticketgate": tg_size, "postgraphile": pgl_size}
        if "norm" in s:
            a, b = s["norm"][0](tg_data), s["norm"][1](pgl_data)
            diff = first_difference(a, b)
            out["same_data"] = diff is None
            rows = a.get("rows")
            out["rows"] = len(rows) if rows is not None else len(a.get("messages", []))
            if diff:
                out["difference"] = diff
                log(f"  WARNING: the two servers disagree: {diff}")
            else:
                log(f"  both servers return the same {out['rows']} rows")

        # 2. The SQL ticketgate issues for it, as a pgbench script.
        body = instantiate(s["ticketgate"])
        statements, response = capture_sql(self.cluster, self.tg_proc, lambda: gql(self.tg_url, body, key))
        if not statements:
            die(f"scenario {s['id']}: no statement of ticketgate was captured")
        header = (
            f"Scenario {s['id']} ({s['name']}): the {len(statements)} statements ticketgate issued for one\n"
            f"request, captured from PostgreSQL's statement log by bench/run.py."
        )
        prologue, substitute = [], None
        if send:
            # A random one of the same 1,000 tickets, and a new message id, per transaction.
            message_id = response[0]["sendMessage"]["id"]
            ticket_id = ctx["send_ids"][0]
            prologue = [
                f"\\set n random(1, {len(ctx['send_ids'])})",
                f"SELECT id AS tid FROM tickets WHERE team_id = '{ctx['team_id']}' AND ticket_number = :n \\gset",
                "SELECT tg_pgl.uuid_v7ish() AS mid \\gset",
            ]
            header += "\nThe prologue picks the ticket and the new message's id (ticketgate does both in Rust)."
            substitute = lambda v: {ticket_id: "tid", message_id: "mid"}.get(v)  # noqa: E731
        script, variables = pgbench_script(statements, prologue, substitute, header)
        script_path = self.run_dir / "pgbench" / f"s{s['id']}-{s['name']}.sql"
        script_path.parent.mkdir(parents=True, exist_ok=True)
        script_path.write_text(script)
        (script_path.with_suffix(".vars.json")).write_text(json.dumps(variables, indent=1))
        out["sql"] = {
            "script": str(script_path.relative_to(BENCH)),
            "statements": len(statements),
            "mode": args.pgbench_mode,
        }
        log(f"  captured {len(statements)} statements -> {script_path.relative_to(ROOT)}")

        # 2b. The hand-written SQL for the same response: checked against ticketgate's
        # answer, through psql, before it is loaded.
        hand = None
        if "handsql" in args.targets and handsql.script_path(s["id"]) and "norm" in s:
            hand = self.handsql_check(s, tg_data)
            out["handsql"] = hand

        tg_body, pgl_body = s["ticketgate"], s["postgraphile"]
        runners = {
            "ticketgate": lambda d=None: run_wrk(self.tg_url, tg_body, args, key, ids_file, d),
            "postgraphile": lambda d=None: run_wrk(self.pgl_url, pgl_body, args, None, ids_file, d),
            "sql": lambda d=None: run_pgbench(self.cluster, script_path, variables, args, d),
        }
        if hand:
            runners["handsql"] = lambda d=None: run_pgbench(
                self.cluster, self.run_dir / hand["script_copy"], hand["variables"], args, d, mode="prepared"
            )
        targets = [t for t in ("ticketgate", "postgraphile", "sql", "handsql") if t in args.targets and t in runners]

        # 3. Warm-up (JIT, plan and buffer caches), then the rounds: A/B/C, A/B/C, …
        if args.warmup:
            for t in targets:
                runners[t](args.warmup)
        rounds = {t: [] for t in targets}
        for r in range(args.rounds):
            for t in targets:
                rounds[t].append(self.measure(f"{s['name']} #{r + 1}", t, runners[t]))
        out["targets"] = {}
        for t in targets:
            rs = rounds[t]
            agg = {
                "rps": mean(x["rps"] for x in rs),
                "p50_ms": mean(x["p50_ms"] for x in rs),
                "p99_ms": mean(x["p99_ms"] for x in rs),
                "errors": sum(x["errors"] for x in rs),
                "cpu_postgres_ms_per_req": mean(x.get("cpu_postgres_ms_per_req") for x in rs),
                "cpu_server_ms_per_req": mean(x.get("cpu_server_ms_per_req") for x in rs),
                "rounds": rs,
            }
            out["targets"][t] = agg
        tgt = out["targets"]
        # GraphQL errors come back as 200: a body smaller than the checked answer's means
        # some responses were not what the check saw.
        for t in ("ticketgate", "postgraphile"):
            expected = out["response_bytes"][t]
            for r_ in tgt.get(t, {}).get("rounds", []):
                got = r_.get("bytes_per_response")
                if not send and got is not None and got < 0.95 * expected:
                    r_["suspect"] = f"{got:.0f} bytes per response (with headers), the checked answer has {expected}"
                    log(f"  WARNING: {t}: {r_['suspect']}")
        if "ticketgate" in tgt and "postgraphile" in tgt and tgt["postgraphile"]["rps"]:
            out["ratio_tg_pgl"] = tgt["ticketgate"]["rps"] / tgt["postgraphile"]["rps"]
        if "ticketgate" in tgt and "sql" in tgt and tgt["sql"]["rps"]:
            out["tg_fraction_of_sql"] = tgt["ticketgate"]["rps"] / tgt["sql"]["rps"]
        if "ticketgate" in tgt and "handsql" in tgt and tgt["handsql"]["rps"]:
            out["tg_fraction_of_handsql"] = tgt["ticketgate"]["rps"] / tgt["handsql"]["rps"]
        # 4. Still answering properly after the load?
        gql(self.tg_url, instantiate(s["ticketgate"]), key)
        gql(self.pgl_url, instantiate(s["postgraphile"]))
        return out

    def deep_cursors(self, key, offset):
        """Scenario 10's starting points: each server's own cursor after the row `offset`
        rows into the team's inbox order, found by walking that order in pages of up to
        500 (cursors and keys only), as a client paging that far would. Both walks must
        end on the same row."""
        found = {}
        for server in ("ticketgate", "postgraphile"):
            cursor, seen, last = None, 0, None
            while seen < offset:
                n = min(500, offset - seen)
                if server == "ticketgate":
                    data, _ = gql(self.tg_url, {"query": sc.WALK_TG, "variables": {"n": n, "after": cursor}}, key)
                    conn = data["tickets"]
                else:
                    variables = {"team": self.ctx["team_id"], "n": n, "after": cursor}
                    data, _ = gql(self.pgl_url, {"query": sc.WALK_PGL, "variables": variables})
                    conn = data["allTickets"]
                if not conn["edges"]:
                    die(f"scenario 10: {server}'s inbox ended after {seen} rows, before {offset}")
                seen += len(conn["edges"])
                last = conn["edges"][-1]["node"]
                cursor = conn["pageInfo"]["endCursor"]
            found[server] = (cursor, last.get("id") or last.get("rowId"), last["updatedAt"])
        if found["ticketgate"][1] != found["postgraphile"][1]:
            die(f"scenario 10: the walks ended on different rows: {found}")
        log(f"  walked {offset:,} rows into the inbox order on both servers (row {found['ticketgate'][1]})")
        data, _ = gql(self.tg_url, {"query": sc.WALK_TG, "variables": {"n": 50, "after": found["ticketgate"][0]}}, key)
        if len(data["tickets"]["edges"]) != 50:
            die(f"scenario 10: only {len(data['tickets']['edges'])} rows follow the cursor, not 50")
        return {
            "offset": offset,
            "tg_cursor": found["ticketgate"][0],
            "pgl_cursor": found["postgraphile"][0],
            "after_id": found["ticketgate"][1],
            "after_updated_at": found["ticketgate"][2],
        }

    def handsql_check(self, s, tg_data):
        """Runs scenario `s`'s hand-written script once through psql and compares its data
        with ticketgate's answer `tg_data`; stops the run when they differ. Returns what
        results.json records of it (the script is copied into the run's pgbench/)."""
        path = handsql.script_path(s["id"])
        values = handsql.variables(self.ctx, s["id"])
        try:
            rows = handsql.run_once(self.cluster.psql, path, values)
            got = handsql.normalise(s["id"], rows, sc._ts)
        except (ValueError, KeyError, IndexError) as err:
            die(f"scenario {s['id']}: the hand-written SQL ({path.relative_to(ROOT)}) failed: {err}")
        want = s["norm"][0](tg_data)
        diff = first_difference(want, got)
        if diff:
            die(
                f"scenario {s['id']}: the hand-written SQL ({path.relative_to(ROOT)}) does not return "
                f"ticketgate's data: {diff}"
            )
        copy = Path("pgbench") / f"handsql-{path.name}"
        (self.run_dir / copy).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, self.run_dir / copy)
        (self.run_dir / copy).with_suffix(".vars.json").write_text(json.dumps(values, indent=1))
        n = len(got["rows"]) if "rows" in got else len(got.get("messages", []))
        log(f"  the hand-written SQL ({path.relative_to(ROOT)}) returns ticketgate's data ({n} rows)")
        return {
            "script": str(path.relative_to(BENCH)),
            "script_copy": str(copy),
            "statements": len(handsql.statements(path)),
            "mode": "prepared",
            "variables": values,
            "same_data": True,
        }

    def idle_subscribers(self, key):
        """On a ticketgate process of its own, so that the memory the load scenarios left
        in the allocator does not hide what the subscribers take."""
        proc, url = start_ticketgate(self.children, self.cluster, free_port(), self.args, name="ticketgate-idle")
        try:
            return self._idle_subscribers(key, proc, url)
        finally:
            self.children.stop(proc)

    def _idle_subscribers(self, key, tg_proc, tg_url):
        args = self.args
        n = args.idle_subscribers
        pid = tg_proc.pid
        ws_url = tg_url.replace("http://", "ws://")
        ticket = self.ctx["send_ids"][1]
        gql(tg_url, {"query": "{ me { team { slug } } }"}, key)
        time.sleep(1)
        rss_before = rss_kb(pid)
        env = dict(os.environ, WS_URL=ws_url, KEY=key, TICKET_ID=ticket, SUBSCRIBERS=str(n))
        proc = self.children.start(
            "idle subscribers", [NODE22, BENCH / "ws" / "idle.mjs"], env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, log_path=WORK / "idle.log",
        )
        ready = None
        lines = []

        def reader():
            for raw in proc.stdout:
                lines.append(raw.decode().strip())

        threading.Thread(target=reader, daemon=True).start()
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and ready is None and proc.poll() is None:
            for line in lines:
                if line.startswith("IDLE_READY "):
                    ready = json.loads(line[len("IDLE_READY "):])
            time.sleep(0.2)
        if ready is None:
            self.children.stop(proc)
            die(f"idle subscribers never got ready: {lines[-5:]}")
        log(f"  {ready['open']} subscribers connected in {ready['connectMs']} ms ({ready['errors']} errors)")
        time.sleep(5)
        rss_subscribed = rss_kb(pid)
        cpu0 = tree_cpu_seconds(pid)
        hold = args.idle_hold
        time.sleep(hold)
        cpu_idle = tree_cpu_seconds(pid) - cpu0
        rss_held = rss_kb(pid)
        # Prove they are live: one message, to every one of them.
        gql(tg_url, {"query": sc.SEND_TG, "variables": {"t": ticket, "c": "to the idle subscribers"}}, key)
        time.sleep(10)
        proc.stdin.close()
        proc.wait(timeout=60)
        time.sleep(0.5)
        final = next((json.loads(l[len("IDLE_JSON "):]) for l in lines if l.startswith("IDLE_JSON ")), {})
        self.children.stop(proc)
        time.sleep(3)
        rss_after = rss_kb(pid)
        per_sub = (rss_held - rss_before) / max(ready["open"], 1)
        result = {
            "id": 6,
            "name": "idle-subscribers",
            "title": f"{n} idle websocket subscribers (graphql-transport-ws, messageAdded): memory of a fresh ticketgate process",
            "subscribers": n,
            "connected": ready["open"],
            "connect_ms": ready["connectMs"],
            "connect_errors": ready["errors"],
            "rss_before_kb": rss_before,
            "rss_subscribed_kb": rss_subscribed,
            "rss_after_hold_kb": rss_held,
            "rss_after_close_kb": rss_after,
            "rss_per_subscriber_kb": round(per_sub, 2),
            "idle_cpu_percent": round(cpu_idle * 100 / hold, 2),
            "idle_seconds": hold,
            "still_open": final.get("open"),
            "delivered_check_message": final.get("received"),
            "errors": final.get("errors"),
        }
        log(
            f"  RSS {rss_before / 1024:.1f} MiB -> {rss_held / 1024:.1f} MiB with {ready['open']} subscribers "
            f"({per_sub:.1f} KiB each), idle CPU {result['idle_cpu_percent']}%, "
            f"check message delivered to {final.get('received')}"
        )
        return result

    def fanout(self, key):
        args = self.args
        if not FANOUT.exists():
            return {"id": 7, "name": "fanout", "skipped": f"{FANOUT.relative_to(ROOT)} is missing"}
        ticket = self.ctx["send_ids"][2]

        def one(ws_urls, http_url, label):
            env = dict(
                os.environ,
                WS_URLS=",".join(u.replace("http://", "ws://") for u in ws_urls),
                HTTP_URL=http_url,
                KEY=key,
                SUBSCRIBERS=str(args.fanout_subscribers),
                MESSAGES=str(args.fanout_messages),
                CLIENT=args.fanout_client,
                TICKET_ID=ticket,
            )
            out = run([NODE22, FANOUT], env=env, capture=True, check=False, timeout=900)
            line = next((l for l in out.stdout.splitlines() if l.startswith("FANOUT_JSON ")), None)
            if not line:
                die(f"fanout ({label}) printed no result ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
            r = json.loads(line[len("FANOUT_JSON "):])
            r["exit_code"] = out.returncode
            fr = r["fromRequest"]
            log(
                f"  {label}: delivery p50 {fr.get('p50')} ms  p99 {fr.get('p99')} ms "
                f"(from the request; {r['deliveries']}/{r['expected']} delivered)"
            )
            return r

        same = one([self.tg_url], self.tg_url, "same replica")
        port2 = free_port()
        proc2, url2 = start_ticketgate(self.children, self.cluster, port2, args, name="ticketgate-2")
        try:
            cross = one([url2], self.tg_url, "across replicas")
        finally:
            self.children.stop(proc2)
        return {
            "id": 7,
            "name": "fanout",
            "title": f"one message to {args.fanout_subscribers} subscribers of one ticket: delivery latency",
            "subscribers": args.fanout_subscribers,
            "messages": args.fanout_messages,
            "client": args.fanout_client,
            "same_replica": same,
            "across_replicas": cross,
        }


# --------------------------------------------------------------------------------------
# Reporting


def fmt(v, digits=1):
    if v is None:
        return "–"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def markdown(results):
    meta = results["meta"]
    p = meta["parameters"]
    m = meta["machine"]
    lines = [
        f"Run `{meta['run']}`: {p['tickets']:,} tickets over {p['teams']} teams, {p['connections']} connections, "
        f"{p['rounds']} × {p['duration']} s per server and scenario (after {p['warmup']} s of warm-up), "
        f"git `{(m['git_revision'] or '?')[:10]}`{' (dirty)' if m['git_dirty'] else ''}"
        + (
            f" (ticketgate not rebuilt: binary of {m['ticketgate_binary']['modified_at']})"
            if not m.get("ticketgate_binary", {}).get("built_by_this_run", True)
            else ""
        )
        + ", "
        f"{m['cores']} cores ({m['cpu']}), {m['memory_mb']:,} MiB, PostgreSQL {m['postgres']}, "
        f"PostGraphile {m['postgraphile']} on Node {m['node_postgraphile']}, load average at start "
        f"{m['loadavg_at_start'][0]:.2f}."
        + (f" Seeding took {meta['seed_seconds']:.1f} s." if meta.get("seed_seconds") else "")
        + (
            f" ticketgate was ready {meta['ticketgate_ready_ms']:.0f} ms after it started."
            if meta.get("ticketgate_ready_ms") is not None
            else ""
        ),
    ]
    shares = [
        r.get("other_share_of_machine")
        for s in results["scenarios"]
        for t in s.get("targets", {}).values()
        for r in t["rounds"]
        if r.get("other_share_of_machine") is not None
    ]
    busy = False
    if shares:
        worst = max(shares)
        busy = worst > 0.15
        lines[-1] += (
            f" Other processes took {statistics.median(shares) * 100:.0f} % of the machine during the "
            f"median measurement, {worst * 100:.0f} % at worst."
        )
    elif m["loadavg_at_start"][0] > 0.75 * (m["cores"] or 1):
        busy = True
    if busy:
        lines[-1] += " **The machine was busy: these figures only show that the harness works.**"
    lines.append("")
    if any("targets" in s for s in results["scenarios"]):
        lines += [
            "| # | scenario | ticketgate req/s | p50 ms | p99 ms | PostGraphile req/s | p50 ms | p99 ms "
            "| SQL limit req/s | p50 ms | p99 ms | hand-written SQL req/s | p50 ms | p99 ms "
            "| ticketgate / PostGraphile | ticketgate / SQL | ticketgate / hand-written SQL |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
    for s in results["scenarios"]:
        if "targets" not in s:
            continue
        t = s["targets"]
        cells = []
        for name in ("ticketgate", "postgraphile", "sql", "handsql"):
            x = t.get(name)
            cells += [fmt(x["rps"], 0), fmt(x["p50_ms"], 2), fmt(x["p99_ms"], 2)] if x else ["–"] * 3
        ratio = f"{s['ratio_tg_pgl']:.2f}×" if s.get("ratio_tg_pgl") else "–"
        frac = f"{s['tg_fraction_of_sql'] * 100:.0f} %" if s.get("tg_fraction_of_sql") else "–"
        hand = f"{s['tg_fraction_of_handsql'] * 100:.0f} %" if s.get("tg_fraction_of_handsql") else "–"
        flag = "" if s.get("same_data", True) else " ⚠ results differ"
        lines.append(f"| {s['id']} | {s['name']}{flag} | " + " | ".join(cells) + f" | {ratio} | {frac} | {hand} |")
    first = next((s for s in results["scenarios"] if s.get("id") == 1 and "targets" in s), None)
    for s in results["scenarios"]:
        if s.get("id") == 10 and "targets" in s:
            parts = []
            for name, label in (("ticketgate", "ticketgate"), ("postgraphile", "PostGraphile"), ("sql", "SQL limit"), ("handsql", "hand-written SQL")):
                x = s["targets"].get(name)
                if not x:
                    continue
                y = (first or {}).get("targets", {}).get(name)
                parts.append(
                    f"{label} {fmt(x['rps'], 0)} req/s"
                    + (f" (first page: {fmt(y['rps'], 0)}, {x['rps'] / y['rps'] * 100:.0f} %)" if y and y["rps"] else "")
                )
            lines += [
                "",
                f"**10. Deep page**: the 50 tickets after a cursor {s.get('offset', 0):,} rows into the inbox order, "
                "against the first page (scenario 1, the same fields): " + "; ".join(parts)
                + ("." if first else " (scenario 1 was not run)."),
            ]
    for s in results["scenarios"]:
        if s.get("name") == "idle-subscribers":
            lines += [
                "",
                f"**6. Idle subscribers**: {s['connected']:,} websocket subscribers took ticketgate from "
                f"{s['rss_before_kb'] / 1024:.1f} MiB to {s['rss_after_hold_kb'] / 1024:.1f} MiB RSS "
                f"(**{s['rss_per_subscriber_kb']:.1f} KiB per subscriber**), "
                f"{s['idle_cpu_percent']} % of a core while idle for {s['idle_seconds']} s; connected in "
                f"{s['connect_ms'] / 1000:.1f} s; a check message reached {s['delivered_check_message']:,} of them.",
            ]
        if s.get("name") == "fanout" and "same_replica" in s:
            a, b = s["same_replica"], s["across_replicas"]
            lines += [
                "",
                f"**7. Fan-out** of one message to {s['subscribers']:,} subscribers of one ticket "
                f"({s['messages']} messages, latency from the start of the `sendMessage` request to each delivery):",
                "",
                "| | delivery p50 ms | delivery p99 ms | last delivery after the response, p50 / p99 ms | sendMessage p50 / p99 ms | client CPU µs per delivery | delivered |",
                "|---|--:|--:|--:|--:|--:|--:|",
            ]
            for label, x in (("same replica", a), ("across two replicas", b)):
                lines.append(
                    f"| {label} | {fmt(x['fromRequest'].get('p50'), 2)} | {fmt(x['fromRequest'].get('p99'), 2)} "
                    f"| {fmt(x['complete'].get('p50'), 2)} / {fmt(x['complete'].get('p99'), 2)} "
                    f"| {fmt(x['send'].get('p50'), 2)} / {fmt(x['send'].get('p99'), 2)} "
                    f"| {fmt(x.get('clientCpuUsPerDelivery'), 1)} | {x['deliveries']:,}/{x['expected']:,} |"
                )
            lines.append(
                f"\nSubscribers: the `{s.get('client', 'graphql-ws')}` client of tests/node/fanout.mjs, "
                "one Node process on the same machine; its CPU per delivery is in the table."
            )
        elif s.get("name") == "fanout":
            lines += ["", f"**7. Fan-out**: skipped ({s['skipped']})."]
        if s.get("name") == "mixed":
            lines += mixed.markdown(s, fmt)
    return "\n".join(lines) + "\n"


def publish(results, run_dir, args):
    (run_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    md = markdown(results)
    (run_dir / "results.md").write_text(md)
    svg = chart.render(results)
    (run_dir / "chart.svg").write_text(svg)
    # latest.* is the last run of any size; latest-<N>t.* the last run at this size, so the
    # 100,000 and the 1,000,000-ticket results can both be shown.
    # A --no-doc run (a partial or exploratory one) leaves latest-<N>t.* alone.
    size = f"{args.tickets}t"
    for name, ext in (("results.json", "json"), ("results.md", "md"), ("chart.svg", "svg")):
        shutil.copy(run_dir / name, RESULTS / f"latest.{ext}")
        if not args.no_doc:
            shutil.copy(run_dir / name, RESULTS / f"latest-{size}.{ext}")
    print(md)
    doc = ROOT / "BENCHMARKS.md"
    if args.no_doc or not doc.exists():
        return
    text = doc.read_text()
    start, end = f"<!-- bench:results:{args.tickets}:start -->", f"<!-- bench:results:{args.tickets}:end -->"
    if start not in text or end not in text:
        start, end = "<!-- bench:results:start -->", "<!-- bench:results:end -->"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        doc.write_text(before + start + "\n\n" + md + "\n" + end + after)
        log("updated the results table in BENCHMARKS.md")


# --------------------------------------------------------------------------------------


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tickets", type=int, default=100_000, help="tickets to seed in all (default 100000)")
    p.add_argument("--teams", type=int, default=10, help="teams they are spread over (default 10)")
    p.add_argument("--duration", type=int, default=30, help="seconds of each measured run (default 30)")
    p.add_argument("--warmup", type=int, default=None, help="seconds of warm-up per server and scenario (default: duration/3, at most 10)")
    p.add_argument("--rounds", type=int, default=2, help="measured runs per server and scenario, alternated A/B/C (default 2)")
    p.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    p.add_argument(
        "--scenarios", default="1,2,3,4,5,6,7,8,9,10,11", help="which scenarios (default all: 1,2,3,4,5,6,7,8,9,10,11)"
    )
    p.add_argument(
        "--targets",
        default="ticketgate,postgraphile,sql,handsql",
        help="what to load in the HTTP scenarios (handsql: the hand-written SQL of bench/handsql/, scenarios 1-4, 9 and 10)",
    )
    p.add_argument("--search", default="webhook", help="search term of scenario 4 (default: webhook)")
    p.add_argument("--pool-size", type=int, default=16, help="database connections of each server (default 16, ticketgate's default)")
    p.add_argument("--tg-workers", type=int, default=None, help="ticketgate's HTTP workers (default: its own, one per core)")
    p.add_argument("--tg-env", action="append", default=[], metavar="NAME=VALUE", help="extra environment for ticketgate (repeatable), e.g. TICKETGATE_LOG=warn")
    p.add_argument("--pgl-workers", type=int, default=os.cpu_count(), help="PostGraphile processes (node:cluster; default one per core)")
    p.add_argument("--wrk-threads", type=int, default=min(os.cpu_count() or 2, 4), help="wrk threads and pgbench -j")
    p.add_argument("--pgbench-mode", default="prepared", choices=["simple", "extended", "prepared"], help="pgbench -M (default prepared: no parse or plan per statement, the limit)")
    p.add_argument("--shared-buffers", default="1GB", help="PostgreSQL shared_buffers (default 1GB)")
    p.add_argument("--idle-subscribers", type=int, default=10_000, help="scenario 6 (default 10000)")
    p.add_argument("--idle-hold", type=int, default=15, help="seconds scenario 6 holds its subscribers idle (default 15)")
    p.add_argument("--fanout-subscribers", type=int, default=1000, help="scenario 7 (default 1000)")
    p.add_argument(
        "--fanout-client",
        choices=["lean", "graphql-ws"],
        default="lean",
        help="scenario 7's subscribers: lean (ws and the protocol's few messages, default) or the graphql-ws client library",
    )
    p.add_argument("--fanout-messages", type=int, default=50, help="messages measured in scenario 7 (default 50)")
    p.add_argument("--mixed-subscribers", type=int, default=200, help="scenario 11: live messageAdded subscribers (default 200)")
    p.add_argument("--mixed-tickets", type=int, default=20, help="scenario 11: tickets written to, the subscribers spread over them (default 20)")
    p.add_argument("--mixed-write-share", type=float, default=0.1, help="scenario 11: share of sendMessage requests (default 0.1)")
    p.add_argument("--data-dir", type=Path, default=None, help="where the cluster lives (default bench/.work/data)")
    p.add_argument("--reuse-data", action="store_true", help="keep the data seeded by a previous run of the same size (skips seeding; sendMessage runs will have added messages)")
    p.add_argument("--no-build", action="store_true", help="use target/release/ticketgate as it is")
    p.add_argument(
        "--pgbouncer",
        action="store_true",
        help="run ticketgate through PgBouncer (transaction mode) to measure what the pooler costs",
    )
    p.add_argument("--no-doc", action="store_true", help="leave BENCHMARKS.md alone")
    args = p.parse_args()
    args.scenarios = [int(x) for x in args.scenarios.split(",") if x.strip()]
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if args.warmup is None:
        args.warmup = min(10, max(1, args.duration // 3))
    BOUNCER_POOL[0] = args.pool_size
    return args


def main():
    global _log_file
    args = parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_name = f"{stamp}-{args.tickets}t"
    run_dir = RESULTS / run_name
    run_dir.mkdir(parents=True)
    _log_file = open(run_dir / "run.log", "w")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.idle_subscribers + 1000 and 6 in args.scenarios:
        log(f"warning: the open-files limit ({hard}) is low for {args.idle_subscribers} subscribers")

    ensure_tools(args)
    build(args)
    children = Children()
    cluster = Cluster(args.data_dir or WORK / "data", children)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    results = {"meta": {}, "scenarios": []}
    try:
        seed_seconds = seed(cluster, args)
        cluster.psql_file(PGL_DIR / "schema.sql")
        key = cluster.tg("api-key", "create", "--team", BENCH_TEAM, "--name", "bench").stdout.strip()
        tg_proc, tg_url = start_ticketgate(children, cluster, free_port(), args)
        pgl_proc, pgl_url = start_postgraphile(children, cluster, free_port(), args)
        bench = Bench(args, cluster, children, run_dir)
        bench.tg_proc, bench.tg_url, bench.pgl_proc, bench.pgl_url = tg_proc, tg_url, pgl_proc, pgl_url
        bench.ctx = context(cluster, tg_url, key, args)
        results["meta"] = {
            "run": run_name,
            "started_at": stamp,
            # Seconds `ticketgate seed` took for all teams (None: the data was reused).
            "seed_seconds": seed_seconds,
            "ticketgate_ready_ms": getattr(tg_proc, "ready_ms", None),
            "machine": machine_info(cluster),
            "parameters": {
                k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
            },
            "context": {k: v for k, v in bench.ctx.items() if k not in ("send_ids", "send_ids_file")},
            "notes": [
                "ticketgate authenticates every request (API key lookup) and scopes it to the key's team; "
                "PostGraphile does neither (no pgSettings/RLS): it is given the team id as a condition.",
                "ticketgate runs with TICKETGATE_RATE_LIMIT_PER_SECOND=0 (PostGraphile has no rate limit).",
                f"Both servers: {args.pool_size} database connections; ticketgate {args.tg_workers or 'one per core'} "
                f"workers, PostGraphile {args.pgl_workers} node:cluster processes.",
                "The SQL limit is pgbench running the statements ticketgate issued for one request "
                f"(-M {args.pgbench_mode}), one after the other, on {args.connections} connections.",
                "The hand-written SQL (handsql) is pgbench -M prepared running bench/handsql/'s scripts: what "
                "a skilled engineer would write for exactly that response, checked against ticketgate's answer.",
            ],
        }
        for sid in args.scenarios:
            if sid == 10:
                # As deep as the team goes, at most 50,000 rows, with a page left; found just
                # before the scenario runs: the writes of scenarios 3, 5 and 7 move tickets
                # to the top of the order, and a cursor found earlier could point past the end.
                size = int(cluster.psql(f"SELECT count(*) FROM tickets WHERE team_id = '{bench.ctx['team_id']}'"))
                offset = max(0, min(50_000, size - 50))
                log(f"scenario 10: finding the cursors {offset:,} rows into the inbox order")
                bench.ctx["deep"] = bench.deep_cursors(key, offset)
            reads = {s["id"]: s for s in sc.read_scenarios(bench.ctx)}
            if sid in reads:
                log(f"scenario {sid}: {reads[sid]['title']}")
                result = bench.http_scenario(reads[sid], key)
                if sid == 10 and result.get("rows") != 50:
                    die(f"scenario 10: the deep page has {result.get('rows')} rows, not 50")
                results["scenarios"].append(result)
            elif sid == 5:
                s = sc.send_scenario()
                log(f"scenario 5: {s['title']}")
                results["scenarios"].append(bench.http_scenario(s, key, ids_file=bench.ctx["send_ids_file"], send=True))
            elif sid == 6:
                log(f"scenario 6: {args.idle_subscribers} idle subscribers")
                results["scenarios"].append(bench.idle_subscribers(key))
            elif sid == 7:
                log(f"scenario 7: fan-out to {args.fanout_subscribers} subscribers")
                results["scenarios"].append(bench.fanout(key))
            elif sid == 11:
                log(f"scenario 11: mixed reads and writes, {args.mixed_subscribers} live subscribers")
                results["scenarios"].append(mixed.scenario(sys.modules[__name__], bench, key))
            # Keep what we have so far, whatever happens next.
            (run_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
        results["meta"]["loadavg_at_end"] = os.getloadavg()
        results["meta"]["server_rss_kb"] = {
            "ticketgate": rss_kb(tg_proc.pid),
            "postgraphile": tree_rss_kb(pgl_proc.pid),
        }
        publish(results, run_dir, args)
        log(f"results: {run_dir.relative_to(ROOT)}/ and bench/results/latest.*")
    except KeyboardInterrupt:
        log("interrupted")
        raise SystemExit(130)
    finally:
        children.stop_all()
        try:
            cluster.stop()
        except SystemExit:
            pass


if __name__ == "__main__":
    main()
