//! A fault-injecting TCP proxy between custody and an S3-compatible server, both on 127.0.0.1:
//! the failures S3 and its networks really produce, at a rate, from a seed.
//!
//! A fault is drawn for each request (a chunk from the client that starts with an HTTP method
//! after the previous answer began; the SDK never pipelines), and for a fault the connection is
//! closed after it, as a real reset or an error answer with `Connection: close` would:
//!
//! | fault | what the client sees |
//! |---|---|
//! | `Reset` | the connection closes before any answer (a reset; the request may not have arrived) |
//! | `SlowDown` | `HTTP/1.1 503` with an S3 `SlowDown` error body, then the connection closes |
//! | `InternalError` | `HTTP/1.1 500` with an S3 `InternalError` error body, then close |
//! | `CutAfter(n)` | the server's answer stops after `n` bytes (a reset mid-body, or an answer lost after the server acted) |
//! | `Latency(d)` | the connection is forwarded after `d` |
//!
//! The proxy stops when dropped. It is bytes in, bytes out: it never parses or changes a request,
//! so signatures stay valid.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What happens to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionFault {
    Reset,
    SlowDown,
    InternalError,
    CutAfter(usize),
    Latency(Duration),
}

/// Counts of what the proxy did.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Requests seen.
    pub connections: AtomicUsize,
    pub faults: AtomicUsize,
}

pub struct FaultProxy {
    address: SocketAddr,
    pub stats: Arc<ProxyStats>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The seeded draw of a fault for each request.
struct FaultDraw {
    seed: u64,
    rate: f64,
    draws: AtomicU64,
    stats: Arc<ProxyStats>,
}

impl FaultDraw {
    fn draw(&self) -> Option<ConnectionFault> {
        let n = self.draws.fetch_add(1, Ordering::SeqCst);
        let fault = pick(
            splitmix64(self.seed ^ n.wrapping_mul(0x2545_F491_4F6C_DD1D)),
            self.rate,
        );
        self.stats.connections.fetch_add(1, Ordering::SeqCst);
        if fault.is_some_and(|f| !matches!(f, ConnectionFault::Latency(_))) {
            self.stats.faults.fetch_add(1, Ordering::SeqCst);
        }
        fault
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl FaultProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream` (an `http://host:port`
    /// endpoint), faulting `rate` of the connections.
    pub async fn start(upstream: &str, rate: f64, seed: u64) -> std::io::Result<FaultProxy> {
        let target: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let stats = Arc::new(ProxyStats::default());
        let faults = Arc::new(FaultDraw {
            seed,
            rate,
            draws: AtomicU64::new(0),
            stats: stats.clone(),
        });
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(client, target, faults.clone()));
            }
        });
        Ok(FaultProxy {
            address,
            stats,
            task,
        })
    }

    /// The endpoint to give the client: `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn faults(&self) -> usize {
        self.stats.faults.load(Ordering::SeqCst)
    }
}

/// `rate` of the connections get one of the four faults; another `rate` get latency.
fn pick(draw: u64, rate: f64) -> Option<ConnectionFault> {
    let unit = (draw >> 11) as f64 / (1u64 << 53) as f64;
    if unit < rate {
        let which = (draw % 4) as u8;
        Some(match which {
            0 => ConnectionFault::Reset,
            1 => ConnectionFault::SlowDown,
            2 => ConnectionFault::InternalError,
            _ => ConnectionFault::CutAfter(200 + (draw >> 8) as usize % 8000),
        })
    } else if unit < 2.0 * rate {
        Some(ConnectionFault::Latency(Duration::from_millis(
            20 + (draw >> 16) % 200,
        )))
    } else {
        None
    }
}

fn s3_error(status: &str, code: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected by the fault proxy</Message><RequestId>fault</RequestId></Error>"
    );
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Whether a chunk from the client starts a request (the SDK never pipelines: a new request
/// starts only after the previous answer).
fn starts_request(chunk: &[u8]) -> bool {
    ["GET ", "PUT ", "HEAD ", "POST ", "DELETE "]
        .iter()
        .any(|m| chunk.starts_with(m.as_bytes()))
}

/// Forwards one connection, drawing a fault for each request it carries.
async fn serve(client: TcpStream, target: SocketAddr, faults: Arc<FaultDraw>) {
    let Ok(upstream) = TcpStream::connect(target).await else {
        return;
    };
    let (mut client_read, client_write) = client.into_split();
    let (mut up_read, mut up_write) = upstream.into_split();
    let client_write = Arc::new(tokio::sync::Mutex::new(client_write));
    let sent = Arc::new(AtomicUsize::new(0));
    let cut_at = Arc::new(AtomicUsize::new(usize::MAX));
    let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let upward = {
        let (client_write, sent, cut_at, closed) = (
            client_write.clone(),
            sent.clone(),
            cut_at.clone(),
            closed.clone(),
        );
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let mut answered_since_request = true;
            let mut sent_at_request = 0;
            loop {
                let n = match client_read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let now_sent = sent.load(Ordering::SeqCst);
                if now_sent > sent_at_request {
                    answered_since_request = true;
                }
                if answered_since_request && starts_request(&buf[..n]) {
                    answered_since_request = false;
                    sent_at_request = now_sent;
                    match faults.draw() {
                        Some(ConnectionFault::Reset) => break,
                        Some(f @ (ConnectionFault::SlowDown | ConnectionFault::InternalError)) => {
                            let answer = if f == ConnectionFault::SlowDown {
                                s3_error("503 Slow Down", "SlowDown")
                            } else {
                                s3_error("500 Internal Server Error", "InternalError")
                            };
                            let mut w = client_write.lock().await;
                            let _ = w.write_all(&answer).await;
                            break;
                        }
                        Some(ConnectionFault::CutAfter(k)) => {
                            cut_at.store(now_sent + k, Ordering::SeqCst);
                        }
                        Some(ConnectionFault::Latency(d)) => tokio::time::sleep(d).await,
                        None => {}
                    }
                }
                if up_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            closed.store(true, Ordering::SeqCst);
            let _ = up_write.shutdown().await;
        })
    };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match up_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if closed.load(Ordering::SeqCst) {
            break;
        }
        let before = sent.load(Ordering::SeqCst);
        let limit = cut_at.load(Ordering::SeqCst);
        let mut w = client_write.lock().await;
        if before + n >= limit {
            let _ = w.write_all(&buf[..limit.saturating_sub(before)]).await;
            break;
        }
        if w.write_all(&buf[..n]).await.is_err() {
            break;
        }
        sent.fetch_add(n, Ordering::SeqCst);
    }
    upward.abort();
    let mut w = client_write.lock().await;
    let _ = w.shutdown().await;
}
