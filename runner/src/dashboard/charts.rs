//! The dashboard's charts, as inline SVG the browser lays out (its text
//! included, so no font travels with the runner). Each chart has a title and
//! a description for screen readers, and each point or bar a tooltip with
//! its numbers.

use catalog::internal_api::{CostDay, ModuleDay};
use chrono::{Days, NaiveDate};
use maud::{Markup, html};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 26.0;

/// Distinguishable on white and for the common colour-vision deficiencies
/// (Okabe–Ito).
const PALETTE: [&str; 8] = [
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000", "#f0e442",
];

/// The days of the window, oldest first, ending `today`.
fn window(today: NaiveDate, days: u32) -> Vec<NaiveDate> {
    (0..days)
        .rev()
        .filter_map(|back| today.checked_sub_days(Days::new(u64::from(back))))
        .collect()
}

/// The x of day `index` of `count` days.
fn x_of(index: usize, count: usize) -> f64 {
    let span = WIDTH - LEFT - RIGHT;
    if count <= 1 {
        return LEFT + span / 2.0;
    }
    LEFT + span * index as f64 / (count - 1) as f64
}

/// The y of `value` on a scale from `low` to `high`.
fn y_of(value: f64, low: f64, high: f64) -> f64 {
    let span = HEIGHT - TOP - BOTTOM;
    let share = if high > low {
        (value - low) / (high - low)
    } else {
        0.0
    };
    HEIGHT - BOTTOM - span * share.clamp(0.0, 1.0)
}

/// The first label starts at its point and the last ends at it, so
/// neither runs off the chart.
fn anchor(index: usize, count: usize) -> &'static str {
    match index {
        0 if count > 1 => "start",
        last if last + 1 == count && count > 1 => "end",
        _ => "middle",
    }
}

/// The first, middle and last day under the x axis.
fn day_labels(days: &[NaiveDate]) -> Markup {
    let count = days.len();
    let mut shown: Vec<usize> = vec![0, count / 2, count.saturating_sub(1)];
    shown.dedup();
    html! {
        @for index in shown {
            @if let Some(day) = days.get(index) {
                text x=(x_of(index, count)) y=(HEIGHT - 8.0) text-anchor=(anchor(index, count)) class="axis" {
                    (day.format("%m-%d"))
                }
            }
        }
    }
}

