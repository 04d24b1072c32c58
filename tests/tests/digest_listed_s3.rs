//! Hashing what a listing (or a record) already describes, against a real S3-compatible server
//! (SeaweedFS on 127.0.0.1), every request seen by a recording proxy: a small listed object is
//! one GET pinned with `versionId` and `If-Match` (no HEAD), and an object changed since the
//! listing is reported as changed (`412 Precondition Failed`), never hashed.

use std::sync::Arc;
use std::time::Duration;

use custody_aws::s3::{S3Options, S3Store};
use custody_core::digest::{Check, sha256_hex};
use custody_core::digest::{
    CrossCheck, DigestEngine, DigestError, HashItem, HashOptions, RetryPolicy,
};
use custody_core::store::*;
use custody_tests::cutting_proxy::CuttingProxy;
use custody_tests::{Identity, SeaweedFs, unique_bucket};

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

fn options(part_size: u64) -> HashOptions {
    HashOptions {
        part_size,
        part_concurrency: 2,
        object_concurrency: 4,
        memory_budget: part_size * 4,
        verify_etag_md5: true,
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
    }
}

/// A bucket, a store on it, and a store on it through a recording proxy.
async fn bucket(
    server: &SeaweedFs,
    label: &str,
    versioned: bool,
) -> (Arc<dyn ObjectStore>, Arc<dyn ObjectStore>, CuttingProxy) {
    let name = unique_bucket(label);
    server
        .create_bucket(
            &name,
            BucketSpec {
                versioned,
                object_lock: false,
            },
        )
        .await
        .unwrap();
    let direct: Arc<dyn ObjectStore> = Arc::new(server.store(&name).await);
    let upstream = server.endpoint().trim_start_matches("http://").to_string();
    let proxy = CuttingProxy::start(upstream, 0, usize::MAX).await;
    let through: Arc<dyn ObjectStore> = Arc::new(
        S3Store::connect(&S3Options {
            endpoint: Some(proxy.address().to_string()),
            max_attempts: 1,
            ..server.s3_options(&name, Identity::Admin)
        })
        .await,
    );
    (direct, through, proxy)
}

async fn put(store: &Arc<dyn ObjectStore>, key: &str, body: Vec<u8>) -> Option<String> {
    match store.put(PutRequest::new(key, body)).await.unwrap() {
        PutOutcome::Created { version_id, .. } => version_id,
        PutOutcome::AlreadyExists => panic!("unconditional put refused"),
    }
}

/// Requests on object keys under `prefix` (bucket-level calls left out).
fn object_requests(proxy: &CuttingProxy, prefix: &str) -> Vec<String> {
    proxy
        .requests()
        .into_iter()
        .filter(|head| head.contains(&format!("/{prefix}")))
        .collect()
}

#[tokio::test]
async fn a_listed_small_object_is_one_get_pinned_by_version_and_if_match() {
    let server = SeaweedFs::shared().await;
    let (direct, through, proxy) = bucket(server, "listed-one-get", true).await;
    let bodies: Vec<Vec<u8>> = (0..3).map(|i| data(5_000 + 700 * i, i as u8)).collect();
    let mut versions = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let version = put(&direct, &format!("rec/{i}.json"), body.clone()).await;
        versions.push(version.expect("versioned bucket"));
    }
    let listed = direct.list("rec/").await.unwrap();
    assert_eq!(listed.len(), 3);
    let items: Vec<HashItem> = listed
        .iter()
        .zip(&versions)
        .map(|(o, v)| HashItem::new(o.key.clone(), Some(v.clone())).listed(&o.etag, o.size))
        .collect();

    let engine = DigestEngine::new(through, options(1024 * 1024));
    let results = engine.hash_many(items).await;
    for ((result, body), version) in results.into_iter().zip(&bodies).zip(&versions) {
        let digest = result.unwrap();
        assert_eq!(digest.sha256_hex, sha256_hex(body));
        assert_eq!(digest.version_id.as_deref(), Some(version.as_str()));
        // The GET's headers describe the object as HEAD does: the same cross-check is made.
        let head = direct.head(&digest.key, Some(version)).await.unwrap();
        assert_eq!(digest.head.size, head.size);
        assert_eq!(digest.head.etag, head.etag);
        assert_eq!(digest.head.checksum, head.checksum, "{}", digest.key);
        assert!(
            !matches!(digest.cross_check, CrossCheck::NotComparable(_)),
            "{}: {}",
            digest.key,
            digest.cross_check
        );
        assert!(!digest.has_mismatch(), "{:?}", digest.findings());
        assert!(
            digest.checksum_check == Check::Match || digest.etag_check == Check::Match,
            "{digest:?}"
        );
    }

    let requests = object_requests(&proxy, "rec/");
    assert_eq!(requests.len(), 3, "one request per object: {requests:#?}");
    for (request, (object, version)) in requests.iter().zip(listed.iter().zip(&versions)) {
        assert!(request.starts_with("GET "), "{request}");
        assert!(
            request.contains(&format!("versionId={version}")),
            "{request}"
        );
        assert!(
            request
                .to_ascii_lowercase()
                .contains(&format!("if-match: \"{}\"", object.etag)),
            "{request}"
        );
    }
}

