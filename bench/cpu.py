#!/usr/bin/env python3
"""Instructions ticketgate executes per request, counted by valgrind's callgrind.

    python3 bench/cpu.py                       # scenario 1 (inbox page), 100 vs 400 requests
    python3 bench/cpu.py --scenario 3 --binary /tmp/ticketgate-before
    python3 bench/cpu.py --annotate 40         # also the 40 costliest functions (inclusive)

req/s on two shared cores moves with everything else on the machine; the instructions a
request costs do not. The harness runs ticketgate twice under callgrind on the cluster
bench/run.py left in bench/.work (run that first: it seeds), sends the same request one
at a time — `--small` times in the first run, `--large` times in the second — and divides
the difference of the two totals by the difference of the counts. Start-up, warm-up and
shut-down are the same in both runs and cancel out; every thread counts (actix workers,
the blocking pool, tokio's timers). PostgreSQL is not counted: run.py reports its CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as rb  # noqa: E402
import scenarios as sc  # noqa: E402

WARMUP = 20


def count(binary, cluster, key, body, requests, out_file):
    """Total instructions of one ticketgate process that answers `WARMUP + requests` requests."""
    port = rb.free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(TICKETGATE_RATE_LIMIT_PER_SECOND="0", TICKETGATE_LOG="warn")
    cmd = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
        str(binary), "--data-dir", str(cluster.dir), "serve", "--listen", f"127.0.0.1:{port}", "--no-demo",
    ]
    log_path = out_file.with_suffix(".log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        rb.wait_until("ticketgate under callgrind", lambda: rb.http_json(base + "/readyz")[0] == 200, timeout=300, proc=proc)
        for _ in range(WARMUP + requests):
            rb.gql(base + "/graphql", body, key)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=300)
    text = log_path.read_text(errors="replace")
    found = re.search(r"Collected : (\d+)", text)
    if not found:
        rb.die(f"callgrind reported no total; see {log_path}")
    return int(found.group(1))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", type=Path, default=rb.TICKETGATE, help="ticketgate to measure (default target/release/ticketgate)")
    p.add_argument("--scenario", type=int, default=1, help="read scenario of bench/scenarios.py (default 1, the inbox page)")
    p.add_argument("--small", type=int, default=100, help="requests of the first run (default 100)")
    p.add_argument("--large", type=int, default=400, help="requests of the second run (default 400)")
    p.add_argument("--data-dir", type=Path, default=rb.WORK / "data", help="the cluster bench/run.py seeded")
    p.add_argument("--annotate", type=int, default=0, metavar="N", help="print the N costliest functions (inclusive) of the second run")
    args = p.parse_args()
    if not shutil.which("valgrind"):
        rb.die("bench/cpu.py needs valgrind (Debian: apt-get install valgrind)")
    if not (args.data_dir / "pgdata").exists():
        rb.die(f"no cluster in {args.data_dir}: run bench/run.py first (it seeds one)")
    rb.WORK.mkdir(parents=True, exist_ok=True)
    children = rb.Children()
    cluster = rb.Cluster(args.data_dir, children)
    cluster.start()
    try:
        key = cluster.tg("api-key", "create", "--team", rb.BENCH_TEAM, "--name", "cpu").stdout.strip()
        team = cluster.psql(f"SELECT id FROM teams WHERE slug = '{rb.BENCH_TEAM}'")
        number = int(cluster.psql(f"SELECT min(ticket_number) FROM tickets WHERE team_id = '{team}'"))
        ctx = {"team_id": team, "ticket_number": number, "search": "webhook"}
        scenario = {s["id"]: s for s in sc.read_scenarios(ctx)}.get(args.scenario)
        if scenario is None:
            rb.die(f"no read scenario {args.scenario}")
        body = scenario["ticketgate"]
        runs = {}
        for n in (args.small, args.large):
            out = rb.WORK / f"callgrind-s{args.scenario}-{n}.out"
            started = time.monotonic()
            runs[n] = count(args.binary, cluster, key, body, n, out)
            rb.log(f"  {n + WARMUP} requests: {runs[n]:,} instructions ({time.monotonic() - started:.0f} s)")
        per_request = (runs[args.large] - runs[args.small]) / (args.large - args.small)
        result = {
            "scenario": scenario["name"],
            "binary": str(args.binary),
            "requests": [args.small, args.large],
            "instructions": runs,
            "instructions_per_request": round(per_request),
        }
        print(json.dumps(result, indent=1))
        rb.log(f"scenario {args.scenario} ({scenario['name']}): {per_request / 1e6:.2f} M instructions per request")
        if args.annotate:
            out = rb.WORK / f"callgrind-s{args.scenario}-{args.large}.out"
            text = subprocess.run(
                ["callgrind_annotate", "--inclusive=yes", f"--threshold=100", str(out)],
                capture_output=True, text=True, check=True,
            ).stdout
            lines = [line for line in text.splitlines() if re.match(r"^\s*[\d,]+ \(", line)]
            print("\n".join(lines[: args.annotate]))
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
