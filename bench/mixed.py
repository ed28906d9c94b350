"""Scenario 11 of bench/run.py: a mixed load with live subscribers.

90 % inbox page reads (scenario 1's request) and 10 % `sendMessage` (scenario 5's
mutation) on `--mixed-tickets` tickets, chosen per request by bench/wrk/mixed.lua, while
`--mixed-subscribers` websocket clients (bench/ws/mixed.mjs, graphql-transport-ws) are
subscribed to `messageAdded` of those same tickets, spread evenly over them: every write
must reach each subscriber of its ticket.

Measured per round: req/s overall and split reads/writes, p50/p99 of the reads and of the
writes (apart: one wrk connection per thread, see mixed.lua), and for ticketgate the
delivery latency p50/p99 from the start of the sendMessage request (and, as a second
figure, from the message's createdAt), with delivered/expected counts. Expected: the
writes committed in the round (counted in the database by their content, whatever wrk
saw) times their ticket's subscribers.

PostGraphile gets the same read/write mix without subscribers: as bench/postgraphile is
set up (no websockets, `pubsub: false`, and no `messageAdded` field in its schema) it
cannot deliver them. Its rounds say so in the results.

`rt` is bench/run.py's module (its helpers: log, run, Children, gql, …): run.py imports
this module, not the other way round.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import scenarios as sc

MIXED_LUA = "mixed.lua"
MIXED_NODE = "mixed.mjs"
PGL_NOTE = (
    "PostGraphile ran the same read/write mix WITHOUT subscribers: bench/postgraphile has no "
    "websockets (grafserv websockets: false, pubsub: false) and no messageAdded subscription, "
    "so it cannot deliver them as set up."
)


def run_mixed_wrk(rt, url, read_body, write_body, ids_file, args, key, label, duration):
    """One wrk run of the mix; the figures of run_wrk plus reads/writes apart."""
    work = rt.WORK
    read_file, write_file = work / "mixed-read.json", work / "mixed-write.json"
    read_file.write_text(json.dumps(read_body))
    write_file.write_text(json.dumps(write_body))
    env = dict(
        os.environ,
        WRK_READ_BODY=str(read_file),
        WRK_WRITE_BODY=str(write_file),
        WRK_IDS=str(ids_file),
        WRK_WRITE_SHARE=str(args.mixed_write_share),
        WRK_LABEL=label,
        WRK_AUTH=f"Bearer {key}" if key else "",
    )
    # One connection per thread: the script matches each response to its request.
    c = str(args.connections)
    cmd = [
        "wrk", "-t", c, "-c", c, "-d", f"{duration}s", "--timeout", "10s",
        "-s", rt.BENCH / "wrk" / MIXED_LUA, url,
    ]
    out = rt.run(cmd, env=env, capture=True, quiet=True)
    line = next((l for l in out.stdout.splitlines() if l.startswith("WRK_MIXED_JSON ")), None)
    if not line:
        rt.die(f"wrk printed no summary:\n{out.stdout}\n{out.stderr}")
    s = json.loads(line[len("WRK_MIXED_JSON "):])
    secs = s["duration_us"] / 1e6
    reads, writes = s["reads"], s["writes"]

    def ms(x):
        return x / 1000 if x is not None else None

    def kind(k):
        """One kind of request (reads or writes) as wrk/mixed.lua counted it."""
        return {
            "ok": k["ok"], "failed": k["failed"], "rps": k["ok"] / secs if secs else 0,
            **{f"{p}_ms": ms(k[f"{p}_us"]) for p in ("p50", "p90", "p99", "mean", "max")},
        }

    return {
        "label": label,
        "requests": s["requests"],
        "seconds": round(secs, 3),
        "rps": s["requests"] / secs if secs else 0,
        # wrk's own histogram, both kinds together
        "p50_ms": ms(s["latency_us"]["p50"]),
        "p99_ms": ms(s["latency_us"]["p99"]),
        "mean_ms": ms(s["latency_us"]["mean"]),
        "max_ms": ms(s["latency_us"]["max"]),
        "errors": sum(s["errors"].values()) + reads["failed"] + writes["failed"],
        "error_detail": s["errors"],
        "reads": kind(reads),
        "writes": kind(writes),
        "writes_by_ticket": s["writes_by_ticket"],
    }


class Subscribers:
    """bench/ws/mixed.mjs, started before the load and asked for its figures after."""

    def __init__(self, rt, children, ws_url, http_url, key, tickets, n):
        self.rt = rt
        env = dict(
            os.environ, WS_URL=ws_url, HTTP_URL=http_url, KEY=key,
            TICKET_IDS=",".join(tickets), SUBSCRIBERS=str(n),
        )
        self.children = children
        self.proc = children.start(
            "mixed subscribers", [rt.NODE22, rt.BENCH / "ws" / MIXED_NODE], env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, log_path=rt.WORK / "mixed-subscribers.log",
        )
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").strip())

    def _line(self, prefix):
        for line in self.lines:
            if line.startswith(prefix):
                return json.loads(line[len(prefix):])
        return None

    def wait_ready(self, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = self._line("MIXED_READY ")
            if ready:
                return ready
            failed = self._line("MIXED_FAILED ")
            if failed or self.proc.poll() is not None:
                time.sleep(0.5)
                self.children.stop(self.proc)
                self.rt.die(f"scenario 11: the subscribers did not get ready: {failed or self.lines[-5:]}")
            time.sleep(0.2)
        self.children.stop(self.proc)
        self.rt.die("scenario 11: the subscribers did not get ready in time")

    def finish(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.3)
        self.children.stop(self.proc)
        summary = self._line("MIXED_JSON ")
        if summary is None:
            self.rt.die(f"scenario 11: the subscribers printed no figures: {self.lines[-5:]}")
        return summary


def committed(rt, cluster, tickets, label):
    """Messages the round's writes committed, per ticket, counted in the database."""
    ids = ",".join(f"'{t}'" for t in tickets)
    out = cluster.psql(
        f"SELECT ticket_id, count(*) FROM messages WHERE ticket_id IN ({ids}) "
        f"AND content LIKE '%(bench {label}/%' GROUP BY 1"
    )
    counts = {}
    for line in out.splitlines():
        if line:
            t, n = line.split("|")
            counts[t] = int(n)
    return counts


