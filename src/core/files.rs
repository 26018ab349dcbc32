//! File sharing: XEP-0363 HTTP upload and XEP-0454 OMEMO media sharing, through Tor.
//!
//! Sending (`send_file`): the file is read (bounded by the server's limit and [`HARD_CAP`]),
//! encrypted with AES-256-GCM under a fresh key unless the conversation is plaintext, PUT to a
//! slot of the server's upload service over a Tor stream with the account's own isolation, and
//! then shared as an ordinary message through the outbox: the `aesgcm://…#<iv><key>` URL as
//! the (OMEMO-encrypted) body, or in plaintext the URL plus an XEP-0066 `<x:oob/>`. The
//! sender keeps the file with the message in the encrypted store.
//!
//! Receiving: a message whose whole body is one `aesgcm://` URL is an attachment message, and
//! so is a plaintext message whose whole body is one `https` URL (plain `http` only to a .onion)
//! that its sender also gave as XEP-0066 out-of-band data — what Conversations, Dino, Gajim and
//! Monal send without OMEMO ([`oob_confirms`]); such a file has no key and is kept as fetched.
//! Nothing is fetched until the user asks (`download_attachment`): an automatic fetch would
//! tell the sender's server when the message was read. The download goes through Tor with the
//! account's isolation, is decrypted in memory and kept in the store with its message (erased
//! with it); `save_attachment` is the only way bytes reach the disk, at a path the user picks.

use std::sync::Arc;
use std::time::Duration;

use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{AesGcm, Nonce};
use chrono::Utc;
use rand::RngCore;
use rand::rngs::OsRng;
use zeroize::{Zeroize, Zeroizing};

use crate::core::accounts::{Flusher, OpOutcome, SessionOp, Supervisors};
use crate::core::error::CoreError;
use crate::core::events::{Event, FileAttachment, StoredMessage};
use crate::core::shared::{SharedRef, lock};
use crate::store::{self, MessageId};
use crate::xmpp::http_transfer::{self, HttpTarget};
use crate::xmpp::http_upload::{self, UploadSlot};
use crate::xmpp::{Session, TrustAnchor};

/// The largest file Talpa uploads or downloads, whatever a server allows.
pub const HARD_CAP: u64 = 100 * 1024 * 1024;
/// AES-GCM's tag, appended to the encrypted file.
const TAG_LEN: u64 = 16;
/// How long opening a stream through Tor may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a whole transfer may take.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(60 * 60);

type Aes256Gcm12 = AesGcm<aes::Aes256, U12>;
type Aes256Gcm16 = AesGcm<aes::Aes256, U16>;

/// The key and IV of one shared file (XEP-0454): a 12-byte IV (16 accepted from older
/// clients) and a 32-byte AES-256 key. Never printed.
#[derive(Clone)]
pub struct MediaKey {
    iv: Vec<u8>,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MediaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaKey(<redacted>)")
    }
}

impl MediaKey {
    /// A fresh random key and 12-byte IV.
    pub fn random() -> Self {
        let mut iv = vec![0u8; 12];
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(&mut iv);
        OsRng.fill_bytes(&mut key[..]);
        MediaKey { iv, key }
    }

    /// The URL fragment: IV then key, lower-case hex.
    pub fn fragment(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{}{}",
            hex::encode(&self.iv),
            hex::encode(&self.key[..])
        ))
    }

    /// Reads a fragment of 88 (12-byte IV) or 96 (16-byte IV) hex digits.
    pub fn from_fragment(fragment: &str) -> Option<Self> {
        let iv_hex = match fragment.len() {
            88 => 24,
            96 => 32,
            _ => return None,
        };
        let iv = hex::decode(&fragment[..iv_hex]).ok()?;
        let raw = Zeroizing::new(hex::decode(&fragment[iv_hex..]).ok()?);
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(raw.get(..32)?);
        Some(MediaKey { iv, key })
    }

    /// Encrypts `plain`: ciphertext with the 16-byte tag appended.
    ///
    /// # Errors
    /// [`CoreError::Transfer`] if the cipher refuses (it does not for sane sizes).
    pub fn encrypt(&self, plain: &[u8]) -> Result<Vec<u8>, CoreError> {
        let failed = |_| CoreError::Transfer("encrypting the file failed".into());
        match self.iv.len() {
            12 => Aes256Gcm12::new_from_slice(&self.key[..])
                .map_err(|_| CoreError::Transfer("bad key".into()))?
                .encrypt(Nonce::<U12>::from_slice(&self.iv), plain)
                .map_err(failed),
            _ => Aes256Gcm16::new_from_slice(&self.key[..])
                .map_err(|_| CoreError::Transfer("bad key".into()))?
                .encrypt(Nonce::<U16>::from_slice(&self.iv), plain)
                .map_err(failed),
        }
    }

    /// Decrypts and authenticates a downloaded file (tag at the end).
    ///
    /// # Errors
    /// [`CoreError::Transfer`] when the file was altered or the key is wrong.
    pub fn decrypt(&self, cipher: &[u8]) -> Result<Zeroizing<Vec<u8>>, CoreError> {
        let failed = |_| {
            CoreError::Transfer(
                "the downloaded file does not decrypt (altered, or not the shared file)".into(),
            )
        };
        let plain = match self.iv.len() {
            12 => Aes256Gcm12::new_from_slice(&self.key[..])
                .map_err(|_| CoreError::Transfer("bad key".into()))?
                .decrypt(Nonce::<U12>::from_slice(&self.iv), cipher)
                .map_err(failed)?,
            _ => Aes256Gcm16::new_from_slice(&self.key[..])
                .map_err(|_| CoreError::Transfer("bad key".into()))?
                .decrypt(Nonce::<U16>::from_slice(&self.iv), cipher)
                .map_err(failed)?,
        };
        Ok(Zeroizing::new(plain))
    }
}

