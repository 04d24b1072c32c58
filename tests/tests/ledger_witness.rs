//! The witness (issue 14, item 5): an operator holding the signing key forks the ledger (two
//! histories, each correctly signed) and shows each to someone. The witness cosigns the history
//! it saw first and refuses the fork; an auditor who requires the witness's cosignature refuses
//! the forked ledger even when the witness's cosigned checkpoints are copied beside it.

mod ledger_common;

use custody_core::ledger::cosignature::WitnessSigner;
use custody_core::ledger::witness::{WitnessError, WitnessVerdict, check_witnessed, witness};
use custody_core::ledger::{Ledger, Signer, TrustedKeys};
use ledger_common::*;

async fn append(ledger: &Ledger, writer: &str, range: std::ops::Range<usize>) {
    ledger.append(records(writer, range)).await.unwrap();
}

#[tokio::test]
async fn a_forked_history_is_refused_a_cosignature_and_refused_by_the_auditor() {
    let signer = Signer::generate(ORIGIN).unwrap();
    let keys = TrustedKeys::new(vec![signer.verifier_key()]);
    let w = WitnessSigner::generate("witness.test/w1").unwrap();
    let honest_dir = tempfile::tempdir().unwrap();
    let fork_dir = tempfile::tempdir().unwrap();
    let honest = open(folder_store(honest_dir.path()), &signer).await;
    let fork = open(folder_store(fork_dir.path()), &signer).await;
    // The same first two blocks in both.
    for ledger in [&honest, &fork] {
        append(ledger, "w", 0..4).await;
        append(ledger, "w", 4..8).await;
    }

    // The witness starts on the shared history.
    let first = witness(&honest, &keys, &w, None, 1_000).await.unwrap();
    assert_eq!(
        (first.size, first.previous, first.already_published),
        (8, None, false)
    );

    // The histories diverge: the operator appends other records to the copy it shows others.
    append(&honest, "w", 8..12).await;
    append(&fork, "mallory", 8..12).await;
    let second = witness(&honest, &keys, &w, Some(&first.cosigned), 2_000)
        .await
        .unwrap();
    assert_eq!((second.size, second.previous), (12, Some(8)));

    // Shown the fork, the witness refuses: same size, another root.
    match witness(&fork, &keys, &w, Some(&second.cosigned), 3_000).await {
        Err(WitnessError::Refused(why)) => assert!(why.contains("fork"), "{why}"),
        other => panic!("the fork was not refused: {other:?}"),
    }
    // Grown past the state, the fork still does not extend it.
    append(&fork, "mallory", 12..16).await;
    match witness(&fork, &keys, &w, Some(&second.cosigned), 3_000).await {
        Err(WitnessError::Refused(why)) => assert!(why.contains("fork"), "{why}"),
        other => panic!("the fork was not refused: {other:?}"),
    }

    // Auditors: the honest ledger is witnessed; the fork is not, even with the witness's
    // cosignatures of the honest history copied beside it.
    let wk = w.verifier();
    assert_eq!(
        check_witnessed(&honest, &keys, &wk).await.unwrap(),
        WitnessVerdict::Witnessed {
            size: 12,
            time: 2_000,
            newest: 12
        }
    );
    assert!(matches!(
        check_witnessed(&fork, &keys, &wk).await.unwrap(),
        WitnessVerdict::NotWitnessed(_)
    ));
    let layout = honest.layout();
    for size in [8u64, 12] {
        let key = layout.cosignature(wk.key_id(), size);
        let from = honest_dir.path().join(&key);
        let to = fork_dir.path().join(&key);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
    match check_witnessed(&fork, &keys, &wk).await.unwrap() {
        WitnessVerdict::Contradicted(why) => assert!(why.contains("does not extend"), "{why}"),
        other => panic!("the fork passed the witness check: {other:?}"),
    }

    // A state that is not this witness's cosignature is not believed.
    let other = WitnessSigner::generate("witness.test/w1").unwrap();
    assert!(matches!(
        witness(&honest, &keys, &other, Some(&second.cosigned), 4_000).await,
        Err(WitnessError::State(_))
    ));
    // Nor a ledger signed by another key than the one the witness was given.
    let stranger = TrustedKeys::new(vec![Signer::generate(ORIGIN).unwrap().verifier_key()]);
    assert!(matches!(
        witness(&honest, &stranger, &w, None, 4_000).await,
        Err(WitnessError::Refused(_))
    ));
}
