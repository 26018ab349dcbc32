//! MAM catch-up planner (XEP-0313): pages an archive after a known id, sequentially or — when
//! the server tells the archive's newest timestamp (extended MAM's `<metadata/>` query,
//! `urn:xmpp:mam:2#extended`, or else the archive's last result, XEP-0059 `<before/>`) — in
//! several time ranges fetched at once.
//!
//! Why: every page costs a round trip, and through Tor a round trip is most of a page's cost.
//! With K pages in flight the server works on one page while the others travel.
//!
//! How (see [`catch_up`]):
//! 1. The first page is fetched after the known id as always (XEP-0059 `after`). If it is the
//!    whole gap — the usual case after a short time offline — that is all.
//! 2. Otherwise the archive's newest timestamp is asked for (`<metadata/>`; where that is not
//!    answered, as by Prosody 0.12's room archives, the one last result). A server that tells
//!    neither gets sequential paging by id until `complete`.
//! 3. The rest of the gap, from the first page's last timestamp to the newest, is cut into up
//!    to [`MAX_IN_FLIGHT`] time ranges on whole seconds. The first range continues after the
//!    first page's last id (`after` + `end`); the others are `start`…`end`, both inclusive, so
//!    neighbours share their boundary second and nothing between them is skipped (whatever the
//!    server's timestamp precision); the last range has no `end`, so it also takes messages
//!    archived during the catch-up. Each range pages by id until `complete`.
//! 4. A range whose page is not complete and still spans at least two seconds is cut in two
//!    (the remainder keeps paging by id up to the middle; a new range starts at the middle)
//!    while fewer than [`MAX_IN_FLIGHT`] pages are in flight: long ranges do not hold up the
//!    end.
//! 5. Results are put together in range order and deduplicated by archive id (a message at a
//!    shared boundary second comes from both neighbours). The caller gets everything only when
//!    every range has completed — an error in any range fails the whole catch-up, so the
//!    caller's cursor (the last archive id) never moves past a hole.
//!
//! Every page keeps its own random queryid and goes through the session's origin, queryid and
//! stanza-id checks like any other MAM result. This module only plans and merges; the pages
//! come from a [`PageSource`] (the session, or a fake archive in the tests).

use std::collections::HashSet;
use std::future::Future;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::error::XmppError;

/// Most pages in flight at once (and most ranges).
pub const MAX_IN_FLIGHT: usize = 8;
/// The most pages one catch-up fetches (a hostile server cannot keep it paging forever).
pub const MAX_PAGES: usize = 2000;

/// One page request: after an archive id and/or within a time range (both ends inclusive).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageQuery {
    /// XEP-0059 `after`: the page starts after this archive id.
    pub after: Option<String>,
    /// XEP-0313 `start` (inclusive).
    pub start: Option<DateTime<Utc>>,
    /// XEP-0313 `end` (inclusive).
    pub end: Option<DateTime<Utc>>,
}

/// One page of results.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// The results, in archive order.
    pub items: Vec<T>,
    /// The `<last/>` id of the page's `<fin/>`.
    pub last: Option<String>,
    /// The `<fin/>`'s `complete` flag.
    pub complete: bool,
}

/// What the planner needs from a result.
pub trait ArchiveItem {
    /// The archive's id of the result.
    fn archive_id(&self) -> &str;
    /// When the archive received it (`None` when unknown or clamped).
    fn archived_at(&self) -> Option<DateTime<Utc>>;
}

/// Where pages come from.
pub trait PageSource {
    /// A result.
    type Item: ArchiveItem;
    /// Fetches one page.
    fn page(&self, query: PageQuery) -> impl Future<Output = Result<Page<Self::Item>, XmppError>>;
    /// The archive's newest timestamp; an error or `None` means the server cannot tell, and
    /// the catch-up stays sequential.
    fn newest(&self) -> impl Future<Output = Result<Option<DateTime<Utc>>, XmppError>>;
}

/// How a catch-up went (counts of work done, for tests and the benchmark).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CatchUpReport {
    /// Pages fetched.
    pub pages: usize,
    /// Ranges fetched in parallel (0: the catch-up stayed sequential).
    pub ranges: usize,
    /// Results dropped as duplicates (the same archive id from two neighbouring ranges).
    pub duplicates: usize,
}