#[tokio::test]
async fn an_object_changed_since_the_listing_is_reported_as_changed_not_hashed() {
    let server = SeaweedFs::shared().await;
    let (direct, through, proxy) = bucket(server, "listed-changed", false).await;
    put(&direct, "rec/a.json", data(4_000, 1)).await;
    put(&direct, "rec/big.wav", data(600_000, 2)).await;
    let listed = direct.list("rec/").await.unwrap();
    // Both overwritten after the listing.
    put(&direct, "rec/a.json", data(4_000, 3)).await;
    put(&direct, "rec/big.wav", data(600_000, 4)).await;

    let engine = DigestEngine::new(through, options(128 * 1024));
    let items: Vec<HashItem> = listed
        .iter()
        .map(|o| HashItem::from(o.key.as_str()).listed(&o.etag, o.size))
        .collect();
    let results = engine.hash_many(items).await;
    for (result, object) in results.iter().zip(&listed) {
        let error = result.as_ref().unwrap_err();
        assert!(
            matches!(error, DigestError::ChangedSinceListed { listed_etag, .. } if *listed_etag == object.etag),
            "{}: {error}",
            object.key
        );
        assert!(error.is_changed_object());
        assert!(
            error.to_string().contains("changed since it was listed"),
            "{error}"
        );
    }
    // The small one: one GET refused (412) and nothing else; the large one: HEAD saw the new
    // ETag and no GET followed.
    let small = object_requests(&proxy, "rec/a.json");
    assert_eq!(small.len(), 1, "{small:#?}");
    assert!(small[0].starts_with("GET ") && small[0].to_ascii_lowercase().contains("if-match:"));
    let large = object_requests(&proxy, "rec/big.wav");
    assert_eq!(large.len(), 1, "{large:#?}");
    assert!(large[0].starts_with("HEAD "), "{large:#?}");

    // Listed again, both hash to their new content.
    let relisted = direct.list("rec/").await.unwrap();
    let results = engine
        .hash_many(
            relisted
                .iter()
                .map(|o| HashItem::from(o.key.as_str()).listed(&o.etag, o.size)),
        )
        .await;
    assert_eq!(
        results[0].as_ref().unwrap().sha256_hex,
        sha256_hex(&data(4_000, 3))
    );
    assert_eq!(
        results[1].as_ref().unwrap().sha256_hex,
        sha256_hex(&data(600_000, 4))
    );
}

#[tokio::test]
async fn a_listed_size_that_was_too_small_still_hashes_the_whole_object_in_parts() {
    // A record that understated the size: the one GET's headers say the truth, and the object
    // is read in parts pinned by what that GET said.
    let server = SeaweedFs::shared().await;
    let (direct, through, _proxy) = bucket(server, "listed-size", true).await;
    let body = data(700_000, 5);
    let version = put(&direct, "rec.opus", body.clone()).await;
    let head = direct.head("rec.opus", version.as_deref()).await.unwrap();
    let item = HashItem::new("rec.opus", version).listed(&head.etag, 10);
    let digest = DigestEngine::new(through, options(128 * 1024))
        .hash_item(&item)
        .await
        .unwrap();
    assert_eq!(digest.sha256_hex, sha256_hex(&body));
    assert_eq!(digest.size, body.len() as u64);
}
