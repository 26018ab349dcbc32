//! GUI tests: the real `talpa` binary under its own Xvfb, with screenshots kept as artifacts in
//! `$CARGO_TARGET_DIR/screenshots/`. These tests fail (never skip) when Xvfb or the window does
//! not come up.

mod gui_support;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use gui_support::{PATIENCE, Xvfb, differing_pixels, distinct_colours};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The `talpa` binary running on an Xvfb with a fresh profile, killed on drop if still alive.
struct App {
    child: Child,
    xvfb: Xvfb,
    _profile: tempfile::TempDir,
}

impl App {
    fn start() -> App {
        // With a target directory shared between worktrees, target/debug/talpa can be another
        // checkout's build; say so plainly instead of failing later in a confusing way.
        let version = Command::new(env!("CARGO_BIN_EXE_talpa"))
            .arg("--version")
            .output()
            .expect("run talpa --version");
        assert!(
            String::from_utf8_lossy(&version.stdout).starts_with("talpa "),
            "{} is not this checkout's talpa binary (no --version answer); rebuild it",
            env!("CARGO_BIN_EXE_talpa")
        );
        let xvfb = Xvfb::start();
        let profile = tempfile::tempdir().expect("temporary profile directory");
        let child = Command::new(env!("CARGO_BIN_EXE_talpa"))
            .arg("--profile")
            .arg(profile.path())
            .env("DISPLAY", &xvfb.display)
            .env("GDK_BACKEND", "x11")
            .env("GSK_RENDERER", "cairo")
            .env("GTK_A11Y", "none")
            .env("NO_AT_BRIDGE", "1")
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the talpa binary");
        App {
            child,
            xvfb,
            _profile: profile,
        }
    }

    fn xdotool(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .arg(PATIENCE.as_secs().to_string())
            .arg("xdotool")
            .args(args)
            .env("DISPLAY", &self.xvfb.display)
            .output()
            .expect("xdotool must be installed (apt install xdotool)")
    }

    /// Waits until a visible (mapped) window named Talpa exists; returns its X id.
    fn wait_for_window(&mut self) -> String {
        let out = self.xdotool(&["search", "--sync", "--onlyvisible", "--name", "^Talpa$"]);
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("talpa exited before showing its window: {status}");
        }
        assert!(
            out.status.success(),
            "no visible Talpa window appeared: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ids = String::from_utf8_lossy(&out.stdout);
        let id = ids.lines().next().expect("a window id").trim().to_owned();
        assert!(!id.is_empty(), "xdotool returned no window id");
        id
    }

    fn window_is_viewable(&self, id: &str) -> bool {
        let out = Command::new("xwininfo")
            .args(["-id", id])
            .env("DISPLAY", &self.xvfb.display)
            .output()
            .expect("xwininfo must be installed (apt install x11-utils)");
        String::from_utf8_lossy(&out.stdout).contains("Map State: IsViewable")
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        gui_support::screenshot(&self.xvfb.display, name)
    }

    fn type_text(&self, window: &str, text: &str) {
        let out = self.xdotool(&["windowfocus", "--sync", window]);
        assert!(out.status.success(), "could not focus the window");
        let out = self.xdotool(&["type", "--delay", "20", text]);
        assert!(out.status.success(), "xdotool type failed");
    }

    fn key(&self, window: &str, key: &str) {
        let out = self.xdotool(&["windowfocus", "--sync", window]);
        assert!(out.status.success(), "could not focus the window");
        let out = self.xdotool(&["key", key]);
        assert!(out.status.success(), "xdotool key {key} failed");
    }

