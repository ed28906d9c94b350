use async_graphql::{Context, ErrorExtensions, Result};

use super::loaders::Loaders;
use super::pagination::PageLimits;
use crate::auth::Viewer;
use crate::db::Db;
use crate::error::AppError;

/// What the schema holds for every request (built once, shared).
#[derive(Clone)]
pub struct SchemaData {
    pub db: Db,
    pub page_limits: PageLimits,
    pub broker: std::sync::Arc<crate::events::Broker>,
    /// How long a subscription waits out a database outage (see `riding_out`).
    pub subscription_outage_grace: std::time::Duration,
    /// Signs customer tokens minted through the API (None: disabled).
    pub tokens: Option<crate::auth::customer_tokens::TokenSecret>,
}

/// The database a request reads from when it is not the schema's (a standby, for queries
/// routed to read replicas): request data set by the transport.
#[derive(Clone)]
pub struct RequestDb(pub Db);

/// What a resolver works with: the shared handles plus this request's viewer and loaders.
pub struct RequestContext<'a> {
    pub db: &'a Db,
    pub viewer: &'a Viewer,
    pub loaders: &'a Loaders,
    pub page_limits: PageLimits,
}

impl<'a> RequestContext<'a> {
    pub fn of(ctx: &Context<'a>) -> Result<RequestContext<'a>> {
        let shared = ctx
            .data::<SchemaData>()
            .map_err(|_| AppError::internal("schema data missing").extend())?;
        let viewer = ctx
            .data_opt::<Viewer>()
            .ok_or_else(|| AppError::Unauthenticated("an API key is required").extend())?;
        let loaders = ctx
            .data::<Loaders>()
            .map_err(|_| AppError::internal("request loaders missing").extend())?;
        let db = ctx
            .data_opt::<RequestDb>()
            .map_or(&shared.db, |routed| &routed.0);
        Ok(RequestContext {
            db,
            viewer,
            loaders,
            page_limits: shared.page_limits,
        })
    }
}
