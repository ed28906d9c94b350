//! The bad-input corpus: every case of `tests/corpus/*.jsonl` (described in
//! `tests/corpus/README.md`) replayed against one server, each answered with its expected
//! status and code, never a 5xx, never an `INTERNAL` error, never a panic, the server
//! still healthy after each, and the database exactly as it was before the run.
//!
//! - `cases`: the corpus's case format, its placeholders and forged cursors;
//! - `requests`: a case made into an HTTP request (generated documents and bodies), sent;
//! - `checks`: what an answer must be, the database snapshot, the panic watch, health;
//! - `replay`: the test that replays the corpus;
//! - `error_shapes`: snapshots of typical refusals, whole, as a client reads them.

mod cases;
mod checks;
mod error_shapes;
mod replay;
mod requests;