    /// Waits for the process to end by itself; false if it is still running at the deadline.
    fn wait_for_exit(&mut self) -> bool {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

#[test]
fn main_window_maps_and_renders_the_unlock_page() {
    let mut app = App::start();
    let window = app.wait_for_window();
    // Let the first frame render before the screenshot.
    sleep(Duration::from_secs(2));
    assert!(
        app.window_is_viewable(&window),
        "the Talpa window is not mapped"
    );
    let shot = app.screenshot("main_window_unlock_page");
    let colours = distinct_colours(&shot);
    assert!(
        colours > 16,
        "the screenshot has only {colours} colours: nothing was drawn"
    );

    // Ctrl+Q quits through the core.
    app.key(&window, "ctrl+q");
    assert!(app.wait_for_exit(), "talpa did not quit on Ctrl+Q");
}

#[test]
fn submitting_a_passphrase_shows_an_inline_answer_and_clears_nothing_else() {
    let mut app = App::start();
    let window = app.wait_for_window();
    sleep(Duration::from_secs(2));
    let before = app.screenshot("unlock_page_before_submit");

    app.type_text(&window, "not the passphrase");
    app.key(&window, "Return");

    // The core answers (no profile, wrong passphrase, or locked): the page must show it inline.
    let deadline = Instant::now() + PATIENCE;
    let mut changed = 0;
    let mut after = before.clone();
    while Instant::now() < deadline {
        sleep(Duration::from_millis(500));
        after = app.screenshot("unlock_page_after_submit");
        changed = differing_pixels(&before, &after);
        if changed > 500 {
            break;
        }
    }
    assert!(
        changed > 500,
        "the unlock page did not change after submitting ({changed} pixels differ); see {}",
        after.display()
    );
    assert!(app.window_is_viewable(&window), "the window went away");
    if let Ok(Some(status)) = app.child.try_wait() {
        panic!("talpa exited after a passphrase was submitted: {status}");
    }
}

#[test]
fn creating_a_profile_opens_the_session_and_ctrl_l_locks_it_again() {
    let mut app = App::start();
    let window = app.wait_for_window();
    sleep(Duration::from_secs(2));
    let unlock = app.screenshot("create_flow_1_unlock_page");

    // The fresh profile directory has no profile: the core says so and the page offers to
    // create one, keeping what was typed; Enter moves on to the repeat field.
    app.type_text(&window, "five random words for talpa");
    app.key(&window, "Return");
    wait_until_changed(&app, &unlock, "create_flow_2_create_mode", 500);
    app.key(&window, "Return");
    app.type_text(&window, "five random words for talpa");
    app.key(&window, "Return");

    // Argon2id takes a moment; the session view replaces the whole page.
    let session = wait_until_changed(&app, &unlock, "create_flow_3_session", 50_000);
    assert!(app.window_is_viewable(&window), "the window went away");

    // Locked, the session view gives way to the unlock page. It is not the first screen again
    // pixel for pixel: with a profile on disk no "create a new profile" is offered any more.
    // That it is the unlock page shows in what it does: the passphrase opens the session again.
    app.key(&window, "ctrl+l");
    let locked = wait_until_changed(&app, &session, "create_flow_4_locked_again", 50_000);
    app.type_text(&window, "five random words for talpa");
    app.key(&window, "Return");
    wait_until_changed(&app, &locked, "create_flow_5_unlocked_again", 50_000);
    assert!(app.window_is_viewable(&window), "the window went away");

    app.key(&window, "ctrl+q");
    assert!(app.wait_for_exit(), "talpa did not quit on Ctrl+Q");
}

/// Takes screenshots until one differs from `from` by more than `pixels`; fails at the deadline.
fn wait_until_changed(app: &App, from: &std::path::Path, name: &str, pixels: u64) -> PathBuf {
    let deadline = Instant::now() + PATIENCE;
    let mut changed = 0;
    let mut shot = from.to_path_buf();
    while Instant::now() < deadline {
        sleep(Duration::from_millis(500));
        shot = app.screenshot(name);
        changed = differing_pixels(from, &shot);
        if changed > pixels {
            return shot;
        }
    }
    panic!(
        "the window did not change enough for {name} ({changed} pixels differ); see {}",
        shot.display()
    );
}
