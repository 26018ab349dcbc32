//! SRV lookups (RFC 6120 §3.2, XEP-0368) by DNS over TLS (RFC 7858) on a stream the caller
//! opens — in Talpa always a Tor stream of the account's own isolation, so no DNS query ever
//! leaves the machine outside Tor and the resolver sees a Tor exit, not the user.
//!
//! hickory-proto is used for the DNS wire format only; its resolver is banned (deny.toml).

use std::{fmt, str::FromStr, time::Duration};

use hickory_proto::{
    op::{Message, MessageType, OpCode, Query, ResponseCode},
    rr::{Name, RData, RecordType},
};
use rand::Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{
    XmppError,
    tls::{TrustAnchor, client_config, handshake},
};

/// Upper bound on one DNS response (RFC 7858 frames carry a 16-bit length anyway).
const MAX_RESPONSE: usize = 16 * 1024;
/// Upper bound on the SRV records taken from one answer (a hostile resolver could send many).
const MAX_RECORDS: usize = 16;
/// How long a whole lookup may take before the caller falls back to `domain:5222`.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A DNS-over-TLS resolver: where to reach it and the name its certificate must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DotResolver {
    /// Host (an IP address or a name, handed to Tor unresolved).
    pub host: String,
    /// Port (853 for DoT).
    pub port: u16,
    /// The name checked against the resolver's certificate.
    pub tls_name: String,
}

impl Default for DotResolver {
    /// Quad9 (`9.9.9.9:853#dns.quad9.net`): a public, no-logging DoT resolver that accepts
    /// queries from Tor exits.
    fn default() -> Self {
        Self {
            host: "9.9.9.9".into(),
            port: 853,
            tls_name: "dns.quad9.net".into(),
        }
    }
}

impl fmt::Display for DotResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}#{}", self.host, self.port, self.tls_name)
    }
}

impl FromStr for DotResolver {
    type Err = XmppError;

    /// Parses the conventional `host:port#tls-name` form (as stubby and systemd-resolved
    /// write it); `:port` defaults to 853 and `#tls-name` to the host.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| XmppError::TlsConfig(format!("DNS-over-TLS resolver {s:?}: {why}"));
        let (addr, name) = match s.split_once('#') {
            Some((a, n)) => (a, Some(n)),
            None => (s, None),
        };
        let (host, port) = match addr.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.ends_with(']') => (
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?,
            ),
            _ => (addr.trim_start_matches('[').trim_end_matches(']'), 853),
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(bad("no host"));
        }
        let tls_name = name.unwrap_or(host);
        if tls_name.is_empty() || tls_name.contains(char::is_whitespace) {
            return Err(bad("no certificate name"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            tls_name: tls_name.to_owned(),
        })
    }
}

/// One place to connect to, from an SRV record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrvTarget {
    /// Host name (handed to Tor unresolved).
    pub host: String,
    /// Port.
    pub port: u16,
    /// From `_xmpps-client._tcp` (XEP-0368): TLS from the first byte, ALPN `xmpp-client`.
    pub direct_tls: bool,
    /// SRV priority (lower first).
    pub priority: u16,
    /// SRV weight (within one priority, chosen proportionally).
    pub weight: u16,
}

/// What an SRV lookup found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SrvAnswer {
    /// Targets in the order to try them (RFC 2782 priority, then weighted random).
    Targets(Vec<SrvTarget>),
    /// No SRV records: the caller connects to the domain on the standard port.
    NoRecords,
    /// The domain says "no XMPP service here" (a single record with target `.`).
    ServiceRefused,
}

