//! Times in a reporter's words, resolved to instants: explicit zones (a table in
//! `data/time-zones.tsv`), numeric offsets, 24-hour and military forms, dates as
//! numbers or month names, relative days ("this morning", "yesterday", "last night",
//! weekday names) in English, Spanish and Portuguese, all against the message's Date in
//! America/New_York; and the role of each time by the words around it: detection,
//! occurrence, an action taken, or a meeting (never an incident time).
//!
//! No crate fits: `chrono-english` and `interim` read English only and know neither
//! "anoche" nor "11h15" nor the zone abbreviations staff use, and `dateparser` reads
//! absolute formats only. This is a small resolver on chrono and chrono-tz.

use std::sync::LazyLock;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Weekday,
};
use chrono_tz::America::New_York;
use chrono_tz::Tz;
use regex::Regex;

use super::answers::normalize;

/// A zone as the table gives it.
#[derive(Debug, Clone, Copy)]
enum Zone {
    Fixed(FixedOffset),
    Named(Tz),
}

static ZONES: LazyLock<Vec<(String, Zone)>> = LazyLock::new(|| {
    let mut out: Vec<(String, Zone)> = include_str!("data/time-zones.tsv")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (name, zone) = l.split_once('\t')?;
            Some((name.trim().to_lowercase(), parse_zone(zone.trim())?))
        })
        .collect();
    // Longest names first, so "eastern time" wins over "eastern".
    out.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    out
});

fn parse_zone(z: &str) -> Option<Zone> {
    if let Some(off) = parse_offset(z) {
        return Some(Zone::Fixed(off));
    }
    z.parse::<Tz>().ok().map(Zone::Named)
}

/// `+05:00`, `-0500`, `-05`.
fn parse_offset(z: &str) -> Option<FixedOffset> {
    let sign = match z.chars().next()? {
        '+' => 1,
        '-' | '\u{2212}' => -1,
        _ => return None,
    };
    let digits: String = z.chars().filter(|c| c.is_ascii_digit()).collect();
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    if h > 14 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// What a time in the text stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Detected,
    Occurred,
    /// Something the reporter did (isolated, reset): not detection.
    Action,
    /// A meeting or call: never an incident time.
    Meeting,
    /// The end of a span ("from 0640 to 0712", "1:05 AM until 3:40 AM"): neither when
    /// it began nor when it was seen.
    Ended,
    Unmarked,
}

/// One time found in a sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// RFC 3339 in America/New_York's offset at that instant.
    pub at: String,
    pub role: Role,
    /// Where the time begins in the (normalised) sentence.
    pub offset: usize,
    /// The day it was read on and the half of the day that day's words gave, when
    /// its sentence named a day (or one was carried in): what a later sentence of the
    /// same paragraph with a bare time goes on from.
    pub day: Option<Carry>,
}

/// A day and part of the day that a paragraph's earlier sentence set: "Ayer como a
/// las 3 de la tarde nos robaron la tableta. Nos dimos cuenta como a las 3:40".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Carry {
    pub day: NaiveDate,
    pub half: Option<bool>,
    /// The earlier time itself.
    pub at: DateTime<FixedOffset>,
}

static TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?x)",
        // ISO date and time, with seconds, fraction and zone.
        r"\b(?P<iy>\d{4})[-/](?P<im>\d{2})[-/](?P<id>\d{2})[t\s](?P<ih>\d{2}):(?P<imin>\d{2})(?::(?P<isec>\d{2})(?:\.\d+)?)?(?P<iz>z|[+-]\d{2}:?\d{2})?",
        r"|\b(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<sec>\d{2}))?\s*(?P<ap>a\.?\s?m\b\.?|p\.?\s?m\b\.?|hrs?\b|h\b)?",
        r"|\b(?P<h2>\d{1,2})\s*(?P<ap2>a\.?\s?m\b\.?|p\.?\s?m\b\.?)",
        r"|\b(?P<h3>\d{1,2})h(?P<m3>\d{2})?\b",
        r"|\b(?P<h4>[01]\d|2[0-3])(?P<m4>[0-5]\d)\s*(?:hrs|hours|horas|h)\b",
        // A bare hour or a military time after "at", "around", "a las"…: "Sunday night
        // around 10", "como a las 3 de la tarde", "around 0530 this morning". Taken
        // only with a day or a part of the day beside it (see `times_in`).
        r"|(?:\b(?:at|around|about|approx\.?|como\ a\ las|a\ las|às|as|por\ volta\ das|cerca\ das)|~)\s*",
        r"(?:(?P<h6>[01]\d|2[0-3])(?P<m6>[0-5]\d)(?P<hs6>\s*(?:hrs|hours|horas|h)\b)?|(?P<h5>\d{1,2})(?P<ap5>\s*(?:a\.?\s?m\b\.?|p\.?\s?m\b\.?))?)",
        r"(?:\s|$|[,;)]|\.(?:\s|$))",
    ))
    .expect("time regex")
});
static NUM_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?\b").expect("numeric date regex")
});
static ISO_DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d{4})[-/](\d{1,2})[-/](\d{1,2})\b").expect("iso date regex"));
static MONTH_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:(?P<m1>[a-zç]{3,10})\.?\s+(?P<d1>\d{1,2})(?:st|nd|rd|th)?\b|(?P<d2>\d{1,2})(?:st|nd|rd|th)?\s+(?:de\s+)?(?P<m2>[a-zç]{3,10})\b)")
        .expect("month date regex")
});

