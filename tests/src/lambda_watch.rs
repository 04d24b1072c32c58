//! The real Lambda function binaries served locally: `cargo lambda watch` (cargo-lambda's
//! emulator of the Lambda runtime and invoke APIs, installed pinned from PyPI into `.tools/venv`
//! by `scripts/install-tools.sh`) on 127.0.0.1, driven with `cargo lambda invoke --data-file`.
//!
//! `cargo lambda watch` starts a function on its first invocation with `cargo run --bin NAME`
//! from the workspace root. [`LambdaWatch::build`] runs the same `cargo build --bin …` first, in
//! the target folder the tests were built in (`CARGO_TARGET_DIR`, or the folder holding this test
//! binary), so `cargo run` finds the binaries current and CI compiles the functions once; the
//! build's own output goes to `build.log`.
//!
//! Everything is kept under a log folder the caller names (in `target/`): the watch log with each
//! function's JSON log lines, every event sent (`events/NAME.json`) and every response received
//! (`responses/NAME.json`, or `NAME.error` with the invoke's output when the invocation failed);
//! the env file (`function.env`, which holds the signing key) is removed when the watch stops.
//! The watch process group is stopped on drop, and by a watchdog shell if the test process dies
//! first.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::process_group::{signal_group, spawn_watchdog};
use crate::{install_tools, workspace_root};

/// The environment every process started here gets besides the caller's: offline AWS settings.
const OFFLINE_AWS: &[(&str, &str)] = &[
    ("AWS_REGION", "us-east-1"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_CONFIG_FILE", "/dev/null"),
    ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
];

/// Variables cargo sets for the running test that must not leak into the nested cargo, where
/// they would describe the wrong package.
fn leaks_from_cargo_test(name: &str) -> bool {
    [
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_CRATE_",
        "CARGO_BIN_",
        "CARGO_PRIMARY_",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
        || name == "CARGO_TARGET_TMPDIR"
}

/// `cargo-lambda` from `.tools/venv/bin`, installed if needed.
pub fn cargo_lambda() -> Result<PathBuf> {
    install_tools()?;
    let path = workspace_root().join(".tools/venv/bin/cargo-lambda");
    if path.is_file() {
        Ok(path)
    } else {
        bail!(
            "{} is missing after scripts/install-tools.sh",
            path.display()
        )
    }
}

/// The target folder the tests were built in: `CARGO_TARGET_DIR`, or the folder three levels
/// above this test binary (`<target>/debug/deps/<test>`).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// A command from the workspace root with the shared target folder and the offline AWS settings,
/// nothing of the running test's package.
fn cargo_command(program: &Path) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(leaks_from_cargo_test) {
            command.env_remove(&name);
        }
    }
    command
        .current_dir(workspace_root())
        .env("CARGO_TARGET_DIR", target_dir())
        .envs(OFFLINE_AWS.iter().copied());
    command
}

/// A running `cargo lambda watch`.
pub struct LambdaWatch {
    child: Child,
    watchdog: Child,
    cargo_lambda: PathBuf,
    port: u16,
    logs: PathBuf,
}

impl LambdaWatch {
    /// `cargo build --bin F…` as `cargo lambda watch` will `cargo run` them, logged to
    /// `<logs>/build.log`; returns how long it took.
    pub fn build(functions: &[&str], logs: &Path) -> Result<Duration> {
        std::fs::create_dir_all(logs)?;
        let log_path = logs.join("build.log");
        let log = std::fs::File::create(&log_path)?;
        let started = Instant::now();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = cargo_command(Path::new(&cargo));
        command.arg("build");
        for function in functions {
            command.args(["--bin", function]);
        }
        let status = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .status()
            .context("running cargo build")?;
        if !status.success() {
            bail!(
                "cargo build of {functions:?} failed ({status}); {}:\n{}",
                log_path.display(),
                tail(&log_path, 40)
            );
        }
        Ok(started.elapsed())
    }