struct Range<T> {
    /// Sort key: the range's lower bound in time, then creation order.
    key: (DateTime<Utc>, usize),
    query: PageQuery,
    items: Vec<T>,
}

/// Whole seconds, rounded down.
fn floor_secs(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// Cuts `[lo, hi]` into at most `n` ranges on whole seconds: the boundaries
/// `lo' = floor(lo) < b_1 < … < b_k` with every `b_i > lo`; empty when the span is under two
/// seconds (no cut possible that leaves `lo` alone in the first range).
pub fn boundaries(lo: DateTime<Utc>, hi: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let base = floor_secs(lo).timestamp();
    let span = hi.timestamp() - base;
    let Ok(n) = i64::try_from(n) else {
        return Vec::new();
    };
    if span < 2 || n < 2 {
        return Vec::new();
    }
    let n = n.min(span);
    let mut out: Vec<DateTime<Utc>> = Vec::new();
    for i in 1..n {
        let s = base + span * i / n;
        if let Some(t) = DateTime::from_timestamp(s, 0)
            && t > lo
            && out.last().is_none_or(|l| *l < t)
        {
            out.push(t);
        }
    }
    out
}

/// Whether a page ends its range.
fn ends<T>(page: &Page<T>, after: Option<&String>) -> bool {
    page.complete || page.last.is_none() || page.items.is_empty() || page.last.as_ref() == after
}

/// Pages the archive after `after` (everything when `None`) until complete, in parallel
/// ranges when the source tells the newest timestamp (see the module documentation). Returns
/// every result once, oldest range first.
pub async fn catch_up<S: PageSource>(
    source: &S,
    after: Option<String>,
) -> Result<(Vec<S::Item>, CatchUpReport), XmppError> {
    let mut report = CatchUpReport::default();
    let first = source
        .page(PageQuery {
            after: after.clone(),
            ..PageQuery::default()
        })
        .await?;
    report.pages = 1;
    if ends(&first, after.as_ref()) {
        return Ok((dedupe(vec![first.items], &mut report), report));
    }
    let last_stamp = first.items.last().and_then(ArchiveItem::archived_at);
    let newest = match last_stamp {
        Some(_) => source.newest().await.ok().flatten(),
        None => None,
    };
    let mut ranges: Vec<Range<S::Item>> = Vec::new();
    let cuts = match (last_stamp, newest) {
        (Some(lo), Some(hi)) => boundaries(lo, hi, MAX_IN_FLIGHT),
        _ => Vec::new(),
    };
    let lower = last_stamp.map_or(DateTime::UNIX_EPOCH, floor_secs);
    ranges.push(Range {
        key: (lower, 0),
        query: PageQuery {
            after: first.last.clone(),
            start: None,
            end: cuts.first().copied(),
        },
        items: Vec::new(),
    });
    for (i, b) in cuts.iter().enumerate() {
        ranges.push(Range {
            key: (*b, i + 1),
            query: PageQuery {
                after: None,
                start: Some(*b),
                end: cuts.get(i + 1).copied(),
            },
            items: Vec::new(),
        });
    }
    // Sequential (no newest timestamp, or a gap under two seconds): one range, never cut.
    let parallel = !cuts.is_empty();
    if parallel {
        report.ranges = ranges.len();
    }
    let fetch = |r: usize, q: PageQuery| async move { (r, q.after.clone(), source.page(q).await) };
    let mut in_flight = FuturesUnordered::new();
    for (r, range) in ranges.iter().enumerate() {
        in_flight.push(fetch(r, range.query.clone()));
    }
    let mut seq = ranges.len();
    while let Some((r, asked_after, page)) = in_flight.next().await {
        let page = page?;
        report.pages += 1;
        if report.pages > MAX_PAGES {
            return Err(XmppError::Protocol(
                "MAM catch-up exceeds the page limit".into(),
            ));
        }
        let done = ends(&page, asked_after.as_ref());
        let last_stamp = page.items.last().and_then(ArchiveItem::archived_at);
        ranges[r].items.extend(page.items);
        if done {
            continue;
        }
        ranges[r].query.after = page.last;
        // Cut the rest of a long range in two while there is room in flight.
        if parallel
            && in_flight.len() + 2 <= MAX_IN_FLIGHT
            && let Some(lo) = last_stamp
            && let Some(hi) = ranges[r].query.end.or(newest)
            && let Some(mid) = boundaries(lo, hi, 2).first().copied()
            && ranges[r].query.end.is_none_or(|e| mid < e)
        {
            let end = ranges[r].query.end;
            ranges[r].query.end = Some(mid);
            ranges.push(Range {
                key: (mid, seq),
                query: PageQuery {
                    after: None,
                    start: Some(mid),
                    end,
                },
                items: Vec::new(),
            });
            seq += 1;
            report.ranges += 1;
            let n = ranges.len() - 1;
            in_flight.push(fetch(n, ranges[n].query.clone()));
        }
        in_flight.push(fetch(r, ranges[r].query.clone()));
    }
    drop(in_flight);
    ranges.sort_by_key(|r| r.key);
    let mut parts = vec![first.items];
    parts.extend(ranges.into_iter().map(|r| r.items));
    Ok((dedupe(parts, &mut report), report))
}

fn dedupe<T: ArchiveItem>(parts: Vec<Vec<T>>, report: &mut CatchUpReport) -> Vec<T> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum());
    for item in parts.into_iter().flatten() {
        if seen.insert(item.archive_id().to_owned()) {
            out.push(item);
        } else {
            report.duplicates += 1;
        }
    }
    out
}