/// Mean rating per module and day: one line per module.
pub fn ratings(points: &[ModuleDay], today: NaiveDate, days: u32) -> Markup {
    if points.is_empty() {
        return html! { p { "No ratings in this window." } };
    }
    let window = window(today, days);
    let mut modules: Vec<&str> = points.iter().map(|p| p.module.as_str()).collect();
    modules.sort_unstable();
    modules.dedup();
    let description = format!(
        "{} modules rated over {} days, from {} to {}",
        modules.len(),
        days,
        window.first().copied().unwrap_or(today),
        today
    );
    html! {
        svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-labelledby="ratings-title ratings-desc" class="chart" {
            title #ratings-title { "Mean rating per module and day" }
            desc #ratings-desc { (description) }
            @for rating in 1..=5 {
                @let y = y_of(f64::from(rating), 1.0, 5.0);
                line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y) y2=(y) class="grid" {}
                text x=(LEFT - 8.0) y=(y + 4.0) text-anchor="end" class="axis" { (rating) }
            }
            (day_labels(&window))
            @for (index, module) in modules.iter().enumerate() {
                @let colour = PALETTE[index % PALETTE.len()];
                @let line: Vec<(f64, f64, &ModuleDay)> = points.iter()
                    .filter(|p| p.module == *module)
                    .filter_map(|p| window.iter().position(|day| *day == p.day).map(|at| (x_of(at, window.len()), y_of(p.mean, 1.0, 5.0), p)))
                    .collect();
                g data-module=(module) {
                    polyline fill="none" stroke=(colour) stroke-width="2"
                        points=(line.iter().map(|(x, y, _)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ")) {}
                    @for (x, y, point) in &line {
                        circle cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="4" fill=(colour) {
                            title { (module) ", " (point.day) ": " (format!("{:.2}", point.mean)) " (" (point.ratings) " ratings)" }
                        }
                    }
                }
            }
        }
        ul.legend aria-label="Modules" {
            @for (index, module) in modules.iter().enumerate() {
                li {
                    svg width="12" height="12" aria-hidden="true" { rect width="12" height="12" fill=(PALETTE[index % PALETTE.len()]) {} }
                    " " (module)
                }
            }
        }
    }
}

/// What each day's ticks cost: one bar per day.
pub fn costs(days_spent: &[CostDay], today: NaiveDate, days: u32) -> Markup {
    if days_spent.is_empty() {
        return html! { p { "No ticks in this window." } };
    }
    let window = window(today, days);
    let highest = days_spent
        .iter()
        .map(|day| day.cost_usd)
        .fold(0.0_f64, f64::max);
    let top = if highest > 0.0 { highest } else { 1.0 };
    let total: f64 = days_spent.iter().map(|day| day.cost_usd).sum();
    let ticks: u64 = days_spent.iter().map(|day| day.ticks).sum();
    let slot = (WIDTH - LEFT - RIGHT) / window.len().max(1) as f64;
    html! {
        svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-labelledby="costs-title costs-desc" class="chart" {
            title #costs-title { "Cost per day" }
            desc #costs-desc { (format!("${total:.4} over {ticks} ticks in {days} days")) }
            line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y_of(0.0, 0.0, top)) y2=(y_of(0.0, 0.0, top)) class="grid" {}
            line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y_of(top, 0.0, top)) y2=(y_of(top, 0.0, top)) class="grid" {}
            text x=(LEFT - 6.0) y=(y_of(top, 0.0, top) + 4.0) text-anchor="end" class="axis" { (format!("${top:.2}")) }
            text x=(LEFT - 6.0) y=(y_of(0.0, 0.0, top) + 4.0) text-anchor="end" class="axis" { "$0" }
            @for (index, day) in window.iter().enumerate() {
                @if let Some(spent) = days_spent.iter().find(|spent| spent.day == *day) {
                    @let y = y_of(spent.cost_usd, 0.0, top);
                    rect x=(format!("{:.1}", LEFT + slot * index as f64 + slot * 0.15)) y=(format!("{y:.1}"))
                        width=(format!("{:.1}", slot * 0.7)) height=(format!("{:.1}", (HEIGHT - BOTTOM - y).max(1.0)))
                        class="bar" {
                        title { (day) ": " (format!("${:.4}", spent.cost_usd)) ", " (spent.ticks) " ticks (" (spent.not_ok) " not ok), " (spent.tokens) " tokens" }
                    }
                }
            }
            (day_labels_under_bars(&window, slot))
        }
    }
}

/// Day labels centred under the bars' slots.
fn day_labels_under_bars(days: &[NaiveDate], slot: f64) -> Markup {
    let count = days.len();
    let mut shown: Vec<usize> = vec![0, count / 2, count.saturating_sub(1)];
    shown.dedup();
    html! {
        @for index in shown {
            @if let Some(day) = days.get(index) {
                text x=(format!("{:.1}", LEFT + slot * (index as f64 + 0.5))) y=(HEIGHT - 8.0) text-anchor=(anchor(index, count)) class="axis" {
                    (day.format("%m-%d"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn the_window_ends_today_oldest_first() {
        let days = window(day("2026-12-01"), 3);
        assert_eq!(
            days,
            vec![day("2026-11-29"), day("2026-11-30"), day("2026-12-01")]
        );
    }

    #[test]
    fn a_rating_of_five_is_at_the_top_and_one_at_the_bottom() {
        assert_eq!(y_of(5.0, 1.0, 5.0), TOP);
        assert_eq!(y_of(1.0, 1.0, 5.0), HEIGHT - BOTTOM);
        // Out of scale values stay inside the chart.
        assert_eq!(y_of(9.0, 1.0, 5.0), TOP);
    }

    #[test]
    fn each_module_gets_a_line_and_a_point_per_rated_day() {
        let points = vec![
            ModuleDay {
                module: "todo".into(),
                day: day("2026-11-30"),
                mean: 4.0,
                ratings: 2,
            },
            ModuleDay {
                module: "todo".into(),
                day: day("2026-12-01"),
                mean: 2.5,
                ratings: 2,
            },
            ModuleDay {
                module: "<mood>".into(),
                day: day("2026-12-01"),
                mean: 3.0,
                ratings: 1,
            },
        ];
        let svg = ratings(&points, day("2026-12-01"), 7).into_string();
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("todo, 2026-12-01: 2.50 (2 ratings)"));
        // A module's name is text, never markup.
        assert!(svg.contains("&lt;mood&gt;") && !svg.contains("<mood>"));
    }
}
