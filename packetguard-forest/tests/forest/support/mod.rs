//! Helpers shared by the test files: a counting allocator and a byte-level model writer.

pub mod alloc;
pub mod craft;
