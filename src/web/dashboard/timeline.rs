//! The run's timeline picture: one row per task (and one for planning), a bar per
//! worker attempt, build, reviewer lens and landing, laid out on one time axis and
//! drawn as SVG on the server, so a person sees where the time went and what ran in
//! parallel. Lenses of one verification run side by side, so each lens has a lane of
//! its own under the task's main lane.

use askama::Template;

use crate::clock::Millis;

/// Width of the whole picture, in pixels.
const WIDTH: f64 = 960.0;
/// Width of the label column.
const LABEL_WIDTH: f64 = 190.0;
/// Height of one lane.
const LANE_HEIGHT: f64 = 12.0;
/// Space between rows.
const ROW_GAP: f64 = 8.0;
/// Height of the time axis at the bottom.
const AXIS_HEIGHT: f64 = 22.0;
/// Ticks on the time axis, at most.
const MAX_TICKS: i64 = 8;

/// What a bar shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarKind {
    /// The planner agent.
    Plan,
    /// A worker attempt.
    Work,
    /// The build gate.
    Build,
    /// A reviewer lens.
    Review,
    /// From verified to merged (or still waiting).
    Land,
}

impl BarKind {
    fn class(self) -> &'static str {
        match self {
            Self::Plan => "plan",
            Self::Work => "work",
            Self::Build => "build",
            Self::Review => "review",
            Self::Land => "land",
        }
    }
}

/// How a bar's step ended, for its outline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarEnd {
    /// Still running.
    Running,
    /// Did its job.
    Succeeded,
    /// Failed or refuted.
    Failed,
    /// Cut short.
    Interrupted,
}

impl BarEnd {
    fn class(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "ok",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }
}

/// One bar: a step from `start` to `end`, in a lane of its row.
#[derive(Clone, Debug)]
pub struct Bar {
    /// 0 for the main lane (work, build, landing); 1… for each lens.
    pub lane: usize,
    /// When it began.
    pub start: Millis,
    /// When it ended (now, while it runs).
    pub end: Millis,
    /// What it was.
    pub kind: BarKind,
    /// How it ended.
    pub outcome: BarEnd,
    /// The tooltip: what, how long, how it ended.
    pub title: String,
    /// The page that shows the step, if any.
    pub href: Option<String>,
}

/// One row: a task (or planning) and its bars.
#[derive(Clone, Debug)]
pub struct Row {
    /// The row's label: task position and title.
    pub label: String,
    /// Lanes the row needs (1 + lenses).
    pub lanes: usize,
    /// Its bars.
    pub bars: Vec<Bar>,
}

/// A bar with its place in the picture.
struct PlacedBar {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
    class: String,
    title: String,
    href: Option<String>,
}

/// A row label with its place.
struct PlacedLabel {
    y: f64,
    text: String,
}

/// A tick on the time axis.
struct Tick {
    x: f64,
    text: String,
}

#[derive(Template)]
#[template(path = "dashboard/timeline.svg", escape = "html")]
struct TimelineSvg {
    width: f64,
    height: f64,
    label_width: f64,
    axis_y: f64,
    labels: Vec<PlacedLabel>,
    bars: Vec<PlacedBar>,
    ticks: Vec<Tick>,
}

