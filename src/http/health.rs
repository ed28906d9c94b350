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
        // Standbys do not decide readiness (reads fall back to the primary), but say how
        // they are.
        let mut body = String::from("ready");
        for (standby, why_out) in state.replicas.iter().flat_map(|replicas| replicas.report()) {
            match why_out {
                None => body.push_str(&format!("\nstandby {standby}: in rotation")),
                Some(why) => body.push_str(&format!(
                    "\nstandby {standby}: out of rotation ({why}); reads go to the primary"
                )),
            }
        }
        HttpResponse::Ok().content_type("text/plain").body(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("database unreachable")
    }
}