def scenario(rt, bench, key):
    args = bench.args
    ctx = bench.ctx
    n_tickets = args.mixed_tickets
    n_subs = args.mixed_subscribers
    # Tickets scenarios 3, 6 and 7 do not use (they are the first of the 1,000 of scenario 5).
    tickets = ctx["send_ids"][100:100 + n_tickets]
    if len(tickets) < n_tickets:
        rt.die(f"scenario 11: only {len(tickets)} tickets to write to (--mixed-tickets {n_tickets})")
    per_ticket = {t: 0 for t in tickets}
    for i in range(n_subs):
        per_ticket[tickets[i % n_tickets]] += 1
    ids_file = rt.WORK / "mixed-ticket-ids.txt"
    ids_file.write_text("\n".join(tickets) + "\n")

    inbox = next(s for s in sc.read_scenarios(ctx) if s["id"] == 1)
    send = sc.send_scenario()
    bodies = {
        "ticketgate": (inbox["ticketgate"], send["ticketgate"], key, bench.tg_url),
        "postgraphile": (inbox["postgraphile"], send["postgraphile"], None, bench.pgl_url),
    }
    targets = [t for t in ("ticketgate", "postgraphile") if t in args.targets]
    share = args.mixed_write_share
    out = {
        "id": 11,
        "name": "mixed",
        "title": (
            f"mixed: {100 - share * 100:.0f} % inbox page reads, {share * 100:.0f} % sendMessage on "
            f"{n_tickets} tickets, {n_subs} live messageAdded subscribers on them (ticketgate)"
        ),
        "write_share": share,
        "tickets": n_tickets,
        "subscribers": n_subs,
        "subscribers_per_ticket": sorted(set(per_ticket.values())),
        "connections": args.connections,
        "delivery_latency_from": "the start of the sendMessage request (wrk's clock, CLOCK_MONOTONIC, carried in the content)",
        "requests": {t: {"read": bodies[t][0], "write": bodies[t][1]} for t in targets},
        "notes": [],
    }
    if "postgraphile" in targets:
        out["notes"].append(PGL_NOTE)

    # Both answer both requests (a check write goes to a ticket of the mix, before the
    # subscribers are there).
    for t in targets:
        read, write, k, url = bodies[t]
        rt.gql(url, read, k)
        w = json.loads(json.dumps(write).replace("__ID__", tickets[0]).replace("__N__", "mixed check"))
        rt.gql(url, w, k)

    subs = None
    if "ticketgate" in targets:
        ws_url = bench.tg_url.replace("http://", "ws://")
        subs = Subscribers(rt, bench.children, ws_url, bench.tg_url, key, tickets, n_subs)
        ready = subs.wait_ready()
        out["connect_ms"], out["warm_up_ms"] = ready["connectMs"], ready["warmUpMs"]
        rt.log(f"  {n_subs} subscribers on {n_tickets} tickets, all live ({ready['connectMs']} ms to connect, "
               f"{ready['warmUpMs']} ms of warm-up messages)")

    stamp = time.strftime("%H%M%S")

    def runner(t, label, duration):
        read, write, k, url = bodies[t]
        return run_mixed_wrk(rt, url, read, write, ids_file, args, k, label, duration)

    try:
        if args.warmup:
            for t in targets:
                runner(t, f"mx{stamp}-{t}-warmup", args.warmup)
        rounds = {t: [] for t in targets}
        for r in range(args.rounds):
            for t in targets:
                label = f"mx{stamp}-{t}-{r + 1}"
                sub_cpu = rt.tree_cpu_seconds(subs.proc.pid) if subs is not None else 0.0
                res = bench.measure(f"mixed #{r + 1}", t, lambda t=t, label=label: runner(t, label, args.duration))
                if subs is not None:
                    # The subscribers' process is ours, not "other processes".
                    sub_cpu = rt.tree_cpu_seconds(subs.proc.pid) - sub_cpu
                    other = res["cpu_other_s"]
                    res["cpu_subscribers_s"] = round(sub_cpu, 2)
                    res["cpu_other_s"] = round(max(other - sub_cpu, 0.0), 2)
                    if other > 0:
                        res["other_share_of_machine"] = round(res["other_share_of_machine"] * res["cpu_other_s"] / other, 3)
                rt.log(
                    f"    reads {res['reads']['rps']:.1f}/s p50 {rt.fmt(res['reads']['p50_ms'], 2)} "
                    f"p99 {rt.fmt(res['reads']['p99_ms'], 2)} ms; writes {res['writes']['rps']:.1f}/s "
                    f"p50 {rt.fmt(res['writes']['p50_ms'], 2)} p99 {rt.fmt(res['writes']['p99_ms'], 2)} ms"
                )
                rounds[t].append(res)
                if subs is not None:
                    time.sleep(2)  # deliveries of the round's last writes
    finally:
        summary = subs.finish() if subs is not None else None

    out["subscriber_errors"] = summary["errors"] if summary else None
    out["subscriber_first_errors"] = summary["firstErrors"] if summary else None
    out["subscribers_closed_early"] = summary["closedEarly"] if summary else None
    out["subscriber_client_cpu_share"] = summary["clientCpuShare"] if summary else None
    labels = summary["labels"] if summary else {}
    for t in targets:
        for res in rounds[t]:
            label = res["label"]
            counts = committed(rt, bench.cluster, tickets, label)
            res["committed_writes"] = sum(counts.values())
            got = labels.get(label)
            if t == "ticketgate":
                expected = sum(n * per_ticket[tid] for tid, n in counts.items())
                got = got or {"deliveries": 0, "duplicates": 0, "outOfOrder": 0, "messages": 0, "seenBy": {}}
                res["delivery"] = {
                    "expected": expected,
                    "delivered": got["deliveries"],
                    "lost": expected - got["deliveries"],
                    "duplicates": got["duplicates"],
                    "out_of_order": got["outOfOrder"],
                    "messages_seen": got["messages"],
                    "messages_never_seen": res["committed_writes"] - got["messages"],
                    "seen_by": got["seenBy"],
                    "from_request_ms": got.get("fromRequest"),
                    "from_created_at_ms": got.get("fromCreatedAt"),
                }
                d = res["delivery"]
                fr = d["from_request_ms"] or {}
                rt.log(
                    f"  ticketgate round {label}: delivered {d['delivered']}/{expected} "
                    f"(lost {d['lost']}, duplicates {d['duplicates']}), delivery p50 {fr.get('p50')} ms "
                    f"p99 {fr.get('p99')} ms from the request's start"
                )
            elif subs is not None:
                # PostGraphile's writes NOTIFY a channel of their own: ticketgate's
                # subscribers should not hear them (if they did, ticketgate worked during
                # PostGraphile's round).
                res["heard_by_ticketgate_subscribers"] = got["deliveries"] if got else 0

    out["runs"] = {}
    for t in targets:
        rs = rounds[t]
        agg = {
            "rps": rt.mean(x["rps"] for x in rs),
            "p50_ms": rt.mean(x["p50_ms"] for x in rs),
            "p99_ms": rt.mean(x["p99_ms"] for x in rs),
            "reads_rps": rt.mean(x["reads"]["rps"] for x in rs),
            "reads_p50_ms": rt.mean(x["reads"]["p50_ms"] for x in rs),
            "reads_p99_ms": rt.mean(x["reads"]["p99_ms"] for x in rs),
            "writes_rps": rt.mean(x["writes"]["rps"] for x in rs),
            "writes_p50_ms": rt.mean(x["writes"]["p50_ms"] for x in rs),
            "writes_p99_ms": rt.mean(x["writes"]["p99_ms"] for x in rs),
            "errors": sum(x["errors"] for x in rs),
            "other_share_of_machine": max((x.get("other_share_of_machine") or 0) for x in rs),
            "subscribers": n_subs if t == "ticketgate" else 0,
            "rounds": rs,
        }
        if t == "ticketgate":
            ds = [x["delivery"] for x in rs]
            agg["delivery_p50_ms"] = rt.mean((d["from_request_ms"] or {}).get("p50") for d in ds)
            agg["delivery_p99_ms"] = rt.mean((d["from_request_ms"] or {}).get("p99") for d in ds)
            agg["delivery_from_created_at_p50_ms"] = rt.mean((d["from_created_at_ms"] or {}).get("p50") for d in ds)
            agg["delivery_from_created_at_p99_ms"] = rt.mean((d["from_created_at_ms"] or {}).get("p99") for d in ds)
            agg["delivered"] = sum(d["delivered"] for d in ds)
            agg["expected"] = sum(d["expected"] for d in ds)
            agg["lost"] = sum(d["lost"] for d in ds)
            agg["duplicates"] = sum(d["duplicates"] for d in ds)
            agg["out_of_order"] = sum(d["out_of_order"] for d in ds)
        out["runs"][t] = agg
    return out


