//! A report's fields as every stage sees them: the value and the line it was read from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a value was read: which text, which line (1-based), and the line itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub part: String,
    pub line: usize,
    pub text: String,
    /// The stored message (row id) it was read from, once stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<i64>,
}

impl Source {
    /// The longest line kept as a source, in bytes: a value's evidence, not a copy of
    /// a one-line megabyte body.
    pub const TEXT_MAX: usize = 1000;

    /// The source at 0-based line `index` of `part`: that line, trimmed, cut at
    /// [`Self::TEXT_MAX`] bytes on a character boundary and then marked with "…".
    pub fn at_line(part: &str, index: usize, line: &str) -> Self {
        Source {
            line: index + 1,
            ..Self::unlined(part, line)
        }
    }

    /// A source that is no line of a text (a header, an inference): line 0, its text
    /// trimmed and cut as [`Self::at_line`] cuts.
    pub fn unlined(part: &str, text: &str) -> Self {
        let text = text.trim();
        let kept = super::prefix_of(text, Self::TEXT_MAX);
        Source {
            part: part.to_string(),
            line: 0,
            text: if kept.len() < text.len() {
                format!("{kept}…")
            } else {
                kept.to_string()
            },
            message: None,
        }
    }
}

/// One extracted field: its JSON value and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldValue {
    pub value: Value,
    pub source: Source,
}

/// Field name → value; names as in incident-fields.md.
pub type Fields = BTreeMap<String, FieldValue>;

/// A known agency (from the directory file the SOC maintains).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AgencyEntry {
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub domains: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_line_is_trimmed_and_cut_on_a_character_boundary() {
        let s = Source::at_line("body", 2, "  short line  ");
        assert_eq!((s.line, s.text.as_str()), (3, "short line"));
        let long = "é".repeat(Source::TEXT_MAX);
        let s = Source::at_line("body", 0, &long);
        assert!(s.text.ends_with('…'), "{}", s.text);
        assert_eq!(s.text.len(), Source::TEXT_MAX + '…'.len_utf8());
    }
}
