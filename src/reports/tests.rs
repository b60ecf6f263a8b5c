//! The aggregates' edge cases, over a real (file) database.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::store::{stats, ts, Store};

async fn store() -> (tempfile::TempDir, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}/t.db", tmp.path().display()))
        .await
        .unwrap();
    (tmp, store)
}

fn t(d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap()
}

/// A case opened at `at`, with a sent acknowledgement `ack_mins` later.
async fn case(
    store: &Store,
    n: i64,
    at: DateTime<Utc>,
    category: &str,
    ack_mins: Option<i64>,
) -> i64 {
    let mut c = store.acquire().await.unwrap();
    stats::fixture::case(
        &mut c,
        n,
        at,
        category,
        ack_mins.map(|m| at + Duration::minutes(m)),
    )
    .await
}

fn range() -> Range {
    Range::from_dates("2026-11-23", "2026-12-06").unwrap()
}

#[tokio::test]
async fn an_empty_range_has_empty_aggregates_and_a_row_per_week() {
    let (_t, store) = store().await;
    case(&store, 1, t(2, 9), "phishing", Some(5)).await; // before the range
    let d = dashboard(&store, &Directory::default(), range(), t(30, 12))
        .await
        .unwrap();
    assert_eq!(d.total, 0);
    let by = &d.charts[0];
    assert_eq!(by.keys, vec!["2026-11-23", "2026-11-30"]);
    assert!(by.series.is_empty() && by.is_empty());
    let mut c = store.acquire().await.unwrap();
    let r = range();
    assert!(stats::time_to_ack(&mut c, r.from, r.to)
        .await
        .unwrap()
        .is_empty());
    assert!(stats::time_to_triage(&mut c, r.from, r.to)
        .await
        .unwrap()
        .is_empty());
    assert!(stats::shared_indicators(&mut c, r.from, r.to, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        stats::completeness(&mut c, r.from, r.to).await.unwrap(),
        stats::Completeness::default()
    );
    // Tables still render (no division by zero, no NaN).
    let complete = d.charts.iter().find(|c| c.id == "complete").unwrap();
    assert!(!complete.table_html().contains("NaN"));
}

#[tokio::test]
async fn one_case_counts_once_in_its_week_with_its_own_timing() {
    let (_t, store) = store().await;
    // Sunday 29 Nov, 23:00 UTC: still the week of Monday 23 Nov.
    case(&store, 1, t(29, 23), "phishing", Some(7)).await;
    let d = dashboard(&store, &Directory::default(), range(), t(30, 12))
        .await
        .unwrap();
    assert_eq!(d.total, 1);
    let by = &d.charts[0];
    assert_eq!(by.series.len(), 1);
    assert_eq!(by.series[0].name, "phishing");
    assert_eq!(by.series[0].values, vec![1.0, 0.0]);
    let mut c = store.acquire().await.unwrap();
    let r = range();
    let ack = stats::time_to_ack(&mut c, r.from, r.to).await.unwrap();
    assert_eq!(ack.len(), 1);
    assert_eq!((ack[0].week.as_str(), ack[0].n), ("2026-11-23", 1));
    assert!((ack[0].median_secs - 420.0).abs() < 0.01, "{ack:?}");
    assert!((ack[0].p90_secs - 420.0).abs() < 0.01, "{ack:?}");
    // Open, no severity, a few hours old at `now`.
    let open = stats::open_by_severity_age(&mut c, t(30, 12))
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].key.as_str(), open[0].group.as_str(), open[0].n),
        ("unset", "under 1 day", 1)
    );
}

