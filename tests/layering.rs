//! The flow rule (ARCHITECTURE.md): a module imports only modules below it. This test
//! reads every file under `src/` and fails on any `crate::<module>` path that points
//! upwards or sideways, naming the file and line. `cargo test --test layering`.

use std::path::{Path, PathBuf};

/// Bottom to top. Modules on the same rank may not use each other.
const RANKS: &[&[&str]] = &[
    &["domain"],
    &["config", "health", "tls"],
    &["http"],
    &["oauth2"],
    &["extract"],
    &["store"],
    &["routing"],
    &["policy", "sla"],
    &["outbound"],
    &["notify", "siem", "export", "reports"],
    &["intake"],
    &["actions"],
    &["web"],
    &["service"],
    &["cli"],
];

fn rank(module: &str) -> Option<usize> {
    RANKS.iter().position(|r| r.contains(&module))
}

/// The top-level module a source file belongs to (`src/store/cases.rs` → `store`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// Every top-level module named by a `crate::` path in `line`, braces included:
/// `use crate::{store::{a, b}, domain::X}` names `store` and `domain`.
fn crate_refs(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let before = &rest[..at];
        rest = &rest[at + "crate::".len()..];
        // `$crate::` and identifiers ending in `crate` are not ours.
        if before.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut word = String::new();
            let mut at_top = true;
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => at_top = true,
                    c if depth == 1 && at_top && (c.is_alphanumeric() || c == '_') => word.push(c),
                    _ => {
                        if !word.is_empty() {
                            out.push(std::mem::take(&mut word));
                            at_top = false;
                        }
                    }
                }
            }
            if !word.is_empty() {
                out.push(word);
            }
        } else {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push(word);
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_a_module_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let Some(own) = rank(&module) else {
            wrong.push(format!(
                "{}: module `{module}` has no place in RANKS (tests/layering.rs, ARCHITECTURE.md)",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for target in crate_refs(code) {
                if target == module {
                    continue;
                }
                match rank(&target) {
                    Some(r) if r < own => {}
                    _ => wrong.push(format!(
                        "{}:{}: `{module}` uses `crate::{target}`, which is not below it",
                        file.strip_prefix(&src).unwrap_or(file).display(),
                        n + 1
                    )),
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} upward or sideways imports:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn crate_paths_are_read_through_braces() {
    assert_eq!(
        crate_refs("use crate::{store::{a, b}, domain::X, config};"),
        vec!["store", "domain", "config"]
    );
    assert_eq!(
        crate_refs("let x = crate::store::Store::x(crate::extract::y);"),
        vec!["store", "extract"]
    );
    assert!(crate_refs("$crate::foo; mycrate::bar").is_empty());
}
