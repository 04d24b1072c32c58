//! The folder store's own rules: generations, collection, adoption, concurrent writers.

use super::*;

fn generations(store: &FsStore, key: &str) -> usize {
    fs::read_dir(store.inner.key_dir(key))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".data"))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn an_unversioned_overwrite_keeps_only_the_newest_generation() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::create(dir.path(), BucketSpec::default()).unwrap();
    for body in ["one", "two", "three"] {
        let outcome = store.put(PutRequest::new("k.json", body)).await.unwrap();
        assert!(matches!(
            outcome,
            PutOutcome::Created {
                version_id: None,
                ..
            }
        ));
    }
    assert_eq!(generations(&store, "k.json"), 1);
    assert_eq!(store.get_bytes("k.json", None).await.unwrap(), "three");
    assert_eq!(fs::read(dir.path().join("k.json")).unwrap(), b"three");
}

fn files_named(store: &FsStore, key: &str, wanted: impl Fn(&str) -> bool) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(store.inner.key_dir(key))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| wanted(n))
        .collect();
    names.sort();
    names
}

/// Writes a generation's content and facts the way a put does, without publishing it.
fn write_unpublished(store: &FsStore, key: &str, body: &[u8]) -> String {
    let folder = &store.inner;
    let dir = folder.prepare_key_dir("PutObject", key).unwrap();
    let generation = new_generation_id();
    fs::write(dir.join(format!("{generation}.data")), body).unwrap();
    let facts = GenerationFacts {
        size: body.len() as u64,
        etag: hex::encode(Md5::digest(body)),
        last_modified: Utc::now(),
        content_type: None,
        metadata: BTreeMap::new(),
        checksum_sha256: None,
        checksum_crc64nvme: None,
        parts_count: None,
        null_version: false,
    };
    fs::write(
        dir.join(format!("{generation}.json")),
        serde_json::to_vec(&facts).unwrap(),
    )
    .unwrap();
    generation
}

fn age(path: &Path) {
    let old = SystemTime::now() - ABANDONED_AFTER - Duration::from_secs(60);
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(old)
        .unwrap();
}

#[tokio::test]
async fn a_put_leaves_another_writers_unpublished_generation_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::create(dir.path(), BucketSpec::default()).unwrap();
    // Older id than the put below: the old collector removed it because of that.
    let pending = write_unpublished(&store, "k", b"slow writer");
    store
        .put(PutRequest::new("k", "fast writer"))
        .await
        .unwrap();
    assert!(
        store
            .inner
            .key_dir("k")
            .join(format!("{pending}.data"))
            .exists()
    );
    let published = store
        .inner
        .publish("PutObject", "k", &pending, PutCondition::None)
        .unwrap();
    assert!(published);
    assert_eq!(store.get_bytes("k", None).await.unwrap(), "slow writer");
    assert_eq!(generations(&store, "k"), 1);
}

#[tokio::test]
async fn concurrent_unversioned_puts_leave_one_generation_and_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::create(dir.path(), BucketSpec::default()).unwrap();
    let puts = (0..16).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let body = format!("writer {i}").repeat(1000);
            store.put(PutRequest::new("k", body)).await
        })
    });
    for put in futures::future::join_all(puts).await {
        put.unwrap().unwrap();
    }
    let left = files_named(&store, "k", |n| n != "key.txt");
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(left.iter().any(|n| n.ends_with(".data")));
    assert!(left.iter().any(|n| n.ends_with(".json")));
    assert!(left.iter().any(|n| n.ends_with(FINISHED)));
    let head = store.head("k", None).await.unwrap();
    let body = store.get_bytes("k", None).await.unwrap();
    assert_eq!(head.etag, hex::encode(Md5::digest(&body)));
}

