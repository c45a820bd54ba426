//! The `--metrics-addr` endpoint: a `tiny_http` server (blocking, no async runtime) on its own
//! thread, serving `/metrics` (OpenMetrics text, `report::openmetrics`) and `/snapshot.json`
//! from the frame the measuring thread last published. All formatting happens here.
//!
//! The address is bound before anything is measured, so a port in use or an address that is
//! not this machine's fails the command with exit 2 at once. `:PORT` means loopback; any other
//! host must be given explicitly, and one that is not loopback is warned about, since these
//! figures are then served to whoever can reach the host.

use super::state::{Frame, LiveState, Phase};
use crate::measure::alloc;
use crate::measure::rss;
use crate::measure::LatencySummary;
use crate::report::openmetrics::{self, CountedBuckets, MetricsView, PoolGauges, SettingMetrics};
use crate::{bad_input, InputError};
use serde::Serialize;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

/// Resolves `HOST:PORT` (or `:PORT`, loopback) to one address, as bad input naming the flag.
pub fn parse_addr(text: &str) -> Result<SocketAddr, InputError> {
    let bad = |why: &str| InputError::new(format!("--metrics-addr '{text}': {why}"));
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(bad(
            "expected HOST:PORT or :PORT (for example 127.0.0.1:9184)",
        ));
    };
    let port: u16 = port
        .parse()
        .map_err(|_| bad("the port must be a number from 0 to 65535"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    let mut addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| bad(&format!("cannot resolve host '{host}': {e}")))?;
    addrs
        .next()
        .ok_or_else(|| bad(&format!("host '{host}' has no address")))
}

/// The running server; dropping it stops the server thread.
pub struct MetricsServer {
    /// Weak: the server thread holds the server, so that it is dropped there the moment
    /// the last queued scrape is answered (a request still queued when a tiny_http server
    /// is dropped gets an empty 500), not once this thread has woken from the join.
    server: Weak<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    pub addr: SocketAddr,
}

