//! Saved views (`views`, `createView`, `updateView`, `deleteView`, and `view:` on
//! `tickets`, `ticketCounts`, the subscriptions and bulk mutations), and bulk mutations
//! by filter with their status skip counts.

mod bulk;
mod live;
mod saved;

use serde_json::{json, Value};

use crate::helpers::Client;

pub(crate) const CREATE: &str = "mutation($input: CreateViewInput!) { createView(input: $input) { id name shared owner { id } filter orderBy } }";

/// Creates a view; returns its id.
pub(crate) async fn create_view(client: &Client, input: Value) -> String {
    let data = client.data(CREATE, json!({ "input": input })).await;
    data["createView"]["id"].as_str().unwrap().to_string()
}

/// The ids of `tickets` (one page of up to 500) for these arguments, in order.
pub(crate) async fn ticket_ids(
    client: &Client,
    view: Option<&str>,
    filter: Value,
    order: Value,
) -> Vec<String> {
    let data = client
        .data(
            "query($view: UUID, $filter: TicketFilter, $order: [TicketOrder!]) { \
             tickets(view: $view, filter: $filter, orderBy: $order, first: 500) { totalCount nodes { id } } }",
            json!({ "view": view, "filter": filter, "order": order }),
        )
        .await;
    let ids: Vec<String> = data["tickets"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(data["tickets"]["totalCount"], ids.len());
    ids
}

/// `ticketCounts` for these arguments (every field).
pub(crate) async fn counts(client: &Client, view: Option<&str>, filter: Value) -> Value {
    let data = client
        .data(
            "query($view: UUID, $filter: TicketFilter) { ticketCounts(view: $view, filter: $filter) { \
             total byStatus { status count } byPriority { priority count } \
             byChannelSource { channelSource count } byAssignee { user { id } role { id } unassigned count } } }",
            json!({ "view": view, "filter": filter }),
        )
        .await;
    data["ticketCounts"].clone()
}

/// The first error of a response: its code and `extensions.field`.
pub(crate) async fn refusal(
    client: &Client,
    query: &str,
    variables: Value,
) -> (String, Value, String) {
    let (_, body) = client.post(query, variables).await;
    let error = &body["errors"][0];
    (
        error["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {body}"))
            .to_string(),
        error["extensions"]["field"].clone(),
        error["message"].as_str().unwrap_or_default().to_string(),
    )
}
