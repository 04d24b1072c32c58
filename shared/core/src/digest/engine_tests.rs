//! The engine's own logic (pinning, resume, retries, budget, batch isolation) against a small
//! in-memory store with injected faults. S3 behaviour itself is tested in `tests/tests/digest_*.rs`
//! against a real server.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream;
use md5::{Digest as _, Md5};

use super::*;
use crate::store::*;

#[derive(Clone)]
struct Version {
    id: String,
    body: Bytes,
    etag: String,
}

#[derive(Default)]
struct Faults {
    /// HEADs and GETs failing with a transient error before any byte, per key.
    transient_failures: BTreeMap<String, u32>,
    /// Object offsets at which a body covering them breaks off, per key (each used once).
    cuts: BTreeMap<String, Vec<u64>>,
    /// Serve this version id whatever was asked for.
    serve_version: Option<String>,
    /// Serve this ETag on GETs.
    serve_etag: Option<String>,
    /// Keys whose GETs are refused (not retryable).
    denied: Vec<String>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Vec<Version>>,
    faults: Faults,
    gets: Vec<(String, Option<String>, Option<ByteRange>)>,
    in_flight: usize,
    max_in_flight: usize,
}

#[derive(Clone, Default)]
struct TestStore {
    state: Arc<Mutex<State>>,
    chunk: usize,
    /// A pause before each chunk, so that concurrent reads overlap as on a network.
    chunk_delay: Option<Duration>,
}

impl TestStore {
    fn new(chunk: usize) -> Self {
        TestStore {
            state: Default::default(),
            chunk,
            chunk_delay: None,
        }
    }

    fn put_version(&self, key: &str, body: Vec<u8>) -> String {
        let mut state = self.state.lock().unwrap();
        let versions = state.objects.entry(key.to_string()).or_default();
        let id = format!("v{}", versions.len() + 1);
        versions.push(Version {
            id: id.clone(),
            etag: hex::encode(Md5::digest(&body)),
            body: body.into(),
        });
        id
    }

    fn version(&self, key: &str, version: Option<&str>) -> Result<Version, StoreError> {
        let state = self.state.lock().unwrap();
        let versions = state.objects.get(key);
        let found = match version {
            None => versions.and_then(|v| v.last()),
            Some(id) => versions.and_then(|v| v.iter().find(|v| v.id == id)),
        };
        found
            .cloned()
            .ok_or_else(|| StoreError::new(StoreErrorKind::NotFound, "GetObject", "no such key"))
    }

    fn take_transient(&self, key: &str, action: &'static str) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap();
        if let Some(left) = state.faults.transient_failures.get_mut(key)
            && *left > 0
        {
            *left -= 1;
            return Err(
                StoreError::new(StoreErrorKind::Transient, action, "SlowDown")
                    .with_code("SlowDown"),
            );
        }
        Ok(())
    }

    fn faults(&self, edit: impl FnOnce(&mut Faults)) {
        edit(&mut self.state.lock().unwrap().faults);
    }

    fn gets(&self) -> Vec<(String, Option<String>, Option<ByteRange>)> {
        self.state.lock().unwrap().gets.clone()
    }
}

struct InFlight(Arc<Mutex<State>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().unwrap().in_flight -= 1;
    }
}

#[async_trait]
impl StoreRead for TestStore {
    fn location(&self) -> String {
        "test://memory".into()
    }

    fn bucket(&self) -> &str {
        "memory"
    }

    async fn list(&self, _prefix: &str) -> Result<Vec<ObjectSummary>, StoreError> {
        unsupported("ListObjectsV2")
    }

    async fn head(&self, key: &str, version: Option<&str>) -> Result<ObjectHead, StoreError> {
        self.take_transient(key, "HeadObject")?;
        let found = self.version(key, version)?;
        Ok(ObjectHead {
            key: key.into(),
            version_id: Some(found.id),
            size: found.body.len() as u64,
            etag: found.etag,
            last_modified: None,
            content_type: None,
            metadata: Default::default(),
            checksum_sha256: None,
            parts_count: None,
            legal_hold: None,
            storage_class: None,
            encryption: None,
        })
    }

