//! GraphiQL, served offline from the binary.
//!
//! The page and every file it loads are compiled in (see `assets/graphiql/`
//! and its README for the vendored packages, versions and licenses): the page
//! never touches a CDN. It sends queries to `/graphql` (same origin) and
//! subscriptions over a `graphql-transport-ws` websocket to the same path,
//! with the API key from `#key=...` / localStorage pre-filled in the headers
//! editor (see `assets/graphiql/ticketgate-graphiql.js`).
//!
//! Neither the page nor the assets hold secrets: they must stay reachable
//! without an `Authorization` header (the key lives in the browser only).

use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

/// URL prefix of the asset route registered by [`configure`].
pub const ASSETS_PREFIX: &str = "/graphiql/assets/";

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Cache policy for an asset requested with its current `?v=<hash>`.
const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache policy otherwise: revalidate with the ETag.
const CACHE_REVALIDATE: &str = "no-cache";

/// The page may only load same-origin scripts and styles (GraphiQL sets
/// inline `style` attributes, and its stylesheet embeds `data:` fonts and
/// images); `connect-src 'self'` covers `/graphql` and the same-origin
/// `ws(s)://` subscription socket.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/graphiql/",
                $name
            )),
        }
    };
}

/// Every file served under [`ASSETS_PREFIX`], in the order the page loads them.
const ASSETS: &[Asset] = &[
    asset!("graphiql.min.css", CSS),
    asset!("react.production.min.js", JS),
    asset!("react-dom.production.min.js", JS),
    asset!("graphiql.min.js", JS),
    asset!("graphql-ws.min.js", JS),
    asset!("ticketgate-graphiql.js", JS),
];

/// `{{name}}` placeholders are replaced with the versioned asset URL.
const PAGE_TEMPLATE: &str = r#"<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="no-referrer">
    <title>ticketgate — GraphiQL</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="{{graphiql.min.css}}">
    <style>
      html, body, #graphiql { height: 100%; margin: 0; }
    </style>
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
    <noscript>GraphiQL needs JavaScript.</noscript>
    <script src="{{react.production.min.js}}"></script>
    <script src="{{react-dom.production.min.js}}"></script>
    <script src="{{graphiql.min.js}}"></script>
    <script src="{{graphql-ws.min.js}}"></script>
    <script src="{{ticketgate-graphiql.js}}"></script>
  </body>
</html>
"#;

/// Content hash (16 hex digits of SHA-256) of each entry of [`ASSETS`].
fn versions() -> &'static [String] {
    static VERSIONS: OnceLock<Vec<String>> = OnceLock::new();
    VERSIONS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| hex::encode(&Sha256::digest(a.body)[..8]))
            .collect()
    })
}

/// `/graphiql/assets/<name>?v=<content hash>`.
fn asset_url(index: usize) -> String {
    format!(
        "{ASSETS_PREFIX}{}?v={}",
        ASSETS[index].name,
        versions()[index]
    )
}

fn page_html() -> &'static str {
    static HTML: OnceLock<String> = OnceLock::new();
    HTML.get_or_init(|| {
        ASSETS
            .iter()
            .enumerate()
            .fold(PAGE_TEMPLATE.to_owned(), |html, (i, a)| {
                html.replace(&format!("{{{{{}}}}}", a.name), &asset_url(i))
            })
    })
}

/// The GraphiQL page (HTML). Served at `/` and for `GET /graphql` with `Accept: text/html`.
pub fn page() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, CACHE_REVALIDATE))
        // `GET /graphql` answers HTML or JSON depending on `Accept`.
        .insert_header((header::VARY, "Accept"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(page_html())
}

/// [`page`] as an actix handler, for `route("/", web::get().to(page_handler))`.
pub async fn page_handler() -> HttpResponse {
    page()
}

/// Registers `GET /graphiql/assets/{file}` serving the vendored files (include_bytes!/include_str!, correct Content-Type, long Cache-Control with an immutable versioned path or ETag).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(format!("{ASSETS_PREFIX}{{file}}"))
            .route(web::get().to(serve_asset))
            .route(web::head().to(serve_asset)),
    );
}

/// Whether an `If-None-Match` header value matches `etag` (or is `*`).
fn etag_matches(if_none_match: &HeaderValue, etag: &str) -> bool {
    if_none_match.to_str().is_ok_and(|v| {
        v.split(',').map(str::trim).any(|candidate| {
            candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
        })
    })
}

