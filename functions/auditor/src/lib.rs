//! custody-auditor library
