//! Persons (with their distinct ids and identities) and the customer side of each ticket.

use std::ops::Range;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{json, Value};

use super::Generator;
use crate::seed::catalog;
use crate::seed::ids::IdKind;
use crate::seed::rows::{Chunk, NewDistinctId, NewPerson};

/// Persons per ticket: "roughly one per 2–3 tickets".
const PERSONS_PER_TICKET: f64 = 0.4;

/// A generated customer: who the ticket's `distinct_id` points at, if anyone.
pub(super) struct PersonInfo {
    distinct_ids: Range<usize>,
    identity: Option<Identity>,
}

#[derive(Clone)]
pub(super) struct Identity {
    pub(super) first_name: &'static str,
    pub(super) name: String,
    pub(super) email: String,
}

/// The customer side of one ticket.
pub(super) struct Customer {
    pub(super) distinct_id: String,
    pub(super) identity: Option<Identity>,
    /// The ticket's `email_from`, for email tickets.
    pub(super) email_from: Option<String>,
}

impl Generator<'_> {
    pub(super) fn persons(
        &mut self,
        chunk: &mut Chunk,
        tickets: usize,
        before: DateTime<Utc>,
    ) -> Vec<PersonInfo> {
        let count = ((tickets as f64 * PERSONS_PER_TICKET).ceil() as usize).max(1);
        (0..count).map(|_| self.person(chunk, before)).collect()
    }

    fn person(&mut self, chunk: &mut Chunk, before: DateTime<Utc>) -> PersonInfo {
        let id = self.ids.next(IdKind::Person);
        let identity = self.rng.random_bool(0.65).then(|| self.identity());
        let mut properties = json!({
            "$browser": self.pick(&catalog::BROWSERS),
            "$os": self.pick(&catalog::OPERATING_SYSTEMS),
            "$geoip_country_code": self.pick(&catalog::COUNTRIES),
        });
        if let (Some(who), Value::Object(map)) = (&identity, &mut properties) {
            map.insert("name".into(), who.name.clone().into());
            map.insert("email".into(), who.email.clone().into());
            map.insert("plan".into(), (*self.pick(&catalog::PLANS)).into());
            map.insert("company".into(), company_of(&who.email).into());
        }
        let start = chunk.distinct_ids.len();
        let n_ids = self.weighted(&[(1, 55), (2, 30), (3, 15)]);
        for k in 0..n_ids {
            // Identified persons carry the product's user id; the others only the
            // anonymous ids the SDK minted per device.
            let distinct_id = match (k, &identity) {
                (0, Some(_)) => format!("user-{}", self.ids.next(IdKind::DistinctId).simple()),
                _ => self.anonymous_id(),
            };
            chunk.distinct_ids.push(NewDistinctId {
                team_id: self.ctx.team_id,
                distinct_id,
                person_id: id,
            });
        }
        chunk.persons.push(NewPerson {
            id,
            team_id: self.ctx.team_id,
            properties,
            is_identified: identity.is_some(),
            created_at: before - self.seconds(0, 90 * 86_400),
        });
        PersonInfo {
            distinct_ids: start..chunk.distinct_ids.len(),
            identity,
        }
    }

    /// A made-up customer: name and an email at their company or a free-mail domain.
    pub(super) fn identity(&mut self) -> Identity {
        let first_name = *self.pick(&catalog::FIRST_NAMES);
        let last = *self.pick(&catalog::LAST_NAMES);
        let domain = if self.rng.random_bool(0.75) {
            self.pick(&catalog::COMPANIES).1
        } else {
            *self.pick(&catalog::FREEMAIL)
        };
        let number: u16 = self.rng.random_range(1..1000);
        Identity {
            first_name,
            name: format!("{first_name} {last}"),
            email: format!(
                "{}.{}{number}@{domain}",
                ascii_fold(first_name),
                ascii_fold(last)
            ),
        }
    }

    /// Like posthog-js: anonymous ids are UUIDv7 strings.
    fn anonymous_id(&mut self) -> String {
        self.ids.next(IdKind::DistinctId).hyphenated().to_string()
    }

    /// Who wrote in. Most tickets point at a known person; some at an unknown distinct
    /// id; some email tickets at an unknown id but from a known person's address in
    /// other letter case, which the email fallback must still resolve.
    pub(super) fn customer(
        &mut self,
        chunk: &Chunk,
        persons: &[PersonInfo],
        source: &str,
    ) -> Customer {
        let roll: f64 = self.rng.random();
        let is_email = source == "email";
        if roll < 0.07 {
            let identity = self.identity();
            return Customer {
                distinct_id: self.anonymous_id(),
                email_from: is_email.then(|| identity.email.clone()),
                identity: Some(identity),
            };
        }
        // Email needs an address: only identified persons have one.
        let person = if is_email {
            self.pick_identified(persons)
        } else {
            Some(self.pick(persons))
        };
        let Some(person) = person else {
            return self.stranger(is_email);
        };
        if is_email && roll < 0.15 {
            let identity = person.identity.clone();
            return Customer {
                distinct_id: self.anonymous_id(),
                email_from: identity.as_ref().map(|who| shout_case(&who.email)),
                identity,
            };
        }
        let index = self.rng.random_range(person.distinct_ids.clone());
        Customer {
            distinct_id: chunk.distinct_ids[index].distinct_id.clone(),
            email_from: person
                .identity
                .as_ref()
                .filter(|_| is_email)
                .map(|who| who.email.clone()),
            identity: person.identity.clone(),
        }
    }

    /// An anonymous visitor nobody knows.
    fn stranger(&mut self, is_email: bool) -> Customer {
        let identity = self.identity();
        Customer {
            distinct_id: self.anonymous_id(),
            email_from: is_email.then(|| identity.email.clone()),
            identity: is_email.then_some(identity),
        }
    }

    /// A few tries at an identified person (65% are), rather than scanning the chunk.
    fn pick_identified<'p>(&mut self, persons: &'p [PersonInfo]) -> Option<&'p PersonInfo> {
        (0..8)
            .map(|_| self.pick(persons))
            .find(|person| person.identity.is_some())
    }

    /// Name and email the customer typed into the widget or sent from, for some tickets.
    pub(super) fn anonymous_traits(&mut self, source: &str, customer: &Customer) -> Value {
        let chance = match (source, &customer.identity) {
            ("email", _) => 0.5,
            ("widget", None) => 0.4,
            ("widget", Some(_)) => 0.2,
            _ => 0.0,
        };
        if !self.rng.random_bool(chance) {
            return json!({});
        }
        let who = match &customer.identity {
            Some(identity) => identity.clone(),
            None => self.identity(),
        };
        let email = customer.email_from.clone().unwrap_or(who.email);
        json!({ "name": who.name, "email": email })
    }
}

