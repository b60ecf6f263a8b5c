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
