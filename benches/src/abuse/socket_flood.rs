//! Finding 2: idle connections must be closed. Opens many abusive sockets
//! to a gateway started with a short header timeout — a third silent, a
//! third sending half a request head, a third making one request and then
//! idling on keep-alive — and, while they are open, times `GET /health` on
//! fresh connections; then says how many the server closed, how soon, and
//! what the gateway's memory did.
//!
//! Each abusive socket is attempted once (never reopened) from one of 200
//! loopback addresses (127.0.2.x, so the ephemeral ports of one address do
//! not run out), at most [`CONNECTS_AT_ONCE`] connecting at a time. Past
//! the gateway's connection limit new connections wait in the kernel's
//! listen backlog (and past the backlog their SYNs are dropped and
//! retried), so a socket's header timeout starts when the gateway accepts
//! it, not when it connected: "closed within the timeout" is counted from
//! the socket's connect, and sockets queued behind the limit show up as
//! closed later. A `/health` probe queues behind them the same way.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::gateway_process::{GatewayProcess, Memory, megabytes};
use crate::measure::Latencies;

/// Connects in flight at once: a quarter of the gateway's listen backlog
/// (tokio's 1,024), so the flood's own bursts do not overflow it while the
/// gateway has free slots. Past its connection limit the backlog fills
/// anyway; then the kernel drops handshakes (with SYN cookies the client
/// may believe it connected while the server never heard of the socket:
/// such a silent socket stays "open" on the client side only, which the
/// server-side count from `/proc/net/tcp` shows).
const CONNECTS_AT_ONCE: usize = 256;
/// How often the gateway's descriptors and server-side connections are read.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);
/// A `/health` probe is sent this often during the flood.
const PROBE_EVERY: Duration = Duration::from_millis(100);
/// A probe unanswered after this counts as not answered.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Quiet `/health` probes before the flood, for the baseline.
const BASELINE_PROBES: usize = 50;
/// A close this much later than the header timeout still counts as within
/// it (hyper's timer and the scheduler are not exact).
const CLOSE_SLACK: Duration = Duration::from_secs(1);
/// Memory is read again this long after the flood ends.
const SETTLE: Duration = Duration::from_secs(2);

/// How a flood is shaped.
#[derive(Debug, Clone, Copy)]
pub struct FloodShape {
    /// Abusive sockets attempted.
    pub sockets: usize,
    /// The gateway's header-read (and keep-alive idle) timeout.
    pub header_timeout: Duration,
    /// The flood ends when every socket is closed or this long after it
    /// began, whichever comes first; sockets open then are counted open.
    pub hold_at_most: Duration,
}

/// What an abusive socket does once connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Silent,
    PartialHead,
    IdleKeepAlive,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Silent, Kind::PartialHead, Kind::IdleKeepAlive];

    fn label(self) -> &'static str {
        match self {
            Kind::Silent => "silent",
            Kind::PartialHead => "partial head",
            Kind::IdleKeepAlive => "idle keep-alive",
        }
    }
}

/// How one abusive socket fared.
#[derive(Debug, Clone, Copy)]
enum Fate {
    /// Never connected within the flood (refused, or its SYNs dropped
    /// until the end).
    NotConnected,
    /// The server closed it `after` it connected, at `at`.
    Closed { after: Duration, at: Instant },
    /// Still open when the flood ended.
    StillOpen,
}

/// What the flood measured.
pub struct SocketFloodFigures {
    shape: FloodShape,
    max_connections: usize,
    fates: Vec<(Kind, Fate)>,
    baseline: Latencies,
    /// Every probe sent during the flood: when, and its latency if it was
    /// answered.
    probes: Vec<(Instant, Option<Duration>)>,
    /// When the flood began and when the server closed its last abusive
    /// socket (the flood's start if it closed none).
    flood_started: Instant,
    last_close: Instant,
    before: Memory,
    after: Memory,
    settled: Memory,
    flood_wall: Duration,
    gateway_alive: bool,
    /// The most descriptors the gateway held at a sample, and at the last.
    descriptors_peak: usize,
    descriptors_last: usize,
    /// The most established connections on the gateway's side of its port
    /// (accepted or waiting in the backlog) at a sample, and at the last.
    server_side_peak: usize,
    server_side_last: usize,
    log_lines: usize,
}

