//! Released holds stay released: before marking, the run looks up, for each present object and
//! each matter that would hold it, whether the ledger holds a `hold_released` record of that
//! version for that matter. Such a record's identity is predictable (event, object version,
//! matter: `ledger::identity`), so the lookup is one index read per (object, matter), and only
//! when the policy names matters.

use std::collections::BTreeSet;

use crate::export::Discovery;
use crate::hold::{HoldPolicy, Selection};
use crate::ledger::{
    CustodyRecord, EventKind, How, Ledger, LedgerError, Outcome, What, Why, fact_identity,
};

/// The (key, matter) pairs of `discovery` that the ledger says were released.
pub async fn released_holds(
    ledger: &Ledger,
    policy: &HoldPolicy,
    bucket: &str,
    discovery: &Discovery,
) -> Result<BTreeSet<(String, String)>, LedgerError> {
    let mut released = BTreeSet::new();
    for object in &discovery.objects {
        let Some(head) = object.head() else { continue };
        let mut matters = match (&policy.selection, object.conversation_id.as_deref()) {
            (Selection::Matters(register), Some(c)) => register.matters_for(c),
            _ => Vec::new(),
        };
        matters.extend(policy.default_matter.clone());
        for matter in matters {
            let probe = CustodyRecord::new(
                EventKind::HoldReleased,
                chrono::Utc::now(),
                Default::default(),
                What {
                    bucket: bucket.to_string(),
                    key: object.key.clone(),
                    version_id: head.version_id.clone(),
                    ..Default::default()
                },
                Default::default(),
                Why {
                    matter: Some(matter.clone()),
                    ..Default::default()
                },
                How::default(),
                Outcome::default(),
            );
            if ledger.locate(&fact_identity(&probe)).await?.is_some() {
                released.insert((object.key.clone(), matter));
            }
        }
    }
    Ok(released)
}
