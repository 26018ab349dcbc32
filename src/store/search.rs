//! Search in the stored history, entirely local: a scan of the decrypted message bodies.
//!
//! There is deliberately no full-text index. An index (FTS5) would be a second copy of every
//! word, which must be kept in step with corrections, retractions, expiry and erasure, and
//! whose deleted entries could outlive the message in free pages or the WAL; a scan has no
//! such copy to leak. Each conversation in scope is walked newest first down the existing
//! (conversation, ts) index, stopping once it has a page of hits, so a common word reads
//! little. Which rows match is decided in SQLite's C, in any script: per word a `LIKE` on its
//! longest run of plain ASCII (case-insensitive, a fast first cut) and, for words with other
//! characters, a `GLOB` in which every character is the class of all characters that fold to
//! it (`[Пп][Рр]…`), exact because folding maps one character to one. Only the page of hits
//! is then read in full.
//! `make bench BENCH=store` prints what it costs on 100 000 messages, next to the same search
//! on plain SQLite.
//!
//! Matching: the query is split on white space into words; a message matches when its current
//! body contains every word, case-insensitively (Unicode lower-casing, char by char, with
//! final sigma folded to sigma and the Turkish capital 'İ' to 'i'; dotless 'ı' stays its own
//! letter, accents stay significant), as a substring. Retracted messages (their
//! body is gone), correction rows (their text lives on the original, which is found by its
//! current text only), messages past their conversation's retention (even before the expiry
//! run deletes them) and messages never stored ("don't store") are not found.
//!
//! Results are newest first (by the store's `ts`, then id), `limit` per page; `more` says
//! whether older hits exist, which the next page asks for with `before` = the last hit's id.

use chrono::{DateTime, Utc};
use std::fmt::Write as _;

use rusqlite::{Connection, OptionalExtension};

use super::error::{Result, StoreError};
use super::messages::{Direction, StoredMessage};
use super::retention::RetentionPolicy;
use super::{AccountId, ConversationId, MessageId, Store};

/// The longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// The most words a query may have.
pub const MAX_QUERY_WORDS: usize = 16;

/// Roughly how many characters of context a snippet shows around the first match.
const SNIPPET_CONTEXT: usize = 40;

/// The longest snippet, in characters (without the ellipses).
const SNIPPET_CHARS: usize = 160;

/// Why a query was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchQueryError {
    /// Nothing but white space was typed.
    #[error("the search text is empty")]
    Empty,
    /// The query is longer than [`MAX_QUERY_CHARS`] characters.
    #[error("the search text is longer than {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// The query has more than [`MAX_QUERY_WORDS`] words.
    #[error("the search text has more than {max} words")]
    TooManyWords {
        /// The limit.
        max: usize,
    },
}

/// A parsed query: its words, case-folded.
#[derive(Clone, PartialEq, Eq)]
pub struct SearchQuery {
    words: Vec<String>,
}

impl std::fmt::Debug for SearchQuery {
    // What the user looks for is as private as the messages themselves.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchQuery")
            .field("words", &self.words.len())
            .finish()
    }
}

