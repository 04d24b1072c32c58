//! One file per command (or per part of one).

pub mod demo;
pub mod doctor;
pub mod index;
pub mod ingest;
pub mod ingest_report;
pub mod integrate;
pub mod query;
pub mod release;
pub mod verify_checks;
pub mod witness;
