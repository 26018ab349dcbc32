//! Account supervisors: one task per enabled account that waits its jitter, waits for Tor,
//! logs in over the account's own isolated circuits, catches up, drains the outbox and feeds
//! inbound stanzas to the pipeline — and starts over, with jittered backoff, when anything
//! drops. There is no path that connects without Tor: without a tor client the account stays
//! in `waiting_for_tor`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rand::rngs::OsRng;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Id as MessageId, MessageType};

use crate::core::activity;
use crate::core::commands::Secret;
use crate::core::error::CoreError;
use crate::core::events::{Event, HeldCause, StoredMessage};
use crate::core::omemo::{self, OmemoRef, Opened};
use crate::core::pipeline::{self, Action, Classified, Source};
use crate::core::room_session::{Ctx, Rooms};
use crate::core::shared::{SharedRef, lock};
use crate::privacy::jitter::ConnectSchedule;
use crate::store::{self, AccountId, Store};
use crate::tor::{AccountIsolation, TorClient, TorError, Unreachable};
use crate::xmpp::muc::Affiliation;
use crate::xmpp::session::{CarbonDirection, PresenceKind, build_chat};
use crate::xmpp::srv::{self, DotResolver, SrvAnswer};
use crate::xmpp::stanza::InboundMessage;
use crate::xmpp::stanza_guard::GuardTrips;
use crate::xmpp::{BoxedStream, Session, SessionConfig, SessionEvent, StreamOpener, TlsMode};
use crate::xmpp::{TrustAnchor, XmppError};

/// An operation the actor asks of an online account (answered once the stanza is sent).
#[derive(Debug, Clone)]
pub(crate) enum SessionOp {
    /// Join (and, with `create`, configure a new room as private once the server created it).
    Join {
        /// The room.
        room: BareJid,
        /// Our nickname.
        nick: String,
        /// The room password (zeroized on drop, redacted in `Debug`).
        password: Option<Secret>,
        /// Whether we are creating the room.
        create: bool,
    },
    /// Leave.
    Leave {
        /// The room.
        room: BareJid,
    },
    /// Invite someone (mediated invitation).
    Invite {
        /// The room.
        room: BareJid,
        /// The invitee.
        jid: BareJid,
    },
    /// Invite someone directly (XEP-0249).
    DirectInvite {
        /// The room.
        room: BareJid,
        /// The invitee.
        jid: BareJid,
        /// A short text for the invitee.
        reason: Option<String>,
    },
    /// Change our nickname in a room.
    SetNick {
        /// The room.
        room: BareJid,
        /// The new nickname.
        nick: String,
    },
    /// Set a room's subject.
    SetSubject {
        /// The room.
        room: BareJid,
        /// The subject.
        subject: String,
    },
    /// Grant or revoke an affiliation (member, admin, owner, none; outcast bans).
    SetAffiliation {
        /// The room.
        room: BareJid,
        /// Whose.
        jid: BareJid,
        /// The new affiliation.
        affiliation: crate::xmpp::muc::Affiliation,
    },
    /// Kick an occupant (role none).
    Kick {
        /// The room.
        room: BareJid,
        /// The occupant's nick.
        nick: String,
        /// Why.
        reason: Option<String>,
    },
    /// Decline a mediated invitation (the room tells the inviter).
    Decline {
        /// The room.
        room: BareJid,
        /// Who invited.
        inviter: BareJid,
    },
    /// Self-ping every joined room now and rejoin those that forgot us.
    CheckRooms,
    /// Add a contact to the server roster and ask for their presence.
    AddContact(BareJid),
    /// Remove a contact from the server roster (which also cancels subscriptions).
    RemoveContact(BareJid),
    /// Let a contact see our presence.
    ApproveContact(BareJid),
    /// Refuse a contact's subscription request.
    DenyContact(BareJid),
    /// Block a JID (XEP-0191).
    Block(BareJid),
    /// Unblock a JID (XEP-0191).
    Unblock(BareJid),
    /// Read the server's archiving preference (XEP-0441).
    Archiving,
    /// Set the server's archiving preference (XEP-0441).
    SetArchiving(String),
    /// Correct one of our messages (XEP-0308).
    Correct {
        /// The conversation's peer.
        to: BareJid,
        /// The origin-id of the message being corrected.
        original: String,
        /// The new text.
        body: String,
        /// Plaintext only if the conversation and the original were.
        encryption: store::EncryptionChoice,
        /// The correction's own id (stanza id and origin-id, also stored with it), so a
        /// receipt or marker naming it finds the message it corrected.
        id: String,
    },
    /// Retract one of our messages (XEP-0424).
    Retract {
        /// The conversation's peer.
        to: BareJid,
        /// The origin-id of the message being retracted.
        original: String,
        /// Plaintext only if the conversation and the original were; otherwise OMEMO 2.
        encryption: store::EncryptionChoice,
    },
    /// Fetch a contact's OMEMO device lists and bundles (for `devices`).
    RefreshDevices(String),
    /// Publish the OMEMO keys again (after a change of who may read them).
    RepublishKeys,
    /// Tell a 1:1 partner a chat state or a `displayed` marker, if the conversation shares
    /// activity (`core::activity`).
    Activity(BareJid, crate::core::activity::Outgoing),
    /// Ask the server's upload service for a slot (XEP-0363; `core::files`).
    UploadSlot {
        /// The random name the server is told.
        filename: String,
        /// The size to upload.
        size: u64,
        /// The content type to announce.
        content_type: String,
    },
}

/// What an online account answers to a [`SessionOp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OpOutcome {
    /// The stanza was sent (or the request answered) with nothing to report.
    Done,
    /// The server's archiving preference after the operation.
    Archiving(String),
    /// An upload slot (`SessionOp::UploadSlot`).
    UploadSlot(Box<crate::xmpp::http_upload::UploadSlot>),
}

/// Asks one account's supervisor to flush its outbox, from a task that outlives the call
/// (a finished upload queues its message).
#[derive(Clone)]
pub(crate) struct Flusher(mpsc::UnboundedSender<Control>);

impl Flusher {
    /// Asks for a flush (a supervisor that ended flushes at its next start anyway).
    pub(crate) fn flush(&self) {
        let _ = self.0.send(Control::Flush);
    }
}

/// What the actor tells a supervisor.
enum Control {
    /// New messages are in the outbox.
    Flush,
    /// Do a room operation; answered once the stanza is sent.
    Op(SessionOp, oneshot::Sender<Result<OpOutcome, CoreError>>),
    /// Disconnect and end; the sender is told when done.
    Stop(oneshot::Sender<()>),
}

struct Running {
    control: mpsc::UnboundedSender<Control>,
    task: JoinHandle<()>,
}

/// The supervisors of the unlocked profile's enabled accounts.
pub(crate) struct Supervisors {
    running: HashMap<String, Running>,
    schedule: ConnectSchedule,
    shared: SharedRef,
}

impl Supervisors {
    /// No supervisor yet; accounts will wait up to `schedule.startup_max` before connecting.
    pub(crate) fn new(shared: SharedRef, schedule: ConnectSchedule) -> Self {
        Supervisors {
            running: HashMap::new(),
            schedule,
            shared,
        }
    }

    /// Sets the start-up delay bound for accounts started from now on.
    pub(crate) fn set_schedule(&mut self, schedule: ConnectSchedule) {
        self.schedule = schedule;
    }

    /// Starts supervising `account` (no-op if it already is).
    pub(crate) fn start(&mut self, account: store::Account) {
        if self
            .running
            .get(&account.jid)
            .is_some_and(|r| !r.task.is_finished())
        {
            return;
        }
        let (control, rx) = mpsc::unbounded_channel();
        let jid = account.jid.clone();
        let task = tokio::spawn(supervise(account, self.shared.clone(), self.schedule, rx));
        self.running.insert(jid, Running { control, task });
    }

    /// Tells an account's supervisor that its outbox has new entries.
    pub(crate) fn flush(&self, jid: &str) {
        if let Some(r) = self.running.get(jid) {
            let _ = r.control.send(Control::Flush);
        }
    }

    /// A [`Flusher`] for `jid`'s supervisor, if it runs.
    pub(crate) fn flusher(&self, jid: &str) -> Option<Flusher> {
        self.running.get(jid).map(|r| Flusher(r.control.clone()))
    }

    /// Asks an online account to do a room operation.
    pub(crate) async fn session_op(
        &self,
        jid: &str,
        op: SessionOp,
    ) -> Result<OpOutcome, CoreError> {
        let Some(r) = self.running.get(jid) else {
            return Err(CoreError::InvalidInput(format!("{jid} is disabled")));
        };
        let (tx, rx) = oneshot::channel();
        r.control
            .send(Control::Op(op, tx))
            .map_err(|_| CoreError::Stopped)?;
        rx.await
            .map_err(|_| CoreError::Xmpp("the connection ended".into()))?
    }

    /// Disconnects one account and waits for its supervisor to end.
    pub(crate) async fn stop(&mut self, jid: &str) {
        if let Some(r) = self.running.remove(jid) {
            stop_one(r).await;
        }
        self.shared.account_state(jid, "disabled", None);
    }

    /// Disconnects every account.
    pub(crate) async fn stop_all(&mut self) {
        let all: Vec<_> = self.running.drain().map(|(_, r)| r).collect();
        futures::future::join_all(all.into_iter().map(stop_one)).await;
        lock(&self.shared.states).clear();
    }
}

async fn stop_one(r: Running) {
    let (tx, rx) = oneshot::channel();
    if r.control.send(Control::Stop(tx)).is_ok() {
        // A session that does not close within this bound is cut off.
        let _ = tokio::time::timeout(Duration::from_secs(10), rx).await;
    }
    r.task.abort();
}

/// Waits for `fut`, serving `Flush` requests meanwhile (nothing to flush while offline);
/// `None` when the supervisor was told to stop.
async fn or_stop<T>(
    fut: impl Future<Output = T>,
    control: &mut mpsc::UnboundedReceiver<Control>,
) -> Option<T> {
    tokio::pin!(fut);
    loop {
        tokio::select! {
            out = &mut fut => return Some(out),
            c = control.recv() => match c {
                Some(Control::Flush) => {}
                Some(Control::Op(_, reply)) => {
                    let _ = reply.send(Err(CoreError::Xmpp("the account is not online yet".into())));
                }
                Some(Control::Stop(done)) => {
                    let _ = done.send(());
                    return None;
                }
                None => return None,
            },
        }
    }
}

