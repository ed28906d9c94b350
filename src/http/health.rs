use actix_web::{web, HttpResponse};

use super::AppState;

/// The process is up (for liveness probes): never touches the database.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// The database answers and the server is not stopping (for readiness probes and load
/// balancers): 503 otherwise, so a balancer sends nothing new to a replica on its way out.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.going_away.is_announced() {
        return HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("shutting down");
    }
    // Known down: say so at once (a probe runs in the background). Otherwise ask, but
    // answer within a second: a balancer's probe must not hang on a dead database.
    let answers = state.db.is_up()
        && tokio::time::timeout(std::time::Duration::from_secs(1), state.db.ping())
            .await
            .unwrap_or(false);
    if answers {
        HttpResponse::Ok().content_type("text/plain").body("ready")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("database unreachable")
    }
}