async fn serve_asset(req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    let Some(index) = ASSETS.iter().position(|a| a.name == file.as_str()) else {
        return HttpResponse::NotFound()
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body("no such GraphiQL asset");
    };
    let asset = &ASSETS[index];
    let version = &versions()[index];
    let etag = format!("\"{version}\"");
    // Immutable caching only for the URL the page links to: `?v=` changes
    // whenever the file does. Any other URL revalidates with the ETag.
    let versioned =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .is_ok_and(|q| q.get("v") == Some(version));
    let cache_control = if versioned {
        CACHE_IMMUTABLE
    } else {
        CACHE_REVALIDATE
    };

    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| etag_matches(v, &etag));
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if not_modified {
        response.finish()
    } else {
        response
            .insert_header((header::CONTENT_TYPE, asset.content_type))
            .body(asset.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{body::to_bytes, test, App};

    fn header_str(res: &actix_web::dev::ServiceResponse, name: header::HeaderName) -> &str {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Every `src="..."` / `href="..."` value of an HTML document.
    fn links(html: &str) -> Vec<&str> {
        ["src=\"", "href=\""]
            .iter()
            .flat_map(|attr| {
                html.match_indices(attr).map(move |(at, _)| {
                    let rest = &html[at + attr.len()..];
                    &rest[..rest.find('"').expect("closing quote")]
                })
            })
            .collect()
    }

    #[actix_web::test]
    async fn page_is_html_with_only_local_assets() {
        let res = page();
        assert_eq!(res.status(), 200);
        let content_type = res
            .headers()
            .get(header::CONTENT_TYPE)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(content_type.starts_with("text/html"), "{content_type}");
        let body = to_bytes(res.into_body()).await.unwrap();
        let html = std::str::from_utf8(&body).unwrap();

        assert!(html.contains("<title>ticketgate — GraphiQL</title>"));
        assert!(!html.contains("{{"), "unreplaced placeholder in {html}");
        for needle in ["http:", "https:", "//cdn", "unpkg", "jsdelivr"] {
            assert!(!html.contains(needle), "page references {needle:?}");
        }
        // the empty `data:,` icon keeps browsers from asking for /favicon.ico
        let links: Vec<&str> = links(html).into_iter().filter(|l| *l != "data:,").collect();
        assert_eq!(links.len(), ASSETS.len(), "{links:?}");
        for link in &links {
            assert!(link.starts_with(ASSETS_PREFIX), "non-local asset {link}");
        }
        for (i, asset) in ASSETS.iter().enumerate() {
            assert!(
                links.contains(&asset_url(i).as_str()),
                "{} not linked",
                asset.name
            );
        }
        // scripts in dependency order: React before ReactDOM before GraphiQL before the bootstrap
        let pos = |name: &str| html.find(&format!("{ASSETS_PREFIX}{name}?")).unwrap();
        assert!(pos("react.production.min.js") < pos("react-dom.production.min.js"));
        assert!(pos("react-dom.production.min.js") < pos("graphiql.min.js"));
        assert!(pos("graphiql.min.js") < pos("ticketgate-graphiql.js"));
        assert!(pos("graphql-ws.min.js") < pos("ticketgate-graphiql.js"));
    }

    #[actix_web::test]
    async fn every_asset_is_served_with_its_content_type() {
        let app = test::init_service(App::new().configure(configure)).await;
        for (i, asset) in ASSETS.iter().enumerate() {
            let res = test::call_service(
                &app,
                test::TestRequest::get().uri(&asset_url(i)).to_request(),
            )
            .await;
            assert_eq!(res.status(), 200, "{}", asset.name);
            let expected = if asset.name.ends_with(".css") {
                "text/css"
            } else {
                "text/javascript"
            };
            assert!(
                header_str(&res, header::CONTENT_TYPE).starts_with(expected),
                "{}: {}",
                asset.name,
                header_str(&res, header::CONTENT_TYPE)
            );
            assert_eq!(
                header_str(&res, header::CACHE_CONTROL),
                CACHE_IMMUTABLE,
                "{}",
                asset.name
            );
            assert_eq!(
                header_str(&res, header::ETAG),
                format!("\"{}\"", versions()[i])
            );
            let body = test::read_body(res).await;
            assert_eq!(body.len(), asset.body.len(), "{}", asset.name);
            assert!(!asset.body.is_empty(), "{}", asset.name);
        }
    }

    #[actix_web::test]
    async fn unversioned_urls_revalidate_with_etag() {
        let app = test::init_service(App::new().configure(configure)).await;
        let uri = format!("{ASSETS_PREFIX}graphiql.min.css");
        let res = test::call_service(&app, test::TestRequest::get().uri(&uri).to_request()).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header_str(&res, header::CACHE_CONTROL), CACHE_REVALIDATE);
        let etag = header_str(&res, header::ETAG).to_owned();

        let req = test::TestRequest::get()
            .uri(&uri)
            .insert_header((header::IF_NONE_MATCH, etag.as_str()))
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), 304);
        assert!(test::read_body(res).await.is_empty());

        let stale = test::TestRequest::get()
            .uri(&format!("{uri}?v=0000"))
            .insert_header((header::IF_NONE_MATCH, "\"0000\""))
            .to_request();
        let res = test::call_service(&app, stale).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header_str(&res, header::CACHE_CONTROL), CACHE_REVALIDATE);
    }

    #[actix_web::test]
    async fn unknown_assets_are_404() {
        let app = test::init_service(App::new().configure(configure)).await;
        for uri in [
            "/graphiql/assets/nope.js",
            "/graphiql/assets/README.md",
            "/graphiql/assets/..%2F..%2FCargo.toml",
            "/graphiql/assets/licenses%2Freact-LICENSE.txt",
        ] {
            let res =
                test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
            assert_eq!(res.status(), 404, "{uri}");
        }
    }
}
