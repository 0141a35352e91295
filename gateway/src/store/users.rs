//! Users, spaces and memberships.
//!
//! Registering a user also creates their `personal` space and owner
//! membership, in one transaction, so a user without a personal space never
//! exists. Deleting a user cascades to memberships, personas and audit rows;
//! spaces left without any member are deleted with their records.

use std::fmt;

use catalog::SpaceType;
use chrono::{DateTime, Utc};
use registry::crypto::WrappedMasterKey;
use sqlx::FromRow;
use uuid::Uuid;

use super::{Store, StoreError, WritePool, is_unique_violation, now, with_pool};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKind {
    Human,
    Persona,
    System,
}

impl UserKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::Human => "human",
            UserKind::Persona => "persona",
            UserKind::System => "system",
        }
    }

    fn parse(text: &str) -> Result<UserKind, StoreError> {
        match text {
            "human" => Ok(UserKind::Human),
            "persona" => Ok(UserKind::Persona),
            "system" => Ok(UserKind::System),
            other => Err(StoreError::Corrupt(format!("user kind {other:?}"))),
        }
    }
}

impl fmt::Display for UserKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    fn parse(text: &str) -> Result<Role, StoreError> {
        match text {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            other => Err(StoreError::Corrupt(format!("user role {other:?}"))),
        }
    }
}

/// What registering a user needs: the password already hashed (argon2id, see
/// [`crate::password::hash_password`]) and the master key already wrapped
/// (see [`crate::accounts::register`], the one register path).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub password_hash: String,
    pub kind: UserKind,
    pub role: Role,
    pub master_key: Option<WrappedMasterKey>,
}

/// How a user's data key is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredMasterKey {
    /// Wrapped by a server key-encryption key.
    Wrapped(WrappedMasterKey),
    /// Only the user's devices hold the key; the server cannot decrypt.
    ZeroKnowledge,
    /// Neither (a user created before keys existed).
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub kind: UserKind,
    pub tier: String,
    pub role: Role,
    pub zero_knowledge: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct UserRow {
    id: String,
    email: String,
    password_hash: String,
    kind: String,
    tier: String,
    role: String,
    zero_knowledge: bool,
    created_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(row: UserRow) -> Result<User, StoreError> {
        Ok(User {
            kind: UserKind::parse(&row.kind)?,
            role: Role::parse(&row.role)?,
            id: row.id,
            email: row.email,
            password_hash: row.password_hash,
            tier: row.tier,
            zero_knowledge: row.zero_knowledge,
            created_at: row.created_at,
        })
    }
}

