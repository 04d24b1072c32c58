//! Progress of a long command on standard error: on a terminal, a bar (indicatif) with the bytes
//! done of the bytes discovered so far, the rate and the ETA, and the objects hashed, skipped
//! and recorded; when standard error is not a terminal, the run's plain line every
//! [`custody_core::ingest::PROGRESS_EVERY`] (written by the run itself):
//!
//! ```text
//! ⠙ [00:00:35] [##########>-----------] 214.7 MiB/1.0 GiB 6.1 MiB/s ETA 02:10  27480/48000 objects, 20000 already recorded, 110120 records
//! custody: 48000 discovered, 20000 already recorded, 27500 marked, 27480 hashed (214.7 MiB, 6.1 MiB/s), 110120 record(s) submitted in 14 chunk(s), 35 s
//! ```
//!
//! The bar reads the run's shared counters ([`Progress::snapshot`]) a few times a second; the
//! bar's length grows as discovery lists the export, so the ETA is for what is known so far.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use custody_core::ingest::{Progress, ProgressOutput, ProgressSnapshot};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the bar is redrawn from the counters.
const REDRAW_EVERY: Duration = Duration::from_millis(200);

const BAR_TEMPLATE: &str = "{spinner} [{elapsed_precise}] [{wide_bar}] {binary_bytes}/{binary_total_bytes} \
     {binary_bytes_per_sec} ETA {eta}  {msg}";

/// The progress display of one run; [`RunProgress::finish`] removes the bar.
pub struct RunProgress {
    counters: Arc<Progress>,
    output: ProgressOutput,
    bar: Option<(ProgressBar, watch::Sender<bool>, JoinHandle<()>)>,
}

impl RunProgress {
    /// Nothing with `quiet`; a bar when standard error is a terminal; the run's plain line
    /// otherwise.
    pub fn start(quiet: bool) -> RunProgress {
        let terminal = std::io::stderr().is_terminal();
        let counters = Arc::new(Progress::new());
        if quiet || !terminal {
            return RunProgress {
                counters,
                output: if quiet {
                    ProgressOutput::Off
                } else {
                    ProgressOutput::Stderr
                },
                bar: None,
            };
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(BAR_TEMPLATE)
                .expect("the bar template parses")
                .progress_chars("#>-"),
        );
        let (stop, mut stopped) = watch::channel(false);
        let task = {
            let bar = bar.clone();
            let counters = counters.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(REDRAW_EVERY);
                loop {
                    tokio::select! {
                        _ = tick.tick() => draw(&bar, &counters.snapshot()),
                        _ = stopped.changed() => return,
                    }
                }
            })
        };
        RunProgress {
            counters,
            // The bar replaces the run's own line.
            output: ProgressOutput::Off,
            bar: Some((bar, stop, task)),
        }
    }

    /// The counters to hand the run (`IngestConfig::progress_counters`).
    pub fn counters(&self) -> Arc<Progress> {
        self.counters.clone()
    }

    /// Where the run itself writes its periodic line (`IngestConfig::progress`).
    pub fn output(&self) -> ProgressOutput {
        self.output
    }

    /// Stop drawing and clear the bar; the counters as they ended.
    pub async fn finish(self) -> ProgressSnapshot {
        if let Some((bar, stop, task)) = self.bar {
            let _ = stop.send(true);
            let _ = task.await;
            bar.finish_and_clear();
        }
        self.counters.snapshot()
    }
}

fn draw(bar: &ProgressBar, now: &ProgressSnapshot) {
    bar.set_length(now.discovered_bytes);
    bar.set_position((now.bytes_hashed + now.skipped_bytes).min(now.discovered_bytes));
    bar.set_message(message(now));
}

/// The counts beside the bar.
fn message(now: &ProgressSnapshot) -> String {
    let mut text = format!("{}/{} objects", now.hashed + now.skipped, now.discovered);
    if now.skipped > 0 {
        text.push_str(&format!(", {} already recorded", now.skipped));
    }
    text.push_str(&format!(", {} records", now.submitted));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_counts_objects_done_of_those_discovered() {
        let now = ProgressSnapshot {
            discovered: 48,
            skipped: 8,
            hashed: 30,
            submitted: 90,
            ..ProgressSnapshot::default()
        };
        assert_eq!(
            message(&now),
            "38/48 objects, 8 already recorded, 90 records"
        );
    }

    #[tokio::test]
    async fn without_a_terminal_the_run_writes_its_own_line_and_quiet_writes_none() {
        if std::io::stderr().is_terminal() {
            return; // run by hand at a terminal: the bar is drawn instead
        }
        let plain = RunProgress::start(false);
        assert_eq!(plain.output(), ProgressOutput::Stderr);
        assert!(plain.bar.is_none());
        let quiet = RunProgress::start(true);
        assert_eq!(quiet.output(), ProgressOutput::Off);
        assert_eq!(quiet.finish().await.discovered, 0);
    }
}
