//! Test harness: a real S3-compatible server (SeaweedFS `weed mini`) on 127.0.0.1.
//!
//! [`SeaweedFs::shared`] starts one server per test binary, shared by its tests (each test makes
//! its own buckets with [`unique_bucket`]). [`SeaweedFs::start`] starts a private one. Every
//! server gets a fresh data folder (locked objects can never be deleted, so nothing is reused)
//! and its own free port for each listener `weed mini` opens, so tests in one binary and several
//! test binaries can run at once. A server is stopped by killing its process group: on drop,
//! and, for the shared server that is never dropped, by a watchdog process that notices the
//! test process has gone (also after a panic or an abort), kills the group and removes the
//! data folder.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use custody_aws::s3::{S3Options, S3Store, StaticCredentials};
use custody_core::store::BucketSpec;

use crate::identity::{Identity, IdentitySpec, credentials_json};
use crate::install_tools;
use crate::process_group::{self, signal_group};

/// The listeners of one `weed mini`, each on its own port.
const PORT_FLAGS: &[&str] = &[
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
    "debug.port",
    "s3.debug.port",
];

/// A running SeaweedFS server.
pub struct SeaweedFs {
    child: Mutex<Child>,
    watchdog: Mutex<Child>,
    data: PathBuf,
    s3_port: u16,
    ports: Vec<u16>,
}

/// A versioned bucket with Object Lock, as Genesys exports should land in.
pub const LOCKED: BucketSpec = BucketSpec {
    versioned: true,
    object_lock: true,
};

/// A versioned bucket without Object Lock.
pub const VERSIONED: BucketSpec = BucketSpec {
    versioned: true,
    object_lock: false,
};

static SHARED: tokio::sync::OnceCell<SeaweedFs> = tokio::sync::OnceCell::const_new();

