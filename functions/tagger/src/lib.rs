//! custody-tagger library
