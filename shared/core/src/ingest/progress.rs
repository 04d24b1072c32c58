//! Progress while a run goes: counters the pipeline bumps, and a line every few seconds with
//! objects discovered / skipped / marked / hashed / submitted, bytes hashed and the rate:
//!
//! ```text
//! custody: 12000 discovered, 3000 already recorded, 8000 marked, 7990 hashed (1.2 GiB, 41.0 MiB/s), 7800 submitted in 4 chunk(s), 35 s
//! ```
//!
//! The CLI writes it to stderr; the functions log it (`tracing`, level info). A caller that
//! draws its own progress (the CLI's bar on a terminal) hands the run a shared [`Progress`]
//! (`IngestConfig::progress_counters`) and reads [`Progress::snapshot`] as often as it likes.

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
    discovered_bytes: AtomicU64,
    skipped_bytes: AtomicU64,
}

/// The counters of a run at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ProgressSnapshot {
    /// Objects discovery delivered so far (present or not).
    pub discovered: u64,
    /// The bytes of the present objects discovered so far.
    pub discovered_bytes: u64,
    /// Present versions skipped as already recorded, and their bytes.
    pub skipped: u64,
    pub skipped_bytes: u64,
    pub marked: u64,
    pub hashed: u64,
    pub bytes_hashed: u64,
    /// Records submitted, in how many chunks.
    pub submitted: u64,
    pub chunks: u64,
    /// Seconds since the run started.
    pub elapsed_secs: f64,
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
            discovered_bytes: AtomicU64::new(0),
            skipped_bytes: AtomicU64::new(0),
        }
    }

    pub(super) fn discovered(&self, n: usize, bytes: u64) {
        self.discovered.fetch_add(n as u64, Ordering::Relaxed);
        self.discovered_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(super) fn skipped(&self, n: usize, bytes: u64) {
        self.skipped.fetch_add(n as u64, Ordering::Relaxed);
        self.skipped_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The counters as they stand.
    pub fn snapshot(&self) -> ProgressSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ProgressSnapshot {
            discovered: get(&self.discovered),
            discovered_bytes: get(&self.discovered_bytes),
            skipped: get(&self.skipped),
            skipped_bytes: get(&self.skipped_bytes),
            marked: get(&self.marked),
            hashed: get(&self.hashed),
            bytes_hashed: get(&self.bytes_hashed),
            submitted: get(&self.submitted),
            chunks: get(&self.chunks),
            elapsed_secs: self.started.elapsed().as_secs_f64(),
        }
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

/// Bytes in binary units (`214.7 MiB`).
pub fn human_bytes(bytes: f64) -> String {
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
        progress.discovered(10, 4096);
        progress.skipped(3, 1024);
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
        let snapshot = progress.snapshot();
        assert_eq!(
            (
                snapshot.discovered,
                snapshot.discovered_bytes,
                snapshot.skipped_bytes
            ),
            (10, 4096, 1024)
        );
        assert_eq!((snapshot.hashed, snapshot.bytes_hashed), (1, 2048));
    }
}
