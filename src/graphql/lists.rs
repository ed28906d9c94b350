//! Lists of objects resolved as a whole, field by field rather than object by object.
//!
//! async-graphql resolves every field of every object as a boxed future of its own, polled
//! through a `FuturesUnordered`, and inserts the results in the order they finish. On a
//! 50-ticket page that is about a thousand futures — the largest share of the server's CPU
//! (see BENCHMARKS.md) — and an object's fields come back in completion order, not in the
//! order the query asked for them.
//!
//! Here the selection of a list is flattened once (fragments expanded by the rules
//! async-graphql applies), and each field is answered for every item of the list in one
//! go, the way its type's [`Plan`] says: read straight off the item ([`Plan::Row`]), asked
//! for the whole list at once ([`Plan::Batch`]: one DataLoader `load_many` for all items,
//! then the nested selection resolved as a list again), or, for anything else, by
//! async-graphql's own resolver item by item ([`Plan::Each`]). Objects are then assembled in
//! the selection's order, repeated response keys merged as async-graphql merges them.
//! Errors are reported as async-graphql reports them: at the field's path, the field left
//! out of its object.
//!
//! No library offers this: async-graphql has no hook between "a list of objects" and "each
//! field of each object". It relies on async-graphql's context types (`ContextBase`,
//! `with_field`, `with_index`), which are public but marked unstable; the version is
//! pinned in Cargo.lock, and `tests/it/lists.rs` checks every field against async-graphql's
//! own resolution.

use std::borrow::Cow;

use async_graphql::connection::{Edge, EmptyFields, PageInfo};
use async_graphql::indexmap::map::Entry;
use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{
    ContainerType, Context, ContextSelectionSet, ErrorExtensions, Name, OutputType, Positioned,
    ServerError, ServerResult, Value,
};
use futures_util::future::{join_all, BoxFuture};

use super::budget::{weight, ResponseBudget};
use crate::auth::Viewer;

/// Reads a field's value off one item.
pub type RowFn<T> = fn(&T, &Viewer) -> async_graphql::Result<Value>;

/// Answers a field for every item at once: `fields[i]` is item i's context of the field
/// (its path, arguments and nested selection). One value per item; `None` leaves the field
/// out of that item (its error has been reported).
pub type BatchFn<T> =
    for<'a> fn(&'a [&'a T], &'a [Context<'a>]) -> BoxFuture<'a, Vec<Option<Value>>>;

/// How a list of `T` answers one of `T`'s fields.
pub enum Plan<T> {
    /// A function of the item (and of who asks): no waiting, nothing allocated per field
    /// beyond the value itself.
    Row(RowFn<T>),
    /// Asked for the whole list at once.
    Batch(BatchFn<T>),
    /// async-graphql's own resolver, item by item: fields with arguments or that lists
    /// rarely select.
    Each,
}

// Manual: a derive would ask `T: Copy`, and a plan only holds function pointers.
impl<T> Clone for Plan<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Plan<T> {}

/// A GraphQL object type whose lists are resolved as a whole.
pub trait ListObject: ContainerType + Send + Sync + Sized {
    /// How lists answer the field named `field` (never `__typename`).
    fn plan(field: &str) -> Plan<Self>;
}

/// What a flattened field of the selection is answered by.
enum Step<T> {
    Typename,
    Plan(Plan<T>),
}

/// Resolves the selection of `ctxs[i]` (item i's context: every item shares the selection
/// set, each has its own path) on `items[i]`, one object per item.
pub async fn resolve_objects<'a, T: ListObject>(
    ctxs: &'a [ContextSelectionSet<'a>],
    items: &'a [&'a T],
) -> ServerResult<Vec<Value>> {
    let Some(first) = ctxs.first() else {
        return Ok(Vec::new());
    };
    let mut fields = Vec::new();
    flatten::<T>(first, &first.item.node, &mut fields)?;
    // Without a viewer async-graphql's resolvers refuse the request; let them say so.
    let viewer = first.data_opt::<Viewer>();
    let steps: Vec<Step<T>> = fields
        .iter()
        .map(|field| match field.node.name.node.as_str() {
            "__typename" => Step::Typename,
            _ if viewer.is_none() => Step::Plan(Plan::Each),
            name => Step::Plan(T::plan(name)),
        })
        .collect();

    // The fields that wait, each for every item at once; all of them concurrently, so
    // the request's loaders see every key before they go to the database.
    let contexts: Vec<Vec<Context<'_>>> = fields
        .iter()
        .zip(&steps)
        .map(|(field, step)| match step {
            Step::Plan(Plan::Batch(_) | Plan::Each) => {
                ctxs.iter().map(|ctx| ctx.with_field(field)).collect()
            }
            _ => Vec::new(),
        })
        .collect();
    let waiting = steps
        .iter()
        .zip(&contexts)
        .map(|(step, fields)| async move {
            match step {
                Step::Plan(Plan::Batch(batch)) => batch(items, fields).await,
                Step::Plan(Plan::Each) => each(items, fields).await,
                _ => Vec::new(),
            }
        });
    let mut answers = join_all(waiting).await;

    let typename = Value::String(T::type_name().into_owned());
    // The row values are what a list adds to the response itself (nested lists and
    // fields resolved by async-graphql charge their own or are small): see `budget`.
    let budget = first.data_opt::<ResponseBudget>();
    let mut objects = Vec::with_capacity(items.len());
    for (index, (item, ctx)) in items.iter().zip(ctxs).enumerate() {
        let mut object = IndexMap::with_capacity(fields.len());
        for (k, (field, step)) in fields.iter().zip(&steps).enumerate() {
            let value = match step {
                Step::Typename => Some(typename.clone()),
                Step::Plan(Plan::Row(read)) => match viewer.map(|viewer| read(item, viewer)) {
                    Some(Ok(value)) => {
                        if let Some(budget) = budget {
                            budget.charge(weight(&value))?;
                        }
                        Some(value)
                    }
                    Some(Err(error)) => {
                        report(&ctx.with_field(field), error);
                        None
                    }
                    None => None,
                },
                Step::Plan(_) => answers[k].get_mut(index).and_then(Option::take),
            };
            if let Some(value) = value {
                insert_value(&mut object, field.node.response_key().node.clone(), value);
            }
        }
        // As async-graphql: an object none of whose fields could be resolved is null.
        objects.push(match object.is_empty() {
            true => Value::Null,
            false => Value::Object(object),
        });
    }
    Ok(objects)
}

