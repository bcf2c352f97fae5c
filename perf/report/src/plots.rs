//! SVG plots (plotters' SVG backend writes text as <text>, no fonts needed):
//! throughput by message size, request/reply latency percentiles, RSS per
//! idle connection. Each shows both servers from the pinned runs.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::model::Run;
use crate::stats::{median, NATS, RINGNATS};

const NATS_TCP: RGBColor = RGBColor(31, 119, 180);
const NATS_WS: RGBColor = RGBColor(108, 174, 214);
const RING_TCP: RGBColor = RGBColor(214, 39, 40);
const RING_WS: RGBColor = RGBColor(255, 127, 14);

fn color(server: &str, transport: &str) -> RGBColor {
    match (server, transport) {
        (NATS, "tcp") => NATS_TCP,
        (NATS, _) => NATS_WS,
        (_, "tcp") => RING_TCP,
        _ => RING_WS,
    }
}

/// The median over rounds of one figure of one server's pinned runs of one
/// matrix_id.
pub fn median_of(
    runs: &[Run],
    id: &str,
    server: &str,
    f: impl Fn(&Run) -> Option<f64>,
) -> Option<f64> {
    let v: Vec<f64> = runs
        .iter()
        .filter(|r| r.matrix_id == id && r.server == server && r.pinned && r.error.is_none())
        .filter_map(f)
        .collect();
    median(&v)
}

/// One line of a plot: its legend and its points.
pub struct Series {
    pub name: String,
    pub server: &'static str,
    pub transport: &'static str,
    pub points: Vec<(f64, f64)>,
}

const SIZES: [u64; 4] = [16, 128, 1024, 16384];
const SERVERS: [&str; 2] = [NATS, RINGNATS];
const TRANSPORTS: [&str; 2] = ["tcp", "ws"];

/// Throughput of 1→1 pubsub by size: (msgs/s series, bytes/s series);
/// x is the index into SIZES.
pub fn throughput_series(runs: &[Run]) -> (Vec<Series>, Vec<Series>) {
    let mut msgs = Vec::new();
    let mut bytes = Vec::new();
    for t in TRANSPORTS {
        for s in SERVERS {
            let name = format!("{s} {}", t.to_uppercase());
            let mut m = Vec::new();
            let mut b = Vec::new();
            for (i, size) in SIZES.iter().enumerate() {
                let id = format!("{t}-pubsub-{size}");
                if let Some(v) = median_of(runs, &id, s, |r| r.msgs_per_sec) {
                    m.push((i as f64, v));
                }
                if let Some(v) = median_of(runs, &id, s, |r| r.bytes_per_sec) {
                    b.push((i as f64, v));
                }
            }
            for (list, points) in [(&mut msgs, m), (&mut bytes, b)] {
                if !points.is_empty() {
                    list.push(Series {
                        name: name.clone(),
                        server: s,
                        transport: t,
                        points,
                    });
                }
            }
        }
    }
    (msgs, bytes)
}

pub const PERCENTILES: [&str; 4] = ["p50", "p90", "p99", "p99.9"];

/// Request/reply latency percentiles (x = index into PERCENTILES).
pub fn latency_series(runs: &[Run]) -> Vec<Series> {
    let mut out = Vec::new();
    for t in TRANSPORTS {
        for s in SERVERS {
            let id = format!("{t}-reqrep-10k");
            let pick: [fn(&crate::model::Latency) -> f64; 4] =
                [|l| l.p50, |l| l.p90, |l| l.p99, |l| l.p999];
            let points: Vec<(f64, f64)> = pick
                .iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    median_of(runs, &id, s, |r| r.latency_us.as_ref().map(p)).map(|v| (i as f64, v))
                })
                .collect();
            if !points.is_empty() {
                out.push(Series {
                    name: format!("{s} {}", t.to_uppercase()),
                    server: s,
                    transport: t,
                    points,
                });
            }
        }
    }
    out
}

/// RSS per idle connection: (label, server, transport, bytes) bars.
pub fn rss_bars(runs: &[Run]) -> Vec<(String, &'static str, &'static str, f64)> {
    let mut out = Vec::new();
    for t in TRANSPORTS {
        for s in SERVERS {
            let id = format!("{t}-conns-idle");
            if let Some(v) = median_of(runs, &id, s, |r| r.rss_per_conn_bytes) {
                out.push((format!("{} {s}", t.to_uppercase()), s, t, v));
            }
        }
    }
    out
}

