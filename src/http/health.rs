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
    if state.db.ping().await {
        HttpResponse::Ok().content_type("text/plain").body("ready")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("database unreachable")
    }
}
