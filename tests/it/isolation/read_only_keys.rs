//! A read-only key on every mutation: FORBIDDEN, whoever's ids it names, and nothing changes.

use super::matrix::{case, run_matrix, Expect};
use super::operations::{missing_target, mutation_templates};
use super::world::{world, Who};

#[tokio::test]
async fn read_only_keys_change_nothing() {
    let w = world();
    let cases = mutation_templates()
        .into_iter()
        .map(|template| {
            case(
                template.name,
                Who::ReadOnlyA,
                template.query,
                (template.vars)(&w, &w.own_target()),
                Expect::Code("FORBIDDEN"),
            )
            .same_as((template.vars)(&w, &w.team_b_target()))
            .same_as((template.vars)(&w, &missing_target()))
        })
        .collect();
    run_matrix(
        &w,
        "team A's read-only key on every mutation (A's, B's and missing ids)",
        cases,
    )
    .await;
}
