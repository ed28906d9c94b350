use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use crate::db::json::RawJson;
use crate::db::sql::Statement;

/// A person with all their distinct ids.
#[derive(Debug, Clone, QueryableByName)]
pub struct Person {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Jsonb)]
    pub properties: RawJson,
    #[diesel(sql_type = Bool)]
    pub is_identified: bool,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Array<Text>)]
    pub distinct_ids: Vec<String>,
}

impl Person {
    /// The display name, as the reference derives it: the `name` property, else the
    /// `email` property, else a distinct id.
    pub fn display_name(&self) -> String {
        self.properties
            .strings_of(["name", "email"])
            .into_iter()
            .flatten()
            .map(|value| value.trim().to_string())
            .find(|value| !value.is_empty())
            .or_else(|| self.distinct_ids.first().cloned())
            .unwrap_or_default()
    }
}

/// How a ticket finds its person: by distinct id, else (email tickets) by the sender's
/// address matching the person's `email` property in any letter case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PersonKey {
    pub distinct_id: String,
    pub email: Option<String>,
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Text)]
    key_distinct_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    key_email: Option<String>,
    #[diesel(embed)]
    person: Person,
}

/// The persons of many tickets in one statement.
pub fn for_keys(
    conn: &mut PgConnection,
    team_id: Uuid,
    keys: &[PersonKey],
) -> QueryResult<HashMap<PersonKey, Person>> {
    let distinct_ids: Vec<String> = keys.iter().map(|k| k.distinct_id.clone()).collect();
    let emails: Vec<Option<String>> = keys.iter().map(|k| k.email.clone()).collect();
    let found: Vec<Found> = Statement::new()
        .sql(
            "SELECT w.distinct_id AS key_distinct_id, w.email AS key_email, \
                    p.id, p.properties, p.is_identified, p.created_at, \
                    ARRAY(SELECT d.distinct_id FROM person_distinct_ids d \
                          WHERE d.person_id = p.id ORDER BY d.distinct_id) AS distinct_ids \
             FROM unnest(",
        )
        .bind::<Array<Text>, _>(distinct_ids)
        .sql("::text[], ")
        .bind::<Array<Nullable<Text>>, _>(emails)
        .sql(
            "::text[]) AS w(distinct_id, email) \
             JOIN persons p ON p.id = COALESCE( \
                 (SELECT d.person_id FROM person_distinct_ids d \
                  WHERE d.team_id = ",
        )
        .bind::<SqlUuid, _>(team_id)
        .sql(
            " AND d.distinct_id = w.distinct_id), \
                 (SELECT e.id FROM persons e \
                  WHERE w.email IS NOT NULL AND e.team_id = ",
        )
        .bind::<SqlUuid, _>(team_id)
        .sql(
            " AND lower(e.properties ->> 'email') = lower(w.email) \
                  ORDER BY e.created_at, e.id LIMIT 1))",
        )
        .load(conn)?;
    Ok(found
        .into_iter()
        .map(|f| {
            (
                PersonKey {
                    distinct_id: f.key_distinct_id,
                    email: f.key_email,
                },
                f.person,
            )
        })
        .collect())
}

/// The team's persons owning any of these distinct ids.
pub fn by_distinct_ids(
    conn: &mut PgConnection,
    team_id: Uuid,
    distinct_ids: &[String],
) -> QueryResult<Vec<Person>> {
    Statement::new()
        .sql(
            "SELECT p.id, p.properties, p.is_identified, p.created_at, \
                    ARRAY(SELECT d.distinct_id FROM person_distinct_ids d \
                          WHERE d.person_id = p.id ORDER BY d.distinct_id) AS distinct_ids \
             FROM persons p WHERE p.team_id = ",
        )
        .bind::<SqlUuid, _>(team_id)
        .sql(
            " AND p.id IN (SELECT d.person_id FROM person_distinct_ids d \
                           WHERE d.team_id = ",
        )
        .bind::<SqlUuid, _>(team_id)
        .sql(" AND d.distinct_id = ANY(")
        .bind::<Array<Text>, _>(distinct_ids.to_vec())
        .sql(")) ORDER BY p.created_at, p.id")
        .load(conn)
}

/// The team's persons with these ids (global object look-ups), in one statement.
pub fn by_ids(conn: &mut PgConnection, team_id: Uuid, ids: &[Uuid]) -> QueryResult<Vec<Person>> {
    Statement::new()
        .sql(
            "SELECT p.id, p.properties, p.is_identified, p.created_at, \
                    ARRAY(SELECT d.distinct_id FROM person_distinct_ids d \
                          WHERE d.person_id = p.id ORDER BY d.distinct_id) AS distinct_ids \
             FROM persons p WHERE p.team_id = ",
        )
        .bind::<SqlUuid, _>(team_id)
        .sql(" AND p.id = ANY(")
        .bind::<Array<SqlUuid>, _>(ids.to_vec())
        .sql(")")
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(properties: serde_json::Value, ids: &[&str]) -> Person {
        Person {
            id: Uuid::nil(),
            properties: RawJson::from(&properties),
            is_identified: false,
            created_at: Utc::now(),
            distinct_ids: ids.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn display_names_fall_back_from_name_to_email_to_a_distinct_id() {
        let both = person(
            serde_json::json!({"name": "Ada", "email": "ada@x.io"}),
            &["d1"],
        );
        assert_eq!(both.display_name(), "Ada");
        let email = person(
            serde_json::json!({"name": " ", "email": "ada@x.io"}),
            &["d1"],
        );
        assert_eq!(email.display_name(), "ada@x.io");
        let anonymous = person(serde_json::json!({"plan": "pro"}), &["d1", "d2"]);
        assert_eq!(anonymous.display_name(), "d1");
    }
}
