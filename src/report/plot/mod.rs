//! The report's plots, each an SVG document drawn with `plotters`' SVG backend alone: text is
//! SVG `<text>` (sized by plotters' naive estimate, rendered by the viewer), so no font file,
//! no system library and no script is involved. Every function takes plain figures — it does
//! not know snapshots or files — so a section added later (recall phases, the predictor) is
//! drawn by calling one of these with its numbers.

use crate::measure::histogram::percentile_rows;
use crate::measure::LatencySummary;
use anyhow::{anyhow, Result};
use hdrhistogram::Histogram;
use plotters::prelude::*;

const W: u32 = 860;
const H: u32 = 460;
const FONT: &str = "sans-serif";

/// One drawn plot: its file stem (`--format svg` writes `<name>.svg`), its title, the SVG.
#[derive(Debug, Clone)]
pub struct Plot {
    pub name: String,
    pub title: String,
    pub svg: String,
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("cannot draw the plot: {e:?}")
}

/// The legend every plot draws: boxed, on a translucent white background, at `pos`.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    pos: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(pos)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 13))
        .draw()
        .map_err(err)
}

fn color(i: usize) -> RGBColor {
    let c = Palette99::pick(i).to_rgba();
    RGBColor(c.0, c.1, c.2)
}

/// The label of x = log10(1/(1−p)) on a percentile spectrum: 0%, 90%, 99%, 99.9%, …
pub fn percentile_label(x: f64) -> String {
    if (x - x.round()).abs() > 1e-6 || x < -1e-6 {
        return String::new();
    }
    let k = x.round() as i32;
    if k == 0 {
        return "0%".into();
    }
    let decimals = (k - 2).max(0) as usize;
    format!("{:.*}%", decimals, 100.0 - 10f64.powi(2 - k))
}

/// One curve of a latency spectrum.
pub struct SpectrumSeries<'a> {
    pub name: String,
    pub histogram: &'a Histogram<u64>,
}

/// The latency percentile spectrum in HdrHistogram's style: x is 1/(1−p) on a log scale,
/// labelled 0%, 90%, 99%, 99.9%…; y is the latency in microseconds; one curve per series.
pub fn spectrum(name: &str, title: &str, series: &[SpectrumSeries<'_>]) -> Result<Plot> {
    let mut curves: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let mut xmax = 1.0f64;
    let mut ymax = 1.0f64;
    for s in series {
        let h = s.histogram;
        if h.is_empty() {
            continue;
        }
        // The last request's level is 1 − 1/n; 100% itself is at infinity.
        let cap = (h.len() as f64).log10().max(1.0);
        let pts: Vec<(f64, f64)> = percentile_rows(h, 5)
            .iter()
            .map(|r| {
                let rest = 1.0 - r.percentile / 100.0;
                let x = if rest <= 0.0 {
                    cap
                } else {
                    (1.0 / rest).log10().min(cap)
                };
                (x, r.value as f64 / 1e3)
            })
            .collect();
        xmax = xmax.max(cap.ceil());
        ymax = ymax.max(pts.iter().map(|p| p.1).fold(0.0, f64::max));
        curves.push((s.name.clone(), pts));
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 20))
            .margin(12)
            .margin_right(40)
            .x_label_area_size(42)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..xmax, 0f64..ymax * 1.05)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(xmax as usize + 1)
            .x_label_formatter(&|x| percentile_label(*x))
            .x_desc("percentile")
            .y_desc("latency (µs)")
            .draw()
            .map_err(err)?;
        for (i, (label, pts)) in curves.iter().enumerate() {
            let c = color(i);
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                .map_err(err)?
                .label(label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
        }
        if !curves.is_empty() {
            draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        }
        root.present().map_err(err)?;
    }
    Ok(Plot {
        name: name.into(),
        title: title.into(),
        svg,
    })
}