    async fn get(
        &self,
        key: &str,
        version: Option<&str>,
        range: Option<ByteRange>,
    ) -> Result<ObjectBody, StoreError> {
        self.state
            .lock()
            .unwrap()
            .gets
            .push((key.into(), version.map(String::from), range));
        self.take_transient(key, "GetObject")?;
        let (cut, serve_version, serve_etag, denied) = {
            let mut state = self.state.lock().unwrap();
            let (first, last) = range.map_or((0, u64::MAX), |r| (r.first, r.last));
            let cut = state.faults.cuts.get_mut(key).and_then(|cuts| {
                let at = cuts.iter().position(|c| (first..=last).contains(c))?;
                Some(cuts.remove(at) - first)
            });
            let f = &state.faults;
            (
                cut,
                f.serve_version.clone(),
                f.serve_etag.clone(),
                f.denied.iter().any(|d| d == key),
            )
        };
        if denied {
            return Err(
                StoreError::new(StoreErrorKind::AccessDenied, "GetObject", "denied").with_key(key),
            );
        }
        let found = self.version(key, version)?;
        let (first, last) = match range {
            Some(r) => (r.first as usize, r.last as usize + 1),
            None => (0, found.body.len()),
        };
        let body = found.body.slice(first..last);
        let content_length = body.len() as u64;
        let mut chunks: Vec<Result<Bytes, StoreError>> = body
            .chunks(self.chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        if let Some(cut) = cut {
            let mut kept = Vec::new();
            let mut sent = 0u64;
            for chunk in chunks.into_iter().map(Result::unwrap) {
                if sent + chunk.len() as u64 > cut {
                    kept.push(Ok(chunk.slice(..(cut - sent) as usize)));
                    kept.push(Err(StoreError::new(
                        StoreErrorKind::Transient,
                        "GetObject",
                        "connection reset",
                    )));
                    break;
                }
                sent += chunk.len() as u64;
                kept.push(Ok(chunk));
            }
            chunks = kept;
        }
        {
            let mut state = self.state.lock().unwrap();
            state.in_flight += 1;
            state.max_in_flight = state.max_in_flight.max(state.in_flight);
        }
        let guard = InFlight(self.state.clone());
        let delay = self.chunk_delay;
        let chunks = stream::iter(chunks).then(move |chunk| {
            let _ = &guard;
            async move {
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                chunk
            }
        });
        Ok(ObjectBody {
            version_id: Some(serve_version.unwrap_or(found.id)),
            content_length,
            etag: serve_etag.unwrap_or(found.etag),
            chunks: Box::pin(chunks),
        })
    }

    async fn bucket_config(&self) -> Result<BucketConfig, StoreError> {
        unsupported("GetBucketVersioning")
    }
}

use futures::StreamExt as _;

fn unsupported<T>(action: &'static str) -> Result<T, StoreError> {
    Err(StoreError::new(
        StoreErrorKind::InvalidRequest,
        action,
        "not supported by the test store",
    ))
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    }
}

fn options(part_size: u64) -> HashOptions {
    HashOptions {
        part_size,
        part_concurrency: 3,
        object_concurrency: 4,
        memory_budget: part_size * 4,
        verify_etag_md5: true,
        retry: fast_retries(),
    }
}

fn engine(store: &TestStore, options: HashOptions) -> DigestEngine {
    DigestEngine::new(Arc::new(store.clone()), options)
}

#[tokio::test]
async fn multipart_read_hashes_the_whole_object_in_order() {
    let store = TestStore::new(1000);
    let body = data(1_000_003, 1);
    let version = store.put_version("big", body.clone());
    let digest = engine(&store, options(64 * 1024))
        .hash_version("big", None)
        .await
        .unwrap();
    assert_eq!(digest.sha256_hex, sha256_hex(&body));
    assert_eq!(digest.version_id.as_deref(), Some(version.as_str()));
    assert_eq!(digest.size, body.len() as u64);
    assert_eq!(digest.etag_check, Check::Match);
    assert!(!digest.has_mismatch());
    let gets = store.gets();
    assert_eq!(gets.len(), 1_000_003usize.div_ceil(64 * 1024));
    assert!(
        gets.iter()
            .all(|(_, v, r)| v.as_deref() == Some("v1") && r.is_some())
    );
}