/// Draws `rows` on one axis from `origin` to the latest bar end.
pub fn render(rows: &[Row], origin: Millis) -> anyhow::Result<String> {
    let last = rows
        .iter()
        .flat_map(|r| r.bars.iter().map(|b| b.end))
        .max()
        .unwrap_or(origin)
        .max(origin + 1000);
    let span = (last - origin) as f64;
    let plot = WIDTH - LABEL_WIDTH - 24.0;
    let x_of = |t: Millis| LABEL_WIDTH + ((t - origin).max(0) as f64 / span) * plot;
    let mut y = 4.0;
    let mut labels = Vec::with_capacity(rows.len());
    let mut bars = Vec::new();
    for row in rows {
        let height = row.lanes.max(1) as f64 * LANE_HEIGHT;
        labels.push(PlacedLabel {
            y: y + height / 2.0 + 4.0,
            text: row.label.clone(),
        });
        for bar in &row.bars {
            let x = x_of(bar.start);
            bars.push(PlacedBar {
                x,
                y: y + bar.lane as f64 * LANE_HEIGHT + 1.0,
                width: (x_of(bar.end) - x).max(2.0),
                height: LANE_HEIGHT - 2.0,
                class: format!("{} {}", bar.kind.class(), bar.outcome.class()),
                title: bar.title.clone(),
                href: bar.href.clone(),
            });
        }
        y += height + ROW_GAP;
    }
    let ticks = ticks(last - origin)
        .into_iter()
        .map(|offset| Tick {
            x: x_of(origin + offset),
            text: short_duration(offset),
        })
        .collect();
    Ok(TimelineSvg {
        width: WIDTH,
        height: y + AXIS_HEIGHT,
        label_width: LABEL_WIDTH,
        axis_y: y,
        labels,
        bars,
        ticks,
    }
    .render()?)
}

/// Tick offsets from the origin: a round step giving at most [`MAX_TICKS`] ticks.
fn ticks(span: Millis) -> Vec<Millis> {
    const STEPS: [Millis; 12] = [
        1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000,
        3_600_000,
    ];
    let step = STEPS
        .iter()
        .copied()
        .find(|step| span / step < MAX_TICKS)
        .unwrap_or_else(|| (span / MAX_TICKS).max(1));
    (0..=span / step).map(|i| i * step).collect()
}

/// "45s", "3m", "1h05m": how a tick or a bar's length reads.
pub fn short_duration(ms: Millis) -> String {
    let seconds = ms / 1000;
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 && s % 60 == 0 => format!("{}m", s / 60),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(lane: usize, start: Millis, end: Millis, kind: BarKind) -> Bar {
        Bar {
            lane,
            start,
            end,
            kind,
            outcome: BarEnd::Succeeded,
            title: format!("{kind:?} <script>"),
            href: Some("/runs/1?a=1&b=2".to_owned()),
        }
    }

    #[test]
    fn bars_are_placed_on_one_axis_and_text_is_escaped() {
        let rows = vec![
            Row {
                label: "1. first & <b>".to_owned(),
                lanes: 1,
                bars: vec![bar(0, 0, 10_000, BarKind::Work)],
            },
            Row {
                label: "2. second".to_owned(),
                lanes: 2,
                bars: vec![
                    bar(0, 5_000, 20_000, BarKind::Work),
                    bar(1, 20_000, 30_000, BarKind::Review),
                ],
            },
        ];
        let svg = render(&rows, 0).expect("renders");
        assert!(svg.starts_with("<svg"), "{svg}");
        assert_eq!(svg.matches("<rect class=\"bar").count(), 3, "{svg}");
        assert!(svg.contains("1. first &#38; &#60;b&#62;"), "{svg}");
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("href=\"/runs/1?a=1&#38;b=2\""), "{svg}");
        // The first bar covers a third of the plot; the lens bar starts where the
        // second task's work ends.
        let plot = WIDTH - LABEL_WIDTH - 24.0;
        assert!(
            svg.contains(&format!("width=\"{:.1}\"", plot / 3.0)),
            "{svg}"
        );
    }

    #[test]
    fn ticks_are_round_and_few() {
        assert_eq!(ticks(5_000), vec![0, 1_000, 2_000, 3_000, 4_000, 5_000]);
        assert_eq!(ticks(120_000).len(), 5);
        assert!(ticks(10 * 3_600_000).len() as i64 <= MAX_TICKS + 1);
        assert_eq!(short_duration(75_000), "1m15s");
        assert_eq!(short_duration(3_900_000), "1h05m");
    }
}
