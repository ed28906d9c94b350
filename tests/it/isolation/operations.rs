//! The operations of the matrix: queries, mutations, and the mutation templates that name
//! someone else's ticket, message, user, role or distinct id.

use serde_json::{json, Value};
use uuid::Uuid;

use super::world::World;

pub(super) const TICKET_BY_ID: &str =
    "query($id: UUID) { ticket(id: $id) { id distinctId emailSubject escalationReason tags \
     messages(includePrivate: true) { nodes { id content isPrivate } } } }";
pub(super) const TICKET_BY_NUMBER: &str =
    "query($n: Int) { ticket(number: $n) { id distinctId emailSubject lastMessageText } }";
pub(super) const LIST: &str =
    "query($f: TicketFilter) { tickets(filter: $f, first: 50) { totalCount nodes { id } } }";
pub(super) const PERSONS: &str =
    "query($d: [String!]!) { persons(distinctIds: $d) { id name distinctIds properties } }";

/// Every field of a ticket, its assignee, person, tags and messages (private included).
pub(super) fn deep_list() -> String {
    "query { tickets(first: 20) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } \
       edges { cursor node { \
         id ticketNumber channelSource channelDetail distinctId status priority anonymousTraits aiResolved \
         escalationReason createdAt updatedAt messageCount lastMessageAt lastMessageText unreadTeamCount \
         unreadCustomerCount sessionId sessionContext slaDueAt snoozedUntil slackChannelId slackThreadTs \
         slackTeamId emailSubject emailFrom ccParticipants emailTo \
         assignee { id type user { id name email } role { id name } } \
         person { id name distinctIds properties createdAt isIdentified } \
         tags \
         messages(first: 20, includePrivate: true) { pageInfo { startCursor endCursor } \
           edges { cursor node { id content authorType isPrivate createdAt createdBy { id name email } \
             ticket { id distinctId } } } } \
       } } } }"
        .to_string()
}

pub(super) const UPDATE: &str = "mutation($id: UUID!, $at: DateTime) { updateTicket(id: $id, input: { status: RESOLVED, tags: [\"moved\"] }, expectedUpdatedAt: $at) { id status tags } }";
pub(super) const UPDATE_BAD_INPUT: &str =
    "mutation($id: UUID!) { updateTicket(id: $id, input: { slaDueInMinutes: -1 }) { id } }";
pub(super) const ASSIGN: &str = "mutation($id: UUID!, $a: AssigneeInput) { assignTicket(id: $id, assignee: $a) { id assignee { id type user { id name } role { id name } } } }";
pub(super) const SEND: &str = "mutation($t: UUID!, $c: String!, $p: Boolean, $a: MessageAuthorType) { sendMessage(ticketId: $t, content: $c, isPrivate: $p, authorType: $a) { id content isPrivate ticket { id distinctId } } }";
pub(super) const DELETE: &str =
    "mutation($id: UUID!) { deleteMessage(id: $id) { id content ticket { id } } }";
pub(super) const READ: &str = "mutation($id: UUID!, $s: ReadSide) { markTicketRead(id: $id, side: $s) { id unreadTeamCount unreadCustomerCount } }";
pub(super) const BULK_TAGS: &str = "mutation($ids: [UUID!]!, $a: TagChange!, $tags: [String!]!) { bulkUpdateTags(ids: $ids, action: $a, tags: $tags) { id tags } }";
pub(super) const BULK_STATUS: &str =
    "mutation($ids: [UUID!]!) { bulkUpdateStatus(ids: $ids, status: RESOLVED) { id status } }";
pub(super) const TOKEN: &str =
    "mutation($d: String!) { createCustomerToken(distinctId: $d) { token distinctId } }";
pub(super) const CREATE: &str = "mutation($d: String!) { createTicket(input: { distinctId: $d, message: \"probe\" }) { id distinctId person { id name } } }";

/// The objects a mutation names: someone's ticket, message, private note, user, role and
/// distinct id.
pub(super) struct Target {
    pub(super) ticket: Uuid,
    pub(super) message: Uuid,
    pub(super) private_message: Uuid,
    pub(super) user: Uuid,
    pub(super) role: Uuid,
    pub(super) distinct_id: &'static str,
}

