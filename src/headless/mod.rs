//! The JSON-lines control protocol: a second front end over the core handle.
//!
//! One JSON object per line on stdin (`{"id": "...", "cmd": "...", ...}`); one JSON object per
//! line on stdout: a reply (`{"id": ..., "ok": true, ...}` or `{"id": ..., "ok": false,
//! "error": {"kind": ..., "message": ...}}`) or an event (`{"event": ..., ...}`). A malformed
//! line gets an error reply and never stops the process. The contract is docs/HEADLESS.md.

pub mod protocol;

use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::core::{Command, CoreHandle};

/// Runs the headless front end over stdin/stdout until `quit` or end of input.
pub async fn run(core: CoreHandle) -> std::io::Result<()> {
    run_on(core, tokio::io::stdin(), tokio::io::stdout()).await
}

/// Runs the headless protocol over any reader and writer (used by [`run`] and the tests).
pub async fn run_on<R, W>(core: CoreHandle, input: R, output: W) -> std::io::Result<()>
where
    R: tokio::io::AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (out_tx, out_rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(write_lines(output, out_rx));

    let mut events = core.subscribe();
    let event_out = out_tx.clone();
    let event_task = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if event_out.send(protocol::encode_event(&event)).is_err() {
                        break;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    let _ = event_out.send(protocol::encode_lagged(n));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });

    let mut lines = BufReader::new(input);
    let mut line = String::new();
    loop {
        line.clear();
        let n = read_bounded_line(&mut lines, &mut line).await?;
        if n == 0 {
            break;
        }
        let request = match protocol::decode_request(&line) {
            Ok(request) => request,
            Err(reply) => {
                let _ = out_tx.send(reply);
                continue;
            }
        };
        let quit = matches!(request.command, Command::Quit);
        let result = core.call(request.command).await;
        let _ = out_tx.send(protocol::encode_reply(&request.id, &result));
        if quit {
            break;
        }
    }
    event_task.abort();
    drop(out_tx);
    writer.await.map_err(std::io::Error::other)?
}

/// Reads one line, refusing to buffer more than [`protocol::MAX_LINE`] bytes of it: an overlong
/// line is consumed and replaced by a marker that decodes to an error reply.
async fn read_bounded_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut String,
) -> std::io::Result<usize> {
    let mut raw = Vec::new();
    let mut total = 0usize;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            break;
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let len = chunk.len();
        total += len;
        if raw.len() <= protocol::MAX_LINE {
            raw.extend_from_slice(chunk);
        }
        reader.consume(len);
        if done {
            break;
        }
    }
    if raw.len() > protocol::MAX_LINE {
        line.push_str(protocol::OVERLONG_MARKER);
    } else {
        line.push_str(&String::from_utf8_lossy(&raw));
    }
    Ok(total)
}

async fn write_lines<W: AsyncWrite + Unpin>(
    mut output: W,
    mut rx: mpsc::UnboundedReceiver<String>,
) -> std::io::Result<()> {
    while let Some(line) = rx.recv().await {
        output.write_all(line.as_bytes()).await?;
        output.write_all(b"\n").await?;
        output.flush().await?;
    }
    Ok(())
}