impl SearchQuery {
    /// Parses what the user typed.
    pub fn parse(text: &str) -> std::result::Result<Self, SearchQueryError> {
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(SearchQueryError::TooLong {
                max: MAX_QUERY_CHARS,
            });
        }
        let mut words: Vec<String> = Vec::new();
        for w in text.split_whitespace() {
            let mut folded = String::new();
            fold_into(w, &mut folded);
            if !words.contains(&folded) {
                words.push(folded);
            }
        }
        if words.is_empty() {
            return Err(SearchQueryError::Empty);
        }
        if words.len() > MAX_QUERY_WORDS {
            return Err(SearchQueryError::TooManyWords {
                max: MAX_QUERY_WORDS,
            });
        }
        // A word contained in another adds nothing to the match and would only split
        // highlights: keep the longer one.
        let all = words.clone();
        words.retain(|w| !all.iter().any(|o| o != w && o.contains(w.as_str())));
        Ok(Self { words })
    }

    /// The SQL conditions that decide a match exactly, in C, one or two per word: a `LIKE`
    /// on the word's longest run of plain ASCII letters (a cheap first cut: `LIKE` compares
    /// ASCII case-insensitively and skips ahead fast), then, unless that run is the whole word,
    /// a `GLOB` where each character is the class of every character that folds to it (see
    /// [`glob_pattern`]). Plain means ASCII other than `i` and `k`, the two ASCII letters that
    /// a non-ASCII one also folds to ('İ', the Kelvin sign).
    fn sql_conditions(&self) -> Vec<(SqlMatch, String)> {
        let mut out = Vec::new();
        for w in &self.words {
            let run = w
                .split(|c: char| !is_plain_ascii(c))
                .max_by_key(|r| r.len())
                .unwrap_or_default();
            if !run.is_empty() {
                let mut p = String::with_capacity(run.len() + 4);
                p.push('%');
                for c in run.chars() {
                    if matches!(c, '%' | '_' | '\\') {
                        p.push('\\');
                    }
                    p.push(c);
                }
                p.push('%');
                out.push((SqlMatch::Like, p));
            }
            if run.len() != w.len() {
                out.push((SqlMatch::Glob, glob_pattern(w)));
            }
        }
        out
    }

    /// Whether `body` contains every word; `buf` is scratch space reused across calls. The
    /// reference the SQL conditions are checked against.
    #[cfg(test)]
    fn matches(&self, body: &str, buf: &mut String) -> bool {
        buf.clear();
        fold_into(body, buf);
        self.words.iter().all(|w| buf.contains(w.as_str()))
    }
}

/// How one SQL condition compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SqlMatch {
    /// `body LIKE pattern ESCAPE '\'`.
    Like,
    /// `body GLOB pattern`.
    Glob,
}

/// ASCII whose case-insensitive `LIKE` is exactly the fold: everything but 'i' and 'k'.
fn is_plain_ascii(c: char) -> bool {
    c.is_ascii() && !matches!(c.to_ascii_lowercase(), 'i' | 'k')
}

/// Appends `s` case-folded to `out`.
fn fold_into(s: &str, out: &mut String) {
    if s.is_ascii() {
        out.extend(s.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        return;
    }
    out.extend(s.chars().map(fold_char));
}

/// Case-folds one character to one character: Unicode lower case, with final sigma as
/// sigma and 'İ' (Turkish capital dotted I, whose lower case is 'i' + a combining dot) as
/// 'i', so "istanbul" finds "İSTANBUL". The dotless 'ı' stays its own letter.
fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    if c == '\u{130}' {
        return 'i';
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some('ς'), None) => 'σ',
        (Some(l), None) => l,
        // Only 'İ' has a lower case of more than one character.
        _ => c,
    }
}

/// Past this, no character has a case (a unit test checks all of Unicode).
const LAST_CASED: u32 = 0x1_ffff;

/// Every character that folds to `c`, sorted (computed once for all cased planes).
fn folds_to(c: char) -> Vec<char> {
    static TABLE: std::sync::OnceLock<std::collections::HashMap<char, Vec<char>>> =
        std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t: std::collections::HashMap<char, Vec<char>> = std::collections::HashMap::new();
        for x in (0..=LAST_CASED).filter_map(char::from_u32) {
            let f = fold_char(x);
            if f != x {
                t.entry(f).or_default().push(x);
            }
        }
        t
    });
    let mut all = table.get(&c).cloned().unwrap_or_default();
    if fold_char(c) == c {
        all.push(c);
    }
    all.sort_unstable();
    all
}