pub async fn run(
    gateway: &mut GatewayProcess,
    shape: FloodShape,
    max_connections: usize,
) -> anyhow::Result<SocketFloodFigures> {
    let target = gateway.addr;
    let mut baseline = Vec::with_capacity(BASELINE_PROBES);
    for _ in 0..BASELINE_PROBES {
        if let Some(latency) = probe_health(target).await {
            baseline.push(latency);
        }
    }
    let before = gateway.memory();
    let started = Instant::now();
    let deadline = started + shape.hold_at_most;

    let connecting = Arc::new(Semaphore::new(CONNECTS_AT_ONCE));
    let mut sockets = tokio::task::JoinSet::new();
    for index in 0..shape.sockets {
        let kind = Kind::ALL[index % Kind::ALL.len()];
        let source = source_address(index);
        let connecting = connecting.clone();
        sockets.spawn(async move {
            (
                kind,
                abuse(target, source, kind, connecting, deadline).await,
            )
        });
    }

    // Probes go out on their own timer until every abusive socket is done.
    let mut probes = tokio::task::JoinSet::new();
    let mut fates = Vec::with_capacity(shape.sockets);
    let mut every = tokio::time::interval(PROBE_EVERY);
    // IMPORTANT: a probe missed while the runtime was busy is skipped, not
    // sent in a burst afterwards.
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sample_every = tokio::time::interval(SAMPLE_EVERY);
    sample_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut descriptors_peak, mut descriptors_last) = (0, 0);
    let (mut server_side_peak, mut server_side_last) = (0, 0);
    let log_lines_before = gateway.log_lines();
    loop {
        tokio::select! {
            joined = sockets.join_next() => match joined {
                Some(joined) => fates.push(joined.context("an abusive socket's task")?),
                None => break,
            },
            _ = every.tick() => {
                probes.spawn(async move { (Instant::now(), probe_health(target).await) });
            }
            _ = sample_every.tick() => {
                descriptors_last = gateway.open_descriptors();
                descriptors_peak = descriptors_peak.max(descriptors_last);
                server_side_last = server_side_established(target.port());
                server_side_peak = server_side_peak.max(server_side_last);
            }
        }
    }
    let flood_wall = started.elapsed();
    let after = gateway.memory();
    let mut probed = Vec::new();
    while let Some(joined) = probes.join_next().await {
        probed.push(joined.context("a /health probe's task")?);
    }
    let last_close = fates
        .iter()
        .filter_map(|(_, fate)| match fate {
            Fate::Closed { at, .. } => Some(*at),
            Fate::NotConnected | Fate::StillOpen => None,
        })
        .max()
        .unwrap_or(started);
    tokio::time::sleep(SETTLE).await;
    let settled = gateway.memory();
    Ok(SocketFloodFigures {
        shape,
        max_connections,
        fates,
        baseline: Latencies::new(baseline),
        probes: probed,
        flood_started: started,
        last_close,
        before,
        after,
        settled,
        flood_wall,
        gateway_alive: gateway.is_running(),
        descriptors_peak,
        descriptors_last,
        server_side_peak,
        server_side_last,
        log_lines: gateway.log_lines() - log_lines_before,
    })
}

