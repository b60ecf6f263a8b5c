//! Who is who: the directory of agencies the SOC maintains.

pub mod directory;

pub use directory::{Directory, DirectoryError};
