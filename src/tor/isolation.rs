//! Per-account circuit isolation: no two accounts ever share a circuit.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use arti_client::IsolationToken;
use rand::RngCore;
use zeroize::Zeroizing;

/// Distinguishes accounts in the circuit bookkeeping (process-local, never sent anywhere).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One per account. Streams opened with the same value may share circuits; streams opened with
/// different values never do (embedded Arti: distinct isolation tokens; system Tor: distinct
/// SOCKS credentials under `IsolateSOCKSAuth`). Clones belong to the same account.
#[derive(Clone)]
pub struct AccountIsolation {
    id: u64,
    token: IsolationToken,
    socks_username: Zeroizing<String>,
    socks_password: Zeroizing<String>,
}

impl AccountIsolation {
    /// A fresh isolation group, unlinkable to any other.
    pub fn new() -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            token: IsolationToken::new(),
            socks_username: random_credential(),
            socks_password: random_credential(),
        }
    }

    /// Process-local identifier, for bookkeeping and logs.
    pub fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn token(&self) -> IsolationToken {
        self.token
    }

    /// SOCKS5 username/password that select this account's circuits on a system Tor.
    pub(crate) fn socks_credentials(&self) -> (&str, &str) {
        (&self.socks_username, &self.socks_password)
    }
}

impl Default for AccountIsolation {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for AccountIsolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountIsolation")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl PartialEq for AccountIsolation {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for AccountIsolation {}

/// 128 random bits as hex: unguessable, so no other local program can join an account's circuits.
fn random_credential() -> Zeroizing<String> {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Zeroizing::new(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_accounts_differ_in_token_and_credentials() {
        let a = AccountIsolation::new();
        let b = AccountIsolation::new();
        assert_ne!(a, b);
        assert_ne!(a.token(), b.token());
        assert_ne!(a.socks_credentials(), b.socks_credentials());
    }

    #[test]
    fn clone_stays_in_the_same_account() {
        let a = AccountIsolation::new();
        let c = a.clone();
        assert_eq!(a, c);
        assert_eq!(a.token(), c.token());
        assert_eq!(a.socks_credentials(), c.socks_credentials());
    }

    #[test]
    fn debug_does_not_show_credentials() {
        let a = AccountIsolation::new();
        let (user, pass) = a.socks_credentials();
        let shown = format!("{a:?}");
        assert!(!shown.contains(user) && !shown.contains(pass));
    }
}
