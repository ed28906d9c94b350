//! Customer tokens minted through the API: a token lets one person (by distinct id) read
//! and write only their own tickets.

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Duration, Utc};

use crate::auth::customer_tokens::{TokenSecret, MAX_TTL_SECONDS};
use crate::auth::viewer::Scope;
use crate::error::{AppError, IntoGql};
use crate::graphql::context::RequestContext;

/// A token for one customer, for the support widget.
#[derive(SimpleObject)]
pub struct CustomerToken {
    /// Send it as `Authorization: Bearer <token>` (HTTP and websocket `connection_init`).
    pub token: String,
    pub distinct_id: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Mints a customer token (for your backend, to hand to the support widget): it reads
    /// that customer's tickets and non-private messages, writes their messages, marks
    /// their side read and subscribes to their tickets. Needs a key with `write`.
    async fn create_customer_token(
        &self,
        ctx: &Context<'_>,
        distinct_id: String,
        #[graphql(
            default_with = "Some(3600)",
            desc = "Lifetime in seconds (at most 30 days)."
        )]
        expires_in_seconds: Option<i32>,
    ) -> Result<CustomerToken> {
        let rc = RequestContext::of(ctx)?;
        rc.viewer.require_team().gql()?;
        rc.viewer.require(Scope::Write).gql()?;
        let seconds = i64::from(expires_in_seconds.unwrap_or(3600));
        if !(1..=MAX_TTL_SECONDS).contains(&seconds) {
            return Err(AppError::bad_input(
                "expiresInSeconds",
                format!("must be between 1 and {MAX_TTL_SECONDS}"),
            ))
            .gql();
        }
        crate::validate::text("distinctId", &distinct_id, 400).gql()?;
        if distinct_id.trim().is_empty() {
            return Err(AppError::bad_input("distinctId", "must not be empty")).gql();
        }
        let secret = ctx
            .data_opt::<Option<TokenSecret>>()
            .and_then(Option::as_ref);
        let Some(secret) = secret else {
            return Err(AppError::Forbidden(
                "customer tokens are disabled on this server (set TICKETGATE_TOKEN_SECRET)".into(),
            ))
            .gql();
        };
        let expires_at = Utc::now() + Duration::seconds(seconds);
        let token = secret
            .issue(rc.viewer.team_id, &distinct_id, expires_at)
            .map_err(|err| AppError::bad_input("distinctId", err.to_string()))
            .gql()?;
        Ok(CustomerToken {
            token,
            distinct_id,
            expires_at,
        })
    }
}
