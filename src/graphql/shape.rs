//! How deep a document goes once its fragments are followed, measured without recursion.
//!
//! async-graphql checks the depth of each operation, but several of its validation rules
//! (fragment cycles, unused fragments) and our own limits follow fragment spreads from
//! every fragment, used or not, one stack frame per link: a chain of 8,000 fragments each
//! spreading the next overflowed a worker's stack. Here each definition is measured on its
//! own (its brackets are already bounded by `lexical::MAX_NESTING`, so that recursion is
//! short) and the spreads between definitions are followed with an explicit stack.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// The deepest a definition may reach, counting each field with a selection, each inline
/// fragment and each fragment spread as a level (as async-graphql's own recursion check
/// counts them, with its default bound).
pub const MAX_DEPTH: usize = 32;

/// One definition seen on its own: its deepest level without following spreads, and each
/// spread with the level it sits at (the spread itself counted).
#[derive(Default)]
struct Local<'a> {
    height: usize,
    spreads: Vec<(&'a str, usize)>,
}

fn local<'a>(set: &'a SelectionSet, level: usize, into: &mut Local<'a>) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) if !field.node.selection_set.node.items.is_empty() => {
                into.height = into.height.max(level + 1);
                local(&field.node.selection_set.node, level + 1, into);
            }
            Selection::Field(_) => {}
            Selection::InlineFragment(fragment) => {
                into.height = into.height.max(level + 1);
                local(&fragment.node.selection_set.node, level + 1, into);
            }
            Selection::FragmentSpread(spread) => {
                into.height = into.height.max(level + 1);
                into.spreads
                    .push((spread.node.fragment_name.node.as_str(), level + 1));
            }
        }
    }
}

fn local_of(set: &SelectionSet) -> Local<'_> {
    let mut measured = Local::default();
    local(set, 0, &mut measured);
    measured
}

#[derive(Clone, Copy)]
enum State {
    Open,
    Done(usize),
}

/// The deepest level any definition of `document` reaches, fragments followed; stops
/// counting (and answers `MAX_DEPTH + 1`) as soon as one goes past `MAX_DEPTH`. A cycle
/// of fragments counts as ending where it closes (validation refuses it later).
pub fn depth(document: &ExecutableDocument) -> usize {
    let locals: HashMap<&str, Local<'_>> = document
        .fragments
        .iter()
        .map(|(name, fragment)| (name.as_str(), local_of(&fragment.node.selection_set.node)))
        .collect();
    let mut heights: HashMap<&str, State> = HashMap::with_capacity(locals.len());
    let mut deepest = 0;
    for name in locals.keys() {
        match fragment_height(name, &locals, &mut heights) {
            Some(height) => deepest = deepest.max(height),
            None => return MAX_DEPTH + 1,
        }
    }
    for (_, operation) in document.operations.iter() {
        let own = local_of(&operation.node.selection_set.node);
        let mut height = own.height;
        for (name, level) in own.spreads {
            height = height.max(level + done(&heights, name));
        }
        deepest = deepest.max(height);
    }
    deepest
}

fn done(heights: &HashMap<&str, State>, name: &str) -> usize {
    match heights.get(name) {
        Some(State::Done(height)) => *height,
        _ => 0,
    }
}

/// The height of one fragment, computed depth-first with an explicit stack; `None` once a
/// height passes `MAX_DEPTH`.
fn fragment_height<'a>(
    root: &'a str,
    locals: &HashMap<&'a str, Local<'a>>,
    heights: &mut HashMap<&'a str, State>,
) -> Option<usize> {
    if let Some(State::Done(height)) = heights.get(root) {
        return Some(*height);
    }
    // Each frame: a fragment and how many of its spreads have been looked at.
    let mut stack: Vec<(&'a str, usize)> = vec![(root, 0)];
    heights.insert(root, State::Open);
    while let Some((name, next)) = stack.last().copied() {
        let spreads = locals.get(name).map_or(&[][..], |l| &l.spreads[..]);
        if let Some((target, _)) = spreads.get(next) {
            if let Some(frame) = stack.last_mut() {
                frame.1 += 1;
            }
            let unseen = !heights.contains_key(target) && locals.contains_key(target);
            if unseen {
                heights.insert(target, State::Open);
                stack.push((target, 0));
            }
            continue;
        }
        let own = locals.get(name).map_or(0, |l| l.height);
        let height = spreads
            .iter()
            .map(|(target, level)| level + done(heights, target))
            .fold(own, usize::max);
        if height > MAX_DEPTH {
            return None;
        }
        heights.insert(name, State::Done(height));
        stack.pop();
    }
    Some(done(heights, root))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_of(query: &str) -> usize {
        depth(&async_graphql::parser::parse_query(query).unwrap())
    }

    #[test]
    fn counts_fields_inline_fragments_and_spreads() {
        assert_eq!(depth_of("{ a }"), 0);
        assert_eq!(depth_of("{ a { b { c } } }"), 2);
        assert_eq!(depth_of("{ ... on Q { a { b } } }"), 2);
        assert_eq!(depth_of("{ a { ...F } } fragment F on A { b { c } }"), 3);
        // An unused fragment counts too: validation walks it.
        assert_eq!(depth_of("{ a } fragment F on A { b { c { d } } }"), 2);
    }

    #[test]
    fn long_chains_are_measured_without_recursion() {
        let links = 20_000;
        let mut query = format!(
            "{{ ...F{} }} fragment F0 on Query {{ __typename }}",
            links - 1
        );
        for level in 1..links {
            query.push_str(&format!(
                " fragment F{level} on Query {{ ...F{} }}",
                level - 1
            ));
        }
        let document = async_graphql::parser::parse_query(&query).unwrap();
        let thread = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || depth(&document))
            .unwrap();
        assert_eq!(thread.join().unwrap(), MAX_DEPTH + 1);
        // A chain just within the bound is measured exactly.
        let mut query = String::from("{ ...F9 } fragment F0 on Query { a }");
        for level in 1..10 {
            query.push_str(&format!(
                " fragment F{level} on Query {{ ...F{} }}",
                level - 1
            ));
        }
        assert_eq!(depth_of(&query), 10);
    }

    #[test]
    fn cycles_end_where_they_close() {
        // Where the cycle is cut depends on which fragment is met first; either way the
        // walk ends, and validation refuses the cycle later.
        let depth = depth_of("{ ...A } fragment A on Q { ...B } fragment B on Q { x { ...A } }");
        assert!((2..=4).contains(&depth), "{depth}");
    }
}
