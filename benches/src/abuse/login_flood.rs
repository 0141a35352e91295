//! Finding 1: failed logins must not exhaust memory. Each round sends
//! [`LOGINS`] wrong logins at [`CONCURRENCY`] to a fresh gateway and reads
//! its memory before, at its peak (`VmHWM`) and after, with `GET /health`
//! timed throughout.
//!
//! Three rounds, each on its own gateway (so `VmHWM` is that round's peak):
//!
//! - one registered account with a wrong password, from one address: the
//!   account's throttle (429) after the first wave;
//! - random unknown emails from one address: the address's throttle;
//! - random unknown emails, each from its own loopback address
//!   (127.0.1.x): no throttle ever applies, so only the bound on password
//!   hashing (503 with `retry-after` when its queue is full) holds memory.
//!
//! The first wave of a round passes the throttle before any failure is
//! counted (the check runs before the hash), so even the throttled rounds
//! reach the hashing bound once.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::json;

use super::gateway_process::{GatewayProcess, Memory, megabytes};
use crate::measure::Latencies;

/// Wrong logins per round (the figure: 192 at 64 took a gateway
/// from 40 MB to 3.66 GB).
pub const LOGINS: usize = 192;
/// Logins in flight at once.
pub const CONCURRENCY: usize = 64;
/// The account the first round guesses at.
const ACCOUNT: &str = "flood-target@example.com";
const PASSWORD: &str = "the-right-password-1";
/// A login waits at most this long for its answer; one that does not get
/// one counts as a transport error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between two `/health` samples.
const HEALTH_EVERY: Duration = Duration::from_millis(20);
/// Memory is read again this long after a round, to see what stays.
const SETTLE: Duration = Duration::from_secs(2);

/// Whose logins a round sends.
#[derive(Debug, Clone, Copy)]
enum Round {
    RegisteredOneAddress,
    UnknownOneAddress,
    UnknownManyAddresses,
}

impl Round {
    const ALL: [Round; 3] = [
        Round::RegisteredOneAddress,
        Round::UnknownOneAddress,
        Round::UnknownManyAddresses,
    ];

    fn label(self) -> &'static str {
        match self {
            Round::RegisteredOneAddress => "one account, wrong password, 1 address",
            Round::UnknownOneAddress => "unknown emails, 1 address",
            Round::UnknownManyAddresses => "unknown emails, 192 addresses",
        }
    }

    /// The loopback address login `index` comes from (all of 127/8 is
    /// local on Linux); the `/health` sampler uses 127.0.0.1 apart from them.
    fn source(self, index: usize) -> IpAddr {
        let spread = u8::try_from(index % 250 + 1).unwrap_or(1);
        IpAddr::V4(match self {
            Round::RegisteredOneAddress => Ipv4Addr::new(127, 0, 0, 2),
            Round::UnknownOneAddress => Ipv4Addr::new(127, 0, 0, 3),
            Round::UnknownManyAddresses => Ipv4Addr::new(127, 0, 1, spread),
        })
    }

    fn email(self) -> String {
        match self {
            Round::RegisteredOneAddress => ACCOUNT.to_owned(),
            Round::UnknownOneAddress | Round::UnknownManyAddresses => {
                format!("nobody-{}@example.com", uuid::Uuid::new_v4().simple())
            }
        }
    }
}

/// What one round measured.
pub struct RoundFigures {
    label: &'static str,
    /// Answers by status code.
    statuses: BTreeMap<u16, usize>,
    /// Logins that got no answer at all.
    transport_errors: usize,
    before: Memory,
    after: Memory,
    settled: Memory,
    health: Latencies,
    health_failed: usize,
    wall: Duration,
    /// Lines the gateway logged (at `warn` and above) during the round.
    log_lines: usize,
}

