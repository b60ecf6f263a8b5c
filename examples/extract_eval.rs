//! Scores report understanding against the hand-written truth of every fixture:
//! field precision/recall, category and severity accuracy, `missing` agreement and
//! indicator F1. `cargo run --example extract_eval [-- --verbose]`
//!
//! Matching: timestamps as instants; numbers exactly; yes/no/unknown and enums exactly;
//! names (agency, reporter, law enforcement agency, third party) case- and
//! space-insensitively, or one containing the other; free text (actions taken) and
//! lists (systems affected) by word overlap (Jaccard ≥ 0.3).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use incident_gateway::config::Config;
use serde_json::Value;

#[derive(Default)]
struct Count {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Count {
    fn p(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    fn r(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    fn f1(&self) -> f64 {
        let (p, r) = (self.p(), self.r());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

fn words(v: &Value) -> BTreeSet<String> {
    let text = match v {
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
            .join(" "),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
        .map(String::from)
        .collect()
}

fn norm(s: &str) -> String {
    s.to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn matches(field: &str, got: &Value, want: &Value) -> bool {
    match field {
        "detected_at" | "occurred_at" => {
            let t = |v: &Value| {
                v.as_str()
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            };
            matches!((t(got), t(want)), (Some(a), Some(b)) if a == b)
        }
        "actions_taken" | "systems_affected" | "description" => {
            let (a, b) = (words(got), words(want));
            let inter = a.intersection(&b).count();
            let union = a.union(&b).count();
            union > 0 && inter as f64 / union as f64 >= 0.3
        }
        "agency" | "reporter_name" | "law_enforcement_agency" | "third_party" => {
            let (a, b) = (
                norm(got.as_str().unwrap_or("")),
                norm(want.as_str().unwrap_or("")),
            );
            !a.is_empty() && (a == b || a.contains(&b) || b.contains(&a))
        }
        "reporter_email" => norm(got.as_str().unwrap_or("")) == norm(want.as_str().unwrap_or("")),
        _ => got == want,
    }
}

fn main() {
    let verbose = std::env::args().any(|a| a == "--verbose");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut config = Config::default();
    let directory = dir.join("directory.toml");
    let agencies = if directory.exists() {
        config.gateway.directory = Some(directory.clone());
        incident_gateway::routing::Directory::load(&directory)
            .expect("directory")
            .agencies
    } else {
        Vec::new()
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".truth.json"))
        .collect();
    files.sort();

    let mut per_field: BTreeMap<String, Count> = BTreeMap::new();
    let mut iocs = Count::default();
    let mut missing = Count::default();
    let (mut cat_ok, mut sev_ok, mut missing_exact, mut n) = (0, 0, 0, 0);
    let mut cat_errors = Vec::new();
    for truth_path in &files {
        let name = truth_path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".truth.json", "");
        let eml = dir.join(format!("{name}.eml"));
        let Ok(raw) = std::fs::read(&eml) else {
            continue;
        };
        let truth: Value =
            serde_json::from_str(&std::fs::read_to_string(truth_path).expect("truth"))
                .expect("truth json");
        let got = incident_gateway::intake::analyze_with(
            &raw,
            &config.own_addresses(),
            &agencies,
            &config,
        )
        .contract();
        n += 1;
        if got["category"] == truth["category"] {
            cat_ok += 1;
        } else {
            cat_errors.push(format!(
                "{name}: {} (truth {})",
                got["category"], truth["category"]
            ));
        }
        if got["severity_suggested"] == truth["severity_suggested"] {
            sev_ok += 1;
        }
        let empty = serde_json::Map::new();
        let tf = truth["fields"].as_object().unwrap_or(&empty);
        let gf = got["fields"].as_object().unwrap_or(&empty);
        let names: BTreeSet<&String> = tf
            .keys()
            .chain(gf.keys())
            .filter(|k| k.as_str() != "description")
            .collect();
        for f in names {
            let c = per_field.entry(f.clone()).or_default();
            let want = tf.get(f).filter(|v| !v.is_null());
            let have = gf.get(f).map(|v| &v["value"]);
            match (have, want) {
                (Some(h), Some(w)) if matches(f, h, w) => c.tp += 1,
                (Some(h), Some(w)) => {
                    c.fp += 1;
                    c.fn_ += 1;
                    if verbose {
                        println!("  {name} {f}: got {h} want {w}");
                    }
                }
                (Some(h), None) => {
                    c.fp += 1;
                    if verbose {
                        println!("  {name} {f}: got {h}, truth has none");
                    }
                }
                (None, Some(w)) => {
                    c.fn_ += 1;
                    if verbose {
                        println!("  {name} {f}: missed {w}");
                    }
                }
                (None, None) => {}
            }
        }
        let set = |v: &Value| -> BTreeSet<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        };
        let (tm, gm) = (set(&truth["missing"]), set(&got["missing"]));
        missing.tp += tm.intersection(&gm).count();
        missing.fp += gm.difference(&tm).count();
        missing.fn_ += tm.difference(&gm).count();
        if tm == gm {
            missing_exact += 1;
        }
        let pairs = |v: &Value| -> BTreeSet<(String, String)> {
            let mut s = BTreeSet::new();
            for (k, list) in v.as_object().into_iter().flatten() {
                for x in list.as_array().into_iter().flatten() {
                    if let Some(x) = x.as_str() {
                        s.insert((k.clone(), x.to_lowercase()));
                    }
                }
            }
            s
        };
        let (ti, gi) = (pairs(&truth["iocs"]), pairs(&got["iocs"]));
        iocs.tp += ti.intersection(&gi).count();
        iocs.fp += gi.difference(&ti).count();
        iocs.fn_ += ti.difference(&gi).count();
        if verbose {
            for (k, v) in gi.difference(&ti) {
                println!("  {name} ioc extra {k} {v}");
            }
            for (k, v) in ti.difference(&gi) {
                println!("  {name} ioc missed {k} {v}");
            }
        }
    }

    println!("extract_eval over {n} fixtures\n");
    println!(
        "{:<28} {:>4} {:>4} {:>4} {:>9} {:>7}",
        "field", "tp", "fp", "fn", "precision", "recall"
    );
    let mut all = Count::default();
    for (f, c) in &per_field {
        println!(
            "{f:<28} {:>4} {:>4} {:>4} {:>9.2} {:>7.2}",
            c.tp,
            c.fp,
            c.fn_,
            c.p(),
            c.r()
        );
        all.tp += c.tp;
        all.fp += c.fp;
        all.fn_ += c.fn_;
    }
    println!(
        "{:<28} {:>4} {:>4} {:>4} {:>9.2} {:>7.2}",
        "ALL FIELDS",
        all.tp,
        all.fp,
        all.fn_,
        all.p(),
        all.r()
    );
    println!();
    println!(
        "category accuracy        {cat_ok}/{n} = {:.2}",
        ratio(cat_ok, n)
    );
    println!(
        "severity accuracy        {sev_ok}/{n} = {:.2}",
        ratio(sev_ok, n)
    );
    println!(
        "missing                  precision {:.2} recall {:.2}; exact list {missing_exact}/{n}",
        missing.p(),
        missing.r()
    );
    println!(
        "indicators               precision {:.2} recall {:.2} F1 {:.2} (tp {} fp {} fn {})",
        iocs.p(),
        iocs.r(),
        iocs.f1(),
        iocs.tp,
        iocs.fp,
        iocs.fn_
    );
    if !cat_errors.is_empty() {
        println!("\ncategory errors:\n  {}", cat_errors.join("\n  "));
    }
}