/// Established TCP connections whose local port is `port` on 127.0.0.1
/// (`/proc/net/tcp`): the server's side of every connection to the
/// gateway, accepted or waiting in its backlog; the clients' sides have it
/// as their remote port and are not counted.
fn server_side_established(port: u16) -> usize {
    let local = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp").map_or(0, |table| {
        table
            .lines()
            .skip(1)
            .filter(|line| {
                let mut fields = line.split_whitespace();
                // sl, local_address, rem_address, st ("01": ESTABLISHED).
                let local_address = fields.nth(1);
                let state = fields.nth(1);
                local_address == Some(local.as_str()) && state == Some("01")
            })
            .count()
    })
}

/// 127.0.2.1 to 127.0.2.200, in turn.
fn source_address(index: usize) -> IpAddr {
    let host = u8::try_from(index % 200 + 1).unwrap_or(1);
    IpAddr::V4(Ipv4Addr::new(127, 0, 2, host))
}

/// One abusive socket, from connect to the server's close or `deadline`.
async fn abuse(
    target: SocketAddr,
    source: IpAddr,
    kind: Kind,
    connecting: Arc<Semaphore>,
    deadline: Instant,
) -> Fate {
    let connected = {
        let Ok(_turn) = connecting.acquire().await else {
            return Fate::NotConnected;
        };
        tokio::time::timeout_at(deadline, connect_from(source, target)).await
    };
    let Ok(Ok(mut stream)) = connected else {
        return Fate::NotConnected;
    };
    let connected_at = Instant::now();
    let head: &[u8] = match kind {
        Kind::Silent => b"",
        Kind::PartialHead => b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
        Kind::IdleKeepAlive => b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    };
    if !head.is_empty() && stream.write_all(head).await.is_err() {
        return closed_now(connected_at);
    }
    // Whatever the server sends (the keep-alive socket's answer) is read
    // and dropped; its end (EOF or a reset) is the close.
    let mut buffer = [0_u8; 1024];
    let closed = tokio::time::timeout_at(deadline, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    match closed {
        Ok(()) => closed_now(connected_at),
        Err(_) => Fate::StillOpen,
    }
}

fn closed_now(connected_at: Instant) -> Fate {
    Fate::Closed {
        after: connected_at.elapsed(),
        at: Instant::now(),
    }
}

async fn connect_from(source: IpAddr, target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(target).await
}

/// `GET /health` on a fresh connection from 127.0.0.1, read to its end:
/// the time from connect to the whole answer, or `None` unless it answered
/// 200 within [`PROBE_TIMEOUT`].
async fn probe_health(target: SocketAddr) -> Option<Duration> {
    let started = Instant::now();
    let answered = tokio::time::timeout(PROBE_TIMEOUT, async {
        let mut stream = TcpStream::connect(target).await.ok()?;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        answer.starts_with(b"HTTP/1.1 200").then_some(())
    })
    .await;
    matches!(answered, Ok(Some(()))).then(|| started.elapsed())
}

pub fn print(figures: &SocketFloodFigures) {
    let timeout = figures.shape.header_timeout;
    println!(
        "{:<16} {:>9} {:>9} {:>9} {:>13} {:>10} {:>10} {:>10} {:>10}",
        "socket",
        "attempted",
        "connected",
        "closed",
        format!("within {:.0} s", (timeout + CLOSE_SLACK).as_secs_f64()),
        "close p50 s",
        "p99 s",
        "max s",
        "still open"
    );
    let mut rows: Vec<(String, Vec<Fate>)> = Kind::ALL
        .iter()
        .map(|kind| {
            (
                kind.label().to_owned(),
                figures
                    .fates
                    .iter()
                    .filter(|(of, _)| of == kind)
                    .map(|(_, fate)| *fate)
                    .collect(),
            )
        })
        .collect();
    rows.push((
        "all".to_owned(),
        figures.fates.iter().map(|(_, fate)| *fate).collect(),
    ));
    for (label, fates) in rows {
        let closed: Vec<Duration> = fates
            .iter()
            .filter_map(|fate| match fate {
                Fate::Closed { after, .. } => Some(*after),
                Fate::NotConnected | Fate::StillOpen => None,
            })
            .collect();
        let within = closed
            .iter()
            .filter(|after| **after <= timeout + CLOSE_SLACK)
            .count();
        let connected = fates
            .iter()
            .filter(|fate| !matches!(fate, Fate::NotConnected))
            .count();
        let still_open = fates
            .iter()
            .filter(|fate| matches!(fate, Fate::StillOpen))
            .count();
        let closed_count = closed.len();
        let closed = Latencies::new(closed);
        println!(
            "{:<16} {:>9} {:>9} {:>9} {:>13} {:>11.2} {:>10.2} {:>10.2} {:>10}",
            label,
            fates.len(),
            connected,
            closed_count,
            within,
            closed.percentile_ms(50.0) / 1e3,
            closed.percentile_ms(99.0) / 1e3,
            closed.percentile_ms(100.0) / 1e3,
            still_open,
        );
    }
    println!(
        "GET /health on fresh connections, quiet before the flood: {} probes, p50 {:.2} ms, p99 {:.2} ms",
        figures.baseline.len(),
        figures.baseline.percentile_ms(50.0),
        figures.baseline.percentile_ms(99.0),
    );
    let holding = figures.last_close.duration_since(figures.flood_started);
    let flood_end = figures.flood_started + figures.flood_wall;
    print_probes(
        &format!(
            "while the server held abusive sockets (first {:.1} s, until its last close)",
            holding.as_secs_f64()
        ),
        &figures.probes,
        |sent| sent <= figures.last_close,
        figures.baseline.percentile_ms(50.0),
    );
    print_probes(
        &format!(
            "for the rest of the flood ({:.1} s)",
            flood_end.duration_since(figures.last_close).as_secs_f64()
        ),
        &figures.probes,
        |sent| sent > figures.last_close,
        figures.baseline.percentile_ms(50.0),
    );
    println!(
        "server side (every {:.1} s): connections established to the gateway's port at most {}, at the \
         last sample {}; gateway descriptors at most {}, at the last sample {} (max connections {})",
        SAMPLE_EVERY.as_secs_f64(),
        figures.server_side_peak,
        figures.server_side_last,
        figures.descriptors_peak,
        figures.descriptors_last,
        figures.max_connections,
    );
    println!(
        "gateway RSS before {:.1} MB, peak (VmHWM) {:.1} MB, at the end {:.1} MB, {:.0} s later {:.1} MB; \
         log lines {}; still running: {}",
        megabytes(figures.before.resident),
        megabytes(figures.after.peak),
        megabytes(figures.after.resident),
        SETTLE.as_secs_f64(),
        megabytes(figures.settled.resident),
        figures.log_lines,
        if figures.gateway_alive { "yes" } else { "NO" },
    );
}

/// One line of `/health` probes: those whose send time `counts`.
fn print_probes(
    label: &str,
    probes: &[(Instant, Option<Duration>)],
    counts: impl Fn(Instant) -> bool,
    quiet_p50_ms: f64,
) {
    let chosen: Vec<Option<Duration>> = probes
        .iter()
        .filter(|(sent, _)| counts(*sent))
        .map(|(_, latency)| *latency)
        .collect();
    let answered = Latencies::new(chosen.iter().flatten().copied().collect());
    println!(
        "  {label}: {}/{} answered 200 within {:.0} s, {} in under 50 ms; p50 {:.2} ms ({:.1}x quiet), \
         p99 {:.2} ms, max {:.2} ms",
        answered.len(),
        chosen.len(),
        PROBE_TIMEOUT.as_secs_f64(),
        answered.count_under(Duration::from_millis(50)),
        answered.percentile_ms(50.0),
        ratio(answered.percentile_ms(50.0), quiet_p50_ms),
        answered.percentile_ms(99.0),
        answered.percentile_ms(100.0),
    );
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        f64::NAN
    }
}
