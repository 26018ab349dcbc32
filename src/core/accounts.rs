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

use crate::core::error::CoreError;
use crate::core::events::{Event, StoredMessage};
use crate::core::pipeline::{self, Action, Classified, Source};
use crate::core::shared::{SharedRef, lock};
use crate::privacy::jitter::ConnectSchedule;
use crate::store::{self, AccountId, Store};
use crate::tor::{AccountIsolation, TorClient};
use crate::xmpp::session::{CarbonDirection, build_chat};
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
        /// The room password.
        password: Option<String>,
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
    /// Add a contact to the server roster and ask for their presence.
    AddContact(BareJid),
    /// Remove a contact from the server roster (which also cancels subscriptions).
    RemoveContact(BareJid),
    /// Let a contact see our presence.
    ApproveContact(BareJid),
    /// Correct one of our messages (XEP-0308).
    Correct {
        /// The conversation's peer.
        to: BareJid,
        /// The origin-id of the message being corrected.
        original: String,
        /// The new text.
        body: String,
    },
    /// Retract one of our messages (XEP-0424).
    Retract {
        /// The conversation's peer.
        to: BareJid,
        /// The origin-id of the message being retracted.
        original: String,
    },
}

/// What the actor tells a supervisor.
enum Control {
    /// New messages are in the outbox.
    Flush,
    /// Do a room operation; answered once the stanza is sent.
    Op(SessionOp, oneshot::Sender<Result<(), CoreError>>),
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

