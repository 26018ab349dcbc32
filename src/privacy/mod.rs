//! Fingerprint and timing policies: random resources, minimal disco#info, connection jitter.

/// Connection timing: random start-up delays and jittered reconnect backoff per account.
pub mod jitter;