impl RoundFigures {
    fn count(&self, status: u16) -> usize {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    /// Answers other than 401, 429 and 503.
    fn others(&self) -> usize {
        self.statuses
            .iter()
            .filter(|(status, _)| ![401, 429, 503].contains(*status))
            .map(|(_, count)| count)
            .sum()
    }
}

/// Runs every round, each on a fresh gateway in `dir`.
pub async fn run(dir: &Path) -> anyhow::Result<Vec<RoundFigures>> {
    let mut all = Vec::new();
    for (index, round) in Round::ALL.into_iter().enumerate() {
        let gateway = GatewayProcess::start(dir, &format!("login-{index}"), &[]).await?;
        let figures = flood(&gateway, round).await;
        gateway.stop().await?;
        all.push(figures.with_context(|| round.label())?);
    }
    Ok(all)
}

async fn flood(gateway: &GatewayProcess, round: Round) -> anyhow::Result<RoundFigures> {
    let login_url = format!("{}/api/v1/auth/login", gateway.base_url);
    if let Round::RegisteredOneAddress = round {
        register(&gateway.base_url).await?;
    }
    // One client per source address: reqwest binds the address per client.
    let sources: Vec<IpAddr> = (0..LOGINS).map(|index| round.source(index)).collect();
    let mut clients: BTreeMap<IpAddr, reqwest::Client> = BTreeMap::new();
    for source in &sources {
        if !clients.contains_key(source) {
            let client = reqwest::Client::builder()
                .local_address(*source)
                .timeout(REQUEST_TIMEOUT)
                .build()?;
            clients.insert(*source, client);
        }
    }
    let requests: Arc<Vec<(reqwest::Client, String)>> = Arc::new(
        sources
            .iter()
            .filter_map(|source| clients.get(source).cloned())
            .map(|client| (client, round.email()))
            .collect(),
    );

    let before = gateway.memory();
    let log_lines_before = gateway.log_lines();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn(sample_health(
        format!("{}/health", gateway.base_url),
        sampling.clone(),
    ));
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let requests = requests.clone();
        let next = next.clone();
        let login_url = login_url.clone();
        workers.spawn(async move {
            let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
            let mut transport_errors = 0;
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some((client, email)) = requests.get(index) else {
                    break;
                };
                let sent = client
                    .post(&login_url)
                    .json(&json!({ "email": email, "password": "a-wrong-password" }))
                    .send()
                    .await;
                match sent {
                    Ok(response) => {
                        *statuses.entry(response.status().as_u16()).or_default() += 1;
                        // Read the body, so the connection can be reused.
                        let _ = response.bytes().await;
                    }
                    Err(_) => transport_errors += 1,
                }
            }
            (statuses, transport_errors)
        });
    }
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut transport_errors = 0;
    while let Some(joined) = workers.join_next().await {
        let (worker_statuses, worker_errors) = joined?;
        for (status, count) in worker_statuses {
            *statuses.entry(status).or_default() += count;
        }
        transport_errors += worker_errors;
    }
    let wall = started.elapsed();
    let after = gateway.memory();
    sampling.store(false, Ordering::Relaxed);
    let (health, health_failed) = sampler.await?;
    tokio::time::sleep(SETTLE).await;
    let settled = gateway.memory();
    Ok(RoundFigures {
        label: round.label(),
        statuses,
        transport_errors,
        before,
        after,
        settled,
        health,
        health_failed,
        wall,
        log_lines: gateway.log_lines() - log_lines_before,
    })
}

/// Registers [`ACCOUNT`] (from 127.0.0.1, which no round floods from).
async fn register(base_url: &str) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .post(format!("{base_url}/api/v1/auth/register"))
        .json(&json!({ "email": ACCOUNT, "password": PASSWORD }))
        .send()
        .await?;
    if response.status() != reqwest::StatusCode::ACCEPTED {
        bail!(
            "registering {ACCOUNT} answered {}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

/// `GET /health` one after the other, [`HEALTH_EVERY`] apart, until
/// `sampling` turns false: the latencies of the answered ones (200) and how
/// many were not.
async fn sample_health(url: String, sampling: Arc<AtomicBool>) -> (Latencies, usize) {
    let client = match reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build() {
        Ok(client) => client,
        Err(_) => return (Latencies::default(), 1),
    };
    let mut samples = Vec::new();
    let mut failed = 0;
    while sampling.load(Ordering::Relaxed) {
        let started = Instant::now();
        match client.get(&url).send().await {
            Ok(response) if response.status().is_success() => {
                let _ = response.bytes().await;
                samples.push(started.elapsed());
            }
            _ => failed += 1,
        }
        tokio::time::sleep(HEALTH_EVERY).await;
    }
    (Latencies::new(samples), failed)
}

pub fn print(all: &[RoundFigures]) {
    println!(
        "{:<40} {:>5} {:>5} {:>5} {:>5} {:>5} {:>10} {:>9} {:>9} {:>11} {:>8} {:>7} {:>7} {:>6} {:>5}",
        "round",
        "401",
        "429",
        "503",
        "other",
        "lost",
        "RSS before",
        "peak HWM",
        "RSS after",
        "after +2 s",
        "/health",
        "p50 ms",
        "p99 ms",
        "wall s",
        "log"
    );
    for figures in all {
        println!(
            "{:<40} {:>5} {:>5} {:>5} {:>5} {:>5} {:>7.1} MB {:>6.1} MB {:>6.1} MB {:>8.1} MB {:>4}/{:<3} {:>7.2} {:>7.2} {:>6.1} {:>5}",
            figures.label,
            figures.count(401),
            figures.count(429),
            figures.count(503),
            figures.others(),
            figures.transport_errors,
            megabytes(figures.before.resident),
            megabytes(figures.after.peak),
            megabytes(figures.after.resident),
            megabytes(figures.settled.resident),
            figures.health.len(),
            figures.health.len() + figures.health_failed,
            figures.health.percentile_ms(50.0),
            figures.health.percentile_ms(99.0),
            figures.wall.as_secs_f64(),
            figures.log_lines,
        );
    }
    let worst_peak = all
        .iter()
        .map(|figures| figures.after.peak)
        .max()
        .unwrap_or(0);
    let worst_ratio = all
        .iter()
        .filter(|figures| figures.before.resident > 0)
        .map(|figures| figures.after.peak as f64 / figures.before.resident as f64)
        .fold(0.0, f64::max);
    let other_statuses: Vec<String> = all
        .iter()
        .flat_map(|figures| figures.statuses.iter())
        .filter(|(status, _)| ![401, 429, 503].contains(*status))
        .map(|(status, count)| format!("{count} x {status}"))
        .collect();
    println!(
        "highest peak {:.1} MB (bar: under 300 MB; the issue measured 3,660 MB before the bound), \
         at most {worst_ratio:.2}x the RSS before; answers other than 401/429/503: {}",
        megabytes(worst_peak),
        if other_statuses.is_empty() {
            "none".to_owned()
        } else {
            other_statuses.join(", ")
        }
    );
}