enum Ended {
    Stopped,
    Failed(String),
    /// Tor works but the server did not answer through it (the exit told why).
    Unreachable(Unreachable),
    /// The server or Talpa's policy refused the login: trying again with the same settings
    /// cannot succeed (a wrong password) or must not happen silently (a downgrade).
    Refused(String),
    /// The server sends an element the stanza guard refuses on every connection: reconnecting
    /// would fetch it again.
    InputRefused(String),
    Dropped(String),
}

/// Whether a failed login must not be retried with the same settings: the server refused the
/// credentials (a wrong password; retrying only piles up failed logins, which servers count
/// against the account), or the server no longer offers what Talpa requires (channel binding
/// seen before, an acceptable SASL mechanism). A temporary failure the server names as such is
/// retried.
fn login_refused(e: &XmppError) -> bool {
    match e {
        XmppError::AuthFailed(why) => !why.contains("TemporaryAuthFailure"),
        XmppError::Downgrade | XmppError::NoAcceptableMechanism { .. } => true,
        _ => false,
    }
}

async fn supervise(
    account: store::Account,
    shared: SharedRef,
    schedule: ConnectSchedule,
    mut control: mpsc::UnboundedReceiver<Control>,
) {
    let jid = account.jid.clone();
    let isolation = AccountIsolation::new();
    lock(&shared.isolations).insert(jid.clone(), isolation.clone());
    let mut attempt: u32 = 0;
    let mut first = true;
    // Shared by every connection of this supervisor: refusals by the stanza guard, counted
    // across sessions so that a server replaying the refused element is not retried for ever.
    let guard_trips = GuardTrips::default();
    loop {
        let delay = if first {
            schedule.startup_delay(&mut OsRng)
        } else {
            schedule.reconnect_delay(attempt, &mut OsRng)
        };
        first = false;
        shared.account_state(
            &jid,
            "waiting_for_jitter",
            Some(format!("connecting in {} s", delay.as_secs())),
        );
        if or_stop(tokio::time::sleep(delay), &mut control)
            .await
            .is_none()
        {
            return;
        }
        let Some(tor) = shared.tor() else {
            shared.account_state(
                &jid,
                "waiting_for_tor",
                Some("Tor is not configured".into()),
            );
            let _ = or_stop(futures::future::pending::<()>(), &mut control).await;
            return;
        };
        if !tor.status().borrow().is_ready() {
            let text = tor.status().borrow().text.clone();
            shared.account_state(&jid, "waiting_for_tor", Some(text));
            if or_stop(tor.wait_ready(), &mut control).await.is_none() {
                return;
            }
        }
        shared.account_state(&jid, "connecting", None);
        let ended = Box::pin(run_session(
            &account,
            &guard_trips,
            &isolation,
            tor,
            &shared,
            &mut control,
        ))
        .await;
        // Whoever the rooms showed is no longer known to be there.
        shared.rooms.offline(&jid);
        omemo::forget_stream(&shared, account.id);
        let ended = after_guard_trips(ended, &guard_trips);
        match ended {
            Ended::Stopped => return,
            Ended::Failed(why) => {
                attempt = attempt.saturating_add(1);
                shared.account_state(&jid, "error", Some(why));
            }
            Ended::Unreachable(cause) => {
                attempt = attempt.saturating_add(1);
                shared.account_unreachable(&jid, cause);
            }
            Ended::Refused(why) => {
                // No retry until the account is edited (which restarts its supervisor) or
                // disabled and enabled again.
                shared.account_state(&jid, "login_refused", Some(why));
                let _ = or_stop(futures::future::pending::<()>(), &mut control).await;
                return;
            }
            Ended::InputRefused(why) => {
                // The server sends the element again on every connection: no retry until the
                // account is edited or disabled and enabled again.
                shared.account_state(&jid, "input_refused", Some(why));
                let _ = or_stop(futures::future::pending::<()>(), &mut control).await;
                return;
            }
            Ended::Dropped(why) => {
                // A connection the guard ended is no ordinary drop: the backoff keeps growing.
                attempt = if guard_trips.consecutive() > 0 {
                    attempt.saturating_add(1)
                } else {
                    0
                };
                shared.account_state(&jid, "reconnecting", Some(why));
            }
        }
    }
}

/// How a session's end is taken once the stanza guard's refusals are known: after
/// [`crate::xmpp::stanza_guard::MAX_CONSECUTIVE_TRIPS`] connections in a row ended by the guard, any end but
/// a stop becomes [`Ended::InputRefused`].
fn after_guard_trips(ended: Ended, trips: &GuardTrips) -> Ended {
    match ended {
        Ended::Stopped | Ended::Refused(_) | Ended::InputRefused(_) => ended,
        _ if trips.persistent() => Ended::InputRefused(
            XmppError::ServerInputRefused {
                times: trips.consecutive(),
            }
            .to_string(),
        ),
        other => other,
    }
}

fn session_config(
    account: &store::Account,
    tls_mode: TlsMode,
    guard_trips: &GuardTrips,
) -> Result<SessionConfig, String> {
    let jid = BareJid::new(&account.jid).map_err(|e| format!("invalid account JID: {e}"))?;
    Ok(SessionConfig {
        jid,
        password: account.password.clone(),
        tls_mode,
        trust: trust_anchor(account),
        require_channel_binding: account.sasl_plus_seen,
        timeouts: tokio_xmpp::xmlstream::Timeouts::default(),
        guard_trips: guard_trips.clone(),
    })
}

/// Whether `host` could name a server at all: not empty, no white space, no control character
/// (a host is shown to the user and handed to Tor as is).
pub(crate) fn is_host_name_shaped(host: &str) -> bool {
    !host.trim().is_empty() && !host.contains(|c: char| c.is_whitespace() || c.is_control())
}

/// Refuses account changes that could not work, before anything is stored.
pub(crate) fn check_changes(c: &crate::core::commands::AccountChanges) -> Result<(), CoreError> {
    let bad = |m: String| Err(CoreError::InvalidInput(m));
    if c.password
        .as_ref()
        .is_some_and(crate::core::commands::Secret::is_empty)
    {
        return bad("the password is empty".into());
    }
    if let Some(Some(host)) = &c.host
        && !is_host_name_shaped(host)
    {
        return bad(format!("{host:?} is not a host name"));
    }
    if c.port == Some(Some(0)) {
        return bad("port 0 is not a port".into());
    }
    if let Some(Some(resolver)) = &c.dot_resolver {
        resolver
            .parse::<DotResolver>()
            .map_err(|e| CoreError::InvalidInput(e.to_string()))?;
    }
    if let Some(Some(pem)) = &c.trust_anchor_pem {
        check_trust_anchor(pem)?;
    }
    Ok(())
}

/// Refuses a trust anchor that is not a usable PEM certificate (checked when an account is
/// added or edited, so a bad file is named at once instead of failing every login).
pub(crate) fn check_trust_anchor(pem: &str) -> Result<(), CoreError> {
    crate::xmpp::tls::client_config(&TrustAnchor::ExtraCaPem(pem.to_owned()), false)
        .map(drop)
        .map_err(|e| CoreError::InvalidInput(format!("the trust anchor: {e}")))
}

/// Writes checked changes into the stored account.
pub(crate) fn apply_changes(a: &mut store::Account, c: &crate::core::commands::AccountChanges) {
    if let Some(p) = &c.password {
        a.password = zeroize::Zeroizing::new(p.expose().to_owned());
    }
    if let Some(host) = &c.host {
        a.host = host.as_deref().map(str::trim).map(str::to_owned);
    }
    if let Some(port) = c.port {
        a.port = port;
    }
    if let Some(pem) = &c.trust_anchor_pem {
        a.trust_anchor_pem.clone_from(pem);
    }
    if !a.options.is_object() {
        a.options = serde_json::json!({});
    }
    if let Some(direct) = c.direct_tls {
        a.options["direct_tls"] = serde_json::Value::from(direct);
    }
    if let Some(resolver) = &c.dot_resolver {
        match resolver {
            Some(r) => a.options["dot_resolver"] = serde_json::Value::from(r.as_str()),
            None => {
                if let Some(o) = a.options.as_object_mut() {
                    o.remove("dot_resolver");
                }
            }
        }
    }
}

/// The `account_settings` reply: everything but the password.
pub(crate) fn settings_reply(a: &store::Account) -> crate::core::commands::Reply {
    crate::core::commands::Reply::AccountSettings {
        account: a.jid.clone(),
        enabled: a.enabled,
        host: a.host.clone(),
        port: a.port,
        direct_tls: direct_tls(a),
        trust_anchor_pem: a.trust_anchor_pem.clone(),
        dot_resolver: a
            .options
            .get("dot_resolver")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
        local_only_contacts: local_only_contacts(a),
        retention: a.retention.as_str().to_owned(),
    }
}

fn trust_anchor(account: &store::Account) -> TrustAnchor {
    account
        .trust_anchor_pem
        .clone()
        .map_or(TrustAnchor::WebPki, TrustAnchor::ExtraCaPem)
}

