//! `ErrorCode`: every `extensions.code` the application sends, and the one way to build an
//! error that carries one.
//!
//! Clients switch on these strings: never rename one. A renamed, added or removed code
//! fails `tests::every_code_and_its_string` (and the README's table is checked against
//! this list too).

use std::fmt;

use async_graphql::{ErrorExtensionValues, Pos, ServerError};

/// Declares the enum, its strings and `ALL` from one list, so none can miss a variant.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident => $code:literal,)*) => {
        /// A stable `extensions.code`. Its string is `as_str()`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The string clients see in `extensions.code`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {
    // What a resolver reports (`AppError::code`).
    /// No key, an unknown or revoked key, a bad or expired customer token.
    Unauthenticated => "UNAUTHENTICATED",
    /// The key or token lacks the right.
    Forbidden => "FORBIDDEN",
    /// No such object in the viewer's team.
    NotFound => "NOT_FOUND",
    /// Invalid arguments or variables (`extensions.field` names the argument when known).
    BadUserInput => "BAD_USER_INPUT",
    /// A concurrent change got there first.
    Conflict => "CONFLICT",
    /// The database cannot be reached, or a statement timed out.
    DbUnavailable => "DB_UNAVAILABLE",
    /// A bug: details are in the server log.
    Internal => "INTERNAL",

    // The document.
    /// Not GraphQL, or past async-graphql's parsing limits.
    GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
    /// Does not fit the schema or breaks a validation rule.
    GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
    /// Nested too deep (in its text, with fragments followed, or past the depth limit).
    QueryTooDeep => "QUERY_TOO_DEEP",
    /// Over the complexity limit.
    QueryTooComplex => "QUERY_TOO_COMPLEX",
    /// More aliases per operation than allowed.
    TooManyAliases => "TOO_MANY_ALIASES",
    /// More root fields per operation than allowed.
    TooManyRootFields => "TOO_MANY_ROOT_FIELDS",
    /// More tokens, or more fields and arguments (fragments expanded), than allowed.
    QueryTooLarge => "QUERY_TOO_LARGE",
    /// No operation of the document can run.
    OperationResolutionFailure => "OPERATION_RESOLUTION_FAILURE",
    /// Introspection is turned off, or asked for with a customer token.
    IntrospectionDisabled => "INTROSPECTION_DISABLED",
    /// A persisted query's hash is not known: send it again with its `query` (Apollo's
    /// links do so by themselves; the message is `PersistedQueryNotFound`, as they expect).
    PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
    /// `extensions.persistedQuery` is malformed, of another version, or its hash is not
    /// the query's SHA-256.
    PersistedQueryInvalid => "PERSISTED_QUERY_INVALID",
    /// The server runs only trusted documents (`TICKETGATE_TRUSTED_DOCUMENTS=only`), and
    /// this operation is not one.
    TrustedDocumentRequired => "TRUSTED_DOCUMENT_REQUIRED",

    // The response and live updates.
    /// The response would carry more than its budget of bytes.
    ResponseTooLarge => "RESPONSE_TOO_LARGE",
    /// A subscription fell too far behind and was ended.
    SubscriberLagged => "SUBSCRIBER_LAGGED",
    /// A subscription's resume position (`after`) is older than the events kept.
    PositionExpired => "POSITION_EXPIRED",
    /// More operations at once on one websocket than allowed (sent by `graphql-ws`).
    TooManySubscriptions => "TOO_MANY_SUBSCRIPTIONS",

    // The HTTP request (4xx).
    /// A malformed request (HTTP 400); on websockets, a message the protocol forbids.
    BadRequest => "BAD_REQUEST",
    /// A batch of more operations than allowed (HTTP 400).
    BatchTooLarge => "BATCH_TOO_LARGE",
    /// A body over the limit (HTTP 413).
    PayloadTooLarge => "PAYLOAD_TOO_LARGE",
    /// A missing or unsupported `Content-Type` (HTTP 415).
    UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
    /// No response type the client accepts (HTTP 406).
    NotAcceptable => "NOT_ACCEPTABLE",
    /// Another method, or a mutation over GET (HTTP 405).
    MethodNotAllowed => "METHOD_NOT_ALLOWED",
    /// The headers or the body did not arrive in time (HTTP 408).
    RequestTimeout => "REQUEST_TIMEOUT",
    /// Over the key's rate (HTTP 429).
    RateLimited => "RATE_LIMITED",
}

impl ErrorCode {
    /// Puts this code in `extensions` (creating them if need be): the one place the
    /// `code` extension is written.
    pub fn set_in(self, extensions: &mut Option<ErrorExtensionValues>) {
        extensions
            .get_or_insert_with(Default::default)
            .set("code", self.as_str());
    }

    /// An error a resolver returns, carrying this code.
    pub fn error(self, message: impl Into<String>) -> async_graphql::Error {
        let mut error = async_graphql::Error::new(message);
        self.set_in(&mut error.extensions);
        error
    }

