//! Events in words, as SCIO updates and the web timeline show them.

/// One line for an event an SCIO should hear about; `None` for internal ones (notes,
/// mail bookkeeping).
pub fn describe(kind: &str, d: &serde_json::Value) -> Option<String> {
    let s = |k: &str| d[k].as_str().map(label).unwrap_or_else(|| "none".into());
    match kind {
        "status_changed" => Some(format!("Status: {} → {}", s("old"), s("new"))),
        "severity_changed" => Some(format!("Severity: {} → {}", s("old"), s("new"))),
        "priority_changed" => Some(format!("Priority: {} → {}", s("old"), s("new"))),
        "flag_set" => Some(format!("Flag set: {}", s("flag"))),
        "flag_cleared" => Some(format!("Flag cleared: {}", s("flag"))),
        "scio_update_queued" if d["message"].is_string() => {
            Some("The SOC wrote an update (above in this thread)".into())
        }
        _ => None,
    }
}

/// "data_exposure" → "Data exposure"; "p2" stays.
pub fn label(s: &str) -> String {
    let t = s.replace('_', " ");
    let mut c = t.chars();
    match c.next() {
        Some(f) if t.len() > 2 => f.to_uppercase().collect::<String>() + c.as_str(),
        _ => t,
    }
}

pub(super) fn human_interval(d: chrono::Duration) -> String {
    let h = d.num_hours();
    if h % 24 == 0 && h >= 48 {
        format!("{} days", h / 24)
    } else if h == 1 {
        "hour".into()
    } else {
        format!("{h} hours")
    }
}

/// The first lines of a report, at most 12 lines or 1,200 characters.
pub(super) fn first_lines(s: &str) -> String {
    let mut out = String::new();
    for (i, line) in s.lines().enumerate() {
        if i >= 12 || out.len() + line.len() > 1200 {
            out.push_str("[…]\n");
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_descriptions() {
        assert_eq!(label("data_exposure"), "Data exposure");
        assert_eq!(label("p2"), "p2");
        let d = serde_json::json!({"old": "triage", "new": "investigating"});
        assert_eq!(
            describe("status_changed", &d).unwrap(),
            "Status: Triage → Investigating"
        );
        assert!(describe("note_added", &serde_json::json!({"text": "internal"})).is_none());
        assert_eq!(human_interval(chrono::Duration::hours(168)), "7 days");
        assert_eq!(human_interval(chrono::Duration::hours(4)), "4 hours");
        assert_eq!(human_interval(chrono::Duration::hours(24)), "24 hours");
    }
}