const USER_COLUMNS: &str = "id, email, password_hash, kind, tier, role, zero_knowledge, created_at";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Space {
    pub id: String,
    pub name: String,
    pub space_type: SpaceType,
    pub owner_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct SpaceRow {
    id: String,
    name: String,
    r#type: String,
    owner_id: Option<String>,
    created_at: DateTime<Utc>,
}

impl TryFrom<SpaceRow> for Space {
    type Error = StoreError;
    fn try_from(row: SpaceRow) -> Result<Space, StoreError> {
        Ok(Space {
            space_type: SpaceType::parse(&row.r#type)
                .map_err(|error| StoreError::Corrupt(error.to_string()))?,
            id: row.id,
            name: row.name,
            owner_id: row.owner_id,
            created_at: row.created_at,
        })
    }
}

pub(super) fn new_id() -> String {
    Uuid::now_v7().to_string()
}

impl Store {
    /// Registers a user with their personal space. A taken email (compared
    /// without case) is a [`StoreError::Conflict`].
    pub async fn create_user(&self, new_user: NewUser) -> Result<User, StoreError> {
        let user_id = new_id();
        let space_id = new_id();
        let created_at = now();
        let email = new_user.email.trim().to_owned();
        let inserted: Result<(), sqlx::Error> = with_pool!(self, |pool| {
            async {
                let mut tx = pool.begin_write().await?;
                sqlx::query(
                    "INSERT INTO users (id, email, password_hash, kind, role, created_at, \
                         wrapped_master_key, master_key_kek_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&user_id)
                .bind(&email)
                .bind(&new_user.password_hash)
                .bind(new_user.kind.as_str())
                .bind(new_user.role.as_str())
                .bind(created_at)
                .bind(new_user.master_key.as_ref().map(|key| key.sealed.as_str()))
                .bind(new_user.master_key.as_ref().map(|key| key.kek_id.as_str()))
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO spaces (id, name, type, owner_id, created_at) \
                     VALUES ($1, $2, 'personal', $3, $4)",
                )
                .bind(&space_id)
                .bind("Persönlich")
                .bind(&user_id)
                .bind(created_at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO space_members (space_id, user_id, role, joined_at) \
                     VALUES ($1, $2, 'owner', $3)",
                )
                .bind(&space_id)
                .bind(&user_id)
                .bind(created_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await
            }
            .await
        });
        match inserted {
            Ok(()) => self.user(&user_id).await,
            Err(error) if is_unique_violation(&error) => Err(StoreError::Conflict(format!(
                "a user with email {email} already exists"
            ))),
            Err(error) => Err(error.into()),
        }
    }

    pub async fn user(&self, user_id: &str) -> Result<User, StoreError> {
        let row: Option<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL"
            )))
            .bind(user_id)
            .fetch_optional(pool)
            .await?
        });
        row.ok_or_else(|| StoreError::not_found("user", user_id))?
            .try_into()
    }

    /// Finds a live user by email, ignoring case.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1) AND deleted_at IS NULL"
            )))
            .bind(email.trim())
            .fetch_optional(pool)
            .await?
        });
        row.map(User::try_from).transpose()
    }

    /// The user's stored data key.
    pub async fn stored_master_key(&self, user_id: &str) -> Result<StoredMasterKey, StoreError> {
        let row: Option<(bool, Option<String>, Option<String>)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT zero_knowledge, wrapped_master_key, master_key_kek_id FROM users \
                 WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(user_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(
            match row.ok_or_else(|| StoreError::not_found("user", user_id))? {
                (true, _, _) => StoredMasterKey::ZeroKnowledge,
                (false, Some(sealed), Some(kek_id)) => {
                    StoredMasterKey::Wrapped(WrappedMasterKey { kek_id, sealed })
                }
                _ => StoredMasterKey::Missing,
            },
        )
    }

    /// Switches a user to zero-knowledge encryption: the server forgets the
    /// wrapped key, so it can no longer decrypt their data.
    pub async fn make_zero_knowledge(&self, user_id: &str) -> Result<(), StoreError> {
        let updated = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE users SET zero_knowledge = $1, wrapped_master_key = NULL, \
                 master_key_kek_id = NULL WHERE id = $2",
            )
            .bind(true)
            .bind(user_id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if updated == 0 {
            return Err(StoreError::not_found("user", user_id));
        }
        Ok(())
    }

    pub async fn set_password_hash(
        &self,
        user_id: &str,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(user_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn set_role(&self, user_id: &str, role: Role) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
                .bind(role.as_str())
                .bind(user_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Deletes a user for good. Memberships, personas and their audit rows go
    /// with it (foreign keys), and so does every space left without members.
    pub async fn delete_user(&self, user_id: &str) -> Result<(), StoreError> {
        let deleted = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "DELETE FROM spaces WHERE NOT EXISTS \
                 (SELECT 1 FROM space_members m WHERE m.space_id = spaces.id)",
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            deleted
        });
        if deleted == 0 {
            return Err(StoreError::not_found("user", user_id));
        }
        // IMPORTANT: after the commit, so a cache that sees the new count
        // and asks the database again finds the user gone.
        self.user_deletions
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Ok(())
    }

    /// Whether a live (not deleted) user with this id exists.
    pub async fn user_exists(&self, user_id: &str) -> Result<bool, StoreError> {
        let row: Option<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT id FROM users WHERE id = $1 AND deleted_at IS NULL")
                .bind(user_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.is_some())
    }

    /// Creates a shared space with `owner_id` as its first member.
    pub async fn create_space(
        &self,
        owner_id: &str,
        name: &str,
        space_type: SpaceType,
    ) -> Result<Space, StoreError> {
        if space_type == SpaceType::Personal {
            return Err(StoreError::Conflict(
                "personal spaces are created with their user and cannot be added".into(),
            ));
        }
        let space_id = new_id();
        let created_at = now();
        let result: Result<(), sqlx::Error> = with_pool!(self, |pool| {
            async {
                let mut tx = pool.begin_write().await?;
                sqlx::query(
                    "INSERT INTO spaces (id, name, type, owner_id, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&space_id)
                .bind(name)
                .bind(space_type.as_str())
                .bind(owner_id)
                .bind(created_at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO space_members (space_id, user_id, role, joined_at) VALUES ($1, $2, 'owner', $3)",
                )
                .bind(&space_id)
                .bind(owner_id)
                .bind(created_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await
            }
            .await
        });
        match result {
            Ok(()) => self.space(&space_id).await,
            Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
                Err(StoreError::not_found("user", owner_id))
            }
            Err(error) => Err(error.into()),
        }
    }

    pub async fn space(&self, space_id: &str) -> Result<Space, StoreError> {
        let row: Option<SpaceRow> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT id, name, type, owner_id, created_at FROM spaces WHERE id = $1")
                .bind(space_id)
                .fetch_optional(pool)
                .await?
        });
        row.ok_or_else(|| StoreError::not_found("space", space_id))?
            .try_into()
    }

    /// Adds a member; adding an existing member again changes nothing and
    /// returns `false`.
    pub async fn add_space_member(
        &self,
        space_id: &str,
        user_id: &str,
    ) -> Result<bool, StoreError> {
        let result = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO space_members (space_id, user_id, role, joined_at) \
                 VALUES ($1, $2, 'member', $3) ON CONFLICT (space_id, user_id) DO NOTHING",
            )
            .bind(space_id)
            .bind(user_id)
            .bind(now())
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        });
        match result {
            Ok(inserted) => Ok(inserted == 1),
            Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
                Err(StoreError::NotFound {
                    what: "space or user",
                    id: format!("{space_id} / {user_id}"),
                })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Every space the user is a member of, personal first, then by creation.
    pub async fn spaces_of(&self, user_id: &str) -> Result<Vec<Space>, StoreError> {
        let rows: Vec<SpaceRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT s.id, s.name, s.type, s.owner_id, s.created_at FROM spaces s \
                 JOIN space_members m ON m.space_id = s.id WHERE m.user_id = $1 \
                 ORDER BY CASE WHEN s.type = 'personal' THEN 0 ELSE 1 END, s.created_at, s.id",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(Space::try_from).collect()
    }

    pub async fn personal_space(&self, user_id: &str) -> Result<Space, StoreError> {
        let row: Option<SpaceRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, name, type, owner_id, created_at FROM spaces \
                 WHERE owner_id = $1 AND type = 'personal'",
            )
            .bind(user_id)
            .fetch_optional(pool)
            .await?
        });
        row.ok_or_else(|| StoreError::not_found("personal space of user", user_id))?
            .try_into()
    }

    pub async fn is_space_member(&self, space_id: &str, user_id: &str) -> Result<bool, StoreError> {
        let (members,): (i64,) = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT COUNT(*) FROM space_members WHERE space_id = $1 AND user_id = $2",
            )
            .bind(space_id)
            .bind(user_id)
            .fetch_one(pool)
            .await?
        });
        Ok(members > 0)
    }
}
