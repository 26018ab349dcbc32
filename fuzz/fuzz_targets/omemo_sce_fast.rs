//! cargo-fuzz target `omemo_sce_fast`: the SCE envelope fast path against minidom, a panic on
//! any difference (see `fuzz/targets.rs`; the same code runs on stable in `tests/fuzz_omemo.rs`).

#![no_main]

#[path = "../targets.rs"]
#[allow(dead_code, reason = "each target uses part of the shared module")]
mod targets;

use targets::sce_fast_differential;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sce_fast_differential(data);
});
