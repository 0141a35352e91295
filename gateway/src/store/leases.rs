//! Which runner replica may tick a persona: leases and the due gate.
//!
//! A tick runs only under its persona's lease (`lease_owner`, `lease_until`).
//! The schedule takes leases with [`Store::claim_due_personas`], one
//! statement that re-checks, at the moment it writes, that each persona is
//! still due, not paused and not leased — so a replica holding a due list
//! from before another replica's tick ended never ticks the persona twice in
//! one due window. It also sets `next_due_at` to the lease's end; the tick's
//! end moves it on ([`Store::release_lease`]: the cadence, or the failure
//! backoff), and a replica that dies mid-tick frees the persona with its
//! lease.

use catalog::Cadence;
use chrono::{DateTime, Utc};

use super::{Pool, Schema, Store, StoreError, with_pool};

/// The order the schedule claims due personas in: never claimed first, then
/// the one whose due time passed longest ago (a persona claimed but not
/// started moves to the back), then the longest inactive.
const CLAIM_ORDER: &str =
    "p.next_due_at ASC NULLS FIRST, p.last_active_at ASC NULLS FIRST, p.user_id";

/// The due rules of `catalog::due` at one instant, as SQL and its binds.
pub(super) struct DueAt {
    pub(super) now: DateTime<Utc>,
    pub(super) weekday: bool,
    pub(super) hourly_cutoff: DateTime<Utc>,
    pub(super) daily_cutoff: DateTime<Utc>,
}

/// Binds a [`DueAt`]'s values in the order of [`DueAt::predicate`].
macro_rules! bind_due {
    ($query:expr, $due:expr) => {
        $query
            .bind(false)
            .bind($due.now)
            .bind($due.weekday)
            .bind($due.hourly_cutoff)
            .bind($due.daily_cutoff)
    };
}
pub(super) use bind_due;

impl DueAt {
    pub(super) fn new(now: DateTime<Utc>) -> DueAt {
        DueAt {
            now,
            weekday: catalog::due::runs_on(Cadence::Weekdays, now),
            hourly_cutoff: now - catalog::due::min_interval(Cadence::Hourly),
            daily_cutoff: now - catalog::due::min_interval(Cadence::Daily),
        }
    }

    /// The condition on the persona rows (`Schema::personas_from`), its
    /// placeholders numbered from `$first` (five of them, bound by
    /// [`bind_due!`]).
    pub(super) fn predicate(schema: Schema, first: usize) -> String {
        let [paused, now, weekday, hourly, daily] = [0, 1, 2, 3, 4].map(|i| first + i);
        format!(
            "p.paused = ${paused} AND {} \
             AND (p.lease_until IS NULL OR p.lease_until <= ${now}) \
             AND (p.next_due_at IS NULL OR p.next_due_at <= ${now}) \
             AND (p.tick_cadence <> 'weekdays' OR ${weekday}) \
             AND (p.last_active_at IS NULL \
                  OR (p.tick_cadence = 'hourly' AND p.last_active_at <= ${hourly}) \
                  OR (p.tick_cadence <> 'hourly' AND p.last_active_at <= ${daily}))",
            schema.live()
        )
    }
}

impl Store {
    /// Takes the leases of up to `limit` due personas for `owner` until
    /// `until` and returns their ids (in no particular order). One
    /// statement: the candidates are picked once (a materialised CTE, so the
    /// limit holds) and, on PostgreSQL, locked with `SKIP LOCKED` — replicas
    /// claiming at once take different personas and none waits; on SQLite
    /// the single writer serialises it. The longest-unclaimed go first
    /// ([`CLAIM_ORDER`]), so personas claimed but never started (a budget
    /// spent, an actor that cannot tick) cannot starve the rest.
    pub async fn claim_due_personas(
        &self,
        owner: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // IMPORTANT: the one statement in the store whose SQL differs by
        // engine: SQLite has no row locks to skip.
        let lock = match &self.pool {
            Pool::Postgres(_) => "FOR UPDATE OF p SKIP LOCKED",
            Pool::Sqlite(_) => "",
        };
        let sql = format!(
            "WITH picked AS MATERIALIZED (\
               SELECT p.user_id AS picked_id FROM {} \
               WHERE {} ORDER BY {CLAIM_ORDER} LIMIT $8 {lock}) \
             UPDATE personas SET lease_owner = $1, lease_until = $2, next_due_at = $2 \
             FROM picked WHERE user_id = picked.picked_id \
             RETURNING user_id",
            self.schema.personas_from(),
            DueAt::predicate(self.schema, 3)
        );
        let due = DueAt::new(now);
        let claimed: Vec<(String,)> = with_pool!(self, |pool| {
            bind_due!(
                sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(owner)
                    .bind(until),
                due
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        Ok(claimed.into_iter().map(|(id,)| id).collect())
    }

    /// Renews `owner`'s lease on a persona until `until` only while it is
    /// still `owner`'s and unexpired: a scheduled tick that waited past its
    /// lease must not take the persona back from a replica that ticked it
    /// meanwhile. Returns whether `owner` still holds it.
    pub async fn renew_lease(
        &self,
        persona_id: &str,
        owner: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.update_lease(
            "UPDATE personas SET lease_until = $2 \
             WHERE user_id = $3 AND lease_owner = $1 AND lease_until > $4",
            persona_id,
            owner,
            until,
            now,
        )
        .await
    }

    /// Takes (or renews) the lease on a persona for `owner` until `until`:
    /// free, expired, or already this owner's. Returns whether `owner` holds
    /// it now. One conditional UPDATE, so two replicas can never both win.
    /// Due-ness is not checked: an operator's "tick now" uses it.
    pub async fn claim_lease(
        &self,
        persona_id: &str,
        owner: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.update_lease(
            "UPDATE personas SET lease_owner = $1, lease_until = $2 \
             WHERE user_id = $3 AND (lease_until IS NULL OR lease_until <= $4 OR lease_owner = $1)",
            persona_id,
            owner,
            until,
            now,
        )
        .await
    }

    /// Runs a one-persona lease `UPDATE` binding `$1` owner, `$2` until,
    /// `$3` the persona and `$4` now; whether it changed the row.
    async fn update_lease(
        &self,
        sql: &'static str,
        persona_id: &str,
        owner: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = with_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(owner)
                .bind(until)
                .bind(persona_id)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(updated == 1)
    }

    /// Gives a lease back; only its owner can. `next_due_at`, when given,
    /// is when the schedule may claim the persona again (its tick's end
    /// decides: the cadence, or the failure backoff).
    pub async fn release_lease(
        &self,
        persona_id: &str,
        owner: &str,
        next_due_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE personas SET lease_owner = NULL, lease_until = NULL, \
                        next_due_at = COALESCE($3, next_due_at) \
                 WHERE user_id = $1 AND lease_owner = $2",
            )
            .bind(persona_id)
            .bind(owner)
            .bind(next_due_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
