//! hold (being built)