/// A file shared in a message body.
#[derive(Clone, Debug)]
pub struct SharedLink {
    /// Where to fetch it (`https` from an `aesgcm://` link, fragment removed; or the plaintext
    /// link as given).
    pub url: url::Url,
    /// The key, for an `aesgcm://` link; `None` for a plaintext (XEP-0066) link.
    pub key: Option<MediaKey>,
}

impl SharedLink {
    /// The name shown for the file: the URL path's last segment, decoded, without path
    /// tricks or control characters (used for nothing else).
    pub fn display_name(&self) -> String {
        display_name(&self.url)
    }
}

/// The file shared by `body`, if the whole body (trimmed) is one `aesgcm://` URL with a valid
/// key fragment.
pub fn parse_body(body: &str) -> Option<SharedLink> {
    let body = body.trim();
    let rest = body
        .get(..9)
        .filter(|s| s.eq_ignore_ascii_case("aesgcm://"))
        .map(|_| &body[9..])?;
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (location, fragment) = rest.split_once('#')?;
    let key = MediaKey::from_fragment(fragment)?;
    let url = http_upload::check_url(&format!("https://{location}")).ok()?;
    Some(SharedLink {
        url,
        key: Some(key),
    })
}

/// The URL of a file shared in plaintext, if `body` (trimmed) is one: `https`, or plain
/// `http` to a .onion service (Tor encrypts that end to end), with a host, no user info, no
/// fragment, no spaces or control characters, at most [`http_upload::MAX_URL_LEN`] bytes.
fn plain_link(body: &str) -> Option<url::Url> {
    let body = body.trim();
    // What the URL parser would repair (`https:///h`, backslashes) is not what was shown.
    let authority = body.split_once("://").map(|(_, rest)| rest)?;
    if authority.starts_with('/') || body.contains('\\') {
        return None;
    }
    let url = http_upload::check_url(body).ok()?;
    let onion = url.host_str().is_some_and(|h| plain_http_allowed(h, None));
    (url.scheme() == "https" || onion).then_some(url)
}

/// Whether a plaintext message shares a file (XEP-0066 as other clients send it without OMEMO):
/// its out-of-band URL (`oob`, from its one `<x xmlns='jabber:x:oob'/>`) equals its whole body
/// (both trimmed), and that is a link [`plain_link`] accepts. Anything else stays text.
pub fn oob_confirms(body: Option<&str>, oob: Option<&str>) -> bool {
    match (body, oob) {
        (Some(body), Some(oob)) => body.trim() == oob.trim() && plain_link(body).is_some(),
        _ => false,
    }
}

/// The file a stored message shares: an `aesgcm://` body, or — when `file_link` (its
/// out-of-band data confirmed it, [`oob_confirms`]) — its plaintext link, with no key.
pub fn shared_link(body: &str, file_link: bool) -> Option<SharedLink> {
    parse_body(body).or_else(|| {
        file_link
            .then(|| plain_link(body))
            .flatten()
            .map(|url| SharedLink { url, key: None })
    })
}

/// The `aesgcm://` body sharing the file at `get_url` (http or https) under `key`.
///
/// # Errors
/// [`CoreError::Transfer`] when `get_url` is not a usable http(s) URL.
pub fn aesgcm_body(get_url: &str, key: &MediaKey) -> Result<Zeroizing<String>, CoreError> {
    let url = http_upload::check_url(get_url).map_err(|e| CoreError::Transfer(e.to_string()))?;
    let rest = url
        .as_str()
        .split_once("://")
        .map(|(_, r)| r.to_owned())
        .unwrap_or_default();
    Ok(Zeroizing::new(format!(
        "aesgcm://{rest}#{}",
        key.fragment().as_str()
    )))
}

