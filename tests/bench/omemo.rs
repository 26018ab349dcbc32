//! OMEMO 2 benchmark: Talpa's engine versus python-omemo (twomemo) doing the same work in the
//! same run (`tests/harness/bench_omemo.py`): encrypt one message (SCE envelope) to 100 devices
//! with established sessions, serialized to XML; and decrypt throughput of one session.
//!
//! Run with `cargo bench --profile dev --config 'profile.dev.package.talpa.opt-level=3' --bench
//! omemo` (as `make bench` does: the dev profile's optimised dependencies are reused, Talpa's own
//! code is optimised too). Prints a table with the ratios; asserts nothing about timing.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Instant;

use rand::rngs::OsRng;
use talpa::omemo::OmemoVersion;
use talpa::omemo::sce::MessageContent;
use talpa::omemo::session::{DeviceAddress, SessionManager};
use talpa::omemo::trust::TrustPolicy;
use talpa::omemo::wire;

const DEVICES: usize = 100;
const ROUNDS: usize = 50;
const DECRYPTS: usize = 2000;
const FROM: &str = "alice@talpa.test";
const TO: &str = "room@rooms.talpa.test";
const STAMP: &str = "2026-11-28T19:00:00Z";

fn body() -> String {
    "The quick brown mole digs under the fence at midnight.".repeat(2)
}

fn content(text: &str) -> MessageContent {
    MessageContent {
        body: Some(text.to_owned()),
        ..MessageContent::default()
    }
}

/// A sender with confirmed sessions to `DEVICES` receivers (each answered once).
fn established() -> (SessionManager, Vec<SessionManager>, Vec<DeviceAddress>) {
    let policy = TrustPolicy::BlindTrustBeforeVerification;
    let mut sender = SessionManager::generate(policy, &mut OsRng);
    let mut receivers = Vec::new();
    let mut devices = Vec::new();
    for i in 0..DEVICES {
        let r = SessionManager::generate(policy, &mut OsRng);
        let jid = format!("member{i}@talpa.test");
        sender
            .start_session(
                OmemoVersion::V2,
                &jid,
                r.device_id(),
                &r.bundle(OmemoVersion::V2),
                &mut OsRng,
            )
            .unwrap();
        devices.push(DeviceAddress {
            jid,
            device_id: r.device_id(),
        });
        receivers.push(r);
    }
    let setup = sender
        .encrypt_message(
            OmemoVersion::V2,
            &content("setup"),
            FROM,
            TO,
            STAMP,
            &devices,
            &mut OsRng,
        )
        .unwrap();
    let back = DeviceAddress {
        jid: FROM.to_owned(),
        device_id: sender.device_id(),
    };
    for (r, d) in receivers.iter_mut().zip(&devices) {
        r.decrypt_message(
            OmemoVersion::V2,
            FROM,
            FROM,
            TO,
            &d.jid,
            &setup.element,
            &mut OsRng,
        )
        .unwrap();
        let hb = r.heartbeat(OmemoVersion::V2, &back, &mut OsRng).unwrap();
        sender
            .decrypt(OmemoVersion::V2, &d.jid, FROM, &hb, &mut OsRng)
            .unwrap();
    }
    (sender, receivers, devices)
}

fn python(devices: usize, rounds: usize, decrypts: usize) -> (f64, f64) {
    let venv = std::env::var("TALPA_VENV").unwrap_or_else(|_| "/root/.cache/talpa/venv".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/harness/bench_omemo.py");
    let out = Command::new(format!("{venv}/bin/python"))
        .args([
            script,
            &devices.to_string(),
            &rounds.to_string(),
            &decrypts.to_string(),
        ])
        .output()
        .expect("python-omemo benchmark runs");
    assert!(
        out.status.success(),
        "python benchmark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    (
        v["encrypt_ms"].as_f64().expect("encrypt_ms"),
        v["decrypt_per_s"].as_f64().expect("decrypt_per_s"),
    )
}

fn main() {
    let (mut sender, mut receivers, devices) = established();
    let text = body();

    let start = Instant::now();
    let mut xml_len = 0;
    for _ in 0..ROUNDS {
        let e = sender
            .encrypt_message(
                OmemoVersion::V2,
                &content(&text),
                FROM,
                TO,
                STAMP,
                &devices,
                &mut OsRng,
            )
            .unwrap();
        assert_eq!(e.element.keys.len(), DEVICES);
        assert!(
            e.element.keys.iter().all(|k| !k.key_exchange),
            "sessions are established"
        );
        xml_len = String::from(&wire::v2::build_encrypted(&e.element)).len();
    }
    let rust_encrypt_ms = start.elapsed().as_secs_f64() * 1000.0 / ROUNDS as f64;

    let stream: Vec<_> = (0..DECRYPTS)
        .map(|_| {
            sender
                .encrypt_message(
                    OmemoVersion::V2,
                    &content(&text),
                    FROM,
                    TO,
                    STAMP,
                    &devices[..1],
                    &mut OsRng,
                )
                .unwrap()
                .element
        })
        .collect();
    let r0 = &mut receivers[0];
    let start = Instant::now();
    for e in &stream {
        let m = r0
            .decrypt_message(
                OmemoVersion::V2,
                FROM,
                FROM,
                TO,
                &devices[0].jid,
                e,
                &mut OsRng,
            )
            .unwrap();
        assert!(m.content.is_some());
    }
    let rust_decrypt_per_s = DECRYPTS as f64 / start.elapsed().as_secs_f64();

    let (py_encrypt_ms, py_decrypt_per_s) = python(DEVICES, ROUNDS, DECRYPTS);
    println!("| Work | Talpa | python-omemo (twomemo) | Ratio |");
    println!("|---|---|---|---|");
    println!(
        "| Encrypt one OMEMO 2 message to {DEVICES} devices (XML {xml_len} B) | {rust_encrypt_ms:.2} ms | {py_encrypt_ms:.2} ms | {:.1}× faster |",
        py_encrypt_ms / rust_encrypt_ms
    );
    println!(
        "| Decrypt (one session, SCE parsed) | {rust_decrypt_per_s:.0} msg/s | {py_decrypt_per_s:.0} msg/s | {:.1}× faster |",
        rust_decrypt_per_s / py_decrypt_per_s
    );
}
