//! Charts as data: bars (stacked or side by side) over labelled columns, drawn as SVG
//! for pages and as PNG for mail (Outlook shows no SVG), each with its numbers as an
//! HTML table and as text. Every label is our text or stored data: always escaped.

use std::fmt::Write as _;

/// One series of values, one per column of its chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// A bar chart and the table of its numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Stable id: the table is `t-<id>` (tests and links find it by that).
    pub id: &'static str,
    pub title: String,
    /// What a number means ("cases", "minutes").
    pub unit: String,
    /// The header of the table's first column ("Week", "Severity").
    pub key_header: String,
    /// The columns of the chart (rows of the table): their keys (`data-key`).
    pub keys: Vec<String>,
    /// Shown for each key in the table's first column (default: the key).
    pub key_labels: Vec<String>,
    pub series: Vec<Series>,
    /// Numbers in the table only (e.g. how many cases a timing is over).
    pub table_only: Vec<Series>,
    /// Stacked bars with a total column; else bars side by side.
    pub stacked: bool,
    /// Decimals shown in the table for the charted series.
    pub decimals: usize,
    /// Decimals shown for the table-only series.
    pub table_decimals: usize,
    /// What exactly is counted, under the chart.
    pub note: String,
}

/// The colours of the series, in order (then again).
pub const PALETTE: &[(u8, u8, u8)] = &[
    (0x1f, 0x77, 0xb4),
    (0xff, 0x7f, 0x0e),
    (0x2c, 0xa0, 0x2c),
    (0xd6, 0x27, 0x28),
    (0x94, 0x67, 0xbd),
    (0x8c, 0x56, 0x4b),
    (0xe3, 0x77, 0xc2),
    (0x7f, 0x7f, 0x7f),
    (0xbc, 0xbd, 0x22),
    (0x17, 0xbe, 0xcf),
    // Lighter partners, so that up to 20 series (13 categories, the secretariats) each
    // have their own colour.
    (0xae, 0xc7, 0xe8),
    (0xff, 0xbb, 0x78),
    (0x98, 0xdf, 0x8a),
    (0xff, 0x98, 0x96),
    (0xc5, 0xb0, 0xd5),
    (0xc4, 0x9c, 0x94),
    (0xf7, 0xb6, 0xd2),
    (0xc7, 0xc7, 0xc7),
    (0xdb, 0xdb, 0x8d),
    (0x9e, 0xda, 0xe5),
];

pub fn colour(i: usize) -> (u8, u8, u8) {
    PALETTE[i % PALETTE.len()]
}

fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Text for HTML and SVG, attribute values included.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Plot geometry shared by the SVG and the PNG: where each bar segment goes.
pub struct Layout {
    pub width: u32,
    pub height: u32,
    pub left: f64,
    pub top: f64,
    pub plot_w: f64,
    pub plot_h: f64,
    /// The value at the top of the plot.
    pub max: f64,
}

/// A bar segment: series index, x, y, width, height (pixels, y down).
pub type Bar = (usize, f64, f64, f64, f64);

impl Chart {
    fn label(&self, i: usize) -> &str {
        self.key_labels
            .get(i)
            .map(String::as_str)
            .unwrap_or_else(|| self.keys.get(i).map(String::as_str).unwrap_or(""))
    }

    fn value(&self, s: usize, k: usize) -> f64 {
        self.series
            .get(s)
            .and_then(|s| s.values.get(k))
            .copied()
            .filter(|v| v.is_finite() && *v > 0.0)
            .unwrap_or(0.0)
    }

    /// The total of column `k` (stacked charts).
    pub fn total(&self, k: usize) -> f64 {
        (0..self.series.len()).fold(0.0, |t, s| t + self.value(s, k))
    }

