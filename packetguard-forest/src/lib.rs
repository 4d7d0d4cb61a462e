//! Isolation Forest engine (in progress).
