//! One Talpa per profile, seen from the desktop: the real `talpa` binary under its own Xvfb
//! and a private D-Bus session bus.
//!
//! - On the default profile the application is unique (`org.talpa.Talpa` on the session bus):
//!   a second launch hands over to the first process, whose window comes to the front, and
//!   exits 0 without a window of its own. GNOME Shell's notification click
//!   (`org.freedesktop.Application.ActivateAction("open-notified", …)` on that bus name)
//!   reaches it too.
//! - Different `--profile` directories run side by side; a second process on a `--profile`
//!   already open says so in a window of its own and never touches the store.

mod gui_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gui_support::{PATIENCE, SessionBus, Xvfb};

/// The desktop the launches share: one X server, one session bus, one home directory.
struct Desktop {
    xvfb: Xvfb,
    bus: SessionBus,
    home: tempfile::TempDir,
}

impl Desktop {
    fn start() -> Desktop {
        Desktop {
            xvfb: Xvfb::start(),
            bus: SessionBus::start(),
            home: tempfile::tempdir().expect("home directory"),
        }
    }

    /// The default profile's directory for this desktop's user.
    fn default_profile(&self) -> std::path::PathBuf {
        self.home.path().join("data/talpa")
    }

    /// Launches `talpa` with `args`, as the desktop's launcher would.
    fn launch(&self, args: &[&Path]) -> Launch {
        let mut child = Command::new(env!("CARGO_BIN_EXE_talpa"))
            .args(args)
            .env("DISPLAY", &self.xvfb.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus.address)
            .env("HOME", self.home.path())
            .env("XDG_DATA_HOME", self.home.path().join("data"))
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("XDG_CACHE_HOME", self.home.path().join("cache"))
            .env("GDK_BACKEND", "x11")
            .env("GTK_A11Y", "none")
            .env("NO_AT_BRIDGE", "1")
            .env("TALPA_LOG", "warn,tor_netdir=error,talpa=info")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the talpa binary");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("talpa: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Launch {
            child,
            log,
            display: self.xvfb.display.clone(),
        }
    }
}

/// One `talpa` process, killed on drop if still alive.
struct Launch {
    child: Child,
    log: mpsc::Receiver<String>,
    display: String,
}

impl Launch {
    /// The process's windows that are mapped (visible) now.
    fn visible_windows(&self) -> Vec<String> {
        let out = Command::new("xdotool")
            .args([
                "search",
                "--onlyvisible",
                "--pid",
                &self.child.id().to_string(),
            ])
            .env("DISPLAY", &self.display)
            .output()
            .expect("xdotool must be installed (apt install xdotool)");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// Waits until the process shows exactly one window, and returns it.
    fn wait_for_window(&mut self) -> String {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("talpa exited before showing its window: {status}");
            }
            if let [window] = self.visible_windows().as_slice() {
                return window.clone();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no visible Talpa window within {PATIENCE:?}");
    }

    /// Waits for the process to end and returns its exit code.
    fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("talpa did not end within {PATIENCE:?}");
    }

    /// Waits for a logged line containing `needle`.
    fn wait_log(&self, needle: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return,
                Ok(_) => {}
                Err(e) => panic!("talpa never logged {needle:?} within {PATIENCE:?} ({e})"),
            }
        }
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Launch {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Runs xdotool on `display` and returns its output's first line.
fn xdotool(display: &str, args: &[&str]) -> String {
    let out = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", display)
        .output()
        .expect("xdotool must be installed (apt install xdotool)");
    assert!(out.status.success(), "xdotool {args:?} failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Gives the keyboard focus to the root window (no window manager runs on the Xvfb: the
/// focus only moves when a client moves it), so that a window presenting itself shows.
fn focus_away(display: &str) {
    let root = xdotool(display, &["search", "--maxdepth", "0", "--name", ""]);
    xdotool(display, &["windowfocus", "--sync", &root]);
}

/// Waits until `window` has the keyboard focus: `gtk_window_present` raised and focused it.
fn wait_focused(display: &str, window: &str) {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if xdotool(display, &["getwindowfocus"]) == window {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the window was not presented (focused) within {PATIENCE:?}");
}

#[test]
fn second_launch_on_the_default_profile_raises_the_first_window_and_exits() {
    let desktop = Desktop::start();
    let mut first = desktop.launch(&[]);
    let window = first.wait_for_window();
    assert!(
        desktop.default_profile().join("talpa.lock").exists(),
        "the first process holds the default profile's lock"
    );
    let display = desktop.xvfb.display.clone();
    focus_away(&display);
    assert_ne!(xdotool(&display, &["getwindowfocus"]), window);

    let mut second = desktop.launch(&[]);
    assert_eq!(
        second.wait_exit(),
        Some(0),
        "the second launch hands over and ends"
    );
    first.wait_log("activated again: presenting the window");
    wait_focused(&display, &window);
    assert!(first.is_running());
    assert_eq!(
        first.visible_windows(),
        vec![window.clone()],
        "still one Talpa window"
    );

    // The default profile named explicitly is the same profile: same hand-over.
    let profile = desktop.default_profile();
    focus_away(&display);
    let mut third = desktop.launch(&[Path::new("--profile"), &profile]);
    assert_eq!(third.wait_exit(), Some(0));
    wait_focused(&display, &window);
    assert_eq!(
        first.visible_windows(),
        vec![window],
        "still exactly one Talpa window"
    );
}

#[test]
fn different_profiles_run_side_by_side_and_a_second_process_on_one_is_refused() {
    let desktop = Desktop::start();
    let a = desktop.home.path().join("profile-a");
    let b = desktop.home.path().join("profile-b");
    let flag = Path::new("--profile");
    let mut first_a = desktop.launch(&[flag, &a]);
    let mut first_b = desktop.launch(&[flag, &b]);
    first_a.wait_for_window();
    first_b.wait_for_window();
    // The default profile's unique instance does not swallow a launch on another profile.
    let mut default = desktop.launch(&[]);
    default.wait_for_window();

    let mut again_a = desktop.launch(&[flag, &a]);
    again_a.wait_log("this profile is open in another Talpa process");
    let refusal = again_a.wait_for_window();
    std::thread::sleep(Duration::from_millis(500));
    gui_support::screenshot(&desktop.xvfb.display, "single_instance_profile_in_use");
    let names: Vec<_> = std::fs::read_dir(&a)
        .expect("profile a")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["talpa.lock"],
        "the refused process made nothing"
    );
    assert!(first_a.is_running() && first_b.is_running() && default.is_running());

    // Its only button closes it; the process then ends with the refusal's status.
    let display = desktop.xvfb.display.clone();
    xdotool(&display, &["windowfocus", "--sync", &refusal]);
    xdotool(&display, &["key", "--window", &refusal, "Return"]);
    assert_eq!(
        again_a.wait_exit(),
        Some(2),
        "a refused launch ends with status 2"
    );
    assert!(first_a.is_running());
}
