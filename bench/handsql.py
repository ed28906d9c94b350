"""The hand-written SQL baseline: what a skilled engineer would write for each response.

bench/handsql/s<N>-<name>.sql are pgbench scripts, one per read scenario, written by hand
for exactly the response the GraphQL request asks for (only the columns it shows, the
related rows batched or joined in, run with pgbench -M prepared). Their parameters come in
as pgbench variables (-D): `team`, `n` (scenario 3's ticket number), `pattern` (scenario
4's `%term%`), `after_updated_at` and `after_id` (scenario 10's starting row).

Before bench/run.py loads one, `check` runs it once through psql, statement by statement
as pgbench would (a statement ending in `\\gset` keeps its one row's columns as variables
for the next ones), and `normalise` turns its rows into the shape bench/scenarios.py gives
ticketgate's answer, so run.py can compare the two and stop when they differ.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import scenarios as sc

DIR = Path(__file__).resolve().parent / "handsql"

# Scenario id -> script.
SCRIPTS = {
    1: "s1-inbox.sql",
    2: "s2-filtered.sql",
    3: "s3-one-ticket.sql",
    4: "s4-search.sql",
    9: "s9-dashboard.sql",
    10: "s10-deep-page.sql",
}

VARIABLE = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def like_pattern(text: str) -> str:
    """`%text%` for ILIKE, the user's own `%`, `_` and `\\` taken literally (as ticketgate)."""
    return "%" + re.sub(r"([%_\\])", r"\\\1", text) + "%"


def script_path(sid: int) -> Path | None:
    name = SCRIPTS.get(sid)
    return DIR / name if name else None


def variables(ctx: dict, sid: int) -> dict:
    """The pgbench -D variables of scenario `sid`'s script."""
    out = {"team": ctx["team_id"]}
    if sid == 3:
        out["n"] = str(ctx["ticket_number"])
    if sid == 4:
        out["pattern"] = like_pattern(ctx["search"])
    if sid == 10:
        out["after_updated_at"] = ctx["deep"]["after_updated_at"]
        out["after_id"] = ctx["deep"]["after_id"]
    return out


def statements(path: Path) -> list[tuple[str, bool]]:
    """[(sql, gset)]: the script's SQL commands as pgbench splits them (a command ends at
    `;` or at `\\gset`), comments and blank lines left out."""
    out, current = [], []
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        if stripped.startswith("\\"):
            raise ValueError(f"{path.name}: meta-commands other than \\gset are not supported: {line}")
        current.append(line)
        if stripped.endswith("\\gset"):
            current[-1] = line.rstrip()[: -len("\\gset")]
            out.append(("\n".join(current).strip(), True))
            current = []
        elif stripped.endswith(";"):
            out.append(("\n".join(current).strip().rstrip(";"), False))
            current = []
    if current:
        raise ValueError(f"{path.name}: the last command has no `;`")
    return out


def _literal(value) -> str:
    return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"


def run_once(psql, path: Path, values: dict) -> list[list[dict]]:
    """Runs the script once, as pgbench would, through `psql(sql) -> stdout`; returns each
    statement's rows (as JSON objects). Variables become quoted literals, as pgbench's
    untyped parameters are."""
    values = dict(values)
    results = []
    for sql, gset in statements(path):
        def repl(m):
            name = m.group(1)
            if name not in values:
                raise ValueError(f"{path.name}: no value for :{name}")
            return _literal(values[name])

        bound = VARIABLE.sub(repl, sql)
        out = psql(f"SELECT coalesce(json_agg(r), '[]') FROM ({bound}) AS r")
        rows = json.loads(out)
        if gset:
            if len(rows) != 1:
                raise ValueError(f"{path.name}: a \\gset statement returned {len(rows)} rows")
            for k, v in rows[0].items():
                values[k] = v
        results.append(rows)
    return results


def _message(m, ts):
    return (m["id"], m["content"], sc._upper(m["author_type"]), m["is_private"], ts(m["created_at"]))


def _ticket(row, ts, with_related=True, id_column="id"):
    out = {
        "id": row[id_column],
        "number": row["ticket_number"],
        "status": sc._upper(row["status"]),
        "priority": sc._upper(row["priority"]),
        "channel": sc._upper(row["channel_source"]),
        "distinctId": row["distinct_id"],
        "createdAt": ts(row["created_at"]),
        "updatedAt": ts(row["updated_at"]),
        "messageCount": row["message_count"],
        "lastMessageAt": ts(row["last_message_at"]),
        "lastMessageText": row["last_message_text"],
        "unreadTeamCount": row["unread_team_count"],
    }
    if with_related:
        out["person"] = row["person_name"]
        out["assignee"] = row["assignee_email"]
        if "tags" in row:
            out["tags"] = sorted(row["tags"] or [])
        if "messages" in row:
            out["messages"] = [_message(m, ts) for m in row["messages"] or []]
    return out


def normalise(sid: int, results: list[list[dict]], ts, page_size=50, last=20):
    """The script's rows in the shape of bench/scenarios.py's normalised ticketgate answer.
    `ts`: scenarios' timestamp parser."""
    if sid == 3:
        ticket, messages = results
        out = _ticket(ticket[0], ts, with_related=False, id_column="tid")
        shown = list(reversed(messages[:last]))
        out["messages"] = [_message(m, ts) for m in shown]
        out["hasPreviousPage"] = len(messages) > last
        return out
    rows = results[-1]
    return {
        "rows": [_ticket(r, ts) for r in rows[:page_size]],
        "hasNextPage": len(rows) > page_size,
    }