impl SeaweedFs {
    /// The server shared by every test of this test binary, started on first use.
    pub async fn shared() -> &'static SeaweedFs {
        SHARED
            .get_or_init(|| async {
                match SeaweedFs::start().await {
                    Ok(server) => server,
                    Err(e) => panic!("could not start SeaweedFS: {e:#}"),
                }
            })
            .await
    }

    /// Installs the tools if needed and starts a private server; waits until S3 answers.
    pub async fn start() -> Result<SeaweedFs> {
        Self::start_with(&[]).await
    }

    /// A private server whose identity file also holds `identities`.
    pub async fn start_with(identities: &[IdentitySpec]) -> Result<SeaweedFs> {
        let weed = install_tools()?;
        // Data folders are made in the temporary folder: a disk too full for SeaweedFS is
        // refused once, before any attempt (retrying cannot help it).
        check_the_disk(&std::env::temp_dir())?;
        let mut last_error = None;
        // A port picked as free can be taken by another process before weed binds it: retry
        // with fresh ports.
        for _ in 0..3 {
            match Self::start_once(&weed, identities).await {
                Ok(server) => return Ok(server),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("SeaweedFS did not start")))
    }

    async fn start_once(weed: &Path, identities: &[IdentitySpec]) -> Result<SeaweedFs> {
        let data = tempfile::Builder::new()
            .prefix("custody-seaweedfs-")
            .tempdir()
            .context("creating a data folder")?
            .keep();
        let creds = data.join("s3-identities.json");
        std::fs::write(&creds, credentials_json(identities))
            .context("writing the S3 identities")?;
        let ports = free_ports(PORT_FLAGS.len())?;
        // Sockets a killed server left behind on ports that are free again.
        remove_grpc_sockets(&ports);
        let s3_port = ports[PORT_FLAGS.iter().position(|f| *f == "s3.port").unwrap_or(0)];
        let dir = data.join("data");
        std::fs::create_dir_all(&dir)?;
        let mut command = Command::new(weed);
        command
            .arg(format!("-logdir={}", data.display()))
            .arg("mini")
            .arg(format!("-dir={}", dir.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-s3.config={}", creds.display()))
            .args([
                "-s3.autoCreateBucket=false",
                // `weed mini` sizes its volume count from the free disk space; on a crowded disk
                // it runs out and answers writes with 500 InternalError. A fixed count of small
                // (not preallocated) volumes leaves only the 1% threshold (`check_the_disk`).
                "-volume.max=200",
                "-master.volumeSizeLimitMB=256",
                "-master.telemetry=false",
                "-webdav=false",
                "-admin.ui=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
            ])
            .arg(format!(
                "-filer.localSocket={}",
                data.join("filer.sock").display()
            ))
            .arg(format!(
                "-s3.localSocket={}",
                data.join("s3.sock").display()
            ));
        for (flag, port) in PORT_FLAGS.iter().zip(&ports) {
            command.arg(format!("-{flag}={port}"));
        }
        let log = std::fs::File::create(data.join("weed.out"))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("running {}", weed.display()))?;
        let watchdog = spawn_watchdog(child.id(), &data, &ports)?;
        let server = SeaweedFs {
            child: Mutex::new(child),
            watchdog: Mutex::new(watchdog),
            data,
            s3_port,
            ports,
        };
        server.wait_until_ready(Duration::from_secs(60)).await?;
        Ok(server)
    }

    async fn wait_until_ready(&self, limit: Duration) -> Result<()> {
        let started = Instant::now();
        let client = custody_aws::s3::build_client(&S3Options {
            max_attempts: 1,
            ..self.s3_options("probe", Identity::Admin)
        })
        .await;
        loop {
            if let Some(status) = self.child.lock().expect("child lock").try_wait()? {
                bail!(
                    "weed exited with {status} before S3 answered; its log:\n{}",
                    self.log_tail()
                );
            }
            if client.list_buckets().send().await.is_ok() {
                return Ok(());
            }
            if started.elapsed() > limit {
                bail!(
                    "S3 on port {} did not answer within {limit:?}; weed's log:\n{}",
                    self.s3_port,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last lines of the server's output, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.data.join("weed.out")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    pub fn s3_options(&self, bucket: &str, identity: Identity) -> S3Options {
        S3Options {
            region: Some("us-east-1".into()),
            endpoint: Some(self.endpoint()),
            force_path_style: true,
            credentials: Some(StaticCredentials {
                access_key_id: identity.access_key_id().into(),
                secret_access_key: identity.secret_access_key().into(),
                session_token: None,
            }),
            ..S3Options::new(bucket)
        }
    }

    /// Connection settings for `bucket` as one of the extra identities.
    pub fn s3_options_for(&self, bucket: &str, identity: &IdentitySpec) -> S3Options {
        S3Options {
            credentials: Some(identity.credentials()),
            ..self.s3_options(bucket, Identity::Admin)
        }
    }

    /// The S3 adapter on `bucket` as the admin identity.
    pub async fn store(&self, bucket: &str) -> S3Store {
        self.store_as(bucket, Identity::Admin).await
    }

    pub async fn store_as(&self, bucket: &str, identity: Identity) -> S3Store {
        S3Store::connect(&self.s3_options(bucket, identity)).await
    }

    /// A raw SDK client as the admin identity, for test setup.
    pub async fn client(&self) -> aws_sdk_s3::Client {
        custody_aws::s3::build_client(&self.s3_options("", Identity::Admin)).await
    }

    /// Creates a bucket; Object Lock implies versioning.
    pub async fn create_bucket(&self, name: &str, spec: BucketSpec) -> Result<()> {
        let client = self.client().await;
        client
            .create_bucket()
            .bucket(name)
            .object_lock_enabled_for_bucket(spec.object_lock)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "CreateBucket {name}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
        if spec.versioned && !spec.object_lock {
            client
                .put_bucket_versioning()
                .bucket(name)
                .versioning_configuration(
                    aws_sdk_s3::types::VersioningConfiguration::builder()
                        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "PutBucketVersioning {name}: {}",
                        aws_sdk_s3::error::DisplayErrorContext(&e)
                    )
                })?;
        }
        Ok(())
    }

    /// A fresh export bucket `label` made as `export` and a fresh ledger bucket beside it (plain,
    /// as the template makes it): their names, (export, ledger).
    pub async fn export_and_ledger(
        &self,
        label: &str,
        export: BucketSpec,
    ) -> Result<(String, String)> {
        let export_name = crate::unique_bucket(label);
        let ledger_name = crate::unique_bucket(&format!("{label}-ledger"));
        self.create_bucket(&export_name, export).await?;
        self.create_bucket(&ledger_name, BucketSpec::default())
            .await?;
        Ok((export_name, ledger_name))
    }

    fn stop(&self) {
        let pid = self.child.lock().map(|c| c.id()).unwrap_or(0);
        if pid != 0 {
            signal_group(pid, "TERM");
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let exited = self
                    .child
                    .lock()
                    .map(|mut c| !matches!(c.try_wait(), Ok(None)))
                    .unwrap_or(true);
                if exited {
                    break;
                }
                if Instant::now() > deadline {
                    signal_group(pid, "KILL");
                    if let Ok(mut c) = self.child.lock() {
                        let _ = c.wait();
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if let Ok(mut watchdog) = self.watchdog.lock() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        let _ = std::fs::remove_dir_all(&self.data);
        remove_grpc_sockets(&self.ports);
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Distinct ports free right now (all held open until every one is picked).
fn free_ports(count: usize) -> Result<Vec<u16>> {
    let mut listeners = Vec::with_capacity(count);
    while listeners.len() < count {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let port = listener.local_addr()?.port();
        // weed derives nothing from these, but keep clear of ports whose +10000 overflows in
        // case a flag is ever dropped and a gRPC port defaults to port + 10000.
        if port < 55_000 {
            listeners.push(listener);
        }
    }
    Ok(listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()).unwrap_or(0))
        .collect())
}

/// The watchdog of the server `server_pid`: it also removes the data folder and the sockets.
fn spawn_watchdog(server_pid: u32, data: &Path, ports: &[u16]) -> Result<Child> {
    let sockets: Vec<String> = ports
        .iter()
        .flat_map(|port| grpc_socket_paths(*port))
        .map(|p| format!("'{}'", p.display()))
        .collect();
    let cleanup = format!("rm -rf '{}' {}", data.display(), sockets.join(" "));
    process_group::spawn_watchdog(server_pid, &cleanup, "SeaweedFS")
}

/// weed puts the unix sockets of its gRPC servers in /tmp, named after the gRPC port, whatever
/// TMPDIR says, and does not always remove them when it stops.
fn grpc_socket_paths(port: u16) -> impl Iterator<Item = PathBuf> {
    ["master", "volume", "filer", "s3", "admin"]
        .into_iter()
        .map(move |role| PathBuf::from(format!("/tmp/seaweedfs-{role}-grpc-{port}.sock")))
}

fn remove_grpc_sockets(ports: &[u16]) {
    for path in ports.iter().flat_map(|port| grpc_socket_paths(*port)) {
        let _ = std::fs::remove_file(path);
    }
}

/// Refuses to start a server on a disk (the one holding `folder`) under 1% free, and warns (on standard error, shown with a
/// failing test's output) under 2% or 2 GiB. SeaweedFS makes every volume read-only below 1% free
/// (`weed mini` has no flag to change that) and then answers each write with 500 InternalError
/// after a minute of failing to grow a volume: measured with this harness on a 1 GiB tmpfs with
/// 5 MiB free, one test took 242 s to fail, and a whole suite would run for hours.
fn check_the_disk(folder: &Path) -> Result<()> {
    let Ok(output) = Command::new("df").arg("-Pk").arg(folder).output() else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<&str> = text
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let (Some(total), Some(free)) = (
        fields.get(1).and_then(|f| f.parse::<u64>().ok()),
        fields.get(3).and_then(|f| f.parse::<u64>().ok()),
    ) else {
        return Ok(());
    };
    let said = format!(
        "{} MiB free of {} MiB on the disk of {}: SeaweedFS makes its volumes read-only below 1% \
         free and then answers every write with 500 InternalError",
        free / 1024,
        total / 1024,
        folder.display()
    );
    if free * 100 < total {
        bail!("{said}; free some space (or set TMPDIR to another disk)");
    }
    if free < 2 * 1024 * 1024 || free * 50 < total {
        eprintln!("warning: {said}");
    }
    Ok(())
}
