//! The `talpa` binary: the GTK client by default, `talpa headless` for the JSON-lines protocol.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use talpa::core::{CoreError, CoreHandle, CoreOptions, Event};

/// Talpa: a privacy-hardened XMPP client. Every connection goes through Tor.
#[derive(Parser, Debug)]
#[command(name = "talpa", version, about)]
struct Cli {
    /// The profile directory (default: the XDG data directory, e.g. ~/.local/share/talpa).
    #[arg(long, global = true, value_name = "DIR")]
    profile: Option<PathBuf>,
    /// A private Tor network description (authorities and fallback directories, JSON).
    #[arg(long, global = true, value_name = "FILE")]
    tor_network: Option<PathBuf>,
    /// Upper bound, in seconds, of the random delay before each account connects (overrides
    /// the one kept in the profile's Tor settings; default 120; at most 3600, as there).
    #[arg(long, global = true, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64)
              .range(0..=talpa::core::tor_settings::MAX_STARTUP_JITTER_SECS))]
    startup_jitter: Option<u64>,
    /// Lock the profile after this many seconds without use (1 to 86400, a day; default 15
    /// minutes; the idle lock set in Preferences wins once the profile is unlocked).
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    idle_lock: u64,
    /// Benchmark instrumentation: read the passphrase (first line) and probe commands from this
    /// file descriptor and log timings (src/ui/probe.rs; used by `make bench`).
    #[arg(long, value_name = "FD", hide = true)]
    bench_fd: Option<u32>,
    #[command(subcommand)]
    mode: Option<Mode>,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// Run without a window, speaking JSON lines on stdin/stdout (docs/HEADLESS.md).
    Headless,
}

/// The exit status of a process that found its profile open in another Talpa process.
const PROFILE_IN_USE_STATUS: u8 = 2;

/// Whether `a` and `b` name the same directory (both canonicalised when they exist).
fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn default_profile_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("org", "Talpa", "talpa").map(|d| d.data_dir().to_path_buf())
}

/// Whether this machine has a GPU that Mesa can render with (a DRM render node).
fn has_render_node() -> bool {
    std::fs::read_dir("/dev/dri").is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
    })
}

/// Draws without OpenGL where OpenGL could only be emulated in software.
///
/// GTK draws with OpenGL by default, and on X11 it sets OpenGL up as it opens the display
/// (to pick a visual). Without a GPU (no DRM render node: virtual machines such as Qubes or
/// Whonix, remote and virtual X servers such as Xvfb) that OpenGL is Mesa's llvmpipe: libLLVM
/// and the software rasteriser are loaded and relocated, shaders are compiled with LLVM, two
/// rasteriser threads and their frame buffers stay resident — over 100 MB of resident memory
/// and a good part of the start-up time, for drawing that GTK's cairo renderer does in
/// software directly. GTK reads these choices from the environment once, as it starts
/// (`GSK_RENDERER=cairo`, and `GDK_DEBUG=gl-disable` so the display does not set up OpenGL
/// at all), and changing the environment from inside the process needs `unsafe`; so the binary
/// executes itself again, once, with both set (same arguments and file descriptors; a few ms
/// of dynamic linking). A `GSK_RENDERER` the user set is left alone (`GSK_RENDERER=ngl`
/// restores OpenGL).
fn prefer_cairo_without_gpu() {
    if std::env::var_os("GSK_RENDERER").is_some() || has_render_node() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut gdk_debug = std::env::var_os("GDK_DEBUG").unwrap_or_default();
    if !gdk_debug.is_empty() {
        gdk_debug.push(",");
    }
    gdk_debug.push("gl-disable");
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    let error = std::process::Command::new(&exe)
        .arg0(argv0)
        .args(args)
        .env("GSK_RENDERER", "cairo")
        .env("GDK_DEBUG", gdk_debug)
        .exec();
    // Still here: GTK picks its renderer itself, as it would have without this.
    eprintln!("talpa: could not restart with the cairo renderer: {error}");
}

/// Stops Talpa at start on a bad option, naming it on stderr and, headless, as an
/// `invalid_input` error event (a script reading the protocol sees why).
fn refuse_at_start(headless: bool, message: &str) -> ExitCode {
    if headless {
        println!(
            "{}",
            talpa::headless::protocol::encode_event(&Event::Error {
                kind: "invalid_input".to_owned(),
                message: message.to_owned(),
                account: None,
            })
        );
    }
    eprintln!("talpa: {message}");
    ExitCode::FAILURE
}

