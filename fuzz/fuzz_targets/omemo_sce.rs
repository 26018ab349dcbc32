//! cargo-fuzz target `omemo_sce` (see `fuzz/targets.rs`; the same code runs on stable in
//! `tests/fuzz_omemo.rs`).

#![no_main]

#[path = "../targets.rs"]
#[allow(dead_code, reason = "each target uses part of the shared module")]
mod targets;

use targets::sce_envelope;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sce_envelope(data);
});
