//! Who is who: the directory of agencies, secretariats, vendors and lists the SOC
//! maintains, and the live handle that reloads it on SIGHUP or when the file changes.

pub mod directory;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

pub use directory::{Audience, Contact, Directory, DirectoryError};

/// The directory in use, shared by intake, notifications and the CLI. A reload that
/// fails keeps the previous directory and reports why.
#[derive(Debug, Clone)]
pub struct DirectoryHandle {
    inner: Arc<HandleInner>,
}

#[derive(Debug)]
struct HandleInner {
    path: Option<PathBuf>,
    current: RwLock<Arc<Directory>>,
    /// Modification time of the file last loaded (or last refused).
    seen: Mutex<Option<SystemTime>>,
}

impl DirectoryHandle {
    /// Loads `path` (none: an empty directory).
    pub fn open(path: Option<PathBuf>) -> Result<Self, DirectoryError> {
        let (dir, seen) = match &path {
            Some(p) => (Directory::load(p)?, modified(p)),
            None => (Directory::default(), None),
        };
        Ok(Self {
            inner: Arc::new(HandleInner {
                path,
                current: RwLock::new(Arc::new(dir)),
                seen: Mutex::new(seen),
            }),
        })
    }

    /// A fixed directory (tests, `parse`).
    pub fn fixed(dir: Directory) -> Self {
        Self {
            inner: Arc::new(HandleInner {
                path: None,
                current: RwLock::new(Arc::new(dir)),
                seen: Mutex::new(None),
            }),
        }
    }

    /// The directory as of now.
    pub fn get(&self) -> Arc<Directory> {
        match self.inner.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the file again. On error the previous directory stays in use.
    pub fn reload(&self) -> Result<Option<usize>, DirectoryError> {
        let Some(path) = &self.inner.path else {
            return Ok(None);
        };
        let stamp = modified(path);
        if let Ok(mut seen) = self.inner.seen.lock() {
            *seen = stamp;
        }
        let dir = Directory::load(path)?;
        let n = dir.records.len();
        match self.inner.current.write() {
            Ok(mut g) => *g = Arc::new(dir),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(dir),
        }
        Ok(Some(n))
    }

    /// Reloads when the file's modification time differs from the last one seen.
    pub fn reload_if_changed(&self) -> Result<Option<usize>, DirectoryError> {
        let Some(path) = &self.inner.path else {
            return Ok(None);
        };
        let now = modified(path);
        let changed = match self.inner.seen.lock() {
            Ok(seen) => *seen != now,
            Err(_) => true,
        };
        if changed {
            self.reload()
        } else {
            Ok(None)
        }
    }

    pub fn path(&self) -> Option<&std::path::Path> {
        self.inner.path.as_deref()
    }
}

fn modified(p: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_reload_keeps_the_previous_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("directory.toml");
        let good = "[[agencies]]\nname = \"Dept A\"\ncio = \"cio@a.example\"\n";
        std::fs::write(&path, good).unwrap();
        let h = DirectoryHandle::open(Some(path.clone())).unwrap();
        assert_eq!(h.get().records.len(), 1);
        assert_eq!(h.reload_if_changed().unwrap(), None);

        std::fs::write(&path, "[[agencies]]\nname = \"Dept B\"\n").unwrap();
        let e = h.reload().unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        assert_eq!(h.get().records[0].name, "Dept A");

        let two = format!("{good}\n[[agencies]]\nname = \"Dept B\"\ncio = \"cio@b.example\"\n");
        std::fs::write(&path, two).unwrap();
        assert_eq!(h.reload().unwrap(), Some(2));
        assert_eq!(h.get().records.len(), 2);
    }
}
