//! `jsonb` columns kept as their text until someone looks inside.
//!
//! A page of tickets carries three jsonb columns per row (traits, session context, cc
//! list) and every person its properties; almost no request reads them. Parsed into
//! `serde_json::Value` trees (one allocation per key and string) and then cloned out of the
//! DataLoader, they cost about a tenth of the server's CPU per page. As text behind an
//! `Arc` they cost one allocation, clone for free, and are parsed only when a client asks
//! for them — straight into async-graphql's value, with no tree in between.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{
    ContextSelectionSet, ErrorExtensions, Json, OutputType, Positioned, ServerResult, Value,
};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::{Pg, PgValue};
use diesel::sql_types::Jsonb;
use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::Deserializer;

use crate::error::AppError;

/// The text of a `jsonb` value, as PostgreSQL sends it (valid JSON, keys deduplicated).
#[derive(Clone, PartialEq, Eq, FromSqlRow)]
#[diesel(sql_type = Jsonb)]
pub struct RawJson(Arc<str>);

impl RawJson {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value as any deserializable type (`serde_json::Value`, async-graphql's `Value`…).
    pub fn parse<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(&self.0)
    }

    /// The string values of `keys` when this is an object (other values and keys are
    /// skipped without being built): `[Some("Ada"), None]` for `{"name": "Ada", "n": 1}`
    /// and `["name", "email"]`.
    pub fn strings_of<const N: usize>(&self, keys: [&str; N]) -> [Option<String>; N] {
        let mut deserializer = serde_json::Deserializer::from_str(&self.0);
        deserializer
            .deserialize_any(StringsOf { keys })
            .unwrap_or_else(|_| std::array::from_fn(|_| None))
    }
}

/// As the `JSON` scalar (what `async_graphql::Json` registers and prints).
impl OutputType for RawJson {
    fn type_name() -> Cow<'static, str> {
        <Json<serde_json::Value> as OutputType>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Json<serde_json::Value> as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        _ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        self.to_graphql()
            .map_err(|err| err.extend().into_server_error(field.pos))
    }
}

impl RawJson {
    /// The value for a GraphQL response (an internal error if the text were not JSON,
    /// which PostgreSQL never sends).
    pub fn to_graphql(&self) -> Result<Value, AppError> {
        self.parse()
            .map_err(|err| AppError::internal(format!("unreadable jsonb from the database: {err}")))
    }
}

impl From<&serde_json::Value> for RawJson {
    fn from(value: &serde_json::Value) -> Self {
        RawJson(value.to_string().into())
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromSql<Jsonb, Pg> for RawJson {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        // The binary jsonb format: a version byte (1), then the JSON text.
        match value.as_bytes().split_first() {
            Some((1, text)) => Ok(RawJson(std::str::from_utf8(text)?.into())),
            _ => Err("unsupported jsonb version".into()),
        }
    }
}

struct StringsOf<'k, const N: usize> {
    keys: [&'k str; N],
}

impl<'de, const N: usize> Visitor<'de> for StringsOf<'_, N> {
    type Value = [Option<String>; N];

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found: [Option<String>; N] = std::array::from_fn(|_| None);
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match self.keys.iter().position(|wanted| *wanted == key) {
                Some(slot) => found[slot] = map.next_value::<StringOrNone>()?.0,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }

    // Anything but an object has no keys.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(std::array::from_fn(|_| None))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(std::array::from_fn(|_| None))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(std::array::from_fn(|_| None))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(std::array::from_fn(|_| None))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(std::array::from_fn(|_| None))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(std::array::from_fn(|_| None))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(std::array::from_fn(|_| None))
    }
}

/// A JSON string, or None for any other value (skipped without being built).
struct StringOrNone(Option<String>);

impl<'de> serde::Deserialize<'de> for StringOrNone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringOrNone;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_str<E>(self, value: &str) -> Result<StringOrNone, E> {
                Ok(StringOrNone(Some(value.to_owned())))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StringOrNone, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(StringOrNone(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<StringOrNone, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(StringOrNone(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<StringOrNone, E> {
                Ok(StringOrNone(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<StringOrNone, E> {
                Ok(StringOrNone(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<StringOrNone, E> {
                Ok(StringOrNone(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<StringOrNone, E> {
                Ok(StringOrNone(None))
            }
            fn visit_unit<E>(self) -> Result<StringOrNone, E> {
                Ok(StringOrNone(None))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawJson {
        RawJson(text.into())
    }

    #[test]
    fn picks_string_values_and_skips_the_rest() {
        let props = raw(r#"{"$os": {"a": [1, 2]}, "name": "Ada \"L\"", "n": 1, "email": 5}"#);
        assert_eq!(
            props.strings_of(["name", "email"]),
            [Some("Ada \"L\"".to_string()), None]
        );
        assert_eq!(raw("[1, 2]").strings_of(["name"]), [None]);
        assert_eq!(raw("null").strings_of(["name"]), [None]);
        assert_eq!(raw(r#"{"name": null}"#).strings_of(["name"]), [None]);
    }

    #[test]
    fn parses_into_the_same_value_as_serde_json() {
        let text = r#"{"b": [1, 2.5, "x", null, true], "a": {"c": -3}}"#;
        let direct: async_graphql::Value = raw(text).parse().unwrap();
        let through_serde =
            async_graphql::to_value(serde_json::from_str::<serde_json::Value>(text).unwrap())
                .unwrap();
        assert_eq!(direct, through_serde);
    }
}
