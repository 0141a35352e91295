//! What the runner replicas on one database share: the fleet's kill-switch
//! (one row: on or off, who set it, when and why; it survives restarts) and
//! a heartbeat row per replica, whose count splits the fleet's LLM quota.

use catalog::internal_api::{FleetSwitch, FleetView, MISSED_BEATS, Replica, ReplicaBeat};
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{Store, StoreError, to_u64, with_pool};

#[derive(FromRow)]
struct SwitchDbRow {
    paused: bool,
    reason: String,
    set_by: String,
    set_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct ReplicaDbRow {
    id: String,
    host: String,
    started_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    ticking: i64,
}

impl TryFrom<ReplicaDbRow> for Replica {
    type Error = StoreError;
    fn try_from(row: ReplicaDbRow) -> Result<Replica, StoreError> {
        Ok(Replica {
            ticking: to_u64(row.ticking, "replica ticking")?,
            id: row.id,
            host: row.host,
            started_at: row.started_at,
            last_seen_at: row.last_seen_at,
        })
    }
}

impl Store {
    /// The kill-switch and the replicas alive at `now`.
    pub async fn fleet_view(&self, now: DateTime<Utc>) -> Result<FleetView, StoreError> {
        Ok(FleetView {
            switch: self.fleet_switch().await?,
            replicas: self.live_replicas(now).await?,
        })
    }

    /// The fleet's kill-switch; `None` when it was never set.
    pub async fn fleet_switch(&self) -> Result<Option<FleetSwitch>, StoreError> {
        let row: Option<SwitchDbRow> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT paused, reason, set_by, set_at FROM fleet_switch WHERE id = 1")
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|row| FleetSwitch {
            paused: row.paused,
            reason: row.reason,
            set_by: row.set_by,
            set_at: row.set_at,
        }))
    }

    /// Sets or lifts the fleet's kill-switch.
    pub async fn set_fleet_switch(&self, switch: &FleetSwitch) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO fleet_switch (id, paused, reason, set_by, set_at) \
                 VALUES (1, $1, $2, $3, $4) \
                 ON CONFLICT (id) DO UPDATE SET paused = excluded.paused, \
                   reason = excluded.reason, set_by = excluded.set_by, set_at = excluded.set_at",
            )
            .bind(switch.paused)
            .bind(&switch.reason)
            .bind(&switch.set_by)
            .bind(switch.set_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Records a replica's heartbeat at `now` (its row is created on the
    /// first); it counts as dead after [`MISSED_BEATS`] of its periods.
    pub async fn replica_heartbeat(
        &self,
        beat: &ReplicaBeat,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let ticking = i64::try_from(beat.ticking).unwrap_or(i64::MAX);
        let period =
            chrono::TimeDelta::milliseconds(i64::try_from(beat.period_ms).unwrap_or(i64::MAX / 4))
                .min(chrono::TimeDelta::days(1));
        let expires_at = now + period * MISSED_BEATS as i32;
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO runner_replicas (id, host, started_at, last_seen_at, expires_at, ticking) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (id) DO UPDATE SET host = excluded.host, \
                   last_seen_at = excluded.last_seen_at, expires_at = excluded.expires_at, \
                   ticking = excluded.ticking",
            )
            .bind(&beat.id)
            .bind(&beat.host)
            .bind(beat.started_at)
            .bind(now)
            .bind(expires_at)
            .bind(ticking)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The replicas alive at `now`, oldest first; rows dead for a day are
    /// deleted on the way, so the table holds no history.
    pub async fn live_replicas(&self, now: DateTime<Utc>) -> Result<Vec<Replica>, StoreError> {
        let forgotten = now - chrono::TimeDelta::days(1);
        let rows: Vec<ReplicaDbRow> = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM runner_replicas WHERE expires_at < $1")
                .bind(forgotten)
                .execute(pool)
                .await?;
            sqlx::query_as(
                "SELECT id, host, started_at, last_seen_at, ticking \
                 FROM runner_replicas WHERE expires_at > $1 ORDER BY started_at, id",
            )
            .bind(now)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(Replica::try_from).collect()
    }

    /// Removes a replica's row (it stopped cleanly); its quota share goes to
    /// the others at their next heartbeat.
    pub async fn remove_replica(&self, id: &str) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM runner_replicas WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