/// One group of bars per name, one bar per series in each group (values in `unit`).
pub fn grouped_bars(
    name: &str,
    title: &str,
    y_desc: &str,
    groups: &[String],
    series: &[(&str, Vec<f64>)],
) -> Result<Plot> {
    let n = groups.len().max(1) as f64;
    let k = series.len().max(1) as f64;
    let ymax = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0, f64::max)
        .max(1e-9);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..n, 0f64..ymax * 1.15)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .x_desc("setting (numbered as in the table)")
            .y_desc(y_desc)
            .draw()
            .map_err(err)?;
        for (j, (label, values)) in series.iter().enumerate() {
            let c = color(j);
            let w = 0.8 / k;
            chart
                .draw_series(values.iter().enumerate().map(|(i, &v)| {
                    let x0 = i as f64 + 0.1 + j as f64 * w;
                    Rectangle::new([(x0, 0.0), (x0 + w * 0.9, v)], c.filled())
                }))
                .map_err(err)?
                .label(*label)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        }
        chart
            .draw_series(groups.iter().enumerate().map(|(i, g)| {
                Text::new(
                    g.clone(),
                    (i as f64 + 0.1, ymax * 1.1),
                    (FONT, 13).into_font(),
                )
            }))
            .map_err(err)?;
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        root.present().map_err(err)?;
    }
    Ok(Plot {
        name: name.into(),
        title: title.into(),
        svg,
    })
}

/// A named horizontal line on a time series (a verdict's threshold).
pub struct Threshold {
    pub label: String,
    pub value: f64,
    /// Where it applies on the x axis (a leak limit covers the second half only).
    pub from_x: Option<f64>,
}

/// Lines over x (e.g. seconds into a soak), optionally on a log y axis, with thresholds drawn
/// dashed.
pub fn time_series(
    name: &str,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    lines: &[(&str, Vec<(f64, f64)>)],
    thresholds: &[Threshold],
    log_y: bool,
) -> Result<Plot> {
    let xs = lines.iter().flat_map(|(_, p)| p.iter().map(|q| q.0));
    let xmax = xs.fold(0.0, f64::max).max(1e-9);
    let ys = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .chain(thresholds.iter().map(|t| t.value));
    let ymax = ys.clone().fold(0.0, f64::max).max(1e-9) * 1.1;
    let ymin_pos = ys.filter(|y| *y > 0.0).fold(f64::INFINITY, f64::min);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(title, (FONT, 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(70);
        if log_y {
            let lo = if ymin_pos.is_finite() {
                ymin_pos / 1.5
            } else {
                ymax / 10.0
            };
            let mut chart = builder
                .build_cartesian_2d(0f64..xmax, (lo..ymax).log_scale())
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .draw()
                .map_err(err)?;
            draw_lines(&mut chart, lines, thresholds, xmax)?;
        } else {
            let mut chart = builder
                .build_cartesian_2d(0f64..xmax, 0f64..ymax)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .draw()
                .map_err(err)?;
            draw_lines(&mut chart, lines, thresholds, xmax)?;
        }
        root.present().map_err(err)?;
    }
    Ok(Plot {
        name: name.into(),
        title: title.into(),
        svg,
    })
}

fn draw_lines<'a, DB, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    lines: &[(&str, Vec<(f64, f64)>)],
    thresholds: &[Threshold],
    xmax: f64,
) -> Result<()>
where
    DB: DrawingBackend + 'a,
    Y: Ranged<ValueType = f64>,
{
    for (i, (label, pts)) in lines.iter().enumerate() {
        let c = color(i);
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
            .map_err(err)?
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    for (j, t) in thresholds.iter().enumerate() {
        let c = color(lines.len() + j);
        let x0 = t.from_x.unwrap_or(0.0);
        // Dashed by hand: plotters' own dashed series needs a feature this build leaves out.
        let steps = 60;
        let segs: Vec<PathElement<(f64, f64)>> = (0..steps)
            .filter(|s| s % 2 == 0)
            .map(|s| {
                let a = x0 + (xmax - x0) * s as f64 / steps as f64;
                let b = x0 + (xmax - x0) * (s + 1) as f64 / steps as f64;
                PathElement::new(vec![(a, t.value), (b, t.value)], c.stroke_width(2))
            })
            .collect();
        chart
            .draw_series(segs)
            .map_err(err)?
            .label(t.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 8, y)], c.stroke_width(2)));
    }
    draw_legend(chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}

/// One row of a diff plot: a metric's ratio new/base with its interval and verdict.
pub struct RatioRow {
    pub metric: String,
    pub ratio: f64,
    pub low: f64,
    pub high: f64,
    pub verdict: String,
}