fn log_bounds(series: &[Series]) -> (f64, f64) {
    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (lo, hi) = ys.fold((f64::MAX, 0.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    // Whole decades, so that the axis has labels at both ends.
    let lo = 10f64.powf(lo.max(1e-3).log10().floor());
    let hi = 10f64.powf(hi.max(1.0).log10().ceil());
    (lo, if hi > lo { hi } else { lo * 10.0 })
}

type PlotResult = Result<(), Box<dyn std::error::Error>>;

/// Labels whole x values 0..names.len() with names, nothing elsewhere.
fn category_label(names: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() < 0.01 && i >= 0.0 && (i as usize) < names.len() {
        names[i as usize].clone()
    } else {
        String::new()
    }
}

fn draw_lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    y_desc: &str,
    series: &[Series],
    y_fmt: &dyn Fn(&f64) -> String,
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    let hi = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(1.0, f64::max)
        * 1.15;
    let names: Vec<String> = SIZES
        .iter()
        .map(|&s| crate::markdown::format_size(Some(s)))
        .collect();
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.3f64..(SIZES.len() as f64 - 0.7), 0f64..hi)?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .x_labels(SIZES.len() * 4)
        .x_desc("message size")
        .y_desc(y_desc)
        .x_label_formatter(&|x| category_label(&names, *x))
        .y_label_formatter(y_fmt)
        .draw()?;
    for s in series {
        let c = color(s.server, s.transport);
        let style = c.stroke_width(2);
        if s.transport == "tcp" {
            chart
                .draw_series(LineSeries::new(s.points.clone(), style))?
                .label(s.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
        } else {
            chart
                .draw_series(DashedLineSeries::new(s.points.clone(), 6, 4, style))?
                .label(s.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
        }
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn plot_throughput(path: &Path, msgs: &[Series], bytes: &[Series]) -> PlotResult {
    let root = SVGBackend::new(path, (1100, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(550);
    if !msgs.is_empty() {
        draw_lines(
            &left,
            "1→1 pub/sub: delivered msgs/s",
            "msgs/s",
            msgs,
            &|v| crate::stats::format_count(*v),
        )?;
    }
    if !bytes.is_empty() {
        draw_lines(
            &right,
            "1→1 pub/sub: delivered bytes/s",
            "bytes/s",
            bytes,
            &|v| crate::stats::format_bytes_per_sec(*v),
        )?;
    }
    root.present()?;
    Ok(())
}

fn plot_latency(path: &Path, series: &[Series]) -> PlotResult {
    let root = SVGBackend::new(path, (700, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let (lo, hi) = log_bounds(series);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "request/reply at 10k req/s: latency percentiles",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.3f64..3.3f64, (lo..hi).log_scale())?;
    let names: Vec<String> = PERCENTILES.iter().map(|p| p.to_string()).collect();
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .x_labels(PERCENTILES.len() * 4)
        .x_label_formatter(&|x| category_label(&names, *x))
        .y_desc("µs")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    for s in series {
        let c = color(s.server, s.transport);
        chart
            .draw_series(LineSeries::new(s.points.clone(), c.stroke_width(2)))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn plot_rss(path: &Path, bars: &[(String, &'static str, &'static str, f64)]) -> PlotResult {
    let root = SVGBackend::new(path, (640, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = bars.iter().map(|b| b.3 / 1024.0).fold(1.0, f64::max) * 1.2;
    let n = bars.len();
    let mut chart = ChartBuilder::on(&root)
        .caption("RSS per idle connection", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((0..n).into_segmented(), 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .x_labels(n)
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => bars.get(*i).map(|b| b.0.clone()).unwrap_or_default(),
            _ => String::new(),
        })
        .y_desc("KiB per connection")
        .draw()?;
    chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
        let c = color(b.1, b.2);
        let mut r = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), b.3 / 1024.0),
            ],
            c.filled(),
        );
        r.set_margin(0, 0, 12, 12);
        r
    }))?;
    let label_style =
        TextStyle::from(("sans-serif", 14).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
        Text::new(
            format!("{:.1} KiB", b.3 / 1024.0),
            (SegmentValue::CenterOf(i), b.3 / 1024.0 + top * 0.01),
            label_style.clone(),
        )
    }))?;
    root.present()?;
    Ok(())
}

/// Writes the plots it has data for into `dir`; returns (title, file name)
/// of each one written.
pub fn write_plots(runs: &[Run], dir: &Path) -> Result<Vec<(String, String)>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut written = Vec::new();
    let (msgs, bytes) = throughput_series(runs);
    if !msgs.is_empty() || !bytes.is_empty() {
        let p = dir.join("throughput.svg");
        plot_throughput(&p, &msgs, &bytes).map_err(|e| format!("{}: {e}", p.display()))?;
        written.push(("throughput by message size".into(), "throughput.svg".into()));
    }
    let lat = latency_series(runs);
    if !lat.is_empty() {
        let p = dir.join("latency.svg");
        plot_latency(&p, &lat).map_err(|e| format!("{}: {e}", p.display()))?;
        written.push((
            "request/reply latency percentiles".into(),
            "latency.svg".into(),
        ));
    }
    let rss = rss_bars(runs);
    if !rss.is_empty() {
        let p = dir.join("rss.svg");
        plot_rss(&p, &rss).map_err(|e| format!("{}: {e}", p.display()))?;
        written.push(("RSS per idle connection".into(), "rss.svg".into()));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Latency;

    fn pubsub(t: &str, size: u64, server: &str, round: u32, mps: f64) -> Run {
        Run {
            matrix_id: format!("{t}-pubsub-{size}"),
            server: server.into(),
            round,
            pinned: true,
            scenario: Some("pubsub".into()),
            transport: Some(t.into()),
            size: Some(size),
            msgs_per_sec: Some(mps),
            bytes_per_sec: Some(mps * size as f64),
            ..Run::default()
        }
    }

    #[test]
    fn series_take_medians_over_rounds() {
        let runs = vec![
            pubsub("tcp", 128, NATS, 1, 1.0e6),
            pubsub("tcp", 128, NATS, 2, 3.0e6),
            pubsub("tcp", 128, NATS, 3, 2.0e6),
            pubsub("tcp", 16, NATS, 1, 4.0e6),
        ];
        let (msgs, bytes) = throughput_series(&runs);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].points, vec![(0.0, 4.0e6), (1.0, 2.0e6)]);
        assert_eq!(bytes[0].points[1], (1.0, 2.0e6 * 128.0));
    }

    #[test]
    fn writes_svgs_with_text() {
        let mut runs = Vec::new();
        for (i, size) in SIZES.iter().enumerate() {
            for t in TRANSPORTS {
                runs.push(pubsub(t, *size, NATS, 1, 1e6 / (i + 1) as f64));
                runs.push(pubsub(t, *size, RINGNATS, 1, 2e6 / (i + 1) as f64));
            }
        }
        for (s, p99) in [(NATS, 300.0), (RINGNATS, 120.0)] {
            runs.push(Run {
                matrix_id: "tcp-reqrep-10k".into(),
                server: s.into(),
                round: 1,
                pinned: true,
                scenario: Some("reqrep".into()),
                latency_us: Some(Latency {
                    p50: 50.0,
                    p90: 80.0,
                    p99,
                    p999: 900.0,
                    max: 2000.0,
                }),
                ..Run::default()
            });
            runs.push(Run {
                matrix_id: "ws-conns-idle".into(),
                server: s.into(),
                round: 1,
                pinned: true,
                scenario: Some("conns".into()),
                rss_per_conn_bytes: Some(p99 * 100.0),
                ..Run::default()
            });
        }
        let dir = std::env::temp_dir().join(format!("perf-report-test-{}", std::process::id()));
        let written = write_plots(&runs, &dir).unwrap();
        assert_eq!(written.len(), 3);
        for (_, f) in &written {
            let svg = std::fs::read_to_string(dir.join(f)).unwrap();
            assert!(svg.starts_with("<svg"), "{f}");
            assert!(svg.contains("<text"), "{f} has no text");
        }
        let t = std::fs::read_to_string(dir.join("throughput.svg")).unwrap();
        assert!(t.contains("ringnats WS"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_data_no_plots() {
        let dir = std::env::temp_dir().join(format!("perf-report-empty-{}", std::process::id()));
        assert!(write_plots(&[], &dir).unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
