//! Progress while a run goes: counters the pipeline bumps, and a line every few seconds with
//! objects discovered / skipped / marked / hashed / submitted, bytes hashed and the rate:
//!
//! ```text
//! custody: 12000 discovered, 3000 already recorded, 8000 marked, 7990 hashed (1.2 GiB, 41.0 MiB/s), 7800 submitted in 4 chunk(s), 35 s
//! ```
//!
//! The CLI writes it to stderr; the functions log it (`tracing`, level info).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Where the periodic progress line goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum ProgressOutput {
    /// No line.
    Off,
    /// A log line (`tracing::info!`), as the functions want.
    #[default]
    Log,
    /// Standard error, as the CLI wants.
    Stderr,
}

/// How often the line is written.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// The counters of one run.
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    discovered: AtomicU64,
    skipped: AtomicU64,
    marked: AtomicU64,
    hashed: AtomicU64,
    bytes_hashed: AtomicU64,
    submitted: AtomicU64,
    chunks: AtomicU64,
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl Progress {
    pub fn new() -> Self {
        Progress {
            started: Instant::now(),
            discovered: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            marked: AtomicU64::new(0),
            hashed: AtomicU64::new(0),
            bytes_hashed: AtomicU64::new(0),
            submitted: AtomicU64::new(0),
            chunks: AtomicU64::new(0),
        }
    }

    pub(super) fn discovered(&self, n: usize) {
        self.discovered.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(super) fn skipped(&self, n: usize) {
        self.skipped.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(super) fn marked(&self, n: usize) {
        self.marked.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(super) fn hashed(&self, bytes: u64) {
        self.hashed.fetch_add(1, Ordering::Relaxed);
        self.bytes_hashed.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(super) fn submitted(&self, records: usize) {
        self.submitted.fetch_add(records as u64, Ordering::Relaxed);
        self.chunks.fetch_add(1, Ordering::Relaxed);
    }

    /// The progress line as it stands.
    pub fn line(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let elapsed = self.started.elapsed().as_secs_f64().max(0.001);
        let bytes = get(&self.bytes_hashed);
        format!(
            "{} discovered, {} already recorded, {} marked, {} hashed ({}, {}/s), {} record(s) submitted in {} chunk(s), {:.0} s",
            get(&self.discovered),
            get(&self.skipped),
            get(&self.marked),
            get(&self.hashed),
            human_bytes(bytes as f64),
            human_bytes(bytes as f64 / elapsed),
            get(&self.submitted),
            get(&self.chunks),
            elapsed
        )
    }

    pub(super) fn emit(&self, output: ProgressOutput) {
        match output {
            ProgressOutput::Off => {}
            ProgressOutput::Log => tracing::info!(progress = %self.line(), "ingest progress"),
            ProgressOutput::Stderr => eprintln!("custody: {}", self.line()),
        }
    }

    /// Write the line every [`PROGRESS_EVERY`] until `done` resolves.
    pub(super) async fn tick_until(&self, output: ProgressOutput, done: impl Future<Output = ()>) {
        if output == ProgressOutput::Off {
            return done.await;
        }
        tokio::pin!(done);
        let mut interval = tokio::time::interval(PROGRESS_EVERY);
        interval.tick().await;
        loop {
            tokio::select! {
                _ = &mut done => return,
                _ = interval.tick() => self.emit(output),
            }
        }
    }
}

fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_counts_what_the_pipeline_reported() {
        let progress = Progress::new();
        progress.discovered(10);
        progress.skipped(3);
        progress.marked(7);
        progress.hashed(2048);
        progress.submitted(21);
        let line = progress.line();
        assert!(
            line.starts_with("10 discovered, 3 already recorded, 7 marked, 1 hashed (2.0 KiB"),
            "{line}"
        );
        assert!(
            line.contains("21 record(s) submitted in 1 chunk(s)"),
            "{line}"
        );
    }
}
