//! GUI tests of start-up: the real `talpa` binary under its own Xvfb.
//!
//! - Without a GPU, the window is drawn by GTK's cairo renderer and the software OpenGL stack
//!   (Mesa's llvmpipe with libLLVM) is never loaded; a renderer the user chose is kept.
//! - The window comes up before the embedded Tor client starts (nothing of Tor is open while
//!   the unlock page shows); after the unlock, Tor bootstraps and the account connects.
//! - Without a display (none, or an X server closing the connection) the binary says so and
//!   exits 1 instead of crashing.

mod gui_support;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gui_support::{PATIENCE, Xvfb};
use serde_json::json;
use support::headless::Headless;

/// The `talpa` binary's window on an Xvfb of its own, killed on drop if still alive.
struct App {
    child: Child,
    xvfb: Xvfb,
    /// The benchmark probe's input (`--bench-fd 0`): the passphrase, then commands.
    probe: Option<ChildStdin>,
    /// Lines the binary logged on stderr.
    log: mpsc::Receiver<String>,
}

impl App {
    /// Starts the binary on `profile` with `extra` arguments and `renderer` as GSK_RENDERER
    /// (`None`: unset, as on a user's desktop).
    fn start(profile: &Path, extra: &[&str], renderer: Option<&str>) -> App {
        let xvfb = Xvfb::start();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_talpa"));
        cmd.arg("--profile")
            .arg(profile)
            .args(extra)
            .args(["--bench-fd", "0"])
            .env("DISPLAY", &xvfb.display)
            .env("GDK_BACKEND", "x11")
            .env("GTK_A11Y", "none")
            .env("NO_AT_BRIDGE", "1")
            .env("TALPA_LOG", "warn,tor_netdir=error,talpa::bench=info")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("GSK_RENDERER")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(renderer) = renderer {
            cmd.env("GSK_RENDERER", renderer);
        }
        let mut child = cmd.spawn().expect("start the talpa binary");
        let probe = child.stdin.take();
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
        App {
            child,
            xvfb,
            probe,
            log,
        }
    }

    /// Waits until the process has a visible (mapped) window.
    fn wait_for_window(&mut self) {
        let pid = self.child.id().to_string();
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("talpa exited before showing its window: {status}");
            }
            let out = Command::new("xdotool")
                .args(["search", "--onlyvisible", "--pid", &pid])
                .env("DISPLAY", &self.xvfb.display)
                .output()
                .expect("xdotool must be installed (apt install xdotool)");
            if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no visible Talpa window within {PATIENCE:?}");
    }

    /// The process's environment (as the running image sees it).
    fn environ(&self) -> Vec<String> {
        let raw = std::fs::read(format!("/proc/{}/environ", self.child.id())).expect("environ");
        raw.split(|b| *b == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    /// The files mapped into the process.
    fn maps(&self) -> String {
        std::fs::read_to_string(format!("/proc/{}/maps", self.child.id())).expect("maps")
    }

    /// The paths the process has open.
    fn open_files(&self) -> Vec<String> {
        let dir = format!("/proc/{}/fd", self.child.id());
        std::fs::read_dir(dir)
            .expect("fd directory")
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .collect()
    }

    /// Writes one line to the probe.
    fn send(&mut self, line: &str) {
        let probe = self.probe.as_mut().expect("probe input");
        writeln!(probe, "{line}").expect("write to the probe");
        probe.flush().expect("flush the probe");
    }

    /// Waits for a logged line containing `needle`.
    fn wait_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("talpa never logged {needle:?} within {timeout:?} ({e})"),
            }
        }
    }

    /// Ends the probe's input (the application quits as with Ctrl+Q) and waits for the exit.
    fn quit(mut self) {
        drop(self.probe.take());
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "talpa exited with {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("talpa did not quit when its probe input ended");
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

/// Whether Mesa could use a GPU here (a DRM render node), as the binary decides it.
fn has_render_node() -> bool {
    std::fs::read_dir("/dev/dri").is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
    })
}

#[test]
fn without_a_gpu_the_window_is_drawn_by_cairo_without_loading_software_gl() {
    let profile = tempfile::tempdir().expect("profile directory");
    let mut app = App::start(profile.path(), &[], None);
    app.wait_for_window();
    // The first frame is drawn after the window maps.
    app.wait_log("startup main_us=", PATIENCE);
    let renderer = app
        .environ()
        .into_iter()
        .find_map(|v| v.strip_prefix("GSK_RENDERER=").map(str::to_owned));
    let maps = app.maps();
    if has_render_node() {
        // With a GPU GTK keeps its own choice (OpenGL), untouched.
        assert_eq!(renderer, None, "GSK_RENDERER set although a GPU is present");
    } else {
        assert_eq!(renderer.as_deref(), Some("cairo"));
        for library in ["libLLVM", "_dri.so", "libGLX_mesa", "libEGL_mesa"] {
            assert!(
                !maps.contains(library),
                "{library} is loaded although the window is drawn by cairo"
            );
        }
    }
    app.quit();
}