impl MetricsServer {
    /// Binds `text` and starts serving `state`. Warns (unless `quiet`) when the address is
    /// not loopback; says where it serves.
    pub fn start(text: &str, state: Arc<LiveState>, quiet: bool) -> anyhow::Result<MetricsServer> {
        let addr = parse_addr(text)?;
        let listener = TcpListener::bind(addr)
            .map_err(|e| bad_input!("--metrics-addr {addr}: cannot listen: {e}"))?;
        let addr = listener.local_addr().unwrap_or(addr);
        if !addr.ip().is_loopback() {
            crate::note!(
                "spreadbench: warning: --metrics-addr {addr} is not loopback: /metrics and /snapshot.json are open to anyone who can reach this host"
            );
        }
        // The server (and the threads tiny_http starts for it, which inherit the priority) is
        // made on a thread that has already lowered itself.
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("metrics-server".into())
            .spawn(move || {
                lower_to_nice_19();
                match tiny_http::Server::from_listener(listener, None) {
                    Ok(server) => {
                        let server = Arc::new(server);
                        let _ = tx.send(Ok(Arc::downgrade(&server)));
                        serve(&server, &state);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            })?;
        let server = match rx.recv() {
            Ok(Ok(server)) => server,
            Ok(Err(e)) => anyhow::bail!("--metrics-addr {addr}: cannot serve: {e}"),
            Err(_) => anyhow::bail!("--metrics-addr {addr}: the server thread ended at start"),
        };
        if !quiet {
            crate::note!("serving http://{addr}/metrics and http://{addr}/snapshot.json");
        }
        Ok(MetricsServer {
            server,
            thread: Some(thread),
            addr,
        })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.upgrade() {
            server.unblock();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Lowers the calling thread to the lowest priority (nice 19), so formatting a scrape
/// does not take a core from the measured thread: on a 2-core machine with a build running,
/// a normal-priority server thread moved a run's p99 by 7%. Not `SCHED_IDLE`: that starves
/// the server outright whenever both cores are busy, and a scrape then never gets an answer.
/// Elsewhere than Linux, or if refused, nothing changes.
fn lower_to_nice_19() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions; setpriority on a thread id sets that
        // thread's nice value (Linux), and the threads it starts inherit it.
        unsafe {
            let tid = libc::gettid();
            let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19);
        }
    }
}

fn serve(server: &tiny_http::Server, state: &LiveState) {
    // `recv` fails only once the server is unblocked (stopping) or its socket is gone.
    while let Ok(request) = server.recv() {
        answer(request, state);
    }
    // Stopping. A scrape that came in after the unblock is queued behind it, and tiny_http
    // answers a request still queued when the server is dropped with an empty 500: on a busy
    // machine this nice-19 thread can take long enough to get here for a scraper (a test
    // scraping every 20 ms, say) to land in between. Those get the last frame instead.
    while let Ok(Some(request)) = server.try_recv() {
        answer(request, state);
    }
}

/// Answers one request from the current frame.
fn answer(request: tiny_http::Request, state: &LiveState) {
    let path = request.url().split('?').next().unwrap_or("");
    let response = match path {
        "/metrics" => match metrics_text(&state.current()) {
            Ok(text) => reply(text.into_bytes(), openmetrics::CONTENT_TYPE, 200),
            Err(_) => reply(b"cannot encode metrics\n".to_vec(), "text/plain", 500),
        },
        "/snapshot.json" => reply(snapshot_json(state), "application/json", 200),
        "/" => reply(
            b"spreadbench: see /metrics and /snapshot.json\n".to_vec(),
            "text/plain; charset=utf-8",
            200,
        ),
        _ => reply(b"not found\n".to_vec(), "text/plain", 404),
    };
    // A scraper that hung up is its own business.
    let _ = request.respond(response);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::Duration;

    /// A scrape queued behind the unblock (the server stopping) is answered, not dropped
    /// with tiny_http's empty 500. Reproducer: `tests/live.rs` failed in CI on a 500 with
    /// `Content-Length: 0` at the end of a run's linger, on a loaded machine.
    #[test]
    fn a_scrape_that_arrives_while_the_server_stops_is_answered() {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let addr = server.server_addr().to_ip().unwrap();
        // The stop comes first, the scrape after it.
        server.unblock();
        let client = std::thread::spawn(move || {
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            c.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
            let mut reply = String::new();
            c.read_to_string(&mut reply).unwrap();
            reply
        });
        // Time for tiny_http to accept and queue the request (behind the unblock): ample on a
        // busy machine; without the drain the request is then dropped with the server.
        std::thread::sleep(Duration::from_millis(1000));
        serve(&server, &LiveState::new("run"));
        drop(server);
        let reply = client.join().unwrap();
        let head = reply.lines().next().unwrap_or("");
        assert!(head.contains(" 200 "), "{reply}");
        assert!(reply.contains("application/openmetrics-text"), "{reply}");
    }
}

fn reply(
    body: Vec<u8>,
    content_type: &str,
    code: u16,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let mut r = tiny_http::Response::from_data(body).with_status_code(code);
    if let Ok(h) = tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes()) {
        r.add_header(h);
    }
    r
}

/// `/metrics` for a frame.
pub fn metrics_text(frame: &Frame) -> Result<String, std::fmt::Error> {
    let counting = alloc::counting_active();
    let view = MetricsView {
        settings: frame
            .settings
            .iter()
            .map(|s| SettingMetrics {
                label: &s.label,
                latency: s.latency.inner(),
                spreads: s.measured,
                partial: s.partial,
                fallback: s.fallback,
                pool: s.pool.map(|p| PoolGauges {
                    hit_rate: p.hit_rate,
                    utilization: p.utilization,
                    high_water_mark: p.high_water_mark,
                }),
                allocs_per_spread: (counting && s.measured > 0)
                    .then(|| s.alloc.allocs as f64 / s.measured as f64),
                cache_miss_rate: match (
                    s.counters.scaled("cache_misses"),
                    s.counters.scaled("cache_references"),
                ) {
                    (Some(m), Some(r)) if r > 0.0 => Some(m / r),
                    _ => None,
                },
                batch_size: s.batch_size,
                prediction_error: s.prediction.as_ref().map(|t| {
                    CountedBuckets::from_at_most(
                        openmetrics::PREDICTION_ERROR_BOUNDS,
                        |b| t.count_at_most(b),
                        t.count(),
                        t.sum(),
                    )
                }),
            })
            .collect(),
        rss_bytes: rss::current_rss_bytes(),
        finished: frame.phase == Phase::Finished,
    };
    openmetrics::render(&view)
}

/// `/snapshot.json` while measuring: the figures so far, typed, with `"partial": true`.
#[derive(Debug, Serialize)]
struct LiveSnapshot<'a> {
    partial: bool,
    partial_reason: &'static str,
    phase: Phase,
    #[serde(flatten)]
    identity: super::state::Identity,
    elapsed_s: f64,
    blocks: u64,
    /// The first setting's figures, as a snapshot's top level reports them.
    spreads: u64,
    warmup: u64,
    latency_ns: Option<LatencySummary>,
    rss_bytes: Option<u64>,
    settings: Vec<LiveSetting<'a>>,
}

#[derive(Debug, Serialize)]
struct LiveSetting<'a> {
    label: &'a str,
    spreads: u64,
    warmup: u64,
    latency_ns: Option<LatencySummary>,
    pool: Option<crate::engine::PoolStats>,
    allocs: u64,
}

/// The final snapshot once there is one; until then the figures so far.
fn snapshot_json(state: &LiveState) -> Vec<u8> {
    let frame = state.current();
    if let Some(json) = &frame.snapshot_json {
        return json.to_vec();
    }
    let summary = |h: &crate::measure::LatencyHistogram| {
        if h.is_empty() {
            None
        } else {
            h.summary().ok()
        }
    };
    let settings: Vec<LiveSetting<'_>> = frame
        .settings
        .iter()
        .map(|s| LiveSetting {
            label: &s.label,
            spreads: s.measured,
            warmup: s.warmed,
            latency_ns: summary(&s.latency),
            pool: s.pool,
            allocs: s.alloc.allocs,
        })
        .collect();
    let live = LiveSnapshot {
        partial: true,
        partial_reason: "in progress",
        phase: frame.phase,
        identity: state.identity(),
        elapsed_s: frame.elapsed_s,
        blocks: frame.blocks,
        spreads: settings.first().map_or(0, |s| s.spreads),
        warmup: settings.first().map_or(0, |s| s.warmup),
        latency_ns: settings.first().and_then(|s| s.latency_ns.clone()),
        rss_bytes: rss::current_rss_bytes(),
        settings,
    };
    let mut out = serde_json::to_vec_pretty(&live).unwrap_or_else(|_| b"{}".to_vec());
    out.push(b'\n');
    out
}
