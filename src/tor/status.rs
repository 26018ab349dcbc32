//! Tor's state as the UI shows it: a small enum plus a human-readable line.

use arti_client::status::BootstrapStatus;

/// Where the tor layer is on its way to carrying traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TorState {
    /// Launched, nothing reported yet.
    Starting,
    /// Fetching directory information and building the first circuits.
    Bootstrapping {
        /// Rough progress, 0–100.
        percent: u8,
    },
    /// Circuits can be built; `connect` proceeds immediately.
    Ready,
    /// Arti believes it is stuck (offline, filtered, clock skew, ...); it keeps trying.
    Blocked {
        /// Arti's diagnosis, for display.
        reason: String,
    },
    /// A bootstrap attempt failed; another attempt follows.
    Failed {
        /// Why the attempt failed, for display.
        reason: String,
    },
}

/// A snapshot of Tor's state, published on a `watch` channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorStatus {
    /// The state, for logic.
    pub state: TorState,
    /// A one-line description, for display.
    pub text: String,
}

impl TorStatus {
    /// The status right after launch.
    pub fn starting() -> Self {
        Self {
            state: TorState::Starting,
            text: "Starting Tor".into(),
        }
    }

    /// True when `connect` would not have to wait.
    pub fn is_ready(&self) -> bool {
        self.state == TorState::Ready
    }

    /// Translate Arti's bootstrap report.
    pub(crate) fn from_arti(status: &BootstrapStatus) -> Self {
        let text = status.to_string();
        let state = if status.ready_for_traffic() {
            TorState::Ready
        } else if let Some(blockage) = status.blocked() {
            TorState::Blocked {
                reason: blockage.to_string(),
            }
        } else {
            TorState::Bootstrapping {
                percent: percent(status.as_frac()),
            }
        };
        Self { state, text }
    }
}

/// A fraction in [0, 1] as a whole percentage, clamped.
fn percent(frac: f32) -> u8 {
    (frac.clamp(0.0, 1.0) * 100.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_arti_status_is_bootstrapping_not_ready() {
        let status = TorStatus::from_arti(&BootstrapStatus::default());
        assert!(!status.is_ready());
        assert!(matches!(
            status.state,
            TorState::Bootstrapping { .. } | TorState::Blocked { .. }
        ));
    }

    #[test]
    fn percent_is_clamped_and_rounded() {
        assert_eq!(percent(-1.0), 0);
        assert_eq!(percent(0.456), 46);
        assert_eq!(percent(3.0), 100);
    }
}
