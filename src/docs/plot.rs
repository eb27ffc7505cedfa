//! SVG plots of sweep results (plotters, no system fonts needed): the sweep's `plot:` metric against
//! its axis, one series per dataset (and per value of the `series` parameter), the bound drawn as a
//! dashed horizontal line.
use crate::sweep::SweepSpec;
use crate::sweep::run::Record;
use crate::{Error, Result};
use plotters::prelude::*;
use std::collections::BTreeMap;

/// The series palette shared by the sweep plots and the benchmark plots ([`crate::bench::plot`]).
pub(crate) const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Render the plot of a sweep, or `None` when the sweep has no `plot:` or no plottable points.
pub fn render(spec: &SweepSpec, recs: &[Record]) -> Result<Option<String>> {
    let Some(p) = &spec.plot else { return Ok(None) };
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in recs {
        let x = r.params.get(&p.x).and_then(|s| s.as_f64());
        let y = r.metrics.get(&p.y).copied();
        if let (Some(x), Some(y)) = (x, y) {
            let ok = x.is_finite() && y.is_finite() && (!p.logx || x > 0.0) && (!p.logy || y > 0.0);
            if ok {
                let mut name = r.dataset.clone();
                if let Some(sname) = &p.series {
                    if let Some(v) = r.params.get(sname).and_then(|s| s.as_f64()) {
                        name = format!("{name}, {sname}={v}");
                    }
                }
                series.entry(name).or_default().push((x, y));
            }
        }
    }
    if series.is_empty() {
        return Ok(None);
    }
    for v in series.values_mut() {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let all: Vec<(f64, f64)> = series.values().flatten().copied().collect();
    let (mut x0, mut x1) = (
        all.iter().map(|p| p.0).fold(f64::INFINITY, f64::min),
        all.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max),
    );
    let (mut y0, mut y1) = (
        all.iter().map(|p| p.1).fold(f64::INFINITY, f64::min),
        all.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max),
    );
    if let Some(b) = p.bound {
        if b.is_finite() && (!p.logy || b > 0.0) {
            y0 = y0.min(b);
            y1 = y1.max(b);
        }
    }
    let pad = |lo: f64, hi: f64, log: bool| {
        if log {
            (lo / 2.0, hi * 2.0)
        } else {
            let w = (hi - lo).abs().max(1e-12);
            (lo - 0.05 * w, hi + 0.05 * w)
        }
    };
    (x0, x1) = pad(x0, x1, p.logx);
    (y0, y1) = pad(y0, y1, p.logy);
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (720, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let caption = format!("{}: {} vs {}", spec.name, p.y, p.x);
        let mut builder = ChartBuilder::on(&root);
        builder.caption(caption, ("sans-serif", 16)).margin(12).x_label_area_size(36).y_label_area_size(64);
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart.configure_mesh().x_desc(p.x.as_str()).y_desc(p.y.as_str()).draw().map_err(plot_err)?;
                for (i, (name, pts)) in series.iter().enumerate() {
                    let c = COLORS[i % COLORS.len()];
                    chart
                        .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                        .map_err(plot_err)?
                        .label(name.clone())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
                    chart
                        .draw_series(pts.iter().map(|&(x, y)| Circle::new((x, y), 3, c.filled())))
                        .map_err(plot_err)?;
                }
                if let Some(b) = p.bound {
                    chart
                        .draw_series(DashedLineSeries::new(vec![(x0, b), (x1, b)], 6, 4, BLACK.stroke_width(1)))
                        .map_err(plot_err)?
                        .label(format!("bound = {b}"))
                        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK));
                }
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(plot_err)?;
            }};
        }
        match (p.logx, p.logy) {
            (true, true) => {
                draw!(builder.build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale()).map_err(plot_err)?)
            }
            (true, false) => draw!(builder.build_cartesian_2d((x0..x1).log_scale(), y0..y1).map_err(plot_err)?),
            (false, true) => draw!(builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale()).map_err(plot_err)?),
            (false, false) => draw!(builder.build_cartesian_2d(x0..x1, y0..y1).map_err(plot_err)?),
        }
        root.present().map_err(plot_err)?;
    }
    Ok(Some(buf))
}

fn plot_err<E: std::fmt::Debug>(e: E) -> Error {
    Error::invalid("plot", format!("{e:?}"))
}
