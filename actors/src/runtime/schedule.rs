//! One schedule pass, run in a task the supervisor spawns (never in its
//! handler): a heartbeat that brings the fleet's kill-switch and live
//! replicas to the dispatcher, the sweep of ticks a dead replica left
//! `running`, then — when nothing holds ticks back — the atomic claim of as
//! many due personas as this replica has free permits.
//!
//! Claiming no more than the free permits keeps the rest for the other
//! replicas: a claimed persona waits for nothing but its permit.

use std::time::Duration;

use super::RuntimeEnv;
use super::dispatcher::DispatcherMsg;
use super::fleet;

/// Runs one pass; returns the personas claimed for this replica, whose
/// ticks the supervisor starts.
pub(crate) async fn pass(env: &RuntimeEnv, period: Duration) -> Vec<String> {
    let status = *env.dispatcher_status.borrow();
    let beat = fleet::beat(
        &env.replica_id,
        env.started_at,
        status.permits_in_use,
        period,
    );
    match env.fleet.heartbeat(&beat).await {
        Ok(view) => {
            let paused = view.paused();
            let _ = env.dispatcher.cast(DispatcherMsg::FleetSeen {
                paused,
                replicas: view.replicas.len(),
                after: status.switch_commands,
            });
            if paused {
                return Vec::new();
            }
        }
        // The last known state holds: a database that is down for a moment
        // neither lifts nor sets the kill-switch.
        Err(error) => {
            tracing::warn!(%error, "the heartbeat failed; this pass goes by the fleet's last known state")
        }
    }
    match env.ledger.abort_stale(super::STALE_TICK_REASON).await {
        Ok(0) => {}
        Ok(aborted) => tracing::warn!(
            aborted,
            "ticks a stopped replica left running are now aborted"
        ),
        Err(error) => {
            tracing::warn!(%error, "looking for ticks a stopped replica left running failed")
        }
    }
    let status = *env.dispatcher_status.borrow();
    if status.paused || status.draining {
        return Vec::new();
    }
    let free = status
        .concurrency
        .saturating_sub(status.permits_in_use + status.waiting_for_permit);
    if free == 0 {
        return Vec::new();
    }
    let limit = u32::try_from(free).unwrap_or(u32::MAX);
    match env
        .ledger
        .claim_due(&env.replica_id, env.lease, limit)
        .await
    {
        Ok(claimed) => claimed,
        Err(error) => {
            tracing::warn!(%error, "claiming the due personas failed");
            Vec::new()
        }
    }
}
