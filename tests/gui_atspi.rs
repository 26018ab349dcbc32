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
//! A second check gives the window a profile filled over the bed (Prosody through the private
//! Tor network, a slixmpp peer): a contact the user named has sent a message; the script
//! unlocks it and checks that a screen reader hears the contact's name, not the address, for
//! the sidebar row and for the sender of the message row.
//!
//! It fails (never skips) if the accessibility bus, the window or the script cannot start.

mod gui_support;
mod support;

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use gui_support::{PATIENCE, Xvfb};
use serde_json::json;
use support::headless::talpa_online;
use support::{Peer, bed};

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
    let profile = tempfile::tempdir().expect("temporary profile directory");
    drive(
        profile.path(),
        &[],
        &["--passphrase", "five random words for talpa"],
    );
}

#[test]
fn a_screen_reader_hears_a_named_contacts_name_on_its_sidebar_row_and_messages() {
    const NAME: &str = "Carol from work";
    const BODY: &str = "hello reader, from the slixmpp peer";
    let bed = bed();
    let (me, my_password) = bed.new_account("reader");
    let (carol, carol_password) = bed.new_account("carol");
    let dir = tempfile::tempdir().expect("temporary directory");
    let profile = dir.path().join("p");
    // The profile is filled through the headless front end: the account online through the
    // bed's Tor network, the contact named, her message received and stored.
    let mut talpa = talpa_online(bed, &profile, &me, &my_password);
    let (reply, _) = talpa.call(json!({
        "cmd": "set_contact_name", "account": me, "jid": carol, "name": NAME,
    }));
    assert_eq!(reply["ok"], true, "{reply}");
    let mut peer = Peer::spawn(bed, &carol, &carol_password);
    peer.send_message(&me, BODY);
    talpa.wait_event_for(
        |e| e["event"] == "message" && e["body"] == BODY,
        Duration::from_secs(120),
    );
    talpa.quit();
    let network = bed.tor.network_file.to_string_lossy().into_owned();
    drive(
        &profile,
        &["--tor-network", &network],
        &[
            "--passphrase",
            "e2e",
            "--contact",
            NAME,
            "--address",
            &carol,
            "--message",
            BODY,
        ],
    );
}

/// Starts Xvfb, a D-Bus session with its accessibility bus and the `talpa` window on
/// `profile` (with `talpa_args`), and runs tests/harness/atspi_drive.py with `script_args`;
/// fails unless the script says every check held.
fn drive(profile: &std::path::Path, talpa_args: &[&str], script_args: &[&str]) {
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
    let log = profile.with_extension("stderr");
    let mut talpa = Killed::spawn(
        Command::new(env!("CARGO_BIN_EXE_talpa"))
            .arg("--profile")
            .arg(profile)
            .args(talpa_args)
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
        .args(script_args)
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
