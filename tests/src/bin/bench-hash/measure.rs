//! What every section measures with: reproducible bytes, CPU seconds per process, rates, best-of-N.

use super::*;

/// Incompressible, reproducible bytes (xorshift64*), fast enough to generate gigabytes.
pub(crate) fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// CPU time of processes, from `/proc/<pid>/stat`.
pub(crate) struct Cpu {
    pub(crate) pids: Vec<u32>,
}

impl Cpu {
    /// The SeaweedFS processes serving `endpoint` (found by their `-s3.port=` argument).
    pub(crate) fn server(endpoint: &str) -> Cpu {
        let port = endpoint.rsplit(':').next().unwrap_or_default();
        let flag = format!("-s3.port={port}");
        let pids = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|cmd| cmd.split(|b| *b == 0).any(|arg| arg == flag.as_bytes()))
                    .unwrap_or(false)
            })
            .collect();
        Cpu { pids }
    }

    pub(crate) fn seconds(&self) -> f64 {
        self.pids
            .iter()
            .map(|pid| cpu_seconds(&pid.to_string(), false))
            .sum()
    }

    /// This process plus its waited-for children.
    pub(crate) fn this_process() -> f64 {
        cpu_seconds("self", true)
    }
}

pub(crate) fn cpu_seconds(pid: &str, with_children: bool) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<f64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // utime, stime, cutime, cstime are fields 14..=17, i.e. indexes 11..=14 here.
    let ticks = fields.get(11).unwrap_or(&0.0)
        + fields.get(12).unwrap_or(&0.0)
        + if with_children {
            fields.get(13).unwrap_or(&0.0) + fields.get(14).unwrap_or(&0.0)
        } else {
            0.0
        };
    ticks / clock_ticks_per_second()
}

pub(crate) fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

pub(crate) fn rate(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / elapsed.as_secs_f64()
}

pub(crate) fn best_of(runs: usize, mut measure: impl FnMut() -> f64) -> f64 {
    (0..runs).map(|_| measure()).fold(0.0, f64::max)
}

/// Runs one measurement, with the CPU this process and the server used meanwhile.
pub(crate) async fn measure(
    server: &Cpu,
    run: impl std::future::Future<Output = Result<Measured>>,
) -> Result<Measured> {
    let (client_before, server_before) = (Cpu::this_process(), server.seconds());
    let mut m = run.await?;
    m.client_cpu = Cpu::this_process() - client_before;
    m.server_cpu = server.seconds() - server_before;
    Ok(m)
}
