//! OMEMO 2 benchmark: Talpa's engine versus python-omemo (twomemo) doing the same work in the
//! same run (`tests/harness/bench_omemo.py`, a worker driven round by round):
//!
//! - encrypt one message (an SCE envelope built with random padding) to 100 devices with
//!   established sessions, serialized to XML;
//! - decrypt throughput of one session: key material, payload, SCE envelope parsed, its from/to
//!   checked against the stanza, the body read. Both sides decrypt a stream encrypted before
//!   any of the encryption rounds (no skipped keys).
//!
//! The two sides run interleaved, `TALPA_BENCH_ROUNDS` rounds (default 15; who goes first
//! alternates), so load on the machine hits both alike. Each round times a batch (20 messages
//! to 100 devices, 500 decryptions) by wall clock and by the thread's CPU time; the table gives
//! the median per side and the ratio of the medians, plus the range of the per-round ratios.
//! The CPU row is the steadier one on a busy machine.
//!
//! Run with `cargo bench --bench omemo` (as `make bench BENCH=omemo` does: the release build
//! as shipped; the dev profile keeps debug assertions in the crypto crates). `-- --talpa-only` skips python-omemo (for a
//! profiler: `valgrind --tool=callgrind --toggle-collect='omemo::rust_*'`); `-- --decrypt-only`
//! runs Talpa's decryption rounds alone (for `perf stat`: run it with two round counts, the
//! difference is the decryptions' own cost). Asserts nothing about timing.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::OsRng;
use talpa::omemo::OmemoVersion;
use talpa::omemo::sce::MessageContent;
use talpa::omemo::session::{DeviceAddress, SessionManager};
use talpa::omemo::trust::TrustPolicy;
use talpa::omemo::wire::{self, EncryptedElement};

const DEVICES: usize = 100;
/// Messages to all devices per round.
const ENCRYPTS: usize = 20;
/// Messages decrypted per round.
const DECRYPTS: usize = 500;
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

/// Wall and CPU time of one batch.
#[derive(Clone, Copy)]
struct Cost {
    wall: Duration,
    cpu: Duration,
}

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(ts.tv_sec).expect("secs"),
        u32::try_from(ts.tv_nsec).expect("nanos"),
    )
}

