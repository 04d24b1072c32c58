//! Bytes that disagree with what the store recorded about them are a mismatch finding naming
//! both values, on every read path, never a store error: a proxy in front of SeaweedFS flips one
//! bit in the middle of every GET body, as storage corruption or a tampered copy would.
//!
//! The paths: a listed small object (one `If-Match` GET with checksum mode, whose body the SDK
//! would validate itself unless told not to), a small object by key (HEAD, then GET) and a large
//! object by key (HEAD, then ranged GETs). SeaweedFS stores the CRC32 the SDK sends with each
//! PutObject, so the cross-check is the stored full-object CRC32.

use std::sync::Arc;
use std::time::Duration;

use custody_aws::s3::{S3Options, S3Store};
use custody_core::digest::{
    Check, CrossCheck, DigestEngine, HashItem, HashOptions, RetryPolicy, sha256_hex,
};
use custody_core::store::*;
use custody_tests::corrupting_proxy::CorruptingProxy;
use custody_tests::{Identity, SeaweedFs, unique_bucket};

const PART: u64 = 1024 * 1024;

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed) ^ (i >> 10) as u8)
        .collect()
}

fn options() -> HashOptions {
    HashOptions {
        part_size: PART,
        part_concurrency: 2,
        object_concurrency: 4,
        memory_budget: PART * 4,
        verify_etag_md5: true,
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
    }
}

#[tokio::test]
async fn corrupted_bytes_are_a_mismatch_naming_the_stored_and_computed_values_on_every_path() {
    let server = SeaweedFs::shared().await;
    let name = unique_bucket("corrupted");
    server
        .create_bucket(
            &name,
            BucketSpec {
                versioned: true,
                object_lock: false,
            },
        )
        .await
        .unwrap();
    let direct: Arc<dyn ObjectStore> = Arc::new(server.store(&name).await);
    let upstream = server.endpoint().trim_start_matches("http://").to_string();
    let proxy = CorruptingProxy::start(upstream).await;
    let through: Arc<dyn ObjectStore> = Arc::new(
        S3Store::connect(&S3Options {
            endpoint: Some(proxy.address().to_string()),
            ..server.s3_options(&name, Identity::Admin)
        })
        .await,
    );

    let objects = [
        ("listed/small.wav", data(6_000, 1)),
        ("bykey/small.wav", data(9_000, 2)),
        ("bykey/large.wav", data(3 * PART as usize + 12_345, 3)),
    ];
    for (key, body) in &objects {
        direct
            .put(PutRequest::new(*key, body.clone()))
            .await
            .unwrap();
    }
    let listed = direct.list("listed/").await.unwrap();
    assert_eq!(listed.len(), 1);
    let items = vec![
        HashItem::from(listed[0].key.clone()).listed(&listed[0].etag, listed[0].size),
        HashItem::from("bykey/small.wav"),
        HashItem::from("bykey/large.wav"),
    ];

    // Read directly, every object matches what the store holds (the control).
    let clean = DigestEngine::new(direct.clone(), options())
        .hash_many(items.clone())
        .await;
    for ((key, body), result) in objects.iter().zip(clean) {
        let digest = result.unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(digest.sha256_hex, sha256_hex(body), "{key}");
        assert_eq!(digest.checksum_check, Check::Match, "{key}");
    }

    let results = DigestEngine::new(through, options()).hash_many(items).await;
    for ((key, body), result) in objects.iter().zip(results) {
        let digest = result.unwrap_or_else(|e| panic!("{key}: a store error, not a finding: {e}"));
        let stored = direct.head(key, None).await.unwrap();
        let Some(StoredChecksum::FullObject { algorithm, base64 }) = stored.checksum.clone() else {
            panic!("{key}: SeaweedFS stored no full-object checksum: {stored:?}");
        };
        assert_eq!(
            digest.cross_check,
            CrossCheck::StoredChecksum {
                algorithm: algorithm.name().to_string()
            },
            "{key}"
        );
        // The content read is not the content stored: its SHA-256 says so, and the comparison
        // with the stored checksum is a mismatch that names the stored value and the computed one.
        assert_ne!(
            digest.sha256_hex,
            sha256_hex(body),
            "{key}: the proxy altered nothing"
        );
        match &digest.checksum_check {
            Check::Mismatch { expected, actual } => {
                assert_eq!(expected, &base64, "{key}: the stored value");
                assert_ne!(actual, expected, "{key}");
            }
            other => panic!("{key}: expected a mismatch, got {other:?}"),
        }
        assert!(digest.has_mismatch(), "{key}");
        let findings = digest.findings();
        assert_eq!(findings.len(), 1, "{key}: {findings:?}");
        assert!(
            findings[0].contains(key) && findings[0].contains(&base64),
            "{key}: {findings:?}"
        );
        assert_eq!(
            digest.retries, 0,
            "{key}: a mismatch is not retried as an error"
        );
    }
    // One altered body per small object, one per ranged part of the large one (4 parts).
    assert_eq!(proxy.corrupted(), 1 + 1 + 4);
}
