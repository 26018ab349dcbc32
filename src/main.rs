//! The `talpa` binary: the GTK client by default, `talpa headless` for the JSON-lines protocol.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use talpa::core::{CoreHandle, CoreOptions};

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
    /// Upper bound, in seconds, of the random delay before each account connects.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 120)]
    startup_jitter: u64,
    /// Lock the profile after this many seconds without use (default 15 minutes).
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..))]
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

fn default_profile_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("org", "Talpa", "talpa").map(|d| d.data_dir().to_path_buf())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TALPA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,tor_netdir=error")),
        )
        .with_writer(std::io::stderr)
        .init();

    let Some(profile_dir) = cli.profile.or_else(default_profile_dir) else {
        eprintln!("talpa: cannot determine a profile directory; pass --profile DIR");
        return ExitCode::FAILURE;
    };
    let mut options = CoreOptions::new(profile_dir);
    options.tor_network = cli.tor_network;
    options.startup_jitter = Duration::from_secs(cli.startup_jitter);
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
                let core = CoreHandle::spawn(options);
                talpa::headless::run(core).await
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("talpa: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        None => {
            // Setting up the embedded Tor client (state and cache directories, guards) takes
            // a while; it runs on another thread while GTK connects to the display.
            let handle = runtime.handle().clone();
            let spawning = std::thread::spawn(move || {
                let _guard = handle.enter();
                CoreHandle::spawn(options)
            });
            talpa::ui::preinit();
            let Ok(core) = spawning.join() else {
                eprintln!("talpa: the core failed to start");
                return ExitCode::FAILURE;
            };
            let probe = cli
                .bench_fd
                .map(|fd| PathBuf::from(format!("/proc/self/fd/{fd}")));
            talpa::ui::run_with_probe(core, &runtime, probe)
        }
    }
}
