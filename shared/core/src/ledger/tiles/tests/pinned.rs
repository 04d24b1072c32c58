use std::sync::Arc;

use crate::ledger::block::{BlockView, build_block};
use crate::ledger::checkpoint::Checkpoint;
use crate::ledger::keys::{Signer, TrustedKeys};
use crate::ledger::layout::Layout;
use crate::ledger::log::{Ledger, LedgerConfig};
use crate::ledger::tiles::{PinnedVerdict, TilesError, catch_up, check_pinned, level_width};
use crate::store::faulty::FaultyStore;
use crate::store::{PutRequest, StoreWrite};

use super::{Chain, ORIGIN, memory};

async fn ledger_of(chain: &Chain, upto: usize, publish: bool) -> (Ledger, Arc<FaultyStore>) {
    let layout = Layout::new("ledger");
    let store = Arc::new(FaultyStore::new(memory()));
    for b in &chain.blocks[..upto] {
        let request = PutRequest::new(layout.block(b.header.index), b.bytes.clone()).create_only();
        store.put(request).await.unwrap();
    }
    let ledger = Ledger::open(store.clone(), "ledger", LedgerConfig::new(ORIGIN), None)
        .await
        .unwrap();
    if publish {
        catch_up(&ledger).await.unwrap();
    }
    (ledger, store)
}

fn checkpoint_of(chain: &Chain, block: usize) -> Checkpoint {
    let view = BlockView::parse(&chain.blocks[block].bytes).unwrap();
    Checkpoint::parse(view.note).unwrap()
}

#[tokio::test]
async fn a_pinned_checkpoint_is_checked_with_a_few_reads() {
    let chain = Chain::random(21, 20_000, 2_000);
    let trusted = TrustedKeys::new(vec![chain.signer.verifier_key()]);
    let count = chain.blocks.len();
    let (ledger, store) = ledger_of(&chain, count, true).await;
    let n = chain.size();
    let levels = (0..8u8).take_while(|&l| level_width(l, n) > 0).count() as u64;
    for k in [0, count / 2, count - 2, count - 1] {
        let pinned = checkpoint_of(&chain, k);
        let gets = store.calls("GetObject");
        let verdict = check_pinned(&ledger, &pinned, &trusted).await.unwrap();
        let PinnedVerdict::Consistent {
            newest,
            block,
            proof,
        } = verdict
        else {
            panic!("block {k}: {verdict:?}");
        };
        assert_eq!((newest.size, block), (n, count as u64 - 1));
        assert!(proof.reads <= 2 * levels, "{} reads", proof.reads);
        // The head (its index found by HEADs), the checkpoint object, and the proof's tiles.
        let made = (store.calls("GetObject") - gets) as u64;
        assert!(made <= 3 + proof.reads, "{made} GETs");
    }
}

#[tokio::test]
async fn truncation_forks_and_untrusted_checkpoints_are_named() {
    let chain = Chain::random(22, 3_000, 400);
    let trusted = TrustedKeys::new(vec![chain.signer.verifier_key()]);
    let count = chain.blocks.len();

    // The ledger lost its last two blocks: the newest block's checkpoint pinned is beyond it.
    let (short, _) = ledger_of(&chain, count - 2, true).await;
    let pinned = checkpoint_of(&chain, count - 1);
    let verdict = check_pinned(&short, &pinned, &trusted).await.unwrap();
    let expected = PinnedVerdict::Truncated {
        pinned: chain.size(),
        size: chain.blocks[count - 3].header.tree_size,
    };
    assert_eq!(verdict, expected);

    // A checkpoint signed by the same key over other records at a size the ledger has passed.
    let (ledger, _) = ledger_of(&chain, count, true).await;
    let other = b"{\"other\":true}".to_vec();
    let fork = build_block(
        &chain.blocks[0].tip_after,
        &[other],
        ORIGIN,
        &chain.signer,
        "2024-05-01T10:00:00.000Z",
    )
    .unwrap();
    let forked = Checkpoint::parse(BlockView::parse(&fork.bytes).unwrap().note).unwrap();
    let verdict = check_pinned(&ledger, &forked, &trusted).await.unwrap();
    assert!(
        matches!(verdict, PinnedVerdict::Forked { pinned, size } if pinned == forked.size && size == chain.size()),
        "{verdict:?}"
    );

    // A pinned checkpoint no trusted key signed.
    let stranger = Signer::generate(ORIGIN).unwrap();
    let pinned = checkpoint_of(&chain, 1);
    let foreign = Checkpoint::sign(ORIGIN, pinned.size, pinned.root, &stranger).unwrap();
    let verdict = check_pinned(&ledger, &foreign, &trusted).await.unwrap();
    assert!(
        matches!(verdict, PinnedVerdict::PinnedRefused(_)),
        "{verdict:?}"
    );

    // The ledger re-signed by a key not trusted.
    let verdict = check_pinned(
        &ledger,
        &foreign,
        &TrustedKeys::new(vec![stranger.verifier_key()]),
    )
    .await
    .unwrap();
    assert!(
        matches!(verdict, PinnedVerdict::NewestRefused { block, .. } if block == count as u64 - 1),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn tiles_behind_the_newest_block_are_said_so_not_judged() {
    let chain = Chain::random(23, 1_000, 200);
    let trusted = TrustedKeys::new(vec![chain.signer.verifier_key()]);
    let count = chain.blocks.len();
    let (ledger, store) = ledger_of(&chain, count - 1, true).await;
    let last = &chain.blocks[count - 1];
    let layout = Layout::new("ledger");
    let request =
        PutRequest::new(layout.block(last.header.index), last.bytes.clone()).create_only();
    store.put(request).await.unwrap();
    let pinned = checkpoint_of(&chain, 0);
    let err = check_pinned(&ledger, &pinned, &trusted).await.unwrap_err();
    assert!(
        matches!(err, TilesError::NotPublished { tree_size, .. } if tree_size == chain.size()),
        "{err}"
    );
    catch_up(&ledger).await.unwrap();
    let verdict = check_pinned(&ledger, &pinned, &trusted).await.unwrap();
    assert!(
        matches!(verdict, PinnedVerdict::Consistent { .. }),
        "{verdict:?}"
    );
}
