//! XEP-0363 HTTP File Upload: finding the account server's upload service and asking it for a
//! slot (a PUT URL to send the file to and a GET URL to share).
//!
//! Everything a server answers is checked here, before the core acts on it: URLs must be
//! `http(s)://` without user info or control characters, PUT headers are limited to the three
//! the XEP allows (`Authorization`, `Cookie`, `Expires`) with no line breaks, and sizes are
//! bounded. The file name the server is told is never the user's: [`upload_name`] makes a
//! random one that keeps only a short extension.

use tokio_xmpp::jid::Jid;
use tokio_xmpp::minidom::Element;

use super::error::XmppError;
use super::session::Session;
use super::stanza::{NS_DISCO_INFO, elem};

/// The XEP-0363 namespace (version 0.x, the one every current server speaks).
pub const NS_HTTP_UPLOAD: &str = "urn:xmpp:http:upload:0";
/// XEP-0030 disco#items.
pub const NS_DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
const NS_DATA: &str = "jabber:x:data";

/// The longest URL accepted in a slot.
pub const MAX_URL_LEN: usize = 2048;
/// The longest PUT header value accepted in a slot.
pub const MAX_HEADER_LEN: usize = 1024;
/// How many disco items are asked about at most (a hostile server may list thousands).
const MAX_ITEMS_PROBED: usize = 16;

/// Why an upload service or slot answer was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UploadError {
    /// The server has no XEP-0363 upload service.
    #[error("the server offers no file upload service")]
    NoService,
    /// The file is bigger than the service accepts.
    #[error("the file is too big for the server ({size} bytes; the server accepts at most {max})")]
    TooBig {
        /// The size that would be uploaded.
        size: u64,
        /// The service's limit.
        max: u64,
    },
    /// The slot answer lacks a part (`put`, `get`, a URL).
    #[error("the upload slot is incomplete: {0}")]
    Incomplete(&'static str),
    /// A slot URL is unusable (not http/https, too long, has user info or odd characters).
    #[error("the upload slot has an unusable URL: {0}")]
    BadUrl(String),
    /// A PUT header is one the XEP does not allow, or its value is unusable.
    #[error("the upload slot has a header Talpa does not send: {0}")]
    BadHeader(String),
}

/// The upload service of the account's server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadService {
    /// The service's address (usually `upload.example.org`).
    pub jid: Jid,
    /// The largest file it accepts, when it says.
    pub max_file_size: Option<u64>,
}

/// Where to PUT a file and where it can then be fetched.
#[derive(Clone, PartialEq, Eq)]
pub struct UploadSlot {
    /// The PUT URL (`http(s)://`).
    pub put_url: String,
    /// The headers to send with the PUT (only `Authorization`, `Cookie`, `Expires`).
    pub put_headers: Vec<(String, String)>,
    /// The GET URL (`http(s)://`), the one shared in the message.
    pub get_url: String,
}

impl std::fmt::Debug for UploadSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The PUT headers may hold credentials; the URLs are capabilities.
        f.debug_struct("UploadSlot").finish_non_exhaustive()
    }
}

/// What a disco#info answer says about an upload service: `None` if it is not one, else its
/// `max-file-size` (if given).
pub fn parse_service_info(query: &Element) -> Option<Option<u64>> {
    let is_upload = query
        .children()
        .any(|c| c.name() == "feature" && c.attr("var") == Some(NS_HTTP_UPLOAD));
    if !is_upload {
        return None;
    }
    let max = query
        .children()
        .filter(|c| c.is("x", NS_DATA))
        .find(|x| {
            x.children().any(|f| {
                f.attr("var") == Some("FORM_TYPE")
                    && f.children().any(|v| v.text().trim() == NS_HTTP_UPLOAD)
            })
        })
        .and_then(|x| {
            x.children()
                .find(|f| f.is("field", NS_DATA) && f.attr("var") == Some("max-file-size"))
        })
        .and_then(|f| f.children().find(|v| v.is("value", NS_DATA)))
        .and_then(|v| v.text().trim().parse::<u64>().ok());
    Some(max)
}

/// The `<request/>` element asking for a slot (XEP-0363 §4).
pub fn slot_request(filename: &str, size: u64, content_type: &str) -> Element {
    elem(
        "request",
        NS_HTTP_UPLOAD,
        &[
            ("filename", filename),
            ("size", &size.to_string()),
            ("content-type", content_type),
        ],
    )
}

