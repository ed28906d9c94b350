"""The benchmark's requests: the same logical query for ticketgate and PostGraphile.

Each read scenario builds the two GraphQL requests (query + variables) from the context
bench/run.py found in the database (team id, a ticket number, a search term), and knows
how to reduce both answers to the same plain shape, so run.py can check that the two
servers really answer the same thing before loading them.
"""

# The 12 scalar fields of a ticket row in the inbox, as each server names them.
TG_TICKET = (
    "id ticketNumber status priority channelSource distinctId createdAt updatedAt "
    "messageCount lastMessageAt lastMessageText unreadTeamCount"
)
PGL_TICKET = (
    "rowId ticketNumber status priority channelSource distinctId createdAt updatedAt "
    "messageCount lastMessageAt lastMessageText unreadTeamCount"
)
# Plus the customer's name, the assignee's email and the tags.
TG_ROW = TG_TICKET + " person { name } assignee { user { email } } tags"
PGL_ROW = (
    PGL_TICKET
    + " person { displayName }"
    + " ticketAssignmentByTicketId { userByUserId { email } }"
    + " ticketTagsByTicketId { nodes { tagByTagId { name } } }"
)

TG_PAGE = "edges { cursor node { %s } } pageInfo { hasNextPage endCursor }" % TG_ROW
PGL_PAGE = "edges { cursor node { %s } } pageInfo { hasNextPage endCursor }" % PGL_ROW


def _upper(value):
    return value.upper() if isinstance(value, str) else value


def _ts(value):
    """Timestamps as both servers print them ("+00:00" vs "Z", trailing zeros)."""
    if value is None:
        return None
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def norm_tg_ticket(node):
    out = {
        "id": node["id"],
        "number": node["ticketNumber"],
        "status": node["status"],
        "priority": node["priority"],
        "channel": node["channelSource"],
        "distinctId": node["distinctId"],
        "createdAt": _ts(node["createdAt"]),
        "updatedAt": _ts(node["updatedAt"]),
        "messageCount": node["messageCount"],
        "lastMessageAt": _ts(node["lastMessageAt"]),
        "lastMessageText": node["lastMessageText"],
        "unreadTeamCount": node["unreadTeamCount"],
    }
    if "tags" in node:
        out["person"] = (node["person"] or {}).get("name")
        out["assignee"] = ((node["assignee"] or {}).get("user") or {}).get("email")
        out["tags"] = sorted(node["tags"])
    return out


def norm_pgl_ticket(node):
    out = {
        "id": node["rowId"],
        "number": node["ticketNumber"],
        "status": _upper(node["status"]),
        "priority": _upper(node["priority"]),
        "channel": _upper(node["channelSource"]),
        "distinctId": node["distinctId"],
        "createdAt": _ts(node["createdAt"]),
        "updatedAt": _ts(node["updatedAt"]),
        "messageCount": node["messageCount"],
        "lastMessageAt": _ts(node["lastMessageAt"]),
        "lastMessageText": node["lastMessageText"],
        "unreadTeamCount": node["unreadTeamCount"],
    }
    if "ticketTagsByTicketId" in node:
        out["person"] = (node["person"] or {}).get("displayName")
        out["assignee"] = ((node["ticketAssignmentByTicketId"] or {}).get("userByUserId") or {}).get(
            "email"
        )
        out["tags"] = sorted(n["tagByTagId"]["name"] for n in node["ticketTagsByTicketId"]["nodes"])
    return out


def norm_page(connection, norm):
    return {
        "rows": [norm(e["node"]) for e in connection["edges"]],
        "hasNextPage": connection["pageInfo"]["hasNextPage"],
    }


# Scenario 9: the dashboard's row, a ticket with its person, assignee and last 3 messages.
MSG_TG = "id content authorType isPrivate createdAt"
MSG_PGL = "rowId content authorType isPrivate createdAt"
TG_DASH_ROW = TG_TICKET + " person { name } assignee { user { email } } messages(last: 3) { edges { cursor node { %s } } }" % MSG_TG
PGL_DASH_ROW = (
    PGL_TICKET
    + " person { displayName } ticketAssignmentByTicketId { userByUserId { email } }"
    + " messagesByTicketId(last: 3, condition: {deleted: false, isPrivate: false}, "
    + "orderBy: [CREATED_AT_ASC, PRIMARY_KEY_ASC]) { edges { cursor node { %s } } }" % MSG_PGL
)