fn direct_tls(account: &store::Account) -> bool {
    account
        .options
        .get("direct_tls")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

/// The account's DNS-over-TLS resolver for SRV lookups (the `dot_resolver` option, else the
/// default public resolver).
fn dot_resolver(account: &store::Account) -> Result<DotResolver, String> {
    account
        .options
        .get("dot_resolver")
        .and_then(serde_json::Value::as_str)
        .map_or_else(|| Ok(DotResolver::default()), str::parse)
        .map_err(|e: XmppError| e.to_string())
}

fn domain_of(jid: &str) -> String {
    jid.rsplit('@').next().unwrap_or(jid).to_owned()
}

/// Where one login attempt connects: the hosts to try in order (all handed to Tor
/// unresolved) and how TLS starts on them.
struct Targets {
    hosts: Vec<(String, u16)>,
    tls_mode: TlsMode,
    /// How the list was found, for the log (never user data beyond the server's name).
    via: &'static str,
}

/// The host override if set; else the JID domain's SRV records looked up by DNS over TLS
/// through the account's own Tor circuits (XEP-0368: the best-priority record decides
/// between direct TLS and STARTTLS; STARTTLS lists end with `domain:5222`); else, when the
/// lookup finds nothing or fails, the domain on the standard port.
async fn targets(account: &store::Account, tor: &TorClient, iso: &AccountIsolation) -> Targets {
    let domain = domain_of(&account.jid);
    let forced_direct = direct_tls(account);
    let fallback = |via| Targets {
        hosts: vec![(domain.clone(), if forced_direct { 5223 } else { 5222 })],
        tls_mode: if forced_direct {
            TlsMode::DirectTls
        } else {
            TlsMode::StartTls
        },
        via,
    };
    if let Some(host) = &account.host {
        let mut t = fallback("host override");
        t.hosts = vec![(host.clone(), account.port.unwrap_or(t.hosts[0].1))];
        return t;
    }
    let resolver = match dot_resolver(account) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(account = %account.id.0, "bad DNS-over-TLS resolver option: {e}");
            return fallback("standard port (bad resolver option)");
        }
    };
    let lookup = async {
        let stream = tor
            .connect(iso, &resolver.host, resolver.port)
            .await
            .map_err(|e| XmppError::Open(e.to_string()))?;
        srv::lookup(stream, &resolver, &trust_anchor(account), &domain).await
    };
    let answer = match tokio::time::timeout(srv::LOOKUP_TIMEOUT, lookup).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            tracing::info!(account = %account.id.0, "SRV lookup failed, using the standard port: {e}");
            return fallback("standard port (SRV lookup failed)");
        }
        Err(_) => return fallback("standard port (SRV lookup timed out)"),
    };
    match answer {
        SrvAnswer::Targets(list) => {
            let direct = !forced_direct && list.first().is_some_and(|t| t.direct_tls);
            let want_direct = forced_direct || direct;
            let mut hosts: Vec<(String, u16)> = list
                .into_iter()
                .filter(|t| t.direct_tls == want_direct)
                .map(|t| (t.host, t.port))
                .collect();
            if hosts.is_empty() {
                return fallback("standard port (no SRV record for the TLS mode)");
            }
            if !want_direct && !hosts.iter().any(|(h, p)| *h == domain && *p == 5222) {
                hosts.push((domain.clone(), 5222));
            }
            Targets {
                hosts,
                tls_mode: if want_direct {
                    TlsMode::DirectTls
                } else {
                    TlsMode::StartTls
                },
                via: "SRV over DNS-over-TLS",
            }
        }
        SrvAnswer::NoRecords | SrvAnswer::ServiceRefused => fallback("standard port (no SRV)"),
    }
}

/// Opens a Tor stream to the first of `hosts` that answers. When none does and the last
/// failure was the server's side (not Tor's), `unreachable` says why.
fn opener(
    tor: TorClient,
    isolation: AccountIsolation,
    hosts: Vec<(String, u16)>,
    unreachable: Arc<std::sync::Mutex<Option<Unreachable>>>,
) -> StreamOpener {
    let hosts = Arc::new(hosts);
    Arc::new(move || {
        let (tor, isolation, hosts) = (tor.clone(), isolation.clone(), hosts.clone());
        let unreachable = unreachable.clone();
        Box::pin(async move {
            let mut last = String::from("no host to connect to");
            for (host, port) in hosts.iter() {
                match tor.connect(&isolation, host, *port).await {
                    Ok(s) => {
                        *lock(&unreachable) = None;
                        return Ok(Box::new(s) as BoxedStream);
                    }
                    Err(e) => {
                        *lock(&unreachable) = match &e {
                            TorError::Unreachable(cause) => Some(*cause),
                            _ => None,
                        };
                        last = e.to_string();
                    }
                }
            }
            Err(XmppError::Open(last))
        })
    })
}

fn last_archive_key(account: AccountId) -> String {
    format!("mam.last.{}", account.0)
}

async fn run_session(
    account: &store::Account,
    guard_trips: &GuardTrips,
    isolation: &AccountIsolation,
    tor: TorClient,
    shared: &SharedRef,
    control: &mut mpsc::UnboundedReceiver<Control>,
) -> Ended {
    let Some(found) = Box::pin(or_stop(targets(account, &tor, isolation), control)).await else {
        return Ended::Stopped;
    };
    tracing::debug!(account = %account.id.0, via = found.via, "connect targets chosen");
    let config = match session_config(account, found.tls_mode, guard_trips) {
        Ok(c) => c,
        Err(e) => return Ended::Failed(e),
    };
    let unreachable = Arc::new(std::sync::Mutex::new(None));
    let opener = opener(tor, isolation.clone(), found.hosts, unreachable.clone());
    let connect = Session::connect(config, opener);
    let (session, mut events, report) = match Box::pin(or_stop(connect, control)).await {
        None => return Ended::Stopped,
        Some(Err(e @ XmppError::Open(_))) => {
            let cause = *lock(&unreachable);
            return cause.map_or_else(|| Ended::Failed(e.to_string()), Ended::Unreachable);
        }
        Some(Err(e)) if login_refused(&e) => return Ended::Refused(e.to_string()),
        Some(Err(e)) => return Ended::Failed(e.to_string()),
        Some(Ok(s)) => s,
    };
    let id = account.id;
    let st = match omemo::load(shared, id).await {
        Ok(st) => st,
        Err(e) => {
            session.close().await;
            return Ended::Failed(format!("OMEMO state: {e}"));
        }
    };
    if report.channel_binding && !account.sasl_plus_seen {
        let _ = shared
            .store
            .with(move |s| Ok(s.set_sasl_plus_seen(id)?))
            .await;
    }

    let key = last_archive_key(id);
    let last = shared
        .store
        .with(move |s| Ok(s.setting(&key)?))
        .await
        .ok()
        .flatten();
    let startup = match or_stop(session.start(last), control).await {
        None => {
            session.close().await;
            return Ended::Stopped;
        }
        Some(Err(e)) => return Ended::Failed(e.to_string()),
        Some(Ok(s)) => s,
    };
    let local_only = local_only_contacts(account);
    let mut roster: Vec<String> = if local_only {
        local_contacts(shared, account.id).await
    } else {
        startup.roster.iter().map(|i| i.jid.to_string()).collect()
    };
    // Asking for the block list also subscribes this resource to its pushes (XEP-0191).
    let mut blocked: HashSet<BareJid> = match session.blocklist().await {
        Ok(jids) => jids.iter().map(Jid::to_bare).collect(),
        Err(e) => {
            tracing::debug!(error = %e, "no block list (server without XEP-0191?)");
            HashSet::new()
        }
    };
    emit_blocklist(shared, account, &blocked);
    ingest_archive(&session, shared, account, &st, &blocked, startup.archived).await;
    // The catch-up is done: used prekeys go, fresh bundles and our device lists go up.
    if let Err(e) = omemo::publish_own(&session, shared, id, &st).await {
        shared.emit(Event::Error {
            kind: e.kind().into(),
            message: format!("could not publish the OMEMO keys: {e}"),
            account: Some(account.jid.clone()),
        });
    }
    shared.activity.set_roster(&account.jid, &roster);
    shared.emit(Event::Roster {
        account: account.jid.clone(),
        contacts: roster.clone(),
    });
    if !local_only {
        shared.roster_names.replace(
            &account.jid,
            startup
                .roster
                .iter()
                .map(|i| (i.jid.to_string(), i.name.as_deref())),
        );
        crate::core::contact_names::announce(shared, &account.jid).await;
    }
    shared.account_state(
        &account.jid,
        "online",
        Some(session.bound_jid().to_string()),
    );

    let mut in_flight = InFlight::default();
    let mut held: HashSet<String> = HashSet::new();
    let mut acks = FuturesUnordered::new();
    let mut rooms = Rooms::new();
    let ctx = Ctx {
        session: &session,
        shared,
        account,
        st: &st,
    };
    ctx.autojoin(&mut rooms).await;
    reconcile_outbox(&session, account, shared).await;
    let mut self_ping = tokio::time::interval_at(
        tokio::time::Instant::now() + SELF_PING_EVERY,
        SELF_PING_EVERY,
    );
    self_ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    flush(&ctx, &mut held, &mut in_flight, &mut acks).await;
    // Key exchanges read from the archive are answered now (after the outbox, which may have
    // answered some already).
    omemo::send_due_heartbeats(&session, shared, id, &st).await;
    // Events taken from the stream while gathering a batch of chat messages, handled next.
    let mut pending: VecDeque<SessionEvent> = VecDeque::new();
    loop {
        tokio::select! {
            event = next_event(&mut pending, &mut events) => match event {
                None => return Ended::Dropped("the stream closed".into()),
                Some(SessionEvent::Disconnected { reason }) => return Ended::Dropped(reason),
                Some(SessionEvent::Suspended) => {
                    shared.account_state(&account.jid, "reconnecting", None);
                }
                Some(SessionEvent::Online { resumed, bound_jid }) => {
                    if !resumed {
                        // A fresh stream (resumption failed): the server forgot this
                        // resource, so start over — carbons, catch-up of what arrived in
                        // between, presence — and whatever was not acknowledged must go
                        // again, unless the archive shows the server got it before the drop.
                        in_flight.new_stream();
                        held.clear();
                        omemo::forget_stream(shared, id);
                        let key = last_archive_key(account.id);
                        let last = shared
                            .store
                            .with(move |s| Ok(s.setting(&key)?))
                            .await
                            .ok()
                            .flatten();
                        match session.start(last).await {
                            Ok(startup) => {
                                ingest_archive(&session, shared, account, &st, &blocked, startup.archived)
                                    .await;
                            }
                            Err(e) => return Ended::Dropped(format!("restart after rebind: {e}")),
                        }
                        reconcile_outbox(&session, account, shared).await;
                        ctx.rejoin_all(&mut rooms).await;
                    }
                    shared.account_state(&account.jid, "online", Some(bound_jid.to_string()));
                    flush(&ctx, &mut held, &mut in_flight, &mut acks).await;
                }
                Some(SessionEvent::Message(m)) if m.kind == MessageType::Groupchat => {
                    ctx.groupchat(&rooms, &m).await;
                }
                Some(first @ (SessionEvent::Message(_) | SessionEvent::Carbon { .. })) => {
                    // 1:1 messages (live or carbons) already queued behind this one are
                    // decrypted in order and stored with it in one transaction: a burst costs
                    // one commit per batch, not one per message. Each is announced only once
                    // its batch is committed.
                    let mut batch = Vec::new();
                    gather(&ctx, &rooms, &blocked, first, &mut batch).await;
                    let mut taken = 1;
                    while pending.is_empty() && taken < INGEST_BATCH {
                        match events.try_recv() {
                            Ok(SessionEvent::Message(m)) if m.kind != MessageType::Groupchat => {
                                gather(&ctx, &rooms, &blocked, SessionEvent::Message(m), &mut batch)
                                    .await;
                            }
                            Ok(c @ SessionEvent::Carbon { .. }) => {
                                gather(&ctx, &rooms, &blocked, c, &mut batch).await;
                            }
                            Ok(other) => pending.push_back(other),
                            Err(_) => break,
                        }
                        taken += 1;
                    }
                    ingest_batch(shared, account, batch).await;
                }
                Some(SessionEvent::Presence { from, kind: PresenceKind::Subscribe, .. }) => {
                    let from = from.as_ref().map(Jid::to_bare);
                    if let Some(from) = from.filter(|f| !pipeline::is_blocked(f, &blocked)) {
                        shared.emit(Event::SubscriptionRequest {
                            account: account.jid.clone(),
                            from: from.to_string(),
                        });
                    }
                }
                Some(SessionEvent::Presence { raw, .. }) => {
                    // A burst of presences (a room's occupants as we join, a netsplit healing)
                    // is followed through first; each room's occupants are published once, at
                    // its end (`Ctx::publish_changed`).
                    ctx.presence(&mut rooms, &raw).await;
                    let mut taken = 1;
                    while pending.is_empty() && taken < PRESENCE_BURST {
                        match events.try_recv() {
                            Ok(SessionEvent::Presence { raw, kind, .. })
                                if kind != PresenceKind::Subscribe =>
                            {
                                ctx.presence(&mut rooms, &raw).await;
                            }
                            Ok(other) => pending.push_back(other),
                            Err(_) => break,
                        }
                        taken += 1;
                    }
                    ctx.publish_changed(&mut rooms).await;
                }
                Some(SessionEvent::RosterPush(_)) if local_only => {}
                Some(SessionEvent::RosterPush(items)) => {
                    for item in items {
                        let jid = item.jid.to_string();
                        let removed = item.subscription
                            == xmpp_parsers::roster::Subscription::Remove;
                        roster.retain(|j| *j != jid);
                        let name = if removed { None } else { item.name.as_deref() };
                        shared.roster_names.update(&account.jid, jid.clone(), name);
                        if !removed {
                            roster.push(jid);
                        }
                    }
                    shared.activity.set_roster(&account.jid, &roster);
                    shared.emit(Event::Roster {
                        account: account.jid.clone(),
                        contacts: roster.clone(),
                    });
                    crate::core::contact_names::announce(shared, &account.jid).await;
                }
                Some(SessionEvent::Rejected(r)) => {
                    tracing::info!(account = %account.jid, rejection = ?r, "dropped hostile or invalid input");
                }
                Some(SessionEvent::BlockListPush { blocked: add, jids }) => {
                    let jids = jids.iter().map(Jid::to_bare);
                    match (add, jids.len()) {
                        (true, _) => blocked.extend(jids),
                        // An empty unblock push unblocks everybody.
                        (false, 0) => blocked.clear(),
                        (false, _) => {
                            for j in jids {
                                blocked.remove(&j);
                            }
                        }
                    }
                    emit_blocklist(shared, account, &blocked);
                }
                Some(SessionEvent::PubSubEvent { from, event }) => {
                    let changed =
                        omemo::on_pep_event(&session, shared, id, &st, from.as_ref(), &event).await;
                    if changed && !held.is_empty() {
                        // Someone published keys: held messages may go now.
                        held.clear();
                        flush(&ctx, &mut held, &mut in_flight, &mut acks).await;
                    }
                    if changed && let Some(f) = &from {
                        ctx.keys_changed(&rooms, f.to_bare().as_str()).await;
                    }
                    ctx.pubsub_event(&mut rooms, from.as_ref(), &event).await;
                }
            },
            _ = self_ping.tick() => ctx.self_ping(&mut rooms).await,
            c = control.recv() => match c {
                Some(Control::Flush) => {
                    flush(&ctx, &mut held, &mut in_flight, &mut acks).await;
                }
                Some(Control::Op(op, reply)) => {
                    let outcome = session_op(&ctx, &mut rooms, op.clone()).await;
                    // Do not wait for the server's push: drop a blocked JID's messages now.
                    let changed = match (&op, &outcome) {
                        (SessionOp::Block(j), Ok(_)) => blocked.insert(j.clone()),
                        (SessionOp::Unblock(j), Ok(_)) => blocked.remove(j),
                        _ => false,
                    };
                    if changed {
                        emit_blocklist(shared, account, &blocked);
                    }
                    let _ = reply.send(outcome);
                }
                Some(Control::Stop(done)) => {
                    session.close().await;
                    let _ = done.send(());
                    return Ended::Stopped;
                }
                None => {
                    session.close().await;
                    return Ended::Stopped;
                }
            },
            Some((origin_id, acked, stream)) = acks.next(), if !acks.is_empty() => {
                if acked {
                    let oid: String = origin_id;
                    let _ = shared.store.with(move |s| Ok(s.outbox_remove(&oid)?)).await;
                } else {
                    in_flight.failed(&origin_id, stream);
                }
            }
        }
    }
}