/// Each metric's ratio with its interval as an error bar, the noise band drawn around 1.
pub fn ratios(name: &str, title: &str, rows: &[RatioRow], noise: f64) -> Result<Plot> {
    let finite = |v: f64| v.is_finite().then_some(v);
    let hi = rows
        .iter()
        .filter_map(|r| finite(r.high).or(finite(r.ratio)))
        .fold(1.0 + noise, f64::max)
        * 1.05;
    let lo = rows
        .iter()
        .filter_map(|r| finite(r.low).or(finite(r.ratio)))
        .fold(1.0 - noise, f64::min)
        * 0.95;
    let n = rows.len().max(1) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..n, lo..hi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .x_desc("metric")
            .y_desc("ratio new / base")
            .draw()
            .map_err(err)?;
        let band = RGBColor(200, 200, 200);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, 1.0 - noise), (n, 1.0 + noise)],
                band.mix(0.4).filled(),
            )))
            .map_err(err)?
            .label(format!("noise band ±{:.1}%", noise * 100.0))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], band.filled()));
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, 1.0), (n, 1.0)],
                BLACK.stroke_width(1),
            )))
            .map_err(err)?;
        for (i, r) in rows.iter().enumerate() {
            let x = i as f64 + 0.5;
            let c = match r.verdict.as_str() {
                "REGRESSION" => RED,
                "improvement" => GREEN,
                _ => BLUE,
            };
            if r.low.is_finite() && r.high.is_finite() {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x, r.low), (x, r.high)],
                        c.stroke_width(3),
                    )))
                    .map_err(err)?;
            }
            if r.ratio.is_finite() {
                chart
                    .draw_series(std::iter::once(Circle::new((x, r.ratio), 5, c.filled())))
                    .map_err(err)?;
            }
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{} {:.3} ({})", r.metric, r.ratio, r.verdict),
                    (i as f64 + 0.08, hi - (hi - lo) * 0.06),
                    (FONT, 13).into_font(),
                )))
                .map_err(err)?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        root.present().map_err(err)?;
    }
    Ok(Plot {
        name: name.into(),
        title: title.into(),
        svg,
    })
}

/// The recall phases (seed, spread, rank…): each phase's p50, p99 and max, in microseconds.
pub fn recall_phases(phases: &[(String, LatencySummary)]) -> Result<Plot> {
    let names: Vec<String> = phases.iter().map(|(n, _)| n.clone()).collect();
    let us = |f: fn(&LatencySummary) -> u64| -> Vec<f64> {
        phases.iter().map(|(_, s)| f(s) as f64 / 1e3).collect()
    };
    grouped_bars(
        "recall-phases",
        "Recall phases: latency by phase",
        "latency (µs)",
        &names,
        &[
            ("p50", us(|s| s.p50)),
            ("p99", us(|s| s.p99)),
            ("max", us(|s| s.max)),
        ],
    )
}

/// Points a predictor scatter draws at most: past that, an evenly spaced sample (every k-th
/// pair), so a large `predict` run gives a page a browser still opens quickly.
pub const MAX_SCATTER_POINTS: usize = 5000;

