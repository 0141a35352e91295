//! Login password hashing with argon2id (the crate's recommended parameters).
//!
//! Hashing is deliberately slow, so it runs on the blocking pool rather than
//! stalling an async worker thread. Each hash or verification also holds
//! 19 MiB while it runs, so the HTTP routes go through [`PasswordWork`]:
//! at most one hash per core runs at once, a bounded number wait for their
//! turn, and a request beyond that is refused at once
//! ([`PasswordError::Busy`], answered 503 with `retry-after`) instead of
//! queueing more memory. A login flood then costs refusals, not gigabytes.
//!
//! The bounded path also reuses each hash's 19 MiB of argon2 blocks
//! ([`BlockPool`]) instead of allocating them anew: freed, glibc's malloc
//! keeps such blocks in its arenas once its adaptive mmap threshold has
//! risen, and a login flood left a gateway at ~390 MB (measured by
//! `persona-bench abuse`). With one buffer per running hash, the memory is
//! the same few tens of MB however many logins come.
//! The free functions [`hash_password`] and [`verify_password`] are
//! unbounded; only the operator's own paths use them (seeding, the admin
//! bootstrap, benches), never a route anyone can call.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Block, Params, Version};
use password_hash::rand_core::OsRng;
use password_hash::{Output, ParamsString, PasswordHash, SaltString};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the password hashing task did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Every slot to run or wait for a hash is taken; try again shortly.
    #[error("too many password checks at once; try again shortly")]
    Busy,
}

/// Bounds the argon2 work the routes may start: how many hashes run at once
/// and how many may wait for a turn.
pub struct PasswordWork {
    /// One permit per hash allowed to run. Sized to the cores: argon2 is
    /// CPU-bound, so more at once only adds 19 MiB each and finishes none
    /// sooner.
    running: Arc<Semaphore>,
    /// One permit per hash running or waiting. A request that finds none
    /// left is refused with [`PasswordError::Busy`] rather than queued, so
    /// the queue (a task and a password each) stays bounded too.
    admitted: Arc<Semaphore>,
    /// argon2's working memory, one buffer per hash that ran at once.
    blocks: Arc<BlockPool>,
}

/// argon2 block buffers kept for reuse: at most one per running hash, since
/// a hash takes one while it runs and gives it back after.
#[derive(Default)]
pub struct BlockPool {
    free: std::sync::Mutex<Vec<Vec<Block>>>,
}

impl BlockPool {
    /// A buffer of at least `count` blocks (a kept one when it is big enough).
    fn take(&self, count: usize) -> Vec<Block> {
        let kept = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        match kept {
            Some(blocks) if blocks.len() >= count => blocks,
            _ => vec![Block::default(); count],
        }
    }

    fn give_back(&self, blocks: Vec<Block>) {
        self.free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(blocks);
    }
}

impl PasswordWork {
    /// Hashes that may wait per running one: a fleet's personas logging in
    /// at the same moment wait, a flood beyond that is refused.
    pub const WAITING_PER_RUNNING: usize = 8;

    /// At most `running` hashes at once and `waiting` more waiting.
    pub fn new(running: usize, waiting: usize) -> PasswordWork {
        let running = running.max(1);
        PasswordWork {
            running: Arc::new(Semaphore::new(running)),
            admitted: Arc::new(Semaphore::new(running + waiting)),
            blocks: Arc::default(),
        }
    }

    /// [`hash_password`] within the bounds.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let pool = self.blocks.clone();
        self.run(move || hash_reusing(&password, &pool)).await?
    }

    /// [`verify_password`] within the bounds.
    pub async fn verify(
        &self,
        password: String,
        stored_hash: String,
    ) -> Result<bool, PasswordError> {
        let pool = self.blocks.clone();
        self.run(move || verify_reusing(&password, &stored_hash, &pool))
            .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| PasswordError::Busy)?;
        let running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Busy)?;
        // IMPORTANT: the permits move into the blocking task. A client that
        // hangs up drops this future, but the blocking task runs to its end
        // (and holds its 19 MiB) regardless; releasing its slot earlier
        // would let a hang-up flood start unbounded hashes.
        let outcome = tokio::task::spawn_blocking(move || {
            let _permits = (admitted, running);
            work()
        })
        .await?;
        Ok(outcome)
    }
}

/// Hashes `password` into a PHC string (`$argon2id$v=19$…`), unbounded.
pub async fn hash_password(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || hash_now(&password)).await?
}

/// Whether `password` matches the stored PHC string, unbounded; a malformed
/// stored hash counts as a mismatch rather than an error, so it can never
/// let anyone in.
pub async fn verify_password(password: String, stored_hash: String) -> Result<bool, PasswordError> {
    Ok(tokio::task::spawn_blocking(move || verify_now(&password, &stored_hash)).await?)
}