const MONTHS: &[(&str, u32)] = &[
    ("january", 1),
    ("february", 2),
    ("march", 3),
    ("april", 4),
    ("may", 5),
    ("june", 6),
    ("july", 7),
    ("august", 8),
    ("september", 9),
    ("sept", 9),
    ("october", 10),
    ("november", 11),
    ("december", 12),
    ("enero", 1),
    ("febrero", 2),
    ("marzo", 3),
    ("abril", 4),
    ("mayo", 5),
    ("junio", 6),
    ("julio", 7),
    ("agosto", 8),
    ("septiembre", 9),
    ("setiembre", 9),
    ("octubre", 10),
    ("noviembre", 11),
    ("diciembre", 12),
    ("janeiro", 1),
    ("fevereiro", 2),
    ("março", 3),
    ("marco", 3),
    ("maio", 5),
    ("junho", 6),
    ("julho", 7),
    ("setembro", 9),
    ("outubro", 10),
    ("novembro", 11),
    ("dezembro", 12),
];

fn month(word: &str) -> Option<u32> {
    if word.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .find(|(name, _)| *name == word || (word.len() == 3 && name.starts_with(word)))
        .map(|(_, n)| *n)
}

/// Relative day words → days before the message's day, and the part of day they imply.
const RELATIVE: &[(&str, i64, Option<bool>)] = &[
    ("this morning", 0, Some(false)),
    ("earlier today", 0, None),
    ("this afternoon", 0, Some(true)),
    ("this evening", 0, Some(true)),
    ("tonight", 0, Some(true)),
    ("today", 0, None),
    ("yesterday morning", 1, Some(false)),
    ("yesterday afternoon", 1, Some(true)),
    ("yesterday evening", 1, Some(true)),
    ("yesterday", 1, None),
    ("last night", 1, Some(true)),
    ("last evening", 1, Some(true)),
    ("overnight", 1, Some(true)),
    ("esta mañana", 0, Some(false)),
    ("esta manana", 0, Some(false)),
    ("esta tarde", 0, Some(true)),
    ("esta noche", 0, Some(true)),
    ("hoy", 0, None),
    ("anteanoche", 2, Some(true)),
    ("anoche", 1, Some(true)),
    ("ayer por la mañana", 1, Some(false)),
    ("ayer por la tarde", 1, Some(true)),
    ("ayer", 1, None),
    ("anteayer", 2, None),
    ("hoje de manhã", 0, Some(false)),
    ("hoje cedo", 0, Some(false)),
    ("esta manhã", 0, Some(false)),
    ("hoje à tarde", 0, Some(true)),
    ("hoje à noite", 0, Some(true)),
    ("hoje", 0, None),
    ("ontem de manhã", 1, Some(false)),
    ("ontem à tarde", 1, Some(true)),
    ("ontem à noite", 1, Some(true)),
    ("ontem a noite", 1, Some(true)),
    ("anteontem", 2, None),
    ("ontem", 1, None),
];

const WEEKDAYS: &[(&str, Weekday)] = &[
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
    ("lunes", Weekday::Mon),
    ("martes", Weekday::Tue),
    ("miércoles", Weekday::Wed),
    ("miercoles", Weekday::Wed),
    ("jueves", Weekday::Thu),
    ("viernes", Weekday::Fri),
    ("sábado", Weekday::Sat),
    ("sabado", Weekday::Sat),
    ("domingo", Weekday::Sun),
    ("segunda-feira", Weekday::Mon),
    ("terça-feira", Weekday::Tue),
    ("quarta-feira", Weekday::Wed),
    ("quinta-feira", Weekday::Thu),
    ("sexta-feira", Weekday::Fri),
    ("segunda", Weekday::Mon),
    ("terça", Weekday::Tue),
    ("quarta", Weekday::Wed),
    ("quinta", Weekday::Thu),
    ("sexta", Weekday::Fri),
];

/// Words that give a bare hour its half of the day.
const PM_WORDS: &[&str] = &[
    "afternoon",
    "evening",
    "tonight",
    "night",
    "tarde",
    "noche",
    "anoche",
    "noite",
];
/// Words of the night, when an hour of 5 or 6 is the evening's.
const NIGHT_WORDS: &[&str] = &["night", "evening", "noche", "noite", "tonight"];
const AM_WORDS: &[&str] = &["morning", "mañana", "manana", "manhã", "madrugada", "cedo"];

