//! A caller that stops reading stdout during a flood of events: the process' memory stays
//! bounded (stdin pushes back instead), and when the caller reads again every reply arrives and a
//! `lagged` event says how many events it missed (docs/HEADLESS.md, "A slow reader"). Over the
//! real headless front end, no server needed.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ACCOUNT: &str = "mole@talpa.test";
const PEER: &str = "carol@talpa.test";
/// Sends in the flood; each one's `message` event carries a 60 000-byte body, so the flood's
/// events are about 60 MB.
const FLOOD: usize = 1000;
/// How much the process' RSS may grow during the flood.
const RSS_BOUND_KIB: u64 = 40 * 1024;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn read_until_reply(lines: &mut impl Iterator<Item = Value>, id: &str) -> Value {
    for v in lines.by_ref() {
        if v["id"] == id {
            return v;
        }
    }
    panic!("talpa ended before replying to {id}");
}

#[test]
fn a_reader_that_stops_reading_gets_every_reply_and_a_lagged_count_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_talpa"))
        .args(["headless", "--profile"])
        .arg(dir.path().join("p"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("talpa starts");
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines().map(|l| {
        let l = l.expect("read stdout");
        serde_json::from_str::<Value>(&l).unwrap_or_else(|e| panic!("non-JSON line {l:?}: {e}"))
    });

    for (id, cmd) in [
        (
            "c",
            json!({"cmd": "create_profile", "passphrase": "output"}),
        ),
        (
            "a",
            json!({"cmd": "add_account", "jid": ACCOUNT, "password": "pw"}),
        ),
    ] {
        let mut cmd = cmd;
        cmd["id"] = json!(id);
        writeln!(stdin, "{cmd}").expect("write");
        let r = read_until_reply(&mut lines, id);
        assert_eq!(r["ok"], true, "{r}");
    }
    let baseline = rss_kib(pid);

    // The flood, written by another thread while nobody reads stdout.
    let written = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (written, done) = (written.clone(), done.clone());
        std::thread::spawn(move || {
            let body = "x".repeat(60_000);
            for i in 0..FLOOD {
                let cmd = json!({"id": format!("s{i}"), "cmd": "send", "account": ACCOUNT,
                                 "to": PEER, "body": body});
                writeln!(stdin, "{cmd}").expect("write");
                written.fetch_add(1, Ordering::SeqCst);
            }
            done.store(true, Ordering::SeqCst);
            stdin
        })
    };
    // Wait until the whole flood was taken (an unbounded queue) or talpa stopped taking commands
    // for three seconds (it pushes back).
    let mut last = (0, Instant::now());
    let give_up = Instant::now() + Duration::from_secs(120);
    while !done.load(Ordering::SeqCst) && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(200));
        let n = written.load(Ordering::SeqCst);
        if n != last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let taken = written.load(Ordering::SeqCst);
    let grown = rss_kib(pid).saturating_sub(baseline);
    assert!(
        grown < RSS_BOUND_KIB,
        "talpa's RSS grew by {grown} KiB while stdout was not read ({taken} of {FLOOD} commands taken)"
    );
    assert!(
        taken < FLOOD,
        "talpa took all {FLOOD} commands while nobody read its output"
    );

    // Reading again: every reply arrives, in order, and a lagged event counts the lost events.
    let mut next_reply = 0usize;
    let mut lagged = 0u64;
    let mut messages = 0usize;
    while next_reply < FLOOD {
        let v = lines.next().expect("talpa ended early");
        if v["event"] == "error" && v["kind"] == "lagged" {
            let n: u64 = v["message"]
                .as_str()
                .and_then(|m| m.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a lagged event without a count: {v}"));
            assert!(n > 0, "{v}");
            lagged += n;
        } else if v["event"] == "message" {
            messages += 1;
        } else if v.get("id").is_some() {
            assert_eq!(v["id"], format!("s{next_reply}"), "replies out of order");
            assert_eq!(v["ok"], true, "{v}");
            next_reply += 1;
        }
    }
    assert!(lagged > 0, "no lagged event although events were dropped");
    assert!(
        messages < FLOOD,
        "all {messages} events arrived although the reader lagged"
    );

    let mut stdin = writer.join().expect("writer");
    writeln!(stdin, "{}", json!({"id": "q", "cmd": "quit"})).expect("write");
    let r = read_until_reply(&mut lines, "q");
    assert_eq!(r["ok"], true, "{r}");
    drop(stdin);
    assert!(child.wait().expect("exit").success());
}