/// The last path segment of `url`, percent-decoded, with separators, control characters and
/// leading dots removed, at most 120 characters; `file` when nothing is left.
pub fn display_name(url: &url::Url) -> String {
    let segment = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or_default();
    let decoded: String = percent_decode(segment)
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '/' | '\\' | '\u{202a}'..='\u{202e}'))
        .filter(|c| !matches!(c, '\u{2066}'..='\u{2069}'))
        .collect();
    let name: String = decoded
        .trim()
        .trim_start_matches('.')
        .chars()
        .take(120)
        .collect();
    if name.trim().is_empty() {
        "file".into()
    } else {
        name
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A MIME type guessed from a file name's extension (only for what the user's own machine
/// shows; encrypted uploads always say `application/octet-stream`).
pub fn mime_of(name: &str) -> &'static str {
    match http_upload::extension(name).as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        Some("mp4") => "video/mp4",
        Some("webm") => "video/webm",
        Some("ogg" | "opus") => "audio/ogg",
        Some("m4a") => "audio/mp4",
        Some("mp3") => "audio/mpeg",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

/// Whether plain `http://` may be used to reach `host`: only a .onion service (Tor encrypts
/// end to end) or the account's own connect-host override (a test bed or a LAN server the
/// user named).
pub fn plain_http_allowed(host: &str, account_host: Option<&str>) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let onion = host
        .rsplit_once('.')
        .is_some_and(|(name, tld)| !name.is_empty() && tld == "onion");
    onion || account_host.is_some_and(|h| h.trim().eq_ignore_ascii_case(&host))
}

/// What the front ends are told about a message's file.
pub(crate) fn attachment_of(
    body: Option<&str>,
    file_link: bool,
    stored: &[store::AttachmentInfo],
) -> Option<FileAttachment> {
    let kept = stored.first();
    let Some(link) = body.and_then(|b| shared_link(b, file_link)) else {
        // An own file shared in plaintext: its body is the bare http(s) URL.
        let url = body
            .map(str::trim)
            .filter(|b| !b.contains(char::is_whitespace))?;
        http_upload::check_url(url).ok()?;
        return kept.map(|a| FileAttachment {
            name: a.name.clone(),
            size: Some(a.size),
            mime: Some(a.mime.clone()),
            encrypted: false,
            downloaded: true,
        });
    };
    Some(FileAttachment {
        name: kept.map_or_else(|| link.display_name(), |a| a.name.clone()),
        size: kept.map(|a| a.size),
        mime: kept.map(|a| a.mime.clone()),
        encrypted: link.key.is_some(),
        downloaded: kept.is_some(),
    })
}

/// Asks the account's server for an upload slot (run by the account's supervisor).
pub(crate) async fn request_slot(
    session: &Session,
    filename: &str,
    size: u64,
    content_type: &str,
) -> Result<UploadSlot, CoreError> {
    let service = session
        .upload_service()
        .await
        .map_err(|e| CoreError::Transfer(format!("finding the upload service failed: {e}")))?
        .ok_or_else(|| CoreError::Transfer(http_upload::UploadError::NoService.to_string()))?;
    if let Some(max) = service.max_file_size
        && size > max
    {
        return Err(CoreError::Transfer(
            http_upload::UploadError::TooBig { size, max }.to_string(),
        ));
    }
    session
        .upload_slot(&service, filename, size, content_type)
        .await
        .map_err(|e| CoreError::Transfer(format!("the upload service gave no usable slot: {e}")))
}

fn transfer_failed(
    shared: &SharedRef,
    transfer: &str,
    account: &str,
    direction: &str,
    message: Option<i64>,
    e: &CoreError,
) {
    shared.emit(Event::TransferFailed {
        transfer: transfer.to_owned(),
        account: account.to_owned(),
        direction: direction.to_owned(),
        message,
        kind: e.kind().to_owned(),
        error: e.to_string(),
    });
}

/// The shortest time between two `transfer_progress` events of one transfer: at most ten a
/// second reach the front ends, whatever the chunk size or link speed.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// When a transfer's progress is worth telling: at most every [`PROGRESS_INTERVAL`], and
/// (when the size is known) every 5 %; the end (`done == total`) is always told.
#[derive(Debug, Default)]
struct ProgressThrottle {
    last: Option<(u64, std::time::Instant)>,
}

impl ProgressThrottle {
    fn should_emit(&mut self, done: u64, total: u64, now: std::time::Instant) -> bool {
        let end = total > 0 && done >= total;
        let due = self.last.is_none_or(|(last_done, at)| {
            let step = (total / 20).max(1);
            now.duration_since(at) >= PROGRESS_INTERVAL
                && (total == 0 || done.saturating_sub(last_done) >= step)
        });
        if end || due {
            self.last = Some((done, now));
        }
        end || due
    }
}

