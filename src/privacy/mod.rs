//! Fingerprint and timing policies: random resources, minimal disco#info, connection jitter.

pub mod ids;
pub mod jitter;
