//! SVG plots: latency by percentile on a log percentile axis (the picture
//! HdrHistogram's plotter draws: 90%, 99%, 99.9%, … equally spaced), and
//! throughput over time. `compare` draws several runs on the same axes.

use crate::report::{CommandReport, Report};
use plotters::prelude::*;

/// Highest "nines" shown on the percentile axis (99.99999%).
const MAX_NINES: f64 = 7.0;

/// One curve: a name and its report.
pub struct Series<'a> {
    pub name: String,
    pub report: &'a Report,
}

fn nines(percentile: f64) -> f64 {
    let rest = 1.0 - percentile / 100.0;
    if rest <= 0.0 {
        f64::INFINITY
    } else {
        (1.0 / rest).log10()
    }
}

fn percentile_label(nines: f64) -> String {
    let percentile = 100.0 * (1.0 - 10f64.powf(-nines));
    let decimals = (nines.round() as i64 - 2).max(0) as usize;
    format!("{percentile:.decimals$}%")
}

/// Points (nines, ms) of one distribution; the 100th percentile is drawn
/// at the right edge, as HdrHistogram's plotter does.
fn curve(command: &CommandReport, right_edge: f64) -> Vec<(f64, f64)> {
    command
        .percentiles
        .iter()
        .map(|p| (nines(p.percentile).min(right_edge), p.value_us / 1000.0))
        .collect()
}

/// Draws the plot for one or more runs into `path` (SVG).
pub fn draw(series: &[Series<'_>], path: &std::path::Path) -> Result<(), String> {
    draw_inner(series, path).map_err(|e| format!("cannot draw {}: {e}", path.display()))
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw_inner(series: &[Series<'_>], path: &std::path::Path) -> DrawResult {
    // Curves: with one run and several commands, one curve per command plus ALL.
    let mut curves: Vec<(String, &CommandReport)> = Vec::new();
    for s in series {
        if series.len() == 1 && s.report.commands.len() > 1 {
            for c in &s.report.commands {
                curves.push((c.name.clone(), c));
            }
        }
        let name = if series.len() == 1 { "ALL".to_string() } else { s.name.clone() };
        curves.push((name, &s.report.overall));
    }
    let finite_max = curves
        .iter()
        .flat_map(|(_, c)| c.percentiles.iter().map(|p| nines(p.percentile)))
        .filter(|x| x.is_finite())
        .fold(2.0f64, f64::max);
    let right_edge = finite_max.ceil().clamp(2.0, MAX_NINES);
    let max_ms = curves
        .iter()
        .flat_map(|(_, c)| c.percentiles.iter().map(|p| p.value_us / 1000.0))
        .fold(0.001f64, f64::max);
    let max_time_s = series
        .iter()
        .flat_map(|s| s.report.timeline.iter().map(|t| t.start_s + t.length_s))
        .fold(1.0f64, f64::max);
    let max_ops = series
        .iter()
        .flat_map(|s| s.report.timeline.iter().map(|t| t.ops_per_sec))
        .fold(1.0f64, f64::max);

    let root = SVGBackend::new(path, (1000, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let (upper, lower) = root.split_vertically(560);

    let title = match series {
        [one] => format!("Latency by percentile — {}", one.name),
        _ => "Latency by percentile".to_string(),
    };
    let mut chart = ChartBuilder::on(&upper)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..right_edge, 0f64..max_ms * 1.05)?;
    chart
        .configure_mesh()
        .x_labels(right_edge as usize + 1)
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| format!("{y:.3}"))
        .x_desc("Percentile (log scale of 1/(1-p))")
        .y_desc("Latency (ms)")
        .draw()?;
    for (i, (name, command)) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let style = ShapeStyle::from(&color).stroke_width(2);
        chart
            .draw_series(LineSeries::new(curve(command, right_edge), style))?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .draw()?;

    let mut throughput = ChartBuilder::on(&lower)
        .caption("Throughput over time", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..max_time_s, 0f64..max_ops * 1.1)?;
    throughput
        .configure_mesh()
        .x_desc("Time (s)")
        .y_desc("ops/s")
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let color =
            Palette99::pick(i + if series.len() == 1 { curves.len() - 1 } else { 0 }).to_rgba();
        let points: Vec<(f64, f64)> = s
            .report
            .timeline
            .iter()
            .map(|t| (t.start_s + t.length_s / 2.0, t.ops_per_sec))
            .collect();
        throughput
            .draw_series(LineSeries::new(points, ShapeStyle::from(&color).stroke_width(2)))?
            .label(s.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    throughput
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_axis_labels() {
        assert_eq!(percentile_label(0.0), "0%");
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(percentile_label(5.0), "99.999%");
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert!(nines(100.0).is_infinite());
        assert_eq!(nines(0.0), 0.0);
    }
}
