//! S3 adapter (being built)
