//! Progress of `custody verify` (and of its `--rehash` pass) on standard error: on a terminal, a bar (indicatif) with the
//! bytes of blocks checked of those listed, the rate and the ETA; otherwise a plain line every
//! [`PLAIN_EVERY`] once the verification has run that long:
//!
//! ```text
//! ⠙ [00:00:12] [#######>------------] 1.2 GiB/3.5 GiB 104 MiB/s ETA 00:22  5210/15000 blocks
//! custody verify: 5210/15000 blocks checked (1.2 GiB of 3.5 GiB, 104.0 MiB/s), 12 s
//! ```

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use custody_core::ingest::human_bytes;
use custody_core::ledger::{VerifyProgress, VerifySnapshot};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;

const REDRAW_EVERY: Duration = Duration::from_millis(200);
/// How often the plain line is written when standard error is not a terminal.
pub const PLAIN_EVERY: Duration = Duration::from_secs(5);

const BAR_TEMPLATE: &str = "{spinner} [{elapsed_precise}] [{wide_bar}] {binary_bytes}/{binary_total_bytes} \
     {binary_bytes_per_sec} ETA {eta}  {msg}";

/// The display of one verification; [`VerifyDisplay::finish`] stops it.
pub struct VerifyDisplay {
    counters: Arc<VerifyProgress>,
    task: Option<(JoinHandle<()>, Option<ProgressBar>)>,
}

impl VerifyDisplay {
    /// Nothing with `quiet`; a bar on a terminal; plain lines otherwise. `what` names the pass
    /// in the plain line (`verify`, `verify --rehash`).
    pub fn start(quiet: bool, what: &'static str) -> VerifyDisplay {
        let counters = Arc::new(VerifyProgress::default());
        if quiet {
            return VerifyDisplay {
                counters,
                task: None,
            };
        }
        let shared = counters.clone();
        let started = Instant::now();
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(BAR_TEMPLATE)
                    .expect("the bar template parses")
                    .progress_chars("#>-"),
            );
            let drawn = bar.clone();
            let task = tokio::spawn(async move {
                loop {
                    let s = shared.snapshot();
                    drawn.set_length(s.bytes_total);
                    drawn.set_position(s.bytes_done);
                    drawn.set_message(format!("{}/{} blocks", s.blocks_done, s.blocks_total));
                    tokio::time::sleep(REDRAW_EVERY).await;
                }
            });
            return VerifyDisplay {
                counters,
                task: Some((task, Some(bar))),
            };
        }
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(PLAIN_EVERY).await;
                eprintln!(
                    "{}",
                    plain_line(what, &shared.snapshot(), started.elapsed())
                );
            }
        });
        VerifyDisplay {
            counters,
            task: Some((task, None)),
        }
    }

    pub fn counters(&self) -> &VerifyProgress {
        &self.counters
    }

    /// Stop the display and clear the bar.
    pub fn finish(self) {
        if let Some((task, bar)) = self.task {
            task.abort();
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
        }
    }
}

/// The plain progress line.
pub fn plain_line(what: &str, s: &VerifySnapshot, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    format!(
        "custody {what}: {}/{} blocks checked ({} of {}, {}/s), {} s",
        s.blocks_done,
        s.blocks_total,
        human_bytes(s.bytes_done as f64),
        human_bytes(s.bytes_total as f64),
        human_bytes(s.bytes_done as f64 / secs),
        elapsed.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_line_says_blocks_bytes_and_rate() {
        let s = VerifySnapshot {
            blocks_total: 10,
            bytes_total: 10 << 20,
            blocks_done: 4,
            bytes_done: 4 << 20,
        };
        let line = plain_line("verify", &s, Duration::from_secs(2));
        assert!(
            line.starts_with("custody verify: 4/10 blocks checked ("),
            "{line}"
        );
        assert!(line.ends_with(", 2 s"), "{line}");
        assert!(line.contains(&human_bytes(f64::from(2u32 << 20))), "{line}");
    }
}
