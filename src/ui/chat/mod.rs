//! The conversation view and its rows.

pub mod activity_marks;
pub mod attach_button;
pub mod attachment_row;
pub mod conversation_view;
pub mod found_message;
pub mod invite_popover;
pub mod message_editing;
pub mod message_notes;
pub mod message_row;
pub mod room_audit_window;
pub mod room_moved_banner;
pub mod room_panel;
pub mod sender_lookalike;

pub use conversation_view::ConversationView;
pub use message_row::MessageRow;
pub use room_panel::RoomPanel;
