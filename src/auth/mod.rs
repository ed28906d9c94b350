//! Who is asking: API keys (team keys) and the `Viewer` every resolver is scoped to.

pub mod api_keys;
pub mod bearer;
pub mod customer_tokens;
pub mod key_cache;
pub mod scope;
pub mod viewer;

pub use scope::TicketScope;
pub use viewer::Viewer;
