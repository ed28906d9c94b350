//! Insta settings for GraphQL responses: object keys sorted (async-graphql emits an
//! object's fields in the order they resolve), and what differs from run to run (ids,
//! cursors, timestamps) redacted once its form is checked.
//!
//! Bind them around the `assert_*_snapshot!` call in the test module itself, so that the
//! snapshot lands in the `snapshots/` folder next to that module:
//!
//! ```ignore
//! helpers::snapshots::response_settings().bind(|| {
//!     insta::assert_json_snapshot!("a_page", data);
//! });
//! ```

use insta::internals::{Content, ContentPath};

/// Keys whose values are ids.
const IDS: &[&str] = &["id"];
/// Keys whose values are opaque cursors.
const CURSORS: &[&str] = &["cursor", "startCursor", "endCursor"];
/// Keys whose values are instants.
const TIMES: &[&str] = &[
    "createdAt",
    "updatedAt",
    "lastMessageAt",
    "slaDueAt",
    "snoozedUntil",
];

/// Sorted keys; ids, cursors and instants anywhere in the value redacted (`null` stays
/// `null`), after checking that each is a UUID, a non-empty base64url string and an RFC 3339
/// date-time.
pub fn response_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_sort_maps(true);
    for key in IDS {
        settings.add_redaction(&format!(".**.{key}"), insta::dynamic_redaction(uuid));
    }
    for key in CURSORS {
        settings.add_redaction(&format!(".**.{key}"), insta::dynamic_redaction(cursor));
    }
    for key in TIMES {
        settings.add_redaction(&format!(".**.{key}"), insta::dynamic_redaction(instant));
    }
    settings
}

/// Replaces a string that passes `valid` with `[label]`; keeps `null`; fails on anything
/// else.
fn redact(
    value: Content,
    path: ContentPath<'_>,
    label: &'static str,
    valid: fn(&str) -> bool,
) -> Content {
    match value.as_str() {
        Some(text) => {
            assert!(valid(text), "{path}: not a {label}: {text:?}");
            Content::from(format!("[{label}]"))
        }
        None => {
            assert!(value.is_nil(), "{path}: not a {label} nor null: {value:?}");
            value
        }
    }
}

fn uuid(value: Content, path: ContentPath<'_>) -> Content {
    redact(value, path, "uuid", |text| {
        uuid::Uuid::parse_str(text).is_ok()
    })
}

fn cursor(value: Content, path: ContentPath<'_>) -> Content {
    redact(value, path, "cursor", |text| {
        !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

fn instant(value: Content, path: ContentPath<'_>) -> Content {
    redact(value, path, "timestamp", |text| {
        chrono::DateTime::parse_from_rfc3339(text).is_ok()
    })
}
