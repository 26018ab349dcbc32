//! The keyboard shortcuts window (Ctrl+?), built from its template.

/// Builds the shortcuts window; the template is compiled into the binary. Its own search entry
/// and section menu get accessible names (GTK 4.8 leaves them unnamed).
pub fn build() -> gtk4::ShortcutsWindow {
    let builder = gtk4::Builder::from_string(include_str!("../../ui/shortcuts_window.ui"));
    let window = builder
        .object::<gtk4::ShortcutsWindow>("shortcuts_window")
        .unwrap_or_else(|| gtk4::ShortcutsWindow::builder().modal(true).build());
    crate::ui::a11y::name_toolkit_controls(&window);
    window
}
