//! Message-level encryption for the core: what goes in clear and what is encrypted, per version.
//!
//! OMEMO 2 encrypts a whole SCE envelope (body, correction, reply, reactions, OOB) bound to the
//! stanza's sender and recipient. Legacy OMEMO can only encrypt the body; anything else would
//! have to travel in clear, so it is refused here rather than leaked.

use rand::{CryptoRng, RngCore};

use super::sce::{self, MessageContent};
use super::session::{Decrypted, DeviceAddress, Encrypted, SessionManager};
use super::wire::EncryptedElement;
use super::{OmemoError, OmemoVersion};

/// A decrypted message with its content.
pub struct DecryptedMessage {
    /// The content; `None` for an empty (heartbeat / key transport) message.
    pub content: Option<MessageContent>,
    /// Session-level details (identity event, trust, bundle republish, heartbeat).
    pub details: Decrypted,
}

impl SessionManager {
    /// Encrypts `content` from `from` (own bare JID) to `to` (the contact's or the room's bare
    /// JID) for `recipients`. `stamp` is the XEP-0082 time put in the SCE envelope.
    #[allow(
        clippy::too_many_arguments,
        reason = "each argument is a distinct part of the message"
    )]
    pub fn encrypt_message<R: RngCore + CryptoRng>(
        &mut self,
        version: OmemoVersion,
        content: &MessageContent,
        from: &str,
        to: &str,
        stamp: &str,
        recipients: &[DeviceAddress],
        rng: &mut R,
    ) -> Result<Encrypted, OmemoError> {
        match version {
            OmemoVersion::V2 => {
                let envelope = sce::build(&content.to_elements(), from, to, stamp, rng);
                let bytes = zeroize::Zeroizing::new(sce::to_bytes(&envelope)?);
                self.encrypt(version, &bytes, recipients, rng)
            }
            OmemoVersion::Legacy => {
                let only_body = MessageContent {
                    body: content.body.clone(),
                    ..MessageContent::default()
                };
                match &content.body {
                    Some(body) if *content == only_body => {
                        self.encrypt(version, body.as_bytes(), recipients, rng)
                    }
                    _ => Err(OmemoError::LegacyBodyOnly),
                }
            }
        }
    }

    /// Decrypts an `<encrypted/>` element. `sender_jid` is the sender's real bare JID (whose
    /// session is used), `stanza_from`/`stanza_to` are checked against the SCE affixes (see
    /// [`sce::check_affixes`]), `own_jid` is our bare JID.
    #[allow(
        clippy::too_many_arguments,
        reason = "each argument is a distinct part of the stanza"
    )]
    pub fn decrypt_message<R: RngCore + CryptoRng>(
        &mut self,
        version: OmemoVersion,
        sender_jid: &str,
        stanza_from: &str,
        stanza_to: &str,
        own_jid: &str,
        element: &EncryptedElement,
        rng: &mut R,
    ) -> Result<DecryptedMessage, OmemoError> {
        let details = self.decrypt(version, sender_jid, own_jid, element, rng)?;
        let content = match (&details.plaintext, version) {
            (None, _) => None,
            (Some(p), OmemoVersion::V2) => Some(sce::open(p, stanza_from, stanza_to)?),
            (Some(p), OmemoVersion::Legacy) => {
                let body = std::str::from_utf8(p)
                    .map_err(|_| OmemoError::Malformed("body is not UTF-8"))?;
                Some(MessageContent {
                    body: Some(body.to_owned()),
                    ..MessageContent::default()
                })
            }
        };
        Ok(DecryptedMessage { content, details })
    }
}