/// Why `dir` cannot hold a profile, when that is plain before anything is opened: it, or the
/// nearest part of its path that exists, is not a directory (the store would only say "Not a
/// directory", without naming the path).
fn profile_dir_problem(dir: &std::path::Path) -> Option<String> {
    let existing = dir.ancestors().find(|p| p.exists())?;
    (!existing.is_dir()).then(|| {
        format!(
            "--profile {}: {} is not a directory",
            dir.display(),
            existing.display()
        )
    })
}

fn main() -> ExitCode {
    talpa::ui::probe::mark("main");
    let cli = Cli::parse();
    if cli.mode.is_none() {
        prefer_cairo_without_gpu();
    }
    {
        use tracing_subscriber::prelude::*;
        let asked = tracing_subscriber::EnvFilter::try_from_env("TALPA_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,tor_netdir=error"));
        // Whatever TALPA_LOG asks for, never the stanza dumps (bodies, room passwords).
        let never = tracing_subscriber::filter::filter_fn(|meta| {
            talpa::privacy::log_filter::may_log(meta.target(), *meta.level())
        });
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_filter(asked)
                    .with_filter(never),
            )
            .init();
    }

    // A mistyped or malformed `--tor-network` file is named now, before a profile is created
    // or unlocked (later it would only leave Tor failed with the profile already open).
    if let Some(path) = &cli.tor_network
        && let Err(e) = talpa::tor::PrivateNetwork::from_file(path)
    {
        return refuse_at_start(
            cli.mode.is_some(),
            &format!("--tor-network {}: {e}", path.display()),
        );
    }

    let default_dir = default_profile_dir();
    let Some(profile_dir) = cli.profile.or_else(|| default_dir.clone()) else {
        eprintln!("talpa: cannot determine a profile directory; pass --profile DIR");
        return ExitCode::FAILURE;
    };
    if let Some(problem) = profile_dir_problem(&profile_dir) {
        return refuse_at_start(cli.mode.is_some(), &problem);
    }
    let default_profile = default_dir.is_some_and(|d| same_dir(&d, &profile_dir));
    let named = profile_dir.clone();
    // The store's I/O errors at start (the directory or its lock file cannot be made) do not
    // say which path: name it, as for the other bad options.
    let name_profile = move |e: CoreError| match e {
        CoreError::Store(m) => CoreError::Store(format!("--profile {}: {m}", named.display())),
        other => other,
    };
    let mut options = CoreOptions::new(profile_dir);
    options.tor_network = cli.tor_network;
    if let Some(secs) = cli.startup_jitter {
        options.startup_jitter = Duration::from_secs(secs);
    } else {
        options.use_stored_startup_jitter = true;
    }
    options.idle_lock = Duration::from_secs(cli.idle_lock);

    // Two workers are plenty for a chat client's I/O (blocking store and crypto work runs on
    // the blocking pool); the default of one per core costs a stack and a malloc arena per
    // core on big machines, resident memory Dino (GLib's main loop) does not pay.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(2));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("talpa: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };

    match cli.mode {
        Some(Mode::Headless) => {
            let result = runtime.block_on(async move {
                match CoreHandle::try_spawn(options) {
                    Ok(core) => Ok(talpa::headless::run(core).await),
                    Err(e) => Err(name_profile(e)),
                }
            });
            match result {
                Ok(Ok(())) => ExitCode::SUCCESS,
                Ok(Err(e)) => {
                    eprintln!("talpa: {e}");
                    ExitCode::FAILURE
                }
                Err(e) => {
                    // Said on stdout too, as the protocol's error event, for the script
                    // reading it; the profile was never touched.
                    println!(
                        "{}",
                        talpa::headless::protocol::encode_event(&Event::Error {
                            kind: e.kind().to_owned(),
                            message: e.to_string(),
                            account: None,
                        })
                    );
                    eprintln!("talpa: {e}");
                    if matches!(e, CoreError::ProfileInUse) {
                        ExitCode::from(PROFILE_IN_USE_STATUS)
                    } else {
                        ExitCode::FAILURE
                    }
                }
            }
        }
        None => {
            // The core only spawns its actor here; the embedded Tor client starts at unlock
            // (its settings are in the encrypted store), long after the first frame.
            // The profile lock is taken here, before the window exists. A second launch on
            // the default profile fails to take it, and then hands over to the first process
            // (the application is unique there) without ever using this result.
            let core = {
                let _guard = runtime.enter();
                CoreHandle::try_spawn(options).map_err(name_profile)
            };
            if let Err(e) = talpa::ui::preinit() {
                eprintln!("talpa: {e}");
                return ExitCode::FAILURE;
            }
            let probe = cli
                .bench_fd
                .map(|fd| PathBuf::from(format!("/proc/self/fd/{fd}")));
            talpa::ui::run_with_probe(core, &runtime, probe, default_profile)
        }
    }
}