/// The latency predictor's (predicted, observed) pairs of one kind (`subject`: requests,
/// hops): predicted against observed (µs, with the line of perfect prediction), and the
/// distribution of relative errors |predicted − observed| / observed over every pair. The
/// plots are `<name>-scatter` and `<name>-errors`.
pub fn predictor(name: &str, subject: &str, pairs: &[(f64, f64)]) -> Result<Vec<Plot>> {
    let stride = pairs.len().div_ceil(MAX_SCATTER_POINTS).max(1);
    let scatter_title = if stride > 1 {
        format!(
            "Predictor ({subject}): predicted against observed ({} of {} drawn)",
            pairs.len().div_ceil(stride),
            pairs.len()
        )
    } else {
        format!("Predictor ({subject}): predicted against observed")
    };
    let top = pairs
        .iter()
        .flat_map(|&(p, o)| [p, o])
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.05;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(scatter_title.as_str(), (FONT, 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..top, 0f64..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("observed (µs)")
            .y_desc("predicted (µs)")
            .draw()
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, 0.0), (top, top)],
                BLACK.stroke_width(1),
            )))
            .map_err(err)?;
        chart
            .draw_series(
                pairs
                    .iter()
                    .step_by(stride)
                    .filter(|(p, o)| p.is_finite() && o.is_finite())
                    .map(|&(p, o)| Circle::new((o, p), 2, BLUE.mix(0.5).filled())),
            )
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    let scatter = Plot {
        name: format!("{name}-scatter"),
        title: scatter_title,
        svg,
    };
    // Relative errors in bins of 5%, the last holding everything from 100% up.
    let bins = 21;
    let mut counts = vec![0.0f64; bins];
    for &(p, o) in pairs {
        if o > 0.0 && p.is_finite() {
            let e = (p - o).abs() / o;
            counts[((e / 0.05) as usize).min(bins - 1)] += 1.0;
        }
    }
    let labels: Vec<String> = (0..bins)
        .map(|i| {
            if i % 4 == 0 {
                format!("{}%", i * 5)
            } else {
                String::new()
            }
        })
        .collect();
    let mut errors = grouped_bars(
        &format!("{name}-errors"),
        &format!("Predictor ({subject}): relative error distribution"),
        "predictions",
        &labels,
        &[("|predicted − observed| / observed, 5% bins", counts)],
    )?;
    // The groups here are error bins, not settings.
    errors.svg = errors
        .svg
        .replace("setting (numbered as in the table)", "relative error");
    Ok(vec![scatter, errors])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml_ok(p: &Plot) {
        let doc = roxmltree::Document::parse(&p.svg)
            .unwrap_or_else(|e| panic!("{} is not XML: {e}", p.name));
        let texts: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text().map(|t| t.trim().to_string()))
            .collect();
        assert!(texts.iter().any(|t| t == &p.title), "{}: {texts:?}", p.name);
    }

    fn summary(p50: u64, p99: u64, max: u64) -> LatencySummary {
        LatencySummary {
            min: 1,
            p50,
            p90: p99,
            p95: p99,
            p99,
            p999: max,
            max,
            mean: p50 as f64,
            stdev: 0.0,
            count: 100,
            hdr: String::new(),
        }
    }

    #[test]
    fn percentile_labels_are_hdrhistogram_style() {
        let l: Vec<String> = (0..5).map(|k| percentile_label(k as f64)).collect();
        assert_eq!(l, ["0%", "90%", "99%", "99.9%", "99.99%"]);
        assert_eq!(percentile_label(1.5), "");
    }

    #[test]
    fn recall_phases_draw_from_plain_summaries() {
        let p = recall_phases(&[
            ("seed".into(), summary(20_000, 40_000, 90_000)),
            ("spread".into(), summary(45_000, 200_000, 900_000)),
            ("rank".into(), summary(3_000, 6_000, 10_000)),
        ])
        .unwrap();
        xml_ok(&p);
        for label in ["seed", "spread", "rank", "latency (µs)", "p99"] {
            assert!(p.svg.contains(label), "{label} missing");
        }
    }

    #[test]
    fn predictor_draws_a_scatter_and_an_error_distribution() {
        // Synthetic: predictions 10% high for half the requests, exact for the rest.
        let pairs: Vec<(f64, f64)> = (1..=200)
            .map(|i| {
                let o = 10.0 + i as f64;
                (if i % 2 == 0 { o * 1.1 } else { o }, o)
            })
            .collect();
        let plots = predictor("predictor-requests", "requests", &pairs).unwrap();
        assert_eq!(plots.len(), 2);
        for p in &plots {
            xml_ok(p);
        }
        assert_eq!(plots[0].name, "predictor-requests-scatter");
        assert_eq!(plots[1].name, "predictor-requests-errors");
        assert!(plots[0].svg.contains("observed (µs)"));
        assert!(plots[1].svg.contains("relative error"));
        assert_eq!(plots[0].svg.matches("<circle").count(), 200);
    }

    /// 12,001 pairs: every 3rd is drawn (4,001 points), and the title says so; the error
    /// bars still count all of them (12,001 predictions, all exact: one bar).
    #[test]
    fn a_large_predictor_scatter_draws_an_even_sample() {
        let pairs: Vec<(f64, f64)> = (1..=12_001).map(|i| (i as f64, i as f64)).collect();
        let plots = predictor("p", "hops", &pairs).unwrap();
        xml_ok(&plots[0]);
        assert_eq!(plots[0].svg.matches("<circle").count(), 4001);
        assert!(
            plots[0].title.ends_with("(4001 of 12001 drawn)"),
            "{}",
            plots[0].title
        );
        xml_ok(&plots[1]);
    }
}