/// Hashes with a buffer of its own, kept by nobody.
fn hash_now(password: &str) -> Result<String, PasswordError> {
    hash_reusing(password, &BlockPool::default())
}

/// Hashes `password` on a buffer from `pool`: the same PHC string argon2's
/// `PasswordHasher` writes (argon2id, v19, the default parameters).
fn hash_reusing(password: &str, pool: &BlockPool) -> Result<String, PasswordError> {
    let failed = |error: &dyn std::fmt::Display| PasswordError::Hash(error.to_string());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|error| failed(&error))?;
    let argon2 = Argon2::default();
    let params = argon2.params().clone();
    let mut blocks = pool.take(params.block_count());
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        argon2
            .hash_password_into_with_memory(password.as_bytes(), salt_bytes, out, &mut blocks)
            .map_err(|_| password_hash::Error::Crypto)
    });
    pool.give_back(blocks);
    let hash = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::default().into()),
        params: ParamsString::try_from(&params).map_err(|error| failed(&error))?,
        salt: Some(salt.as_salt()),
        hash: Some(output.map_err(|error| failed(&error))?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches `stored_hash`, on a buffer from `pool`, with
/// the stored hash's own algorithm, version and parameters; a malformed
/// stored hash is a mismatch.
fn verify_reusing(password: &str, stored_hash: &str, pool: &BlockPool) -> bool {
    let Ok(parsed) = PasswordHash::new(stored_hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
        parsed.salt,
        parsed.hash,
    ) else {
        return false;
    };
    let Ok(version) = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map(Option::unwrap_or_default)
    else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut blocks = pool.take(params.block_count());
    let computed = Output::init_with(expected.len(), |out| {
        argon2
            .hash_password_into_with_memory(password.as_bytes(), salt_bytes, out, &mut blocks)
            .map_err(|_| password_hash::Error::Crypto)
    });
    pool.give_back(blocks);
    // `Output`'s equality is constant-time.
    computed.is_ok_and(|computed| computed == expected)
}

/// Verifies with a buffer of its own, kept by nobody.
fn verify_now(password: &str, stored_hash: &str) -> bool {
    verify_reusing(password, stored_hash, &BlockPool::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ_per_salt() {
        let first = hash_password("correct horse".into()).await.unwrap();
        let second = hash_password("correct horse".into()).await.unwrap();
        assert!(first.starts_with("$argon2id$"));
        assert_ne!(first, second);
        assert!(
            verify_password("correct horse".into(), first.clone())
                .await
                .unwrap()
        );
        assert!(!verify_password("wrong".into(), first).await.unwrap());
        assert!(
            !verify_password("x".into(), "not-a-hash".into())
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn past_the_running_and_waiting_slots_work_is_refused_not_queued() {
        let work = Arc::new(PasswordWork::new(1, 1));
        // A hash running, held by hand: its admission and its running slot.
        let running = (
            work.admitted.clone().try_acquire_owned().unwrap(),
            work.running.clone().try_acquire_owned().unwrap(),
        );
        let waiting = {
            let work = work.clone();
            tokio::spawn(async move { work.hash("correct horse".into()).await })
        };
        // Another waits for its turn, holding the last admission.
        while work.admitted.available_permits() != 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            work.verify("x".into(), "y".into()).await,
            Err(PasswordError::Busy)
        ));
        drop(running);
        let hash = waiting.await.unwrap().unwrap();
        assert!(work.verify("correct horse".into(), hash).await.unwrap());
        assert_eq!(work.admitted.available_permits(), 2);
    }

    /// The pooled paths agree with argon2's own hasher and verifier both ways, and the pool
    /// keeps one buffer per hash that ran at once, not one per call.
    #[tokio::test]
    async fn reusing_blocks_gives_the_same_hashes_and_keeps_one_buffer() {
        use password_hash::{PasswordHasher as _, PasswordVerifier as _};

        let work = PasswordWork::new(1, 4);
        let pooled = work.hash("correct horse".into()).await.unwrap();
        assert!(
            pooled.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{pooled}"
        );
        // argon2's own verifier and hasher, without the pool.
        let parsed = PasswordHash::new(&pooled).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        let own = Argon2::default()
            .hash_password(b"correct horse", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(
            work.verify("correct horse".into(), own.clone())
                .await
                .unwrap()
        );
        assert!(!work.verify("wrong horse".into(), own).await.unwrap());
        assert!(
            !work
                .verify("x".into(), "$argon2id$broken".into())
                .await
                .unwrap()
        );
        for _ in 0..3 {
            assert!(
                work.verify("correct horse".into(), pooled.clone())
                    .await
                    .unwrap()
            );
        }
        let kept = work
            .blocks
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len();
        assert_eq!(kept, 1, "one hash at a time, one buffer");
    }
}
