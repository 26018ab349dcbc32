//! MAM catch-up benchmark: 10,000 archived messages paged out of Prosody (100 asked per page,
//! as Talpa's catch-up does; Prosody caps pages at 50), in the same run:
//! - **Talpa**: `Session::mam_catch_up` — the xmpp layer's catch-up with origin and queryid
//!   checks, parsing each result into an `ArchivedMessage` (the store is not involved); it
//!   fetches up to 8 time ranges at once when the server answers extended MAM's `<metadata/>`
//!   (Prosody 0.12 does for accounts), so it prints its pages and ranges too;
//! - **floor**: a minimal client on the same transport and XML stack (login, bind, then raw
//!   sequential MAM queries by id whose results are counted and dropped) — what no
//!   one-page-at-a-time client can beat;
//! - **slixmpp**: `xep_0313.iterate` in Python (sequential), connected directly (it has no Tor).
//!
//! Talpa and the floor run both through the private Tor network (embedded Arti) and directly,
//! so every ratio compares like with like. It starts a bed of its own for benchmarks
//! (`bed.py ensure --bench`: no stanza debug log; archives in memory, or in SQLite with
//! `MAM_BENCH_STORAGE=sql` — printed with the figures; all clients of a run use the same
//! server). Run with `cargo bench --profile dev --bench mam` (via `make bench`). Prints a
//! table; asserts nothing about timing.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use talpa::privacy::ids::random_id;
use talpa::tor::{AccountIsolation, PrivateNetwork, TorClient, TorConfig};
use talpa::xmpp::connector::{BoxedStream, StreamOpener, TalpaConnector, TlsMode, opener};
use talpa::xmpp::login::{LoginParams, login};
use talpa::xmpp::mam::CatchUpReport;
use talpa::xmpp::session::{Session, SessionConfig};
use talpa::xmpp::stanza::{NS_MAM, NS_RSM, elem, text_elem};
use talpa::xmpp::{TrustAnchor, XmppError};
use tokio_xmpp::Stanza;
use tokio_xmpp::parsers::bind::BindQuery;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::mam::Fin;
use tokio_xmpp::xmlstream::{FallibleStreamElement, Timeouts, XmppStreamElement};
use zeroize::Zeroizing;

const MESSAGES: usize = 10_000;
/// Rounds per client (the median is reported); one round of all five takes minutes.
const ROUNDS: usize = 1;
const PAGE: &str = "100";

fn tor_opener(tor: TorClient, host: String, port: u16) -> StreamOpener {
    let iso = AccountIsolation::new();
    Arc::new(move || {
        let (tor, iso, host) = (tor.clone(), iso.clone(), host.clone());
        Box::pin(async move {
            tor.connect(&iso, &host, port)
                .await
                .map(|s| Box::new(s) as BoxedStream)
                .map_err(|e| XmppError::Open(e.to_string()))
        })
    })
}

fn direct_opener(host: &str, port: u16) -> StreamOpener {
    let addr = format!("{host}:{port}");
    opener(move || tokio::net::TcpStream::connect(addr.clone()))
}