/// Emits `transfer_progress`, throttled by [`ProgressThrottle`].
fn progress_reporter(
    shared: &SharedRef,
    transfer: &str,
    account: &str,
    direction: &'static str,
) -> impl FnMut(u64, u64) + Send + use<> {
    let (shared, transfer, account) = (shared.clone(), transfer.to_owned(), account.to_owned());
    let mut throttle = ProgressThrottle::default();
    move |done, total| {
        if !throttle.should_emit(done, total, std::time::Instant::now()) {
            return;
        }
        shared.emit(Event::TransferProgress {
            transfer: transfer.clone(),
            account: account.clone(),
            direction: direction.to_owned(),
            done,
            total,
        });
    }
}

/// Opens a Tor stream with the account's isolation to where `url` points, refusing plain
/// http except where [`plain_http_allowed`].
async fn open(
    shared: &SharedRef,
    account: &store::Account,
    url: &url::Url,
) -> Result<
    (
        crate::tor::TorStream,
        HttpTarget,
        Option<Arc<rustls::ClientConfig>>,
    ),
    CoreError,
> {
    let target = HttpTarget::from_url(url).map_err(|e| CoreError::Transfer(format!("{e}")))?;
    if !target.tls && !plain_http_allowed(&target.host, account.host.as_deref()) {
        return Err(CoreError::Transfer(format!(
            "refusing plain http to {}: only .onion services and the account's own server \
             address may be reached without TLS",
            target.host
        )));
    }
    let tor = shared
        .tor()
        .ok_or_else(|| CoreError::Tor("Tor is not running".into()))?;
    let isolation = lock(&shared.isolations)
        .get(&account.jid)
        .cloned()
        .ok_or_else(|| CoreError::Transfer(format!("{} is not running", account.jid)))?;
    let stream = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tor.connect(&isolation, &target.host, target.port),
    )
    .await
    .map_err(|_| CoreError::Tor(format!("no stream to {} in time", target.host)))?
    .map_err(|e| CoreError::Tor(e.to_string()))?;
    let tls = if target.tls {
        let trust = account
            .trust_anchor_pem
            .clone()
            .map_or(TrustAnchor::WebPki, TrustAnchor::ExtraCaPem);
        Some(
            crate::xmpp::tls::client_config(&trust, false)
                .map_err(|e| CoreError::Transfer(e.to_string()))?,
        )
    } else {
        None
    };
    Ok((stream, target, tls))
}

/// Everything `send_file` learned before the upload starts.
struct Upload {
    account: store::Account,
    to: String,
    kind: &'static str,
    plaintext: bool,
    name: String,
    data: Zeroizing<Vec<u8>>,
    slot: UploadSlot,
    transfer: String,
    flusher: Option<Flusher>,
}

