//! The unlocked store, owned by the core and used only from blocking threads.

use std::sync::{Arc, Mutex, PoisonError};

use crate::core::error::CoreError;
use crate::store::Store;

/// Holds the open [`Store`] (or nothing while locked). Every access runs on tokio's blocking
/// pool, so Argon2id and SQLCipher never stall the runtime's workers.
#[derive(Clone, Default)]
pub(crate) struct StoreCell(Arc<Mutex<Option<Store>>>);

impl StoreCell {
    /// Runs `f` on the open store, or fails with [`CoreError::Locked`].
    pub(crate) async fn with<R, F>(&self, f: F) -> Result<R, CoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Store) -> Result<R, CoreError> + Send + 'static,
    {
        let cell = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = cell.lock().unwrap_or_else(PoisonError::into_inner);
            match guard.as_mut() {
                Some(store) => f(store),
                None => Err(CoreError::Locked),
            }
        })
        .await
        .map_err(|e| CoreError::Store(format!("store task failed: {e}")))?
    }

    /// Runs `f` with the slot itself (to open, replace or take the store).
    pub(crate) async fn with_slot<R, F>(&self, f: F) -> Result<R, CoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Option<Store>) -> Result<R, CoreError> + Send + 'static,
    {
        let cell = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = cell.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut guard)
        })
        .await
        .map_err(|e| CoreError::Store(format!("store task failed: {e}")))?
    }

    /// Whether a store is open right now.
    pub(crate) fn is_open(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}
