//! The rules of every `Ticket` field, declared once: the columns it reads, how lists
//! answer it, whether tickets can be ordered on it (and then its SQL and cursor key), and
//! which look-up a page reads ahead for it. Lists (`connection`), ordering and cursors
//! (`order`), read-ahead (`read_ahead`) and projection pushdown (`projection`: a read
//! selects the columns of the fields asked for, the keys and the order's columns) all
//! read this table; `Ticket`'s `#[Object]` resolvers (one ticket at a time) are
//! async-graphql's. A field whose columns are missing here answers an internal error,
//! never a default (`projection::Column`).

use async_graphql::Value;
use chrono::{DateTime, Utc};

use super::connection::{assignees, persons, tags};
use super::model::{ChannelDetail, Ticket, TicketPriority};
use super::order::TicketOrderField;
use super::projection::NotLoaded;
use crate::error::IntoGql;
use crate::graphql::fields::{FieldRule, FieldRules};
use crate::graphql::lists::values::{json, of, opt_string, string};
use crate::graphql::lists::Plan;

/// What only tickets say about a field.
#[derive(Clone, Copy)]
pub struct TicketRule {
    /// Set when tickets can be ordered on the field.
    pub sort: Option<Sort>,
    /// Set when a page of tickets reads this field's look-up ahead (see `read_ahead`).
    pub ahead: Option<Ahead>,
}

const PLAIN: TicketRule = TicketRule {
    sort: None,
    ahead: None,
};

/// A field tickets can be ordered on.
#[derive(Clone, Copy, Debug)]
pub struct Sort {
    /// The `TicketOrder.field` value that asks for it.
    pub order: TicketOrderField,
    /// The column, as the migrations' indexes spell it.
    pub column: &'static str,
    pub key: SortKey,
}

/// What a sort key holds, and so how a cursor carries it.
#[derive(Clone, Copy, Debug)]
pub enum SortKey {
    /// A time; a nullable one sorts last both ways (`COALESCE` to ±infinity, as indexed)
    /// and a cursor carries null for it.
    Time {
        value: fn(&Ticket) -> Result<Option<DateTime<Utc>>, NotLoaded>,
        nullable: bool,
    },
    /// A number unique within the team: ordering on it is already total.
    UniqueNumber(fn(&Ticket) -> Result<i32, NotLoaded>),
}

/// The look-ups a page of tickets can read ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ahead {
    Persons,
    Assignees,
    Tags,
}

type Rule = FieldRule<Ticket, TicketRule>;

const fn row(
    name: &'static str,
    columns: &'static [&'static str],
    read: crate::graphql::lists::RowFn<Ticket>,
) -> Rule {
    FieldRule {
        name,
        columns,
        plan: Plan::Row(read),
        more: PLAIN,
    }
}

const fn sorted(
    name: &'static str,
    column: &'static [&'static str; 1],
    read: crate::graphql::lists::RowFn<Ticket>,
    order: TicketOrderField,
    key: SortKey,
) -> Rule {
    FieldRule {
        name,
        columns: column,
        plan: Plan::Row(read),
        more: TicketRule {
            sort: Some(Sort {
                order,
                column: column[0],
                key,
            }),
            ahead: None,
        },
    }
}

/// Every row carries these, selected or not: the id (cursors, loaders), the team (scope)
/// and what finds the ticket's person.
const KEYS: &[&str] = &[
    "id",
    "team_id",
    "distinct_id",
    "channel_source",
    "email_from",
];