/// Looks up `_xmpp-client._tcp.DOMAIN` and `_xmpps-client._tcp.DOMAIN` over DNS-over-TLS on
/// `stream` (already connected to `resolver`), checking the resolver's certificate against
/// `resolver.tls_name` with `trust`. Both queries travel on the one TLS connection.
///
/// # Errors
/// TLS or I/O failures, a malformed or mismatching response, or a server failure code.
pub async fn lookup<S>(
    stream: S,
    resolver: &DotResolver,
    trust: &TrustAnchor,
    domain: &str,
) -> Result<SrvAnswer, XmppError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = client_config(trust, false)?;
    let (mut tls, _) = handshake(stream, &resolver.tls_name, config).await?;
    let mut rng = rand::rngs::OsRng;
    let mut found: Vec<SrvTarget> = Vec::new();
    let mut refused = 0;
    let services = [("_xmpp-client._tcp", false), ("_xmpps-client._tcp", true)];
    let mut pending = Vec::new();
    for (service, direct) in services {
        let name = Name::from_ascii(format!("{service}.{domain}."))
            .map_err(|e| XmppError::Protocol(format!("bad domain for SRV: {e}")))?;
        let id: u16 = rng.r#gen();
        let query = encode_query(id, name.clone())?;
        tls.write_all(&query).await.map_err(XmppError::Io)?;
        pending.push((id, name, direct));
    }
    tls.flush().await.map_err(XmppError::Io)?;
    // RFC 7858 §3.3: responses may come in any order; match them by id.
    for _ in 0..pending.len() {
        let msg = read_frame(&mut tls).await?;
        let response = Message::from_vec(&msg)
            .map_err(|e| XmppError::Protocol(format!("malformed DNS response: {e}")))?;
        let Some(pos) = pending
            .iter()
            .position(|(id, _, _)| *id == response.metadata.id)
        else {
            return Err(XmppError::Protocol(
                "DNS response to a query never sent".into(),
            ));
        };
        let (_, name, direct) = pending.swap_remove(pos);
        match records(&response, &name, direct)? {
            Records::Found(mut t) => found.append(&mut t),
            Records::Refused => refused += 1,
            Records::None => {}
        }
    }
    let _ = tls.shutdown().await;
    if found.is_empty() {
        return Ok(if refused > 0 {
            SrvAnswer::ServiceRefused
        } else {
            SrvAnswer::NoRecords
        });
    }
    Ok(SrvAnswer::Targets(order(found, &mut rng)))
}

fn encode_query(id: u16, name: Name) -> Result<Vec<u8>, XmppError> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name, RecordType::SRV));
    let bytes = message
        .to_vec()
        .map_err(|e| XmppError::Protocol(format!("cannot encode DNS query: {e}")))?;
    let len =
        u16::try_from(bytes.len()).map_err(|_| XmppError::Protocol("DNS query too long".into()))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    Ok(framed)
}

async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Vec<u8>, XmppError> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.map_err(XmppError::Io)?;
    let len = usize::from(u16::from_be_bytes(len));
    if len > MAX_RESPONSE {
        return Err(XmppError::Protocol(format!(
            "DNS response of {len} bytes is over the {MAX_RESPONSE}-byte limit"
        )));
    }
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await.map_err(XmppError::Io)?;
    Ok(buf)
}

enum Records {
    Found(Vec<SrvTarget>),
    Refused,
    None,
}

/// Takes the SRV records for exactly `name` out of a response; anything else in it is ignored.
fn records(response: &Message, name: &Name, direct_tls: bool) -> Result<Records, XmppError> {
    if response.metadata.message_type != MessageType::Response {
        return Err(XmppError::Protocol("DNS answer is not a response".into()));
    }
    match response.metadata.response_code {
        ResponseCode::NoError => {}
        ResponseCode::NXDomain => return Ok(Records::None),
        other => {
            return Err(XmppError::Protocol(format!(
                "DNS resolver answered {other}"
            )));
        }
    }
    let mut out = Vec::new();
    for record in &response.answers {
        if record.name != *name {
            continue;
        }
        if let RData::SRV(srv) = &record.data {
            if srv.target.is_root() {
                // RFC 2782: "." as the only target means the service is decidedly absent.
                return Ok(Records::Refused);
            }
            let host = srv.target.to_ascii();
            let host = host.trim_end_matches('.').to_owned();
            if host.is_empty() || srv.port == 0 {
                continue;
            }
            out.push(SrvTarget {
                host,
                port: srv.port,
                direct_tls,
                priority: srv.priority,
                weight: srv.weight,
            });
            if out.len() == MAX_RECORDS {
                break;
            }
        }
    }
    Ok(if out.is_empty() {
        Records::None
    } else {
        Records::Found(out)
    })
}

