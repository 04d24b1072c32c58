//! Multipart ETags and composite checksums recomputed from the parts, against real multipart
//! uploads on a real S3-compatible server (SeaweedFS on 127.0.0.1): equal parts with a shorter
//! last part, unequal parts, a corrupted stored value found as a mismatch, and an object whose
//! part sizes cannot be told staying `not comparable`.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use custody_core::digest::{Check, CrossCheck, DigestEngine, HashOptions, RetryPolicy, sha256_hex};
use custody_core::store::*;
use custody_tests::watched::WatchedStore;
use custody_tests::{SeaweedFs, unique_bucket};

const MIB: usize = 1024 * 1024;

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed) ^ (i >> 13) as u8)
        .collect()
}

fn options(verify_etag_md5: bool) -> HashOptions {
    HashOptions {
        part_size: 2 * MIB as u64,
        part_concurrency: 2,
        object_concurrency: 2,
        memory_budget: 8 * MIB as u64,
        verify_etag_md5,
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
    }
}

/// Uploads `body` as a multipart upload cut at `sizes`; the SDK's default checksum behaviour
/// (whatever it sends with each part) is kept, as an exporter's upload would.
async fn upload(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: &[u8],
    sizes: &[usize],
) {
    assert_eq!(sizes.iter().sum::<usize>(), body.len());
    let upload = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap().to_string();
    let mut parts = Vec::new();
    let mut first = 0;
    for (n, size) in sizes.iter().enumerate() {
        let part = client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .part_number(n as i32 + 1)
            .body(Bytes::copy_from_slice(&body[first..first + size]).into())
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n as i32 + 1)
                .set_e_tag(part.e_tag().map(String::from))
                .set_checksum_crc32(part.checksum_crc32().map(String::from))
                .set_checksum_crc32_c(part.checksum_crc32_c().map(String::from))
                .build(),
        );
        first += size;
    }
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn bucket(server: &SeaweedFs, label: &str) -> (String, Arc<dyn ObjectStore>) {
    let name = unique_bucket(label);
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
    (name.clone(), Arc::new(server.store(&name).await))
}

#[tokio::test]
async fn multipart_values_are_recomputed_from_the_part_sizes_the_store_tells() {
    let server = SeaweedFs::shared().await;
    let (name, store) = bucket(server, "mp-layouts").await;
    let client = server.client().await;
    let layouts: [(&str, Vec<usize>); 2] = [
        // What the SDKs and the CLI upload: equal parts and a shorter last one.
        ("equal.wav", vec![5 * MIB, 5 * MIB, MIB + 12_345]),
        // Any other layout: the sizes come from the store, not from a guess.
        ("unequal.wav", vec![6 * MIB, 5 * MIB, 7 * MIB, 333]),
    ];
    let engine = DigestEngine::new(store.clone(), options(true));
    for (i, (key, sizes)) in layouts.iter().enumerate() {
        let body = data(sizes.iter().sum(), i as u8);
        upload(&client, &name, key, &body, sizes).await;
        let head = store.head(key, None).await.unwrap();
        assert!(
            head.etag.ends_with(&format!("-{}", sizes.len())),
            "{key}: {head:?}"
        );
        let digest = engine.hash_version(key, None).await.unwrap();
        assert_eq!(digest.sha256_hex, sha256_hex(&body), "{key}");
        match &digest.cross_check {
            CrossCheck::StoredChecksum { .. } => {
                // A full-object checksum (cheaper) is stored: nothing multipart to recompute.
                assert_eq!(digest.checksum_check, Check::Match, "{key}");
            }
            CrossCheck::CompositeChecksum { parts, .. } => {
                assert_eq!(*parts as usize, sizes.len());
                assert_eq!(digest.checksum_check, Check::Match, "{key}: {digest:?}");
            }
            CrossCheck::MultipartEtag { parts } => {
                assert_eq!(*parts as usize, sizes.len());
                assert_eq!(digest.etag_check, Check::Match, "{key}: {digest:?}");
            }
            other => panic!("{key}: {other}"),
        }
        assert!(!digest.has_mismatch(), "{:?}", digest.findings());
    }
}

#[tokio::test]
async fn a_wrong_multipart_etag_is_a_mismatch_and_unknown_part_sizes_are_not_comparable() {
    let server = SeaweedFs::shared().await;
    let (name, store) = bucket(server, "mp-findings").await;
    let client = server.client().await;
    let sizes = [5 * MIB, 5 * MIB, 77_777];
    let body = data(sizes.iter().sum(), 9);
    upload(&client, &name, "rec.wav", &body, &sizes).await;
    let real = store.head("rec.wav", None).await.unwrap().etag;

    // The real multipart ETag, recomputed.
    // Only the multipart ETag is left to compare with.
    let plain = WatchedStore::new(store.clone()).without_checksums();
    let digest = DigestEngine::new(Arc::new(plain), options(true))
        .hash_version("rec.wav", None)
        .await
        .unwrap();
    assert_eq!(digest.cross_check, CrossCheck::MultipartEtag { parts: 3 });
    assert_eq!(digest.etag_check, Check::Match, "{digest:?}");

    // A stored ETag that the content does not hash to: a finding naming both values.
    let wrong = format!("{}-3", "0".repeat(32));
    let corrupted = WatchedStore::new(store.clone())
        .without_checksums()
        .serving_etag(&wrong);
    let digest = DigestEngine::new(Arc::new(corrupted), options(true))
        .hash_version("rec.wav", None)
        .await
        .unwrap();
    assert!(
        matches!(&digest.etag_check, Check::Mismatch { expected, actual }
            if *expected == wrong && *actual == real),
        "{digest:?}"
    );
    assert!(digest.has_mismatch());

    // Part sizes the store cannot tell: not comparable, as before, and why.
    let silent = WatchedStore::new(store.clone())
        .without_checksums()
        .without_part_sizes();
    let digest = DigestEngine::new(Arc::new(silent), options(true))
        .hash_version("rec.wav", None)
        .await
        .unwrap();
    assert!(
        matches!(&digest.cross_check, CrossCheck::NotComparable(why)
            if why.contains("cannot tell the part sizes")),
        "{}",
        digest.cross_check
    );
    assert!(!digest.has_mismatch());
    assert_eq!(digest.sha256_hex, sha256_hex(&body));
}