/// `send_file`: checks and reads the file, gets a slot, and starts the upload in the
/// background; the answer is the transfer's id (`transfer_progress`, then `transfer_done` with
/// the new message, or `transfer_failed`).
pub(crate) async fn send_file(
    shared: &SharedRef,
    supervisors: &Supervisors,
    account: String,
    to: String,
    path: String,
) -> Result<String, CoreError> {
    let to = xmpp_parsers::jid::BareJid::new(to.trim())
        .map_err(|e| CoreError::InvalidInput(format!("recipient is not a bare JID: {e}")))?
        .to_string();
    let path = std::path::PathBuf::from(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| CoreError::InvalidInput("the path names no file".into()))?;
    let meta = std::fs::metadata(&path)
        .map_err(|e| CoreError::InvalidInput(format!("cannot read {name}: {e}")))?;
    if !meta.is_file() {
        return Err(CoreError::InvalidInput(format!("{name} is not a file")));
    }
    let size = meta.len();
    if size == 0 {
        return Err(CoreError::InvalidInput(format!("{name} is empty")));
    }
    if size > HARD_CAP {
        return Err(CoreError::InvalidInput(format!(
            "{name} is too big ({size} bytes; Talpa shares at most {HARD_CAP})"
        )));
    }
    let (acc, peer) = (account.clone(), to.clone());
    let (account_row, kind, plaintext) = shared
        .store
        .with(move |s| {
            let a = crate::core::actor::find_account(s, &acc)?;
            let c = s
                .list_conversations(a.id)?
                .into_iter()
                .find(|c| c.peer_jid == peer);
            let room = c
                .as_ref()
                .is_some_and(|c| c.kind == store::ConversationKind::GroupChat);
            let plain = c.is_some_and(|c| c.encryption == store::EncryptionChoice::Plaintext);
            Ok((a, if room { "groupchat" } else { "chat" }, plain))
        })
        .await?;
    let upload_size = if plaintext { size } else { size + TAG_LEN };
    let content_type = if plaintext {
        mime_of(&name)
    } else {
        "application/octet-stream"
    };
    let outcome = supervisors
        .session_op(
            &account_row.jid,
            SessionOp::UploadSlot {
                filename: http_upload::upload_name(&name),
                size: upload_size,
                content_type: content_type.to_owned(),
            },
        )
        .await?;
    let OpOutcome::UploadSlot(slot) = outcome else {
        return Err(CoreError::Transfer(
            "the account gave no upload slot".into(),
        ));
    };
    // Read exactly the announced size: a file that grew since is not sent in part.
    let data = tokio::task::spawn_blocking(move || -> Result<Zeroizing<Vec<u8>>, String> {
        use std::io::Read;
        let file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
        let mut data = Zeroizing::new(Vec::with_capacity(usize::try_from(size).unwrap_or(0)));
        file.take(size + 1)
            .read_to_end(&mut data)
            .map_err(|e| e.to_string())?;
        Ok(data)
    })
    .await
    .map_err(|e| CoreError::InvalidInput(e.to_string()))?
    .map_err(|e| CoreError::InvalidInput(format!("cannot read {name}: {e}")))?;
    if data.len() as u64 != size {
        return Err(CoreError::InvalidInput(format!(
            "{name} changed while it was read; try again"
        )));
    }
    let transfer = crate::privacy::ids::random_id()[..12].to_owned();
    let up = Upload {
        flusher: supervisors.flusher(&account_row.jid),
        account: account_row,
        to,
        kind,
        plaintext,
        name,
        data,
        slot: *slot,
        transfer: transfer.clone(),
    };
    let shared = shared.clone();
    tokio::spawn(async move {
        let (transfer, account) = (up.transfer.clone(), up.account.jid.clone());
        let result = tokio::time::timeout(TRANSFER_TIMEOUT, upload(&shared, up))
            .await
            .unwrap_or_else(|_| Err(CoreError::Transfer("the upload took too long".into())));
        if let Err(e) = result {
            tracing::info!(error = %e, "file upload failed");
            transfer_failed(&shared, &transfer, &account, "upload", None, &e);
        }
    });
    Ok(transfer)
}

async fn upload(shared: &SharedRef, mut up: Upload) -> Result<(), CoreError> {
    // The shared link must be fetchable the way Talpa fetches: refuse, before uploading, a
    // plain-http GET URL that would be refused later.
    let get = url::Url::parse(&up.slot.get_url).map_err(|e| CoreError::Transfer(e.to_string()))?;
    if get.scheme() == "http"
        && !plain_http_allowed(
            get.host_str().unwrap_or_default(),
            up.account.host.as_deref(),
        )
    {
        return Err(CoreError::Transfer(
            "the server shares uploads over plain http".into(),
        ));
    }
    let key = (!up.plaintext).then(MediaKey::random);
    let wire = match &key {
        Some(k) => Zeroizing::new(k.encrypt(&up.data)?),
        None => up.data.clone(),
    };
    let put_url =
        url::Url::parse(&up.slot.put_url).map_err(|e| CoreError::Transfer(e.to_string()))?;
    let (stream, target, tls) = open(shared, &up.account, &put_url).await?;
    let mut progress = progress_reporter(shared, &up.transfer, &up.account.jid, "upload");
    let content_type = if up.plaintext {
        mime_of(&up.name)
    } else {
        "application/octet-stream"
    };
    http_transfer::put(
        stream,
        &target,
        tls,
        &up.slot.put_headers,
        content_type,
        &wire,
        &mut progress,
    )
    .await
    .map_err(|e| CoreError::Transfer(format!("the upload failed: {e}")))?;
    drop(wire);
    let (body, oob) = match &key {
        Some(k) => (aesgcm_body(&up.slot.get_url, k)?, None),
        None => (
            Zeroizing::new(up.slot.get_url.clone()),
            Some(up.slot.get_url.clone()),
        ),
    };
    let attachment = store::NewAttachment {
        mime: mime_of(&up.name).to_owned(),
        name: std::mem::take(&mut up.name),
        data: std::mem::take(&mut *up.data),
    };
    let message = enqueue(shared, &up, body, oob, attachment).await?;
    let id = message.id;
    shared.emit(Event::Message(message));
    if let Some(f) = &up.flusher {
        f.flush();
    }
    shared.emit(Event::TransferDone {
        transfer: up.transfer.clone(),
        account: up.account.jid.clone(),
        direction: "upload".into(),
        message: id,
    });
    Ok(())
}

