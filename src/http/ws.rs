//! Websocket upgrade on `/graphql` (graphql-transport-ws and the legacy graphql-ws
//! subprotocol). The key is sent in `connection_init`: `{"Authorization": "Bearer …"}`.

use actix_web::{web, HttpRequest, HttpResponse};
use async_graphql::{Data, ErrorExtensions};
use async_graphql_actix_web::GraphQLSubscription;

use super::AppState;
use crate::auth::bearer::authenticate;
use crate::graphql::loaders::loaders;

/// The `Authorization` value of a `connection_init` payload, whatever its letter case.
fn authorization(payload: &serde_json::Value) -> Option<String> {
    payload.as_object()?.iter().find_map(|(name, value)| {
        name.eq_ignore_ascii_case("authorization")
            .then(|| value.as_str().map(str::to_string))
            .flatten()
    })
}

pub async fn upgrade(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let db = state.db.clone();
    let usage = state.key_usage.clone();
    GraphQLSubscription::new(state.schema.clone())
        .on_connection_init(move |init| async move {
            let viewer = authenticate(&db, &usage, authorization(&init).as_deref())
                .await
                .map_err(|err| err.extend())?;
            let mut data = Data::default();
            data.insert(loaders(db.clone(), viewer.team_id, Default::default()));
            data.insert(viewer);
            Ok(data)
        })
        .start(&req, payload)
}