/// The `<end timestamp='…'/>` of an extended MAM `<metadata/>` answer (`None` for an empty
/// archive or an answer without it).
pub fn metadata_newest(metadata: &tokio_xmpp::minidom::Element) -> Option<DateTime<Utc>> {
    let end = metadata.get_child("end", super::stanza::NS_MAM)?;
    let stamp = end.attr("timestamp")?;
    DateTime::parse_from_rfc3339(stamp)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Formats a range bound as XEP-0082 `DateTime` (whole seconds, UTC).
pub fn xep82(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use std::sync::Mutex;

    use chrono::TimeDelta;

    use super::*;

    const SECOND: TimeDelta = TimeDelta::seconds(1);

    /// A fake archive with Prosody's semantics: `start`/`end` filter inclusively, `after` then
    /// skips up to the id within the filtered list (item-not-found if it is not there), pages
    /// of at most `page` items, `complete` when nothing follows.
    struct Fake {
        items: Vec<(String, DateTime<Utc>)>,
        page: usize,
        metadata: bool,
        queries: Mutex<Vec<PageQuery>>,
    }

    #[derive(Debug)]
    struct Item(String, DateTime<Utc>);

    impl ArchiveItem for Item {
        fn archive_id(&self) -> &str {
            &self.0
        }
        fn archived_at(&self) -> Option<DateTime<Utc>> {
            Some(self.1)
        }
    }

    impl PageSource for Fake {
        type Item = Item;
        async fn page(&self, q: PageQuery) -> Result<Page<Item>, XmppError> {
            self.queries.lock().unwrap().push(q.clone());
            tokio::task::yield_now().await;
            let filtered: Vec<_> = self
                .items
                .iter()
                .filter(|(_, t)| q.start.is_none_or(|s| *t >= s) && q.end.is_none_or(|e| *t <= e))
                .collect();
            let from = match &q.after {
                Some(a) => {
                    filtered
                        .iter()
                        .position(|(id, _)| id == a)
                        .ok_or_else(|| XmppError::IqError("ItemNotFound".into()))?
                        + 1
                }
                None => 0,
            };
            let items: Vec<Item> = filtered[from..]
                .iter()
                .take(self.page)
                .map(|(id, t)| Item(id.clone(), *t))
                .collect();
            Ok(Page {
                complete: from + items.len() >= filtered.len(),
                last: items.last().map(|i| i.0.clone()),
                items,
            })
        }
        async fn newest(&self) -> Result<Option<DateTime<Utc>>, XmppError> {
            if self.metadata {
                Ok(self.items.last().map(|i| i.1))
            } else {
                Err(XmppError::IqError("FeatureNotImplemented".into()))
            }
        }
    }

    /// `per_second[i]` messages archived in second `i` (several share each timestamp).
    fn archive(per_second: &[usize], metadata: bool) -> Fake {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut items = Vec::new();
        for (s, n) in per_second.iter().enumerate() {
            for _ in 0..*n {
                let id = format!("id{:05}", items.len());
                items.push((id, t0 + SECOND * i32::try_from(s).unwrap()));
            }
        }
        Fake {
            items,
            page: 50,
            metadata,
            queries: Mutex::new(Vec::new()),
        }
    }

    fn ids(items: &[Item]) -> Vec<String> {
        items.iter().map(|i| i.0.clone()).collect()
    }

    fn expected(fake: &Fake, after: usize) -> Vec<String> {
        fake.items[after..].iter().map(|i| i.0.clone()).collect()
    }

    #[tokio::test]
    async fn parallel_catch_up_returns_every_message_once_in_order() {
        // Uneven seconds with many messages sharing each boundary timestamp.
        let fake = archive(&[120, 3, 0, 0, 260, 1, 77, 400, 0, 9, 150, 55], true);
        let (got, report) = catch_up(&fake, None).await.unwrap();
        assert_eq!(ids(&got), expected(&fake, 0));
        assert!(report.ranges >= 2, "{report:?}");
        assert!(
            report.duplicates > 0,
            "boundary seconds come from both sides"
        );
    }

    #[tokio::test]
    async fn parallel_catch_up_after_an_id_skips_what_came_before_it() {
        let fake = archive(&[300, 300, 300, 300, 300], true);
        let after = fake.items[130].0.clone();
        let (got, report) = catch_up(&fake, Some(after)).await.unwrap();
        assert_eq!(ids(&got), expected(&fake, 131));
        assert!(report.ranges >= 2, "{report:?}");
    }

    #[tokio::test]
    async fn without_metadata_catch_up_pages_sequentially_by_id() {
        let fake = archive(&[300, 300, 300, 300, 300], false);
        let (got, report) = catch_up(&fake, None).await.unwrap();
        assert_eq!(ids(&got), expected(&fake, 0));
        assert_eq!(report.ranges, 0);
        assert_eq!(report.pages, 30);
        let queries = fake.queries.lock().unwrap();
        assert!(
            queries.iter().all(|q| q.start.is_none() && q.end.is_none()),
            "sequential pages carry no time range"
        );
    }

    #[tokio::test]
    async fn a_gap_within_one_second_stays_sequential() {
        let fake = archive(&[1000], true);
        let (got, report) = catch_up(&fake, None).await.unwrap();
        assert_eq!(ids(&got), expected(&fake, 0));
        assert_eq!(report.ranges, 0);
    }

    #[tokio::test]
    async fn a_gap_of_one_page_asks_nothing_more() {
        let fake = archive(&[10, 10], true);
        let after = fake.items[2].0.clone();
        let (got, report) = catch_up(&fake, Some(after)).await.unwrap();
        assert_eq!(ids(&got), expected(&fake, 3));
        assert_eq!(report.pages, 1);
        assert_eq!(fake.queries.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_unknown_anchor_fails_the_catch_up() {
        let fake = archive(&[10, 10], true);
        let err = catch_up(&fake, Some("gone".into())).await.unwrap_err();
        assert!(matches!(err, XmppError::IqError(c) if c == "ItemNotFound"));
    }

    #[test]
    fn boundaries_are_whole_seconds_after_the_lower_bound() {
        let lo = DateTime::from_timestamp(100, 500_000_000).unwrap();
        let hi = DateTime::from_timestamp(108, 0).unwrap();
        let b = boundaries(lo, hi, 4);
        let secs: Vec<i64> = b.iter().map(DateTime::timestamp).collect();
        assert_eq!(secs, vec![102, 104, 106]);
        assert!(boundaries(lo, DateTime::from_timestamp(101, 0).unwrap(), 8).is_empty());
        assert_eq!(
            boundaries(lo, DateTime::from_timestamp(103, 0).unwrap(), 8).len(),
            2
        );
    }

    #[test]
    fn metadata_end_timestamp_is_read() {
        let m: tokio_xmpp::minidom::Element = "<metadata xmlns='urn:xmpp:mam:2'>\
             <start id='a' timestamp='2026-11-29T03:00:00Z'/>\
             <end id='b' timestamp='2026-11-29T03:10:05Z'/></metadata>"
            .parse()
            .unwrap();
        assert_eq!(
            metadata_newest(&m).map(|t| t.timestamp()),
            Some(
                DateTime::parse_from_rfc3339("2026-11-29T03:10:05Z")
                    .unwrap()
                    .timestamp()
            )
        );
        let empty: tokio_xmpp::minidom::Element =
            "<metadata xmlns='urn:xmpp:mam:2'/>".parse().unwrap();
        assert_eq!(metadata_newest(&empty), None);
    }
}
