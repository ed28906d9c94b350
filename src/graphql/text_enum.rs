//! GraphQL enums stored as text columns (CHECK-constrained in the migrations).

/// Declares a GraphQL enum and its mapping to the value stored in the database.
/// `as_db` gives the stored text; `from_db` reads it back (None for an unknown value,
/// which the CHECK constraints make impossible short of a missed migration).
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $db:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(async_graphql::Enum, Copy, Clone, Debug, Eq, PartialEq, Hash, serde::Serialize)]
        pub enum $name { $( $(#[$vmeta])* $variant ),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_db(self) -> &'static str {
                match self { $($name::$variant => $db),+ }
            }

            pub fn from_db(value: &str) -> Option<Self> {
                match value { $($db => Some($name::$variant),)+ _ => None }
            }

            /// The GraphQL value, as async-graphql prints it, without allocating: lists
            /// print an enum per row, and `to_value` allocates its name every time.
            pub fn graphql_value(self) -> async_graphql::Value {
                static NAMES: std::sync::OnceLock<Vec<async_graphql::Value>> =
                    std::sync::OnceLock::new();
                let names = NAMES.get_or_init(|| {
                    Self::ALL.iter().map(async_graphql::InputType::to_value).collect()
                });
                names[self as usize].clone()
            }
        }
    };
}