pub static TICKET_FIELDS: FieldRules<Ticket, TicketRule> = FieldRules {
    keys: KEYS,
    fields: &[
        row("id", &["id"], |t, _| Ok(of(&t.id))),
        sorted(
            "ticketNumber",
            &["ticket_number"],
            |t, _| Ok(of(t.ticket_number.get().gql()?)),
            TicketOrderField::TicketNumber,
            SortKey::UniqueNumber(|t| t.ticket_number.value()),
        ),
        row("channelSource", &["channel_source"], |t, _| {
            Ok(t.channel_source.graphql_value())
        }),
        row("channelDetail", &["channel_detail"], |t, _| {
            Ok(t.channel_detail
                .value()
                .gql()?
                .map_or(Value::Null, ChannelDetail::graphql_value))
        }),
        row("distinctId", &["distinct_id"], |t, _| {
            Ok(string(&t.distinct_id))
        }),
        row("status", &["status"], |t, _| {
            Ok(t.status.get().gql()?.graphql_value())
        }),
        row("priority", &["priority"], |t, _| {
            Ok(t.priority
                .value()
                .gql()?
                .map_or(Value::Null, TicketPriority::graphql_value))
        }),
        row("anonymousTraits", &["anonymous_traits"], |t, _| {
            json(t.anonymous_traits.get().gql()?)
        }),
        row("aiResolved", &["ai_resolved"], |t, _| {
            Ok(of(t.ai_resolved.get().gql()?))
        }),
        // Internal: never for customer tokens (as `Ticket.escalationReason`).
        row(
            "escalationReason",
            &["escalation_reason"],
            |t, viewer| match viewer.is_customer() {
                true => Ok(Value::Null),
                false => Ok(opt_string(t.escalation_reason.get().gql()?.as_deref())),
            },
        ),
        sorted(
            "createdAt",
            &["created_at"],
            |t, _| Ok(of(t.created_at.get().gql()?)),
            TicketOrderField::CreatedAt,
            SortKey::Time {
                value: |t| t.created_at.value().map(Some),
                nullable: false,
            },
        ),
        sorted(
            "updatedAt",
            &["updated_at"],
            |t, _| Ok(of(t.updated_at.get().gql()?)),
            TicketOrderField::UpdatedAt,
            SortKey::Time {
                value: |t| t.updated_at.value().map(Some),
                nullable: false,
            },
        ),
        row("messageCount", &["message_count"], |t, _| {
            Ok(of(t.message_count.get().gql()?))
        }),
        row("lastMessageAt", &["last_message_at"], |t, _| {
            Ok(of(t.last_message_at.get().gql()?))
        }),
        row("lastMessageText", &["last_message_text"], |t, _| {
            Ok(opt_string(t.last_message_text.get().gql()?.as_deref()))
        }),
        row("unreadTeamCount", &["unread_team_count"], |t, _| {
            Ok(of(t.unread_team_count.get().gql()?))
        }),
        row("unreadCustomerCount", &["unread_customer_count"], |t, _| {
            Ok(of(t.unread_customer_count.get().gql()?))
        }),
        row("sessionId", &["session_id"], |t, _| {
            Ok(opt_string(t.session_id.get().gql()?.as_deref()))
        }),
        row("sessionContext", &["session_context"], |t, _| {
            json(t.session_context.get().gql()?)
        }),
        sorted(
            "slaDueAt",
            &["sla_due_at"],
            |t, _| Ok(of(t.sla_due_at.get().gql()?)),
            TicketOrderField::SlaDueAt,
            SortKey::Time {
                value: |t| t.sla_due_at.value(),
                nullable: true,
            },
        ),
        sorted(
            "snoozedUntil",
            &["snoozed_until"],
            |t, _| Ok(of(t.snoozed_until.get().gql()?)),
            TicketOrderField::SnoozedUntil,
            SortKey::Time {
                value: |t| t.snoozed_until.value(),
                nullable: true,
            },
        ),
        row("slackChannelId", &["slack_channel_id"], |t, _| {
            Ok(opt_string(t.slack_channel_id.get().gql()?.as_deref()))
        }),
        row("slackThreadTs", &["slack_thread_ts"], |t, _| {
            Ok(opt_string(t.slack_thread_ts.get().gql()?.as_deref()))
        }),
        row("slackTeamId", &["slack_team_id"], |t, _| {
            Ok(opt_string(t.slack_team_id.get().gql()?.as_deref()))
        }),
        row("emailSubject", &["email_subject"], |t, _| {
            Ok(opt_string(t.email_subject.get().gql()?.as_deref()))
        }),
        row("emailFrom", &["email_from"], |t, _| {
            Ok(opt_string(t.email_from.as_deref()))
        }),
        row("ccParticipants", &["cc_participants"], |t, _| {
            json(t.cc_participants.get().gql()?)
        }),
        // Rare in lists: async-graphql's resolver, ticket by ticket (through a loader).
        FieldRule {
            name: "emailTo",
            columns: &["email_channel_id"],
            plan: Plan::Each,
            more: PLAIN,
        },
        looked_up(
            "person",
            &["distinct_id", "channel_source", "email_from"],
            persons,
            Ahead::Persons,
        ),
        looked_up("assignee", &[], assignees, Ahead::Assignees),
        looked_up("tags", &[], tags, Ahead::Tags),
        // Arguments of its own: async-graphql's resolver, through the message loader.
        FieldRule {
            name: "messages",
            columns: &[],
            plan: Plan::Each,
            more: PLAIN,
        },
    ],
};

