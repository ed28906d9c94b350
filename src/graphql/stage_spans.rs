//! Spans for async-graphql's validation and execution stages, installed only when traces
//! are exported (see `telemetry`): any extension sends every field down async-graphql's
//! slow path (see `schema/gateway.rs`), a cost only worth paying when someone looks at the
//! traces. (The parse stage is the gateway's own, `admit`, and has its span there.)
//!
//! Hand-written rather than async-graphql's `Tracing` extension: that one also makes a
//! span per resolved field, hundreds per page, which is a profiler's job, not a trace's.

use std::sync::Arc;

use async_graphql::async_trait::async_trait;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextValidation,
};
use async_graphql::{Response, ServerError, ValidationResult};
use tracing::Instrument as _;

pub struct StageSpans;

impl ExtensionFactory for StageSpans {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(StageSpans)
    }
}

#[async_trait]
impl Extension for StageSpans {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx)
            .instrument(tracing::info_span!("graphql.validate"))
            .await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        next.run(ctx, operation_name)
            .instrument(tracing::info_span!("graphql.execute"))
            .await
    }
}