#[tokio::test]
async fn median_and_p90_of_one_two_and_three_values_are_nearest_rank() {
    let (_t, store) = store().await;
    // Week of 23 Nov: 10 and 30 minutes; week of 30 Nov: 5, 60, 20 minutes.
    case(&store, 1, t(24, 9), "phishing", Some(30)).await;
    case(&store, 2, t(25, 9), "phishing", Some(10)).await;
    case(&store, 3, t(30, 9), "malware", Some(5)).await;
    case(&store, 4, t(30, 10), "malware", Some(60)).await;
    case(&store, 5, t(30, 11), "malware", Some(20)).await;
    case(&store, 6, t(30, 11), "malware", None).await; // not acknowledged: not timed
    let mut c = store.acquire().await.unwrap();
    let r = range();
    let ack = stats::time_to_ack(&mut c, r.from, r.to).await.unwrap();
    let mins: Vec<(i64, f64, f64)> = ack
        .iter()
        .map(|a| {
            (
                a.n,
                (a.median_secs / 60.0).round(),
                (a.p90_secs / 60.0).round(),
            )
        })
        .collect();
    // Two values: median the lower, p90 the higher; three: the middle and the largest.
    assert_eq!(mins, vec![(2, 10.0, 30.0), (3, 20.0, 60.0)]);
    // One value was shown above; its median and p90 are itself.
}

#[tokio::test]
async fn shared_indicators_and_completeness_read_what_the_tables_hold() {
    let (_t, store) = store().await;
    let a = case(&store, 1, t(24, 9), "phishing", None).await;
    let b = case(&store, 2, t(25, 9), "phishing", None).await;
    let c3 = case(&store, 3, t(26, 9), "phishing", None).await;
    let mut c = store.acquire().await.unwrap();
    for (id, iocs, missing_now, missing_at_open) in [
        (
            a,
            r#"{"domains":["evil.test"],"ipv4":["192.0.2.1"]}"#,
            "[]",
            "[]",
        ),
        (
            b,
            r#"{"domains":["evil.test","other.test"]}"#,
            "[]",
            r#"["agency"]"#,
        ),
        (
            c3,
            r#"{"ipv4":["192.0.2.1"]}"#,
            r#"["agency"]"#,
            r#"["agency"]"#,
        ),
    ] {
        stats::fixture::set_iocs_and_missing(&mut c, id, iocs, missing_now).await;
        stats::fixture::event(
            &mut c,
            id,
            t(24, 9),
            "system",
            "case_opened",
            &format!(r#"{{"missing": {missing_at_open}}}"#),
        )
        .await;
    }
    stats::fixture::event(
        &mut c,
        b,
        t(25, 10),
        "reporter:r@agency.test",
        "correspondence_received",
        "{}",
    )
    .await;
    let r = range();
    let shared = stats::shared_indicators(&mut c, r.from, r.to, 10)
        .await
        .unwrap();
    let got: Vec<(&str, &str, i64)> = shared
        .iter()
        .map(|s| (s.kind.as_str(), s.value.as_str(), s.cases))
        .collect();
    assert_eq!(
        got,
        vec![("domains", "evil.test", 2), ("ipv4", "192.0.2.1", 2)]
    );
    assert_eq!(
        stats::completeness(&mut c, r.from, r.to).await.unwrap(),
        stats::Completeness {
            on_arrival: 1,
            after_answer: 1,
            by_analyst: 0,
            incomplete: 1
        }
    );
}

#[test]
fn periods_end_at_the_last_monday_and_the_first_of_the_month() {
    let at = t(25, 15); // Wednesday 25 Nov 2026
    let w = Period::Week.last_complete(at);
    assert_eq!(
        (ts(w.from), ts(w.to)),
        (
            "2026-11-16T00:00:00.000Z".into(),
            "2026-11-23T00:00:00.000Z".into()
        )
    );
    let m = Period::Month.last_complete(at);
    assert_eq!(
        (ts(m.from), ts(m.to)),
        (
            "2026-10-01T00:00:00.000Z".into(),
            "2026-11-01T00:00:00.000Z".into()
        )
    );
    let jan = Period::Month.last_complete(Utc.with_ymd_and_hms(2027, 1, 3, 0, 0, 0).unwrap());
    assert_eq!(ts(jan.from), "2026-12-01T00:00:00.000Z");
    assert!(Range::from_dates("2026-12-01", "2026-11-01").is_err());
    assert!(Range::from_dates("2020-01-01", "2026-11-01").is_err());
}

#[test]
fn every_category_has_a_colour_of_its_own() {
    // Two categories in one colour made the stacked bars ambiguous (12 categories of
    // extract::rules::Category, 10 colours). The secretariats are fewer than 20 too.
    let n = 20;
    let colours: std::collections::HashSet<_> = (0..n).map(chart::colour).collect();
    assert_eq!(colours.len(), n);
}
