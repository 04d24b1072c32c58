//! The memory store's own behaviour: versions, tags, holds, create-only puts, multipart copies.
use super::*;

#[tokio::test]
async fn versions_tags_holds_and_create_only_puts() {
    let store = MemoryStore::new(
        "b",
        BucketSpec {
            versioned: true,
            object_lock: true,
        },
    );
    let first = store.put(PutRequest::new("k", "one")).await.unwrap();
    let PutOutcome::Created { version_id, etag } = first else {
        panic!("created")
    };
    assert_eq!(etag, hex::encode(Md5::digest(b"one")));
    assert_eq!(
        store
            .put(PutRequest::new("k", "two").create_only())
            .await
            .unwrap(),
        PutOutcome::AlreadyExists
    );
    store.put(PutRequest::new("k", "three")).await.unwrap();
    let old = store.get_bytes("k", version_id.as_deref()).await.unwrap();
    assert_eq!(&old[..], b"one");
    assert_eq!(&store.get_bytes("k", None).await.unwrap()[..], b"three");
    store
        .put_tags("k", version_id.as_deref(), &[Tag::new("hold", "M-1")])
        .await
        .unwrap();
    store
        .put_legal_hold("k", version_id.as_deref(), true)
        .await
        .unwrap();
    let head = store.head("k", version_id.as_deref()).await.unwrap();
    assert_eq!(head.legal_hold, Some(true));
    assert_eq!(store.head("k", None).await.unwrap().legal_hold, Some(false));
    assert_eq!(store.versions("k").len(), 2);
    let too_many: Vec<Tag> = (0..11).map(|i| Tag::new(format!("t{i}"), "v")).collect();
    assert!(store.put_tags("k", None, &too_many).await.is_err());
}

#[tokio::test]
async fn a_multipart_copy_gets_an_s3_style_etag_and_keeps_the_bytes() {
    let store = MemoryStore::new("b", BucketSpec::default());
    let body = vec![7u8; 11 * 1024 * 1024];
    store
        .put(PutRequest::new("big", body.clone()))
        .await
        .unwrap();
    let copy = store
        .copy_in_place(&CopyInPlace {
            key: "big".into(),
            version_id: None,
            metadata: [("legal-hold".to_string(), "true".to_string())].into(),
            multipart_threshold: 1,
            part_size: 5 * 1024 * 1024,
        })
        .await
        .unwrap();
    assert!(copy.multipart && copy.etag.ends_with("-3"), "{copy:?}");
    assert_eq!(copy.version_id, None);
    assert_eq!(
        store.get_bytes("big", None).await.unwrap().len(),
        body.len()
    );
    let head = store.head("big", None).await.unwrap();
    assert_eq!(head.metadata["legal-hold"], "true");
    let range = store
        .get("big", None, Some(ByteRange { first: 5, last: 9 }))
        .await
        .unwrap();
    assert_eq!(range.content_length, 5);
}
