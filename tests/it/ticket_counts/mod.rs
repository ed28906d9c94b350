//! `ticketCounts` (query and subscription) and the inbox filters that came with it
//! (`assignee.me`, `tagsAll`, `tagsNone`, relative date ranges).

mod exact;
mod filters;
mod live;
mod model;

use serde_json::Value;

/// Every field of `ticketCounts`.
macro_rules! selection {
    () => {
        "total byStatus { status count } byPriority { priority count } \
         byChannelSource { channelSource count } \
         byAssignee { user { id name } role { id name } unassigned count }"
    };
}

pub(crate) const COUNTS: &str = concat!(
    "query($filter: TicketFilter) { ticketCounts(filter: $filter) { ",
    selection!(),
    " } }"
);

/// The counts with the `tickets` query's `totalCount` for the same filter.
pub(crate) const COUNTS_AND_TOTAL: &str = concat!(
    "query($filter: TicketFilter) { tickets(filter: $filter, first: 1) { totalCount } \
     ticketCounts(filter: $filter) { ",
    selection!(),
    " } }"
);

/// The same selection as a subscription.
pub(crate) const COUNTS_SUBSCRIPTION: &str = concat!(
    "subscription($filter: TicketFilter) { ticketCounts(filter: $filter) { ",
    selection!(),
    " } }"
);

/// A dimension of an answer as `key=count` pairs, zeros dropped: `byStatus` keyed by
/// status, `byAssignee` by `user:<id>`, `role:<id>` or `unassigned`.
pub(crate) fn dimension(counts: &Value, name: &str) -> Vec<String> {
    let mut pairs: Vec<String> = counts[name]
        .as_array()
        .unwrap_or_else(|| panic!("no {name} in {counts}"))
        .iter()
        .filter(|c| c["count"].as_i64() != Some(0))
        .map(|c| {
            let key = match name {
                "byStatus" => c["status"].as_str().unwrap().to_string(),
                "byPriority" => c["priority"].as_str().unwrap_or("null").to_string(),
                "byChannelSource" => c["channelSource"].as_str().unwrap().to_string(),
                _ if c["unassigned"] == true => "unassigned".to_string(),
                _ if !c["user"].is_null() => format!("user:{}", c["user"]["id"].as_str().unwrap()),
                _ => format!("role:{}", c["role"]["id"].as_str().unwrap()),
            };
            format!("{key}={}", c["count"])
        })
        .collect();
    pairs.sort();
    pairs
}
