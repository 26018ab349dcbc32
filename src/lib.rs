//! Talpa: a privacy-hardened desktop XMPP client.
//!
//! Layers, top to bottom (a layer never imports one above it; nothing below `ui` knows GTK):
//!
//! ```text
//! ui        GTK4 + libadwaita front end
//! headless  JSON-lines front end over the same core handle
//! core      account supervisors, inbound pipeline, outbox, commands/events
//! xmpp | omemo | store
//! tor       embedded Arti: the only way to open a socket
//! ```
//! `privacy` holds the pure fingerprint/timing policies used by `core` and `xmpp`.

// Proving the account supervisor's future `Send` (Arti's and tokio-xmpp's futures nested in
// `select!`) goes deeper than the default 128; newer compilers warn and will refuse.
#![recursion_limit = "256"]

pub mod core;
pub mod headless;
pub mod omemo;
pub mod privacy;
pub mod store;
pub mod tor;
pub mod ui;
pub mod xmpp;
