//! A TCP proxy in front of the test server that flips one bit in the middle of the body of every
//! successful GET response (`200` or `206`) it relays: the bytes a client reads then disagree with
//! every value the server stored about them (ETag, checksums), as after storage corruption or a
//! tampered copy behind a gateway. HEAD answers and every header pass unchanged.
//!
//! HTTP/1.1 as the SDK speaks it to the server: one request at a time per connection, request
//! heads without bodies (HEAD and GET only through this proxy), responses framed by
//! `Content-Length` (a chunked response fails the test loudly rather than pass unaltered).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The proxy; see the module documentation.
pub struct CorruptingProxy {
    address: String,
    corrupted: Arc<AtomicUsize>,
}

impl CorruptingProxy {
    pub async fn start(upstream: String) -> CorruptingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let corrupted = Arc::new(AtomicUsize::new(0));
        let counter = corrupted.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(&upstream).await.unwrap();
                tokio::spawn(relay(client, server, counter.clone()));
            }
        });
        CorruptingProxy { address, corrupted }
    }

    /// The endpoint to give the client: `http://127.0.0.1:<port>`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Response bodies altered so far.
    pub fn corrupted(&self) -> usize {
        self.corrupted.load(Ordering::SeqCst)
    }
}

async fn relay(client: TcpStream, server: TcpStream, corrupted: Arc<AtomicUsize>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // The method of each request forwarded, in order: its response is the next one.
    let methods = Arc::new(Mutex::new(VecDeque::<String>::new()));
    let requests = methods.clone();
    let upstream = tokio::spawn(async move {
        let mut buffer = vec![0u8; 64 * 1024];
        let mut pending = Vec::new();
        loop {
            let n = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buffer[..n]);
            while let Some(end) = find_head_end(&pending) {
                let head = String::from_utf8_lossy(&pending[..end]).to_string();
                let method = head.split(' ').next().unwrap_or_default().to_string();
                requests.lock().unwrap().push_back(method);
                pending.drain(..end + 4);
            }
            if server_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
    });
    let mut responses = Responses {
        methods,
        head: Vec::new(),
        body_left: 0,
        flip_when_left: None,
        corrupted,
    };
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match server_read.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut out = Vec::with_capacity(n);
        responses.relay(&buffer[..n], &mut out);
        if client_write.write_all(&out).await.is_err() {
            break;
        }
    }
    upstream.abort();
}

/// The response direction of one connection, parsed as it passes.
struct Responses {
    methods: Arc<Mutex<VecDeque<String>>>,
    /// The head of the next response, as far as it has arrived.
    head: Vec<u8>,
    /// Body bytes of the current response still to relay.
    body_left: usize,
    /// The bit to flip, counted as body bytes left when it passes.
    flip_when_left: Option<usize>,
    corrupted: Arc<AtomicUsize>,
}

impl Responses {
    fn relay(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            if self.body_left > 0 {
                let take = self.body_left.min(input.len());
                let start = out.len();
                out.extend_from_slice(&input[..take]);
                if let Some(at) = self.flip_when_left
                    && at > self.body_left - take
                {
                    out[start + (self.body_left - at)] ^= 0x01;
                    self.flip_when_left = None;
                    self.corrupted.fetch_add(1, Ordering::SeqCst);
                }
                self.body_left -= take;
                input = &input[take..];
                continue;
            }
            let before = self.head.len();
            self.head.extend_from_slice(input);
            let Some(end) = find_head_end(&self.head) else {
                return;
            };
            // The head ends in this input (it did not end in what came before).
            input = &input[end + 4 - before..];
            self.head.truncate(end + 4);
            let text = String::from_utf8_lossy(&self.head[..end]).to_string();
            let method = self.methods.lock().unwrap().pop_front().unwrap_or_default();
            let (status, length) = parse_response_head(&text);
            let has_body = method != "HEAD" && status != 204 && status != 304;
            self.body_left = if has_body { length } else { 0 };
            self.flip_when_left =
                (method == "GET" && (status == 200 || status == 206) && length > 0)
                    .then(|| length - length / 2);
            out.append(&mut self.head);
        }
    }
}

fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n")
}

/// The status code and `Content-Length` of a response head.
fn parse_response_head(head: &str) -> (u16, usize) {
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let mut length = 0;
    for line in lines {
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        assert!(
            !lower.starts_with("transfer-encoding:"),
            "the corrupting proxy relays only Content-Length responses, got: {line}"
        );
    }
    (status, length)
}
