//! The OMEMO fuzz targets (`fuzz/`) on stable: every file of the checked-in corpus plus seeded
//! random mutations of it go through each target; the run must end without a panic, and every
//! refusal is a typed `OmemoError`. Deterministic (fixed seeds), so a failure reproduces.
//!
//! `TALPA_WRITE_FUZZ_CORPUS=1 cargo test --test fuzz_omemo` rewrites the seed corpus from the
//! fixtures (after a wire-format change).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../fuzz/targets.rs"]
mod targets;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use talpa::omemo::OmemoVersion;

const TARGETS: [&str; 5] = [
    "omemo_legacy_message",
    "omemo_v2_message",
    "omemo_bundle",
    "omemo_sce",
    "omemo_sce_fast",
];
const MUTATIONS_PER_FILE: usize = 1500;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus")
}

fn run(target: &str, data: &[u8]) -> targets::Outcome {
    match target {
        "omemo_legacy_message" => targets::message(OmemoVersion::Legacy, data),
        "omemo_v2_message" => targets::message(OmemoVersion::V2, data),
        "omemo_bundle" => targets::bundle(data),
        "omemo_sce" => targets::sce_envelope(data),
        "omemo_sce_fast" => targets::sce_fast_differential(data),
        other => panic!("unknown fuzz target {other}"),
    }
}

/// xorshift64*: a tiny deterministic generator for the mutations (not for keys).
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap()
    }

    fn byte(&mut self) -> u8 {
        const INTERESTING: [u8; 12] = [
            0, 1, 0x05, 0x08, 0x0a, 0x12, 0x1a, 0x22, 0x33, 0x7f, 0x80, 0xff,
        ];
        if self.next().is_multiple_of(2) {
            INTERESTING[self.below(INTERESTING.len())]
        } else {
            (self.next() & 0xff) as u8
        }
    }

    /// One to four byte-level mutations.
    fn mutate_bytes(&mut self, data: &mut Vec<u8>, others: &[Vec<u8>]) {
        for _ in 0..=self.below(4) {
            let len = data.len();
            match self.below(9) {
                0 if len > 0 => {
                    let i = self.below(len);
                    data[i] ^= 1 << self.below(8);
                }
                1 if len > 0 => {
                    let i = self.below(len);
                    data[i] = self.byte();
                }
                2 => {
                    let i = self.below(len + 1);
                    let b = self.byte();
                    data.insert(i, b);
                }
                3 if len > 0 => {
                    let i = self.below(len);
                    let n = self.below(len - i) + 1;
                    data.drain(i..i + n.min(16));
                }
                4 => data.truncate(self.below(len + 1)),
                5 if len > 0 => {
                    let i = self.below(len);
                    let n = (self.below(len - i) + 1).min(32);
                    let copy = data[i..i + n].to_vec();
                    let at = self.below(len + 1);
                    data.splice(at..at, copy);
                }
                6 if !others.is_empty() => {
                    let o = &others[self.below(others.len())];
                    let cut = self.below(len + 1);
                    let from = self.below(o.len() + 1);
                    data.truncate(cut);
                    data.extend_from_slice(&o[from..]);
                }
                7 if len > 0 => {
                    // A varint/length field blown up.
                    let i = self.below(len);
                    data[i] = 0xff;
                    data.splice((i + 1)..=i, [0xff, 0xff, 0xff, 0x0f]);
                }
                _ => {
                    let n = self.below(64);
                    for _ in 0..n {
                        let b = self.byte();
                        data.push(b);
                    }
                }
            }
        }
    }

    /// XML seeds: mutate the bytes inside one base64 text or one attribute value, so the
    /// mutation survives the XML parser and reaches the binary parsers behind it.
    fn mutate_xml(&mut self, text: &str, others: &[Vec<u8>]) -> Option<Vec<u8>> {
        let spans: Vec<(usize, usize)> = text
            .match_indices('>')
            .filter_map(|(start, _)| {
                let end = text[start + 1..].find('<')? + start + 1;
                (end > start + 1).then_some((start + 1, end))
            })
            .collect();
        if spans.is_empty() || self.below(4) == 0 {
            return None;
        }
        let (a, b) = spans[self.below(spans.len())];
        let inner = &text[a..b];
        let replaced = match STANDARD.decode(inner) {
            Ok(mut raw) if self.below(3) != 0 => {
                self.mutate_bytes(&mut raw, others);
                STANDARD.encode(raw)
            }
            _ => {
                let mut raw = inner.as_bytes().to_vec();
                self.mutate_bytes(&mut raw, others);
                String::from_utf8_lossy(&raw).replace(['<', '&'], "")
            }
        };
        Some(format!("{}{}{}", &text[..a], replaced, &text[b..]).into_bytes())
    }

    fn mutate(&mut self, seed: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
        if let Ok(text) = std::str::from_utf8(seed)
            && text.starts_with('<')
            && let Some(m) = self.mutate_xml(text, others)
        {
            return m;
        }
        let mut data = seed.to_vec();
        self.mutate_bytes(&mut data, others);
        data
    }
}

