//! Servers the tests start (`weed mini`, `cargo lambda watch`) run in a process group of their
//! own, so that everything they start goes with them: [`signal_group`] signals the whole group,
//! and [`spawn_watchdog`] stops it when the test process is gone, also after a panic or an abort
//! that skips every `Drop`.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};

/// `kill -SIGNAL -- -PGID`; a group already gone is not an error.
pub fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([format!("-{signal}"), "--".into(), format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A shell that waits for this test process to end, then sends the group `pgid` TERM, three
/// seconds later KILL, and runs `cleanup` (shell words, e.g. `rm -rf '/tmp/x'`). It lives in a
/// process group of its own so that it survives the kill; `what` names the server in errors.
pub fn spawn_watchdog(pgid: u32, cleanup: &str, what: &str) -> Result<Child> {
    let script = format!(
        "while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; \
         kill -TERM -{pgid} 2>/dev/null; sleep 3; kill -KILL -{pgid} 2>/dev/null; {cleanup}",
        parent = std::process::id(),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting the {what} watchdog"))
}
