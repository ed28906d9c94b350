//! The `tickets` query's filters, search, orders and cursors, each against a small dataset
//! whose every row the test knows: exact ticket numbers in exact order, and a `totalCount`
//! that agrees with the filter.
//!
//! - `filters`: every filter alone, then combined, on a catalog of seven tickets;
//! - `search`: text and number search, and search pages beyond the newest window;
//! - `ordering`: every order's exact sequence, walked page by page both ways;
//! - `refusals`: malformed filters and orders, limits, foreign cursors, unstorable values.
//!
//! `support` holds the document and the helpers they share (matching, paging, times).

mod filters;
mod ordering;
mod refusals;
mod search;
mod support;
