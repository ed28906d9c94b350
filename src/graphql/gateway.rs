//! The schema as every transport runs it: the document limits first, then async-graphql,
//! then a stable code on every error it raised.
//!
//! This was two async-graphql extensions. Any extension at all, even one that only hooks
//! the request, sends every field of every response down async-graphql's slow path (a
//! registry look-up and a chain of boxed futures per field): on a 50-ticket page that was
//! about a sixth of the server's CPU. Both transports (HTTP and websockets) go through
//! here instead, via async-graphql's own `Executor` trait.

use std::future::ready;
use std::sync::Arc;

use async_graphql::{Data, Executor, Request, Response, ServerError};
use futures_util::stream::{self, BoxStream};
use futures_util::StreamExt;

use super::documents::DocumentCache;
use super::error_codes::{code_response, parse_failed};
use super::limits::DocumentLimits;
use super::schema::GraphqlSchema;

/// Built once at start-up and shared (cheap to clone).
#[derive(Clone)]
pub struct Gateway {
    schema: GraphqlSchema,
    limits: DocumentLimits,
    documents: Option<Arc<DocumentCache>>,
}

impl Gateway {
    pub fn new(schema: GraphqlSchema, limits: DocumentLimits, documents: usize) -> Self {
        Gateway {
            schema,
            limits,
            documents: DocumentCache::new(documents).map(Arc::new),
        }
    }

    /// The SDL clients see.
    pub fn sdl(&self) -> String {
        self.schema.sdl()
    }

    /// Parses the document (kept in the request, so async-graphql does not parse it
    /// again) and measures it; a refusal is the whole response's one error.
    fn admit(&self, request: &mut Request) -> Result<(), ServerError> {
        if let Some(documents) = &self.documents {
            documents.prepare(request);
        }
        match request.parsed_query() {
            Ok(document) => self.limits.check(document),
            Err(error) => Err(parse_failed(error)),
        }
    }
}

impl Executor for Gateway {
    async fn execute(&self, mut request: Request) -> Response {
        if let Err(refusal) = self.admit(&mut request) {
            return Response::from_errors(vec![refusal]);
        }
        let query = request.query.clone();
        code_response(self.schema.execute(request).await, &query)
    }

    fn execute_stream(
        &self,
        mut request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        if let Err(refusal) = self.admit(&mut request) {
            return stream::once(ready(Response::from_errors(vec![refusal]))).boxed();
        }
        let query = request.query.clone();
        Executor::execute_stream(&self.schema, request, session_data)
            .map(move |response| code_response(response, &query))
            .boxed()
    }
}
