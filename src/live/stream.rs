//! `--stream -|FILE`: one JSON line per measured block (`run`) or interval (`soak`, the very
//! records of its `metrics.jsonl`), written and flushed as each ends, by a writer thread of
//! its own, so that a slow or stalled reader never holds up the measurement.
//!
//! Where it goes follows the writer rules of `atomic_file`, adapted to a stream, which is read
//! while it is written and so cannot be renamed into place: `-` is standard output; a FIFO, a
//! character device or a `/proc/self/fd` link is written straight through; a regular file (or
//! a new one, or the target of a symlink, the link kept) is truncated and written in place,
//! a whole line at a time, so `tail -f` follows it and a kill leaves whole lines; a directory,
//! a socket or a block device is refused (exit 2) before anything is measured. A reader that
//! goes away (a closed pipe) ends the stream with one warning; the measurement goes on.

use super::state::{Frame, SettingFigures};
use crate::atomic_file::{self, Target};
use crate::measure::rss;
use anyhow::Context;
use serde_json::json;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What the writer thread is handed.
pub enum Message {
    /// A run's frame after a measured block: one line per setting.
    Block(Arc<Frame>),
    /// A complete line (a soak interval's `metrics.jsonl` record, newline included).
    Line(Vec<u8>),
}

pub struct StreamWriter {
    tx: Option<Sender<Message>>,
    thread: Option<JoinHandle<()>>,
}

/// Opens `path` for the stream as the module documentation says.
pub fn open(path: &Path) -> anyhow::Result<Box<dyn Write + Send>> {
    let name = path.display();
    if crate::input::is_stdin(path) {
        return Ok(Box::new(io::stdout()));
    }
    let target = atomic_file::target(path).with_context(|| format!("--stream {name}"))?;
    let file: File = match target {
        Target::Replace { path: p, .. } => OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&p),
        Target::Stream { path: p } => OpenOptions::new().append(true).open(&p),
    }
    .with_context(|| format!("--stream {name}: cannot open"))?;
    Ok(Box::new(file))
}

impl StreamWriter {
    pub fn start(mut out: Box<dyn Write + Send>) -> anyhow::Result<StreamWriter> {
        let (tx, rx) = channel::<Message>();
        let thread = std::thread::Builder::new()
            .name("stream-writer".into())
            .spawn(move || {
                let mut previous: Option<Arc<Frame>> = None;
                let mut failed = false;
                for msg in rx {
                    if failed {
                        continue;
                    }
                    let bytes = match msg {
                        Message::Line(line) => line,
                        Message::Block(frame) => {
                            let text = block_lines(&frame, previous.as_deref());
                            previous = Some(frame);
                            text
                        }
                    };
                    if let Err(e) = out.write_all(&bytes).and_then(|()| out.flush()) {
                        crate::note!("spreadbench: warning: --stream: stopped writing: {e}");
                        failed = true;
                    }
                }
            })?;
        Ok(StreamWriter {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    pub fn send(&self, msg: Message) {
        if let Some(tx) = &self.tx {
            // The thread ends only when the channel closes: a send cannot fail before that.
            let _ = tx.send(msg);
        }
    }

    /// Writes what is queued and ends the writer thread.
    pub fn close(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// A run's lines for one measured block: each setting's own figures over that block (its
/// histogram minus the previous frame's), beside its totals so far.
pub fn block_lines(frame: &Frame, previous: Option<&Frame>) -> Vec<u8> {
    let mut out = Vec::new();
    let rss_bytes = rss::current_rss_bytes();
    for (i, s) in frame.settings.iter().enumerate() {
        let before = previous.and_then(|p| p.settings.get(i));
        let line = setting_line(frame, s, before, rss_bytes);
        // A `Value` always serialises.
        let _ = serde_json::to_writer(&mut out, &line);
        out.push(b'\n');
    }
    out
}

fn setting_line(
    frame: &Frame,
    s: &SettingFigures,
    before: Option<&SettingFigures>,
    rss_bytes: Option<u64>,
) -> serde_json::Value {
    let mut h = s.latency.inner().clone();
    if let Some(b) = before {
        // The totals only grow, so the earlier histogram is contained in this one.
        let _ = h.subtract(b.latency.inner());
    }
    let spreads = s.measured - before.map_or(0, |b| b.measured);
    let allocs = s.alloc.allocs - before.map_or(0, |b| b.alloc.allocs);
    let bytes = s.alloc.bytes - before.map_or(0, |b| b.alloc.bytes);
    json!({
        "block": frame.blocks.saturating_sub(1),
        "setting": s.label,
        "elapsed_s": frame.elapsed_s,
        "spreads": spreads,
        "spreads_done": s.measured,
        "latency_ns": {
            "min": h.min(),
            "p50": h.value_at_quantile(0.5),
            "p90": h.value_at_quantile(0.9),
            "p99": h.value_at_quantile(0.99),
            "p999": h.value_at_quantile(0.999),
            "max": h.max(),
            "mean": h.mean(),
            "count": h.len(),
        },
        "total_latency_ns": {
            "p50": s.latency.value_at_quantile(0.5),
            "p99": s.latency.value_at_quantile(0.99),
            "count": s.latency.len(),
        },
        "rss_bytes": rss_bytes,
        "pool": s.pool.map(|p| json!({
            "in_use": p.in_use,
            "available": p.available,
            "hit_rate": p.hit_rate,
            "high_water_mark": p.high_water_mark,
            "misses": p.misses,
        })),
        "alloc": {
            "allocs": allocs,
            "bytes": bytes,
            "allocs_per_spread": allocs as f64 / spreads.max(1) as f64,
        },
    })
}
