//! Server-rendered SVG charts: no JavaScript, no `style` attributes (presentation attributes
//! such as `fill` only, so the content security policy holds), every label escaped by maud.
//! Each chart has a text alternative (`role="img"`, `aria-label`, `<title>` per mark) and an
//! explicit message when there is nothing to draw.

use maud::{Markup, html};

const WIDTH: f64 = 640.0;
const BAR_HEIGHT: f64 = 160.0;
const PAD_LEFT: f64 = 44.0;
const PAD_BOTTOM: f64 = 22.0;
const PAD_TOP: f64 = 10.0;
const INK: &str = "#1f2937";
const MUTED: &str = "#6b7280";
const GRID: &str = "#e5e7eb";
const BLUE: &str = "#2563eb";
const AMBER: &str = "#b45309";

fn fmt_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

/// A duration in seconds, readable: `45 s`, `12 min`, `3.5 h`, `2.0 d`.
pub fn duration(secs: f64) -> String {
    if secs < 90.0 {
        format!("{} s", secs.round() as i64)
    } else if secs < 90.0 * 60.0 {
        format!("{} min", (secs / 60.0).round() as i64)
    } else if secs < 48.0 * 3600.0 {
        format!("{:.1} h", secs / 3600.0)
    } else {
        format!("{:.1} d", secs / 86400.0)
    }
}

/// A fraction 0..1 as a percentage.
pub fn percent(rate: f64) -> String {
    format!("{:.0}%", rate * 100.0)
}

fn empty(label: &str, height: f64) -> Markup {
    html! {
        svg class="chart" viewBox={"0 0 " (WIDTH) " " (height)} role="img" aria-label={(label) ": no data"} {
            rect x="0" y="0" width=(WIDTH) height=(height) fill="#f9fafb" {}
            text x=(WIDTH / 2.0) y=(height / 2.0) text-anchor="middle" fill=(MUTED) font-size="14" {
                "No data for this period"
            }
        }
    }
}

/// Vertical bars, one per labelled value (a daily series), with the first, middle and last
/// labels under the axis.
pub fn bars(label: &str, points: &[(String, f64)]) -> Markup {
    let height = BAR_HEIGHT + PAD_TOP + PAD_BOTTOM;
    if points.is_empty() || points.iter().all(|(_, v)| *v <= 0.0) {
        return empty(label, height);
    }
    let max = points
        .iter()
        .map(|(_, v)| *v)
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let plot = WIDTH - PAD_LEFT - 8.0;
    let step = plot / points.len() as f64;
    let bar = (step * 0.8).max(1.0);
    let y = |v: f64| PAD_TOP + BAR_HEIGHT - v / max * BAR_HEIGHT;
    let ticks: Vec<usize> = {
        let mut t = vec![0, points.len() / 2, points.len() - 1];
        t.dedup();
        t
    };
    html! {
        svg class="chart" viewBox={"0 0 " (WIDTH) " " (height)} role="img" aria-label=(label) {
            line x1=(PAD_LEFT) y1=(PAD_TOP + BAR_HEIGHT) x2=(WIDTH - 8.0) y2=(PAD_TOP + BAR_HEIGHT) stroke=(MUTED) {}
            line x1=(PAD_LEFT) y1=(PAD_TOP) x2=(WIDTH - 8.0) y2=(PAD_TOP) stroke=(GRID) {}
            text x=(PAD_LEFT - 6.0) y=(PAD_TOP + 4.0) text-anchor="end" font-size="11" fill=(MUTED) { (fmt_num(max)) }
            text x=(PAD_LEFT - 6.0) y=(PAD_TOP + BAR_HEIGHT) text-anchor="end" font-size="11" fill=(MUTED) { "0" }
            @for (i, (name, v)) in points.iter().enumerate() {
                rect x=(format!("{:.1}", PAD_LEFT + i as f64 * step + (step - bar) / 2.0)) y=(format!("{:.1}", y(*v)))
                    width=(format!("{bar:.1}")) height=(format!("{:.1}", PAD_TOP + BAR_HEIGHT - y(*v))) fill=(BLUE) {
                    title { (name) ": " (fmt_num(*v)) }
                }
            }
            @for i in ticks {
                text x=(format!("{:.1}", PAD_LEFT + (i as f64 + 0.5) * step)) y=(height - 6.0) text-anchor="middle" font-size="11" fill=(MUTED) {
                    (points[i].0)
                }
            }
        }
    }
}