/// Runs the binary on a fresh profile with `display` as DISPLAY and returns its exit code and
/// what it wrote on stderr.
fn start_without_a_usable_display(display: &str) -> (Option<i32>, String) {
    let profile = tempfile::tempdir().expect("profile directory");
    let out = Command::new(env!("CARGO_BIN_EXE_talpa"))
        .arg("--profile")
        .arg(profile.path())
        .env("DISPLAY", display)
        .env("GDK_BACKEND", "x11")
        .env("GTK_A11Y", "none")
        .env("NO_AT_BRIDGE", "1")
        .env("TALPA_LOG", "warn")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null())
        .output()
        .expect("run the talpa binary");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn without_a_display_the_binary_says_so_and_exits_instead_of_crashing() {
    // No X server on that display at all.
    let (code, stderr) = start_without_a_usable_display(":64999");
    assert_eq!(
        code,
        Some(1),
        "exit status without a display; stderr: {stderr}"
    );
    assert!(
        stderr.contains("talpa: cannot open the display (DISPLAY=:64999)"),
        "stderr: {stderr}"
    );

    // An X server that closes each connection at once, as one does while it resets (the
    // case that used to end in SIGSEGV: GTK then counted itself initialised without a display).
    let dir = Path::new("/tmp/.X11-unix");
    std::fs::create_dir_all(dir).expect("/tmp/.X11-unix");
    let socket = dir.join("X64998");
    let _ = std::fs::remove_file(&socket);
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind X64998");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let closer = std::thread::spawn({
        let stop = stop.clone();
        move || {
            // Each connection is dropped as soon as it is accepted.
            for conn in listener.incoming() {
                drop(conn);
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
            }
        }
    });
    let (code, stderr) = start_without_a_usable_display(":64998");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = std::os::unix::net::UnixStream::connect(&socket);
    closer.join().expect("the closing server");
    std::fs::remove_file(&socket).expect("remove X64998");
    assert_eq!(
        code,
        Some(1),
        "exit status with a resetting server; stderr: {stderr}"
    );
    assert!(
        stderr.contains("talpa: cannot open the display (DISPLAY=:64998)"),
        "stderr: {stderr}"
    );
}

#[test]
fn a_renderer_the_user_chose_is_kept() {
    let profile = tempfile::tempdir().expect("profile directory");
    let mut app = App::start(profile.path(), &[], Some("ngl"));
    app.wait_for_window();
    app.wait_log("startup main_us=", PATIENCE);
    let environ = app.environ();
    assert!(
        environ.iter().any(|v| v == "GSK_RENDERER=ngl"),
        "the user's GSK_RENDERER was replaced"
    );
    // Drawing with OpenGL loads a vendor's OpenGL driver (on this machine Mesa's llvmpipe).
    let maps = app.maps();
    assert!(
        ["_dri.so", "libGLX_", "libEGL_"]
            .iter()
            .any(|driver| maps.contains(driver)),
        "GSK_RENDERER=ngl drew without an OpenGL driver"
    );
    app.quit();
}

#[test]
fn the_window_shows_before_tor_starts_and_the_account_connects_after_unlock() {
    let bed = support::bed();
    let (jid, password) = bed.new_account("startup");
    let profile = tempfile::tempdir().expect("profile directory");
    let network = bed.tor.network_file.to_string_lossy().into_owned();
    // A profile with one account, made headless (which starts Tor and connects once).
    let mut headless = Headless::start_with(profile.path(), &["--tor-network", &network]);
    let (r, _) = headless.call(json!({"cmd": "create_profile", "passphrase": "startup"}));
    assert_eq!(r["ok"], true, "{r}");
    let ca = std::fs::read_to_string(&bed.ca_cert).expect("bed CA");
    let (r, _) = headless.call(json!({
        "cmd": "add_account", "jid": jid, "password": password,
        "host": bed.prosody.host, "port": bed.prosody.c2s_port, "trust_anchor_pem": ca,
    }));
    assert_eq!(r["ok"], true, "{r}");
    headless.quit();
    let tor_dir = profile.path().join("tor");
    assert!(
        tor_dir.exists(),
        "the headless run left no Tor state to reopen"
    );

    let mut app = App::start(
        profile.path(),
        &["--tor-network", &network, "--startup-jitter", "0"],
        None,
    );
    app.wait_for_window();
    app.wait_log("startup main_us=", PATIENCE);
    // The unlock page is up and Tor has not started: none of its state is open.
    let tor_prefix = tor_dir.to_string_lossy().into_owned();
    let open: Vec<String> = app
        .open_files()
        .into_iter()
        .filter(|p| p.starts_with(&tor_prefix))
        .collect();
    assert!(
        open.is_empty(),
        "Tor state open before the unlock: {open:?}"
    );

    app.send("startup");
    app.wait_log("unlocked unlock_ms=", PATIENCE);
    // Tor starts now, bootstraps on the private network and the account connects through it.
    app.wait_log(
        &format!("account_state account={jid} state=online"),
        Duration::from_secs(180),
    );
    let open = app
        .open_files()
        .into_iter()
        .filter(|p| p.starts_with(&tor_prefix))
        .count();
    assert!(open > 0, "online, but nothing of Tor's state is open");
    app.quit();
}
