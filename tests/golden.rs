//! Golden files: every `fixtures/NAME.eml` must yield exactly `fixtures/NAME.json` (the
//! `parse --json` contract), read with LF and with CRLF line endings. A mismatch writes
//! `NAME.lf.failed` / `NAME.crlf.failed` beside it to diff. `IGW_BLESS=1` rewrites the
//! golden files from the current output (review the diff before committing).
//!
//! The golden files lock behaviour; how good that behaviour is, is measured against the
//! hand-written `NAME.truth.json` by `cargo run --example extract_eval`.

use std::path::{Path, PathBuf};

use incident_gateway::config::Config;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The reading of a fixture as `parse --json --directory fixtures/directory.toml` prints it.
fn contract(raw: &[u8]) -> serde_json::Value {
    let mut config = Config::default();
    let dir = fixtures().join("directory.toml");
    let agencies = if dir.exists() {
        config.gateway.directory = Some(dir.clone());
        incident_gateway::routing::Directory::load(&dir)
            .expect("fixtures/directory.toml")
            .agencies
    } else {
        Vec::new()
    };
    incident_gateway::intake::analyze_with(raw, &config.own_addresses(), &agencies, &config)
        .contract()
}

fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    let mut prev = 0u8;
    for &b in raw {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// Text attachments change bytes with line endings; their size and hash are not
/// compared across the two readings.
fn without_text_attachment_hashes(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(list) = v.get_mut("attachments").and_then(|a| a.as_array_mut()) {
        for a in list {
            let text = a["media_type"]
                .as_str()
                .is_some_and(|m| m.starts_with("text/") || m == "message/rfc822");
            if text {
                a["size"] = serde_json::Value::Null;
                a["sha256"] = serde_json::Value::Null;
            }
        }
    }
    v
}

#[test]
fn every_fixture_yields_its_golden_json_with_lf_and_crlf() {
    let bless = std::env::var("IGW_BLESS").is_ok_and(|v| v == "1");
    let mut emls: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixtures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    emls.sort();
    let mut ran = 0;
    let mut failures = Vec::new();
    for eml in &emls {
        let raw = std::fs::read(eml).expect("read fixture");
        let golden_path = eml.with_extension("json");
        let lf = contract(&raw);
        if bless {
            let text = serde_json::to_string_pretty(&lf).expect("json") + "\n";
            std::fs::write(&golden_path, text).expect("write golden");
        }
        let golden: serde_json::Value = match std::fs::read_to_string(&golden_path) {
            Ok(t) => serde_json::from_str(&t)
                .unwrap_or_else(|e| panic!("{}: {e}", golden_path.display())),
            Err(_) => serde_json::Value::Null,
        };
        for (variant, got) in [("lf", lf.clone()), ("crlf", contract(&to_crlf(&raw)))] {
            ran += 1;
            let (a, b) = if variant == "crlf" {
                (
                    without_text_attachment_hashes(got.clone()),
                    without_text_attachment_hashes(golden.clone()),
                )
            } else {
                (got.clone(), golden.clone())
            };
            let failed = eml.with_extension(format!("{variant}.failed"));
            if a == b {
                let _ = std::fs::remove_file(&failed);
            } else {
                std::fs::write(
                    &failed,
                    serde_json::to_string_pretty(&got).expect("json") + "\n",
                )
                .expect("write .failed");
                failures.push(format!(
                    "{} ({variant}): differs, see {}",
                    eml.display(),
                    failed.display()
                ));
            }
        }
    }
    assert!(
        emls.len() >= 40,
        "expected at least 40 fixtures, found {}",
        emls.len()
    );
    assert_eq!(ran, emls.len() * 2, "every fixture ran with LF and CRLF");
    assert!(
        failures.is_empty(),
        "{} golden mismatch(es):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