    /// Whether there is anything to draw.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() || (0..self.keys.len()).all(|k| self.total(k) == 0.0)
    }

    pub fn layout(&self, width: u32, height: u32, top: f64) -> Layout {
        let tallest = (0..self.keys.len())
            .map(|k| {
                if self.stacked {
                    self.total(k)
                } else {
                    (0..self.series.len())
                        .map(|s| self.value(s, k))
                        .fold(0.0, f64::max)
                }
            })
            .fold(0.0, f64::max);
        let left = 48.0;
        Layout {
            width,
            height,
            left,
            top,
            plot_w: width as f64 - left - 8.0,
            plot_h: height as f64 - top - 28.0,
            // Four gridlines at round steps.
            max: nice_ceiling(tallest / 4.0) * 4.0,
        }
    }

    /// Every bar segment in `l`.
    pub fn bars(&self, l: &Layout) -> Vec<Bar> {
        let n = self.keys.len().max(1) as f64;
        let slot = l.plot_w / n;
        let bar_w = (slot * 0.7).max(1.0);
        let scale = l.plot_h / l.max;
        let base = l.top + l.plot_h;
        let mut out = Vec::new();
        for k in 0..self.keys.len() {
            let x0 = l.left + slot * k as f64 + (slot - bar_w) / 2.0;
            let mut y = base;
            let per = bar_w / self.series.len().max(1) as f64;
            for s in 0..self.series.len() {
                let h = self.value(s, k) * scale;
                if h <= 0.0 {
                    continue;
                }
                if self.stacked {
                    y -= h;
                    out.push((s, x0, y, bar_w, h));
                } else {
                    out.push((s, x0 + per * s as f64, base - h, per, h));
                }
            }
        }
        out
    }

    /// The chart as an SVG element (no script, no style: presentation attributes only,
    /// so the page's CSP holds).
    pub fn svg(&self) -> String {
        let legend_rows = self.series.len().div_ceil(4).max(1) as f64;
        let l = self.layout(720, 300, 10.0 + 18.0 * legend_rows);
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="c-{id}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-labelledby="c-{id}-title"><title id="c-{id}-title">{title}</title>"#,
            id = self.id,
            w = l.width,
            h = l.height,
            title = escape(&self.title),
        );
        for (i, serie) in self.series.iter().enumerate() {
            let (x, y) = (l.left + 170.0 * (i % 4) as f64, 6.0 + 18.0 * (i / 4) as f64);
            let _ = write!(
                s,
                r#"<rect x="{x}" y="{y}" width="12" height="12" fill="{c}"/><text x="{tx}" y="{ty}" font-size="12" font-family="sans-serif">{name}</text>"#,
                c = hex(colour(i)),
                tx = x + 16.0,
                ty = y + 11.0,
                name = escape(&shorten(&serie.name, 24)),
            );
        }
        for g in 0..=4 {
            let v = l.max * g as f64 / 4.0;
            let y = l.top + l.plot_h - l.plot_h * g as f64 / 4.0;
            let _ = write!(
                s,
                r##"<line x1="{x1}" y1="{y:.1}" x2="{x2}" y2="{y:.1}" stroke="#dddddd"/><text x="{tx}" y="{ty:.1}" font-size="11" font-family="sans-serif" text-anchor="end">{label}</text>"##,
                x1 = l.left,
                x2 = l.left + l.plot_w,
                tx = l.left - 4.0,
                ty = y + 4.0,
                label = escape(&axis_number(v)),
            );
        }
        for (si, x, y, w, h) in self.bars(&l) {
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{c}"/>"#,
                c = hex(colour(si)),
            );
        }
        let n = self.keys.len().max(1) as f64;
        let slot = l.plot_w / n;
        let every = (self.keys.len() / 12).max(1);
        for k in (0..self.keys.len()).step_by(every) {
            let _ = write!(
                s,
                r#"<text x="{x:.1}" y="{y:.1}" font-size="11" font-family="sans-serif" text-anchor="middle">{label}</text>"#,
                x = l.left + slot * (k as f64 + 0.5),
                y = l.top + l.plot_h + 16.0,
                label = escape(&shorten(
                    axis_key(self.keys.get(k).map(String::as_str).unwrap_or("")),
                    12
                )),
            );
        }
        let _ = write!(
            s,
            r##"<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="#333333"/></svg>"##,
            x1 = l.left,
            x2 = l.left + l.plot_w,
            y = l.top + l.plot_h,
        );
        s
    }

    fn number(&self, v: f64) -> String {
        number(v, self.decimals)
    }

    /// Every column of the table with its decimals.
    fn columns(&self) -> impl Iterator<Item = (&Series, usize)> {
        let charted = self.series.iter().map(|s| (s, self.decimals));
        charted.chain(self.table_only.iter().map(|s| (s, self.table_decimals)))
    }

    /// The numbers as an HTML table: `<table id="t-<id>">`, one row per key
    /// (`data-key`), one cell per series (`data-series`), and a total when stacked.
    pub fn table_html(&self) -> String {
        let mut s = format!(
            r#"<table class="numbers" id="t-{id}"><caption>{title} ({unit})</caption><thead><tr><th scope="col">{kh}</th>"#,
            id = self.id,
            title = escape(&self.title),
            unit = escape(&self.unit),
            kh = escape(&self.key_header),
        );
        for (c, _) in self.columns() {
            let _ = write!(s, r#"<th scope="col">{}</th>"#, escape(&c.name));
        }
        if self.stacked {
            s.push_str(r#"<th scope="col">Total</th>"#);
        }
        s.push_str("</tr></thead><tbody>");
        for (k, key) in self.keys.iter().enumerate() {
            let key = escape(key);
            let _ = write!(
                s,
                r#"<tr data-key="{key}"><th scope="row">{}</th>"#,
                escape(self.label(k))
            );
            for (c, decimals) in self.columns() {
                let v = c.values.get(k).copied().unwrap_or(0.0);
                let _ = write!(
                    s,
                    r#"<td data-key="{key}" data-series="{}">{}</td>"#,
                    escape(&c.name),
                    number(v, decimals)
                );
            }
            if self.stacked {
                let _ = write!(
                    s,
                    r#"<td data-key="{key}" data-series="Total">{}</td>"#,
                    self.number(self.total(k))
                );
            }
            s.push_str("</tr>");
        }
        s.push_str("</tbody></table>");
        s
    }

    /// The numbers as plain text lines (the text part of the report).
    pub fn table_text(&self) -> String {
        let mut head = vec![self.key_header.clone()];
        head.extend(self.columns().map(|(c, _)| c.name.clone()));
        if self.stacked {
            head.push("Total".into());
        }
        let mut s = format!("{} ({})\n{}\n", self.title, self.unit, head.join(" | "));
        for k in 0..self.keys.len() {
            let mut row = vec![self.label(k).to_string()];
            row.extend(
                self.columns()
                    .map(|(c, d)| number(c.values.get(k).copied().unwrap_or(0.0), d)),
            );
            if self.stacked {
                row.push(self.number(self.total(k)));
            }
            s.push_str(&row.join(" | "));
            s.push('\n');
        }
        s
    }
}

fn number(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "–".into()
    }
}