/// A `GLOB` pattern matching exactly the bodies that contain `word` (folded) once folded:
/// fold maps one character to one, so a body contains the word iff it has a run of
/// characters, each one of those that fold to the word's character at its place.
fn glob_pattern(word: &str) -> String {
    let mut p = String::with_capacity(word.len() * 4 + 2);
    p.push('*');
    for c in word.chars() {
        let set = folds_to(c);
        match set.as_slice() {
            [one] if matches!(one, '*' | '?' | '[') => {
                p.push('[');
                p.push(*one);
                p.push(']');
            }
            [one] => p.push(*one),
            // A word's own characters always fold to themselves; nothing can match one
            // that does not (kept unmatchable rather than dropped).
            [] => p.push_str("[]"),
            many => {
                // In a class ']' must come first, '-' last and '^' not first.
                p.push('[');
                if many.contains(&']') {
                    p.push(']');
                }
                p.extend(many.iter().filter(|x| !matches!(x, ']' | '^' | '-')));
                if many.contains(&'^') {
                    p.push('^');
                }
                if many.contains(&'-') {
                    p.push('-');
                }
                p.push(']');
            }
        }
    }
    p.push('*');
    p
}

/// Where to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchScope {
    /// Every conversation of one account.
    Account(AccountId),
    /// One conversation.
    Conversation(ConversationId),
}

/// One message found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    /// The message's local id.
    pub id: MessageId,
    /// Its conversation.
    pub conversation: ConversationId,
    /// Incoming or outgoing.
    pub direction: Direction,
    /// The sender (full occupant JID in rooms).
    pub sender: String,
    /// Server time when known, else local time.
    pub time: DateTime<Utc>,
    /// Part of the body around the first match, on one line, with `…` where it was cut.
    pub snippet: String,
    /// Byte ranges of `snippet` that matched a word, in order, not overlapping.
    pub matches: Vec<(usize, usize)>,
}

/// One page of hits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchPage {
    /// Newest first.
    pub hits: Vec<SearchHit>,
    /// Whether older hits exist (ask again with `before` = the last hit's id).
    pub more: bool,
}

impl Store {
    /// Searches the stored messages of an account or a conversation; see [`self`](self).
    pub fn search(
        &self,
        scope: SearchScope,
        query: &SearchQuery,
        before: Option<MessageId>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<SearchPage> {
        search_connection(&self.conn, scope, query, before, limit, now)
    }
}

/// [`Store::search`] on any connection with the store's schema (public for the benchmark,
/// which runs it on plain SQLite too).
pub fn search_connection(
    conn: &Connection,
    scope: SearchScope,
    query: &SearchQuery,
    before: Option<MessageId>,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<SearchPage> {
    let limit = limit.max(1);
    let (bts, bid) = match before {
        Some(b) => {
            let ts: i64 = conn
                .query_row("SELECT ts FROM messages WHERE id = ?1", [b.0], |r| r.get(0))
                .optional()?
                .ok_or(StoreError::NotFound("message"))?;
            (ts, b.0)
        }
        None => (i64::MAX, i64::MAX),
    };
    let (scope_sql, scope_id) = match scope {
        SearchScope::Account(a) => ("c.account_id = ?1", a.0),
        SearchScope::Conversation(c) => ("c.id = ?1", c.0),
    };
    // Each conversation's cutoff: a message past its retention is not found even before the
    // expiry run deletes it.
    let mut conversations = Vec::new();
    {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT c.id, COALESCE(c.retention, a.retention) FROM conversations c
             JOIN accounts a ON a.id = c.account_id WHERE {scope_sql}"
        ))?;
        let mut rows = stmt.query([scope_id])?;
        while let Some(r) = rows.next()? {
            let policy: RetentionPolicy = r.get::<_, String>(1)?.parse()?;
            if policy != RetentionPolicy::DontStore {
                conversations.push((
                    r.get::<_, i64>(0)?,
                    policy.cutoff_ms(now).unwrap_or(i64::MIN),
                ));
            }
        }
    }
    // One walk per conversation down its (conversation, ts) index, newest first, stopping at
    // `limit + 1` hits: a common word reads a page per conversation, a rare one every row.
    // The LIKE and GLOB conditions (in C, see `sql_conditions`) decide alone, in any script.
    let conditions = query.sql_conditions();
    let mut filter = String::new();
    for (i, (how, _)) in conditions.iter().enumerate() {
        let _ = match how {
            SqlMatch::Like => write!(filter, " AND m.body LIKE ?{} ESCAPE '\\'", i + 5),
            SqlMatch::Glob => write!(filter, " AND m.body GLOB ?{}", i + 5),
        };
    }
    let sql = format!(
        "SELECT m.id, m.ts FROM messages m
         WHERE m.conversation_id = ?1 AND m.ts >= ?2 AND (m.ts, m.id) < (?3, ?4)
           AND m.corrects IS NULL AND m.retracted = 0 AND m.body IS NOT NULL{filter}
         ORDER BY m.ts DESC, m.id DESC"
    );
    let mut found: Vec<(i64, i64)> = Vec::new();
    for (conv, cutoff) in conversations {
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut bound: Vec<&dyn rusqlite::ToSql> = vec![&conv, &cutoff, &bts, &bid];
        bound.extend(conditions.iter().map(|(_, p)| p as &dyn rusqlite::ToSql));
        let mut rows = stmt.query(bound.as_slice())?;
        let mut in_conversation = 0;
        while let Some(r) = rows.next()? {
            found.push((r.get(1)?, r.get(0)?));
            in_conversation += 1;
            if in_conversation > limit {
                break;
            }
        }
    }
    found.sort_unstable_by(|a, b| b.cmp(a));
    let more = found.len() > limit;
    found.truncate(limit);
    let mut hits = Vec::with_capacity(found.len());
    for (_, id) in found {
        let Some(m) = super::messages::message_by_id(conn, MessageId(id))? else {
            continue;
        };
        hits.push(hit_of(&m, query));
    }
    Ok(SearchPage { hits, more })
}