#[tokio::test]
async fn empty_and_small_objects_are_one_plain_get() {
    let store = TestStore::new(7);
    store.put_version("empty", Vec::new());
    store.put_version("small", data(100, 2));
    let engine = engine(&store, options(1024));
    let empty = engine.hash_version("empty", None).await.unwrap();
    assert_eq!(
        empty.sha256_hex,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let small = engine.hash_version("small", None).await.unwrap();
    assert_eq!(small.sha256_hex, sha256_hex(&data(100, 2)));
    assert!(store.gets().iter().all(|(_, _, range)| range.is_none()));
}

#[tokio::test]
async fn a_broken_body_resumes_from_its_offset_at_the_same_version() {
    let store = TestStore::new(4096);
    let v1 = data(300_000, 3);
    store.put_version("k", v1.clone());
    // The first part breaks twice (at 5000, then at 5100 in the resumed GET), the third once.
    store.faults(|f| {
        f.cuts.insert("k".into(), vec![5000, 5100, 250_000]);
    });
    let digest = engine(&store, options(100_000))
        .hash_version("k", None)
        .await
        .unwrap();
    assert_eq!(digest.sha256_hex, sha256_hex(&v1));
    assert_eq!(digest.retries, 3);
    let gets = store.gets();
    assert!(gets.iter().all(|(_, v, _)| v.as_deref() == Some("v1")));
    // The resumed GETs start where the broken ones stopped.
    let first_part = gets
        .iter()
        .filter(|(_, _, r)| r.is_some_and(|r| r.last == 99_999))
        .map(|(_, _, r)| r.unwrap().first)
        .collect::<Vec<_>>();
    assert_eq!(first_part, [0, 5000, 5100]);
    let third_part = gets
        .iter()
        .filter(|(_, _, r)| r.is_some_and(|r| r.last == 299_999))
        .map(|(_, _, r)| r.unwrap().first)
        .collect::<Vec<_>>();
    assert_eq!(third_part, [200_000, 250_000]);

    // A single whole-object GET resumes with a range.
    let store = TestStore::new(1000);
    store.put_version("w", v1.clone());
    store.faults(|f| {
        f.cuts.insert("w".into(), vec![12_345]);
    });
    let digest = engine(&store, options(1 << 20))
        .hash_version("w", None)
        .await
        .unwrap();
    assert_eq!(digest.sha256_hex, sha256_hex(&v1));
    let ranges: Vec<Option<ByteRange>> = store.gets().into_iter().map(|(_, _, r)| r).collect();
    assert_eq!(
        ranges,
        [
            None,
            Some(ByteRange {
                first: 12_345,
                last: 299_999
            })
        ]
    );
}

#[tokio::test]
async fn a_newer_version_written_meanwhile_is_never_read() {
    let store = TestStore::new(1000);
    let v1 = data(50_000, 4);
    store.put_version("k", v1.clone());
    let engine = engine(&store, options(8192));
    let head = store.head("k", None).await.unwrap();
    store.put_version("k", data(50_000, 5));
    let digest = engine
        .hash_version("k", head.version_id.as_deref())
        .await
        .unwrap();
    assert_eq!(digest.sha256_hex, sha256_hex(&v1));
    assert!(
        store
            .gets()
            .iter()
            .all(|(_, v, _)| v.as_deref() == Some("v1"))
    );
}

#[tokio::test]
async fn a_body_of_another_version_or_etag_is_refused() {
    let store = TestStore::new(1000);
    store.put_version("k", data(10_000, 6));
    store.faults(|f| f.serve_version = Some("v9".into()));
    let error = engine(&store, options(4096))
        .hash_version("k", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, DigestError::VersionChanged { served: Some(v), .. } if v == "v9"),
        "{error}"
    );
    assert!(error.to_string().contains("\"k\""));

    let store = TestStore::new(1000);
    store.put_version("k", data(10_000, 6));
    store.faults(|f| f.serve_etag = Some("0123".into()));
    let error = engine(&store, options(4096))
        .hash_version("k", None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, DigestError::ContentChanged { .. }),
        "{error}"
    );

    let error = engine(&store, options(4096))
        .hash_version("k", Some("v7"))
        .await
        .unwrap_err();
    assert!(
        matches!(error.store_error(), Some(e) if e.kind == StoreErrorKind::NotFound),
        "{error}"
    );
}

