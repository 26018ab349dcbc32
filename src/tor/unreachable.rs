//! Why a server could not be reached *through* a working Tor: the exit relay told us (the
//! host refused, its name does not resolve, no exit allows the port …) or no answer came in
//! time. These are the server's side of a failed connection, not a fault of Tor, and are kept
//! apart from Tor's own errors so the user is told "the server did not answer" rather than
//! "Tor protocol error".

use arti_client::{ErrorKind, HasKind};

/// Why the exit could not reach the server (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unreachable {
    /// The exit could not open the connection: the host refused it (nothing listens on the
    /// port), or the exit gave no more specific reason.
    Refused,
    /// The exit could not find the host name.
    HostNotFound,
    /// No answer in time, at the exit or from the host.
    TimedOut,
    /// No exit relay allows connections to that address and port.
    ExitPolicy,
    /// The exit reported another network failure (no route to the host …).
    NetworkFailed,
}

impl Unreachable {
    /// The cause an Arti error *opening a stream* reports, if it is one of the remote side's
    /// (none for Tor's own failures: bootstrap, circuits, configuration, bugs).
    pub fn of_arti(e: &arti_client::Error) -> Option<Self> {
        Self::of_kind(e.kind())
    }

    /// The cause for an Arti [`ErrorKind`].
    pub fn of_kind(kind: ErrorKind) -> Option<Self> {
        Some(match kind {
            // C tor exits report a connect() that failed asynchronously (a closed port: the
            // usual case) with END reason MISC, as the socket error is already consumed when
            // they build the END cell; at stream launch it can only mean the exit could not
            // open the connection, so both read as a refusal.
            ErrorKind::RemoteConnectionRefused | ErrorKind::RemoteStreamError => Self::Refused,
            ErrorKind::RemoteHostNotFound | ErrorKind::RemoteHostResolutionFailed => {
                Self::HostNotFound
            }
            ErrorKind::RemoteNetworkTimeout | ErrorKind::ExitTimeout => Self::TimedOut,
            ErrorKind::ExitPolicyRejected => Self::ExitPolicy,
            ErrorKind::RemoteNetworkFailed => Self::NetworkFailed,
            _ => return None,
        })
    }

    /// The cause a system Tor's SOCKS5 reply code reports (RFC 1928; Tor maps its stream
    /// end reasons onto these), if it is the remote side's.
    pub fn of_socks_reply(code: u8) -> Option<Self> {
        Some(match code {
            2 => Self::ExitPolicy,
            3 => Self::NetworkFailed,
            4 => Self::HostNotFound,
            5 => Self::Refused,
            6 => Self::TimedOut,
            _ => return None,
        })
    }

    /// A stable snake_case name (`refused`, `host_not_found`, `timed_out`, `exit_policy`,
    /// `network_failed`), as the headless protocol reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refused => "refused",
            Self::HostNotFound => "host_not_found",
            Self::TimedOut => "timed_out",
            Self::ExitPolicy => "exit_policy",
            Self::NetworkFailed => "network_failed",
        }
    }

    /// Parses [`Unreachable::as_str`]'s names.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Refused,
            Self::HostNotFound,
            Self::TimedOut,
            Self::ExitPolicy,
            Self::NetworkFailed,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Refused => {
                "connection refused by the exit: nothing answers at that address and port"
            }
            Self::HostNotFound => "host not found",
            Self::TimedOut => "timed out",
            Self::ExitPolicy => "no Tor exit allows that port",
            Self::NetworkFailed => "network failure at the exit",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remote_sides_failures_are_told_apart_from_tors_own() {
        assert_eq!(
            Unreachable::of_kind(ErrorKind::RemoteConnectionRefused),
            Some(Unreachable::Refused)
        );
        assert_eq!(
            Unreachable::of_kind(ErrorKind::RemoteHostNotFound),
            Some(Unreachable::HostNotFound)
        );
        assert_eq!(
            Unreachable::of_kind(ErrorKind::RemoteNetworkTimeout),
            Some(Unreachable::TimedOut)
        );
        assert_eq!(
            Unreachable::of_kind(ErrorKind::ExitPolicyRejected),
            Some(Unreachable::ExitPolicy)
        );
        for own in [
            ErrorKind::TorProtocolViolation,
            ErrorKind::BootstrapRequired,
            ErrorKind::TorNetworkTimeout,
            ErrorKind::Internal,
        ] {
            assert_eq!(Unreachable::of_kind(own), None, "{own:?}");
        }
        assert_eq!(Unreachable::of_socks_reply(5), Some(Unreachable::Refused));
        assert_eq!(Unreachable::of_socks_reply(1), None);
        for c in [
            Unreachable::Refused,
            Unreachable::HostNotFound,
            Unreachable::TimedOut,
            Unreachable::ExitPolicy,
            Unreachable::NetworkFailed,
        ] {
            assert_eq!(Unreachable::parse(c.as_str()), Some(c));
        }
    }
}