const fn looked_up(
    name: &'static str,
    columns: &'static [&'static str],
    batch: crate::graphql::lists::BatchFn<Ticket>,
    ahead: Ahead,
) -> Rule {
    FieldRule {
        name,
        columns,
        plan: Plan::Batch(batch),
        more: TicketRule {
            sort: None,
            ahead: Some(ahead),
        },
    }
}

/// The rule of an ordering field.
pub fn sort_of(order: TicketOrderField) -> Option<&'static Sort> {
    TICKET_FIELDS
        .fields
        .iter()
        .filter_map(|rule| rule.more.sort.as_ref())
        .find(|sort| sort.order == order)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use async_graphql::registry::Registry;
    use async_graphql::OutputType;
    use diesel::{QueryDsl, SelectableHelper};

    use super::*;
    use crate::db::schema::tickets;

    #[test]
    fn every_ticket_field_has_exactly_one_rule() {
        let mut registry = Registry::default();
        <Ticket as OutputType>::create_type_info(&mut registry);
        let graphql: BTreeSet<String> = registry.types["Ticket"]
            .fields()
            .map(|fields| fields.keys().cloned().collect())
            .unwrap_or_default();
        let ruled: Vec<&str> = TICKET_FIELDS.fields.iter().map(|rule| rule.name).collect();
        let unique: BTreeSet<String> = ruled.iter().map(|name| name.to_string()).collect();
        assert_eq!(unique.len(), ruled.len(), "a field is ruled twice");
        assert_eq!(unique, graphql);
    }

    #[test]
    fn every_order_field_has_a_sort_rule() {
        for item in <TicketOrderField as async_graphql::resolver_utils::EnumType>::items() {
            assert!(sort_of(item.value).is_some(), "{} has no rule", item.name);
        }
    }

    #[test]
    fn every_column_named_is_a_ticket_column() {
        let select =
            diesel::debug_query::<diesel::pg::Pg, _>(&tickets::table.select(Ticket::as_select()))
                .to_string();
        let named = TICKET_FIELDS
            .fields
            .iter()
            .flat_map(|rule| rule.columns.iter())
            .chain(TICKET_FIELDS.keys);
        for column in named {
            assert!(
                select.contains(&format!("\"tickets\".\"{column}\"")),
                "{column} is not a column of tickets"
            );
        }
    }

    type Seen = std::sync::Arc<std::sync::Mutex<BTreeSet<&'static str>>>;

    /// A field that asks for `Ticket` and records the columns its selection reads.
    struct Probe;

    #[async_graphql::Object]
    impl Probe {
        async fn ticket(&self, ctx: &async_graphql::Context<'_>) -> Option<Ticket> {
            let columns = TICKET_FIELDS.columns(&ctx.look_ahead());
            if let Ok(seen) = ctx.data::<Seen>() {
                if let Ok(mut seen) = seen.lock() {
                    seen.extend(columns);
                }
            }
            None
        }
    }

    #[tokio::test]
    async fn a_selection_says_which_columns_it_reads() {
        let seen = Seen::default();
        let schema = async_graphql::Schema::build(
            Probe,
            async_graphql::EmptyMutation,
            async_graphql::EmptySubscription,
        )
        .data(seen.clone())
        .finish();
        let query = "{ ticket { s: status ...F tags person { name } } }
                     fragment F on Ticket { slaDueAt }";
        let response = schema.execute(query).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let seen = seen.lock().map(|seen| seen.clone()).unwrap_or_default();
        let expected: BTreeSet<&str> = [
            "id",
            "team_id",
            "distinct_id",
            "channel_source",
            "email_from",
            "status",
            "sla_due_at",
        ]
        .into_iter()
        .collect();
        assert_eq!(seen, expected);
    }
}
