//! The shared public corpus of real-world messages (`../shared/corpus`, or
//! `$IGW_CORPUS_DIR`): absent means skip, except under `CI=true`.

use std::path::{Path, PathBuf};

/// The corpus folder, or `None` (with a SKIP line) when it is absent outside CI.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("IGW_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "corpus folder {} is missing; under CI=true it is required (set IGW_CORPUS_DIR)",
            dir.display()
        );
    }
    eprintln!(
        "SKIP: corpus folder {} not found (set IGW_CORPUS_DIR to run this test)",
        dir.display()
    );
    None
}

/// Every file under the corpus that is a message (not the corpus's own bookkeeping).
pub fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read corpus dir") {
            let p = entry.expect("dir entry").path();
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            if p.is_dir() {
                if name != "LICENSES" {
                    stack.push(p);
                }
            } else if d != dir
                || !["SOURCES.md", "MANIFEST.sha256", ".gitattributes"].contains(&name.as_str())
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
