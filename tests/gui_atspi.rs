//! Issue #8 item 10, from the outside: the real `talpa` binary is driven through AT-SPI, the
//! accessibility bus a screen reader uses, by names only. The test starts its own Xvfb, D-Bus
//! session and accessibility bus (`at-spi-bus-launcher`, which starts `at-spi2-registryd`),
//! launches `talpa` on a fresh profile, and runs tests/harness/atspi_drive.py (system python3
//! with gi.repository.Atspi: Debian's python3-gi and gir1.2-atspi-2.0). The script fails on
//! any shown control without a name a screen reader could say, creates a profile, opens the
//! main menu, the shortcuts window, About and Preferences, toggles a setting, locks, and checks
//! that nothing of the session is left in the accessible tree. Screenshots of each step go to
//! `$CARGO_TARGET_DIR/screenshots/atspi_*.png`.
//!
//! It fails (never skips) if the accessibility bus, the window or the script cannot start.

mod gui_support;

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use gui_support::{PATIENCE, Xvfb};

/// A child process started in a process group of its own, the whole group killed on drop
/// (the accessibility bus launcher starts a D-Bus daemon of its own, which starts the
/// registry: none of them may outlive the test or hold its output pipe open).
struct Killed(Child);

impl Killed {
    fn spawn(command: &mut Command, what: &str) -> Killed {
        use std::os::unix::process::CommandExt;
        Killed(
            command
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {what}: {e}")),
        )
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

/// A private D-Bus session bus (`dbus-daemon --session`); returns it and its address.
fn session_bus() -> (Killed, String) {
    let mut child = Killed::spawn(
        Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
        "dbus-daemon (apt install dbus-daemon)",
    );
    let stdout = child.0.stdout.take().expect("dbus-daemon's stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let address = rx.recv_timeout(PATIENCE).unwrap_or_default();
    let address = address.trim().to_owned();
    assert!(
        address.starts_with("unix:"),
        "the D-Bus session bus did not start (status {:?})",
        child.0.try_wait()
    );
    (child, address)
}

/// Starts the accessibility bus on `session` and waits until it answers `GetAddress` with the
/// address of a running bus; panics (the test fails) if it does not.
fn accessibility_bus(display: &str, session: &str) -> Killed {
    let launcher = [
        "/usr/libexec/at-spi-bus-launcher",
        "/usr/lib/at-spi2-core/at-spi-bus-launcher",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("at-spi-bus-launcher must be installed (apt install at-spi2-core)");
    let mut child = Killed::spawn(
        Command::new(launcher)
            .arg("--launch-immediately")
            .env("DISPLAY", display)
            .env("DBUS_SESSION_BUS_ADDRESS", session)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        launcher,
    );
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("at-spi-bus-launcher exited: {status}");
        }
        let out = Command::new("dbus-send")
            .args([
                "--session",
                "--dest=org.a11y.Bus",
                "--print-reply",
                "/org/a11y/bus",
                "org.a11y.Bus.GetAddress",
            ])
            .env("DBUS_SESSION_BUS_ADDRESS", session)
            .output()
            .expect("dbus-send must be installed (apt install dbus-bin)");
        let reply = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && reply.contains("unix:") {
            println!("accessibility bus: {}", reply.trim());
            return child;
        }
        assert!(
            Instant::now() < deadline,
            "the AT-SPI bus did not answer: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_screen_reader_can_name_every_control_and_create_open_preferences_and_lock() {
    let version = Command::new(env!("CARGO_BIN_EXE_talpa"))
        .arg("--version")
        .output()
        .expect("run talpa --version");
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("talpa "),
        "{} is not this checkout's talpa binary",
        env!("CARGO_BIN_EXE_talpa")
    );
    let xvfb = Xvfb::start();
    let (_bus, session) = session_bus();
    let _a11y = accessibility_bus(&xvfb.display, &session);
    let profile = tempfile::tempdir().expect("temporary profile directory");
    let log = profile.path().with_extension("stderr");
    let mut talpa = Killed::spawn(
        Command::new(env!("CARGO_BIN_EXE_talpa"))
            .arg("--profile")
            .arg(profile.path())
            .env("DISPLAY", &xvfb.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &session)
            .env("GDK_BACKEND", "x11")
            .env("GSK_RENDERER", "cairo")
            .env("GTK_A11Y", "atspi")
            .env("G_DEBUG", "fatal-criticals")
            .env_remove("NO_AT_BRIDGE")
            .env_remove("WAYLAND_DISPLAY")
            // Without a network, the embedded Tor client's bootstrap warnings would drown
            // the script's report: talpa's own output is shown when it fails.
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("talpa's log file")),
        "the talpa binary",
    );

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/harness/atspi_drive.py");
    // Generous: the script waits at most PATIENCE for any one thing.
    let out = Command::new("timeout")
        .arg((PATIENCE.as_secs() * 5).to_string())
        .arg("/usr/bin/python3")
        .arg(script)
        .args(["--passphrase", "five random words for talpa"])
        .arg("--screenshots")
        .arg(gui_support::screenshot_dir())
        .env("DISPLAY", &xvfb.display)
        .env("DBUS_SESSION_BUS_ADDRESS", &session)
        .env_remove("NO_AT_BRIDGE")
        .output()
        .expect("run /usr/bin/python3 (apt install python3-gi gir1.2-atspi-2.0)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    let exited = talpa.0.try_wait().ok().flatten();
    if exited.is_some() || !out.status.success() {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        eprintln!("talpa's last output:");
        for line in tail.into_iter().rev() {
            eprintln!("  {line}");
        }
    }
    let _ = std::fs::remove_file(&log);
    if let Some(status) = exited {
        panic!("talpa exited while being driven: {status}");
    }
    assert!(
        out.status.success() && stdout.contains("ATSPI-DRIVE-OK"),
        "the AT-SPI drive failed ({}); see its output above",
        out.status
    );
}
