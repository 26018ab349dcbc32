//! The GTK4 + libadwaita desktop front end.

use std::process::ExitCode;

use crate::core::CoreHandle;
use libadwaita as adw;
use libadwaita::prelude::*;

/// The application id (also the D-Bus name and the .desktop file's name).
pub const APP_ID: &str = "org.talpa.Talpa";

/// Runs the GTK application on the calling thread until its last window closes.
/// `runtime` is the tokio runtime the core runs on; the GTK side never blocks on it.
pub fn run(core: CoreHandle, runtime: &tokio::runtime::Runtime) -> ExitCode {
    let _guard = runtime.enter();
    let app = adw::Application::builder().application_id(APP_ID).build();
    app.connect_activate(move |app| {
        let _ = &core;
        let window = adw::ApplicationWindow::builder()
            .application(app)
            .title("Talpa")
            .default_width(960)
            .default_height(640)
            .build();
        window.present();
    });
    let status = app.run_with_args::<&str>(&[]);
    ExitCode::from(status.get())
}
