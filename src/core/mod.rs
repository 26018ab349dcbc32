//! The core actor: account supervisors, inbound pipeline, outbox, commands and events.
//!
//! Front ends (the GTK window, the headless JSON-lines protocol) never touch the layers below:
//! they hold a [`CoreHandle`], send it [`Command`]s (each answered by one [`Reply`] or a
//! [`CoreError`]) and listen to the [`Event`] stream. The actor itself runs on a tokio runtime,
//! off the GTK thread; nothing in here knows GTK exists.

mod accounts;
mod activity;
pub mod actor;
pub mod commands;
pub mod contact_names;
pub mod error;
pub mod events;
pub mod files;
mod omemo;
pub mod pipeline;
mod room_session;
pub mod rooms;
pub mod search;
mod shared;
mod store_cell;
pub mod tor_settings;

/// Untrusted text made safe to show on one line (controls and bidi marks dropped, bounded);
/// the front ends use it for what others wrote that lands outside a message row.
pub use crate::xmpp::muc::one_line_bounded;
pub use actor::{CoreHandle, CoreOptions};
pub use commands::{Command, Reply};
pub use error::CoreError;
pub use events::Event;