fn measure(f: impl FnOnce()) -> Cost {
    let (w, c) = (Instant::now(), thread_cpu());
    f();
    Cost {
        wall: w.elapsed(),
        cpu: thread_cpu().saturating_sub(c),
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

/// One encryption batch: `ENCRYPTS` messages to every device, each serialized to XML.
#[inline(never)]
fn rust_encrypt(sender: &mut SessionManager, devices: &[DeviceAddress], text: &str) -> usize {
    let mut xml_len = 0;
    for _ in 0..ENCRYPTS {
        let e = sender
            .encrypt_message(
                OmemoVersion::V2,
                &content(text),
                FROM,
                TO,
                STAMP,
                devices,
                &mut OsRng,
            )
            .unwrap();
        assert_eq!(e.element.keys.len(), DEVICES);
        assert!(
            e.element.keys.iter().all(|k| !k.key_exchange),
            "sessions are established"
        );
        xml_len = wire::v2::encrypted_xml(&e.element).len();
    }
    xml_len
}

/// One decryption batch: the next `DECRYPTS` messages of the stream, contents checked.
#[inline(never)]
fn rust_decrypt(
    receiver: &mut SessionManager,
    own: &str,
    stream: &mut Vec<EncryptedElement>,
    text: &str,
) {
    for _ in 0..DECRYPTS {
        let e = stream.pop().expect("stream long enough");
        let m = receiver
            .decrypt_message(OmemoVersion::V2, FROM, FROM, TO, own, &e, &mut OsRng)
            .unwrap();
        assert_eq!(
            m.content.and_then(|c| c.body).as_deref(),
            Some(text),
            "body read"
        );
    }
}

/// `--parse-only`: the SCE envelope step of decryption alone (parse, check, read the body), on
/// envelopes as the bench's sender builds them.
fn parse_only(text: &str) {
    use talpa::omemo::sce;
    let envelopes: Vec<Vec<u8>> = (0..64)
        .map(|_| {
            let e = sce::build(&content(text).to_elements(), FROM, TO, STAMP, &mut OsRng);
            sce::to_bytes(&e).unwrap()
        })
        .collect();
    let n = 200_000;
    let cost = measure(|| {
        for i in 0..n {
            let env = sce::parse(&envelopes[i % envelopes.len()]).unwrap();
            sce::check_affixes(&env, FROM, TO).unwrap();
            assert_eq!(env.message_content().body.as_deref(), Some(text));
        }
    });
    println!(
        "SCE envelope parsed, checked and read: {:.2} µs each (CPU)",
        cost.cpu.as_secs_f64() * 1e6 / n as f64
    );
}

/// The python-omemo worker.
struct Python {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Python {
    fn start(rounds: usize) -> Self {
        let venv = std::env::var("TALPA_VENV").unwrap_or_else(|_| "/root/.cache/talpa/venv".into());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/harness/bench_omemo.py");
        let mut child = Command::new(format!("{venv}/bin/python"))
            .args([
                script,
                &DEVICES.to_string(),
                &ENCRYPTS.to_string(),
                &DECRYPTS.to_string(),
                &rounds.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python-omemo benchmark starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut p = Self {
            child,
            stdin,
            stdout,
        };
        assert_eq!(p.line()["ready"], true, "python-omemo worker ready");
        p
    }

    fn line(&mut self) -> serde_json::Value {
        let mut l = String::new();
        self.stdout.read_line(&mut l).expect("worker answers");
        serde_json::from_str(&l).unwrap_or_else(|_| {
            let status = self.child.wait();
            panic!("python benchmark failed ({status:?}): {l:?}")
        })
    }

    fn batch(&mut self, what: &str) -> Cost {
        writeln!(self.stdin, "{what}").unwrap();
        self.stdin.flush().unwrap();
        let v = self.line();
        Cost {
            wall: Duration::from_secs_f64(v["wall_s"].as_f64().expect("wall_s")),
            cpu: Duration::from_secs_f64(v["cpu_s"].as_f64().expect("cpu_s")),
        }
    }
}

/// Median of the values `key` picks.
fn median(costs: &[Cost], key: impl Fn(&Cost) -> Duration) -> Duration {
    let mut v: Vec<Duration> = costs.iter().map(key).collect();
    v.sort();
    v[v.len() / 2]
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// One table row: per-side medians (`scale` turns a batch time into the figure shown), the
/// ratio of the medians and the range of the per-round ratios.
fn row(
    what: &str,
    talpa: &[Cost],
    python: &[Cost],
    key: fn(&Cost) -> Duration,
    show: &dyn Fn(Duration) -> String,
) {
    let (t, p) = (median(talpa, key), median(python, key));
    let mut ratios: Vec<f64> = talpa
        .iter()
        .zip(python)
        .map(|(t, p)| key(p).as_secs_f64() / key(t).as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "| {what} | {} | {} | {:.1}× faster (rounds {:.1}–{:.1}×) |",
        show(t),
        show(p),
        p.as_secs_f64() / t.as_secs_f64(),
        ratios[0],
        ratios[ratios.len() - 1],
    );
}

fn main() {
    let talpa_only = std::env::args().any(|a| a == "--talpa-only");
    // For a profiler or `perf stat`: Talpa's decryption rounds only, nothing else timed.
    let decrypt_only = std::env::args().any(|a| a == "--decrypt-only");
    let rounds: usize = std::env::var("TALPA_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15)
        .max(1);
    let (mut sender, mut receivers, devices) = established();
    let text = body();
    // The decryption stream, made before the encryption rounds advance the chain.
    let mut stream: Vec<_> = (0..DECRYPTS * rounds)
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
    stream.reverse();
    if std::env::args().any(|a| a == "--parse-only") {
        parse_only(&text);
        return;
    }
    if decrypt_only {
        let own = devices[0].jid.clone();
        let cost = measure(|| {
            for _ in 0..rounds {
                rust_decrypt(&mut receivers[0], &own, &mut stream, &text);
            }
        });
        println!(
            "Talpa decrypt only, {} messages: {:.2} µs each (CPU)",
            DECRYPTS * rounds,
            cost.cpu.as_secs_f64() * 1e6 / (DECRYPTS * rounds) as f64
        );
        return;
    }
    let mut python = (!talpa_only).then(|| Python::start(rounds));
    let load_before = load();

    let (mut t_enc, mut t_dec, mut p_enc, mut p_dec) = (vec![], vec![], vec![], vec![]);
    let mut xml_len = 0;
    let own = devices[0].jid.clone();
    for round in 0..rounds {
        let mut talpa_side = |t_enc: &mut Vec<Cost>, t_dec: &mut Vec<Cost>| {
            t_enc.push(measure(|| {
                xml_len = rust_encrypt(&mut sender, &devices, &text);
            }));
            t_dec.push(measure(|| {
                rust_decrypt(&mut receivers[0], &own, &mut stream, &text);
            }));
        };
        match python.as_mut() {
            None => talpa_side(&mut t_enc, &mut t_dec),
            Some(py) if round % 2 == 0 => {
                talpa_side(&mut t_enc, &mut t_dec);
                p_enc.push(py.batch("encrypt"));
                p_dec.push(py.batch("decrypt"));
            }
            Some(py) => {
                p_enc.push(py.batch("encrypt"));
                p_dec.push(py.batch("decrypt"));
                talpa_side(&mut t_enc, &mut t_dec);
            }
        }
    }
    let per_encrypt = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3 / ENCRYPTS as f64);
    let per_second = |d: Duration| format!("{:.0} msg/s", DECRYPTS as f64 / d.as_secs_f64());
    if python.is_none() {
        println!(
            "Talpa only, {rounds} rounds: encrypt to {DEVICES} devices {} (CPU), decrypt {} (CPU)",
            per_encrypt(median(&t_enc, |c| c.cpu)),
            per_second(median(&t_dec, |c| c.cpu)),
        );
        return;
    }
    println!(
        "{rounds} rounds, interleaved; load average {load_before} before, {} after",
        load()
    );
    println!("| Work | Talpa | python-omemo (twomemo) | Ratio of medians (per-round range) |");
    println!("|---|---|---|---|");
    let enc = format!("Encrypt one OMEMO 2 message to {DEVICES} devices (XML {xml_len} B)");
    let dec = "Decrypt (one session, SCE parsed and checked)";
    row(
        &format!("{enc}, CPU"),
        &t_enc,
        &p_enc,
        |c| c.cpu,
        &per_encrypt,
    );
    row(
        &format!("{enc}, wall"),
        &t_enc,
        &p_enc,
        |c| c.wall,
        &per_encrypt,
    );
    row(
        &format!("{dec}, CPU"),
        &t_dec,
        &p_dec,
        |c| c.cpu,
        &per_second,
    );
    row(
        &format!("{dec}, wall"),
        &t_dec,
        &p_dec,
        |c| c.wall,
        &per_second,
    );
}
