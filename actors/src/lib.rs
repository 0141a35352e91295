//! The persona runner's actor runtime (supervisor, persona, conversation,
//! dispatcher and persistence actors on ractor).
//!
//! Nothing is built here yet: the crate exists so the workspace has its final
//! shape and dependency direction (`catalog` ← `actors` ← `runner`), which the
//! runner's dependency-graph test checks.