#[tokio::test]
async fn abandoned_generations_and_staged_files_are_collected_fresh_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::create(dir.path(), BucketSpec::default()).unwrap();
    let abandoned = write_unpublished(&store, "k", b"crashed writer");
    let key_dir = store.inner.key_dir("k");
    age(&key_dir.join(format!("{abandoned}.data")));
    age(&key_dir.join(format!("{abandoned}.json")));
    let old_staged = key_dir.join(format!("{STAGING_PREFIX}0000000000000001"));
    fs::write(&old_staged, b"half").unwrap();
    age(&old_staged);
    let fresh_staged = key_dir.join(format!("{STAGING_PREFIX}0000000000000002"));
    fs::write(&fresh_staged, b"being written").unwrap();
    let running = write_unpublished(&store, "k", b"running writer");

    store.put(PutRequest::new("k", "now")).await.unwrap();

    assert!(!key_dir.join(format!("{abandoned}.data")).exists());
    assert!(!key_dir.join(format!("{abandoned}.json")).exists());
    assert!(!old_staged.exists());
    assert!(fresh_staged.exists());
    assert!(key_dir.join(format!("{running}.data")).exists());
}

#[tokio::test]
async fn concurrent_taggers_of_a_plain_file_adopt_one_generation() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("call.opus"), b"downloaded export").unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    let taggers = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let tags = [Tag::new("writer", i.to_string())];
            store.put_tags("call.opus", None, &tags).await
        })
    });
    for tagger in futures::future::join_all(taggers).await {
        tagger.unwrap().unwrap();
    }
    assert_eq!(generations(&store, "call.opus"), 1);
    let tags = store.get_tags("call.opus", None).await.unwrap();
    assert_eq!(tags.len(), 1, "{tags:?}");
    assert_eq!(
        store.get_bytes("call.opus", None).await.unwrap(),
        "downloaded export"
    );
}

#[tokio::test]
async fn an_adopted_file_in_a_versioned_folder_keeps_version_null() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("old.opus"), b"before versioning").unwrap();
    let store = FsStore::create(
        dir.path(),
        BucketSpec {
            versioned: true,
            object_lock: true,
        },
    )
    .unwrap();
    let head = store.head("old.opus", None).await.unwrap();
    assert_eq!(head.version_id.as_deref(), Some("null"));
    store
        .put_legal_hold("old.opus", Some("null"), true)
        .await
        .unwrap();
    let head = store.head("old.opus", Some("null")).await.unwrap();
    assert_eq!(head.version_id.as_deref(), Some("null"));
    assert_eq!(head.legal_hold, Some(true));
    let PutOutcome::Created { version_id, .. } = store
        .put(PutRequest::new("old.opus", "after"))
        .await
        .unwrap()
    else {
        panic!("put reported AlreadyExists")
    };
    assert_ne!(version_id.as_deref(), Some("null"));
    assert_eq!(
        store.get_bytes("old.opus", Some("null")).await.unwrap(),
        "before versioning"
    );
    assert_eq!(
        store
            .head("old.opus", Some("null"))
            .await
            .unwrap()
            .legal_hold,
        Some(true)
    );
    assert_eq!(store.get_bytes("old.opus", None).await.unwrap(), "after");
}

#[tokio::test]
async fn keys_that_cannot_be_paths_are_refused_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::create(dir.path(), BucketSpec::default()).unwrap();
    for key in [
        "",
        "a//b",
        "../escape",
        "a/./b",
        "trailing/",
        ".custody-store/config.json",
    ] {
        let error = store.put(PutRequest::new(key, "x")).await.unwrap_err();
        assert_eq!(
            error.kind,
            StoreErrorKind::InvalidRequest,
            "{key:?}: {error}"
        );
        assert_eq!(error.key.as_deref(), Some(key));
    }
    store.put(PutRequest::new("a", "x")).await.unwrap();
    let error = store.put(PutRequest::new("a/b", "y")).await.unwrap_err();
    assert_eq!(error.kind, StoreErrorKind::InvalidRequest, "{error}");
    assert!(!dir.path().join("..").join("escape").exists());
}