fn corpus() -> BTreeMap<&'static str, Vec<(String, Vec<u8>)>> {
    let mut all = BTreeMap::new();
    for target in TARGETS {
        let dir = corpus_dir().join(target);
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus {} is missing: {e}", dir.display()))
            .map(|entry| {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&path).unwrap())
            })
            .collect();
        files.sort();
        all.insert(target, files);
    }
    all
}

#[test]
fn fuzz_corpus_is_checked_in_and_current() {
    let write = std::env::var_os("TALPA_WRITE_FUZZ_CORPUS").is_some();
    for (target, name, bytes) in targets::seeds() {
        let path = corpus_dir().join(target).join(&name);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let stored = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("corpus file {} missing: {e}", path.display()));
        assert_eq!(
            stored,
            bytes,
            "{} is stale: rerun with TALPA_WRITE_FUZZ_CORPUS=1",
            path.display()
        );
    }
}

#[test]
fn valid_corpus_messages_decrypt_so_the_targets_reach_the_ratchet() {
    // Without this, a target that fails early on every input would "pass" the fuzz run.
    for target in ["omemo_legacy_message", "omemo_v2_message"] {
        let files = &corpus()[target];
        let accepted: usize = files
            .iter()
            .filter(|(name, _)| name.starts_with("message-"))
            .map(|(_, data)| run(target, data).accepted)
            .sum();
        assert!(accepted >= 3, "{target}: only {accepted} stages accepted");
    }
    let bundles = &corpus()["omemo_bundle"];
    let started: usize = bundles
        .iter()
        .map(|(_, d)| run("omemo_bundle", d).accepted)
        .sum();
    assert!(
        started >= 4,
        "bundles parsed and started sessions: {started}"
    );
    let sce = &corpus()["omemo_sce"];
    assert!(
        sce.iter()
            .all(|(_, d)| run("omemo_sce", d).errors.is_empty())
    );
    // The differential target compares something: the fast path takes the common forms.
    let fast: usize = corpus()["omemo_sce_fast"]
        .iter()
        .map(|(_, d)| run("omemo_sce_fast", d).parsed)
        .sum();
    assert!(fast >= 3, "fast path accepted {fast} corpus envelopes");
}

fn fuzz_target(target: &'static str, seed: u64) {
    let files = &corpus()[target];
    assert!(!files.is_empty(), "{target}: empty corpus");
    let others: Vec<Vec<u8>> = files.iter().map(|(_, d)| d.clone()).collect();
    let mut m = Mutator(seed);
    let mut parsed = 0;
    let mut errors = 0;
    for (name, data) in files {
        let _ = run(target, data);
        for i in 0..MUTATIONS_PER_FILE {
            let input = m.mutate(data, &others);
            let out = std::panic::catch_unwind(|| run(target, &input)).unwrap_or_else(|_| {
                panic!(
                    "{target} panicked on mutation {i} of {name}; input (base64): {}",
                    STANDARD.encode(&input)
                )
            });
            parsed += out.parsed;
            errors += out.errors.len();
        }
    }
    // The mutations must not all die in the first parser.
    assert!(parsed > 0, "{target}: no mutation parsed");
    assert!(errors > 0, "{target}: no mutation was refused");
}

#[test]
fn legacy_message_target_survives_mutations() {
    fuzz_target("omemo_legacy_message", 0x1e6a_c0de);
}

#[test]
fn v2_message_target_survives_mutations() {
    fuzz_target("omemo_v2_message", 0x0002_c0de);
}

#[test]
fn bundle_and_device_list_target_survives_mutations() {
    fuzz_target("omemo_bundle", 0x00b0_d1e5);
}

#[test]
fn sce_envelope_target_survives_mutations() {
    fuzz_target("omemo_sce", 0x05ce);
}

#[test]
fn sce_fast_path_agrees_with_minidom_on_mutations() {
    fuzz_target("omemo_sce_fast", 0x05ce_fa57);
}