# Scenario 10's cursor walk: only the cursors of each page, in the inbox's order.
WALK_TG = "query Walk($n: Int!, $after: String) { tickets(first: $n, after: $after) { edges { node { id updatedAt } } pageInfo { endCursor } } }"
WALK_PGL = (
    "query Walk($team: UUID!, $n: Int!, $after: Cursor) { allTickets(first: $n, after: $after, "
    "condition: {teamId: $team}, orderBy: [UPDATED_AT_DESC, PRIMARY_KEY_DESC]) "
    "{ edges { node { rowId updatedAt } } pageInfo { endCursor } } }"
)


def norm_tg_message(m):
    return (m["id"], m["content"], m["authorType"], m["isPrivate"], _ts(m["createdAt"]))


def norm_pgl_message(m):
    return (m["rowId"], m["content"], _upper(m["authorType"]), m["isPrivate"], _ts(m["createdAt"]))


def norm_tg_dash(node):
    out = norm_tg_ticket(node)
    out["person"] = (node["person"] or {}).get("name")
    out["assignee"] = ((node["assignee"] or {}).get("user") or {}).get("email")
    out["messages"] = [norm_tg_message(e["node"]) for e in node["messages"]["edges"]]
    return out


def norm_pgl_dash(node):
    out = norm_pgl_ticket(node)
    out["person"] = (node["person"] or {}).get("displayName")
    out["assignee"] = ((node["ticketAssignmentByTicketId"] or {}).get("userByUserId") or {}).get("email")
    out["messages"] = [norm_pgl_message(e["node"]) for e in node["messagesByTicketId"]["edges"]]
    return out