/// Queues the message sharing the uploaded file, like `send` does, keeping the file with it.
async fn enqueue(
    shared: &SharedRef,
    up: &Upload,
    body: Zeroizing<String>,
    oob: Option<String>,
    attachment: store::NewAttachment,
) -> Result<StoredMessage, CoreError> {
    let origin_id = crate::privacy::ids::random_id();
    let plaintext = up.plaintext;
    let payload = Zeroizing::new(
        serde_json::to_vec(&serde_json::json!({
            "to": up.to, "body": body.as_str(), "kind": up.kind, "plaintext": plaintext,
            "oob": oob,
        }))
        .map_err(|e| CoreError::InvalidInput(e.to_string()))?,
    );
    let (acc, with, oid, text) = (
        up.account.jid.clone(),
        up.to.clone(),
        origin_id.clone(),
        body.clone(),
    );
    let stored = shared
        .store
        .with(move |s| {
            let now = Utc::now();
            let outgoing = crate::core::actor::Outgoing {
                account: &acc,
                with: &with,
                origin_id: &oid,
                payload: &payload,
                body: text.to_string(),
                plaintext,
            };
            Ok(
                crate::core::actor::store_outgoing(s, &outgoing, Some(attachment), now)?
                    .ok_or((acc, with, now)),
            )
        })
        .await?;
    Ok(match stored {
        Ok(m) => m,
        Err((acc, with, now)) => {
            // A "don't store" conversation: the message lives in memory, the file nowhere.
            let mut ephemeral = lock(&shared.ephemeral);
            let m = ephemeral.remember(StoredMessage {
                id: 0,
                account: acc.clone(),
                with,
                direction: "out".into(),
                from: acc,
                body: body.to_string(),
                timestamp_ms: now.timestamp_millis(),
                encryption: if plaintext { "none" } else { "pending" }.into(),
                corrected: false,
                retracted: false,
                origin_id: None,
                notes: crate::core::events::MessageNotes {
                    attachment: attachment_of(Some(&body), false, &[]),
                    ..crate::core::events::MessageNotes::default()
                },
            });
            if !plaintext {
                ephemeral.await_encryption(&origin_id, &m);
            }
            m
        }
    })
}

/// `download_attachment`: starts fetching the file a stored message shares; the answer is
/// the transfer's id, or `None` when the file is already kept.
pub(crate) async fn download(
    shared: &SharedRef,
    message: i64,
) -> Result<Option<String>, CoreError> {
    if message <= 0 {
        return Err(CoreError::InvalidInput(
            "this conversation stores nothing, so it cannot keep a downloaded file".into(),
        ));
    }
    let (m, account) = shared
        .store
        .with(move |s| {
            let m = s
                .message(MessageId(message))?
                .ok_or_else(|| CoreError::NotFound(format!("message {message}")))?;
            let conv = s
                .conversation(m.conversation)?
                .ok_or_else(|| CoreError::NotFound(format!("message {message}")))?;
            let account = s
                .account(conv.account)?
                .ok_or_else(|| CoreError::NotFound(format!("message {message}")))?;
            Ok((m, account))
        })
        .await?;
    let link = m
        .body
        .as_deref()
        .filter(|_| !m.retracted)
        .and_then(|b| shared_link(b, m.file_link))
        .ok_or_else(|| CoreError::InvalidInput("this message shares no file".into()))?;
    if !m.attachments.is_empty() {
        return Ok(None);
    }
    let transfer = crate::privacy::ids::random_id()[..12].to_owned();
    let shared = shared.clone();
    let t = transfer.clone();
    tokio::spawn(async move {
        let jid = account.jid.clone();
        let result = tokio::time::timeout(
            TRANSFER_TIMEOUT,
            fetch(&shared, &account, message, &link, &t),
        )
        .await
        .unwrap_or_else(|_| Err(CoreError::Transfer("the download took too long".into())));
        if let Err(e) = result {
            tracing::info!(error = %e, "file download failed");
            transfer_failed(&shared, &t, &jid, "download", Some(message), &e);
        }
    });
    Ok(Some(transfer))
}

