//! Tokio adapter (in progress).
