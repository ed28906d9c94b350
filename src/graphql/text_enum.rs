//! GraphQL enums stored as text columns (CHECK-constrained in the migrations), typed end
//! to end: the row structs hold the enum, Diesel reads and writes it (`FromSql`/`ToSql`
//! over `Text`), GraphQL prints it.

/// Declares a GraphQL enum and its mapping to the value stored in the database.
/// `as_db` gives the stored text; `from_db` reads it back (None for an unknown value,
/// which the CHECK constraints make impossible short of a missed migration). Reading an
/// unknown stored value through Diesel is a deserialization error naming the enum and the
/// value, reported where the row is read — never a panic.
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $db:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(
            async_graphql::Enum,
            Copy,
            Clone,
            Debug,
            Eq,
            PartialEq,
            Hash,
            serde::Serialize,
            diesel::AsExpression,
            diesel::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub enum $name { $( $(#[$vmeta])* $variant ),+ }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(
                    self.as_db(),
                    out,
                )
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(value: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = std::str::from_utf8(value.as_bytes())?;
                Self::from_db(text).ok_or_else(|| {
                    format!("unknown {} stored: {:?}", stringify!($name), text).into()
                })
            }
        }

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
