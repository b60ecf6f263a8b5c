//! Scores report understanding against hand-written truth files: per-field precision,
//! recall and F1; category, severity and kind accuracy; indicator P/R/F1; `missing`
//! precision and recall; false escalations; and the time spent parsing.
//!
//! `cargo run --release --example extract_eval [-- --dir fixtures/dev [--dir …] [--verbose] [--repeat N]]`
//! (default `fixtures/`). Each directory is one split, printed on its own.
//!
//! Matching: timestamps as instants; numbers exactly; yes/no/unknown and enums exactly;
//! names (agency, reporter, law enforcement agency, third party) case- and
//! space-insensitively, or one containing the other; free text (actions taken) and
//! lists (systems affected) by word overlap (Jaccard ≥ 0.3).
//!
//! An escalation to leadership is suggested when personal information is "yes", the
//! category is `data_exposure` or the severity is `critical` (incident-fields.md's
//! triggers). It is false when the truth's `escalate` is false; a truth file without
//! that key is judged by the same rule on the truth's own values.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use incident_gateway::config::Config;
use serde_json::Value;

/// The fields issue 17's table scores together.
const HEADLINE: &[&str] = &[
    "agency",
    "reporter_phone",
    "detected_at",
    "personal_information",
    "records_affected",
    "users_affected",
    "law_enforcement_contacted",
    "external_communications",
];

#[derive(Default, Clone, Copy)]
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
    fn add(&mut self, o: Count) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
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

/// Escalation to leadership by incident-fields.md's triggers, on one reading.
fn escalates(v: &Value, fields_are_values: bool) -> bool {
    let pi = if fields_are_values {
        &v["fields"]["personal_information"]
    } else {
        &v["fields"]["personal_information"]["value"]
    };
    pi.as_str() == Some("yes")
        || v["category"].as_str() == Some("data_exposure")
        || v["severity_suggested"].as_str() == Some("critical")
}

#[derive(Default)]
struct Split {
    n: usize,
    per_field: BTreeMap<String, Count>,
    iocs: Count,
    missing: Count,
    cat_ok: usize,
    sev_ok: usize,
    kind_ok: usize,
    missing_exact: usize,
    escalations: usize,
    false_escalations: Vec<String>,
    missed_escalations: Vec<String>,
    cat_errors: Vec<String>,
    sev_errors: Vec<String>,
    kind_errors: Vec<String>,
    parse_time: Duration,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let verbose = args.iter().any(|a| a == "--verbose");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs: Vec<PathBuf> = args
        .windows(2)
        .filter(|w| w[0] == "--dir")
        .map(|w| {
            let p = PathBuf::from(&w[1]);
            if p.is_absolute() || p.exists() {
                p
            } else {
                root.join(p)
            }
        })
        .collect();
    // `--repeat N`: each message parsed N times, for a steadier time per message.
    let repeat: u32 = args
        .windows(2)
        .find(|w| w[0] == "--repeat")
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(1)
        .max(1);
    if dirs.is_empty() {
        dirs.push(root.join("fixtures"));
    }
    for dir in dirs {
        let split = run(&dir, root, verbose, repeat);
        print_split(&dir, &split);
    }
}

