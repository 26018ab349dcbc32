//! The core actor: account supervisors, inbound pipeline, outbox, commands and events.