    /// Asks an online account to do a room operation.
    pub(crate) async fn session_op(&self, jid: &str, op: SessionOp) -> Result<(), CoreError> {
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
    Dropped(String),
}

async fn supervise(
    account: store::Account,
    shared: SharedRef,
    schedule: ConnectSchedule,
    mut control: mpsc::UnboundedReceiver<Control>,
) {
    let jid = account.jid.clone();
    let isolation = AccountIsolation::new();
    let mut attempt: u32 = 0;
    let mut first = true;
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
        let Some(tor) = shared.tor.clone() else {
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
        match Box::pin(run_session(
            &account,
            &isolation,
            tor,
            &shared,
            &mut control,
        ))
        .await
        {
            Ended::Stopped => return,
            Ended::Failed(why) => {
                attempt = attempt.saturating_add(1);
                shared.account_state(&jid, "error", Some(why));
            }
            Ended::Dropped(why) => {
                attempt = 0;
                shared.account_state(&jid, "reconnecting", Some(why));
            }
        }
    }
}

fn session_config(account: &store::Account) -> Result<SessionConfig, String> {
    let jid = BareJid::new(&account.jid).map_err(|e| format!("invalid account JID: {e}"))?;
    Ok(SessionConfig {
        jid,
        password: account.password.clone(),
        tls_mode: if direct_tls(account) {
            TlsMode::DirectTls
        } else {
            TlsMode::StartTls
        },
        trust: account
            .trust_anchor_pem
            .clone()
            .map_or(TrustAnchor::WebPki, TrustAnchor::ExtraCaPem),
        require_channel_binding: account.sasl_plus_seen,
        timeouts: tokio_xmpp::xmlstream::Timeouts::default(),
    })
}

fn direct_tls(account: &store::Account) -> bool {
    account
        .options
        .get("direct_tls")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

/// The host and port an account connects to: the override, else the JID's domain on the
/// standard port (the name goes to Tor unresolved).
fn target(account: &store::Account) -> (String, u16) {
    let domain = account
        .jid
        .rsplit('@')
        .next()
        .unwrap_or(&account.jid)
        .to_owned();
    let host = account.host.clone().unwrap_or(domain);
    let port = account
        .port
        .unwrap_or(if direct_tls(account) { 5223 } else { 5222 });
    (host, port)
}

fn opener(tor: TorClient, isolation: AccountIsolation, host: String, port: u16) -> StreamOpener {
    Arc::new(move || {
        let (tor, isolation, host) = (tor.clone(), isolation.clone(), host.clone());
        Box::pin(async move {
            tor.connect(&isolation, &host, port)
                .await
                .map(|s| Box::new(s) as BoxedStream)
                .map_err(|e| XmppError::Open(e.to_string()))
        })
    })
}

fn last_archive_key(account: AccountId) -> String {
    format!("mam.last.{}", account.0)
}

async fn run_session(
    account: &store::Account,
    isolation: &AccountIsolation,
    tor: TorClient,
    shared: &SharedRef,
    control: &mut mpsc::UnboundedReceiver<Control>,
) -> Ended {
    let config = match session_config(account) {
        Ok(c) => c,
        Err(e) => return Ended::Failed(e),
    };
    let (host, port) = target(account);
    let connect = Session::connect(config, opener(tor, isolation.clone(), host, port));
    let (session, mut events, report) = match Box::pin(or_stop(connect, control)).await {
        None => return Ended::Stopped,
        Some(Err(e)) => return Ended::Failed(e.to_string()),
        Some(Ok(s)) => s,
    };
    let own = session.own_jid().clone();
    let id = account.id;
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
    let mut roster: Vec<String> = startup.roster.iter().map(|i| i.jid.to_string()).collect();
    for archived in startup.archived {
        let ts = archived.delay.as_ref().map(|d| d.stamp);
        let action = pipeline::classify(&own, &archived.message, Source::Archive, ts);
        ingest(shared, account, action, Some(archived.archive_id)).await;
    }
    shared.emit(Event::Roster {
        account: account.jid.clone(),
        contacts: roster.clone(),
    });
    shared.account_state(
        &account.jid,
        "online",
        Some(session.bound_jid().to_string()),
    );

    let mut in_flight: HashSet<String> = HashSet::new();
    let mut acks = FuturesUnordered::new();
    let mut rooms: HashMap<BareJid, Room> = HashMap::new();
    let id = account.id;
    if let Ok(saved) = shared.store.with(move |s| Ok(s.list_rooms(id)?)).await {
        for r in saved.into_iter().filter(|r| r.autojoin) {
            let (Ok(room), Some(nick)) = (BareJid::new(&r.jid), r.nick) else {
                continue;
            };
            let op = SessionOp::Join {
                room,
                nick,
                password: r.password,
                create: false,
            };
            if let Err(e) = session_op(&session, &mut rooms, op).await {
                shared.emit(Event::Error {
                    kind: e.kind().into(),
                    message: e.to_string(),
                    account: Some(account.jid.clone()),
                });
            }
        }
    }
    flush(&session, account, shared, &mut in_flight, &mut acks).await;
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
                        // A fresh stream: whatever was not acknowledged must go again.
                        in_flight.clear();
                    }
                    shared.account_state(&account.jid, "online", Some(bound_jid.to_string()));
                    flush(&session, account, shared, &mut in_flight, &mut acks).await;
                }
                Some(SessionEvent::Message(m)) if m.kind == MessageType::Groupchat => {
                    let room = m.from.as_ref().map(Jid::to_bare);
                    if let Some(state) = room.as_ref().and_then(|r| rooms.get(r)) {
                        let action = pipeline::classify_groupchat(&m, &state.nick);
                        ingest(shared, account, action, None).await;
                    }
                }
                Some(SessionEvent::Message(m)) => {
                    let mut batch = vec![live(&own, &m)];
                    // Chat messages already queued behind this one are stored with it, in one
                    // transaction (a flood costs one commit per batch, not one per message).
                    while pending.is_empty() && batch.len() < INGEST_BATCH {
                        match events.try_recv() {
                            Ok(SessionEvent::Message(m)) if m.kind != MessageType::Groupchat => {
                                batch.push(live(&own, &m));
                            }
                            Ok(other) => pending.push_back(other),
                            Err(_) => break,
                        }
                    }
                    ingest_batch(shared, account, batch).await;
                }
                Some(SessionEvent::Presence { raw, .. }) => {
                    room_presence(&session, shared, account, &mut rooms, &raw).await;
                }
                Some(SessionEvent::Carbon { direction, message }) => {
                    let source = match direction {
                        CarbonDirection::Received => Source::CarbonReceived,
                        CarbonDirection::Sent => Source::CarbonSent,
                    };
                    let sid = message.stanza_id.clone();
                    ingest(shared, account, pipeline::classify(&own, &message, source, None), sid)
                        .await;
                }
                Some(SessionEvent::RosterPush(items)) => {
                    for item in items {
                        let jid = item.jid.to_string();
                        let removed = item.subscription
                            == xmpp_parsers::roster::Subscription::Remove;
                        roster.retain(|j| *j != jid);
                        if !removed {
                            roster.push(jid);
                        }
                    }
                    shared.emit(Event::Roster {
                        account: account.jid.clone(),
                        contacts: roster.clone(),
                    });
                }
                Some(SessionEvent::Rejected(r)) => {
                    tracing::info!(account = %account.jid, rejection = ?r, "dropped hostile or invalid input");
                }
                Some(
                    SessionEvent::PubSubEvent { .. }
                    | SessionEvent::BlockListPush { .. },
                ) => {}
            },
            c = control.recv() => match c {
                Some(Control::Flush) => {
                    flush(&session, account, shared, &mut in_flight, &mut acks).await;
                }
                Some(Control::Op(op, reply)) => {
                    let _ = reply.send(session_op(&session, &mut rooms, op).await);
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
            Some((origin_id, acked)) = acks.next(), if !acks.is_empty() => {
                if acked {
                    let oid: String = origin_id;
                    let _ = shared.store.with(move |s| Ok(s.outbox_remove(&oid)?)).await;
                } else {
                    in_flight.remove(&origin_id);
                }
            }
        }
    }
}

