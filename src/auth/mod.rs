//! Who is asking: API keys (team keys) and the `Viewer` every resolver is scoped to.

pub mod api_keys;
pub mod bearer;
pub mod viewer;

pub use viewer::Viewer;