/// async-graphql's resolver of the field, for each item.
async fn each<'a, T: ContainerType>(
    items: &'a [&'a T],
    fields: &'a [Context<'a>],
) -> Vec<Option<Value>> {
    join_all(items.iter().zip(fields).map(|(item, field)| async move {
        match item.resolve_field(field).await {
            Ok(value) => Some(value.unwrap_or_default()),
            Err(error) => {
                field.add_error(error);
                None
            }
        }
    }))
    .await
}

/// Reports a field's error at the field's path.
pub fn report(field: &Context<'_>, error: async_graphql::Error) {
    field.add_error(field.set_error_path(error.into_server_error(field.item.pos)));
}

/// Reports `error` for every item's field (a batch that could not be answered): as
/// async-graphql does when each item's resolver fails alike.
pub fn fail_all(fields: &[Context<'_>], error: impl ErrorExtensions) -> Vec<Option<Value>> {
    let error = error.extend();
    for field in fields {
        report(field, error.clone());
    }
    vec![None; fields.len()]
}

/// The nested selection of `fields[i]` resolved on `children[i]`, null where there is no
/// child: for object fields answered in a batch.
pub async fn nested<'a, C: ListObject>(
    fields: &'a [Context<'a>],
    children: &[Option<&'a C>],
) -> Vec<Option<Value>> {
    let (present, selections): (Vec<&C>, Vec<ContextSelectionSet<'_>>) = children
        .iter()
        .zip(fields)
        .filter_map(|(child, field)| {
            child.map(|child| {
                (
                    child,
                    field.with_selection_set(&field.item.node.selection_set),
                )
            })
        })
        .unzip();
    let mut resolved = match resolve_objects(&selections, &present).await {
        Ok(values) => values.into_iter(),
        Err(error) => {
            // Only an unknown fragment gets here, which validation already refuses.
            if let Some(field) = fields.first() {
                field.add_error(error);
            }
            return vec![None; fields.len()];
        }
    };
    children
        .iter()
        .map(|child| match child {
            Some(_) => resolved.next(),
            None => Some(Value::Null),
        })
        .collect()
}

/// The fields of `set`, fragments expanded where they apply to `T` (as async-graphql's
/// `Fields::add_set`; `@skip`/`@include` were already applied when the request was
/// prepared).
fn flatten<'a, T: OutputType>(
    ctx: &ContextSelectionSet<'a>,
    set: &'a SelectionSet,
    out: &mut Vec<&'a Positioned<Field>>,
) -> ServerResult<()> {
    for selection in &set.items {
        let (condition, selection_set) = match &selection.node {
            Selection::Field(field) => {
                out.push(field);
                continue;
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                let fragment = ctx.query_env.fragments.get(name).ok_or_else(|| {
                    ServerError::new(format!(r#"Unknown fragment "{name}"."#), Some(spread.pos))
                })?;
                (
                    Some(fragment.node.type_condition.node.on.node.as_str()),
                    &fragment.node.selection_set.node,
                )
            }
            Selection::InlineFragment(fragment) => (
                fragment
                    .node
                    .type_condition
                    .as_ref()
                    .map(|condition| condition.node.on.node.as_str()),
                &fragment.node.selection_set.node,
            ),
        };
        if applies::<T>(ctx, condition) {
            flatten::<T>(ctx, selection_set, out)?;
        }
    }
    Ok(())
}

fn applies<T: OutputType>(ctx: &ContextSelectionSet<'_>, condition: Option<&str>) -> bool {
    let Some(condition) = condition else {
        return true;
    };
    let name = T::type_name();
    name == condition
        || ctx
            .schema_env
            .registry
            .implements
            .get(name.as_ref())
            .is_some_and(|interfaces| interfaces.contains(condition))
}

/// Adds a field's value to an object, merging it into an earlier value under the same
/// response key (`person { id } person { name }`) as async-graphql does.
fn insert_value(object: &mut IndexMap<Name, Value>, key: Name, value: Value) {
    // One look-up of the key (an entry), not a `get` then an `insert`: hashing response
    // keys is a visible share of a page's CPU.
    match object.entry(key) {
        Entry::Vacant(slot) => {
            slot.insert(value);
        }
        Entry::Occupied(mut slot) => merge_value(slot.get_mut(), value),
    }
}

/// Merges `value` into an earlier value under the same response key.
fn merge_value(previous: &mut Value, value: Value) {
    match (previous, value) {
        (Value::Object(previous), Value::Object(more)) => {
            for (key, value) in more {
                insert_value(previous, key, value);
            }
        }
        (Value::List(previous), Value::List(more)) => {
            for (previous, value) in previous.iter_mut().zip(more) {
                if let (Value::Object(previous), Value::Object(more)) = (previous, value) {
                    for (key, value) in more {
                        insert_value(previous, key, value);
                    }
                }
            }
        }
        _ => {}
    }
}

/// A page of a Relay connection: what `TicketConnection` and `MessageConnection` answer
/// `pageInfo`, `edges` and `nodes` from (as async-graphql's `Connection` would, with
/// edges and nodes resolved as lists).
pub struct Page<T: OutputType> {
    pub edges: Vec<Edge<String, T, EmptyFields>>,
    pub has_previous_page: bool,
    pub has_next_page: bool,
}

impl<T: ListObject> Page<T> {
    pub fn page_info(&self) -> PageInfo {
        PageInfo {
            has_previous_page: self.has_previous_page,
            has_next_page: self.has_next_page,
            start_cursor: self.edges.first().map(|edge| edge.cursor.clone()),
            end_cursor: self.edges.last().map(|edge| edge.cursor.clone()),
        }
    }

    pub fn edges(&self) -> ObjectList<'_, Edge<String, T, EmptyFields>> {
        ObjectList(self.edges.iter().collect())
    }

    pub fn nodes(&self) -> ObjectList<'_, T> {
        ObjectList(self.edges.iter().map(|edge| &edge.node).collect())
    }
}