    /// Start `cargo lambda watch -A 127.0.0.1` on a free port with `env` as its env file (the
    /// functions' environment), logging to `<logs>/watch.log`; waits until it accepts
    /// connections.
    pub fn start(env: &[(String, String)], logs: &Path) -> Result<LambdaWatch> {
        let cargo_lambda = cargo_lambda()?;
        for sub in ["events", "responses"] {
            std::fs::create_dir_all(logs.join(sub))?;
        }
        let env_file = logs.join("function.env");
        let text: String = env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(OFFLINE_AWS.iter().copied())
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        write_private(&env_file, &text)?;
        let port = free_port()?;
        let log = std::fs::File::create(logs.join("watch.log"))?;
        let child = cargo_command(&cargo_lambda)
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(port.to_string())
            .arg("--env-file")
            .arg(&env_file)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("running {} lambda watch", cargo_lambda.display()))?;
        let watchdog = spawn_watchdog(child.id(), "", "cargo lambda watch")?;
        let mut watch = LambdaWatch {
            child,
            watchdog,
            cargo_lambda,
            port,
            logs: logs.to_path_buf(),
        };
        watch.wait_until_listening(Duration::from_secs(120))?;
        Ok(watch)
    }

    fn wait_until_listening(&mut self, limit: Duration) -> Result<()> {
        let started = Instant::now();
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "cargo lambda watch exited with {status}:\n{}",
                    self.log_tail()
                );
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if started.elapsed() > limit {
                bail!(
                    "cargo lambda watch did not listen on {address} within {limit:?}:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last lines of the watch log (the functions' log lines among them).
    pub fn log_tail(&self) -> String {
        tail(&self.logs.join("watch.log"), 60)
    }

    /// The whole watch log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.logs.join("watch.log")).unwrap_or_default()
    }

    /// `cargo lambda invoke FUNCTION --data-file <logs>/events/NAME.json`: the function's
    /// response, or `Err` with the invoke's output when the invocation failed (a function error).
    pub async fn invoke(
        &self,
        function: &str,
        name: &str,
        event: &Value,
    ) -> Result<Value, InvokeError> {
        let name = name.strip_suffix(".json").unwrap_or(name);
        let data_file = self.logs.join("events").join(format!("{name}.json"));
        std::fs::write(&data_file, serde_json::to_vec_pretty(event).expect("JSON"))
            .map_err(|e| InvokeError::new(format!("writing {}: {e}", data_file.display())))?;
        let mut command: tokio::process::Command = cargo_command(&self.cargo_lambda).into();
        let output = command
            .args(["lambda", "invoke", function, "--data-file"])
            .arg(&data_file)
            .args(["-A", "127.0.0.1", "-P", &self.port.to_string()])
            .args(["--output-format", "json"])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| InvokeError::new(format!("running cargo lambda invoke: {e}")))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let responses = self.logs.join("responses");
        if !output.status.success() {
            let text = format!("exit {}\n{stdout}{stderr}", output.status);
            let _ = std::fs::write(responses.join(format!("{name}.error")), &text);
            return Err(InvokeError::new(text));
        }
        let _ = std::fs::write(responses.join(format!("{name}.json")), &stdout);
        serde_json::from_str(stdout.trim()).map_err(|e| {
            InvokeError::new(format!(
                "{function} {name}: the response is not JSON ({e}):\n{stdout}{stderr}"
            ))
        })
    }
}

impl Drop for LambdaWatch {
    fn drop(&mut self) {
        let pgid = self.child.id();
        signal_group(pgid, "TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            signal_group(pgid, "KILL");
            let _ = self.child.wait();
        }
        // The functions `cargo run` started are in the same group; make sure none is left.
        signal_group(pgid, "KILL");
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
        // The logs stay; the env file holding the signing key and the S3 secret goes.
        let _ = std::fs::remove_file(self.logs.join("function.env"));
    }
}

/// A failed `cargo lambda invoke`: the invoke's exit status and output.
#[derive(Debug)]
pub struct InvokeError {
    pub output: String,
}

impl InvokeError {
    fn new(output: String) -> InvokeError {
        InvokeError { output }
    }
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.output)
    }
}

impl std::error::Error for InvokeError {}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    Ok(listener.local_addr()?.port())
}

/// The env file holds the signing key and the S3 secret: owner-only.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| anyhow!("writing {}: {e}", path.display()))
}
