//! A DNS-over-TLS server for tests (`tests/harness/dot_server.py`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// `tests/harness/dot_server.py`, answering from a fixed SRV table; killed on drop.
pub struct DotServer {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    queries: Arc<Mutex<Vec<String>>>,
}

impl DotServer {
    /// Starts it with `records` (`NAME=PRIO:WEIGHT:PORT:TARGET`), using the bed's server
    /// certificate (valid for `localhost`).
    pub fn start(bed: &super::Bed, records: &[String]) -> DotServer {
        let tls = bed.dir.join("tls");
        let mut cmd = Command::new(&bed.venv_python);
        cmd.arg(super::harness_dir().join("dot_server.py"))
            .arg("--cert")
            .arg(tls.join("server.crt"))
            .arg("--key")
            .arg(tls.join("server.key"));
        for r in records {
            cmd.arg("--srv").arg(r);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dot_server.py starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next().expect("a port line").expect("readable");
        let port = first
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        let queries = Arc::new(Mutex::new(Vec::new()));
        let sink = queries.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().expect("lock").push(line);
            }
        });
        DotServer {
            child,
            port,
            queries,
        }
    }

    /// The queries answered so far (`query NAME TYPE`).
    pub fn queries(&self) -> Vec<String> {
        self.queries.lock().expect("lock").clone()
    }
}

impl Drop for DotServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
