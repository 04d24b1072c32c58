//! Filesystem adapter (being built)