/// The company part of a customer email, for `properties.company`.
fn company_of(email: &str) -> &'static str {
    let domain = email.rsplit('@').next().unwrap_or_default();
    catalog::COMPANIES
        .iter()
        .find(|(_, d)| *d == domain)
        .map(|(name, _)| *name)
        .unwrap_or("")
}

/// The same address in other letter case (`Olivia.Smith7@ACME.IO`): equal only when
/// compared case-insensitively, as the email fallback compares.
pub fn shout_case(email: &str) -> String {
    let (local, domain) = email.split_once('@').unwrap_or((email, ""));
    let local: Vec<String> = local.split('.').map(capitalize).collect();
    format!("{}@{}", local.join("."), domain.to_uppercase())
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Lowercase ASCII for email local parts: accents dropped, other symbols removed.
fn ascii_fold(name: &str) -> String {
    name.chars()
        .filter_map(|c| {
            let base = match c {
                'á' | 'à' | 'â' | 'ä' | 'Á' => 'a',
                'é' | 'è' | 'ê' | 'ë' | 'É' => 'e',
                'í' | 'ï' => 'i',
                'ó' | 'ö' | 'ô' => 'o',
                'ú' | 'ü' | 'Ü' => 'u',
                'ñ' => 'n',
                c if c.is_ascii_alphanumeric() => c,
                _ => return None,
            };
            Some(base.to_ascii_lowercase())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shout_case_differs_only_in_case() {
        let email = "olivia.smith7@acme.io";
        let loud = shout_case(email);
        assert_eq!(loud, "Olivia.Smith7@ACME.IO");
        assert_ne!(loud, email);
        assert_eq!(loud.to_lowercase(), email);
    }

    #[test]
    fn names_fold_to_ascii() {
        assert_eq!(ascii_fold("Müller"), "muller");
        assert_eq!(ascii_fold("O'Brien"), "obrien");
        assert_eq!(ascii_fold("Chloé"), "chloe");
    }
}