fn hit_of(m: &StoredMessage, query: &SearchQuery) -> SearchHit {
    let body = m.body.as_deref().unwrap_or_default();
    let (snippet, matches) = snippet(body, query);
    SearchHit {
        id: m.id,
        conversation: m.conversation,
        direction: m.direction,
        sender: m.sender.clone(),
        time: m.server_ts.unwrap_or(m.local_ts),
        snippet,
        matches,
    }
}

/// The body folded, with the byte range in `body` of the character each folded byte
/// came from.
fn fold_with_origins(body: &str) -> (String, Vec<(usize, usize)>) {
    let mut folded = String::with_capacity(body.len());
    let mut origin = Vec::with_capacity(body.len());
    for (i, c) in body.char_indices() {
        let end = i + c.len_utf8();
        let l = fold_char(c);
        folded.push(l);
        origin.extend(std::iter::repeat_n((i, end), l.len_utf8()));
    }
    (folded, origin)
}

/// Byte ranges of `body` where a query word occurs, sorted and merged.
fn match_ranges(body: &str, query: &SearchQuery) -> Vec<(usize, usize)> {
    let (folded, origin) = fold_with_origins(body);
    let mut ranges = Vec::new();
    for w in &query.words {
        for (start, _) in folded.match_indices(w.as_str()) {
            let end = start + w.len();
            if let (Some(&(s, _)), Some(&(_, e))) = (origin.get(start), origin.get(end - 1)) {
                ranges.push((s, e));
            }
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// A one-line excerpt of `body` around its first match, and the matches' byte ranges in it.
fn snippet(body: &str, query: &SearchQuery) -> (String, Vec<(usize, usize)>) {
    let ranges = match_ranges(body, query);
    let first = ranges.first().map_or(0, |r| r.0);
    // Char boundaries of the window: up to SNIPPET_CONTEXT chars before the first match,
    // SNIPPET_CHARS chars in all.
    let before_chars = body[..first].chars().count();
    let skip = before_chars.saturating_sub(SNIPPET_CONTEXT);
    let start = body.char_indices().nth(skip).map_or(body.len(), |(i, _)| i);
    let end = body[start..]
        .char_indices()
        .nth(SNIPPET_CHARS)
        .map_or(body.len(), |(i, _)| start + i);
    let mut out = String::with_capacity(end - start + 8);
    if start > 0 {
        out.push('…');
    }
    let shift = out.len();
    // One line: line breaks and tabs become spaces (same byte length, so ranges hold).
    out.extend(body[start..end].chars().map(|c| {
        if c == '\n' || c == '\r' || c == '\t' {
            ' '
        } else {
            c
        }
    }));
    if end < body.len() {
        out.push('…');
    }
    let in_window = ranges
        .into_iter()
        .filter(|&(s, _)| s >= start && s < end)
        .map(|(s, e)| (s - start + shift, e.min(end) - start + shift))
        .collect();
    (out, in_window)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> SearchQuery {
        SearchQuery::parse(s).expect("query")
    }

    #[test]
    fn an_empty_or_blank_query_is_refused() {
        assert_eq!(SearchQuery::parse(""), Err(SearchQueryError::Empty));
        assert_eq!(SearchQuery::parse(" \t\n "), Err(SearchQueryError::Empty));
    }

    #[test]
    fn an_overlong_query_is_refused() {
        let long = "a".repeat(MAX_QUERY_CHARS + 1);
        assert_eq!(
            SearchQuery::parse(&long),
            Err(SearchQueryError::TooLong {
                max: MAX_QUERY_CHARS
            })
        );
        assert!(SearchQuery::parse(&"é".repeat(MAX_QUERY_CHARS)).is_ok());
        let many = (0..=MAX_QUERY_WORDS)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert!(matches!(
            SearchQuery::parse(&many),
            Err(SearchQueryError::TooManyWords { .. })
        ));
    }

    #[test]
    fn matching_ignores_case_in_any_script_and_needs_every_word() {
        let mut buf = String::new();
        assert!(q("ÉTÉ").matches("un bel été", &mut buf));
        assert!(q("straße").matches("STRASSE oder Straße", &mut buf));
        assert!(q("ΟΔΟΣ").matches("η οδος", &mut buf), "final sigma folds");
        assert!(q("привет МИР").matches("Мир, ПРИВЕТ", &mut buf));
        assert!(!q("привет луна").matches("Мир, ПРИВЕТ", &mut buf));
        assert!(q("vol").matches("The VOLE", &mut buf), "word prefix");
    }

    #[test]
    fn the_query_text_is_not_in_its_debug_output() {
        assert!(!format!("{:?}", q("secretword")).contains("secretword"));
    }

    #[test]
    fn a_snippet_is_one_line_cut_around_the_match_with_the_match_ranges() {
        let body = format!(
            "{}\nthe Vole was here\n{}",
            "x".repeat(100),
            "y".repeat(300)
        );
        let (s, m) = snippet(&body, &q("vole"));
        assert!(s.starts_with('…') && s.ends_with('…'));
        assert!(!s.contains('\n'));
        assert_eq!(m.len(), 1);
        assert_eq!(&s[m[0].0..m[0].1], "Vole");
    }

    #[test]
    fn match_ranges_fall_on_the_original_characters_when_folding_changes_lengths() {
        // 'Ⱥ' (2 bytes) lower-cases to 'ⱥ' (3 bytes), 'ẞ' (3 bytes) to 'ß' (2 bytes).
        let body = "ȺȺ and ẞTRASSE";
        let (s, m) = snippet(body, &q("ⱥⱥ ßtrasse"));
        let found: Vec<&str> = m.iter().map(|&(a, b)| &s[a..b]).collect();
        assert_eq!(found, vec!["ȺȺ", "ẞTRASSE"]);
    }

    #[test]
    fn only_i_and_k_fold_from_outside_plain_ascii_so_like_filters_exactly() {
        for c in (0..=0x10_ffff_u32).filter_map(char::from_u32) {
            let f = fold_char(c);
            if !c.is_ascii() && f.is_ascii() {
                assert!(matches!(f, 'i' | 'k'), "{c:?} folds to {f:?}");
            }
            if u32::from(c) > LAST_CASED {
                assert_eq!(f, c, "{c:?} has a case: the fold table must cover it");
            }
        }
        let mut buf = String::new();
        assert!(
            q("key").matches("\u{212a}EY", &mut buf),
            "the Kelvin sign is a k"
        );
        assert!(q("istanbul").matches("İSTANBUL", &mut buf));
        assert!(q("İstanbul").matches("istanbul", &mut buf));
        assert!(
            !q("istanbul").matches("ıstanbul", &mut buf),
            "dotless ı is its own letter"
        );
        assert!(q("ärger").matches("ÄRGER", &mut buf) && q("ÄRGER").matches("ärger", &mut buf));
    }

    #[test]
    fn sql_conditions_escape_wildcards_and_glob_what_like_cannot_decide() {
        let c = |s: &str| q(s).sql_conditions();
        assert_eq!(
            c("50% a_b"),
            vec![
                (SqlMatch::Like, "%50\\%%".to_owned()),
                (SqlMatch::Like, "%a\\_b%".to_owned())
            ]
        );
        assert_eq!(
            c("ÉTÉ"),
            vec![
                (SqlMatch::Like, "%t%".to_owned()),
                (SqlMatch::Glob, "*[Éé][Tt][Éé]*".to_owned())
            ]
        );
        assert_eq!(c("пр"), vec![(SqlMatch::Glob, "*[Пп][Рр]*".to_owned())]);
        assert_eq!(
            c("ink?"),
            vec![
                (SqlMatch::Like, "%?%".to_owned()),
                (SqlMatch::Glob, "*[Iiİ][Nn][Kk\u{212a}][?]*".to_owned())
            ]
        );
        assert_eq!(c("σ")[0].1, "*[Σςσ]*");
    }

    /// A small deterministic generator of awkward texts.
    fn awkward_texts(seed: u64, n: usize, max_len: usize) -> Vec<String> {
        const ALPHABET: &[char] = &[
            'a', 'A', 'i', 'I', 'İ', 'ı', 'k', 'K', '\u{212a}', 'σ', 'Σ', 'ς', 'ß', 'ẞ', 'ä', 'Ä',
            'п', 'П', 'ǅ', 'Ǆ', 'ǆ', '*', '?', '[', ']', '%', '_', '\\', '^', '-', ' ', 'é', '日',
        ];
        let mut x = seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        (0..n)
            .map(|_| {
                let len = usize::try_from(next() % max_len as u64).unwrap_or(0) + 1;
                (0..len)
                    .map(|_| ALPHABET[usize::try_from(next() % ALPHABET.len() as u64).unwrap_or(0)])
                    .collect()
            })
            .collect()
    }

    #[test]
    fn sqlites_like_and_glob_decide_exactly_what_folding_decides() {
        let conn = Connection::open_in_memory().expect("sqlite");
        let bodies = awkward_texts(0x9e37_79b9_7f4a_7c15, 400, 12);
        let queries = awkward_texts(0x2545_f491_4f6c_dd1d, 300, 3);
        let mut buf = String::new();
        let mut hits = 0;
        for text in &queries {
            let Ok(query) = SearchQuery::parse(text) else {
                continue;
            };
            let conditions = query.sql_conditions();
            for body in &bodies {
                let by_sql = conditions.iter().all(|(how, p)| {
                    let sql = match how {
                        SqlMatch::Like => "SELECT ?1 LIKE ?2 ESCAPE '\\'",
                        SqlMatch::Glob => "SELECT ?1 GLOB ?2",
                    };
                    conn.query_row(sql, [body, p], |r| r.get::<_, bool>(0))
                        .expect("match")
                });
                assert_eq!(
                    by_sql,
                    query.matches(body, &mut buf),
                    "{text:?} in {body:?}"
                );
                hits += usize::from(by_sql);
            }
        }
        assert!(
            hits > 100,
            "the texts must match often enough to prove anything"
        );
    }

    #[test]
    fn overlapping_matches_merge_into_one_highlight() {
        let (s, m) = snippet("bananas", &q("anan nas"));
        assert_eq!(m.len(), 1);
        assert_eq!(&s[m[0].0..m[0].1], "ananas");
    }
}
