//! Content negotiation for GraphQL over HTTP: which media type a response is sent as, and
//! which request bodies are understood.

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
pub const JSON: &str = "application/json";

/// The media type of a GraphQL response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseType {
    /// The spec's own type: request errors are answered 4xx.
    GraphqlResponseJson,
    /// The legacy type: every well-formed request is answered 200.
    Json,
}

impl ResponseType {
    pub fn content_type(self) -> &'static str {
        match self {
            ResponseType::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            ResponseType::Json => "application/json; charset=utf-8",
        }
    }
}

struct MediaRange<'a> {
    essence: &'a str,
    quality: f32,
}

fn media_ranges(accept: &str) -> impl Iterator<Item = MediaRange<'_>> {
    accept.split(',').filter_map(|range| {
        let mut parts = range.split(';');
        let essence = parts.next()?.trim();
        if essence.is_empty() {
            return None;
        }
        let quality = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        Some(MediaRange { essence, quality })
    })
}

/// Picks the response type from `Accept`. A type the client names outranks a wildcard;
/// a wildcard or a missing header means the legacy `application/json` (what clients that
/// do not ask expect). `None`: the client accepts neither (406).
pub fn response_type(accept: Option<&str>) -> Option<ResponseType> {
    let accept = match accept.map(str::trim) {
        None | Some("") => return Some(ResponseType::Json),
        Some(accept) => accept,
    };
    let mut best: Option<(f32, u8, ResponseType)> = None;
    for range in media_ranges(accept) {
        let essence = range.essence.to_ascii_lowercase();
        let candidate = match essence.as_str() {
            GRAPHQL_RESPONSE_JSON => (2, ResponseType::GraphqlResponseJson),
            JSON => (1, ResponseType::Json),
            "application/*" | "*/*" => (0, ResponseType::Json),
            _ => continue,
        };
        if range.quality <= 0.0 {
            continue;
        }
        let rank = (range.quality, candidate.0, candidate.1);
        if best.is_none_or(|(q, r, _)| (rank.0, rank.1) > (q, r)) {
            best = Some(rank);
        }
    }
    best.map(|(_, _, response_type)| response_type)
}

/// Does the client ask for a web page (a browser navigating to `/graphql`)?
pub fn wants_html(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| {
        media_ranges(accept).any(|r| r.essence.eq_ignore_ascii_case("text/html") && r.quality > 0.0)
    })
}

/// The kinds of POST body understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestBody {
    Json,
    /// `application/graphql`: the body is the query text itself.
    GraphqlQuery,
}

/// Reads `Content-Type`; `Err` carries the reason it is refused (415).
pub fn request_body(content_type: Option<&str>) -> Result<RequestBody, String> {
    let content_type = content_type
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| "a Content-Type header is required (application/json)".to_string())?;
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let charset_ok = parts
        .filter_map(|p| p.trim().split_once('='))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("charset"))
        .all(|(_, value)| value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8"));
    if !charset_ok {
        return Err("only the utf-8 charset is supported".to_string());
    }
    match essence.as_str() {
        JSON | GRAPHQL_RESPONSE_JSON => Ok(RequestBody::Json),
        "application/graphql" => Ok(RequestBody::GraphqlQuery),
        other => Err(format!(
            "unsupported Content-Type `{other}`: send application/json"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_the_response_type() {
        use ResponseType::*;
        assert_eq!(response_type(None), Some(Json));
        assert_eq!(response_type(Some("*/*")), Some(Json));
        assert_eq!(response_type(Some("application/json")), Some(Json));
        assert_eq!(
            response_type(Some(GRAPHQL_RESPONSE_JSON)),
            Some(GraphqlResponseJson)
        );
        assert_eq!(
            response_type(Some("*/*, application/graphql-response+json")),
            Some(GraphqlResponseJson)
        );
        assert_eq!(
            response_type(Some(
                "application/graphql-response+json;q=0.5, application/json"
            )),
            Some(Json)
        );
        assert_eq!(response_type(Some("text/html")), None);
        assert_eq!(response_type(Some("application/json;q=0")), None);
    }

    #[test]
    fn reads_the_request_content_type() {
        assert_eq!(
            request_body(Some("application/json")),
            Ok(RequestBody::Json)
        );
        assert_eq!(
            request_body(Some("application/json; charset=UTF-8")),
            Ok(RequestBody::Json)
        );
        assert!(request_body(Some("application/json; charset=latin1")).is_err());
        assert!(request_body(Some("text/plain")).is_err());
        assert!(request_body(None).is_err());
    }
}