fn run(dir: &Path, root: &Path, verbose: bool, repeat: u32) -> Split {
    let mut config = Config::default();
    // The split's own directory file, else the fixtures' one.
    let directory = [
        dir.join("directory.toml"),
        root.join("fixtures/directory.toml"),
    ]
    .into_iter()
    .find(|p| p.exists());
    let agencies = match &directory {
        Some(d) => {
            config.gateway.directory = Some(d.clone());
            incident_gateway::routing::Directory::load(d)
                .expect("directory")
                .agencies
        }
        None => Vec::new(),
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("fixtures directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".truth.json"))
        .collect();
    files.sort();

    let mut s = Split::default();
    for truth_path in &files {
        let name = truth_path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .replace(".truth.json", "");
        let eml = dir.join(format!("{name}.eml"));
        let Ok(raw) = std::fs::read(&eml) else {
            continue;
        };
        let truth: Value =
            serde_json::from_str(&std::fs::read_to_string(truth_path).expect("truth"))
                .expect("truth json");
        let own = config.own_addresses();
        let start = Instant::now();
        let mut analysis = incident_gateway::intake::analyze_with(&raw, &own, &agencies, &config);
        for _ in 1..repeat {
            analysis = incident_gateway::intake::analyze_with(&raw, &own, &agencies, &config);
        }
        s.parse_time += start.elapsed() / repeat;
        let got = analysis.contract();
        s.n += 1;
        // A wrong value, and with `--verbose` the reasons the analysis gave for it.
        let wrong = |key: &str, reasons: &[String]| {
            let why = if verbose {
                format!(" because {reasons:?}")
            } else {
                String::new()
            };
            format!("{name}: {} (truth {}){why}", got[key], truth[key])
        };
        if got["category"] == truth["category"] {
            s.cat_ok += 1;
        } else {
            s.cat_errors
                .push(wrong("category", &analysis.category_reasons));
        }
        if got["severity_suggested"] == truth["severity_suggested"] {
            s.sev_ok += 1;
        } else {
            s.sev_errors
                .push(wrong("severity_suggested", &analysis.severity_reasons));
        }
        if got["kind"] == truth["kind"] {
            s.kind_ok += 1;
        } else {
            s.kind_errors
                .push(format!("{name}: {} (truth {})", got["kind"], truth["kind"]));
        }
        let want_escalate = truth["escalate"]
            .as_bool()
            .unwrap_or_else(|| escalates(&truth, true));
        let got_escalate = truth["kind"] == "report" && escalates(&got, false);
        if got_escalate {
            s.escalations += 1;
        }
        if got_escalate && !want_escalate {
            s.false_escalations.push(name.clone());
        }
        if want_escalate && !got_escalate {
            s.missed_escalations.push(name.clone());
        }
        let empty = serde_json::Map::new();
        let tf = truth["fields"].as_object().unwrap_or(&empty);
        let gf = got["fields"].as_object().unwrap_or(&empty);
        let names: BTreeSet<&String> = tf
            .keys()
            .chain(gf.keys())
            .filter(|k| k.as_str() != "description")
            .collect();
        // Where a wrong value was read, for `--verbose`.
        let from = |f: &str| {
            analysis
                .fields
                .get(f)
                .map(|v| {
                    let t: String = v.source.text.chars().take(160).collect();
                    format!("\n      <- {}:{} {t:?}", v.source.part, v.source.line)
                })
                .unwrap_or_default()
        };
        for f in names {
            let c = s.per_field.entry(f.clone()).or_default();
            let want = tf.get(f).filter(|v| !v.is_null());
            let have = gf.get(f).map(|v| &v["value"]);
            match (have, want) {
                (Some(h), Some(w)) if matches(f, h, w) => c.tp += 1,
                (Some(h), Some(w)) => {
                    c.fp += 1;
                    c.fn_ += 1;
                    if verbose {
                        println!("  {name} {f}: got {h} want {w}{}", from(f));
                    }
                }
                (Some(h), None) => {
                    c.fp += 1;
                    if verbose {
                        println!("  {name} {f}: got {h}, truth has none{}", from(f));
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
        s.missing.tp += tm.intersection(&gm).count();
        s.missing.fp += gm.difference(&tm).count();
        s.missing.fn_ += tm.difference(&gm).count();
        if tm == gm {
            s.missing_exact += 1;
        } else if verbose {
            println!(
                "  {name} missing: asked {:?} not missing, not asked {:?}",
                gm.difference(&tm).collect::<Vec<_>>(),
                tm.difference(&gm).collect::<Vec<_>>()
            );
        }
        let pairs = |v: &Value| -> BTreeSet<(String, String)> {
            let mut out = BTreeSet::new();
            for (k, list) in v.as_object().into_iter().flatten() {
                for x in list.as_array().into_iter().flatten() {
                    if let Some(x) = x.as_str() {
                        out.insert((k.clone(), x.to_lowercase()));
                    }
                }
            }
            out
        };
        let (ti, gi) = (pairs(&truth["iocs"]), pairs(&got["iocs"]));
        s.iocs.tp += ti.intersection(&gi).count();
        s.iocs.fp += gi.difference(&ti).count();
        s.iocs.fn_ += ti.difference(&gi).count();
        if verbose {
            for (k, v) in gi.difference(&ti) {
                println!("  {name} ioc extra {k} {v}");
            }
            for (k, v) in ti.difference(&gi) {
                println!("  {name} ioc missed {k} {v}");
            }
        }
    }
    s
}

fn print_split(dir: &Path, s: &Split) {
    let n = s.n;
    println!("\nextract_eval over {n} reports in {}\n", dir.display());
    println!(
        "{:<28} {:>4} {:>4} {:>4} {:>9} {:>7} {:>5}",
        "field", "tp", "fp", "fn", "precision", "recall", "F1"
    );
    let row = |name: &str, c: &Count| {
        println!(
            "{name:<28} {:>4} {:>4} {:>4} {:>9.2} {:>7.2} {:>5.2}",
            c.tp,
            c.fp,
            c.fn_,
            c.p(),
            c.r(),
            c.f1()
        )
    };
    let mut all = Count::default();
    let mut headline = Count::default();
    for (f, c) in &s.per_field {
        row(f, c);
        all.add(*c);
        if HEADLINE.contains(&f.as_str()) {
            headline.add(*c);
        }
    }
    row("ALL FIELDS", &all);
    row("HEADLINE FIELDS (issue 17)", &headline);
    println!();
    let acc = |what: &str, ok: usize| {
        println!("{what:<24} {ok}/{n} = {:.2}", ratio(ok, n));
    };
    acc("category accuracy", s.cat_ok);
    acc("severity accuracy", s.sev_ok);
    acc("kind accuracy", s.kind_ok);
    println!(
        "missing                  precision {:.2} recall {:.2}; exact list {}/{n}",
        s.missing.p(),
        s.missing.r(),
        s.missing_exact
    );
    println!(
        "indicators               precision {:.2} recall {:.2} F1 {:.2} (tp {} fp {} fn {})",
        s.iocs.p(),
        s.iocs.r(),
        s.iocs.f1(),
        s.iocs.tp,
        s.iocs.fp,
        s.iocs.fn_
    );
    println!(
        "escalations suggested    {}; false {} of {n} {:?}; missed {} {:?}",
        s.escalations,
        s.false_escalations.len(),
        s.false_escalations,
        s.missed_escalations.len(),
        s.missed_escalations
    );
    println!(
        "parse time               {:.2} ms per report ({:.1} ms for {n})",
        s.parse_time.as_secs_f64() * 1000.0 / n.max(1) as f64,
        s.parse_time.as_secs_f64() * 1000.0
    );
    for (title, list) in [
        ("category errors", &s.cat_errors),
        ("severity errors", &s.sev_errors),
        ("kind errors", &s.kind_errors),
    ] {
        if !list.is_empty() {
            println!("\n{title}:\n  {}", list.join("\n  "));
        }
    }
}