def markdown(s, fmt):
    """Scenario 11's lines for bench/run.py's results.md."""
    lines = ["", f"**11. Mixed load**: {s['title']}; {s['connections']} connections (one per wrk thread).", ""]
    lines += [
        "| | req/s | reads/s | read p50 / p99 ms | writes/s | write p50 / p99 ms | delivery p50 / p99 ms | delivered |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    names = {"ticketgate": "ticketgate", "postgraphile": "PostGraphile (no subscribers)"}
    for t, x in s.get("runs", {}).items():
        if t == "ticketgate":
            delivery = f"{fmt(x['delivery_p50_ms'], 2)} / {fmt(x['delivery_p99_ms'], 2)}"
            delivered = f"{x['delivered']:,}/{x['expected']:,}" + (f" ({x['lost']:,} lost)" if x["lost"] else "")
        else:
            delivery, delivered = "–", "–"
        lines.append(
            f"| {names.get(t, t)} | {fmt(x['rps'], 0)} | {fmt(x['reads_rps'], 0)} "
            f"| {fmt(x['reads_p50_ms'], 2)} / {fmt(x['reads_p99_ms'], 2)} | {fmt(x['writes_rps'], 0)} "
            f"| {fmt(x['writes_p50_ms'], 2)} / {fmt(x['writes_p99_ms'], 2)} | {delivery} | {delivered} |"
        )
    lines.append(
        f"\nDelivery latency: from the start of the `sendMessage` request to each subscriber's receipt "
        f"(`bench/ws/mixed.mjs`, one Node process on the same machine, "
        f"{fmt((s.get('subscriber_client_cpu_share') or 0) * 100, 0)} % of a core over the scenario); "
        f"expected deliveries: the writes committed in the round (counted in the database) times "
        f"their ticket's subscribers."
        + "".join(f" {n}" for n in s.get("notes", []))
    )
    return lines
