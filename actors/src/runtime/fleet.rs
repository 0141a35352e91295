//! What the runner replicas on one database share, and how a replica keeps
//! in step with it.
//!
//! - The kill-switch is the fleet's: an operator's pause on any replica is
//!   stored ([`Fleet::set_switch`], with who, when and why) and every other
//!   replica obeys it at its next schedule pass; it survives restarts.
//! - Each schedule pass starts with a heartbeat ([`Fleet::heartbeat`]),
//!   which answers the switch and the live replicas. A replica missing
//!   three of its passes counts as dead.
//! - The fleet's LLM quota (`PERSONA_LLM_RPM`) is split equally among the
//!   live replicas ([`llm_share`]); a replica that joins or dies changes
//!   every replica's share at its next pass. Concurrency stays per replica:
//!   it is the machine's.

use std::time::Duration;

use async_trait::async_trait;
use catalog::internal_api::{FleetSwitch, FleetView, ReplicaBeat};

use super::BackendError;

/// Where the fleet's switch and the replicas' heartbeats are kept: the
/// store's tables, or the app's internal API.
#[async_trait]
pub trait Fleet: Send + Sync + 'static {
    /// Records that this replica is alive and answers the fleet's state.
    async fn heartbeat(&self, beat: &ReplicaBeat) -> Result<FleetView, BackendError>;
    /// The fleet's state, read without a heartbeat.
    async fn view(&self) -> Result<FleetView, BackendError>;
    /// Sets or lifts the kill-switch for every replica.
    async fn set_switch(&self, switch: &FleetSwitch) -> Result<FleetView, BackendError>;
    /// This replica stopped cleanly: its row goes, and its quota share with it.
    async fn leave(&self, replica_id: &str) -> Result<(), BackendError>;
}

/// One replica's share of the fleet's LLM requests per minute, among
/// `replicas` live ones (at least this one).
pub fn llm_share(fleet_per_minute: u32, replicas: usize) -> f64 {
    f64::from(fleet_per_minute) / replicas.max(1) as f64
}

/// This replica's heartbeat: its name and host, when it started, the ticks
/// it runs and how often it beats.
pub(crate) fn beat(
    replica_id: &str,
    started_at: chrono::DateTime<chrono::Utc>,
    ticking: usize,
    period: Duration,
) -> ReplicaBeat {
    ReplicaBeat {
        id: replica_id.to_owned(),
        host: host_name(),
        started_at,
        ticking: ticking as u64,
        period_ms: period.as_millis().try_into().unwrap_or(u64::MAX),
    }
}

/// The machine's name as the kernel reports it; "unknown" where it does not.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fleet_quota_splits_equally_among_live_replicas() {
        assert_eq!(llm_share(60, 3), 20.0);
        assert_eq!(llm_share(50, 0), 50.0, "at least this replica");
        assert!((llm_share(50, 3) * 3.0 - 50.0).abs() < 1e-9);
    }
}
