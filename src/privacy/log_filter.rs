//! What Talpa's diagnostics never print, whatever `TALPA_LOG` asks for.
//!
//! tokio-xmpp logs every stanza it sends and receives at `trace` (`tokio_xmpp::xmlstream`:
//! message bodies, room passwords, nicknames, contacts' JIDs) and some stanzas it drops at
//! `debug`. Its diagnostics are therefore capped at `info`, so `TALPA_LOG=trace` (asked for a
//! bug report, say) still never writes what the conversations say (docs/HEADLESS.md).

use tracing::Level;

/// The targets whose events and spans below `info` can carry stanza contents.
const STANZA_DUMPING_CRATE: &str = "tokio_xmpp";

/// Whether a diagnostic with `target` at `level` may be written at all.
pub fn may_log(target: &str, level: Level) -> bool {
    let stanza_dumping = target
        .strip_prefix(STANZA_DUMPING_CRATE)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"));
    // tracing orders levels by verbosity: ERROR < WARN < INFO < DEBUG < TRACE.
    !stanza_dumping || level <= Level::INFO
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokio_xmpp_is_capped_at_info_and_other_targets_are_not() {
        assert!(!may_log("tokio_xmpp::xmlstream::capture", Level::TRACE));
        assert!(!may_log(
            "tokio_xmpp::stanzastream::connected",
            Level::DEBUG
        ));
        assert!(!may_log("tokio_xmpp", Level::DEBUG));
        assert!(may_log("tokio_xmpp::stanzastream::worker", Level::WARN));
        assert!(may_log("tokio_xmpp_other", Level::TRACE));
        assert!(may_log("talpa::core::actor", Level::TRACE));
    }
}