type AckFuture = std::pin::Pin<Box<dyn Future<Output = (String, bool)> + Send>>;

/// Sends every outbox entry of the account not already in flight on this stream. Each entry
/// keeps its origin-id as stanza id across resends, so receivers can drop duplicates.
async fn flush(
    session: &Session,
    account: &store::Account,
    shared: &SharedRef,
    in_flight: &mut HashSet<String>,
    acks: &mut FuturesUnordered<AckFuture>,
) {
    let id = account.id;
    let Ok(entries) = shared
        .store
        .with(move |s| Ok(s.outbox_list(Some(id))?))
        .await
    else {
        return;
    };
    for entry in entries {
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
        let kind = if payload.get("kind").and_then(|k| k.as_str()) == Some("groupchat") {
            MessageType::Groupchat
        } else {
            MessageType::Chat
        };
        let mut msg = build_chat(to, body, kind, Vec::new());
        msg.id = Some(MessageId(entry.origin_id.clone()));
        match session.send_message(msg).await {
            Ok(mut sent) => {
                in_flight.insert(entry.origin_id.clone());
                let oid = entry.origin_id.clone();
                acks.push(Box::pin(async move {
                    let ok = sent.acked().await;
                    (oid, ok)
                }));
            }
            Err(e) => {
                shared.emit(Event::Error {
                    kind: "xmpp".into(),
                    message: format!("could not send a queued message: {e}"),
                    account: Some(account.jid.clone()),
                });
                return;
            }
        }
    }
}

/// At most this many live chat messages are stored in one transaction.
const INGEST_BATCH: usize = 256;

/// The next stream event: one set aside while batching first, else the stream's next.
async fn next_event(
    pending: &mut VecDeque<SessionEvent>,
    events: &mut mpsc::UnboundedReceiver<SessionEvent>,
) -> Option<SessionEvent> {
    match pending.pop_front() {
        Some(event) => Some(event),
        None => events.recv().await,
    }
}

/// A live 1:1 message classified, with the trusted stanza-id to resume the archive from.
fn live(own: &BareJid, m: &crate::xmpp::stanza::InboundMessage) -> (Action, Option<String>) {
    (
        pipeline::classify(own, m, Source::Live, None),
        m.stanza_id.clone(),
    )
}

/// [`ingest`] for several messages in one store transaction; events follow in input order.
async fn ingest_batch(
    shared: &SharedRef,
    account: &store::Account,
    mut batch: Vec<(Action, Option<String>)>,
) {
    if batch.len() == 1
        && let Some((action, archive_id)) = batch.pop()
    {
        ingest(shared, account, action, archive_id).await;
        return;
    }
    tracing::debug!(account = %account.jid, messages = batch.len(), "storing a batch");
    let (acc_id, acc_jid) = (account.id, account.jid.clone());
    let result = shared
        .store
        .with(move |s| apply_batch(s, acc_id, &acc_jid, batch))
        .await;
    match result {
        Ok(all) => {
            for ingested in all {
                notify(shared, ingested);
            }
        }
        Err(e) => shared.emit(Event::Error {
            kind: e.kind().into(),
            message: e.to_string(),
            account: Some(account.jid.clone()),
        }),
    }
}