/// The floor: login, bind, page the archive with raw queries, count and drop the results.
async fn floor(open: StreamOpener, jid: &str, password: &str, ca: &str) -> (usize, Duration) {
    let connector =
        TalpaConnector::with_opener(open, TlsMode::StartTls, &TrustAnchor::ExtraCaPem(ca.into()))
            .unwrap();
    let jid = jid.parse().unwrap();
    let password = Zeroizing::new(password.to_owned());
    let params = LoginParams {
        jid: &jid,
        password: &password,
        require_channel_binding: false,
        timeouts: Timeouts::default(),
    };
    let mut stream = login(&connector, &params).await.unwrap().stream;
    let bind = Iq::from_set(random_id(), BindQuery::new(Some("floor".into())));
    stream
        .send(&XmppStreamElement::Stanza(bind.into()))
        .await
        .unwrap();
    loop {
        let el = stream.next().await.unwrap();
        if let Ok(XmppStreamElement::Stanza(Stanza::Iq(Iq::Result { .. }))) =
            el.and_then(FallibleStreamElement::into_read_error)
        {
            break;
        }
    }
    let start = Instant::now();
    let mut count = 0;
    let mut after: Option<String> = None;
    loop {
        let id = random_id();
        let mut set = elem("set", NS_RSM, &[]);
        set.append_child(text_elem("max", NS_RSM, PAGE));
        if let Some(a) = &after {
            set.append_child(text_elem("after", NS_RSM, a));
        }
        let mut query = elem("query", NS_MAM, &[("queryid", id.as_str())]);
        query.append_child(set);
        let iq = Iq::Set {
            from: None,
            to: None,
            id: id.clone(),
            payload: query,
        };
        stream
            .send(&XmppStreamElement::Stanza(iq.into()))
            .await
            .unwrap();
        let fin = loop {
            match stream
                .next()
                .await
                .unwrap()
                .and_then(FallibleStreamElement::into_read_error)
            {
                Ok(XmppStreamElement::Stanza(Stanza::Message(_))) => count += 1,
                Ok(XmppStreamElement::Stanza(Stanza::Iq(Iq::Result {
                    id: rid,
                    payload: Some(p),
                    ..
                }))) if rid == id => break Fin::try_from(p).unwrap(),
                Ok(_) => {}
                Err(e) => panic!("floor read: {e}"),
            }
        };
        if fin.complete || fin.set.last.is_none() {
            break;
        }
        after = fin.set.last;
    }
    (count, start.elapsed())
}

/// Talpa's catch-up (connect and login not timed).
async fn talpa(
    open: StreamOpener,
    jid: &str,
    password: &str,
    ca: &str,
) -> (usize, Duration, CatchUpReport) {
    let config = SessionConfig {
        jid: jid.parse().unwrap(),
        password: Zeroizing::new(password.to_owned()),
        tls_mode: TlsMode::StartTls,
        trust: TrustAnchor::ExtraCaPem(ca.into()),
        require_channel_binding: false,
        timeouts: Timeouts::default(),
        guard_trips: talpa::xmpp::stanza_guard::GuardTrips::default(),
    };
    let (session, _events, _) = Session::connect(config, open).await.unwrap();
    let start = Instant::now();
    let (all, report) = session.mam_catch_up_report(None, None).await.unwrap();
    let took = start.elapsed();
    session.close().await;
    (all.len(), took, report)
}