/// Whether the account keeps its contacts only in the encrypted store (never in the server
/// roster).
pub(crate) fn local_only_contacts(account: &store::Account) -> bool {
    account
        .options
        .get("local_only_contacts")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

/// The contacts kept in the encrypted store for an account.
pub(crate) async fn local_contacts(shared: &SharedRef, account: AccountId) -> Vec<String> {
    shared
        .store
        .with(move |s| Ok(s.list_contacts(account)?))
        .await
        .map(|c| c.into_iter().map(|c| c.jid).collect())
        .unwrap_or_default()
}

fn emit_blocklist(shared: &SharedRef, account: &store::Account, blocked: &HashSet<BareJid>) {
    let mut jids: Vec<String> = blocked.iter().map(ToString::to_string).collect();
    jids.sort();
    shared.emit(Event::Blocklist {
        account: account.jid.clone(),
        jids,
    });
}

/// An acknowledgement wait: (origin-id, acked, the stream generation it was sent on).
type AckFuture = std::pin::Pin<Box<dyn Future<Output = (String, bool, u64)> + Send>>;

/// Outbox entries sent and awaiting their acknowledgement, per stream generation: a wait
/// that fails for a stream that is already gone must not mark a resend on the new stream as
/// unsent (or the next flush would send it a second time).
#[derive(Default)]
struct InFlight {
    sent: HashMap<String, u64>,
    stream: u64,
}

impl InFlight {
    /// A fresh (not resumed) stream: nothing is in flight on it yet.
    fn new_stream(&mut self) {
        self.sent.clear();
        self.stream += 1;
    }

    fn contains(&self, origin_id: &str) -> bool {
        self.sent.contains_key(origin_id)
    }

    fn insert(&mut self, origin_id: String) {
        self.sent.insert(origin_id, self.stream);
    }

    /// The send of `origin_id` on stream generation `stream` was not acknowledged.
    fn failed(&mut self, origin_id: &str, stream: u64) {
        if self.sent.get(origin_id) == Some(&stream) {
            self.sent.remove(origin_id);
        }
    }
}

/// Runs caught-up archive messages, oldest first, through the block stage and the pipeline;
/// each one's archive id becomes the resume point of the next catch-up.
async fn ingest_archive(
    session: &Session,
    shared: &SharedRef,
    account: &store::Account,
    st: &OmemoRef,
    blocked: &HashSet<BareJid>,
    archived: Vec<crate::xmpp::session::ArchivedMessage>,
) {
    for archived in archived {
        let ts = archived.delay.as_ref().map(|d| d.stamp);
        let action = if pipeline::from_blocked(&archived.message, blocked) {
            Action::Ignore
        } else {
            chat_action(
                session,
                shared,
                account,
                st,
                &archived.message,
                Source::Archive,
                ts,
            )
            .await
        };
        ingest_with(shared, account, action, Some(archived.archive_id), true).await;
    }
}

/// Gives an archived message the time that keeps archive order within its stamp's second.
fn in_archive_order(
    s: &mut Store,
    account: AccountId,
    action: Action,
) -> Result<Action, CoreError> {
    let Action::Store(mut c) = action else {
        return Ok(action);
    };
    if let Some(stamp) = c.server_ts {
        let kind = if c.room {
            store::ConversationKind::GroupChat
        } else {
            store::ConversationKind::Chat
        };
        let conv = s.upsert_conversation(account, &c.peer, kind, Utc::now())?;
        let recent: Vec<i64> = s
            .history(conv, None, 50)?
            .iter()
            .map(|m| {
                m.server_ts
                    .map_or(m.local_ts, |t| t.min(m.local_ts))
                    .timestamp_millis()
            })
            .collect();
        c.server_ts = Some(pipeline::archive_order_ts(stamp, &recent));
    }
    Ok(Action::Store(c))
}

/// How far before the oldest outbox entry the archive is searched for it (clock skew between
/// this machine and the server).
const RECONCILE_SLACK: chrono::Duration = chrono::Duration::minutes(10);

/// Drops from the outbox every entry the server demonstrably received — it is in the
/// account's own archive — although its XEP-0198 acknowledgement never arrived (the
/// connection or the process died in between). Only what the server never got is resent, so
/// a crash or a lost circuit does not make the receiver see a message twice.
async fn reconcile_outbox(session: &Session, account: &store::Account, shared: &SharedRef) {
    let id = account.id;
    let Ok(entries) = shared
        .store
        .with(move |s| Ok(s.outbox_list(Some(id))?))
        .await
    else {
        return;
    };
    let Some(oldest) = entries.iter().map(|e| e.created).min() else {
        return;
    };
    let delivered = match session
        .archived_sent_ids_since(oldest - RECONCILE_SLACK)
        .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::debug!(error = %e, "cannot check the archive for unacknowledged messages");
            return;
        }
    };
    let done: Vec<String> = entries
        .into_iter()
        .map(|e| e.origin_id)
        .filter(|o| delivered.contains(o))
        .collect();
    if done.is_empty() {
        return;
    }
    tracing::info!(
        count = done.len(),
        "outbox entries already received by the server"
    );
    let _ = shared
        .store
        .with(move |s| {
            for oid in &done {
                s.outbox_remove(oid)?;
            }
            Ok(())
        })
        .await;
}

/// How often joined rooms are self-pinged (XEP-0410).
const SELF_PING_EVERY: Duration = Duration::from_secs(15 * 60);

