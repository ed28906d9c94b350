//! Input rules shared by the mutations. Each check names the field it refuses.

use chrono::{DateTime, Datelike, Utc};

use crate::error::AppError;

pub const MAX_CONTENT_BYTES: usize = 64 * 1024;
pub const LAST_MESSAGE_CHARS: usize = 500;
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_CHARS: usize = 64;
pub const MAX_IDS: usize = 1000;

/// Message text: not blank, at most 64 KiB.
pub fn content(field: &str, text: &str) -> Result<(), AppError> {
    if text.trim().is_empty() {
        return Err(AppError::bad_input(field, "must not be empty"));
    }
    if text.len() > MAX_CONTENT_BYTES {
        return Err(AppError::bad_input(field, "must be at most 64 KiB"));
    }
    if text.contains('\0') {
        return Err(AppError::bad_input(
            field,
            "must not contain NUL characters",
        ));
    }
    Ok(())
}

/// The first 500 characters (never cutting one in half).
pub fn preview(text: &str) -> String {
    text.chars().take(LAST_MESSAGE_CHARS).collect()
}

/// Tag names: at most 50, each 1–64 characters once trimmed; duplicates dropped.
pub fn tags(field: &str, names: &[String]) -> Result<Vec<String>, AppError> {
    if names.len() > MAX_TAGS {
        return Err(AppError::bad_input(
            field,
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    let mut clean: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        let name = name.trim();
        let chars = name.chars().count();
        if chars == 0 || chars > MAX_TAG_CHARS {
            return Err(AppError::bad_input(
                field,
                format!("each tag must have 1 to {MAX_TAG_CHARS} characters"),
            ));
        }
        if name.contains('\0') {
            return Err(AppError::bad_input(
                field,
                "tags must not contain NUL characters",
            ));
        }
        if !clean.iter().any(|t| t == name) {
            clean.push(name.to_string());
        }
    }
    Ok(clean)
}

/// A plausible address: one `@`, something on both sides, a dot in the domain, no spaces.
pub fn email(field: &str, address: &str) -> Result<(), AppError> {
    let valid = address.len() <= 254
        && !address.chars().any(|c| c.is_whitespace() || c.is_control())
        && match address.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if valid {
        Ok(())
    } else {
        Err(AppError::bad_input(field, "must be an email address"))
    }
}

/// A date a support tool can mean: between the years 2000 and 2100.
pub fn date(field: &str, at: DateTime<Utc>) -> Result<(), AppError> {
    if (2000..=2100).contains(&at.year()) {
        Ok(())
    } else {
        Err(AppError::bad_input(
            field,
            "must be between the years 2000 and 2100",
        ))
    }
}

/// Free text with a length cap.
pub fn text(field: &str, value: &str, max_chars: usize) -> Result<(), AppError> {
    if value.chars().count() > max_chars {
        return Err(AppError::bad_input(
            field,
            format!("at most {max_chars} characters"),
        ));
    }
    if value.contains('\0') {
        return Err(AppError::bad_input(
            field,
            "must not contain NUL characters",
        ));
    }
    Ok(())
}

/// A JSON object (traits, context): at most 64 KiB, and storable (see `nul_in_json`).
pub fn object(field: &str, value: &serde_json::Value) -> Result<(), AppError> {
    if !value.is_object() {
        return Err(AppError::bad_input(field, "must be a JSON object"));
    }
    if value.to_string().len() > MAX_CONTENT_BYTES {
        return Err(AppError::bad_input(field, "must be at most 64 KiB"));
    }
    if let Some(path) = nul_in_json(value, field) {
        return Err(AppError::bad_input(path, "must not contain NUL characters"));
    }
    Ok(())
}

/// The path of the first string or key holding a NUL: PostgreSQL's `jsonb` refuses
/// `\u0000`, which used to surface as an internal error. Walked with an explicit stack:
/// the value's depth is the client's to choose.
fn nul_in_json(root: &serde_json::Value, field: &str) -> Option<String> {
    use serde_json::Value;
    let mut stack = vec![(root, field.to_owned())];
    while let Some((value, path)) = stack.pop() {
        match value {
            Value::String(text) if text.contains('\0') => return Some(path),
            Value::Array(items) => stack.extend(
                items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| (item, format!("{path}.{index}"))),
            ),
            Value::Object(fields) => {
                for (key, item) in fields {
                    let item_path = format!("{path}.{key}");
                    if key.contains('\0') {
                        return Some(item_path);
                    }
                    stack.push((item, item_path));
                }
            }
            _ => {}
        }
    }
    None
}

/// A list of ids for a bulk action: 1 to 1,000, duplicates dropped.
pub fn ids(field: &str, ids: &[uuid::Uuid]) -> Result<Vec<uuid::Uuid>, AppError> {
    if ids.is_empty() || ids.len() > MAX_IDS {
        return Err(AppError::bad_input(
            field,
            format!("give 1 to {MAX_IDS} ids"),
        ));
    }
    let mut unique = ids.to_vec();
    unique.sort();
    unique.dedup();
    Ok(unique)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_cut_on_character_boundaries() {
        let text = "é".repeat(600);
        let cut = preview(&text);
        assert_eq!(cut.chars().count(), 500);
        assert_eq!(cut.len(), 1000);
    }

    #[test]
    fn checks_inputs() {
        assert!(content("content", "  ").is_err());
        assert!(content("content", &"x".repeat(64 * 1024 + 1)).is_err());
        assert!(content("content", "hi").is_ok());
        assert!(email("emailFrom", "a@b.co").is_ok());
        for bad in ["", "a", "a@b", "a @b.co", "@b.co", "a@b.co.", "a@@b.co"] {
            assert!(email("emailFrom", bad).is_err(), "{bad}");
        }
        assert_eq!(
            tags("tags", &[" a ".into(), "a".into(), "b".into()]).unwrap(),
            ["a", "b"]
        );
        assert!(tags("tags", &["x".repeat(65)]).is_err());
        assert!(tags("tags", &vec!["t".to_string(); 51]).is_err());
        let traits = serde_json::json!({"plan": {"tiers": ["a", "b\u{0}"]}});
        match object("input.anonymousTraits", &traits) {
            Err(AppError::BadUserInput { field, .. }) => {
                assert_eq!(field, "input.anonymousTraits.plan.tiers.1")
            }
            other => panic!("{other:?}"),
        }
        let key = serde_json::json!({"k\u{0}": 1});
        assert!(object("input.sessionContext", &key).is_err());
        assert!(object("input.sessionContext", &serde_json::json!({"a": [1, "b"]})).is_ok());
        match tags("input.tags", &["".into()]) {
            Err(AppError::BadUserInput { field, .. }) => assert_eq!(field, "input.tags"),
            other => panic!("{other:?}"),
        }
    }
}
