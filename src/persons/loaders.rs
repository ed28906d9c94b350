//! The person of each ticket of a page, in one statement.

use async_graphql::dataloader::Loader;
use std::sync::Arc;

use super::queries::{self, PersonKey};
use super::Person;
use crate::error::AppError;
use crate::graphql::loaders::{Batch, LoadResult};

impl Loader<PersonKey> for Batch {
    type Value = Person;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[PersonKey]) -> LoadResult<PersonKey, Person> {
        let mut taken = self.take_primed(keys);
        if !taken.missing.is_empty() {
            let missing = std::mem::take(&mut taken.missing);
            let more = self
                .run(move |conn, scope| Ok(queries::for_keys(conn, scope.team_id, &missing)?))
                .await?;
            taken.found.extend(more);
        }
        Ok(taken.found)
    }
}