/// 1, 2 or 5 times a power of ten at or above `v` (at least 1).
pub fn nice_ceiling(v: f64) -> f64 {
    if !(v.is_finite() && v > 1.0) {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

/// A key as the x axis shows it: a day without its year (`11-30`), else as it is.
fn axis_key(k: &str) -> &str {
    match k.as_bytes() {
        [_, _, _, _, b'-', _, _, b'-', _, _] => &k[5..],
        _ => k,
    }
}

fn axis_number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// At most `n` characters, with an ellipsis when cut.
fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> Chart {
        Chart {
            id: "x",
            title: "Cases <by> week".into(),
            unit: "cases".into(),
            key_header: "Week".into(),
            keys: vec!["2026-11-23".into(), "2026-11-30".into()],
            key_labels: vec![],
            series: vec![
                Series {
                    name: "phish\"<script>".into(),
                    values: vec![1.0, 2.0],
                },
                Series {
                    name: "malware".into(),
                    values: vec![0.0, 3.0],
                },
            ],
            table_only: vec![],
            stacked: true,
            decimals: 0,
            table_decimals: 0,
            note: String::new(),
        }
    }

    #[test]
    fn svg_and_table_escape_every_label_and_total_stacked_columns() {
        let c = chart();
        let svg = c.svg();
        assert!(!svg.contains("<script>") && !svg.contains("<by>"), "{svg}");
        assert!(svg.contains("phish&quot;&lt;script&gt;"), "{svg}");
        assert!(
            !svg.contains("style"),
            "no inline style under the CSP: {svg}"
        );
        let t = c.table_html();
        assert!(
            t.contains(r#"<td data-key="2026-11-30" data-series="Total">5</td>"#),
            "{t}"
        );
        assert!(!t.contains("<script>"), "{t}");
        assert!(c.table_text().contains("2026-11-30 | 2 | 3 | 5"));
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(10.0), 10.0);
        assert_eq!(nice_ceiling(11.0), 20.0);
        assert_eq!(nice_ceiling(f64::NAN), 1.0);
    }
}