/// Cue words of each role, looked for in the clause around a time.
const MEETING: &[&str] = &[
    "meeting",
    "invite",
    "invitation",
    "join ",
    "teams call",
    "zoom",
    "bridge call",
    "conference call",
    "huddle",
    "debrief",
    "calendar",
    "scheduled",
    "reunión",
    "reunion",
    "reunião",
    "reuniao",
    "when:",
    "cuándo:",
    "quando:",
];
const ACTION: &[&str] = &[
    "isolated",
    "isolate",
    "reset",
    "disabled",
    "blocked",
    "reimaged",
    "re-imaged",
    "quarantined",
    "contained",
    "disconnected",
    "unplugged",
    "revoked",
    "locked",
    "wiped",
    "shut down",
    "took it offline",
    "taken offline",
    "pulled",
    "removed",
    "purged",
    "opened a ticket",
    "escalated",
    "we called",
    "i called",
    "aislamos",
    "aislado",
    "bloqueamos",
    "reiniciamos",
    "restablecimos",
    "desconectamos",
    "isolamos",
    "isolado",
    "redefinimos",
    "desligamos",
    "changed",
    "posted",
    "enabled",
    "notified",
    "told",
    "we wrote",
    "killed",
    "upgraded",
    "patched",
    "restored",
    "in place",
    "cambié",
    "cambiamos",
    "llamé",
    "llamamos",
    "avisamos",
    "escribimos",
    "notificamos",
    "borramos",
    "eliminamos",
    "bloqueé",
    "troquei",
    "trocamos",
    "liguei",
    "ligamos",
    "escrevemos",
    "apagamos",
    "bloqueei",
    "alterei",
    "mudei",
];
const DETECT: &[&str] = &[
    "noticed",
    "notice ",
    "discovered",
    "detected",
    "detection",
    "realized",
    "realised",
    "found",
    "alerted",
    "alert",
    "saw ",
    "seen",
    "reported",
    "received",
    "getting calls",
    "got a call",
    "calls from",
    "called me",
    "came in",
    "flagged",
    "woke up",
    "spotted",
    "caught",
    "became aware",
    "detectamos",
    "detectado",
    "detectada",
    "notamos",
    "descubrimos",
    "nos dimos cuenta",
    "recibimos",
    "percebemos",
    "notei",
    "descobrimos",
    "recebemos",
    "alerta",
    "told us",
    "notified us",
    "paged us",
    "alerted us",
    "contacted us",
    "emailed us",
    "called us",
    "informed us",
    "nos avisaron",
    "nos llamaron",
    "nos informaron",
    "me avisaron",
    "me di cuenta",
    "nos avisaram",
    "nos ligaram",
    "nos informaram",
    "me avisaram",
    "percebi",
];
const OCCUR: &[&str] = &[
    "started",
    "began",
    "first access",
    "logs show",
    "first seen",
    "since",
    "was sent",
    "sent at",
    "left ",
    "was stolen",
    "clicked",
    "happened",
    "occurred",
    "signed in",
    "logged in",
    "login",
    "beginning",
    "first login",
    "opened",
    "comenzó",
    "empezó",
    "ocurrió",
    "hizo clic",
    "abrió",
    "começou",
    "ocorreu",
    "clicou",
    "abriu",
];