/// `[T!]!`, resolved as a whole: what a connection's `nodes` and `edges` return.
pub struct ObjectList<'a, T>(pub Vec<&'a T>);

impl<T: ListObject> OutputType for ObjectList<'_, T> {
    fn type_name() -> Cow<'static, str> {
        <Vec<T> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<T> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Vec<T> as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let items: Vec<ContextSelectionSet<'_>> = (0..self.0.len())
            .map(|index| ctx.with_index(index))
            .collect();
        Ok(Value::List(resolve_objects(&items, &self.0).await?))
    }
}

/// A connection's edge: its cursor, and its node resolved with the other edges' nodes.
impl<T: ListObject> ListObject for Edge<String, T, EmptyFields> {
    fn plan(field: &str) -> Plan<Self> {
        match field {
            "cursor" => Plan::Row(|edge, _| Ok(Value::String(edge.cursor.clone()))),
            "node" => Plan::Batch(edge_nodes::<T>),
            _ => Plan::Each,
        }
    }
}

fn edge_nodes<'a, T: ListObject>(
    edges: &'a [&'a Edge<String, T, EmptyFields>],
    fields: &'a [Context<'a>],
) -> BoxFuture<'a, Vec<Option<Value>>> {
    Box::pin(async move {
        let nodes: Vec<Option<&T>> = edges.iter().map(|edge| Some(&edge.node)).collect();
        nested(fields, &nodes).await
    })
}

/// Values as async-graphql's own scalars and enums print them.
pub mod values {
    use async_graphql::{ErrorExtensions, InputType, Value};

    use crate::db::json::RawJson;

    /// Any scalar or enum async-graphql knows (ids, numbers, times, enums, options).
    pub fn of<V: InputType>(value: &V) -> Value {
        value.to_value()
    }

    pub fn string(value: &str) -> Value {
        Value::String(value.to_owned())
    }

    pub fn opt_string(value: Option<&str>) -> Value {
        value.map_or(Value::Null, string)
    }

    pub fn strings(values: &[String]) -> Value {
        Value::List(values.iter().map(|value| string(value)).collect())
    }

    /// A `JSON` scalar.
    pub fn json(value: &RawJson) -> async_graphql::Result<Value> {
        value.to_graphql().map_err(|err| err.extend())
    }
}
