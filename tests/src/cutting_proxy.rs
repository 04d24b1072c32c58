//! A TCP proxy in front of the test server that records the request heads it forwards (request
//! line, `Range`, `If-Match`) and can cut the first connections after some bytes of response:
//! what the engine asked for, request by request, and bodies broken mid-stream.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy in front of the server. It cuts the first `cuts` connections once they have
/// carried `cut_after` bytes of response, and records the request heads it forwards.
pub struct CuttingProxy {
    address: String,
    requests: Arc<Mutex<Vec<String>>>,
    cut: Arc<AtomicUsize>,
}

impl CuttingProxy {
    pub async fn start(upstream: String, cuts: usize, cut_after: usize) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let cut = Arc::new(AtomicUsize::new(0));
        let (log, counter) = (requests.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(&upstream).await.unwrap();
                let cut_this = counter.load(Ordering::SeqCst) < cuts;
                tokio::spawn(relay(
                    client,
                    server,
                    cut_this.then_some(cut_after),
                    log.clone(),
                    counter.clone(),
                ));
            }
        });
        CuttingProxy {
            address,
            requests,
            cut,
        }
    }

    /// The endpoint to give the client: `http://127.0.0.1:<port>`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Connections cut so far.
    pub fn cuts(&self) -> usize {
        self.cut.load(Ordering::SeqCst)
    }

    /// Every request head forwarded: the request line, `Range` and `If-Match` headers.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// The request line, `Range` and `If-Match` headers of every GET of `key` forwarded (bucket-level GETs,
    /// such as the adapter's `?versioning`, are left out).
    pub fn gets(&self, key: &str) -> Vec<String> {
        let object = format!("/{key}?");
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|head| head.starts_with("GET ") && head.contains(&object))
            .cloned()
            .collect()
    }
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    cut_after: Option<usize>,
    log: Arc<Mutex<Vec<String>>>,
    cuts_done: Arc<AtomicUsize>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = tokio::spawn(async move {
        let mut buffer = vec![0u8; 64 * 1024];
        let mut pending = String::new();
        loop {
            let n = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // Requests through this proxy carry no bodies (HEAD and GET): only request heads.
            pending.push_str(&String::from_utf8_lossy(&buffer[..n]));
            while let Some(end) = pending.find("\r\n\r\n") {
                let head: String = pending[..end]
                    .lines()
                    .filter(|line| {
                        line.starts_with("GET ")
                            || line.starts_with("HEAD ")
                            || line.to_ascii_lowercase().starts_with("range:")
                            || line.to_ascii_lowercase().starts_with("if-match:")
                    })
                    .collect::<Vec<_>>()
                    .join(" | ");
                log.lock().unwrap().push(head);
                pending.drain(..end + 4);
            }
            if server_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
    });
    let mut buffer = vec![0u8; 64 * 1024];
    let mut sent = 0usize;
    loop {
        let n = match server_read.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(limit) = cut_after
            && sent + n >= limit
        {
            let _ = client_write.write_all(&buffer[..limit - sent]).await;
            cuts_done.fetch_add(1, Ordering::SeqCst);
            break;
        }
        sent += n;
        if client_write.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    upstream.abort();
}
