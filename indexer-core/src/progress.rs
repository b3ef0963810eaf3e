//! Progress on stderr: a progress bar on a terminal, a structured `progress` log line every few
//! seconds otherwise (CloudWatch, CI), both read from the pipeline's shared counters. With JSON
//! logs the progress line also carries CloudWatch metrics ([`emf`]), so a long run is graphed
//! while it runs.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;

use crate::pipeline::Counters;
use crate::summary::emf;

/// What a run's progress metrics are filed under: its alias and mode.
#[derive(Debug, Clone)]
pub struct Labels {
    pub alias: String,
    pub mode: &'static str,
}

/// A running progress reporter; stops when finished or dropped.
pub struct Progress {
    task: Option<JoinHandle<()>>,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts reporting. Counts already in `counters` (a resumed job's earlier work) are shown
    /// in the totals but left out of rates and ETAs, which are about this run's own work.
    pub fn start(
        counters: Arc<Counters>,
        approximate_items: Option<u64>,
        segments: u32,
        interval: Duration,
        labels: Labels,
    ) -> Progress {
        let earlier = Done::read(&counters);
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(
                approximate_items.filter(|n| *n > 0),
                ProgressDrawTarget::stderr(),
            );
            let template = "{spinner} {elapsed_precise} [{bar:30}] {msg}";
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            let ticker = bar.clone();
            let task = tokio::spawn(async move {
                let started = Instant::now();
                loop {
                    let now = Done::read(&counters);
                    ticker.set_position(now.scanned);
                    ticker.set_message(bar_message(
                        &now,
                        &earlier,
                        started.elapsed(),
                        approximate_items,
                        Counters::get(&counters.segments_done),
                        segments,
                    ));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
            return Progress {
                task: Some(task),
                bar: Some(bar),
            };
        }
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut ticker = tokio::time::interval(interval);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let now = Done::read(&counters);
                let seconds = started.elapsed().as_secs_f64();
                let docs_per_s = per_second(now.indexed.saturating_sub(earlier.indexed), seconds);
                let scan_rate = per_second(now.scanned.saturating_sub(earlier.scanned), seconds);
                let eta_s = eta_seconds(approximate_items, now.scanned, scan_rate);
                if emf::json_logs() && tracing::enabled!(tracing::Level::INFO) {
                    let fields = serde_json::json!({
                        "scanned": now.scanned,
                        "indexed": now.indexed,
                        "dead_lettered": now.dead_lettered,
                        "docs_per_s": docs_per_s,
                        "eta_s": eta_s,
                        "segments_done": Counters::get(&counters.segments_done),
                        "segments": segments,
                        "approximate_items": approximate_items,
                    });
                    let line = emf::progress_line(
                        &labels.alias,
                        labels.mode,
                        fields.as_object().cloned().unwrap_or_default(),
                    );
                    use std::io::Write;
                    let _ = writeln!(std::io::stderr().lock(), "{line}");
                    continue;
                }
                tracing::info!(
                    scanned = now.scanned,
                    indexed = now.indexed,
                    dead_lettered = now.dead_lettered,
                    docs_per_s,
                    eta_s,
                    segments_done = Counters::get(&counters.segments_done),
                    segments,
                    approximate_items,
                    "progress"
                );
            }
        });
        Progress {
            task: Some(task),
            bar: None,
        }
    }

    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Counts at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Done {
    scanned: u64,
    indexed: u64,
    dead_lettered: u64,
}

impl Done {
    fn read(counters: &Counters) -> Done {
        Done {
            scanned: Counters::get(&counters.scanned),
            indexed: Counters::get(&counters.indexed),
            dead_lettered: Counters::get(&counters.dead_lettered),
        }
    }
}

/// The progress bar's text: totals, and this run's rate and time left.
fn bar_message(
    now: &Done,
    earlier: &Done,
    elapsed: Duration,
    approximate_items: Option<u64>,
    segments_done: u64,
    segments: u32,
) -> String {
    let seconds = elapsed.as_secs_f64();
    let rate = per_second(now.indexed.saturating_sub(earlier.indexed), seconds);
    let scan_rate = per_second(now.scanned.saturating_sub(earlier.scanned), seconds);
    let read = match approximate_items.filter(|n| *n > 0) {
        Some(total) => format!("{} of ~{} read", count(now.scanned), count(total)),
        None => format!("{} read", count(now.scanned)),
    };
    let left = eta_seconds(approximate_items, now.scanned, scan_rate)
        .map(|s| format!(", ~{} left", duration(s as f64)))
        .unwrap_or_default();
    format!(
        "{read}, {} indexed ({}){left}, {} dead-lettered, segments {segments_done}/{segments}",
        count(now.indexed),
        rate_text(rate),
        count(now.dead_lettered),
    )
}

/// `done` per second over `seconds`, rounded to a whole number (one decimal below 10); 0 when
/// no time has passed.
pub fn per_second(done: u64, seconds: f64) -> f64 {
    if seconds <= 0.0 || !seconds.is_finite() {
        return 0.0;
    }
    let rate = done as f64 / seconds;
    if rate < 10.0 {
        (rate * 10.0).round() / 10.0
    } else {
        rate.round()
    }
}

/// Seconds until `total` items are read at `rate` per second, from `scanned`; unknown without
/// a total or a rate.
pub fn eta_seconds(total: Option<u64>, scanned: u64, rate: f64) -> Option<u64> {
    let total = total.filter(|n| *n > 0)?;
    (rate > 0.0).then(|| (total.saturating_sub(scanned) as f64 / rate).ceil() as u64)
}

/// `1234567` as `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate for people: `480 docs/s`, `2.5 docs/s`, `1,048 docs/s`.
pub fn rate_text(rate: f64) -> String {
    if rate < 10.0 && rate.fract() != 0.0 {
        format!("{rate:.1} docs/s")
    } else {
        format!("{} docs/s", count(rate.max(0.0).round() as u64))
    }
}

/// A span of time for people: `45s`, `3m07s`, `2h05m`, `3d04h`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// `1 item`, `2 items`: a count with its noun in the right number.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_whole_numbers_or_one_decimal_never_more() {
        assert_eq!(per_second(4850, 10.0), 485.0);
        assert_eq!(per_second(1, 3.0), 0.3);
        assert_eq!(per_second(2, 0.0), 0.0);
        assert_eq!(per_second(2, f64::NAN), 0.0);
        assert_eq!(rate_text(485.4), "485 docs/s");
        assert_eq!(rate_text(2.5), "2.5 docs/s");
        assert_eq!(rate_text(1048.0), "1,048 docs/s");
        assert_eq!(rate_text(0.0), "0 docs/s");
    }

    #[test]
    fn a_resumed_run_is_timed_on_its_own_work() {
        // 2,000,000 items were done before the resume; this run read 4,850 in 10 s.
        let earlier = Done {
            scanned: 2_000_000,
            indexed: 2_000_000,
            dead_lettered: 0,
        };
        let now = Done {
            scanned: 2_004_850,
            indexed: 2_004_850,
            dead_lettered: 1,
        };
        let text = bar_message(
            &now,
            &earlier,
            Duration::from_secs(10),
            Some(2_010_000),
            3,
            8,
        );
        assert_eq!(
            text,
            "2,004,850 of ~2,010,000 read, 2,004,850 indexed (485 docs/s), ~11s left, 1 dead-lettered, segments 3/8"
        );
    }

    #[test]
    fn the_eta_needs_a_total_and_a_rate() {
        assert_eq!(eta_seconds(Some(1000), 400, 100.0), Some(6));
        assert_eq!(eta_seconds(Some(1000), 1200, 100.0), Some(0));
        assert_eq!(eta_seconds(None, 400, 100.0), None);
        assert_eq!(eta_seconds(Some(0), 0, 100.0), None);
        assert_eq!(eta_seconds(Some(1000), 400, 0.0), None);
    }

    #[test]
    fn counts_durations_and_nouns_read_naturally() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(155_586_278), "155,586,278");
        assert_eq!(duration(45.4), "45s");
        assert_eq!(duration(187.0), "3m07s");
        assert_eq!(duration(7500.0), "2h05m");
        assert_eq!(duration(277_200.0), "3d05h");
        assert_eq!(plural(1, "item was", "items were"), "1 item was");
        assert_eq!(plural(2, "item was", "items were"), "2 items were");
    }
}