fn python(bed: &support::Bed, jid: &str, password: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(&bed.venv_python)
        .arg(support::harness_dir().join("mam_bench.py"))
        .args([
            "--jid",
            jid,
            "--password",
            password,
            "--host",
            &bed.prosody.host,
        ])
        .args(["--port", &bed.prosody.c2s_port.to_string()])
        .arg("--ca")
        .arg(&bed.ca_cert)
        .args(args)
        .output()
        .expect("run mam_bench.py");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(
        out.status.success() && lines.iter().all(|l| l.get("error").is_none()),
        "mam_bench.py {args:?} failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // A bed of its own without Prosody's stanza debug log and with archives in memory or
    // SQLite: the log throttles each client to some 60 messages/s, and Prosody's file-based
    // archive store reads the whole archive file for every page; either would hide every
    // difference.
    // The archive store: memory (default) or, with MAM_BENCH_STORAGE=sql, SQLite.
    let storage = std::env::var("MAM_BENCH_STORAGE").unwrap_or_else(|_| "memory".into());
    let own = support::OwnBed::start_with("mambench", &["--bench", "--bench-storage", &storage]);
    let bed: &support::Bed = &own;
    let (owner, opw) = bed.new_account("mamowner");
    let (filler, fpw) = bed.new_account("mamfiller");
    let ca = std::fs::read_to_string(&bed.ca_cert).unwrap();
    let count = MESSAGES.to_string();
    let t = Instant::now();
    python(
        bed,
        &filler,
        &fpw,
        &["fill", "--to", &owner, "--count", &count],
    );
    eprintln!(
        "archive filled with {MESSAGES} messages in {:.1?}",
        t.elapsed()
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let mut results: Vec<(&str, Vec<Duration>)> = Vec::new();
    rt.block_on(async {
        let mut config = TorConfig::new(profile.path());
        config.network = Some(PrivateNetwork::from_file(&bed.tor.network_file).unwrap());
        let tor = TorClient::launch(config).unwrap();
        tokio::time::timeout(Duration::from_mins(3), tor.wait_ready())
            .await
            .expect("arti ready in time")
            .unwrap();
        let (host, port) = (bed.prosody.host.clone(), bed.prosody.c2s_port);
        let mut rows: Vec<(&str, Vec<Duration>)> = vec![
            ("floor, Tor", Vec::new()),
            ("Talpa, Tor", Vec::new()),
            ("floor, direct", Vec::new()),
            ("Talpa, direct", Vec::new()),
        ];
        for _ in 0..ROUNDS {
            for (name, times) in &mut rows {
                let open = if name.ends_with("Tor") {
                    tor_opener(tor.clone(), host.clone(), port)
                } else {
                    direct_opener(&host, port)
                };
                let (n, took) = if name.starts_with("floor") {
                    floor(open, &owner, &opw, &ca).await
                } else {
                    let (n, took, report) = talpa(open, &owner, &opw, &ca).await;
                    eprintln!(
                        "{name}: {} pages, {} parallel ranges, {} boundary duplicates dropped",
                        report.pages, report.ranges, report.duplicates
                    );
                    (n, took)
                };
                assert_eq!(n, MESSAGES, "{name} fetched {n} messages");
                eprintln!("{name}: {took:.1?}");
                times.push(took);
            }
        }
        results = rows;
    });
    let rounds = ROUNDS.to_string();
    let sli: Vec<Duration> = python(bed, &owner, &opw, &["fetch", "--rounds", &rounds])
        .iter()
        .map(|l| {
            assert_eq!(l["count"].as_u64(), Some(MESSAGES as u64), "slixmpp: {l}");
            Duration::from_secs_f64(l["seconds"].as_f64().unwrap())
        })
        .collect();
    results.push(("slixmpp, direct", sli));

    let med: Vec<(&str, Duration)> = results.into_iter().map(|(n, t)| (n, median(t))).collect();
    let get = |name: &str| med.iter().find(|(n, _)| *n == name).unwrap().1;
    let mut out = String::new();
    writeln!(
        out,
        "MAM catch-up of {MESSAGES} messages, median of {ROUNDS} rounds, Prosody archive \
         storage: {storage}"
    )
    .unwrap();
    for (name, took) in &med {
        let rate = MESSAGES as f64 / took.as_secs_f64();
        writeln!(
            out,
            "  {name:<16} {:>8.2} s  {rate:>9.0} msg/s",
            took.as_secs_f64()
        )
        .unwrap();
    }
    let ratio = |a: &str, b: &str| get(a).as_secs_f64() / get(b).as_secs_f64();
    writeln!(
        out,
        "  Talpa / floor:   {:.2}× through Tor, {:.2}× direct (goal ≤ 1.5×)",
        ratio("Talpa, Tor", "floor, Tor"),
        ratio("Talpa, direct", "floor, direct")
    )
    .unwrap();
    writeln!(
        out,
        "  Talpa / slixmpp: {:.2}× direct, {:.2}× with Talpa through Tor (goal < 1×)",
        ratio("Talpa, direct", "slixmpp, direct"),
        ratio("Talpa, Tor", "slixmpp, direct")
    )
    .unwrap();
    print!("{out}");
}
