//! cargo-fuzz target `omemo_v2_message` (see `fuzz/targets.rs`; the same code runs on stable in
//! `tests/fuzz_omemo.rs`).

#![no_main]

#[path = "../targets.rs"]
#[allow(dead_code, reason = "each target uses part of the shared module")]
mod targets;

use talpa::omemo::OmemoVersion;
use targets::message;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = message(OmemoVersion::V2, data);
});
