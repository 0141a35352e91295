//! Personas: stamping a registered user as a persona, list, detail, delete
//! (personas only), pause, memory, and the due query (its rules in
//! `leases`).

use std::collections::BTreeMap;

use catalog::{ActionRow, Archetype, Cadence, ModuleMix, PersonaSpec};
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use sqlx::types::Json;

use super::audit::ActionDbRow;
use super::leases::{DueAt, bind_due};
use super::users::UserKind;
use super::{Schema, Store, StoreError, WritePool, now, to_u64, with_pool};

/// How many recent actions [`Store::persona_detail`] returns.
pub const RECENT_ACTIONS_IN_DETAIL: i64 = 20;

/// A persona as stored, with its user's email.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonaRow {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub archetype: Archetype,
    pub system_prompt: String,
    pub module_mix: ModuleMix,
    pub cadence: Cadence,
    pub paused: bool,
    pub last_active_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct PersonaDbRow {
    user_id: String,
    email: String,
    name: String,
    archetype: String,
    system_prompt: String,
    module_mix: Json<BTreeMap<String, f64>>,
    tick_cadence: String,
    paused: bool,
    last_active_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<PersonaDbRow> for PersonaRow {
    type Error = StoreError;
    fn try_from(row: PersonaDbRow) -> Result<PersonaRow, StoreError> {
        let corrupt = |error: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("persona {}: {error}", row.user_id))
        };
        Ok(PersonaRow {
            archetype: Archetype::parse(&row.archetype).map_err(|e| corrupt(&e))?,
            cadence: Cadence::parse(&row.tick_cadence).map_err(|e| corrupt(&e))?,
            module_mix: ModuleMix::new(row.module_mix.0.clone()).map_err(|e| corrupt(&e))?,
            user_id: row.user_id,
            email: row.email,
            name: row.name,
            system_prompt: row.system_prompt,
            paused: row.paused,
            last_active_at: row.last_active_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The columns of a [`PersonaDbRow`] (`p`, with its email).
fn persona_columns(schema: Schema) -> String {
    format!(
        "p.user_id, {} AS email, p.name, p.archetype, p.system_prompt, \
         p.module_mix, p.tick_cadence, p.paused, p.last_active_at, p.created_at, p.updated_at",
        schema.email()
    )
}

/// `SELECT` of every [`PersonaDbRow`] column `FROM` the persona rows.
fn persona_select(schema: Schema) -> String {
    format!(
        "SELECT {} FROM {}",
        persona_columns(schema),
        schema.personas_from()
    )
}

/// An upsert's conflict clause: the catalog's fields are written only when
/// one of them changed, so re-seeding an unchanged catalog touches no row.
const SPEC_CHANGED: &str = "ON CONFLICT (user_id) DO UPDATE SET name = excluded.name, \
     archetype = excluded.archetype, system_prompt = excluded.system_prompt, \
     module_mix = excluded.module_mix, tick_cadence = excluded.tick_cadence, \
     updated_at = excluded.updated_at \
     WHERE personas.name <> excluded.name OR personas.archetype <> excluded.archetype \
     OR personas.system_prompt <> excluded.system_prompt \
     OR personas.module_mix <> excluded.module_mix \
     OR personas.tick_cadence <> excluded.tick_cadence";

/// The order due personas are served in: never-run first, then the
/// longest-waiting (`catalog::due::due_order`).
const DUE_ORDER: &str = "p.last_active_at ASC NULLS FIRST, p.user_id";

/// A persona in the admin list.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonaSummary {
    pub persona: PersonaRow,
    /// Tool calls made in the 7 days before the list was asked for.
    pub actions_last_7_days: u64,
}

/// Average rating of one module (parse-failure rows excluded).
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleRating {
    pub module: String,
    pub average: f64,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PersonaDetail {
    pub persona: PersonaRow,
    /// The newest actions first, at most [`RECENT_ACTIONS_IN_DETAIL`].
    pub recent_actions: Vec<ActionRow>,
    pub module_ratings: Vec<ModuleRating>,
}

#[derive(FromRow)]
struct ModuleRatingRow {
    module: String,
    average: f64,
    count: i64,
}

impl Store {
    /// Marks a registered user as a persona and writes the persona row from
    /// the spec; returns whether anything changed. Registration itself goes
    /// through [`crate::accounts`], the same path as every user.
    pub async fn stamp_persona(
        &self,
        user_id: &str,
        spec: &PersonaSpec,
    ) -> Result<bool, StoreError> {
        if self.schema != Schema::App {
            return Err(StoreError::AppOnly("making a user a persona"));
        }
        let module_mix = Json(BTreeMap::from(spec.module_mix.clone()));
        let at = now();
        let changed = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let kind_changed = sqlx::query(
                "UPDATE users SET kind = 'persona', tier = 'founder' WHERE id = $1 AND kind <> 'persona'",
            )
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let written = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO personas (user_id, name, archetype, system_prompt, module_mix, \
                     tick_cadence, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7) {SPEC_CHANGED}"
            )))
            .bind(user_id)
            .bind(&spec.name)
            .bind(spec.archetype.as_str())
            .bind(&spec.system_prompt)
            .bind(&module_mix)
            .bind(spec.cadence.as_str())
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            kind_changed + written > 0
        });
        Ok(changed)
    }

    /// Writes a persona of the runner's own schema from its catalog spec,
    /// keyed by its lower-cased email; returns its id and whether anything
    /// changed. (On the app's schema a persona is a user: [`Store::stamp_persona`].)
    pub async fn upsert_own_persona(
        &self,
        spec: &PersonaSpec,
    ) -> Result<(String, bool), StoreError> {
        if self.schema != Schema::Runner {
            return Err(StoreError::WrongSchema {
                holds: self.schema,
                wanted: Schema::Runner,
            });
        }
        let id = spec.email.to_lowercase();
        let module_mix = Json(BTreeMap::from(spec.module_mix.clone()));
        let at = now();
        let written = with_pool!(self, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO personas (user_id, email, name, archetype, system_prompt, module_mix, \
                     tick_cadence, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) {SPEC_CHANGED}"
            )))
            .bind(&id)
            .bind(&spec.email)
            .bind(&spec.name)
            .bind(spec.archetype.as_str())
            .bind(&spec.system_prompt)
            .bind(&module_mix)
            .bind(spec.cadence.as_str())
            .bind(at)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok((id, written > 0))
    }

    pub async fn persona(&self, user_id: &str) -> Result<PersonaRow, StoreError> {
        let row: Option<PersonaDbRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{} WHERE p.user_id = $1",
                persona_select(self.schema)
            )))
            .bind(user_id)
            .fetch_optional(pool)
            .await?
        });
        row.ok_or_else(|| StoreError::not_found("persona", user_id))?
            .try_into()
    }

    /// Looks a persona up by its user id or, failing that, its email.
    pub async fn persona_by_id_or_email(&self, key: &str) -> Result<PersonaRow, StoreError> {
        let row: Option<PersonaDbRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{} WHERE p.user_id = $1 OR lower({}) = lower($1)",
                persona_select(self.schema),
                self.schema.email()
            )))
            .bind(key.trim())
            .fetch_optional(pool)
            .await?
        });
        row.ok_or_else(|| StoreError::not_found("persona", key))?
            .try_into()
    }

    /// Every persona by name, with its tool calls of the last 7 days before `now`.
    pub async fn list_personas(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<PersonaSummary>, StoreError> {
        #[derive(FromRow)]
        struct Row {
            #[sqlx(flatten)]
            persona: PersonaDbRow,
            actions_last_7_days: i64,
        }
        let since = super::error_rates::last_7_days(now);
        let rows: Vec<Row> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {}, \
                     (SELECT COUNT(*) FROM persona_actions a \
                      WHERE a.persona_id = p.user_id AND a.created_at >= $1) AS actions_last_7_days \
                 FROM {} ORDER BY p.name, p.user_id",
                persona_columns(self.schema),
                self.schema.personas_from()
            )))
            .bind(since)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|row| {
                Ok(PersonaSummary {
                    persona: row.persona.try_into()?,
                    actions_last_7_days: to_u64(row.actions_last_7_days, "action count")?,
                })
            })
            .collect()
    }

    /// The persona with its newest actions and per-module rating averages.
    pub async fn persona_detail(&self, user_id: &str) -> Result<PersonaDetail, StoreError> {
        let persona = self.persona(user_id).await?;
        let (actions, ratings): (Vec<ActionDbRow>, Vec<ModuleRatingRow>) = with_pool!(
            self,
            |pool| {
                let actions = sqlx::query_as(
                    "SELECT tick_id, action_idx, tool_use_id, tool_name, input_hash, result, \
                     error_message, failed_by, latency_ms, created_at \
                 FROM persona_actions WHERE persona_id = $1 \
                 ORDER BY created_at DESC, tick_id DESC, action_idx DESC LIMIT $2",
                )
                .bind(user_id)
                .bind(RECENT_ACTIONS_IN_DETAIL)
                .fetch_all(pool)
                .await?;
                let ratings = sqlx::query_as(
                "SELECT module, CAST(AVG(rating) AS DOUBLE PRECISION) AS average, COUNT(*) AS count \
                 FROM persona_feedback WHERE persona_id = $1 AND module <> $2 \
                 GROUP BY module ORDER BY module",
            )
            .bind(user_id)
            .bind(catalog::PARSE_FAILURE_MODULE)
            .fetch_all(pool)
            .await?;
                (actions, ratings)
            }
        );
        Ok(PersonaDetail {
            persona,
            recent_actions: actions
                .into_iter()
                .map(ActionRow::try_from)
                .collect::<Result<_, _>>()?,
            module_ratings: ratings
                .into_iter()
                .map(|row| {
                    Ok(ModuleRating {
                        count: to_u64(row.count, "rating count")?,
                        module: row.module,
                        average: row.average,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
        })
    }

    /// Deletes a persona's user and everything it owns; refuses any user that
    /// is not a persona, since an admin typo here would delete a real account.
    pub async fn delete_persona(&self, user_id: &str) -> Result<(), StoreError> {
        let user = self.user(user_id).await?;
        if user.kind != UserKind::Persona {
            return Err(StoreError::NotPersona {
                id: user.id,
                kind: user.kind.to_string(),
            });
        }
        self.delete_user(user_id).await
    }

    /// Pauses or resumes a persona; the flag survives restarts.
    pub async fn set_persona_paused(&self, user_id: &str, paused: bool) -> Result<(), StoreError> {
        let updated = with_pool!(self, |pool| {
            sqlx::query("UPDATE personas SET paused = $1 WHERE user_id = $2")
                .bind(paused)
                .bind(user_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if updated == 0 {
            return Err(StoreError::not_found("persona", user_id));
        }
        Ok(())
    }

    /// The persona's memory ("the story so far") and when it was written;
    /// `None` until a tick wrote one or after a reset.
    pub async fn persona_memory(
        &self,
        user_id: &str,
    ) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
        let row: Option<(Option<String>, Option<DateTime<Utc>>)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT memory, memory_updated_at FROM personas WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(pool)
                .await?
        });
        match row {
            None => Err(StoreError::not_found("persona", user_id)),
            Some((Some(memory), Some(at))) => Ok(Some((memory, at))),
            Some(_) => Ok(None),
        }
    }

    /// Replaces the persona's memory (`None`: forgets it).
    pub async fn set_persona_memory(
        &self,
        user_id: &str,
        memory: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let updated = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE personas SET memory = $1, memory_updated_at = $2 WHERE user_id = $3",
            )
            .bind(memory)
            .bind(memory.map(|_| now))
            .bind(user_id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if updated == 0 {
            return Err(StoreError::not_found("persona", user_id));
        }
        Ok(())
    }

    /// Personas due at `now` (the rules of `catalog::due`, and not before
    /// their `next_due_at`), never-run first, then the longest-waiting;
    /// paused personas and those whose lease is held are left out.
    pub async fn due_personas(&self, now: DateTime<Utc>) -> Result<Vec<PersonaRow>, StoreError> {
        let due = DueAt::new(now);
        let rows: Vec<PersonaDbRow> = with_pool!(self, |pool| {
            bind_due!(
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{} WHERE {} ORDER BY {DUE_ORDER}",
                    persona_select(self.schema),
                    DueAt::predicate(self.schema, 1)
                ))),
                due
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(PersonaRow::try_from).collect()
    }
}