#[tokio::test]
async fn transient_errors_are_retried_then_given_up() {
    let store = TestStore::new(1000);
    let body = data(20_000, 7);
    store.put_version("k", body.clone());
    store.faults(|f| {
        f.transient_failures.insert("k".into(), 3);
    });
    let digest = engine(&store, options(1 << 20))
        .hash_version("k", None)
        .await
        .unwrap();
    assert_eq!(digest.sha256_hex, sha256_hex(&body));
    assert_eq!(digest.retries, 3);

    store.faults(|f| {
        f.transient_failures.insert("k".into(), 100);
    });
    let error = engine(&store, options(1 << 20))
        .hash_version("k", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, DigestError::Store { attempts: 4, source } if source.is_retryable()),
        "{error}"
    );
}

#[tokio::test]
async fn one_bad_item_never_stops_the_others_and_results_keep_item_order() {
    let store = TestStore::new(512);
    let bodies: Vec<Vec<u8>> = (0..20).map(|i| data(1000 + i * 3000, i as u8)).collect();
    for (i, body) in bodies.iter().enumerate() {
        store.put_version(&format!("obj/{i}"), body.clone());
    }
    store.faults(|f| f.denied.push("obj/5".into()));
    let mut items: Vec<HashItem> = (0..20)
        .map(|i| HashItem::from(format!("obj/{i}")))
        .collect();
    items.insert(10, HashItem::from("missing"));
    let results = engine(&store, options(16 * 1024)).hash_many(items).await;
    assert_eq!(results.len(), 21);
    for (i, result) in results.iter().enumerate() {
        match i {
            5 => assert!(matches!(result, Err(e) if e.key() == "obj/5"
                    && e.store_error().unwrap().kind == StoreErrorKind::AccessDenied)),
            10 => assert!(matches!(result, Err(e) if e.key() == "missing")),
            _ => {
                let n = if i < 10 { i } else { i - 1 };
                let digest = result.as_ref().unwrap();
                assert_eq!(digest.key, format!("obj/{n}"));
                assert_eq!(digest.sha256_hex, sha256_hex(&bodies[n]));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn buffered_bytes_stay_within_the_budget() {
    let mut store = TestStore::new(1024);
    store.chunk_delay = Some(Duration::from_micros(200));
    for i in 0..6 {
        store.put_version(&format!("o{i}"), data(12 * 16 * 1024, i));
    }
    let part = 16 * 1024;
    let budget_parts = 3;
    let options = HashOptions {
        part_size: part,
        part_concurrency: 8,
        object_concurrency: 6,
        memory_budget: part * budget_parts,
        verify_etag_md5: false,
        retry: fast_retries(),
    };
    let results = engine(&store, options)
        .hash_many((0..6).map(|i| HashItem::from(format!("o{i}"))))
        .await;
    assert!(results.iter().all(Result::is_ok));
    // Every open body holds a part's budget, so no more than the budget's parts are ever open.
    let max = store.state.lock().unwrap().max_in_flight;
    assert!(max <= budget_parts as usize, "{max} bodies open at once");
    assert!(max >= 2, "parts were never fetched concurrently");
}

#[tokio::test]
async fn a_head_the_caller_made_pins_the_version_without_another_head() {
    let store = TestStore::new(1000);
    let v1 = data(40_000, 9);
    store.put_version("k", v1.clone());
    let head = store.head("k", None).await.unwrap();
    store.put_version("k", data(40_000, 10));
    let digest = engine(&store, options(1 << 20))
        .hash_head(head)
        .await
        .unwrap();
    assert_eq!(digest.version_id.as_deref(), Some("v1"));
    assert_eq!(digest.sha256_hex, sha256_hex(&v1));
    assert_eq!(digest.etag_check, Check::Match);
    assert_eq!(store.gets().len(), 1);
}
