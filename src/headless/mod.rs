//! The JSON-lines control protocol: a second front end over the core handle.
//!
//! One JSON object per line on stdin (`{"id": "...", "cmd": "...", ...}`); one JSON object per
//! line on stdout: a reply (`{"id": ..., "ok": true, ...}` or `{"id": ..., "ok": false,
//! "error": {"kind": ..., "message": ...}}`) or an event (`{"event": ..., ...}`). A malformed
//! line gets an error reply and never stops the process. The contract is docs/HEADLESS.md.

pub mod protocol;

use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{broadcast, mpsc};

use crate::core::{Command, CoreHandle, Event};

/// How many lines may wait for stdout. When a reader stops reading, a reply waits here for room
/// (and the next command is not read until it has some: stdin pushes back, nothing is dropped);
/// events may only take a place while more than [`REPLY_RESERVE`] are free. An event waits up to
/// [`EVENT_STALL`] for one (a reader that reads gets every event of a burst); after that the
/// reader is taken as stalled: events are dropped and counted until there is room again, and
/// the reader then gets one `lagged` error event with the count. Memory stays bounded by this
/// many lines (and the core's event channel).
pub const OUTPUT_QUEUE: usize = 64;

/// Places in the output queue that events leave to replies, so a flood of events never makes a
/// reply wait behind them.
pub const REPLY_RESERVE: usize = 8;

/// How long an event waits for a place in the output queue before the reader is taken as
/// stalled and events are dropped (see [`OUTPUT_QUEUE`]).
pub const EVENT_STALL: std::time::Duration = std::time::Duration::from_secs(2);

/// How often a waiting event looks for a place again.
const EVENT_POLL: std::time::Duration = std::time::Duration::from_millis(2);

/// How often a pending `lagged` notice is retried when no event comes to carry it.
const LAGGED_RETRY: std::time::Duration = std::time::Duration::from_millis(100);

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
    let (out_tx, out_rx) = mpsc::channel::<String>(OUTPUT_QUEUE);
    let writer = tokio::spawn(write_lines(output, out_rx));
    let event_task = tokio::spawn(forward_events(core.subscribe(), out_tx.clone()));

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
                if out_tx.send(reply).await.is_err() {
                    break;
                }
                continue;
            }
        };
        let quit = matches!(request.command, Command::Quit);
        let result = core.call(request.command).await;
        if out_tx
            .send(protocol::encode_reply(&request.id, &result))
            .await
            .is_err()
        {
            break;
        }
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

/// Forwards core events to the output queue: an event that finds fewer than [`REPLY_RESERVE`]
/// free places waits up to [`EVENT_STALL`] for one; then it is dropped and counted, as is every
/// later event until there is room again (and events the core's broadcast dropped for us), and
/// the count goes out as one `lagged` event once there is room.
async fn forward_events(mut events: broadcast::Receiver<Event>, out: mpsc::Sender<String>) {
    let mut missed: u64 = 0;
    loop {
        let received = if missed == 0 {
            events.recv().await
        } else {
            tokio::select! {
                received = events.recv() => received,
                () = tokio::time::sleep(LAGGED_RETRY) => {
                    missed = flush_lagged(&out, missed);
                    continue;
                }
            }
        };
        match received {
            Ok(event) => {
                missed = flush_lagged(&out, missed);
                if missed > 0 {
                    // The reader is stalled: drop until there is room for the notice.
                    missed += 1;
                    continue;
                }
                let mut line = protocol::encode_event(&event);
                let deadline = tokio::time::Instant::now() + EVENT_STALL;
                loop {
                    if out.capacity() > REPLY_RESERVE {
                        match out.try_send(line) {
                            Ok(()) => break,
                            Err(mpsc::error::TrySendError::Full(back)) => line = back,
                            Err(mpsc::error::TrySendError::Closed(_)) => return,
                        }
                    }
                    if out.is_closed() {
                        return;
                    }
                    if tokio::time::Instant::now() >= deadline {
                        missed += 1;
                        break;
                    }
                    tokio::time::sleep(EVENT_POLL).await;
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => missed += n,
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

/// Sends the `lagged` notice for `missed` events if there is room for events; returns how many
/// are still to be reported.
fn flush_lagged(out: &mpsc::Sender<String>, missed: u64) -> u64 {
    if missed == 0 || out.capacity() <= REPLY_RESERVE {
        return missed;
    }
    match out.try_send(protocol::encode_lagged(missed)) {
        Ok(()) => 0,
        Err(_) => missed,
    }
}

async fn write_lines<W: AsyncWrite + Unpin>(
    mut output: W,
    mut rx: mpsc::Receiver<String>,
) -> std::io::Result<()> {
    while let Some(line) = rx.recv().await {
        output.write_all(line.as_bytes()).await?;
        output.write_all(b"\n").await?;
        output.flush().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_that_find_the_queue_nearly_full_are_counted_and_reported_once_as_lagged() {
        let (events_tx, events_rx) = broadcast::channel(16);
        let (out, mut rx) = mpsc::channel::<String>(OUTPUT_QUEUE);
        for i in 0..OUTPUT_QUEUE - REPLY_RESERVE {
            out.try_send(format!("line {i}")).expect("room");
        }
        let task = tokio::spawn(forward_events(events_rx, out.clone()));
        for _ in 0..5 {
            events_tx.send(Event::Locked).expect("subscribed");
        }
        while !events_tx.is_empty() {
            tokio::task::yield_now().await;
        }
        // Replies still find the reserved places while events are dropped.
        for i in 0..REPLY_RESERVE {
            out.send(format!("reply {i}"))
                .await
                .expect("room for replies");
        }
        let mut lines = Vec::new();
        while lines.len() < OUTPUT_QUEUE {
            lines.push(rx.recv().await.expect("line"));
        }
        let notice = rx.recv().await.expect("the lagged notice");
        assert_eq!(notice, protocol::encode_lagged(5));
        events_tx.send(Event::Unlocked).expect("subscribed");
        assert_eq!(
            rx.recv().await.expect("event"),
            protocol::encode_event(&Event::Unlocked)
        );
        assert!(
            lines
                .iter()
                .all(|l| l.starts_with("line ") || l.starts_with("reply ")),
            "a dropped event got through: {lines:?}"
        );
        task.abort();
    }
}