/// Sends every outbox entry of the account not already in flight on this stream. Each entry
/// keeps its origin-id as stanza id across resends, so receivers can drop duplicates. Unless
/// the user turned encryption off for the conversation, each is OMEMO-encrypted afresh; one
/// that cannot be encrypted for anybody stays queued (`message_held`), never sent in plaintext.
#[allow(
    clippy::too_many_arguments,
    reason = "the supervisor's per-stream state, passed apart to keep borrows simple"
)]
async fn flush(
    ctx: &Ctx<'_>,
    held: &mut HashSet<String>,
    in_flight: &mut InFlight,
    acks: &mut FuturesUnordered<AckFuture>,
) {
    let (session, account, shared, st) = (ctx.session, ctx.account, ctx.shared, ctx.st);
    let id = account.id;
    let Ok(entries) = shared
        .store
        .with(move |s| {
            let entries = s.outbox_list(Some(id))?;
            let mut out = Vec::with_capacity(entries.len());
            for e in entries {
                let conv = s.conversation(e.conversation)?;
                out.push((e, conv.map(|c| c.encryption).unwrap_or_default()));
            }
            Ok(out)
        })
        .await
    else {
        return;
    };
    for (entry, choice) in entries {
        if in_flight.contains(&entry.origin_id) {
            continue;
        }
        let Ok(payload) = serde_json::from_slice::<serde_json::Value>(&entry.payload) else {
            tracing::warn!("dropping an unreadable outbox entry");
            let oid = entry.origin_id.clone();
            let _ = shared.store.with(move |s| Ok(s.outbox_remove(&oid)?)).await;
            continue;
        };
        let to = payload
            .get("to")
            .and_then(|v| v.as_str())
            .and_then(|t| Jid::new(t).ok());
        let body = payload.get("body").and_then(|v| v.as_str());
        let (Some(to), Some(body)) = (to, body) else {
            continue;
        };
        let plaintext = payload
            .get("plaintext")
            .and_then(serde_json::Value::as_bool)
            == Some(true);
        // A private message to a room occupant (`room/nick`): OMEMO has no session for a
        // nickname, so it goes only in plaintext, and only when the user chose that.
        let to = match to.try_into_full() {
            Ok(full) if plaintext => {
                let mut msg = build_chat(Jid::from(full), body, MessageType::Chat, Vec::new());
                msg.id = Some(MessageId(entry.origin_id.clone()));
                if send_tracked(ctx, &entry.origin_id, msg, in_flight, acks)
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            Ok(full) => {
                hold(
                    shared,
                    account,
                    held,
                    (entry.conversation, &full.to_bare()),
                    &entry.origin_id,
                    HeldCause::OccupantMessage,
                    "a private message to a room occupant cannot be end-to-end encrypted; \
                     turn encryption off for this conversation to send it in plaintext"
                        .into(),
                )
                .await;
                continue;
            }
            Err(bare) => bare.to_bare(),
        };
        let kind = if payload.get("kind").and_then(|k| k.as_str()) == Some("groupchat") {
            MessageType::Groupchat
        } else {
            MessageType::Chat
        };
        // A conversation switched off after the message was queued still gets it encrypted.
        let choice = if choice == store::EncryptionChoice::Plaintext && !plaintext {
            store::EncryptionChoice::Omemo
        } else {
            choice
        };
        let mut msg = if plaintext {
            // A shared file's URL also goes as XEP-0066 out-of-band data (`core::files`).
            let oob = payload
                .get("oob")
                .and_then(|u| u.as_str())
                .map(crate::xmpp::stanza::oob_element)
                .into_iter()
                .collect();
            build_chat(Jid::from(to.clone()), body, kind, oob)
        } else {
            let members = if kind == MessageType::Groupchat {
                room_members(session, shared, account, &to).await
            } else {
                Vec::new()
            };
            if kind == MessageType::Groupchat && members.is_empty() {
                hold(
                    shared,
                    account,
                    held,
                    (entry.conversation, &to),
                    &entry.origin_id,
                    HeldCause::NoRoomMembers,
                    "no member of the room is known yet (join it first)".into(),
                )
                .await;
                continue;
            }
            let content = crate::omemo::sce::MessageContent {
                body: Some(body.to_owned()),
                ..crate::omemo::sce::MessageContent::default()
            };
            let sealed = omemo::seal(
                session,
                shared,
                &account.jid,
                st,
                to.as_str(),
                &members,
                &content,
                choice,
            )
            .await;
            omemo::save(shared, id, st).await;
            match sealed {
                Ok(sealed) => {
                    if kind == MessageType::Groupchat && !sealed.missing.is_empty() {
                        shared.emit(Event::KeysMissing {
                            account: account.jid.clone(),
                            room: to.to_string(),
                            jids: sealed.missing.clone(),
                            origin_id: Some(entry.origin_id.clone()),
                        });
                    }
                    if kind == MessageType::Groupchat {
                        // The room's audit follows what encrypting found.
                        let before = shared.rooms.keys_missing(&account.jid, to.as_str());
                        if let Some(audit) = shared.rooms.set_keys_missing(
                            &account.jid,
                            to.as_str(),
                            sealed.missing.clone(),
                        ) && audit.members_without_keys != before
                        {
                            shared.emit(Event::RoomAudit(audit));
                        }
                    }
                    mark_encrypted(
                        shared,
                        account,
                        (entry.conversation, &to),
                        &entry.origin_id,
                        sealed.version,
                        &sealed.missing,
                    )
                    .await;
                    build_chat(
                        Jid::from(to.clone()),
                        omemo::HINT_BODY,
                        kind,
                        sealed.payloads,
                    )
                }
                Err((cause, reason)) => {
                    hold(
                        shared,
                        account,
                        held,
                        (entry.conversation, &to),
                        &entry.origin_id,
                        cause,
                        reason,
                    )
                    .await;
                    continue;
                }
            }
        };
        held.remove(&entry.origin_id);
        msg.id = Some(MessageId(entry.origin_id.clone()));
        if send_tracked(ctx, &entry.origin_id, msg, in_flight, acks)
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Sends one outbox stanza and tracks its acknowledgement on this stream. An error (the
/// stream is gone) is reported; the caller stops flushing.
async fn send_tracked(
    ctx: &Ctx<'_>,
    origin_id: &str,
    msg: xmpp_parsers::message::Message,
    in_flight: &mut InFlight,
    acks: &mut FuturesUnordered<AckFuture>,
) -> Result<(), ()> {
    let mut msg = msg;
    activity::decorate(ctx.shared, &ctx.account.jid, &mut msg).await;
    match ctx.session.send_message(msg).await {
        Ok(mut sent) => {
            in_flight.insert(origin_id.to_owned());
            let oid = origin_id.to_owned();
            let stream = in_flight.stream;
            acks.push(Box::pin(async move {
                let ok = sent.acked().await;
                (oid, ok, stream)
            }));
            Ok(())
        }
        Err(e) => {
            ctx.shared.emit(Event::Error {
                kind: "xmpp".into(),
                message: format!("could not send a queued message: {e}"),
                account: Some(ctx.account.jid.clone()),
            });
            Err(())
        }
    }
}

/// Tells the front ends (once per stream) that a message stays queued, and why; the cause is
/// kept with the message (store, or memory for "don't store") so it is shown again after a
/// restart or when the conversation is opened again.
async fn hold(
    shared: &SharedRef,
    account: &store::Account,
    held: &mut HashSet<String>,
    (conv, to): (store::ConversationId, &BareJid),
    origin_id: &str,
    cause: HeldCause,
    reason: String,
) {
    if !held.insert(origin_id.to_owned()) {
        return;
    }
    shared.emit(Event::MessageHeld {
        account: account.jid.clone(),
        with: to.to_string(),
        origin_id: origin_id.to_owned(),
        cause,
        reason,
    });
    let (oid, acc) = (origin_id.to_owned(), account.jid.clone());
    let updated = shared
        .store
        .with(move |s| {
            let Some(mid) = s.find_by_origin_id(conv, &oid)? else {
                return Ok(None);
            };
            s.set_message_held(mid, Some(cause.as_str()))?;
            // The conversation's own peer: a room occupant's (`room/nick`) for a private
            // message, where `to` is the room.
            let Some(with) = s.conversation(conv)?.map(|c| c.peer_jid) else {
                return Ok(None);
            };
            Ok(s.message(mid)?
                .map(|m| crate::core::actor::to_event_message(&acc, &with, &m)))
        })
        .await;
    let updated = match updated {
        Ok(Some(m)) => Some(m),
        _ => lock(&shared.ephemeral).hold(origin_id, cause),
    };
    if let Some(m) = updated {
        shared.emit(Event::MessageUpdated(m));
    }
}

/// Records the version an outgoing message was encrypted with and the room members who had no
/// keys (`missing`), and tells the front ends.
async fn mark_encrypted(
    shared: &SharedRef,
    account: &store::Account,
    (conv, to): (store::ConversationId, &BareJid),
    origin_id: &str,
    version: crate::omemo::OmemoVersion,
    missing: &[String],
) {
    let (oid, acc, with) = (origin_id.to_owned(), account.jid.clone(), to.to_string());
    let unreadable = missing.to_vec();
    let updated = shared
        .store
        .with(move |s| {
            let Some(mid) = s.find_by_origin_id(conv, &oid)? else {
                return Ok(None);
            };
            let enc = omemo::stored_encryption(version);
            if s.message(mid)?.is_some_and(|m| {
                m.encryption == enc && m.held_cause.is_none() && m.unreadable_by == unreadable
            }) {
                return Ok(None);
            }
            s.record_sent(mid, enc, &unreadable)?;
            Ok(s.message(mid)?
                .map(|m| crate::core::actor::to_event_message(&acc, &with, &m)))
        })
        .await;
    // A "don't store" conversation's message lives in memory only.
    let updated = match updated {
        Ok(Some(m)) => Some(m),
        _ => lock(&shared.ephemeral).mark_encrypted(origin_id, stored_label(version), missing),
    };
    if let Some(m) = updated {
        shared.emit(Event::MessageUpdated(m));
    }
}

/// The `encryption` a front end is told for a message sent with `version`.
fn stored_label(version: crate::omemo::OmemoVersion) -> &'static str {
    match version {
        crate::omemo::OmemoVersion::V2 => "omemo2",
        crate::omemo::OmemoVersion::Legacy => "omemo",
    }
}

/// The real bare JIDs of a room's members: occupants (non-anonymous room) and the member,
/// admin and owner lists, as far as we may read them (ourselves excluded).
async fn room_members(
    session: &Session,
    shared: &SharedRef,
    account: &store::Account,
    room: &BareJid,
) -> Vec<String> {
    // The room registry knows the affiliation lists (read at join, kept up to date) and the
    // occupants' real JIDs; the server is asked again only when it knows nobody yet, not for
    // every message.
    let mut jids = shared.rooms.recipients(&account.jid, room.as_str());
    if !jids.is_empty() {
        return jids;
    }
    for a in [
        crate::xmpp::muc::Affiliation::Member,
        crate::xmpp::muc::Affiliation::Admin,
        crate::xmpp::muc::Affiliation::Owner,
    ] {
        if let Ok(list) = session.muc_affiliations(room, a).await {
            jids.extend(list.into_iter().map(|j| j.to_string()));
        }
    }
    jids.sort();
    jids.dedup();
    jids
}

/// Classifies a groupchat message, decrypting OMEMO with the session of the occupant's real
/// JID (known in a non-anonymous room). Our own reflected messages are not encrypted for this
/// device and were stored when sent.
#[allow(
    clippy::too_many_arguments,
    reason = "the room's view of the sender travels with the session state"
)]
pub(crate) async fn group_action(
    session: &Session,
    shared: &SharedRef,
    account: &store::Account,
    st: &OmemoRef,
    m: &InboundMessage,
    nick: &str,
    own_occupant_id: Option<&str>,
    sender_jid: Option<String>,
) -> Action {
    let Some((version, el)) = omemo::find_encrypted(&m.raw) else {
        return pipeline::classify_groupchat_from(m, nick, own_occupant_id);
    };
    let mut probe = m.clone();
    probe.body = Some(String::from("\u{fffd}"));
    probe.replaces = None;
    probe.retracts = None;
    let Action::Store(c) = pipeline::classify_groupchat_from(&probe, nick, own_occupant_id) else {
        return Action::Ignore;
    };
    let own = session.own_jid().to_string();
    let real = if c.outgoing { Some(own) } else { sender_jid };
    let mut out = m.clone();
    out.replaces = None;
    out.retracts = None;
    let version = match real {
        None => {
            out.body = Some(omemo::failure_notice(
                "the sender's real JID is not known in this room",
            ));
            version
        }
        Some(real) => {
            let el = el.clone();
            let opened = omemo::open(
                session, shared, account, st, version, &el, &real, &real, &c.peer, true,
            )
            .await;
            match opened {
                Opened::Empty | Opened::Duplicate => return Action::Ignore,
                Opened::Content(content, v) => {
                    out.body = content.body;
                    // As in 1:1: OMEMO 2 says inside the envelope what is corrected, legacy
                    // puts the XEP-0308 marker beside <encrypted/>.
                    if v == crate::omemo::OmemoVersion::V2 {
                        out.replaces = content.replace_id;
                        out.retracts = content.retract_id;
                    } else {
                        out.replaces.clone_from(&m.replaces);
                    }
                    v
                }
                Opened::Failed(why, v) => {
                    out.body = Some(omemo::failure_notice(&why));
                    v
                }
            }
        }
    };
    pipeline::classify_groupchat_from(&out, nick, own_occupant_id)
        .with_encryption(omemo::stored_encryption(version))
}

/// Classifies a 1:1 message (live, carbon or archived), decrypting OMEMO first. A message that
/// cannot be decrypted becomes a stored notice; a replay or duplicate becomes nothing.
async fn chat_action(
    session: &Session,
    shared: &SharedRef,
    account: &store::Account,
    st: &OmemoRef,
    m: &InboundMessage,
    source: Source,
    ts: Option<chrono::DateTime<Utc>>,
) -> Action {
    let own = session.own_jid().clone();
    let Some((version, el)) = omemo::find_encrypted(&m.raw) else {
        return pipeline::classify(&own, m, source, ts);
    };
    // Classify with a placeholder body to learn direction and sender; the hint body or
    // legacy fallback text is never shown.
    let mut probe = m.clone();
    probe.body = Some(String::from("\u{fffd}"));
    probe.replaces = None;
    probe.retracts = None;
    let Action::Store(c) = pipeline::classify(&own, &probe, source, ts) else {
        return Action::Ignore;
    };
    let stanza_from = m
        .from
        .as_ref()
        .map_or_else(|| c.sender.clone(), ToString::to_string);
    let stanza_to =
        m.to.as_ref()
            .map_or_else(|| own.to_string(), ToString::to_string);
    let el = el.clone();
    let opened = omemo::open(
        session,
        shared,
        account,
        st,
        version,
        &el,
        &c.sender,
        &stanza_from,
        &stanza_to,
        source == Source::Live,
    )
    .await;
    let mut out = m.clone();
    let version = match opened {
        Opened::Empty | Opened::Duplicate => return Action::Ignore,
        Opened::Content(content, v) => {
            out.body = content.body;
            // OMEMO 2: only the envelope says what is corrected; legacy clients put the
            // XEP-0308 marker beside <encrypted/> (the text itself is encrypted).
            if v == crate::omemo::OmemoVersion::V2 {
                out.replaces = content.replace_id;
                out.retracts = content.retract_id;
            } else {
                out.replaces.clone_from(&m.replaces);
            }
            v
        }
        Opened::Failed(why, v) => {
            tracing::info!(account = %account.jid, error = %why, "undecryptable OMEMO message");
            out.body = Some(omemo::failure_notice(&why));
            out.replaces = None;
            out.retracts = None;
            v
        }
    };
    pipeline::classify(&own, &out, source, ts).with_encryption(omemo::stored_encryption(version))
}

/// At most this many queued 1:1 stream events are gathered into one store transaction.
const INGEST_BATCH: usize = 256;

/// At most this many queued presences are followed before the occupant lists they changed are
/// published.
const PRESENCE_BURST: usize = 1024;

/// The next stream event: one set aside while gathering a batch first, else the stream's next.
async fn next_event(
    pending: &mut VecDeque<SessionEvent>,
    events: &mut mpsc::UnboundedReceiver<SessionEvent>,
) -> Option<SessionEvent> {
    match pending.pop_front() {
        Some(event) => Some(event),
        None => events.recv().await,
    }
}

/// Runs one 1:1 stream event (a non-groupchat message or a carbon) through the block stage,
/// the room stage (invitations, private messages from occupants) and classification with
/// OMEMO decryption, adding what is left to store to `batch` with its archive id.
async fn gather(
    ctx: &Ctx<'_>,
    rooms: &Rooms,
    blocked: &HashSet<BareJid>,
    event: SessionEvent,
    batch: &mut Vec<(Action, Option<String>)>,
) {
    let (m, source) = match event {
        SessionEvent::Message(m) => {
            if pipeline::from_blocked(&m, blocked) || ctx.direct_message(rooms, &m).await {
                return;
            }
            activity::inbound(ctx.session, ctx.shared, &ctx.account.jid, rooms, &m).await;
            (m, Source::Live)
        }
        SessionEvent::Carbon { direction, message } => {
            if direction == CarbonDirection::Received && pipeline::from_blocked(&message, blocked) {
                return;
            }
            let source = match direction {
                CarbonDirection::Received => Source::CarbonReceived,
                CarbonDirection::Sent => Source::CarbonSent,
            };
            (message, source)
        }
        _ => return,
    };
    let sid = m.stanza_id.clone();
    let action = chat_action(
        ctx.session,
        ctx.shared,
        ctx.account,
        ctx.st,
        &m,
        source,
        None,
    )
    .await;
    batch.push((action, sid));
}

/// [`ingest`] for several messages in one store transaction; the front ends hear of each, in
/// input order, only after the transaction committed. If the batch fails as a whole, each
/// message is tried on its own, so one bad message cannot take the others down with it.
async fn ingest_batch(
    shared: &SharedRef,
    account: &store::Account,
    mut batch: Vec<(Action, Option<String>)>,
) {
    if batch.len() <= 1 {
        if let Some((action, archive_id)) = batch.pop() {
            ingest(shared, account, action, archive_id).await;
        }
        return;
    }
    tracing::debug!(account = %account.jid, messages = batch.len(), "storing a batch");
    let (acc_id, acc_jid) = (account.id, account.jid.clone());
    let copy = batch.clone();
    let result = shared
        .store
        .with(move |s| s.batch(|s| apply_batch(s, acc_id, &acc_jid, batch)))
        .await;
    match result {
        Ok(all) => {
            for ingested in all {
                notify(shared, ingested);
            }
        }
        Err(e) => {
            tracing::info!(account = %account.jid, error = %e, "batch not stored; one by one");
            for (action, archive_id) in copy {
                ingest(shared, account, action, archive_id).await;
            }
        }
    }
}

/// Applies a batch of classified messages in order (new messages, corrections, retractions),
/// then saves the last archive id once. Meant to run inside [`Store::batch`].
fn apply_batch(
    s: &mut Store,
    account: AccountId,
    account_jid: &str,
    batch: Vec<(Action, Option<String>)>,
) -> Result<Vec<Ingested>, CoreError> {
    let mut out = Vec::with_capacity(batch.len());
    let mut last_archive = None;
    for (action, archive_id) in batch {
        if archive_id.is_some() {
            last_archive = archive_id;
        }
        out.push(apply(s, account, account_jid, action)?);
    }
    if let Some(aid) = last_archive {
        s.set_setting(&last_archive_key(account), Some(&aid))?;
    }
    Ok(out)
}

/// Stores (or keeps in memory) one classified inbound message and tells the front ends.
/// `archive_id` is the trusted stanza-id to resume the archive from next time.
pub(crate) async fn ingest(
    shared: &SharedRef,
    account: &store::Account,
    action: Action,
    archive_id: Option<String>,
) {
    ingest_with(shared, account, action, archive_id, false).await;
}

/// [`ingest`]; `from_archive` places whole-second archive stamps after what is already stored
/// in that second (see [`pipeline::archive_order_ts`]).
pub(crate) async fn ingest_with(
    shared: &SharedRef,
    account: &store::Account,
    action: Action,
    archive_id: Option<String>,
    from_archive: bool,
) {
    let (acc_id, acc_jid) = (account.id, account.jid.clone());
    let result = shared
        .store
        .with(move |s| {
            let action = if from_archive {
                in_archive_order(s, acc_id, action)?
            } else {
                action
            };
            let out = apply(s, acc_id, &acc_jid, action);
            if let Some(aid) = archive_id {
                s.set_setting(&last_archive_key(acc_id), Some(&aid))?;
            }
            out
        })
        .await;
    match result {
        Ok(ingested) => notify(shared, ingested),
        Err(e) => shared.emit(Event::Error {
            kind: e.kind().into(),
            message: e.to_string(),
            account: Some(account.jid.clone()),
        }),
    }
}

/// Tells the front ends about one ingested message.
fn notify(shared: &SharedRef, ingested: Ingested) {
    match ingested {
        Ingested::New(m) => shared.emit(Event::Message(m)),
        Ingested::Updated(m) => shared.emit(Event::MessageUpdated(m)),
        Ingested::MemoryOnly(m) => {
            let m = lock(&shared.ephemeral).remember(m);
            shared.emit(Event::Message(m));
        }
        Ingested::Nothing => {}
    }
}

enum Ingested {
    New(StoredMessage),
    Updated(StoredMessage),
    MemoryOnly(StoredMessage),
    Nothing,
}

fn new_message(conv: store::ConversationId, c: &Classified) -> store::NewMessage {
    let now = Utc::now();
    let mut m = store::NewMessage::new(
        conv,
        if c.outgoing {
            store::Direction::Outgoing
        } else {
            store::Direction::Incoming
        },
        c.sender.clone(),
        c.body.clone(),
        now,
    );
    m.encryption = c.encryption;
    m.origin_id.clone_from(&c.origin_id);
    m.occupant_id.clone_from(&c.occupant_id);
    if let Some(sid) = &c.stanza_id {
        m.stanza_id = Some(sid.clone());
        m.stanza_id_by = Some(if c.outgoing {
            c.sender.clone()
        } else {
            String::new()
        });
    }
    m.server_ts = c.server_ts;
    m.file_link = crate::core::files::oob_confirms(c.body.as_deref(), c.oob_url.as_deref());
    m
}

fn apply(
    s: &mut Store,
    account: AccountId,
    account_jid: &str,
    action: Action,
) -> Result<Ingested, CoreError> {
    let now = Utc::now();
    match action {
        Action::Ignore => Ok(Ingested::Nothing),
        Action::Store(c) => {
            let kind = if c.room {
                store::ConversationKind::GroupChat
            } else {
                store::ConversationKind::Chat
            };
            let conv = s.upsert_conversation(account, &c.peer, kind, now)?;
            let mut m = new_message(conv, &c);
            // The stanza-id was stamped by our own server or the room (the xmpp layer dropped
            // any other).
            let by = if c.room {
                c.peer.clone()
            } else {
                account_jid.to_owned()
            };
            m.stanza_id_by = m.stanza_id.as_ref().map(|_| by);
            Ok(match s.insert_message(&m, now)? {
                store::InsertOutcome::Stored(id) => match s.message(id)? {
                    Some(stored) => Ingested::New(crate::core::actor::to_event_message(
                        account_jid,
                        &c.peer,
                        &stored,
                    )),
                    None => Ingested::Nothing,
                },
                store::InsertOutcome::Duplicate(_) => Ingested::Nothing,
                store::InsertOutcome::NotStored => Ingested::MemoryOnly(StoredMessage {
                    id: 0,
                    account: account_jid.to_owned(),
                    with: c.peer.clone(),
                    direction: if c.outgoing { "out" } else { "in" }.into(),
                    from: c.sender.clone(),
                    body: c.body.clone().unwrap_or_default(),
                    timestamp_ms: c.server_ts.unwrap_or(now).timestamp_millis(),
                    encryption: match c.encryption {
                        store::MessageEncryption::None => "none",
                        store::MessageEncryption::OmemoLegacy => "omemo",
                        store::MessageEncryption::Omemo2 => "omemo2",
                        store::MessageEncryption::Pending => "pending",
                    }
                    .into(),
                    corrected: false,
                    retracted: false,
                    origin_id: None,
                    notes: crate::core::events::MessageNotes {
                        attachment: crate::core::files::attachment_of(
                            c.body.as_deref(),
                            m.file_link,
                            &[],
                        ),
                        ..crate::core::events::MessageNotes::default()
                    },
                }),
            })
        }
        Action::Correct { message: c, target } => {
            edit(s, account, account_jid, &c, &target, |s, conv, orig| {
                s.apply_correction(orig, &new_message(conv, &c), now)
                    .map(|_| ())
            })
        }
        Action::Retract { message: c, target } => {
            let by = store::Retractor::Sender {
                sender: c.sender.clone(),
                occupant_id: c.occupant_id.clone(),
            };
            edit(s, account, account_jid, &c, &target, |s, _, orig| {
                s.apply_retraction(orig, &by)
            })
        }
    }
}

/// Applies a correction or retraction of the message with origin-id `target` in `c`'s
/// conversation. An unknown target, or one that is not the editor's own (the store checks the
/// author), changes nothing.
fn edit(
    s: &mut Store,
    account: AccountId,
    account_jid: &str,
    c: &Classified,
    target: &str,
    apply: impl FnOnce(&mut Store, store::ConversationId, store::MessageId) -> store::Result<()>,
) -> Result<Ingested, CoreError> {
    let kind = if c.room {
        store::ConversationKind::GroupChat
    } else {
        store::ConversationKind::Chat
    };
    let conv = s.upsert_conversation(account, &c.peer, kind, Utc::now())?;
    let Some(orig) = s.find_by_origin_id(conv, target)? else {
        return Ok(Ingested::Nothing);
    };
    match apply(s, conv, orig) {
        Ok(()) => {}
        Err(store::StoreError::NotPermitted(_)) => return Ok(Ingested::Nothing),
        Err(e) => return Err(e.into()),
    }
    Ok(s.message(orig)?.map_or(Ingested::Nothing, |m| {
        Ingested::Updated(crate::core::actor::to_event_message(
            account_jid,
            &c.peer,
            &m,
        ))
    }))
}

async fn session_op(
    ctx: &Ctx<'_>,
    rooms: &mut Rooms,
    op: SessionOp,
) -> Result<OpOutcome, CoreError> {
    let (session, shared, account, st) = (ctx.session, ctx.shared, ctx.account, ctx.st);
    let xmpp = |e: XmppError| CoreError::Xmpp(e.to_string());
    let in_room = |rooms: &Rooms, room: &BareJid| {
        Ctx::nick_in(rooms, room)
            .ok_or_else(|| CoreError::InvalidInput(format!("not in {room} (join it first)")))
    };
    match op {
        SessionOp::Join {
            room,
            nick,
            password,
            create,
        } => ctx.join(rooms, room, nick, password, create, true).await?,
        SessionOp::Leave { room } => ctx.leave(rooms, &room).await?,
        SessionOp::Invite { room, jid } => {
            // Private rooms are members-only: an invitation is only useful with membership,
            // which owners and admins grant here (as Conversations does). Others' invitations
            // go through the room, which decides.
            let grant = session
                .muc_set_affiliation(&room, &jid, Affiliation::Member)
                .await;
            match grant {
                Ok(()) => ctx.note_affiliation(rooms, &room, &jid, Affiliation::Member),
                Err(e) => tracing::debug!(error = %e, "could not grant membership before inviting"),
            }
            session.muc_invite(&room, &jid).await.map_err(xmpp)?;
        }
        SessionOp::DirectInvite { room, jid, reason } => {
            ctx.direct_invite(rooms, &room, &jid, reason.as_deref())
                .await?;
        }
        SessionOp::SetNick { room, nick } => {
            in_room(rooms, &room)?;
            session.muc_change_nick(&room, &nick).await.map_err(xmpp)?;
        }
        SessionOp::SetSubject { room, subject } => {
            in_room(rooms, &room)?;
            session
                .muc_set_subject(&room, &subject)
                .await
                .map_err(xmpp)?;
        }
        SessionOp::SetAffiliation {
            room,
            jid,
            affiliation,
        } => {
            session
                .muc_set_affiliation(&room, &jid, affiliation)
                .await
                .map_err(xmpp)?;
            ctx.note_affiliation(rooms, &room, &jid, affiliation);
        }
        SessionOp::Kick { room, nick, reason } => session
            .muc_set_role(&room, &nick, "none", reason.as_deref())
            .await
            .map_err(xmpp)?,
        SessionOp::Decline { room, inviter } => {
            session.muc_decline(&room, &inviter).await.map_err(xmpp)?;
        }
        SessionOp::CheckRooms => ctx.self_ping(rooms).await,
        SessionOp::AddContact(jid) => {
            session.roster_set(&jid, None).await.map_err(xmpp)?;
            session.subscribe(&jid).await.map_err(xmpp)?;
        }
        SessionOp::RemoveContact(jid) => session.roster_remove(&jid).await.map_err(xmpp)?,
        SessionOp::ApproveContact(jid) => {
            session.approve_subscription(&jid).await.map_err(xmpp)?;
        }
        SessionOp::DenyContact(jid) => {
            session.deny_subscription(&jid).await.map_err(xmpp)?;
        }
        SessionOp::Block(jid) => session.block(&[jid]).await.map_err(xmpp)?,
        SessionOp::Unblock(jid) => session.unblock(&[jid]).await.map_err(xmpp)?,
        SessionOp::Archiving => {
            return Ok(OpOutcome::Archiving(
                session.mam_default().await.map_err(xmpp)?,
            ));
        }
        SessionOp::SetArchiving(default) => {
            return Ok(OpOutcome::Archiving(
                session.set_mam_default(&default).await.map_err(xmpp)?,
            ));
        }
        SessionOp::Correct {
            to,
            original,
            body,
            encryption,
            id,
        } if encryption != store::EncryptionChoice::Plaintext => {
            let content = crate::omemo::sce::MessageContent {
                body: Some(body),
                replace_id: Some(original),
                ..crate::omemo::sce::MessageContent::default()
            };
            let edit = SealedEdit {
                what: "correcting",
                id: Some(id),
            };
            send_sealed_edit(ctx, rooms, to, &content, encryption, edit).await?;
        }
        SessionOp::Correct {
            to,
            original,
            body,
            id,
            ..
        } => {
            if rooms.contains_key(&to) {
                session
                    .muc_edit(&to, &original, Some(&body))
                    .await
                    .map_err(xmpp)?;
            } else {
                let mut msg = crate::xmpp::session::correction(Jid::from(to), &original, &body);
                msg.id = Some(MessageId(id));
                activity::decorate(ctx.shared, &ctx.account.jid, &mut msg).await;
                session.send_message(msg).await.map_err(xmpp)?;
            }
        }
        SessionOp::RefreshDevices(jid) => {
            omemo::refresh(session, shared, account, st, &jid).await;
        }
        SessionOp::RepublishKeys => omemo::publish_own(session, shared, account.id, st).await?,
        SessionOp::UploadSlot {
            filename,
            size,
            content_type,
        } => {
            let slot =
                crate::core::files::request_slot(session, &filename, size, &content_type).await?;
            return Ok(OpOutcome::UploadSlot(Box::new(slot)));
        }
        SessionOp::Activity(peer, what) => {
            if rooms.contains_key(&peer) {
                return Err(CoreError::InvalidInput(format!(
                    "{peer} is a room: rooms never get read markers or typing notifications"
                )));
            }
            activity::send(session, shared, &account.jid, &peer, what).await?;
        }
        SessionOp::Retract {
            to,
            original,
            encryption,
        } if encryption != store::EncryptionChoice::Plaintext => {
            let content = crate::omemo::sce::MessageContent {
                retract_id: Some(original),
                ..crate::omemo::sce::MessageContent::default()
            };
            let edit = SealedEdit {
                what: "retracting",
                id: None,
            };
            send_sealed_edit(ctx, rooms, to, &content, encryption, edit).await?;
        }
        SessionOp::Retract { to, original, .. } => {
            if rooms.contains_key(&to) {
                session.muc_edit(&to, &original, None).await.map_err(xmpp)?;
            } else {
                session
                    .send_retraction(Jid::from(to), &original)
                    .await
                    .map_err(xmpp)?;
            }
        }
    }
    Ok(OpOutcome::Done)
}

/// Sends an edit (correction or retraction) of our own message inside OMEMO, never in clear:
/// to the contact's devices, or in a room to every member with keys (as the message itself
/// went; `keys_missing` names the others).
/// What [`send_sealed_edit`] sends: its verb for errors, and the stanza's id when it must be
/// known (a 1:1 correction: receipts and markers may name it, see `core::activity`).
struct SealedEdit {
    what: &'static str,
    id: Option<String>,
}

async fn send_sealed_edit(
    ctx: &Ctx<'_>,
    rooms: &Rooms,
    to: BareJid,
    content: &crate::omemo::sce::MessageContent,
    encryption: store::EncryptionChoice,
    edit: SealedEdit,
) -> Result<(), CoreError> {
    let SealedEdit { what, id } = edit;
    let (shared, account, st) = (ctx.shared, ctx.account, ctx.st);
    let in_room = rooms.contains_key(&to);
    let members = if in_room {
        let members = room_members(ctx.session, shared, account, &to).await;
        if members.is_empty() {
            return Err(CoreError::InvalidInput(format!(
                "{what} a message: no member of the room is known yet (join it first)"
            )));
        }
        members
    } else {
        Vec::new()
    };
    let sealed = omemo::seal(
        ctx.session,
        shared,
        &account.jid,
        st,
        to.as_str(),
        &members,
        content,
        encryption,
    )
    .await;
    omemo::save(shared, account.id, st).await;
    let sealed = sealed.map_err(|(_, reason)| CoreError::Omemo(reason))?;
    if in_room && !sealed.missing.is_empty() {
        shared.emit(Event::KeysMissing {
            account: account.jid.clone(),
            room: to.to_string(),
            jids: sealed.missing.clone(),
            origin_id: None,
        });
    }
    let kind = if in_room {
        MessageType::Groupchat
    } else {
        MessageType::Chat
    };
    let mut msg = build_chat(Jid::from(to), omemo::HINT_BODY, kind, sealed.payloads);
    if let Some(id) = id
        && !in_room
    {
        msg.id = Some(MessageId(id));
        activity::decorate(shared, &account.jid, &mut msg).await;
    }
    ctx.session
        .send_message(msg)
        .await
        .map_err(|e| CoreError::Xmpp(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ConversationKind, NewAccount, Passphrase, Profile};

    #[test]
    fn a_server_whose_input_the_guard_refuses_on_every_connection_is_not_retried() {
        let trips = GuardTrips::default();
        let now = std::time::Instant::now();
        trips.trip_at(now);
        // One refusal: an ordinary drop, retried (with the guard's backoff).
        assert!(matches!(
            after_guard_trips(Ended::Dropped("stream ended".into()), &trips),
            Ended::Dropped(_)
        ));
        trips.trip_at(now);
        assert!(matches!(
            after_guard_trips(Ended::Failed("stream error".into()), &trips),
            Ended::Failed(_)
        ));
        trips.trip_at(now);
        for ended in [
            Ended::Dropped("stream ended".into()),
            Ended::Failed("stream error".into()),
        ] {
            match after_guard_trips(ended, &trips) {
                Ended::InputRefused(why) => assert!(why.contains("3 times in a row"), "{why}"),
                _ => panic!("a persistent refusal is retried"),
            }
        }
        // The user stopping the account stays a stop.
        assert!(matches!(
            after_guard_trips(Ended::Stopped, &trips),
            Ended::Stopped
        ));
    }

    #[test]
    fn a_room_password_on_its_way_to_the_session_is_never_in_debug_output() {
        let op = SessionOp::Join {
            room: BareJid::new("vault@rooms.talpa.test").expect("jid"),
            nick: "fox".into(),
            password: Some(Secret::new("room-secret-pw")),
            create: false,
        };
        assert!(!format!("{op:?}").contains("room-secret-pw"), "{op:?}");
        let invite = crate::core::rooms::PendingInvite {
            from: None,
            password: Some(Secret::new("room-secret-pw")),
            direct: true,
        };
        assert!(!format!("{invite:?}").contains("room-secret-pw"));
    }

    fn store() -> (tempfile::TempDir, Store, AccountId) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut s =
            Profile::create(&tmp.path().join("p"), &Passphrase::from("batch")).expect("profile");
        let acc = s
            .add_account(
                &NewAccount::new("me@talpa.test", "pw".to_owned().into()),
                Utc::now(),
            )
            .expect("account");
        (tmp, s, acc)
    }

    fn incoming(body: &str, origin: &str) -> Classified {
        Classified {
            peer: "peer@talpa.test".into(),
            outgoing: false,
            sender: "peer@talpa.test".into(),
            body: Some(body.into()),
            origin_id: Some(origin.into()),
            stanza_id: Some(format!("sid-{origin}")),
            server_ts: None,
            room: false,
            occupant_id: None,
            encryption: store::MessageEncryption::None,
            oob_url: None,
        }
    }

    fn bodies(s: &mut Store, acc: AccountId) -> Vec<String> {
        let conv = s
            .upsert_conversation(acc, "peer@talpa.test", ConversationKind::Chat, Utc::now())
            .expect("conversation");
        s.history(conv, None, 100)
            .expect("history")
            .into_iter()
            .map(|m| m.body.unwrap_or_default())
            .collect()
    }

    fn burst() -> Vec<(Action, Option<String>)> {
        vec![
            (Action::Store(incoming("one", "o1")), Some("sid-o1".into())),
            (Action::Store(incoming("two", "o2")), Some("sid-o2".into())),
            (
                Action::Correct {
                    message: incoming("one, fixed", "o3"),
                    target: "o1".into(),
                },
                Some("sid-o3".into()),
            ),
            // The same message again (a resend): stored once.
            (Action::Store(incoming("two", "o2")), None),
            (
                Action::Store(incoming("three", "o4")),
                Some("sid-o4".into()),
            ),
        ]
    }

    #[test]
    fn a_plaintext_link_confirmed_by_out_of_band_data_is_stored_as_a_file_and_stays_one() {
        let (_tmp, mut s, acc) = store();
        let link = "https://up.talpa.test/f/minutes.pdf";
        let mut shared = incoming(link, "o1");
        shared.oob_url = Some(link.into());
        let mut other = incoming("https://up.talpa.test/f/other.pdf", "o2");
        other.oob_url = Some(link.into());
        let mut fixed = incoming("https://up.talpa.test/f/fixed.pdf", "o3");
        fixed.oob_url = Some("https://up.talpa.test/f/fixed.pdf".into());
        let out = s
            .batch(|s| {
                apply_batch(
                    s,
                    acc,
                    "me@talpa.test",
                    vec![(Action::Store(shared), None), (Action::Store(other), None)],
                )
            })
            .expect("batch");
        let files: Vec<Option<String>> = out
            .iter()
            .map(|i| match i {
                Ingested::New(m) => m.notes.attachment.as_ref().map(|a| a.name.clone()),
                _ => panic!("stored"),
            })
            .collect();
        assert_eq!(files, [Some("minutes.pdf".to_owned()), None]);
        // A correction, even to another confirmed link, makes it text.
        let out = apply(
            &mut s,
            acc,
            "me@talpa.test",
            Action::Correct {
                message: fixed,
                target: "o1".into(),
            },
        )
        .expect("correction");
        let Ingested::Updated(m) = out else {
            panic!("updated")
        };
        assert_eq!(m.notes.attachment, None);
    }

    #[test]
    fn a_batch_stores_every_message_in_order_applies_edits_and_saves_the_last_archive_id() {
        let (_tmp, mut s, acc) = store();
        let out = s
            .batch(|s| apply_batch(s, acc, "me@talpa.test", burst()))
            .expect("batch");
        let kinds: Vec<&str> = out
            .iter()
            .map(|i| match i {
                Ingested::New(_) => "new",
                Ingested::Updated(_) => "updated",
                Ingested::MemoryOnly(_) => "memory",
                Ingested::Nothing => "nothing",
            })
            .collect();
        assert_eq!(kinds, ["new", "new", "updated", "nothing", "new"]);
        assert_eq!(bodies(&mut s, acc), ["one, fixed", "two", "three"]);
        assert_eq!(
            s.setting(&last_archive_key(acc)).expect("setting"),
            Some("sid-o4".to_owned())
        );
    }

    #[test]
    fn a_failed_batch_stores_nothing_so_nothing_was_announced_as_stored() {
        let (_tmp, mut s, acc) = store();
        let failed: Result<Vec<Ingested>, CoreError> = s.batch(|s| {
            apply_batch(s, acc, "me@talpa.test", burst())?;
            // Anything failing before the commit (here: after every row was written).
            Err(CoreError::Store("disk full".into()))
        });
        assert!(failed.is_err());
        assert_eq!(bodies(&mut s, acc), Vec::<String>::new());
        assert_eq!(s.setting(&last_archive_key(acc)).expect("setting"), None);
        // The store is usable afterwards and the same batch then goes in whole.
        s.batch(|s| apply_batch(s, acc, "me@talpa.test", burst()))
            .expect("batch");
        assert_eq!(bodies(&mut s, acc), ["one, fixed", "two", "three"]);
    }
}