#[tokio::test]
async fn a_reader_keeps_the_version_it_opened_across_an_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::create(dir.path(), BucketSpec::default()).unwrap();
    store
        .put(PutRequest::new("k", "first content"))
        .await
        .unwrap();
    let body = store.get("k", None, None).await.unwrap();
    store.put(PutRequest::new("k", "second")).await.unwrap();
    assert_eq!(body.etag, hex::encode(Md5::digest(b"first content")));
    assert_eq!(body.collect().await.unwrap(), "first content");
}

#[test]
fn generation_ids_are_time_ordered_and_recognised() {
    let first = new_generation_id();
    std::thread::sleep(std::time::Duration::from_millis(1));
    let second = new_generation_id();
    assert!(is_generation_id(&first) && is_generation_id(&second));
    assert!(first < second);
    assert!(!is_generation_id("null"));
    assert!(!is_generation_id("../../../../etc/passwd"));
}

#[tokio::test]
async fn a_plain_file_is_read_once_for_its_etag_and_checksum_until_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("org")).unwrap();
    let path = dir.path().join("org/a.opus");
    fs::write(&path, b"first content").unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    let listed = store.list("org/").await.unwrap();
    let head = store.head("org/a.opus", None).await.unwrap();
    let body = store.get_bytes("org/a.opus", None).await.unwrap();
    store.head("org/a.opus", None).await.unwrap();
    assert_eq!(&body[..], b"first content");
    assert_eq!(
        store.content_reads(),
        1,
        "list, HEAD and GET share one read"
    );
    assert_eq!(listed[0].etag, hex::encode(Md5::digest(b"first content")));
    assert_eq!(head.etag, listed[0].etag);
    let crc = crc64nvme_base64(crc_fast::crc64_nvme(b"first content"));
    assert_eq!(
        head.checksum,
        Some(StoredChecksum::FullObject {
            algorithm: ChecksumAlgorithm::Crc64Nvme,
            base64: crc.clone()
        })
    );
    assert_eq!(head.checksum_sha256, None);
    // Not a byte was written into the folder by reading it.
    assert!(!dir.path().join(SIDECAR).exists());

    // Rewritten in place, same length: read again, new facts.
    fs::write(&path, b"other content").unwrap();
    let head = store.head("org/a.opus", None).await.unwrap();
    assert_eq!(store.content_reads(), 2);
    assert_eq!(head.etag, hex::encode(Md5::digest(b"other content")));

    // Adoption keeps the facts beside the data; another store value reads nothing for them.
    store
        .put_tags("org/a.opus", None, &[Tag::new("legal-hold", "true")])
        .await
        .unwrap();
    let reopened = FsStore::open(dir.path()).unwrap();
    let adopted = reopened.head("org/a.opus", None).await.unwrap();
    reopened.list("org/").await.unwrap();
    assert_eq!(reopened.content_reads(), 0);
    assert_eq!(adopted.etag, head.etag);
    assert_eq!(adopted.checksum, head.checksum);
}

#[tokio::test]
async fn writes_and_copies_keep_the_crc64nvme_of_their_content() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::create(dir.path(), BucketSpec::default()).unwrap();
    let body = vec![7u8; 3 * 1024 * 1024 + 5];
    store.put(PutRequest::new("k", body.clone())).await.unwrap();
    let expected = Some(StoredChecksum::FullObject {
        algorithm: ChecksumAlgorithm::Crc64Nvme,
        base64: crc64nvme_base64(crc_fast::crc64_nvme(&body)),
    });
    assert_eq!(store.head("k", None).await.unwrap().checksum, expected);
    let copied = store
        .copy_in_place(&CopyInPlace {
            key: "k".into(),
            version_id: None,
            metadata: BTreeMap::new(),
            multipart_threshold: 1024 * 1024,
            part_size: 1024 * 1024,
        })
        .await
        .unwrap();
    assert!(copied.multipart);
    // A multipart copy with CRC64NVME stores a full-object checksum, as S3 does.
    assert_eq!(store.head("k", None).await.unwrap().checksum, expected);
    assert_eq!(store.content_reads(), 0);
}
