#!/usr/bin/env python3
"""Hostile input: what it costs ticketgate in memory, and whether it stays up.

    python3 bench/hostile.py                                   # target/release/ticketgate
    python3 bench/hostile.py --binary /path/to/ticketgate --shapes 1,2,4

Starts a private PostgreSQL cluster in bench/.work/hostile-data with ticketgate's own
launcher (bench/run.py's helpers), seeds a small team, creates a team key and mints a
customer token, then runs each hostile shape against a freshly started ticketgate with its
DEFAULT settings (only TICKETGATE_TOKEN_SECRET is set, so customer tokens work). A thread
samples the server's VmRSS (/proc/<pid>/status) every 20 ms; each shape reports RSS before,
at peak (and the kernel's VmHWM), 2 s after its last answer, the time it took and the
answer codes seen. Shapes:

  1  1,100 distinct ~16 KB documents refused with TOO_MANY_ROOT_FIELDS, sequential, over
     one keep-alive connection, team key (paced under the default rate limit, 50/s with
     bursts of 200, so that every document reaches the parser)
  2  the "20-alias" query: twenty aliases of `messages(first: 500) { nodes { content } }`
     on a ticket holding 500 messages of 64 KiB, customer token (expect RESPONSE_TOO_LARGE)
  3  six of those queries at once, team key
  4  a 100,000-link fragment chain, 100,000 nested selections, 100,000 nested lists in an
     argument (and the same shapes at the largest size under the token limit, plus 100,000
     nested lists in the JSON variables): a coded refusal, and the process alive after
  5  1,000 distinct refused documents over one graphql-transport-ws websocket

Results: a markdown table on stdout, JSON in bench/results/hostile-<UTC time>/results.json.
Only the Python standard library is used. Needs the PostgreSQL server binaries (as
`ticketgate` itself does) and a release build of ticketgate.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import secrets
import select
import socket
import struct
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as R  # noqa: E402  (bench/run.py: cluster, processes, logging, /proc readers)

TEAM = "hostile"
CUSTOMER = "hostile-customer"
MESSAGES = 500
MESSAGE_BYTES = 64 * 1024  # the largest message content accepted (validate::MAX_CONTENT_BYTES)
ALIASES = 20
DEFAULT_BUDGET = 33_554_432  # TICKETGATE_MAX_RESPONSE_BYTES's default (32 MiB)
SAMPLE_EVERY = 0.02
SETTLE = 2.0
MB = 1_000_000


# --------------------------------------------------------------------------------------
# Memory


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


class RssSampler(threading.Thread):
    """VmRSS of `pid` every 20 ms; keeps the peak and the series."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.series = []  # [ms since start, kB]
        self.died = False
        self._halt = threading.Event()

    def run(self):
        t0 = time.monotonic()
        while not self._halt.is_set():
            try:
                kb = status_kb(self.pid, "VmRSS")
            except OSError:
                self.died = True
                return
            if kb is None:  # a zombie has no VmRSS
                self.died = True
                return
            self.peak_kb = max(self.peak_kb, kb)
            self.series.append([round((time.monotonic() - t0) * 1000), kb])
            self._halt.wait(SAMPLE_EVERY)

    def stop(self):
        self._halt.set()
        self.join()


# --------------------------------------------------------------------------------------
# HTTP


def code_of(status, body):
    """`status CODE` for an answer: its errors' codes (or `ok` for data without errors)."""
    if isinstance(body, dict):
        errors = body.get("errors") or []
        codes = sorted({(e.get("extensions") or {}).get("code", "no code") for e in errors})
        if codes:
            return f"{status} {'+'.join(codes)}"
        return f"{status} ok"
    if isinstance(body, list):  # a batch
        return f"{status} batch"
    return f"{status} no JSON"


