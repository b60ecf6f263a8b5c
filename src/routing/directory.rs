//! The directory file (TOML): agencies with their aliases and email domains.
//!
//! ```toml
//! [[agencies]]
//! name = "Department of Revenue"
//! aliases = ["DOR"]
//! domains = ["dor.state.ma.us"]
//! secretariat = "ANF"
//! ```

use std::path::Path;

use serde::Deserialize;

use crate::extract::fields::AgencyEntry;

/// A directory file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot read directory file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("directory file {path} is invalid: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Debug, Clone, Deserialize)]
struct AgencyRecord {
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    domains: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    secretariat: Option<String>,
    /// People of the agency the SOC knows (ISO, IT director, designees): they may
    /// speak for any of the agency's cases.
    #[serde(default)]
    contacts: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct DirectoryFile {
    #[serde(default)]
    agencies: Vec<AgencyRecord>,
}

/// The loaded directory.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub agencies: Vec<AgencyEntry>,
    /// Every contact address in the directory, lower-cased.
    pub members: Vec<String>,
}

impl Directory {
    pub fn load(path: &Path) -> Result<Self, DirectoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| DirectoryError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses directory TOML; errors carry the line and column.
    pub fn parse(text: &str, name: &str) -> Result<Self, DirectoryError> {
        let file: DirectoryFile =
            toml::from_str(text).map_err(|e: toml::de::Error| DirectoryError::Invalid {
                path: name.to_string(),
                message: e.to_string(),
            })?;
        for (i, a) in file.agencies.iter().enumerate() {
            if a.name.trim().is_empty() {
                return Err(DirectoryError::Invalid {
                    path: name.to_string(),
                    message: format!("agency #{} has an empty name", i + 1),
                });
            }
        }
        let members = file
            .agencies
            .iter()
            .flat_map(|a| a.contacts.iter().map(|c| c.trim().to_lowercase()))
            .filter(|c| c.contains('@'))
            .collect();
        Ok(Self {
            members,
            agencies: file
                .agencies
                .into_iter()
                .map(|a| AgencyEntry {
                    name: a.name,
                    aliases: a.aliases,
                    domains: a.domains.into_iter().map(|d| d.to_lowercase()).collect(),
                })
                .collect(),
        })
    }
}
