//! SVG plots drawn in Rust with plotters' SVG backend, embedded inline in `report.html`.
//!
//! Text is emitted as SVG `<text>` with a generic `sans-serif` family and sized by plotters'
//! built-in estimate, so drawing needs no system fonts and works headless; the browser renders it.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use crate::error::{ReportError, Result};
use crate::input::TimePoint;

const SIZE: (u32, u32) = (860, 300);
const FONT: &str = "sans-serif";
const P50: RGBColor = RGBColor(46, 125, 50);
const P95: RGBColor = RGBColor(239, 108, 0);
const P99: RGBColor = RGBColor(198, 40, 40);
const REQS: RGBColor = RGBColor(21, 101, 192);
const ERRS: RGBColor = RGBColor(198, 40, 40);
const VUS: RGBColor = RGBColor(94, 53, 177);

/// Picks one latency series out of a point.
type Pick = fn(&TimePoint) -> Option<f64>;

fn plot_err(plot: &'static str) -> impl Fn(String) -> ReportError {
    move |message| ReportError::Plot { plot, message }
}

fn upper(values: impl Iterator<Item = f64>) -> f64 {
    let max = values.fold(0.0_f64, f64::max);
    if max <= 0.0 { 1.0 } else { max * 1.1 }
}

/// Axis tick text without needless decimals: `20`, `2.5`, `1200`.
fn tick(v: &f64) -> String {
    let text = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

fn t_range(points: &[TimePoint]) -> std::ops::Range<f64> {
    let last = points.iter().map(|p| p.t).fold(0.0, f64::max);
    0.0..last.max(1.0)
}

/// Latency p50/p95/p99 (ms) per second. `None` when there is no data.
pub fn latency_over_time(points: &[TimePoint]) -> Result<Option<String>> {
    if points.iter().all(|p| p.p99.or(p.p95).or(p.p50).is_none()) {
        return Ok(None);
    }
    let err = plot_err("latency over time");
    let y = upper(points.iter().filter_map(|p| p.p99.or(p.p95).or(p.p50)));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Latency per second (client side)", (FONT, 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(t_range(points), 0.0..y)
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("seconds since start")
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .y_desc("ms")
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(|e| err(e.to_string()))?;
        let series: [(&str, RGBColor, Pick); 3] = [
            ("p50", P50, |p| p.p50),
            ("p95", P95, |p| p.p95),
            ("p99", P99, |p| p.p99),
        ];
        for (label, color, pick) in series {
            let data: Vec<(f64, f64)> = points
                .iter()
                .filter_map(|p| pick(p).map(|v| (p.t, v)))
                .collect();
            chart
                .draw_series(LineSeries::new(data, color.stroke_width(2)))
                .map_err(|e| err(e.to_string()))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(Some(svg))
}

/// Requests and errors per second.
pub fn throughput_over_time(points: &[TimePoint]) -> Result<Option<String>> {
    if points.is_empty() {
        return Ok(None);
    }
    let err = plot_err("throughput and errors");
    let y = upper(points.iter().map(|p| p.requests.max(p.errors)));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Throughput and errors per second", (FONT, 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(t_range(points), 0.0..y)
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("seconds since start")
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .y_desc("per second")
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(|e| err(e.to_string()))?;
        chart
            .draw_series(AreaSeries::new(
                points.iter().map(|p| (p.t, p.requests)),
                0.0,
                REQS.mix(0.15),
            ))
            .map_err(|e| err(e.to_string()))?;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.t, p.requests)),
                REQS.stroke_width(2),
            ))
            .map_err(|e| err(e.to_string()))?
            .label("requests/s")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], REQS.stroke_width(3)));
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.t, p.errors)),
                ERRS.stroke_width(2),
            ))
            .map_err(|e| err(e.to_string()))?
            .label("errors/s")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], ERRS.stroke_width(3)));
        chart
            .configure_series_labels()
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(Some(svg))
}

/// Active VUs per second.
pub fn vus_over_time(points: &[TimePoint]) -> Result<Option<String>> {
    if points.is_empty() {
        return Ok(None);
    }
    let err = plot_err("virtual users");
    let y = upper(points.iter().map(|p| p.vus));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0, 220)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Virtual users", (FONT, 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(t_range(points), 0.0..y)
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("seconds since start")
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .y_desc("VUs")
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(|e| err(e.to_string()))?;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.t, p.vus)),
                VUS.stroke_width(2),
            ))
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(Some(svg))
}

/// A labelled bar chart (status codes, histogram buckets). `None` when every count is zero.
pub fn bars(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    data: &[(String, f64)],
    color: RGBColor,
) -> Result<Option<String>> {
    if data.is_empty() || data.iter().all(|(_, v)| *v <= 0.0) {
        return Ok(None);
    }
    let err = plot_err("bar chart");
    let y = upper(data.iter().map(|(_, v)| *v));
    let labels: Vec<String> = data.iter().map(|(l, _)| l.clone()).collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let n = data.len() as u32;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d((0..n).into_segmented(), 0.0..y)
            .map_err(|e| err(e.to_string()))?;
        let formatter = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                labels.get(*i as usize).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(data.len())
            .x_label_formatter(&formatter)
            .x_desc(x_desc)
            .y_desc(y_desc)
            .y_label_formatter(&tick)
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(|e| err(e.to_string()))?;
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(color.filled())
                    .margin(4)
                    .data(data.iter().enumerate().map(|(i, (_, v))| (i as u32, *v))),
            )
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(Some(svg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points() -> Vec<TimePoint> {
        (0..10)
            .map(|t| TimePoint {
                t: f64::from(t),
                vus: 10.0,
                requests: 50.0,
                errors: f64::from(t % 3),
                p50: Some(20.0),
                p95: Some(80.0),
                p99: (t != 4).then_some(120.0),
            })
            .collect()
    }

    #[test]
    fn plots_are_svg_with_text_and_no_external_refs() {
        let svg = latency_over_time(&points()).unwrap().unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<text") && svg.contains("p95"));
        assert!(!svg.contains("http://") || svg.contains("http://www.w3.org/2000/svg"));
        assert!(throughput_over_time(&points()).unwrap().is_some());
        assert!(vus_over_time(&points()).unwrap().is_some());
        let bars = bars(
            "Status codes",
            "status",
            "requests",
            &[("202".into(), 480.0), ("500".into(), 3.0)],
            REQS,
        )
        .unwrap()
        .unwrap();
        assert!(bars.contains("202"), "{bars}");
    }

    #[test]
    fn empty_data_draws_nothing() {
        assert!(latency_over_time(&[]).unwrap().is_none());
        assert!(bars("x", "x", "y", &[], REQS).unwrap().is_none());
    }
}
