//! The one register path, used by humans and personas alike: hash the
//! password, create and wrap a master key, create the user with their
//! personal space. Persona upsert builds on it and then stamps the user.

use catalog::{PersonaSpec, SpaceType};
use registry::crypto::{Keyring, MasterKey};

use crate::password::{hash_password, verify_password};
use crate::store::{NewUser, Role, Store, StoreError, User, UserKind};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("creating the user's encryption key failed: {0}")]
    Crypto(#[from] registry::crypto::CryptoError),
}

/// Registers a user: argon2id password hash, a fresh master key wrapped by
/// the keyring's current KEK, and a personal space.
pub async fn register(
    store: &Store,
    keyring: &Keyring,
    email: &str,
    password: &str,
    role: Role,
) -> Result<User, AccountError> {
    let password_hash = hash_password(password.to_owned())
        .await
        .map_err(StoreError::from)?;
    register_hashed(store, keyring, email, password_hash, role).await
}

/// [`register`] with the password already hashed (the register route hashes
/// within its bound, `AppState::passwords`). A taken email is
/// `StoreError::Conflict`, found only after the master key is made, so that
/// case costs about what a new account does.
pub async fn register_hashed(
    store: &Store,
    keyring: &Keyring,
    email: &str,
    password_hash: String,
    role: Role,
) -> Result<User, AccountError> {
    let master_key = keyring.wrap(&MasterKey::generate()?)?;
    let user = store
        .create_user(NewUser {
            email: email.to_owned(),
            password_hash,
            kind: UserKind::Human,
            role,
            master_key: Some(master_key),
        })
        .await?;
    Ok(user)
}

/// What [`upsert_persona`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    /// A new user and persona were created.
    Created,
    /// The persona existed and something (profile or password) changed.
    Updated,
    /// The persona already matched the spec exactly.
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonaUpsert {
    pub user_id: String,
    pub outcome: UpsertOutcome,
}

/// Creates or updates the persona a catalog entry describes.
///
/// A new email is registered through [`register`], exactly like a human, and
/// then stamped `kind = persona`. An existing persona gets its profile and,
/// when it no longer verifies (the seed secret was rotated), its password
/// updated. An email that belongs to a human or system user is refused:
/// turning a real account into a test persona would be a silent disaster.
pub async fn upsert_persona(
    store: &Store,
    keyring: &Keyring,
    spec: &PersonaSpec,
    password: &str,
) -> Result<PersonaUpsert, AccountError> {
    let (user, mut outcome) = match store.user_by_email(&spec.email).await? {
        Some(user) if user.kind != UserKind::Persona => {
            return Err(StoreError::Conflict(format!(
                "{} belongs to a {} user; refusing to turn it into a persona",
                spec.email, user.kind
            ))
            .into());
        }
        Some(user) => {
            let verifies = verify_password(password.to_owned(), user.password_hash.clone())
                .await
                .map_err(StoreError::from)?;
            if !verifies {
                let password_hash = hash_password(password.to_owned())
                    .await
                    .map_err(StoreError::from)?;
                store.set_password_hash(&user.id, &password_hash).await?;
            }
            (
                user,
                if verifies {
                    UpsertOutcome::Unchanged
                } else {
                    UpsertOutcome::Updated
                },
            )
        }
        None => (
            register(store, keyring, &spec.email, password, Role::User).await?,
            UpsertOutcome::Created,
        ),
    };
    let profile_changed = store.stamp_persona(&user.id, spec).await?;
    if profile_changed && outcome == UpsertOutcome::Unchanged {
        outcome = UpsertOutcome::Updated;
    }
    Ok(PersonaUpsert {
        user_id: user.id,
        outcome,
    })
}

/// Makes sure an admin account with this email and password exists: creates
/// it through [`register`], or promotes the existing user and resets the
/// password to the configured one.
pub async fn ensure_admin(
    store: &Store,
    keyring: &Keyring,
    email: &str,
    password: &str,
) -> Result<User, AccountError> {
    match store.user_by_email(email).await? {
        None => register(store, keyring, email, password, Role::Admin).await,
        Some(user) => {
            if !verify_password(password.to_owned(), user.password_hash.clone())
                .await
                .map_err(StoreError::from)?
            {
                let password_hash = hash_password(password.to_owned())
                    .await
                    .map_err(StoreError::from)?;
                store.set_password_hash(&user.id, &password_hash).await?;
            }
            if user.role != Role::Admin {
                store.set_role(&user.id, Role::Admin).await?;
            }
            Ok(store.user(&user.id).await?)
        }
    }
}

/// Makes sure a shared space named `name` of `space_type` exists with these
/// members (the first owns it); returns its id and whether anything changed.
/// Idempotent, so seeding can run any number of times.
pub async fn ensure_shared_space(
    store: &Store,
    name: &str,
    space_type: SpaceType,
    member_ids: &[String],
) -> Result<(String, bool), AccountError> {
    let Some(owner) = member_ids.first() else {
        return Err(StoreError::Conflict("a shared space needs at least one member".into()).into());
    };
    let existing = store
        .spaces_of(owner)
        .await?
        .into_iter()
        .find(|space| space.name == name && space.space_type == space_type);
    let (space, mut changed) = match existing {
        Some(space) => (space, false),
        None => (store.create_space(owner, name, space_type).await?, true),
    };
    for member in &member_ids[1..] {
        changed |= store.add_space_member(&space.id, member).await?;
    }
    Ok((space.id, changed))
}
