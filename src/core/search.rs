//! The `search` command: a search of the account's stored history, run on the local
//! encrypted store only (never a server-side archive query, which would tell the server
//! what the user looks for). Messages of "don't store" conversations, kept in memory only,
//! are not searched.

use serde::Serialize;

use crate::core::commands::Reply;
use crate::core::error::CoreError;
use crate::store::{self, SearchQuery, SearchScope, Store};

/// Hits per page unless the caller asks for fewer or more.
pub const DEFAULT_LIMIT: u32 = 50;

/// The most hits one page may ask for.
pub const MAX_LIMIT: u32 = 500;

/// One message found by `search`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SearchHit {
    /// The message's local id (what `history`'s `before` and a next page's `before` take).
    pub id: i64,
    /// The account's bare JID.
    pub account: String,
    /// The conversation's peer (contact bare JID or room JID).
    pub with: String,
    /// Whether the conversation is a room.
    pub is_room: bool,
    /// `in` or `out`.
    pub direction: String,
    /// The sender, as `history` gives it.
    pub from: String,
    /// Unix time in milliseconds (server time when known).
    pub timestamp_ms: i64,
    /// Part of the current text around the first match, on one line, with `…` where it was
    /// cut. Untrusted text: escape it before showing it as markup.
    pub snippet: String,
    /// `[start, end)` byte offsets into `snippet` (UTF-8) of the matched words.
    pub matches: Vec<(usize, usize)>,
}

/// What a `search` command asks.
pub(crate) struct SearchRequest {
    /// The account's bare JID (already validated).
    pub account: String,
    /// Only this conversation's peer (already validated), else every conversation.
    pub with: Option<String>,
    /// Only hits older than this message id.
    pub before: Option<i64>,
    /// Hits per page.
    pub limit: Option<u32>,
}

/// Parses the query text, refusing empty and oversized ones.
pub(crate) fn parse_query(text: &str) -> Result<SearchQuery, CoreError> {
    SearchQuery::parse(text).map_err(|e| CoreError::InvalidInput(e.to_string()))
}

/// Runs the search on the open store.
pub(crate) fn run(
    s: &Store,
    req: &SearchRequest,
    query: &SearchQuery,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Reply, CoreError> {
    let account = s
        .list_accounts()?
        .into_iter()
        .find(|a| a.jid == req.account)
        .ok_or_else(|| CoreError::NotFound(format!("account {}", req.account)))?;
    let conversations = s.list_conversations(account.id)?;
    let scope = match &req.with {
        None => SearchScope::Account(account.id),
        Some(w) => match conversations.iter().find(|c| &c.peer_jid == w) {
            Some(c) => SearchScope::Conversation(c.id),
            None => {
                return Ok(Reply::SearchResults {
                    hits: Vec::new(),
                    more: false,
                });
            }
        },
    };
    let limit = req.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as usize;
    let before = req.before.filter(|b| *b > 0).map(store::MessageId);
    let page = s.search(scope, query, before, limit, now)?;
    let hits = page
        .hits
        .into_iter()
        .filter_map(|h| {
            let conv = conversations.iter().find(|c| c.id == h.conversation)?;
            Some(SearchHit {
                id: h.id.0,
                account: req.account.clone(),
                with: conv.peer_jid.clone(),
                is_room: conv.kind == store::ConversationKind::GroupChat,
                direction: match h.direction {
                    store::Direction::Incoming => "in",
                    store::Direction::Outgoing => "out",
                }
                .to_owned(),
                from: h.sender,
                timestamp_ms: h.time.timestamp_millis(),
                snippet: h.snippet,
                matches: h.matches,
            })
        })
        .collect();
    Ok(Reply::SearchResults {
        hits,
        more: page.more,
    })
}