/// Where `cue` begins a word of `hay` ("seen" is not in "first_seen").
fn cue_at<'a>(hay: &'a str, cue: &'a str) -> impl Iterator<Item = usize> + 'a {
    hay.match_indices(cue).map(|(p, _)| p).filter(move |&p| {
        !hay[..p]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// The role of the time at `at` in `s`, from its clause's words (an action or a
/// meeting anywhere near it outweighs detection words).
fn role(s: &str, at: usize) -> Role {
    // A clause begins after a sentence's end (a stop before a space: not the dots of
    // "203.0.113.14" or "v2.1"), a semicolon or a line.
    // Only the window read (90 bytes back, 60 on) is searched: a long sentence full of
    // times is read in linear time.
    let bytes = s.as_bytes();
    let ends_clause = |i: usize| match bytes[i] {
        b';' | b'\n' => true,
        b'.' | b'?' | b'!' => bytes.get(i + 1).is_some_and(|c| c.is_ascii_whitespace()),
        _ => false,
    };
    let floor = at.saturating_sub(90);
    let start = (floor..at)
        .rev()
        .find(|&i| ends_clause(i))
        .map_or(floor, |i| i + 1);
    let start = (start..=at).find(|&i| s.is_char_boundary(i)).unwrap_or(at);
    let ceiling = (at + 60).min(s.len());
    let end = (at..ceiling).find(|&i| ends_clause(i)).unwrap_or(ceiling);
    let end = (end..=s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    let (Some(before), Some(around)) = (s.get(start..at), s.get(start..end)) else {
        return Role::Unmarked;
    };
    if MEETING.iter().any(|c| around.contains(c)) {
        return Role::Meeting;
    }
    if let Some(from) = before.rfind("from ") {
        let span = &before[from..];
        let to = [
            " to ",
            " until ",
            " till ",
            " through ",
            " a ",
            " hasta ",
            " até ",
        ];
        if to.iter().any(|w| span.ends_with(w)) && span.bytes().any(|b| b.is_ascii_digit()) {
            return Role::Ended;
        }
    }
    // The verb nearest before the time decides between action and detection.
    let last = |cues: &[&str]| cues.iter().filter_map(|c| cue_at(before, c).last()).max();
    let (act, det, occ) = (last(ACTION), last(DETECT), last(OCCUR));
    let after = s.get(at..end).unwrap_or("");
    let after_first = |cues: &[&str]| cues.iter().filter_map(|c| cue_at(after, c).next()).min();
    let best = [
        (act, Role::Action),
        (det, Role::Detected),
        (occ, Role::Occurred),
    ]
    .into_iter()
    .filter_map(|(p, r)| p.map(|p| (p, r)))
    .max_by_key(|(p, _)| *p);
    if let Some((_, r)) = best {
        return r;
    }
    // After the time, both kinds of words ("at 9:40 the help desk started getting
    // calls") leave the role open.
    if after_first(DETECT).is_some() && after_first(OCCUR).is_some() {
        return Role::Unmarked;
    }
    let first_after = [
        (after_first(ACTION), Role::Action),
        (after_first(DETECT), Role::Detected),
        (after_first(OCCUR), Role::Occurred),
    ]
    .into_iter()
    .filter_map(|(p, r)| p.map(|p| (p, r)))
    .min_by_key(|(p, _)| *p);
    first_after.map(|(_, r)| r).unwrap_or(Role::Unmarked)
}

/// A day named in `s`: (byte offset, the day, an implied half of the day).
fn days_in(s: &str, today: NaiveDate, day_first: bool) -> Vec<(usize, NaiveDate, Option<bool>)> {
    let mut out = Vec::new();
    for c in ISO_DATE.captures_iter(s) {
        let n = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
        if let (Some(y), Some(m), Some(d)) = (n(1), n(2), n(3)) {
            if let Some(day) = NaiveDate::from_ymd_opt(y as i32, m, d) {
                out.push((c.get(0).map_or(0, |m| m.start()), day, None));
            }
        }
    }
    for c in NUM_DATE.captures_iter(s) {
        let (Some(a), Some(b)) = (
            c.get(1).and_then(|m| m.as_str().parse::<u32>().ok()),
            c.get(2).and_then(|m| m.as_str().parse::<u32>().ok()),
        ) else {
            continue;
        };
        let y = c
            .get(3)
            .and_then(|y| y.as_str().parse::<i32>().ok())
            .map(|y| if y < 100 { 2000 + y } else { y })
            .unwrap_or(today.year());
        let (m, d) = if day_first && a <= 31 && b <= 12 {
            (b, a)
        } else {
            (a, b)
        };
        let day = NaiveDate::from_ymd_opt(y, m, d).or_else(|| NaiveDate::from_ymd_opt(y, d, m));
        if let Some(day) = day {
            // A date with no year is the last such day not after the message.
            let day = if c.get(3).is_none() && day > today {
                day.with_year(y - 1).unwrap_or(day)
            } else {
                day
            };
            out.push((c.get(0).map_or(0, |m| m.start()), day, None));
        }
    }
    for c in MONTH_DATE.captures_iter(s) {
        let (mw, dw) = match (c.name("m1"), c.name("d1"), c.name("m2"), c.name("d2")) {
            (Some(m), Some(d), _, _) => (m, d),
            (_, _, Some(m), Some(d)) => (m, d),
            _ => continue,
        };
        let (Some(m), Ok(d)) = (month(mw.as_str()), dw.as_str().parse::<u32>()) else {
            continue;
        };
        if let Some(day) = NaiveDate::from_ymd_opt(today.year(), m, d) {
            let day = if day > today {
                day.with_year(today.year() - 1).unwrap_or(day)
            } else {
                day
            };
            out.push((c.get(0).map_or(0, |m| m.start()), day, None));
        }
    }
    let mut taken: Vec<std::ops::Range<usize>> = Vec::new();
    for (word, back, half) in RELATIVE {
        for (at, _) in s.match_indices(word) {
            if !whole_word(s, at, word.len()) || taken.iter().any(|r| r.contains(&at)) {
                continue;
            }
            taken.push(at..at + word.len());
            out.push((at, today - Duration::days(*back), *half));
        }
    }
    for (word, wd) in WEEKDAYS {
        for (at, _) in s.match_indices(word) {
            if !whole_word(s, at, word.len()) || taken.iter().any(|r| r.contains(&at)) {
                continue;
            }
            taken.push(at..at + word.len());
            let mut d = today - Duration::days(1);
            while d.weekday() != *wd {
                d -= Duration::days(1);
            }
            out.push((at, d, None));
        }
    }
    out
}

fn whole_word(s: &str, at: usize, len: usize) -> bool {
    let before = s[..at].chars().next_back();
    let after = s[at + len..].chars().next();
    !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
}

/// The zone written right after a time (`14:20 ET`, `03:00Z`, `(UTC)`, `-0500`).
fn zone_after(s: &str) -> Option<Zone> {
    let rest = s.trim_start().trim_start_matches('(').trim_start();
    if let Some(tok) = rest.split([' ', ')', ',', ';']).next() {
        if let Some(off) = parse_offset(tok) {
            return Some(Zone::Fixed(off));
        }
        for prefix in ["utc", "gmt"] {
            if let Some(o) = tok.strip_prefix(prefix).and_then(parse_offset) {
                return Some(Zone::Fixed(o));
            }
        }
    }
    ZONES.iter().find_map(|(name, z)| {
        rest.strip_prefix(name.as_str())
            .filter(|r| !r.starts_with(char::is_alphanumeric))
            .map(|_| *z)
    })
}

fn in_zone(local: NaiveDateTime, zone: Option<Zone>) -> Option<DateTime<FixedOffset>> {
    let at = match zone {
        Some(Zone::Fixed(off)) => off.from_local_datetime(&local).single()?,
        Some(Zone::Named(tz)) => tz.from_local_datetime(&local).earliest()?.fixed_offset(),
        None => New_York
            .from_local_datetime(&local)
            .earliest()?
            .fixed_offset(),
    };
    Some(at.with_timezone(&New_York).fixed_offset())
}

/// The words after a bare number count things ("40 users", "1200 Main St", "10%").
fn counts_after(rest: &str) -> bool {
    let mut words = rest
        .trim_start()
        .split(|c: char| !c.is_alphanumeric() && c != '%')
        .filter(|w| !w.is_empty());
    let next = words.next().unwrap_or("");
    // "3 or 4 people", "10 to 15 users": a range is a count.
    if ["or", "to", "and", "a", "ou", "o"].contains(&next)
        && words
            .next()
            .is_some_and(|w| w.starts_with(|c: char| c.is_ascii_digit()))
    {
        return true;
    }
    next.starts_with('%')
        || next.starts_with(|c: char| c.is_ascii_digit())
        || (next.len() > 2
            && ![
                "this",
                "today",
                "yesterday",
                "last",
                "that",
                "on",
                "in",
                "the",
                "tonight",
                "et",
                "est",
                "edt",
                "utc",
                "gmt",
                "hrs",
                "hours",
                "o",
                "de",
                "da",
                "do",
                "del",
                "ayer",
                "hoy",
                "ontem",
                "hoje",
                "and",
                "or",
                "when",
                "while",
                "but",
                "y",
            ]
            .contains(&next)
            && !PM_WORDS.iter().chain(AM_WORDS).any(|w| next.starts_with(w)))
}

/// "a few min ago", "20 minutes ago", "an hour ago", "hace 20 minutos", "há 2 horas".
static AGO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        \b(?P<n>\d{1,3}|a\ few|few|a\ couple(?:\ of)?|an?|one|two|three)\s*(?P<u>min(?:ute)?s?|hours?|hrs?)\s+ago\b
      | \b(?:hace|há|ha)\s+(?P<n2>\d{1,3}|unos|unas|uns|umas|un|una|um|uma|poco|pouco)\s*(?P<u2>minutos?|horas?)\b",
    )
    .expect("ago regex")
});

/// Times counted back from the message's Date ("a few min ago").
fn ago_in(s: &str, sent: DateTime<FixedOffset>, out: &mut Vec<Found>) {
    for c in AGO.captures_iter(s) {
        let (Some(n), Some(u)) = (c.name("n").or(c.name("n2")), c.name("u").or(c.name("u2")))
        else {
            continue;
        };
        let n: i64 = match n.as_str() {
            "a" | "an" | "one" | "un" | "una" | "um" | "uma" => 1,
            "two" => 2,
            "a couple" | "a couple of" => 2,
            "a few" | "few" | "three" | "unos" | "unas" | "uns" | "umas" | "poco" | "pouco" => 3,
            d => match d.parse() {
                Ok(d) => d,
                Err(_) => continue,
            },
        };
        let minutes = if u.as_str().starts_with('h') {
            n * 60
        } else {
            n
        };
        let (at, end) = c.get(0).map_or((0, 0), |m| (m.start(), m.end()));
        // "About 20 minutes ago (around 1:30)": the clock time says it better.
        let soon = s.get(end..(end + 20).min(s.len())).unwrap_or("");
        if TIME.is_match(soon) {
            continue;
        }
        // To the minute: "20 minutes ago" is no more precise than that.
        let t = sent - Duration::minutes(minutes);
        let t = t - Duration::seconds(i64::from(t.second()));
        let t = t.with_timezone(&New_York);
        let t = t.fixed_offset();
        out.push(Found {
            at: t.to_rfc3339(),
            role: role(s, at),
            offset: at,
            day: Some(Carry {
                day: t.date_naive(),
                half: None,
                at: t,
            }),
        });
    }
}

/// Every time of day in `sentence`, resolved against `sent` (the Date header).
/// `day_first`: numeric dates are day/month (Spanish and Portuguese reports).
pub fn times_in(
    sentence: &str,
    sent: Option<DateTime<FixedOffset>>,
    day_first: bool,
) -> Vec<Found> {
    times_in_after(sentence, sent, day_first, None)
}

/// [`times_in`] for a sentence that follows others of its paragraph: a bare time in a
/// sentence that names no day of its own is read on the day (and in the half of the
/// day) `carry` gives, and an hour that could be morning or afternoon is the reading
/// that comes after the earlier time rather than before it.
pub fn times_in_after(
    sentence: &str,
    sent: Option<DateTime<FixedOffset>>,
    day_first: bool,
    carry: Option<Carry>,
) -> Vec<Found> {
    let mut out = Vec::new();
    let digits = sentence.bytes().any(|b| b.is_ascii_digit());
    static AGO_WORD: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)\b(?:ago|hace|há|ha)\b").expect("ago word regex"));
    let ago = AGO_WORD.is_match(sentence);
    if !digits && !ago {
        return out;
    }
    let s = normalize(sentence);
    if ago {
        if let Some(sent) = sent {
            ago_in(&s, sent, &mut out);
        }
    }
    // The days the sentence names, read once (only when it holds a time of day).
    let mut days: Option<Vec<(usize, NaiveDate, Option<bool>)>> = None;
    for c in TIME.captures_iter(&s) {
        let Some(whole) = c.get(0) else { continue };
        let at = whole.start();
        // An ISO timestamp stands alone.
        if let Some(y) = c.name("iy") {
            let n = |k: &str| c.name(k).and_then(|m| m.as_str().parse::<u32>().ok());
            let (Some(m), Some(d), Some(h), Some(mi)) = (n("im"), n("id"), n("ih"), n("imin"))
            else {
                continue;
            };
            let Some(local) = NaiveDate::from_ymd_opt(y.as_str().parse().unwrap_or(0), m, d)
                .and_then(|d| d.and_hms_opt(h, mi, n("isec").unwrap_or(0)))
            else {
                continue;
            };
            let zone = c
                .name("iz")
                .and_then(|z| {
                    if z.as_str() == "z" {
                        Some(Zone::Fixed(FixedOffset::east_opt(0)?))
                    } else {
                        parse_offset(z.as_str()).map(Zone::Fixed)
                    }
                })
                .or_else(|| zone_after(&s[whole.end()..]));
            if let Some(t) = in_zone(local, zone) {
                out.push(Found {
                    at: t.to_rfc3339(),
                    role: role(&s, at),
                    offset: at,
                    day: Some(Carry {
                        day: t.date_naive(),
                        half: None,
                        at: t,
                    }),
                });
            }
            continue;
        }
        let Some(sent) = sent else { continue };
        let (h, m, marker) = if let Some(h) = c.name("h") {
            (h, c.name("m"), c.name("ap"))
        } else if let Some(h) = c.name("h2") {
            (h, None, c.name("ap2"))
        } else if let Some(h) = c.name("h3") {
            (h, c.name("m3"), None)
        } else if let Some(h) = c.name("h4") {
            (h, c.name("m4"), None)
        } else if let Some(h) = c.name("h6") {
            (h, c.name("m6"), None)
        } else if let Some(h) = c.name("h5") {
            (h, None, c.name("ap5"))
        } else {
            continue;
        };
        // "around 10" and "at 0530" stand for times only beside a day or a part of the
        // day, and never before a count ("about 40 users", "at 1200 Main St").
        let loose = c.name("h5").is_some() || (c.name("h6").is_some() && c.name("hs6").is_none());
        if loose && c.name("ap5").is_none() && counts_after(&s[whole.end()..]) {
            continue;
        }
        let (Ok(mut hour), minute) = (
            h.as_str().parse::<u32>(),
            m.and_then(|m| m.as_str().parse::<u32>().ok()).unwrap_or(0),
        ) else {
            continue;
        };
        let marker = marker.map(|m| m.as_str().replace(['.', ' '], ""));
        let pm = match marker.as_deref() {
            Some("pm") => Some(true),
            Some("am") => Some(false),
            _ => None,
        };
        // A bare "9:40" needs a reason to be a time (not a score or a ratio).
        let military = c.name("h4").is_some()
            || c.name("h3").is_some()
            || c.name("hs6").is_some()
            || marker.is_some();
        let day_words = |w: &str| PM_WORDS.iter().chain(AM_WORDS).any(|x| w.contains(x));
        if hour > 23 || minute > 59 || (pm.is_some() && (hour == 0 || hour > 12)) {
            continue;
        }
        let zone = zone_after(&s[whole.end()..]);
        let today = sent.with_timezone(&New_York).date_naive();
        let days = days.get_or_insert_with(|| days_in(&s, today, day_first));
        // The day named nearest the time, within its sentence.
        let nearest = days
            .iter()
            .min_by_key(|(p, _, _)| (*p as i64 - at as i64).unsigned_abs());
        let window = s
            .get(at.saturating_sub(40)..(whole.end() + 30).min(s.len()))
            .unwrap_or("");
        let carried = if nearest.is_none() { carry } else { None };
        let half = nearest.and_then(|(_, _, h)| *h).or_else(|| {
            if PM_WORDS.iter().any(|w| window.contains(w)) {
                Some(true)
            } else if AM_WORDS.iter().any(|w| window.contains(w)) {
                Some(false)
            } else {
                None
            }
        });
        let night = NIGHT_WORDS.iter().any(|w| window.contains(w))
            || nearest.is_some_and(|(p, _, _)| {
                s.get(*p..).is_some_and(|d| {
                    let d = crate::domain::prefix_of(d, 16);
                    NIGHT_WORDS.iter().any(|w| d.contains(w))
                })
            });
        match (pm, half) {
            (Some(true), _) if hour < 12 => hour += 12,
            (Some(false), _) if hour == 12 => hour = 0,
            // "last night at 1:30" is after midnight; "anoche 9:30" is 21:30.
            (None, Some(true)) if (7..12).contains(&hour) => hour += 12,
            // "last night around 6:40" is the evening's; "last night at 2" the small hours.
            (None, Some(true)) if (5..7).contains(&hour) && night => hour += 12,
            (None, Some(true)) if (1..7).contains(&hour) && window.contains("afternoon") => {
                hour += 12
            }
            (None, Some(true)) if (1..7).contains(&hour) && window.contains("tarde") => hour += 12,
            _ => {}
        }
        if loose
            && marker.is_none()
            && zone.is_none()
            && nearest.is_none()
            && carried.is_none()
            && !day_words(window)
        {
            continue;
        }
        let cued = military
            || zone.is_some()
            || nearest.is_some()
            || carried.is_some()
            || [
                " at ", "around", "about", "approx", "~", "a las", "às", "cerca",
            ]
            .iter()
            .any(|w| window.contains(w));
        if !cued {
            continue;
        }
        let second = c
            .name("sec")
            .and_then(|x| x.as_str().parse::<u32>().ok())
            .unwrap_or(0);
        let Some(time) = NaiveTime::from_hms_opt(hour, minute, second) else {
            continue;
        };
        let mut day = nearest
            .map(|(_, d, _)| *d)
            .or(carried.map(|c| c.day))
            .unwrap_or(today);
        // "last night at 1:30", "overnight, at 2:10 am": the small hours of the day after.
        if let Some((_, d, Some(true))) = nearest {
            if hour < 7 && *d < today {
                day += Duration::days(1);
            }
        }
        // After an earlier time of the paragraph, a bare hour that could be either half
        // of the day is the reading nearer to it ("a las 3 de la tarde … nos dimos
        // cuenta a las 3:40").
        if let (Some(c), None, None, true) = (carried, pm, half, (1..12).contains(&hour)) {
            let morning = in_zone(day.and_time(time), zone);
            let afternoon = in_zone(day.and_time(time) + Duration::hours(12), zone);
            if let (Some(a), Some(p)) = (morning, afternoon) {
                if (p - c.at).abs() < (a - c.at).abs() {
                    hour += 12;
                }
            }
        }
        // A bare "around 1:30" in a message sent at 13:55 is the afternoon's: of the two
        // readings, the latest not after the message.
        if pm.is_none()
            && half.is_none()
            && carried.is_none()
            && day == today
            && c.name("h").is_some()
            && (1..12).contains(&hour)
        {
            if let Some(later) = in_zone(day.and_time(time) + Duration::hours(12), zone) {
                if later <= sent + Duration::minutes(5) {
                    hour += 12;
                }
            }
        }
        let Some(time) = NaiveTime::from_hms_opt(hour, minute, second) else {
            continue;
        };
        let Some(mut t) = in_zone(day.and_time(time), zone) else {
            continue;
        };
        // "at 9:40" in a message sent at 8:00, with no day named, was yesterday.
        if nearest.is_none() && carried.is_none() && t > sent + Duration::minutes(5) {
            match in_zone((day - Duration::days(1)).and_time(time), zone) {
                Some(x) => t = x,
                None => continue,
            }
        }
        out.push(Found {
            at: t.to_rfc3339(),
            role: role(&s, at),
            offset: at,
            day: (nearest.is_some() || carried.is_some()).then_some(Carry {
                day: t.date_naive(),
                // The small hours after "last night" go on as no half of the day.
                half: half.filter(|&pm| !pm || t.hour() >= 12),
                at: t,
            }),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(s: &str) -> Option<DateTime<FixedOffset>> {
        DateTime::parse_from_rfc2822(s).ok()
    }

    fn first(s: &str, date: &str) -> Option<(String, Role)> {
        times_in(s, sent(date), false)
            .into_iter()
            .next()
            .map(|f| (f.at, f.role))
    }

    const TUE: &str = "Tue, 13 Jan 2026 11:20:00 -0500";

    #[test]
    fn this_morning_is_the_messages_day_not_a_weekday_further_on() {
        let (at, _) = first(
            "This morning at 9:40 the help desk started getting calls about an email asking them to confirm before Friday's pay date.",
            TUE,
        )
        .expect("a time");
        assert_eq!(at, "2026-01-13T09:40:00-05:00");
        let f = times_in(
            "This morning at 9:40 the help desk started getting calls.",
            sent(TUE),
            false,
        );
        assert_eq!(f[0].role, Role::Unmarked, "read as the time it was noticed");
    }

    #[test]
    fn explicit_zones_are_converted() {
        let d = "Mon, 02 Nov 2026 09:00:00 -0500";
        assert_eq!(
            first("Logs show the first login at 2026-11-01T03:00Z.", d).map(|x| x.0),
            Some("2026-10-31T23:00:00-04:00".into())
        );
        assert_eq!(
            first("We detected it at 14:20 ET on 10/30.", d).map(|x| x.0),
            Some("2026-10-30T14:20:00-04:00".into())
        );
        assert_eq!(
            first("Alert fired at 8:15 AM Central Time today.", d).map(|x| x.0),
            Some("2026-11-02T09:15:00-05:00".into())
        );
        assert_eq!(
            first("Detected 11/01 at 0915 hrs UTC", d).map(|x| x.0),
            Some("2026-11-01T04:15:00-05:00".into())
        );
    }

    #[test]
    fn spanish_and_portuguese_relative_times() {
        let d = "Wed, 14 Jan 2026 08:10:00 -0500";
        assert_eq!(
            times_in("Lo notamos anoche 9:30.", sent(d), true)[0].at,
            "2026-01-13T21:30:00-05:00"
        );
        assert_eq!(
            times_in(
                "Percebemos ontem à noite, por volta das 11h15.",
                sent(d),
                true
            )[0]
            .at,
            "2026-01-13T23:15:00-05:00"
        );
        assert_eq!(
            times_in("Detectado el 12/01 a las 14:05.", sent(d), true)[0].at,
            "2026-01-12T14:05:00-05:00"
        );
    }

    #[test]
    fn bare_hours_beside_a_day_and_times_counted_back() {
        // Monday 16 March 2026, 07:40 EDT.
        let mon = "Mon, 16 Mar 2026 07:40:02 -0400";
        let at = |s: &str| first(s, mon).map(|x| x.0);
        assert_eq!(
            at("Sunday night around 10 my wife's phone got an email."),
            Some("2026-03-15T22:00:00-04:00".into())
        );
        assert_eq!(
            at("Ayer como a las 3 de la tarde empezó."),
            Some("2026-03-15T15:00:00-04:00".into())
        );
        assert_eq!(
            at("Around 0530 this morning I got prompts."),
            Some("2026-03-16T05:30:00-04:00".into())
        );
        assert_eq!(
            at("Got this text a few min ago."),
            Some("2026-03-16T07:37:00-04:00".into())
        );
        assert_eq!(
            at("Perdí el celular hace 20 minutos."),
            Some("2026-03-16T07:20:00-04:00".into())
        );
        // Counts and addresses are not hours; a bare hour with no day is not a time.
        assert_eq!(at("This morning about 40 users got it."), None);
        assert_eq!(at("The office at 1200 Main St this morning."), None);
        assert_eq!(at("We were told at 10 of them."), None);
        assert_eq!(at("Yesterday afternoon about 3 or 4 people got it."), None);
        assert_eq!(
            at("Sunday night ~10 it started."),
            Some("2026-03-15T22:00:00-04:00".into())
        );
        assert_eq!(
            at("Hace 20 minutos perdí el celular."),
            Some("2026-03-16T07:20:00-04:00".into())
        );
        // The clock time beside "ago" says it better.
        assert_eq!(
            at("About 20 minutes ago (around 7:15) the mouse moved."),
            Some("2026-03-16T07:15:00-04:00".into())
        );
    }

    #[test]
    fn actions_and_meetings_are_not_detection() {
        let f = times_in(
            "We isolated the laptop at 8:55 and reset the password at 10:40.",
            sent(TUE),
            false,
        );
        assert!(f.iter().all(|x| x.role == Role::Action), "{f:?}");
        let f = times_in(
            "Teams meeting to review at 2:00 pm today.",
            sent(TUE),
            false,
        );
        assert_eq!(f[0].role, Role::Meeting);
        let f = times_in("I noticed the pop-ups at 10:05.", sent(TUE), false);
        assert_eq!(f[0].role, Role::Detected);
    }

    #[test]
    fn who_told_whom_spans_and_clauses() {
        // Told us: we learned of it then; we told them: an action.
        let f = times_in("The vendor told us at 06:45 EDT.", sent(TUE), false);
        assert_eq!(f[0].role, Role::Detected);
        let f = times_in("State Police were told at 2:15 AM.", sent(TUE), false);
        assert_eq!(f[0].role, Role::Action);
        let f = times_in(
            "Às 9h55 troquei a minha senha pelo portal.",
            sent(TUE),
            true,
        );
        assert_eq!(f[0].role, Role::Action);
        // The end of a span is neither its start nor its detection.
        let f = times_in(
            "The session lasted from 06:40 to 07:12 today.",
            sent(TUE),
            false,
        );
        assert_eq!(f[1].role, Role::Ended, "{f:?}");
        // An address's dots end no clause: the action before it still counts.
        let f = times_in(
            "Password reset, sessions revoked at 13:52 for 203.0.113.14 at 13:55. Escalated.",
            sent(TUE),
            false,
        );
        assert!(f.iter().all(|x| x.role == Role::Action), "{f:?}");
        let f = times_in(
            "Sign-in log shows a session from 203.0.113.14 at 13:52. Escalated to SOC.",
            sent(TUE),
            false,
        );
        assert_eq!(f[0].role, Role::Unmarked, "{f:?}");
    }

    #[test]
    fn a_later_sentence_goes_on_from_the_paragraphs_day() {
        let d = "Tue, 30 Jun 2026 09:12:00 -0400";
        let first = times_in(
            "Ayer como a las 3 de la tarde nos robaron la tableta.",
            sent(d),
            true,
        );
        assert_eq!(first[0].at, "2026-06-29T15:00:00-04:00");
        let next = times_in_after(
            "Nos dimos cuenta como a las 3:40 cuando volvieron.",
            sent(d),
            true,
            first[0].day,
        );
        assert_eq!(next[0].at, "2026-06-29T15:40:00-04:00");
        // The nearer reading: a time a little before the earlier one stays in its half.
        let d = "Tue, 01 Dec 2026 10:02:00 -0500";
        let first = times_in("Yesterday at 9:14 the alert fired.", sent(d), false);
        let next = times_in_after("It ran at 9:00.", sent(d), false, first[0].day);
        assert_eq!(next[0].at, "2026-11-30T09:00:00-05:00");
        // "Last night around 6:40" is the evening's.
        let d = "Fri, 06 Mar 2026 08:05:00 -0500";
        let f = times_in(
            "I left it on the train last night (I got off at Natick around 6:40).",
            sent(d),
            false,
        );
        assert_eq!(f[0].at, "2026-03-05T18:40:00-05:00");
        let next = times_in_after(
            "Realized it when I got home around 7:15.",
            sent(d),
            false,
            f[0].day,
        );
        assert_eq!(next[0].at, "2026-03-05T19:15:00-05:00");
    }

    #[test]
    fn yesterday_last_night_and_weekdays() {
        let d = "Thu, 15 Jan 2026 10:00:00 -0500";
        assert_eq!(
            first("It started yesterday around 3pm.", d).map(|x| x.0),
            Some("2026-01-14T15:00:00-05:00".into())
        );
        assert_eq!(
            first("The user clicked on Tuesday at 10am", d).map(|x| x.0),
            Some("2026-01-13T10:00:00-05:00".into())
        );
        assert_eq!(
            first("Prompts started last night at 1:30.", d).map(|x| x.0),
            Some("2026-01-15T01:30:00-05:00".into())
        );
        assert_eq!(first("The score was 3:1 in the end.", d), None);
        // A bare hour is the latest reading not after the message; the small hours
        // after "overnight" are the message's day.
        let d = "Wed, 29 Apr 2026 13:55:03 -0400";
        assert_eq!(
            first("About 20 minutes ago (around 1:30) the mouse moved.", d).map(|x| x.0),
            Some("2026-04-29T13:30:00-04:00".into())
        );
        let d = "Sun, 19 Apr 2026 09:02:15 -0400";
        assert_eq!(
            first(
                "The page started posting overnight, first one at 2:10 am.",
                d
            )
            .map(|x| x.0),
            Some("2026-04-19T02:10:00-04:00".into())
        );
    }
}