/// Applies a batch: runs of new messages go through one `insert_messages` transaction each,
/// edits in between are applied in order; the last archive id is saved once.
fn apply_batch(
    s: &mut Store,
    account: AccountId,
    account_jid: &str,
    batch: Vec<(Action, Option<String>)>,
) -> Result<Vec<Ingested>, CoreError> {
    let mut out = Vec::with_capacity(batch.len());
    let mut run: Vec<Classified> = Vec::new();
    let mut last_archive = None;
    for (action, archive_id) in batch {
        if archive_id.is_some() {
            last_archive = archive_id;
        }
        match action {
            Action::Store(c) => run.push(c),
            other => {
                store_run(s, account, account_jid, &mut run, &mut out)?;
                out.push(apply(s, account, account_jid, other)?);
            }
        }
    }
    store_run(s, account, account_jid, &mut run, &mut out)?;
    if let Some(aid) = last_archive {
        s.set_setting(&last_archive_key(account), Some(&aid))?;
    }
    Ok(out)
}

/// Stores the new messages in `run` (emptied) in one transaction, appending the outcomes.
fn store_run(
    s: &mut Store,
    account: AccountId,
    account_jid: &str,
    run: &mut Vec<Classified>,
    out: &mut Vec<Ingested>,
) -> Result<(), CoreError> {
    if run.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let mut convs: HashMap<String, store::ConversationId> = HashMap::new();
    let mut messages = Vec::with_capacity(run.len());
    for c in run.iter() {
        let conv = if let Some(conv) = convs.get(&c.peer) {
            *conv
        } else {
            let conv =
                s.upsert_conversation(account, &c.peer, store::ConversationKind::Chat, now)?;
            convs.insert(c.peer.clone(), conv);
            conv
        };
        messages.push(stored_message(conv, c, account_jid));
    }
    let outcomes = s.insert_messages(&messages, now)?;
    for (c, outcome) in run.drain(..).zip(outcomes) {
        out.push(ingested(s, account_jid, &c, outcome)?);
    }
    Ok(())
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

/// Stores (or keeps in memory) one classified inbound message and tells the front ends.
/// `archive_id` is the trusted stanza-id to resume the archive from next time.
async fn ingest(
    shared: &SharedRef,
    account: &store::Account,
    action: Action,
    archive_id: Option<String>,
) {
    let (acc_id, acc_jid) = (account.id, account.jid.clone());
    let result = shared
        .store
        .with(move |s| {
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
    m.origin_id.clone_from(&c.origin_id);
    if let Some(sid) = &c.stanza_id {
        m.stanza_id = Some(sid.clone());
        m.stanza_id_by = Some(if c.outgoing {
            c.sender.clone()
        } else {
            String::new()
        });
    }
    m.server_ts = c.server_ts;
    m
}

/// The row to store for a new message of conversation `conv`.
fn stored_message(
    conv: store::ConversationId,
    c: &Classified,
    account_jid: &str,
) -> store::NewMessage {
    let mut m = new_message(conv, c);
    // The stanza-id was stamped by our own server or the room (the xmpp layer dropped any
    // other).
    let by = if c.room {
        c.peer.clone()
    } else {
        account_jid.to_owned()
    };
    m.stanza_id_by = m.stanza_id.as_ref().map(|_| by);
    m
}

/// What the front ends learn of a message the store took (or kept off disk).
fn ingested(
    s: &Store,
    account_jid: &str,
    c: &Classified,
    outcome: store::InsertOutcome,
) -> Result<Ingested, CoreError> {
    Ok(match outcome {
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
            timestamp_ms: c.server_ts.unwrap_or_else(Utc::now).timestamp_millis(),
            encryption: "none".into(),
            corrected: false,
            retracted: false,
        }),
    })
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
            let conv =
                s.upsert_conversation(account, &c.peer, store::ConversationKind::Chat, now)?;
            let m = stored_message(conv, &c, account_jid);
            let outcome = s.insert_message(&m, now)?;
            ingested(s, account_jid, &c, outcome)
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
                occupant_id: None,
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

/// What a supervisor knows of a room it joined on this stream.
struct Room {
    nick: String,
    create: bool,
    joined: bool,
    occupants: HashMap<String, crate::core::events::Occupant>,
}

async fn session_op(
    session: &Session,
    rooms: &mut HashMap<BareJid, Room>,
    op: SessionOp,
) -> Result<(), CoreError> {
    let xmpp = |e: XmppError| CoreError::Xmpp(e.to_string());
    match op {
        SessionOp::Join {
            room,
            nick,
            password,
            create,
        } => {
            session
                .muc_join(&room, &nick, password.as_deref())
                .await
                .map_err(xmpp)?;
            rooms.insert(
                room,
                Room {
                    nick,
                    create,
                    joined: false,
                    occupants: HashMap::new(),
                },
            );
        }
        SessionOp::Leave { room } => {
            if let Some(r) = rooms.remove(&room) {
                session.muc_leave(&room, &r.nick).await.map_err(xmpp)?;
            }
        }
        SessionOp::Invite { room, jid } => {
            // Private rooms are members-only: an invitation is only useful with membership,
            // which owners and admins grant here (as Conversations does). Others' invitations
            // go through the room, which decides.
            let grant = session
                .muc_set_affiliation(&room, &jid, crate::xmpp::muc::Affiliation::Member)
                .await;
            if let Err(e) = grant {
                tracing::debug!(error = %e, "could not grant membership before inviting");
            }
            session.muc_invite(&room, &jid).await.map_err(xmpp)?;
        }
        SessionOp::AddContact(jid) => {
            session.roster_set(&jid, None).await.map_err(xmpp)?;
            session.subscribe(&jid).await.map_err(xmpp)?;
        }
        SessionOp::RemoveContact(jid) => session.roster_remove(&jid).await.map_err(xmpp)?,
        SessionOp::ApproveContact(jid) => {
            session.approve_subscription(&jid).await.map_err(xmpp)?;
        }
        SessionOp::Correct { to, original, body } => {
            session
                .send_correction(Jid::from(to), &original, &body)
                .await
                .map_err(xmpp)?;
        }
        SessionOp::Retract { to, original } => {
            session
                .send_retraction(Jid::from(to), &original)
                .await
                .map_err(xmpp)?;
        }
    }
    Ok(())
}

/// Tracks occupants from room presences; announces our own arrival and finishes creating a
/// private room once the server says it made it for us.
async fn room_presence(
    session: &Session,
    shared: &SharedRef,
    account: &store::Account,
    rooms: &mut HashMap<BareJid, Room>,
    raw: &xmpp_parsers::presence::Presence,
) {
    let Some(p) = crate::xmpp::muc::parse_muc_presence(raw) else {
        return;
    };
    let Some(room) = rooms.get_mut(&p.room) else {
        return;
    };
    if p.unavailable {
        room.occupants.remove(&p.nick);
    } else {
        room.occupants.insert(
            p.nick.clone(),
            crate::core::events::Occupant {
                nick: p.nick.clone(),
                role: p.role.clone(),
                affiliation: p.affiliation.map(|a| format!("{a:?}").to_lowercase()),
                jid: p.real_jid.as_ref().map(|j| j.to_bare().to_string()),
            },
        );
    }
    if p.is_self && !p.unavailable && !room.joined {
        room.joined = true;
        if p.created
            && room.create
            && let Err(e) = session.muc_configure_private(&p.room).await
        {
            shared.emit(Event::Error {
                kind: "xmpp".into(),
                message: format!("the room was created but could not be made private: {e}"),
                account: Some(account.jid.clone()),
            });
        }
        shared.emit(Event::RoomJoined {
            account: account.jid.clone(),
            room: p.room.to_string(),
            nick: room.nick.clone(),
            created: p.created,
        });
    }
    let mut occupants: Vec<_> = room.occupants.values().cloned().collect();
    occupants.sort_by(|a, b| a.nick.cmp(&b.nick));
    shared.emit(Event::Occupants {
        account: account.jid.clone(),
        room: p.room.to_string(),
        occupants,
    });
}
