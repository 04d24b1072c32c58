//! Legal hold: which exported objects are under hold (the [`HoldPolicy`]), how each one is
//! marked (tags, user metadata by an in-place copy, Object Lock legal hold), and the typed
//! account of what happened to every object ([`ObjectOutcome`]), ready to become custody records.
//!
//! ## Order of the marking steps, and the version each lands on
//!
//! For one object pinned at version `V0` (the exported version found at discovery):
//!
//! 1. **Metadata** (when configured and not already present): `CopyObject` of `V0` onto the same
//!    key with the old user metadata plus `legal-hold`, `legal-hold-matter`,
//!    `legal-hold-applied-at` and `legal-hold-source-version` (= `V0`). On a versioned bucket this
//!    creates `V1`; the SHA-256 of `V0` and `V1` are compared to prove the content did not change.
//!    The copy goes first because tags and the legal hold belong to one version: they must land on
//!    the version that stays current.
//! 2. **Tags** on the *marked version*: `V1` when step 1 made a copy, else `V0`.
//! 3. **Object Lock legal hold ON** on the marked version, last, once nothing else will write it.
//!
//! When the key got a newer version `V2` during processing (someone overwrote the export), the
//! copy is skipped (copying `V0` would make the old content current again above `V2`); tags and
//! the legal hold go on `V0` itself, and `V2` is reported as [`Finding::Overwritten`].
//! A later run that finds `V1` (its `legal-hold-source-version` names `V0`) recognises its own
//! copy and changes nothing.

mod content;
mod context;
mod copy_claim;
mod engine;
mod finding;
mod marking;
mod outcome;
mod policy;
mod register;
mod steps;

pub use content::content_sha256;
pub use context::RunContext;
pub use copy_claim::{Claim, CopyClaims};
pub use engine::*;
pub use finding::Finding;
pub use marking::*;
pub use outcome::*;
pub use policy::*;
pub use register::*;
