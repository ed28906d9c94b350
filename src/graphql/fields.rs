//! Field rules: for each GraphQL field of a listed type, declared once, the columns of
//! its table it reads and how a list answers it (`Plan`). Lists (`lists`), look-aheads
//! and the SQL builders of a domain read the same table, so a new field is one entry,
//! and a selection can say which columns it needs (tickets' projection pushdown reads
//! only those).
//!
//! A domain extends a rule with what only it knows (tickets: sort keys and read-ahead,
//! see `tickets::fields`).

use std::collections::BTreeSet;

use async_graphql::Lookahead;

use super::lists::Plan;

/// One GraphQL field of a listed type `T`, with `X`: what the type's domain adds.
pub struct FieldRule<T: 'static, X: 'static = ()> {
    /// The field's GraphQL name.
    pub name: &'static str,
    /// The columns of `T`'s table the field reads (none for fields answered by a loader
    /// keyed on the row's id).
    pub columns: &'static [&'static str],
    /// How a list answers it.
    pub plan: Plan<T>,
    /// The domain's own rules for the field.
    pub more: X,
}

/// A type's rules, with the columns every row needs whatever is selected (its keys).
pub struct FieldRules<T: 'static, X: 'static = ()> {
    pub fields: &'static [FieldRule<T, X>],
    pub keys: &'static [&'static str],
}

impl<T, X> FieldRules<T, X> {
    pub fn get(&self, name: &str) -> Option<&'static FieldRule<T, X>> {
        self.fields.iter().find(|rule| rule.name == name)
    }

    /// How lists answer `name`; async-graphql's own resolver for a field without a rule.
    pub fn plan(&self, name: &str) -> Plan<T> {
        self.get(name).map_or(Plan::Each, |rule| rule.plan)
    }

    /// The columns a selection of `T` reads: the keys, and each selected field's columns
    /// (aliases and fragments included, as async-graphql's look-ahead sees them).
    pub fn columns(&self, selection: &Lookahead<'_>) -> BTreeSet<&'static str> {
        let mut columns: BTreeSet<&'static str> = self.keys.iter().copied().collect();
        for rule in self.fields {
            if selection.field(rule.name).exists() {
                columns.extend(rule.columns);
            }
        }
        columns
    }
}