/// RFC 2782 ordering: ascending priority; within one priority, a weighted random order
/// (weight 0 records are still tried, last-ish, as the RFC's running-sum selection gives).
pub fn order<R: Rng>(mut targets: Vec<SrvTarget>, rng: &mut R) -> Vec<SrvTarget> {
    targets.sort_by_key(|t| t.priority);
    let mut out = Vec::with_capacity(targets.len());
    let mut rest = targets.as_slice();
    while let Some(first) = rest.first() {
        let same = rest
            .iter()
            .take_while(|t| t.priority == first.priority)
            .count();
        let mut group: Vec<SrvTarget> = rest[..same].to_vec();
        rest = &rest[same..];
        // Zero-weight entries first, as RFC 2782 asks, so the running sum can pick them.
        group.sort_by_key(|t| t.weight != 0);
        while !group.is_empty() {
            let total: u32 = group.iter().map(|t| u32::from(t.weight)).sum();
            let pick = rng.gen_range(0..=total);
            let mut sum = 0u32;
            let idx = group
                .iter()
                .position(|t| {
                    sum += u32::from(t.weight);
                    sum >= pick
                })
                .unwrap_or(0);
            out.push(group.remove(idx));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::{Record, rdata::SRV};
    use rand::{SeedableRng, rngs::StdRng};

    fn target(host: &str, priority: u16, weight: u16) -> SrvTarget {
        SrvTarget {
            host: host.into(),
            port: 5222,
            direct_tls: false,
            priority,
            weight,
        }
    }

    #[test]
    fn resolver_strings_parse_in_the_stubby_form() {
        let r: DotResolver = "9.9.9.9:853#dns.quad9.net".parse().expect("parse");
        assert_eq!(r, DotResolver::default());
        let r: DotResolver = "dot.example".parse().expect("parse");
        assert_eq!((r.port, r.tls_name.as_str()), (853, "dot.example"));
        let r: DotResolver = "[2620:fe::fe]:853#dns.quad9.net".parse().expect("v6");
        assert_eq!(r.host, "2620:fe::fe");
        for bad in ["", ":853", "host:0", "host:x", "host#", "a b:853"] {
            assert!(bad.parse::<DotResolver>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn priority_orders_targets_and_weight_only_shuffles_within_one() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..50 {
            let o = order(
                vec![
                    target("c", 20, 1),
                    target("a", 10, 50),
                    target("b", 10, 50),
                    target("z", 10, 0),
                ],
                &mut rng,
            );
            assert_eq!(o.len(), 4);
            assert_eq!(o[3].host, "c");
            assert!(o[..3].iter().all(|t| t.priority == 10));
        }
    }

    #[test]
    fn weights_are_honoured_statistically() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut heavy_first = 0;
        for _ in 0..1000 {
            let o = order(
                vec![target("light", 0, 10), target("heavy", 0, 90)],
                &mut rng,
            );
            if o[0].host == "heavy" {
                heavy_first += 1;
            }
        }
        assert!((800..=980).contains(&heavy_first), "{heavy_first}");
    }

    fn answer(name: &str, records: Vec<(u16, u16, u16, &str)>, code: ResponseCode) -> Message {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.metadata.response_code = code;
        for (p, w, port, t) in records {
            m.answers.push(Record::from_rdata(
                Name::from_ascii(name).expect("name"),
                60,
                RData::SRV(SRV::new(p, w, port, Name::from_ascii(t).expect("target"))),
            ));
        }
        m
    }

    #[test]
    fn only_records_for_the_queried_name_are_taken() {
        let name = Name::from_ascii("_xmpp-client._tcp.talpa.test.").expect("n");
        let m = answer(
            "_xmpp-client._tcp.evil.test.",
            vec![(0, 0, 5222, "evil.test.")],
            ResponseCode::NoError,
        );
        assert!(matches!(records(&m, &name, false), Ok(Records::None)));
        let m = answer(
            "_XMPP-client._tcp.talpa.test.",
            vec![(0, 0, 5222, "xmpp.talpa.test."), (0, 0, 0, "zero.port.")],
            ResponseCode::NoError,
        );
        match records(&m, &name, false) {
            Ok(Records::Found(t)) => {
                assert_eq!(t.len(), 1);
                assert_eq!(t[0].host, "xmpp.talpa.test");
            }
            _ => panic!("expected one target"),
        }
    }

    #[test]
    fn a_root_target_means_no_service_and_errors_are_errors() {
        let name = Name::from_ascii("_xmpp-client._tcp.talpa.test.").expect("n");
        let m = answer(
            "_xmpp-client._tcp.talpa.test.",
            vec![(0, 0, 5222, ".")],
            ResponseCode::NoError,
        );
        assert!(matches!(records(&m, &name, false), Ok(Records::Refused)));
        let m = answer(
            "_xmpp-client._tcp.talpa.test.",
            vec![],
            ResponseCode::NXDomain,
        );
        assert!(matches!(records(&m, &name, false), Ok(Records::None)));
        let m = answer(
            "_xmpp-client._tcp.talpa.test.",
            vec![],
            ResponseCode::ServFail,
        );
        assert!(records(&m, &name, false).is_err());
    }

    #[test]
    fn garbage_responses_are_errors_not_panics() {
        for bytes in [&b""[..], &[0xff; 3][..], &[0u8; 12][..], &[0xc0; 40][..]] {
            let _ = Message::from_vec(bytes);
        }
        let q = encode_query(9, Name::from_ascii("_xmpp-client._tcp.a.b.").expect("n")).expect("q");
        assert_eq!(usize::from(u16::from_be_bytes([q[0], q[1]])), q.len() - 2);
    }
}