class Client:
    """One keep-alive HTTP/1.1 connection posting GraphQL requests."""

    def __init__(self, base, token):
        host, port = base.split("//", 1)[1].split(":")
        self.host, self.port, self.token = host, int(port), token
        self.conn = None
        self.reconnects = 0

    def post(self, payload: bytes, timeout=120):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            self.reconnects += 1
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Bearer {self.token}",
        }
        try:
            self.conn.request("POST", "/graphql", body=payload, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read()
            status, retry_after = resp.status, resp.getheader("Retry-After")
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
        except (OSError, http.client.HTTPException) as err:
            self.close()
            return f"error {type(err).__name__}", None, 0, None
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        return status, body, len(raw), retry_after

    def gql(self, query, variables=None):
        body = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return self.post(json.dumps(body).encode())

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def must(result, what):
    status, body, _, _ = result
    if status != 200 or not isinstance(body, dict) or body.get("errors"):
        R.die(f"{what}: {status} {json.dumps(body)[:1000]}")
    return body["data"]


def raw_post(base, token, payload: bytes, timeout=120):
    """POST on a new connection. A body over the default limit waits for an answer to the
    headers first: a server refusing on Content-Length (413) answers before the body is
    sent, and we read that answer instead of a connection reset."""
    host, port = base.split("//", 1)[1].split(":")
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode()
    try:
        s = socket.create_connection((host, int(port)), timeout=timeout)
    except OSError as err:  # the server is gone
        return f"error {type(err).__name__}", None, 0
    with s:
        s.sendall(head)
        # Over the default body limit: give the server 0.5 s to refuse on the headers.
        early = len(payload) > 1_048_576 and select.select([s], [], [], 0.5)[0]
        if not early:
            try:
                s.sendall(payload)
            except OSError:
                pass
        raw = b""
        try:
            while not answer_complete(raw):
                chunk = s.recv(65536)
                if not chunk:
                    break
                raw += chunk
        except OSError as err:
            if not raw:
                return f"error {type(err).__name__}", None, 0
    head, _, body = raw.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return "error no status", None, len(raw)
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunk(body)
    try:
        return status, json.loads(body) if body else None, len(body)
    except ValueError:
        return status, None, len(body)


def answer_complete(raw: bytes) -> bool:
    """A whole HTTP answer has arrived (the server may keep the socket open a while after
    `connection: close`)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
        if line.startswith(b"transfer-encoding:") and b"chunked" in line:
            return body.endswith(b"0\r\n\r\n")
    return False


def dechunk(data: bytes) -> bytes:
    out, at = [], 0
    while at < len(data):
        end = data.find(b"\r\n", at)
        if end < 0:
            break
        size = int(data[at:end].split(b";")[0], 16)
        if size == 0:
            break
        out.append(data[end + 2 : end + 2 + size])
        at = end + 2 + size + 2
    return b"".join(out)


class Pacer:
    """Stays under a token bucket (rate per second, burst) like the server's rate limit,
    with a margin, so that requests are not refused with RATE_LIMITED."""

    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        self.tokens, self.at = float(burst), time.monotonic()

    def wait(self):
        while True:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            time.sleep((1 - self.tokens) / self.rate)


# --------------------------------------------------------------------------------------
# Documents


ROOT_SELECTIONS = [
    "me {{ team {{ id slug name }} scopes }}",
    "unreadCount",
    "tickets(first: {n}) {{ nodes {{ id ticketNumber status }} }}",
    "__typename",
    "me {{ customerDistinctId user {{ id }} }}",
]
SEPARATORS = [" ", "\n", "\t", "  ", " \n ", ",", "\r\n", " , "]


def root_fields_document(i, size=16_000):
    """A distinct document of about `size` bytes (at most 16 KiB, the largest the document
    cache keeps) with hundreds of root fields: TOO_MANY_ROOT_FIELDS (20 at most), and fewer
    than 100 aliases (the alias limit is checked first)."""
    size = min(16_380, size + (i * 37) % 360)
    parts = [f"query H{i} {{", f"h{i}: __typename"]
    length = sum(len(p) + 1 for p in parts)
    k = 0
    while True:
        sel = ROOT_SELECTIONS[(i + k) % len(ROOT_SELECTIONS)].format(n=1 + (i + k) % 5)
        if k % 17 == 0:
            sel = f"a{k}_{i}: {sel}"  # a few aliases, at most ~60 of them
        sep = SEPARATORS[(i * 7 + k * 3) % len(SEPARATORS)]
        if length + len(sel) + len(sep) + 2 > size:
            break
        parts.append(sep + sel)
        length += len(sel) + len(sep)
        k += 1
    doc = "".join(parts[:2]) + "".join(parts[2:])
    doc += " " * (size - 1 - len(doc)) + "}"
    return doc


def fragment_chain(links):
    parts = [f"{{ ...F{links - 1} }}", "fragment F0 on Query { __typename }"]
    parts += [f"fragment F{k} on Query {{ ...F{k - 1} }}" for k in range(1, links)]
    return "\n".join(parts)


def nested_selection(levels):
    return "{" + " a {" * levels + " __typename" + " }" * levels + " }"


def nested_list_argument(levels):
    return '{ ticket(id: ' + "[" * levels + "]" * levels + ") { id } }"


def nested_variables_body(levels):
    query = "query($v: [String]) { __typename }"
    return ('{"query": %s, "variables": {"v": %s}}' % (json.dumps(query), "[" * levels + "]" * levels)).encode()


def body_of(query):
    return json.dumps({"query": query}).encode()


def twenty_aliases(ticket_id):
    fields = " ".join(f"a{k}: messages(first: {MESSAGES}) {{ nodes {{ content }} }}" for k in range(1, ALIASES + 1))
    return f'{{ ticket(id: "{ticket_id}") {{ {fields} }} }}'


# --------------------------------------------------------------------------------------
# A minimal graphql-transport-ws client (RFC 6455 over a plain socket)


class WebSocket:
    def __init__(self, base, timeout=60):
        host, port = base.split("//", 1)[1].split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        self.sock.sendall(
            (
                f"GET /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
            ).encode()
        )
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise OSError("closed during the handshake")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise OSError(f"handshake refused: {head.splitlines()[0].decode(errors='replace')}")
        self.close_code = None

    def send(self, obj, opcode=0x1):
        payload = json.dumps(obj).encode() if opcode == 0x1 else obj
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        mask = secrets.token_bytes(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 4096 else _mask(payload, mask)
        self.sock.sendall(header + mask + masked)

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise OSError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """The next text message, parsed; None once the server closed."""
        message = b""
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            data = self._read(n)
            if mask:
                data = _mask(data, mask)
            if opcode == 0x8:
                self.close_code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                return None
            if opcode == 0x9:
                self.send(data, opcode=0xA)
                continue
            if opcode == 0xA:
                continue
            message += data
            if b0 & 0x80:
                return json.loads(message)

    def close(self):
        try:
            self.send(struct.pack("!H", 1000), opcode=0x8)
        except OSError:
            pass
        self.sock.close()


def _mask(data, mask):
    n = len(data)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


# --------------------------------------------------------------------------------------
# The server, with its default settings


class Harness:
    def __init__(self, args, cluster, children):
        self.args, self.cluster, self.children = args, cluster, children
        self.starts = 0

    def start(self, name):
        self.starts += 1
        port = R.free_port()
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not (k.startswith("TICKETGATE_") and k != "TICKETGATE_TOKEN_SECRET")}
        log_path = R.WORK / f"hostile-{self.starts:02d}-{name}.log"
        proc = self.children.start(
            name,
            [self.args.binary, "--data-dir", self.cluster.dir, "serve", "--listen", f"127.0.0.1:{port}", "--no-demo"],
            env=env,
            log_path=log_path,
        )
        proc.log_path = log_path
        base = f"http://127.0.0.1:{port}"
        R.wait_until(name, lambda: R.http_json(base + "/readyz")[0] == 200, proc=proc)
        return proc, base

    def measure(self, name, label, prepare, run, late=0, repeats=0):
        """A fresh server; `prepare(base)` (warm-up, not measured) returns a state; then RSS
        before, `run(base, state)` sampled, RSS 2 s after. `run` returns (requests, codes,
        extra). With `late`, RSS again that many seconds after the last answer; with
        `repeats`, the same run again that many times on the same server (peak and RSS 2 s
        after each): memory kept by the allocator levels off, a leak keeps growing."""
        R.log(f"shape {name}: {label}")
        proc, base = self.start(f"tg-{name}")
        try:
            state = prepare(base)
            time.sleep(1.0)
            before = status_kb(proc.pid, "VmRSS")
            hwm_before = status_kb(proc.pid, "VmHWM")
            load = os.getloadavg()[0]
            sampler = RssSampler(proc.pid)
            sampler.start()
            t0 = time.monotonic()
            requests, codes, extra = run(base, state)
            seconds = time.monotonic() - t0
            time.sleep(SETTLE)
            sampler.stop()
            alive = proc.poll() is None
            after = status_kb(proc.pid, "VmRSS") if alive else None
            hwm = status_kb(proc.pid, "VmHWM") if alive else None
            ready = alive and R.http_json(base + "/readyz")[0] == 200
            after_late = None
            if late and alive:
                time.sleep(late - SETTLE)
                after_late = status_kb(proc.pid, "VmRSS")
            again = []
            for _ in range(repeats if alive else 0):
                sampler2 = RssSampler(proc.pid)
                sampler2.start()
                _, codes2, _ = run(base, state)
                time.sleep(SETTLE)
                sampler2.stop()
                alive = proc.poll() is None
                again.append({"codes": dict(codes2), "rss_peak_kb": sampler2.peak_kb, "rss_after_kb": status_kb(proc.pid, "VmRSS") if alive else None})
                if not alive:
                    break
            if again:
                R.log("  again: " + "; ".join(f"{a['codes']} peak {a['rss_peak_kb'] / 1000:.1f} MB, after {(a['rss_after_kb'] or 0) / 1000:.1f}" for a in again))
            log_text = Path(proc.log_path).read_text(errors="replace")
            panics = sum(1 for line in log_text.splitlines() if "panick" in line.lower())
            row = {
                "shape": name,
                "label": label,
                "requests": requests,
                "codes": dict(codes),
                "rss_before_kb": before,
                "rss_peak_kb": sampler.peak_kb,
                "rss_after_kb": after,
                "rss_after_late_kb": after_late,
                "late_s": late or None,
                "repeats": again,
                "vmhwm_before_kb": hwm_before,
                # The kernel's peak RSS since the server started, read 2 s after the shape's
                # last answer (before `late` and `repeats`): it catches what 20 ms sampling
                # may miss.
                "vmhwm_kb": hwm,
                "vmhwm_end_kb": status_kb(proc.pid, "VmHWM") if alive and again else None,
                "growth_peak_kb": sampler.peak_kb - before,
                "growth_after_kb": (after - before) if after is not None else None,
                "seconds": round(seconds, 3),
                "alive_after": alive,
                "ready_after": ready,
                "exit_code": proc.returncode,
                "panics_logged": panics,
                "five_xx": sum(n for c, n in codes.items() if str(c).startswith("5")),
                "loadavg_1m_at_start": round(load, 2),
                "rss_series_kb": sampler.series,
                **extra,
            }
            R.log(
                f"  {requests} requests in {seconds:.2f} s, codes {dict(codes)}; RSS {before / 1000:.1f} MB before, "
                f"{sampler.peak_kb / 1000:.1f} peak, {(after or 0) / 1000:.1f} after; alive {alive}"
            )
            if hasattr(state, "close"):  # a client or a websocket
                state.close()
            return row
        finally:
            self.children.stop(proc)


# --------------------------------------------------------------------------------------
# Setup: a team, its key, a customer, a ticket with 500 messages of 64 KiB


def setup(h: Harness):
    cluster = h.cluster
    cluster.create({})
    cluster.start()
    cluster.tg("seed", "--team", TEAM, "--tickets", 20)
    key = cluster.tg("api-key", "create", "--team", TEAM, "--name", "hostile").stdout.strip()
    token = cluster.tg("customer-token", "create", "--team", TEAM, "--distinct-id", CUSTOMER, "--ttl-seconds", 7200).stdout.strip()
    if not token.startswith("tgc_"):
        R.die(f"no customer token: {token[:40]!r}")
    ticket_id = None
    if set(h.args.shapes) & {2, 3}:
        proc, base = h.start("tg-setup")
        try:
            started = time.monotonic()
            customer = Client(base, token)
            pacer = Pacer(40, 150)  # the customer's rate limit too: 50/s, bursts of 200
            filler = lambda k: (f"message {k:03d} " + "0123456789abcdef" * (MESSAGE_BYTES // 16))[:MESSAGE_BYTES]
            pacer.wait()
            data = must(
                customer.gql(
                    "mutation($m: String!, $d: String!) { createTicket(input: {distinctId: $d, message: $m}) { id } }",
                    {"m": filler(0), "d": CUSTOMER},
                ),
                "createTicket (customer token)",
            )
            ticket_id = data["createTicket"]["id"]
            for k in range(1, MESSAGES):
                pacer.wait()
                must(
                    customer.gql(
                        "mutation($t: UUID!, $c: String!) { sendMessage(ticketId: $t, content: $c) { id } }",
                        {"t": ticket_id, "c": filler(k)},
                    ),
                    f"sendMessage {k} (customer token)",
                )
            customer.close()
            count = cluster.psql(
                f"SELECT count(*), min(octet_length(content)), max(octet_length(content)) FROM messages WHERE ticket_id = '{ticket_id}'"
            )
            R.log(f"ticket {ticket_id}: {MESSAGES} messages written in {time.monotonic() - started:.1f} s (count, min, max bytes: {count})")
        finally:
            h.children.stop(proc)
    return key, token, ticket_id


# --------------------------------------------------------------------------------------
# The shapes


def warm(token):
    def prepare(base):
        c = Client(base, token)
        must(c.gql("{ me { scopes customerDistinctId } }"), "warm-up")
        return c

    return prepare


def shape_root_fields(key, count, offset=0):
    docs = [root_fields_document(offset + i) for i in range(count)]
    assert len(set(docs)) == count and all(len(d) <= 16 * 1024 for d in docs)
    bodies = [body_of(d) for d in docs]

    def run(base, client):
        codes = Counter()
        pacer = Pacer(45, 150)  # under the default 50/s, bursts of 200
        for payload in bodies:
            pacer.wait()
            status, body, _, _ = client.post(payload)
            codes[code_of(status, body)] += 1
        return count, codes, {
            "document_bytes": [min(map(len, docs)), max(map(len, docs))],
            "reconnects": client.reconnects - 1,
        }

    return run


def shape_aliases(token, ticket_id, parallel):
    payload = body_of(twenty_aliases(ticket_id))

    def run(base, client):
        codes, sizes, times = Counter(), [], []
        lock = threading.Lock()
        barrier = threading.Barrier(parallel)

        def one():
            c = Client(base, token)
            barrier.wait()
            t0 = time.monotonic()
            status, body, size, _ = c.post(payload, timeout=600)
            with lock:
                codes[code_of(status, body)] += 1
                sizes.append(size)
                times.append(round(time.monotonic() - t0, 3))
            c.close()

        threads = [threading.Thread(target=one) for _ in range(parallel)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return parallel, codes, {"response_bytes": sizes, "request_seconds": sorted(times), "budget_bytes": DEFAULT_BUDGET}

    return run


def shape_one_request(key, payload_fn, what):
    def prepare(base):
        warm(key)(base).close()
        return payload_fn()

    def run(base, payload):
        t0 = time.monotonic()
        status, body, _ = raw_post(base, key, payload)
        message = None
        if isinstance(body, dict) and body.get("errors"):
            message = body["errors"][0].get("message", "")[:200]
        return 1, Counter([code_of(status, body)]), {
            "body_bytes": len(payload),
            "request_seconds": round(time.monotonic() - t0, 3),
            "message": message,
            "what": what,
        }

    return prepare, run


def shape_websocket(key, count, offset):
    docs = [root_fields_document(offset + i) for i in range(count)]
    assert len(set(docs)) == count

    def prepare(base):
        ws = WebSocket(base)
        ws.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
        ack = ws.recv()
        if not ack or ack.get("type") != "connection_ack":
            R.die(f"websocket: no connection_ack: {ack} (close {ws.close_code})")
        return ws

    def run(base, ws):
        codes = Counter()
        for i, doc in enumerate(docs):
            op = str(i + 1)
            try:
                ws.send({"id": op, "type": "subscribe", "payload": {"query": doc}})
                while True:
                    msg = ws.recv()
                    if msg is None:
                        codes[f"closed {ws.close_code}"] += 1
                        return i + 1, codes, {}
                    if msg.get("type") == "ping":
                        ws.send({"type": "pong"})
                        continue
                    if msg.get("id") != op:
                        continue
                    if msg["type"] == "error":
                        got = sorted({(e.get("extensions") or {}).get("code", "no code") for e in msg.get("payload") or []})
                        codes["ws error " + "+".join(got)] += 1
                        break
                    if msg["type"] == "next":
                        codes[code_of("ws next", msg.get("payload"))] += 1
                    elif msg["type"] == "complete":
                        break
            except OSError as err:
                codes[f"ws {type(err).__name__}"] += 1
                return i + 1, codes, {}
        return count, codes, {"document_bytes": [min(map(len, docs)), max(map(len, docs))]}

    return prepare, run


# --------------------------------------------------------------------------------------
# Output


def mb(kb):
    return "—" if kb is None else f"{kb / 1000:.1f}"


def table(rows):
    lines = [
        "| shape | requests | answer codes | RSS before (MB) | peak (MB) | VmHWM (MB) | after 2 s (MB) | time (s) |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        codes = ", ".join(f"{c} ×{n}" if n > 1 else c for c, n in r["codes"].items())
        lines.append(
            f"| {r['shape']}: {r['label']} | {r['requests']:,} | {codes} | {mb(r['rss_before_kb'])} | "
            f"{mb(r['rss_peak_kb'])} | {mb(r['vmhwm_kb'])} | {mb(r['rss_after_kb'])} | {r['seconds']:.2f} |"
        )
    return "\n".join(lines)


def verdicts(rows):
    out = []
    by = {r["shape"]: r for r in rows}
    if "1" in by:
        g = by["1"]["growth_peak_kb"] / 1000
        out.append(f"shape 1: RSS grew {g:.1f} MB at peak (target < 100 MB): {'holds' if g < 100 else 'does NOT hold'}")
    for s in ("2", "3"):
        if s in by:
            r = by[s]
            g = (max(r["rss_peak_kb"], r["vmhwm_kb"] or 0) - r["rss_before_kb"]) * 1000
            out.append(
                f"shape {s}: RSS grew {g / MB:.1f} MB at peak (VmHWM) vs the {DEFAULT_BUDGET / MB:.1f} MB response budget: "
                f"{'within' if g <= DEFAULT_BUDGET else 'PAST'} the budget"
            )
    for r in rows:
        if r.get("rss_after_late_kb") is not None:
            out.append(f"shape {r['shape']}: RSS {r['late_s']} s after its last answer: {mb(r['rss_after_late_kb'])} MB (before: {mb(r['rss_before_kb'])} MB)")
        if r.get("repeats"):
            runs = "; ".join(f"peak {mb(a['rss_peak_kb'])}, after {mb(a['rss_after_kb'])}" for a in r["repeats"])
            out.append(f"shape {r['shape']}: the same again {len(r['repeats'])} times on that server (MB): {runs}")
    for r in rows:
        if not r["alive_after"] or not r["ready_after"] or r["five_xx"] or r["panics_logged"]:
            out.append(f"shape {r['shape']}: alive {r['alive_after']}, ready {r['ready_after']}, 5xx {r['five_xx']}, panics logged {r['panics_logged']}")
    return out


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", type=Path, default=R.ROOT / "target" / "release" / "ticketgate", help="the ticketgate release build (default target/release/ticketgate)")
    p.add_argument("--shapes", default="1,2,3,4,5", help="which shapes (default 1,2,3,4,5)")
    p.add_argument("--data-dir", type=Path, default=None, help="where the cluster lives (default bench/.work/hostile-data; recreated)")
    args = p.parse_args()
    args.shapes = [int(s) for s in args.shapes.split(",") if s.strip()]
    args.binary = args.binary.resolve()
    if not os.access(args.binary, os.X_OK):
        p.error(f"{args.binary}: not an executable (build it with `cargo build --release`)")
    return args


def main():
    args = parse_args()
    R.TICKETGATE = args.binary  # the Cluster helper runs this binary
    R.WORK.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_dir = R.RESULTS / f"hostile-{stamp}"
    run_dir.mkdir(parents=True)
    R._log_file = open(run_dir / "run.log", "w")
    os.environ.setdefault("TICKETGATE_TOKEN_SECRET", secrets.token_urlsafe(48))
    children = R.Children()
    cluster = R.Cluster(args.data_dir or R.WORK / "hostile-data", children)
    h = Harness(args, cluster, children)
    results = {
        "meta": {
            "started_at": stamp,
            "binary": str(args.binary),
            "binary_mtime": datetime.fromtimestamp(args.binary.stat().st_mtime, timezone.utc).isoformat(),
            "settings": "ticketgate's defaults (TICKETGATE_TOKEN_SECRET set; no other TICKETGATE_* variable)",
            "cpus": os.cpu_count(),
            "mem_total_kb": status_meminfo(),
            "loadavg_at_start": os.getloadavg(),
            "sample_every_s": SAMPLE_EVERY,
            "settle_s": SETTLE,
        },
        "rows": [],
    }

    def save():
        (run_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))

    try:
        key, token, ticket_id = setup(h)
        results["meta"]["ticket_messages"] = {"count": MESSAGES, "bytes_each": MESSAGE_BYTES} if ticket_id else None
        rows = results["rows"]
        if 1 in args.shapes:
            rows.append(h.measure("1", "1,100 distinct ~16 KB docs, TOO_MANY_ROOT_FIELDS, keep-alive, team key", warm(key), shape_root_fields(key, 1100), late=30))
            save()
        if 2 in args.shapes:
            rows.append(h.measure("2", f"20-alias query ({MESSAGES} × 64 KiB messages), customer token", warm(token), shape_aliases(token, ticket_id, 1), late=30, repeats=3))
            save()
        if 3 in args.shapes:
            rows.append(h.measure("3", "6 × the 20-alias query at once, team key", warm(key), shape_aliases(key, ticket_id, 6), late=30, repeats=3))
            save()
        if 4 in args.shapes:
            cases = [
                ("4a", "fragment chain, 100,000 links", lambda: body_of(fragment_chain(100_000))),
                ("4b", "fragment chain, 6,000 links (under the token limit)", lambda: body_of(fragment_chain(6_000))),
                ("4c", "nested selections, 100,000 levels", lambda: body_of(nested_selection(100_000))),
                ("4d", "nested selections, 16,000 levels (under the token limit)", lambda: body_of(nested_selection(16_000))),
                ("4e", "nested lists in an argument, 100,000 levels", lambda: body_of(nested_list_argument(100_000))),
                ("4f", "nested lists in an argument, 24,000 levels (under the token limit)", lambda: body_of(nested_list_argument(24_000))),
                ("4g", "nested lists in the JSON variables, 100,000 levels", lambda: nested_variables_body(100_000)),
            ]
            for sid, label, payload in cases:
                # The one that grows RSS visibly (a parsed chain): is it given back, and kept
                # level when sent again?
                more = {"late": 30, "repeats": 3} if sid == "4b" else {}
                rows.append(h.measure(sid, label, *shape_one_request(key, payload, label), **more))
                save()
        if 5 in args.shapes:
            prepare, run = shape_websocket(key, 1000, offset=100_000)
            rows.append(h.measure("5", "1,000 distinct ~16 KB docs over one graphql-transport-ws socket, team key", prepare, run))
            save()
        results["meta"]["loadavg_at_end"] = os.getloadavg()
        results["verdicts"] = verdicts(rows)
        save()
        print(table(rows))
        print()
        for line in results["verdicts"]:
            print("- " + line)
        R.log(f"results: {run_dir}/results.json")
    except KeyboardInterrupt:
        R.log("interrupted")
        raise SystemExit(130)
    finally:
        save()
        children.stop_all()
        try:
            cluster.stop()
        except SystemExit:
            pass


def status_meminfo():
    with open("/proc/meminfo") as f:
        return int(f.readline().split()[1])


if __name__ == "__main__":
    main()