async fn fetch(
    shared: &SharedRef,
    account: &store::Account,
    message: i64,
    link: &SharedLink,
    transfer: &str,
) -> Result<(), CoreError> {
    let mut url = link.url.clone();
    // An aesgcm link names an https location; a .onion service or the account's own
    // server override (a test bed) may serve it over plain http. A plaintext link is fetched
    // the same way, and kept as fetched (it has no key).
    if plain_http_allowed(url.host_str().unwrap_or_default(), account.host.as_deref()) {
        let _ = url.set_scheme("http");
    }
    let (stream, target, tls) = open(shared, account, &url).await?;
    let mut progress = progress_reporter(shared, transfer, &account.jid, "download");
    let limit = HARD_CAP + if link.key.is_some() { TAG_LEN } else { 0 };
    let wire = http_transfer::get(stream, &target, tls, limit, &mut progress)
        .await
        .map_err(|e| CoreError::Transfer(format!("the download failed: {e}")))?;
    let mut plain = match &link.key {
        Some(k) => k.decrypt(&wire)?,
        None => wire,
    };
    let name = link.display_name();
    let attachment = store::NewAttachment {
        mime: mime_of(&name).to_owned(),
        name,
        data: std::mem::take(&mut *plain),
    };
    let jid = account.jid.clone();
    let updated = shared
        .store
        .with(move |s| {
            let mut attachment = attachment;
            let id = MessageId(message);
            // Gone meanwhile (expired, erased, retracted): keep nothing.
            let Some(m) = s.message(id)?.filter(|m| !m.retracted) else {
                attachment.data.zeroize();
                return Ok(None);
            };
            if m.attachments.is_empty() {
                s.add_attachment(id, &attachment)?;
            }
            attachment.data.zeroize();
            let conv = s.conversation(m.conversation)?;
            Ok(s.message(id)?
                .zip(conv)
                .map(|(m, c)| crate::core::actor::to_event_message(&jid, &c.peer_jid, &m)))
        })
        .await?;
    let Some(updated) = updated else {
        return Err(CoreError::NotFound(
            "the message was erased during the download".into(),
        ));
    };
    shared.emit(Event::MessageUpdated(updated));
    shared.emit(Event::TransferDone {
        transfer: transfer.to_owned(),
        account: account.jid.clone(),
        direction: "download".into(),
        message,
    });
    Ok(())
}

