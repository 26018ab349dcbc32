//! Helpers shared by the GUI tests: an Xvfb of their own, screenshots and image checks.
#![allow(dead_code)] // each GUI test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long we wait for any one thing to appear before failing (a deadline, not an assertion
/// about speed).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// An X server of our own, stopped on drop.
pub struct Xvfb {
    child: Child,
    /// The X display name, e.g. `:140`.
    pub display: String,
}

impl Xvfb {
    /// Starts Xvfb on a free display number and waits for its socket; panics if it cannot.
    pub fn start() -> Xvfb {
        // A display number nobody uses: no socket and no lock file.
        let base = 140 + (std::process::id() % 200);
        for n in base..base + 200 {
            let socket = format!("/tmp/.X11-unix/X{n}");
            let lock = format!("/tmp/.X{n}-lock");
            if Path::new(&socket).exists() || Path::new(&lock).exists() {
                continue;
            }
            let display = format!(":{n}");
            let child = Command::new("Xvfb")
                .args([&display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("Xvfb must be installed (apt install xvfb)");
            let mut xvfb = Xvfb { child, display };
            let deadline = Instant::now() + PATIENCE;
            while Instant::now() < deadline {
                if let Ok(Some(status)) = xvfb.child.try_wait() {
                    // Lost a race for this display number: try the next one.
                    eprintln!("Xvfb on :{n} exited ({status}); trying another display");
                    break;
                }
                if Path::new(&socket).exists() {
                    return xvfb;
                }
                sleep(Duration::from_millis(100));
            }
            if xvfb.child.try_wait().ok().flatten().is_none() {
                panic!("Xvfb on :{n} did not create its socket in time");
            }
        }
        panic!("no free X display number for Xvfb");
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Takes a screenshot of the whole X screen as `<screenshots>/<name>.png` and prints its path.
pub fn screenshot(display: &str, name: &str) -> PathBuf {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    let path = dir.join(format!("{name}.png"));
    let status = Command::new("import")
        .args(["-window", "root"])
        .arg(&path)
        .env("DISPLAY", display)
        .status()
        .expect("imagemagick must be installed (import)");
    assert!(status.success(), "import failed for {}", path.display());
    println!("screenshot: {}", path.display());
    path
}

/// Where screenshots are kept: `$CARGO_TARGET_DIR/screenshots`.
pub fn screenshot_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp; the screenshots live beside it.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join("screenshots")
}

/// Number of distinct colours in an image (imagemagick's `%k`).
pub fn distinct_colours(path: &Path) -> u64 {
    let out = Command::new("convert")
        .arg(path)
        .args(["-format", "%k", "info:"])
        .output()
        .expect("imagemagick must be installed (convert)");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("convert gave no colour count for {}", path.display()))
}

/// Number of pixels that differ between two screenshots (imagemagick's `compare -metric AE`).
pub fn differing_pixels(a: &Path, b: &Path) -> u64 {
    let out = Command::new("compare")
        .args(["-metric", "AE"])
        .arg(a)
        .arg(b)
        .arg("null:")
        .output()
        .expect("imagemagick must be installed (compare)");
    // compare prints the metric on stderr, sometimes as "N (fraction)".
    let text = String::from_utf8_lossy(&out.stderr);
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse::<f64>().ok())
        .map_or_else(
            || panic!("compare gave no pixel count: {text}"),
            |n| n as u64,
        )
}
