//! Log-log SVG plots of the benchmarks (plotters, no system fonts needed): one line with markers per
//! series, an optional highlighted front (black step line, hollow rings on its points).
use crate::{Error, Result};
use plotters::prelude::*;

use crate::docs::plot::COLORS;

/// One series: points (x, y) with x, y > 0, drawn in the given order.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub pts: Vec<(f64, f64)>,
    pub dashed: bool,
    /// Index into the palette (fixed per method, so that colours agree across plots).
    pub color: usize,
}

/// 0.1, 2, 1024, 1.5e5: axis numbers without float noise.
pub fn short_num(x: f64) -> String {
    if x == 0.0 || !(1e-3..1e6).contains(&x.abs()) {
        return format!("{x:.0e}");
    }
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn plot_err<E: std::fmt::Debug>(e: E) -> Error {
    Error::invalid("plot", format!("{e:?}"))
}

/// Render series on log-log axes; `front` (sorted by x) is drawn as a black staircase through its
/// points. Non-positive or non-finite points are dropped.
pub fn loglog_svg(
    title: &str,
    xdesc: &str,
    ydesc: &str,
    series: &[Series],
    front: Option<&[(f64, f64)]>,
    legend: SeriesLabelPosition,
) -> Result<String> {
    let good = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite() && p.0 > 0.0 && p.1 > 0.0;
    let series: Vec<Series> = series
        .iter()
        .map(|s| Series {
            name: s.name.clone(),
            pts: s.pts.iter().filter(good).copied().collect(),
            dashed: s.dashed,
            color: s.color,
        })
        .filter(|s| !s.pts.is_empty())
        .collect();
    let front: Vec<(f64, f64)> = front.unwrap_or(&[]).iter().filter(good).copied().collect();
    if series.is_empty() {
        return Err(Error::invalid("plot", "no positive finite point to plot"));
    }
    let all: Vec<(f64, f64)> = series.iter().flat_map(|s| s.pts.iter().copied()).collect();
    let (x0, x1) = all.iter().fold((f64::INFINITY, 0.0f64), |a, p| (a.0.min(p.0), a.1.max(p.0)));
    let (y0, y1) = all.iter().fold((f64::INFINITY, 0.0f64), |a, p| (a.0.min(p.1), a.1.max(p.1)));
    let (x0, x1, y0, y1) = (x0 / 1.5, x1 * 1.5, y0 / 3.0, y1 * 3.0);
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (760, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc(xdesc)
            .y_desc(ydesc)
            .x_labels(7)
            .y_labels(10)
            .x_label_formatter(&|x| short_num(*x))
            .y_label_formatter(&|y| format!("{y:.0e}"))
            .draw()
            .map_err(plot_err)?;
        for s in &series {
            let c = COLORS[s.color % COLORS.len()];
            let line = if s.dashed {
                chart
                    .draw_series(DashedLineSeries::new(s.pts.iter().copied(), 5, 4, c.stroke_width(2)))
                    .map_err(plot_err)?
            } else {
                chart.draw_series(LineSeries::new(s.pts.iter().copied(), c.stroke_width(2))).map_err(plot_err)?
            };
            line.label(s.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
            chart.draw_series(s.pts.iter().map(|&(x, y)| Circle::new((x, y), 3, c.filled()))).map_err(plot_err)?;
        }
        if !front.is_empty() {
            let mut stair = Vec::new();
            for (i, &(x, y)) in front.iter().enumerate() {
                if i > 0 {
                    stair.push((x, front[i - 1].1));
                }
                stair.push((x, y));
            }
            chart
                .draw_series(LineSeries::new(stair, BLACK.stroke_width(1)))
                .map_err(plot_err)?
                .label("Pareto front")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK));
            chart
                .draw_series(front.iter().map(|&(x, y)| Circle::new((x, y), 7, BLACK.stroke_width(2))))
                .map_err(plot_err)?;
        }
        chart
            .configure_series_labels()
            .position(legend)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(buf)
}
