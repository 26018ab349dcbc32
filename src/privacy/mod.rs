//! Fingerprint and timing policies: random resources, minimal disco#info, connection jitter.

pub mod disco;
pub mod ids;
pub mod jitter;
pub mod log_filter;
pub mod resource;