def read_scenarios(ctx):
    """Scenarios 1-4, 8, 9 and (with ctx["deep"], see bench/run.py) 10. `ctx`: team_id,
    ticket_number, search, deep: {offset, tg_cursor, pgl_cursor}."""
    team = ctx["team_id"]
    inbox_tg = "query Inbox { tickets(first: 50) { %s } }" % TG_PAGE
    inbox_pgl = (
        "query Inbox($team: UUID!) { allTickets(first: 50, condition: {teamId: $team}, "
        "orderBy: [UPDATED_AT_DESC, PRIMARY_KEY_DESC]) { %s } }" % PGL_PAGE
    )
    filtered_tg = (
        "query Filtered { tickets(first: 50, filter: {status: [OPEN, PENDING], priority: [HIGH]}, "
        "orderBy: [{field: SLA_DUE_AT, direction: ASC}]) { %s } }" % TG_PAGE
    )
    filtered_pgl = (
        "query Filtered($team: UUID!) { allTickets(first: 50, condition: {teamId: $team}, "
        'filter: {status: {in: ["open", "pending"]}, priority: {equalTo: "high"}}, '
        "orderBy: [SLA_DUE_AT_ASC, PRIMARY_KEY_ASC]) { %s } }" % PGL_PAGE
    )
    msg_tg = "id content authorType isPrivate createdAt"
    msg_pgl = "rowId content authorType isPrivate createdAt"
    one_tg = (
        "query OneTicket($n: Int!) { ticket(number: $n) { %s "
        "messages(last: 20) { edges { cursor node { %s } } pageInfo { hasPreviousPage startCursor } } } }"
        % (TG_TICKET, msg_tg)
    )
    one_pgl = (
        "query OneTicket($team: UUID!, $n: Int!) { ticketByTeamIdAndTicketNumber(teamId: $team, ticketNumber: $n) { %s "
        "messagesByTicketId(last: 20, condition: {deleted: false, isPrivate: false}, "
        "orderBy: [CREATED_AT_ASC, PRIMARY_KEY_ASC]) { edges { cursor node { %s } } "
        "pageInfo { hasPreviousPage startCursor } } } }" % (PGL_TICKET, msg_pgl)
    )
    search_tg = "query Search($q: String!) { tickets(first: 50, filter: {search: $q}) { %s } }" % TG_PAGE
    search_pgl = (
        "query Search($team: UUID!, $q: String!) { allTickets(first: 50, condition: {teamId: $team}, "
        "orderBy: [UPDATED_AT_DESC, PRIMARY_KEY_DESC], filter: {or: ["
        "{customerName: {includesInsensitive: $q}}, {customerEmail: {includesInsensitive: $q}}, "
        "{emailSubject: {includesInsensitive: $q}}, "
        "{messagesByTicketId: {some: {content: {includesInsensitive: $q}, deleted: {equalTo: false}}}}"
        "]}) { %s } }" % PGL_PAGE
    )

    def page_tg(data):
        return norm_page(data["tickets"], norm_tg_ticket)

    def page_pgl(data):
        return norm_page(data["allTickets"], norm_pgl_ticket)

    def one_tg_norm(data):
        t = data["ticket"]
        out = norm_tg_ticket(t)
        out["messages"] = [
            (m["node"]["id"], m["node"]["content"], m["node"]["authorType"], m["node"]["isPrivate"], _ts(m["node"]["createdAt"]))
            for m in t["messages"]["edges"]
        ]
        out["hasPreviousPage"] = t["messages"]["pageInfo"]["hasPreviousPage"]
        return out

    def one_pgl_norm(data):
        t = data["ticketByTeamIdAndTicketNumber"]
        out = norm_pgl_ticket(t)
        out["messages"] = [
            (m["node"]["rowId"], m["node"]["content"], _upper(m["node"]["authorType"]), m["node"]["isPrivate"], _ts(m["node"]["createdAt"]))
            for m in t["messagesByTicketId"]["edges"]
        ]
        out["hasPreviousPage"] = t["messagesByTicketId"]["pageInfo"]["hasPreviousPage"]
        return out

    # Tab counts: ticketgate's one GROUPING SETS statement against PostGraphile's one
    # `totalCount` per tab (what hasura#8127 and Hot Chocolate #924 users do today).
    statuses = ["new", "open", "pending", "on_hold", "resolved"]
    priorities = ["low", "medium", "high"]
    channels = ["widget", "email", "slack", "teams"]
    counts_tg = (
        "query Counts { ticketCounts { total byStatus { status count } "
        "byPriority { priority count } byChannelSource { channelSource count } } }"
    )
    tabs = [("total", "")]
    tabs += [("s_" + v, 'status: {equalTo: "%s"}' % v) for v in statuses]
    tabs += [("p_" + v, 'priority: {equalTo: "%s"}' % v) for v in priorities]
    tabs += [("p_none", "priority: {isNull: true}")]
    tabs += [("c_" + v, 'channelSource: {equalTo: "%s"}' % v) for v in channels]
    counts_pgl = "query Counts($team: UUID!) { %s }" % " ".join(
        "%s: allTickets(condition: {teamId: $team}%s) { totalCount }"
        % (alias, ", filter: {%s}" % f if f else "")
        for alias, f in tabs
    )

    def counts_tg_norm(data):
        c = data["ticketCounts"]
        out = {"total": c["total"]}
        out.update({"s_" + x["status"].lower(): x["count"] for x in c["byStatus"]})
        out.update({"p_" + (x["priority"] or "none").lower(): x["count"] for x in c["byPriority"]})
        out.update({"c_" + x["channelSource"].lower(): x["count"] for x in c["byChannelSource"]})
        return out

    def counts_pgl_norm(data):
        return {alias: data[alias]["totalCount"] for alias, _ in tabs}

    dash_tg = "query Dashboard { tickets(first: 50) { edges { cursor node { %s } } pageInfo { hasNextPage endCursor } } }" % TG_DASH_ROW
    dash_pgl = (
        "query Dashboard($team: UUID!) { allTickets(first: 50, condition: {teamId: $team}, "
        "orderBy: [UPDATED_AT_DESC, PRIMARY_KEY_DESC]) { edges { cursor node { %s } } "
        "pageInfo { hasNextPage endCursor } } }" % PGL_DASH_ROW
    )

    def dash_tg_norm(data):
        return norm_page(data["tickets"], norm_tg_dash)

    def dash_pgl_norm(data):
        return norm_page(data["allTickets"], norm_pgl_dash)

    deep_tg = "query DeepPage($after: String!) { tickets(first: 50, after: $after) { %s } }" % TG_PAGE
    deep_pgl = (
        "query DeepPage($team: UUID!, $after: Cursor!) { allTickets(first: 50, after: $after, "
        "condition: {teamId: $team}, orderBy: [UPDATED_AT_DESC, PRIMARY_KEY_DESC]) { %s } }" % PGL_PAGE
    )

    n = ctx["ticket_number"]
    q = ctx["search"]
    deep = ctx.get("deep")
    extra = []
    if deep:
        extra.append(
            {
                "id": 10,
                "name": "deep-page",
                "title": "deep page: the 50 tickets after a cursor %s rows into the inbox order (keyset)"
                % format(deep["offset"], ","),
                "ticketgate": {"query": deep_tg, "variables": {"after": deep["tg_cursor"]}},
                "postgraphile": {"query": deep_pgl, "variables": {"team": team, "after": deep["pgl_cursor"]}},
                "norm": (page_tg, page_pgl),
                "offset": deep["offset"],
            }
        )
    return extra + [
        {
            "id": 1,
            "name": "inbox",
            "title": "inbox page: 50 tickets, default order, 12 fields + person name + assignee email + tags",
            "ticketgate": {"query": inbox_tg, "variables": {}},
            "postgraphile": {"query": inbox_pgl, "variables": {"team": team}},
            "norm": (page_tg, page_pgl),
        },
        {
            "id": 2,
            "name": "filtered",
            "title": "filtered: status OPEN or PENDING, priority HIGH, by SLA due date",
            "ticketgate": {"query": filtered_tg, "variables": {}},
            "postgraphile": {"query": filtered_pgl, "variables": {"team": team}},
            "norm": (page_tg, page_pgl),
        },
        {
            "id": 3,
            "name": "one-ticket",
            "title": "one ticket by number with its last 20 messages",
            "ticketgate": {"query": one_tg, "variables": {"n": n}},
            "postgraphile": {"query": one_pgl, "variables": {"team": team, "n": n}},
            "norm": (one_tg_norm, one_pgl_norm),
        },
        {
            "id": 4,
            "name": "search",
            "title": "text search (%r): customer name/email, email subject, any message" % q,
            "ticketgate": {"query": search_tg, "variables": {"q": q}},
            "postgraphile": {"query": search_pgl, "variables": {"team": team, "q": q}},
            "norm": (page_tg, page_pgl),
        },
        {
            "id": 8,
            "name": "tab-counts",
            "title": "tab counts: total, per status, priority and channel (13 numbers)",
            "ticketgate": {"query": counts_tg, "variables": {}},
            "postgraphile": {"query": counts_pgl, "variables": {"team": team}},
            "norm": (counts_tg_norm, counts_pgl_norm),
        },
        {
            "id": 9,
            "name": "dashboard",
            "title": "dashboard: 50 tickets, default order, 12 fields + person name + assignee email + last 3 messages",
            "ticketgate": {"query": dash_tg, "variables": {}},
            "postgraphile": {"query": dash_pgl, "variables": {"team": team}},
            "norm": (dash_tg_norm, dash_pgl_norm),
        },
    ]


# Scenario 5. `__ID__` is replaced by a random ticket id and `__N__` by a unique counter for
# each request (bench/wrk/graphql.lua).
SEND_TG = (
    "mutation Send($t: UUID!, $c: String!) { sendMessage(ticketId: $t, content: $c) { id createdAt } }"
)
SEND_PGL = (
    "mutation Send($t: UUID!, $c: String!) { tgPglSendMessage(input: {ticketId: $t, content: $c}) "
    "{ result { rowId createdAt } } }"
)
SEND_CONTENT = "Thanks, we are looking into it (bench __N__)."


def send_scenario():
    return {
        "id": 5,
        "name": "send-message",
        "title": "sendMessage on a random one of 1,000 tickets",
        "ticketgate": {"query": SEND_TG, "variables": {"t": "__ID__", "c": SEND_CONTENT}},
        "postgraphile": {"query": SEND_PGL, "variables": {"t": "__ID__", "c": SEND_CONTENT}},
    }
