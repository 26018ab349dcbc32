//! Session manager.