impl World {
    pub(super) fn team_b_target(&self) -> Target {
        Target {
            ticket: self.bx1,
            message: self.bx1_public,
            private_message: self.bx1_private,
            user: self.b_user,
            role: self.b_role,
            distinct_id: "bravo-x-cust",
        }
    }

    pub(super) fn own_target(&self) -> Target {
        Target {
            ticket: self.ax1,
            message: self.ax1_public,
            private_message: self.ax1_private,
            user: self.a_user,
            role: self.a_role,
            distinct_id: "alpha-x",
        }
    }

    pub(super) fn customer_y_target(&self) -> Target {
        Target {
            ticket: self.ay1,
            message: self.ay1_public,
            private_message: self.ay1_private,
            user: self.a_user,
            role: self.a_role,
            distinct_id: "alpha-y",
        }
    }
}

pub(super) fn missing_target() -> Target {
    Target {
        ticket: Uuid::now_v7(),
        message: Uuid::now_v7(),
        private_message: Uuid::now_v7(),
        user: Uuid::now_v7(),
        role: Uuid::now_v7(),
        distinct_id: "nobody-anywhere",
    }
}

/// One mutation naming a target, with the code expected for team A's key on team B's
/// objects (None: it does not fail, see the dedicated checks) and for customer x on
/// customer y's. A read-only key always gets FORBIDDEN.
pub(super) struct MutationTemplate {
    pub(super) name: &'static str,
    pub(super) query: &'static str,
    pub(super) vars: fn(&World, &Target) -> Value,
    pub(super) team_on_b: Option<&'static str>,
    pub(super) customer_on_y: &'static str,
}

