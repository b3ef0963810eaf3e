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
    pub fn start(
        counters: Arc<Counters>,
        approximate_items: Option<u64>,
        segments: u32,
        interval: Duration,
        labels: Labels,
    ) -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(
                approximate_items.filter(|n| *n > 0),
                ProgressDrawTarget::stderr(),
            );
            let template =
                "{spinner} {elapsed_precise} [{bar:30}] {pos} scanned ~{len} {per_sec} {msg}";
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            let ticker = bar.clone();
            let task = tokio::spawn(async move {
                let started = Instant::now();
                loop {
                    let indexed = Counters::get(&counters.indexed);
                    ticker.set_position(Counters::get(&counters.scanned));
                    ticker.set_message(format!(
                        "{indexed} indexed ({:.0} docs/s), {} dead-lettered, segments {}/{}",
                        indexed as f64 / started.elapsed().as_secs_f64().max(0.001),
                        Counters::get(&counters.dead_lettered),
                        Counters::get(&counters.segments_done),
                        segments
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
                let scanned = Counters::get(&counters.scanned);
                let indexed = Counters::get(&counters.indexed);
                let rate = (indexed as f64 / started.elapsed().as_secs_f64()).round();
                if emf::json_logs() && tracing::enabled!(tracing::Level::INFO) {
                    let fields = serde_json::json!({
                        "scanned": scanned,
                        "indexed": indexed,
                        "dead_lettered": Counters::get(&counters.dead_lettered),
                        "docs_per_s": rate,
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
                    scanned,
                    indexed,
                    dead_lettered = Counters::get(&counters.dead_lettered),
                    docs_per_s = rate,
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