/// A line over `min..=max` (NPS: -100..100), broken where a day has no value, with a zero line.
pub fn line(label: &str, points: &[(String, Option<f64>)], min: f64, max: f64) -> Markup {
    let height = BAR_HEIGHT + PAD_TOP + PAD_BOTTOM;
    if points.iter().all(|(_, v)| v.is_none()) {
        return empty(label, height);
    }
    let plot = WIDTH - PAD_LEFT - 8.0;
    let step = plot / points.len() as f64;
    let x = |i: usize| PAD_LEFT + (i as f64 + 0.5) * step;
    let y = |v: f64| PAD_TOP + (max - v.clamp(min, max)) / (max - min) * BAR_HEIGHT;
    // Runs of consecutive days with a value become one polyline each.
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (i, (_, v)) in points.iter().enumerate() {
        match v {
            Some(v) => runs.last_mut().expect("one run").push((x(i), y(*v))),
            None if runs.last().is_some_and(|r| !r.is_empty()) => runs.push(Vec::new()),
            None => {}
        }
    }
    let path = |run: &Vec<(f64, f64)>| {
        run.iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    html! {
        svg class="chart" viewBox={"0 0 " (WIDTH) " " (height)} role="img" aria-label=(label) {
            line x1=(PAD_LEFT) y1=(y(0.0)) x2=(WIDTH - 8.0) y2=(y(0.0)) stroke=(MUTED) stroke-dasharray="4 3" {}
            text x=(PAD_LEFT - 6.0) y=(PAD_TOP + 4.0) text-anchor="end" font-size="11" fill=(MUTED) { (fmt_num(max)) }
            text x=(PAD_LEFT - 6.0) y=(y(0.0) + 4.0) text-anchor="end" font-size="11" fill=(MUTED) { "0" }
            text x=(PAD_LEFT - 6.0) y=(PAD_TOP + BAR_HEIGHT) text-anchor="end" font-size="11" fill=(MUTED) { (fmt_num(min)) }
            @for run in runs.iter().filter(|r| !r.is_empty()) {
                polyline points=(path(run)) fill="none" stroke=(BLUE) stroke-width="2" {}
            }
            @for (i, (name, v)) in points.iter().enumerate() {
                @if let Some(v) = v {
                    circle cx=(format!("{:.1}", x(i))) cy=(format!("{:.1}", y(*v))) r="3" fill=(BLUE) {
                        title { (name) ": " (fmt_num(*v)) }
                    }
                }
            }
            text x=(x(0)) y=(height - 6.0) text-anchor="start" font-size="11" fill=(MUTED) { (points[0].0) }
            text x=(x(points.len() - 1)) y=(height - 6.0) text-anchor="end" font-size="11" fill=(MUTED) { (points[points.len() - 1].0) }
        }
    }
}

/// Horizontal bar pairs (median and 90th percentile) per measure, in seconds.
pub fn median_p90(label: &str, rows: &[(&str, Option<f64>, Option<f64>)]) -> Markup {
    let row_h = 44.0;
    let height = rows.len() as f64 * row_h + 24.0;
    let max = rows
        .iter()
        .flat_map(|(_, m, p)| [*m, *p])
        .flatten()
        .fold(0.0_f64, f64::max);
    if max <= 0.0 && rows.iter().all(|(_, m, p)| m.is_none() && p.is_none()) {
        return empty(label, height.max(60.0));
    }
    let max = max.max(1.0);
    let left = 150.0;
    let plot = WIDTH - left - 90.0;
    html! {
        svg class="chart" viewBox={"0 0 " (WIDTH) " " (height)} role="img" aria-label=(label) {
            @for (i, (name, median, p90)) in rows.iter().enumerate() {
                @let top = 8.0 + i as f64 * row_h;
                text x="0" y=(top + 16.0) font-size="12" fill=(INK) { (name) }
                @for (j, (what, value, colour)) in [("median", median, BLUE), ("p90", p90, AMBER)].into_iter().enumerate() {
                    @let y = top + j as f64 * 16.0 + 4.0;
                    @match value {
                        Some(v) => {
                            rect x=(left) y=(y) height="12" width=(format!("{:.1}", (v / max * plot).max(1.0))) fill=(colour) {
                                title { (name) " " (what) ": " (duration(*v)) }
                            }
                            text x=(format!("{:.1}", left + (v / max * plot).max(1.0) + 6.0)) y=(y + 10.0) font-size="11" fill=(INK) { (what) " " (duration(*v)) }
                        }
                        None => {
                            text x=(left) y=(y + 10.0) font-size="11" fill=(MUTED) { (what) ": no data" }
                        }
                    }
                }
            }
        }
    }
}

/// Horizontal bars of rates (fractions 0..1), each labelled with its percentage.
pub fn rates(label: &str, rows: &[(&str, Option<f64>)]) -> Markup {
    let row_h = 24.0;
    let height = rows.len() as f64 * row_h + 8.0;
    let left = 170.0;
    let plot = WIDTH - left - 60.0;
    html! {
        svg class="chart" viewBox={"0 0 " (WIDTH) " " (height)} role="img" aria-label=(label) {
            @for (i, (name, rate)) in rows.iter().enumerate() {
                @let y = 4.0 + i as f64 * row_h;
                text x="0" y=(y + 12.0) font-size="12" fill=(INK) { (name) }
                rect x=(left) y=(y) width=(plot) height="14" fill=(GRID) {}
                @match rate {
                    Some(r) => {
                        rect x=(left) y=(y) width=(format!("{:.1}", r.clamp(0.0, 1.0) * plot)) height="14" fill=(BLUE) {
                            title { (name) ": " (percent(*r)) }
                        }
                        text x=(left + plot + 6.0) y=(y + 12.0) font-size="12" fill=(INK) { (percent(*r)) }
                    }
                    None => {
                        text x=(left + plot + 6.0) y=(y + 12.0) font-size="12" fill=(MUTED) { "n/a" }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_style(svg: &str) {
        assert!(!svg.contains("style"), "{svg}");
        assert!(!svg.contains("<script"), "{svg}");
    }

    #[test]
    fn empty_data_says_so() {
        for svg in [
            bars("Volume", &[]).into_string(),
            bars("Volume", &[("2026-11-01".into(), 0.0)]).into_string(),
            line("NPS", &[("2026-11-01".into(), None)], -100.0, 100.0).into_string(),
            median_p90("Latency", &[("First response", None, None)]).into_string(),
        ] {
            assert!(svg.contains("No data for this period"), "{svg}");
            no_style(&svg);
        }
    }

    #[test]
    fn bars_scale_to_the_largest_value_and_escape_labels() {
        let svg = bars(
            "Volume",
            &[("<b>".into(), 2.0), ("d2".into(), 4.0), ("d3".into(), 0.0)],
        )
        .into_string();
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("&lt;b&gt;: 2") && !svg.contains("<b>"));
        assert!(
            svg.contains("height=\"160.0\""),
            "the largest bar fills the plot: {svg}"
        );
        no_style(&svg);
    }

    #[test]
    fn lines_break_at_missing_days() {
        let pts = [
            ("a".into(), Some(10.0)),
            ("b".into(), Some(-20.0)),
            ("c".into(), None),
            ("d".into(), Some(50.0)),
        ];
        let svg = line("NPS", &pts, -100.0, 100.0).into_string();
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 3);
        no_style(&svg);
    }

    #[test]
    fn latency_and_rates_render_values_and_gaps() {
        let svg = median_p90(
            "Latency",
            &[("Alert", Some(30.0), Some(120.0)), ("Resolve", None, None)],
        )
        .into_string();
        assert!(svg.contains("median 30 s") && svg.contains("p90 2 min"));
        assert!(svg.contains("median: no data"));
        let svg = rates("Rates", &[("Closure", Some(0.5)), ("Reopen", None)]).into_string();
        assert!(svg.contains("50%") && svg.contains("n/a"));
        no_style(&svg);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(45.0), "45 s");
        assert_eq!(duration(720.0), "12 min");
        assert_eq!(duration(3.5 * 3600.0), "3.5 h");
        assert_eq!(duration(3.0 * 86400.0), "3.0 d");
    }
}
