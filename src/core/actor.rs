//! The core actor and the handle front ends hold.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::core::commands::{Command, Reply};
use crate::core::error::CoreError;
use crate::core::events::{Event, TorStatusInfo};

/// How the core is started: where the profile lives and how it reaches Tor.
#[derive(Debug, Clone)]
pub struct CoreOptions {
    /// The profile directory (created 0700 on first use).
    pub profile_dir: PathBuf,
    /// A private Tor network description (authorities + fallbacks), for test networks.
    pub tor_network: Option<PathBuf>,
    /// Upper bound of the random delay before each account's first connection.
    pub startup_jitter: Duration,
    /// Lock the profile after this long without a command.
    pub idle_lock: Duration,
}

impl CoreOptions {
    /// Options with Talpa's defaults for the given profile directory.
    pub fn new(profile_dir: PathBuf) -> Self {
        CoreOptions {
            profile_dir,
            tor_network: None,
            startup_jitter: Duration::from_secs(120),
            idle_lock: Duration::from_secs(15 * 60),
        }
    }
}

struct Request {
    command: Command,
    reply: oneshot::Sender<Result<Reply, CoreError>>,
}

/// A cheap, cloneable handle on the running core. `Send + Sync`: usable from the GTK main loop
/// (tokio's channels need no tokio runtime to be awaited) and from tokio tasks alike.
#[derive(Clone)]
pub struct CoreHandle {
    requests: mpsc::Sender<Request>,
    events: broadcast::Sender<Event>,
}

impl CoreHandle {
    /// Starts the core on the current tokio runtime and returns its handle.
    pub fn spawn(options: CoreOptions) -> CoreHandle {
        let (requests, rx) = mpsc::channel(64);
        let (events, _) = broadcast::channel(4096);
        let actor = Actor {
            options,
            events: events.clone(),
        };
        tokio::spawn(actor.run(rx));
        CoreHandle { requests, events }
    }

    /// Sends a command and waits for its reply.
    pub async fn call(&self, command: Command) -> Result<Reply, CoreError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { command, reply })
            .await
            .map_err(|_| CoreError::Stopped)?;
        answer.await.map_err(|_| CoreError::Stopped)?
    }

    /// Subscribes to the event stream (events from now on).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

struct Actor {
    options: CoreOptions,
    events: broadcast::Sender<Event>,
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        while let Some(Request { command, reply }) = rx.recv().await {
            let quit = matches!(command, Command::Quit);
            let result = self.handle(command);
            // A front end that stopped waiting for its answer is not the core's problem.
            let _ = reply.send(result);
            if quit {
                break;
            }
        }
    }

    #[allow(clippy::needless_pass_by_value)] // consumed once the profile handlers land
    fn handle(&mut self, command: Command) -> Result<Reply, CoreError> {
        tracing::debug!(command = command.name(), "command");
        match command {
            Command::Quit => Ok(Reply::Done {}),
            Command::TorStatus => Ok(Reply::Tor(TorStatusInfo {
                state: "starting".into(),
                percent: 0,
                text: "Tor has not started".into(),
            })),
            _ => {
                let _ = (&self.options, &self.events);
                Err(CoreError::Locked)
            }
        }
    }
}
