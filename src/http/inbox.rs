//! The live inbox at `/inbox`: a small hand-written page (`assets/inbox/`) that lists the
//! team's tickets, shows a conversation with a reply box and follows the subscriptions over
//! the `/graphql` websocket. It is also the example of a frontend on the API.
//!
//! Like GraphiQL, everything is compiled in (no CDN, no build step) and holds no secret:
//! the key comes from `#key=…` and lives in the browser, so these routes need no
//! `Authorization` header. The websocket client is GraphiQL's vendored `graphql-ws`.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

/// URL prefix of the inbox's files.
pub const ASSETS_PREFIX: &str = "/inbox/assets/";

/// Same-origin scripts, styles and connections only (`connect-src 'self'` covers
/// `/graphql` and the `ws(s)://` socket on the same host); no inline script or style.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

const JS: &str = "text/javascript; charset=utf-8";

/// `(name, content type, body)` of every file under [`ASSETS_PREFIX`].
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "inbox.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/inbox/inbox.css"),
    ),
    (
        "graphql-ws.min.js",
        JS,
        include_bytes!("../../assets/graphiql/graphql-ws.min.js"),
    ),
    (
        "inbox.js",
        JS,
        include_bytes!("../../assets/inbox/inbox.js"),
    ),
];

const PAGE: &str = r#"<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="no-referrer">
    <title>ticketgate — inbox</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="/inbox/assets/inbox.css">
  </head>
  <body>
    <header>
      <h1>Inbox</h1>
      <span id="connection">connecting…</span>
      <span id="unread"></span>
    </header>
    <nav id="filters">
      <div class="chips" id="status-chips" aria-label="Status"></div>
      <div class="chips" id="assignee-chips" aria-label="Assignee"></div>
    </nav>
    <p id="error" role="alert" hidden></p>
    <section id="list">
      <ul id="tickets"></ul>
      <p id="empty" hidden>No tickets.</p>
    </section>
    <section id="conversation" hidden>
      <h2 id="conversation-title"></h2>
      <ul id="messages"></ul>
      <form id="reply">
        <textarea id="reply-text" placeholder="Reply to the customer…" required></textarea>
        <button id="reply-send" type="submit">Send</button>
      </form>
    </section>
    <noscript>The inbox needs JavaScript.</noscript>
    <script src="/inbox/assets/graphql-ws.min.js"></script>
    <script src="/inbox/assets/inbox.js"></script>
  </body>
</html>
"#;

/// The inbox page (HTML).
pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(PAGE)
}

async fn asset(file: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|(name, _, _)| *name == file.as_str()) {
        // Small files: revalidating costs little, and a new binary is seen at once.
        Some((_, content_type, body)) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, *content_type))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(*body),
        None => HttpResponse::NotFound()
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body("no such inbox asset"),
    }
}

/// Registers `GET /inbox` and `GET /inbox/assets/{file}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/inbox", web::get().to(page))
        .route(&format!("{ASSETS_PREFIX}{{file}}"), web::get().to(asset));
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{test, App};

    #[actix_web::test]
    async fn the_page_links_only_its_own_assets() {
        for needle in ["http:", "https:", "//cdn", "unpkg", "jsdelivr"] {
            assert!(!PAGE.contains(needle), "page references {needle:?}");
        }
        let app = test::init_service(App::new().configure(configure)).await;
        for (name, content_type, body) in ASSETS {
            let uri = format!("{ASSETS_PREFIX}{name}");
            assert!(PAGE.contains(&uri), "{name} not linked");
            let res =
                test::call_service(&app, test::TestRequest::get().uri(&uri).to_request()).await;
            assert_eq!(res.status(), 200, "{name}");
            assert_eq!(
                res.headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok()),
                Some(*content_type)
            );
            assert_eq!(test::read_body(res).await.len(), body.len());
        }
        let res = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/inbox/assets/nope.js")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 404);
    }
}