/// Checks a URL from a slot: `http` or `https`, a host, no user info, no whitespace or control
/// characters, at most [`MAX_URL_LEN`] bytes.
///
/// # Errors
/// [`UploadError::BadUrl`] naming what is wrong.
pub fn check_url(url: &str) -> Result<url::Url, UploadError> {
    if url.len() > MAX_URL_LEN {
        return Err(UploadError::BadUrl(format!(
            "longer than {MAX_URL_LEN} bytes"
        )));
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(UploadError::BadUrl("control characters or spaces".into()));
    }
    let parsed = url::Url::parse(url).map_err(|e| UploadError::BadUrl(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(UploadError::BadUrl(format!(
            "scheme {} (only http and https)",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(UploadError::BadUrl("no host".into()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(UploadError::BadUrl("user info in the URL".into()));
    }
    if parsed.fragment().is_some() {
        return Err(UploadError::BadUrl("a fragment in the URL".into()));
    }
    Ok(parsed)
}

/// Parses a `<slot/>` answer (XEP-0363 §4), refusing anything Talpa would not send.
///
/// # Errors
/// [`UploadError::Incomplete`], [`UploadError::BadUrl`] or [`UploadError::BadHeader`].
pub fn parse_slot(slot: &Element) -> Result<UploadSlot, UploadError> {
    if !slot.is("slot", NS_HTTP_UPLOAD) {
        return Err(UploadError::Incomplete("no slot"));
    }
    let put = slot
        .get_child("put", NS_HTTP_UPLOAD)
        .ok_or(UploadError::Incomplete("no put URL"))?;
    let get = slot
        .get_child("get", NS_HTTP_UPLOAD)
        .ok_or(UploadError::Incomplete("no get URL"))?;
    let put_url = put
        .attr("url")
        .ok_or(UploadError::Incomplete("no put URL"))?;
    let get_url = get
        .attr("url")
        .ok_or(UploadError::Incomplete("no get URL"))?;
    check_url(put_url)?;
    check_url(get_url)?;
    let mut put_headers = Vec::new();
    for h in put.children().filter(|c| c.is("header", NS_HTTP_UPLOAD)) {
        let name = h.attr("name").unwrap_or_default();
        let canonical = ["Authorization", "Cookie", "Expires"]
            .into_iter()
            .find(|n| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| UploadError::BadHeader(name.chars().take(40).collect()))?;
        // The XEP says to strip newlines; any other control character is refused outright.
        let value: String = h
            .text()
            .chars()
            .filter(|c| *c != '\n' && *c != '\r')
            .collect();
        if value.len() > MAX_HEADER_LEN || value.chars().any(char::is_control) {
            return Err(UploadError::BadHeader(canonical.into()));
        }
        if put_headers.len() >= 3 {
            return Err(UploadError::BadHeader("too many headers".into()));
        }
        put_headers.push((canonical.to_owned(), value));
    }
    Ok(UploadSlot {
        put_url: put_url.to_owned(),
        put_headers,
        get_url: get_url.to_owned(),
    })
}

/// The extension of `name` (after the last dot), if it is 1–8 ASCII letters or digits;
/// lower-cased.
pub fn extension(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let (stem, ext) = base.rsplit_once('.')?;
    if stem.is_empty() || ext.is_empty() || ext.len() > 8 {
        return None;
    }
    ext.chars()
        .all(|c| c.is_ascii_alphanumeric())
        .then(|| ext.to_ascii_lowercase())
}

/// The name the upload server is told: random, with only the original's extension (so the
/// receiving client can still guess the type). The user's file name never leaves the machine.
pub fn upload_name(original: &str) -> String {
    let id = crate::privacy::ids::random_id();
    match extension(original) {
        Some(ext) => format!("{}.{ext}", &id[..16]),
        None => id[..16].to_owned(),
    }
}

impl Session {
    /// Finds the upload service among the server's disco items (XEP-0363 §2).
    ///
    /// # Errors
    /// [`XmppError`] when the server does not answer disco#items; an item that does not answer
    /// disco#info is skipped. `Ok(None)` when there is no upload service.
    pub async fn upload_service(&self) -> Result<Option<UploadService>, XmppError> {
        let server = Jid::new(self.own_jid().domain().as_str())
            .map_err(|e| XmppError::InvalidJid(e.to_string()))?;
        let items = self
            .iq(
                Some(server.clone()),
                false,
                elem("query", NS_DISCO_ITEMS, &[]),
            )
            .await?;
        let mut candidates = vec![server];
        if let Some(items) = items {
            candidates.extend(
                items
                    .children()
                    .filter(|i| i.is("item", NS_DISCO_ITEMS))
                    .filter_map(|i| i.attr("jid"))
                    .filter_map(|j| Jid::new(j).ok())
                    .take(MAX_ITEMS_PROBED),
            );
        }
        for jid in candidates {
            let Ok(Some(info)) = self
                .iq(Some(jid.clone()), false, elem("query", NS_DISCO_INFO, &[]))
                .await
            else {
                continue;
            };
            if let Some(max_file_size) = parse_service_info(&info) {
                return Ok(Some(UploadService { jid, max_file_size }));
            }
        }
        Ok(None)
    }

    /// Asks `service` for a slot for `size` bytes named `filename` (already the random
    /// [`upload_name`]).
    ///
    /// # Errors
    /// [`XmppError::IqError`] when the service refuses (its text says why, e.g. quota);
    /// [`XmppError::Protocol`] when the answer is not a usable slot.
    pub async fn upload_slot(
        &self,
        service: &UploadService,
        filename: &str,
        size: u64,
        content_type: &str,
    ) -> Result<UploadSlot, XmppError> {
        let answer = self
            .iq(
                Some(service.jid.clone()),
                false,
                slot_request(filename, size, content_type),
            )
            .await?
            .ok_or_else(|| XmppError::Protocol("the upload service sent no slot".into()))?;
        parse_slot(&answer).map_err(|e| XmppError::Protocol(e.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn xml(s: &str) -> Element {
        s.parse().unwrap()
    }

    #[test]
    fn service_info_gives_the_max_file_size_of_the_upload_form() {
        let q = xml("<query xmlns='http://jabber.org/protocol/disco#info'>\
             <identity category='store' type='file'/>\
             <feature var='urn:xmpp:http:upload:0'/>\
             <x xmlns='jabber:x:data' type='result'>\
             <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:http:upload:0</value></field>\
             <field var='max-file-size'><value>5242880</value></field></x></query>");
        assert_eq!(parse_service_info(&q), Some(Some(5_242_880)));
    }

    #[test]
    fn an_entity_without_the_upload_feature_is_not_a_service() {
        let q = xml("<query xmlns='http://jabber.org/protocol/disco#info'>\
             <feature var='http://jabber.org/protocol/muc'/></query>");
        assert_eq!(parse_service_info(&q), None);
        let no_form = xml("<query xmlns='http://jabber.org/protocol/disco#info'>\
             <feature var='urn:xmpp:http:upload:0'/></query>");
        assert_eq!(parse_service_info(&no_form), Some(None));
    }

    #[test]
    fn a_slot_gives_urls_and_only_the_allowed_headers() {
        let s = xml("<slot xmlns='urn:xmpp:http:upload:0'>\
             <put url='https://up.example.org/abc/f.jpg'>\
             <header name='authorization'>Basic\nQWxh</header>\
             <header name='Expires'>Tue, 1 Jan 2030</header></put>\
             <get url='https://up.example.org/abc/f.jpg'/></slot>");
        let slot = parse_slot(&s).unwrap();
        assert_eq!(slot.put_url, "https://up.example.org/abc/f.jpg");
        assert_eq!(
            slot.put_headers,
            vec![
                ("Authorization".to_owned(), "BasicQWxh".to_owned()),
                ("Expires".to_owned(), "Tue, 1 Jan 2030".to_owned()),
            ]
        );
    }

    #[test]
    fn hostile_slots_are_refused_with_what_is_wrong() {
        let slot = |put: &str, get: &str, headers: &str| {
            xml(&format!(
                "<slot xmlns='urn:xmpp:http:upload:0'><put url='{put}'>{headers}</put>\
                 <get url='{get}'/></slot>"
            ))
        };
        let ok = "https://h.example/x";
        assert!(matches!(
            parse_slot(&slot("file:///etc/passwd", ok, "")),
            Err(UploadError::BadUrl(_))
        ));
        assert!(matches!(
            parse_slot(&slot(ok, "javascript:alert(1)", "")),
            Err(UploadError::BadUrl(_))
        ));
        assert!(matches!(
            parse_slot(&slot("https://user:pw@h.example/x", ok, "")),
            Err(UploadError::BadUrl(_))
        ));
        let long = format!("https://h.example/{}", "a".repeat(MAX_URL_LEN));
        assert!(matches!(
            parse_slot(&slot(&long, ok, "")),
            Err(UploadError::BadUrl(_))
        ));
        assert!(matches!(
            parse_slot(&slot(ok, ok, "<header name='Host'>evil</header>")),
            Err(UploadError::BadHeader(_))
        ));
        assert!(matches!(
            parse_slot(&slot(ok, ok, "<header name='Cookie'>a&#9;b</header>")),
            Err(UploadError::BadHeader(_))
        ));
        assert_eq!(
            parse_slot(&xml(
                "<slot xmlns='urn:xmpp:http:upload:0'><put url='https://h.example/x'/></slot>"
            )),
            Err(UploadError::Incomplete("no get URL"))
        );
    }

    #[test]
    fn the_server_learns_a_random_name_with_only_the_extension() {
        let a = upload_name("Minutes of the secret meeting.PDF");
        let b = upload_name("Minutes of the secret meeting.PDF");
        assert_eq!(a.rsplit_once('.').map(|(_, e)| e), Some("pdf"), "{a}");
        assert_ne!(a, b);
        assert!(!a.to_lowercase().contains("secret"));
        assert_eq!(upload_name("no extension").len(), 16);
        assert_eq!(extension("x.tar.gz").as_deref(), Some("gz"));
        assert_eq!(extension(".bashrc"), None);
        assert_eq!(extension("a.verylongextension"), None);
        assert_eq!(extension("a.j pg"), None);
    }
}
