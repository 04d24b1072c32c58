//! digest (being built)
