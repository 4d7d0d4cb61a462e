//! Hand-built frames: the library's builders (`packetguard::test_frames`), shared with its
//! own tests.

pub use packetguard::test_frames::*;