pub(super) fn mutation_templates() -> Vec<MutationTemplate> {
    const NF: Option<&str> = Some("NOT_FOUND");
    vec![
        MutationTemplate {
            name: "updateTicket(their ticket)",
            query: UPDATE,
            vars: |_, t| json!({ "id": t.ticket }),
            team_on_b: NF,
            customer_on_y: "FORBIDDEN",
        },
        MutationTemplate {
            name: "updateTicket(their ticket, stale expectedUpdatedAt)",
            query: UPDATE,
            vars: |_, t| json!({ "id": t.ticket, "at": "2020-01-01T00:00:00Z" }),
            team_on_b: NF,
            customer_on_y: "FORBIDDEN",
        },
        MutationTemplate {
            name: "updateTicket(their ticket, bad input)",
            query: UPDATE_BAD_INPUT,
            vars: |_, t| json!({ "id": t.ticket }),
            team_on_b: Some("BAD_USER_INPUT"),
            customer_on_y: "FORBIDDEN",
        },
        MutationTemplate {
            name: "assignTicket(A's ticket → their user)",
            query: ASSIGN,
            vars: |w, t| json!({ "id": w.ax1, "a": { "userId": t.user } }),
            team_on_b: NF,
            customer_on_y: "FORBIDDEN",
        },
        MutationTemplate {
            name: "assignTicket(A's ticket → their role)",
            query: ASSIGN,
            vars: |w, t| json!({ "id": w.ax1, "a": { "roleId": t.role } }),
            team_on_b: NF,
            customer_on_y: "FORBIDDEN",
        },
        MutationTemplate {
            name: "assignTicket(their ticket → A's user)",
            query: ASSIGN,
            vars: |w, t| json!({ "id": t.ticket, "a": { "userId": w.a_user } }),
            team_on_b: NF,
            customer_on_y: "FORBIDDEN",
        },
        MutationTemplate {
            name: "assignTicket(their ticket → their user)",
            query: ASSIGN,
            vars: |_, t| json!({ "id": t.ticket, "a": { "userId": t.user } }),
            team_on_b: NF,
            customer_on_y: "FORBIDDEN",
        },
        MutationTemplate {
            name: "assignTicket(their ticket → nobody)",
            query: ASSIGN,
            vars: |_, t| json!({ "id": t.ticket, "a": null }),
            team_on_b: NF,
            customer_on_y: "FORBIDDEN",
        },
        MutationTemplate {
            name: "sendMessage(their ticket)",
            query: SEND,
            vars: |_, t| json!({ "t": t.ticket, "c": "probe" }),
            team_on_b: NF,
            customer_on_y: "NOT_FOUND",
        },
        MutationTemplate {
            name: "sendMessage(their ticket, as CUSTOMER)",
            query: SEND,
            vars: |_, t| json!({ "t": t.ticket, "c": "probe", "a": "CUSTOMER" }),
            team_on_b: NF,
            customer_on_y: "NOT_FOUND",
        },
        MutationTemplate {
            name: "sendMessage(their ticket, private)",
            query: SEND,
            vars: |_, t| json!({ "t": t.ticket, "c": "probe", "p": true }),
            team_on_b: NF,
            customer_on_y: "FORBIDDEN",
        },
        MutationTemplate {
            name: "deleteMessage(their message)",
            query: DELETE,
            vars: |_, t| json!({ "id": t.message }),
            team_on_b: NF,
            customer_on_y: "FORBIDDEN",
        },
        MutationTemplate {
            name: "deleteMessage(their private note)",
            query: DELETE,
            vars: |_, t| json!({ "id": t.private_message }),
            team_on_b: NF,
            customer_on_y: "FORBIDDEN",
        },
        MutationTemplate {
            name: "markTicketRead(their ticket)",
            query: READ,
            vars: |_, t| json!({ "id": t.ticket }),
            team_on_b: NF,
            customer_on_y: "NOT_FOUND",
        },
        MutationTemplate {
            name: "markTicketRead(their ticket, CUSTOMER side)",
            query: READ,
            vars: |_, t| json!({ "id": t.ticket, "s": "CUSTOMER" }),
            team_on_b: NF,
            customer_on_y: "NOT_FOUND",
        },
        MutationTemplate {
            name: "bulkUpdateTags(ADD, [A's, theirs])",
            query: BULK_TAGS,
            vars: |w, t| json!({ "ids": [w.ax1, t.ticket], "a": "ADD", "tags": ["probe"] }),
            team_on_b: NF,
            customer_on_y: "FORBIDDEN",
        },
        MutationTemplate {
            name: "bulkUpdateTags(REMOVE, [theirs])",
            query: BULK_TAGS,
            vars: |_, t| json!({ "ids": [t.ticket], "a": "REMOVE", "tags": ["alpha-shared", "bravo-tag-narwhal", "alpha-y-only"] }),
            team_on_b: NF,
            customer_on_y: "FORBIDDEN",
        },
        MutationTemplate {
            name: "bulkUpdateTags(SET [], [A's, A's, theirs])",
            query: BULK_TAGS,
            vars: |w, t| json!({ "ids": [w.ax1, w.ax2, t.ticket], "a": "SET", "tags": [] }),
            team_on_b: NF,
            customer_on_y: "FORBIDDEN",
        },
        MutationTemplate {
            name: "bulkUpdateStatus([A's, theirs])",
            query: BULK_STATUS,
            vars: |w, t| json!({ "ids": [w.ax1, t.ticket] }),
            team_on_b: NF,
            customer_on_y: "FORBIDDEN",
        },
        MutationTemplate {
            name: "bulkUpdateStatus([theirs, theirs])",
            query: BULK_STATUS,
            vars: |_, t| json!({ "ids": [t.ticket, t.ticket] }),
            team_on_b: NF,
            customer_on_y: "FORBIDDEN",
        },
        MutationTemplate {
            name: "createCustomerToken(their distinct id)",
            query: TOKEN,
            vars: |_, t| json!({ "d": t.distinct_id }),
            team_on_b: None,
            customer_on_y: "FORBIDDEN",
        },
        MutationTemplate {
            name: "createTicket(their distinct id)",
            query: CREATE,
            vars: |_, t| json!({ "d": t.distinct_id }),
            team_on_b: None,
            customer_on_y: "FORBIDDEN",
        },
    ]
}

pub(super) const UPDATE_PRIORITY: &str = "mutation($id: UUID!, $p: TicketPriority) { updateTicket(id: $id, input: { priority: $p }) { id } }";