    /// An error of a response as a whole (or of the document at `pos`), carrying this code.
    pub fn server_error(self, message: impl Into<String>, pos: Option<Pos>) -> ServerError {
        let mut error = ServerError::new(message, pos);
        self.set_in(&mut error.extensions);
        error
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::Value;

    use super::ErrorCode;

    /// Every code and the string clients see. A failure here means a client-visible change:
    /// never rename a code; a new one goes at its place in this table (and the README's).
    #[test]
    fn every_code_and_its_string() {
        let table: Vec<(String, &str)> = ErrorCode::ALL
            .iter()
            .map(|code| (format!("{code:?}"), code.as_str()))
            .collect();
        let expected = [
            ("Unauthenticated", "UNAUTHENTICATED"),
            ("Forbidden", "FORBIDDEN"),
            ("NotFound", "NOT_FOUND"),
            ("BadUserInput", "BAD_USER_INPUT"),
            ("Conflict", "CONFLICT"),
            ("DbUnavailable", "DB_UNAVAILABLE"),
            ("Internal", "INTERNAL"),
            ("GraphqlParseFailed", "GRAPHQL_PARSE_FAILED"),
            ("GraphqlValidationFailed", "GRAPHQL_VALIDATION_FAILED"),
            ("QueryTooDeep", "QUERY_TOO_DEEP"),
            ("QueryTooComplex", "QUERY_TOO_COMPLEX"),
            ("TooManyAliases", "TOO_MANY_ALIASES"),
            ("TooManyRootFields", "TOO_MANY_ROOT_FIELDS"),
            ("QueryTooLarge", "QUERY_TOO_LARGE"),
            ("OperationResolutionFailure", "OPERATION_RESOLUTION_FAILURE"),
            ("IntrospectionDisabled", "INTROSPECTION_DISABLED"),
            ("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND"),
            ("PersistedQueryInvalid", "PERSISTED_QUERY_INVALID"),
            ("TrustedDocumentRequired", "TRUSTED_DOCUMENT_REQUIRED"),
            ("ResponseTooLarge", "RESPONSE_TOO_LARGE"),
            ("SubscriberLagged", "SUBSCRIBER_LAGGED"),
            ("PositionExpired", "POSITION_EXPIRED"),
            ("TooManySubscriptions", "TOO_MANY_SUBSCRIPTIONS"),
            ("BadRequest", "BAD_REQUEST"),
            ("BatchTooLarge", "BATCH_TOO_LARGE"),
            ("PayloadTooLarge", "PAYLOAD_TOO_LARGE"),
            ("UnsupportedMediaType", "UNSUPPORTED_MEDIA_TYPE"),
            ("NotAcceptable", "NOT_ACCEPTABLE"),
            ("MethodNotAllowed", "METHOD_NOT_ALLOWED"),
            ("RequestTimeout", "REQUEST_TIMEOUT"),
            ("RateLimited", "RATE_LIMITED"),
        ];
        let expected: Vec<(String, &str)> = expected
            .iter()
            .map(|(variant, code)| (variant.to_string(), *code))
            .collect();
        assert_eq!(table, expected);
    }

    /// The README's table of codes (under "## Errors") lists exactly these.
    #[test]
    fn the_readme_lists_every_code() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("\n## Errors\n")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("README has an `## Errors` section");
        let mut listed: Vec<&str> = section
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|row| row.split(" | ").next())
            .flat_map(|codes| codes.split(", "))
            .map(|code| code.trim_matches('`'))
            .collect();
        listed.sort_unstable();
        let mut codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        codes.sort_unstable();
        assert_eq!(listed, codes);
    }

    #[test]
    fn strings_are_distinct_and_display_as_themselves() {
        let mut strings: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        strings.sort_unstable();
        strings.dedup();
        assert_eq!(strings.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            assert_eq!(code.to_string(), code.as_str());
        }
    }

    #[test]
    fn built_errors_carry_the_code_and_nothing_else() {
        let code = |extensions: &Option<async_graphql::ErrorExtensionValues>| {
            extensions.as_ref().and_then(|e| e.get("code")).cloned()
        };
        let error = ErrorCode::Conflict.error("changed meanwhile");
        assert_eq!(error.message, "changed meanwhile");
        assert_eq!(code(&error.extensions), Some(Value::from("CONFLICT")));

        let pos = async_graphql::Pos { line: 2, column: 3 };
        let error = ErrorCode::QueryTooDeep.server_error("too deep", Some(pos));
        assert_eq!(error.locations, vec![pos]);
        assert!(error.path.is_empty());
        assert_eq!(code(&error.extensions), Some(Value::from("QUERY_TOO_DEEP")));
        assert_eq!(
            serde_json::to_string(&error).unwrap(),
            r#"{"message":"too deep","locations":[{"line":2,"column":3}],"extensions":{"code":"QUERY_TOO_DEEP"}}"#
        );
    }
}