/// `save_attachment`: writes the kept file of `message` to `path` (created or replaced,
/// owner-only permissions).
pub(crate) async fn save(shared: &SharedRef, message: i64, path: String) -> Result<(), CoreError> {
    let data = shared
        .store
        .with(move |s| {
            let m = s
                .message(MessageId(message))?
                .ok_or_else(|| CoreError::NotFound(format!("message {message}")))?;
            let a = m.attachments.first().ok_or_else(|| {
                CoreError::InvalidInput("the file is not downloaded yet (download it first)".into())
            })?;
            Ok(Zeroizing::new(s.attachment_data(a.id)?.unwrap_or_default()))
        })
        .await?;
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        f.write_all(&data)?;
        f.sync_all()
    })
    .await
    .map_err(|e| CoreError::InvalidInput(e.to_string()))?
    .map_err(|e| CoreError::InvalidInput(format!("cannot save the file: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn an_aesgcm_link_round_trips_and_decrypts_what_was_encrypted() {
        let key = MediaKey::random();
        let cipher = key.encrypt(b"picture bytes").unwrap();
        assert_eq!(cipher.len(), 13 + 16);
        let body = aesgcm_body("https://up.example.org:8443/a/b%20c.jpg", &key).unwrap();
        assert!(body.starts_with("aesgcm://up.example.org:8443/a/b%20c.jpg#"));
        assert_eq!(body.len() - body.find('#').unwrap() - 1, 88);
        let link = parse_body(&format!("  {}\n", body.as_str())).unwrap();
        assert_eq!(link.url.as_str(), "https://up.example.org:8443/a/b%20c.jpg");
        assert_eq!(link.display_name(), "b c.jpg");
        let plain = link.key.unwrap().decrypt(&cipher).unwrap();
        assert_eq!(&plain[..], b"picture bytes");
    }

    #[test]
    fn a_file_encrypted_by_another_client_decrypts_with_its_fragment() {
        // XEP-0454 test vector made with Python's `cryptography` (what slixmpp uses).
        let fragment = "000102030405060708090a0b\
                        1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";
        let key = MediaKey::from_fragment(fragment).unwrap();
        let cipher = hex::decode("66282da1072f2cd3955b154c3213afeccdf6f97e70").unwrap();
        assert_eq!(key.encrypt(b"hello").unwrap(), cipher);
        assert_eq!(&key.decrypt(&cipher).unwrap()[..], b"hello");
        let mut altered = cipher.clone();
        altered[0] ^= 1;
        assert!(key.decrypt(&altered).is_err());
        // A 16-byte IV (older Conversations) is accepted too.
        let long = format!("{}{}", "00".repeat(16), &fragment[24..]);
        assert!(MediaKey::from_fragment(&long).is_some());
        assert!(MediaKey::from_fragment(&fragment[..80]).is_none());
    }

    #[test]
    fn only_a_whole_body_aesgcm_link_is_an_attachment() {
        let frag = "ab".repeat(44);
        assert!(parse_body(&format!("aesgcm://h.example/f.png#{frag}")).is_some());
        assert!(parse_body(&format!("look: aesgcm://h.example/f.png#{frag}")).is_none());
        assert!(parse_body(&format!("aesgcm://h.example/f.png#{frag} and more")).is_none());
        assert!(parse_body("aesgcm://h.example/f.png#nothex").is_none());
        assert!(parse_body("aesgcm://h.example/f.png").is_none());
        assert!(parse_body(&format!("aesgcm://u:p@h.example/f#{frag}")).is_none());
        assert!(parse_body("https://h.example/f.png").is_none());
    }

    #[test]
    fn a_plaintext_link_is_a_file_only_when_its_out_of_band_url_is_the_whole_body() {
        let url = "https://up.example.org/a/report%20v2.pdf";
        assert!(oob_confirms(Some(url), Some(url)));
        assert!(oob_confirms(Some(&format!(" {url}\n")), Some(url)));
        let onion = "http://abcdefghij.onion/f.png";
        assert!(oob_confirms(Some(onion), Some(onion)));
        // No out-of-band data, or another URL, or more than the URL: text.
        assert!(!oob_confirms(Some(url), None));
        assert!(!oob_confirms(None, Some(url)));
        assert!(!oob_confirms(
            Some(url),
            Some("https://up.example.org/a/other.pdf")
        ));
        let chatty = format!("look: {url}");
        assert!(!oob_confirms(Some(&chatty), Some(&chatty)));
        // Hostile or unfetchable links: text.
        let long = format!("https://h.example/{}", "a".repeat(2100));
        for bad in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "data:text/html,<b>x</b>",
            "http://up.example.org/f.png",
            "ftp://up.example.org/f.png",
            "https://user:pw@up.example.org/f.png",
            "https://up.example.org/f.png#frag",
            "https://up.example.org/a\u{7}b.png",
            "https:///nohost",
            "https:\\\\evil.example\\f.png",
            "https://evil.example\\f.png",
            long.as_str(),
        ] {
            assert!(!oob_confirms(Some(bad), Some(bad)), "{bad}");
        }
        // The stored flag makes the link a file without a key; without it, text.
        let link = shared_link(url, true).unwrap();
        assert!(link.key.is_none());
        assert_eq!(link.display_name(), "report v2.pdf");
        assert!(shared_link(url, false).is_none());
        assert!(shared_link("javascript:alert(1)", true).is_none());
        let a = attachment_of(Some(url), true, &[]).unwrap();
        assert!(!a.encrypted && !a.downloaded);
        assert_eq!(a.name, "report v2.pdf");
        assert!(attachment_of(Some(url), false, &[]).is_none());
    }

    #[test]
    fn progress_is_told_at_most_ten_times_a_second_and_always_at_the_end() {
        let t0 = std::time::Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut known = ProgressThrottle::default();
        assert!(known.should_emit(32, 1000, ms(0)));
        // Chunk after chunk within 100 ms: silent, however far it got.
        assert!(!known.should_emit(500, 1000, ms(50)));
        assert!(!known.should_emit(900, 1000, ms(99)));
        assert!(known.should_emit(950, 1000, ms(120)));
        // Less than 5 % more: silent even after a while.
        assert!(!known.should_emit(960, 1000, ms(400)));
        // The end is always told.
        assert!(known.should_emit(1000, 1000, ms(401)));
        // Unknown size: by time only.
        let mut unknown = ProgressThrottle::default();
        let told = (0..100u64)
            .filter(|i| unknown.should_emit(i * 32_768, 0, ms(i * 10)))
            .count();
        assert_eq!(told, 10, "one second of chunks every 10 ms");
    }

    #[test]
    fn file_names_from_urls_lose_path_tricks_and_controls() {
        let name = |u: &str| display_name(&url::Url::parse(u).unwrap());
        assert_eq!(name("https://h/x/..%2F..%2Fetc%2Fpasswd"), "etcpasswd");
        assert_eq!(name("https://h/x/%2e%2ebashrc"), "bashrc");
        assert_eq!(name("https://h/x/evil%E2%80%AEgpj.exe"), "evilgpj.exe");
        assert_eq!(name("https://h/x/a%0Ab.txt"), "ab.txt");
        assert_eq!(name("https://h/"), "file");
        assert_eq!(name(&format!("https://h/{}", "n".repeat(500))).len(), 120);
    }

    #[test]
    fn plain_http_only_for_onions_and_the_accounts_own_host() {
        assert!(plain_http_allowed("abc.onion", None));
        assert!(plain_http_allowed("127.0.0.1", Some("127.0.0.1")));
        assert!(!plain_http_allowed("upload.example.org", None));
        assert!(!plain_http_allowed("127.0.0.1", Some("10.0.0.1")));
        assert!(!plain_http_allowed("onion.example", None));
    }
}
