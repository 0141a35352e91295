//! Login throttling: failed logins per account and per client address, with
//! a doubling backoff.
//!
//! After [`FREE_ACCOUNT_FAILURES`] failed logins an account is blocked for
//! [`FIRST_BACKOFF`], after [`FREE_ADDRESS_FAILURES`] an address is (one
//! address may be a whole office, and the runner logs every persona in from
//! loopback); each further failure doubles the block, up to
//! [`MAX_BACKOFF`]. A login attempted while its account or its address is
//! blocked is refused (429 with `retry-after`) before any argon2 work, even
//! with the right password. A successful login clears the account's count,
//! not the address's: else an attacker would interleave logins to an
//! account of their own. A key's failures are forgotten [`FORGET_AFTER`]
//! after its last one.
//!
//! IPv6 addresses count per /64, the block one client usually holds, so
//! cycling through its own addresses gains an attacker nothing.
//!
//! Memory is bounded: at most [`MAX_TRACKED`] keys. When full, forgotten
//! keys go first, then keys that are not blocked (fewest failures first);
//! flooding the map with new emails therefore does not lift a block, since
//! each blocked key cost its attacker several full argon2 runs.
//!
//! Rejected alternative: `governor`'s keyed limiters. They count every
//! attempt rather than failures, a success cannot clear them, and their key
//! map grows until it is swept; this map is bounded by construction.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use tokio::time::Instant;

/// Failures an account may have before it is blocked.
pub const FREE_ACCOUNT_FAILURES: u32 = 5;
/// Failures an address may have before it is blocked.
pub const FREE_ADDRESS_FAILURES: u32 = 20;
/// The block after the first failure past the free ones.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(10);
/// The longest block.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// A key's failures are forgotten this long after its last one (at least
/// [`MAX_BACKOFF`], so no block is forgotten before it ends).
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Keys (accounts and addresses together) tracked at most; a key is an
/// email of at most 254 bytes, so this is a few MiB at worst.
pub const MAX_TRACKED: usize = 16_384;

/// Whose failures count.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// A lower-cased email.
    Account(Box<str>),
    /// An IPv4 address, or an IPv6 address cut to its /64.
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

impl Failures {
    fn forgotten(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last) >= FORGET_AFTER
    }

    fn blocked(&self, now: Instant) -> Option<Duration> {
        self.blocked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }
}

/// The failed-login counts of accounts and addresses.
pub struct LoginThrottle {
    capacity: usize,
    failures: Mutex<HashMap<Key, Failures>>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(MAX_TRACKED)
    }
}

impl LoginThrottle {
    pub fn new(capacity: usize) -> LoginThrottle {
        LoginThrottle {
            capacity: capacity.max(1),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Failures>> {
        // Every change is one insert, remove or retain: a poisoned map is
        // whole. A std mutex, not tokio's: it is never held across an await.
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Err(wait)` when the account or the address is blocked: how long
    /// until the later of the two blocks ends.
    pub fn check(
        &self,
        email: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Duration> {
        let failures = self.lock();
        let keys = keys(email, address);
        let wait = keys
            .iter()
            .filter_map(|key| failures.get(key)?.blocked(now))
            .max();
        match wait {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Counts a failed login against the account and the address.
    pub fn failed(&self, email: &str, address: Option<IpAddr>, now: Instant) {
        let mut failures = self.lock();
        for key in keys(email, address) {
            let free = match key {
                Key::Account(_) => FREE_ACCOUNT_FAILURES,
                Key::Address(_) => FREE_ADDRESS_FAILURES,
            };
            if !failures.contains_key(&key) {
                make_room(&mut failures, self.capacity, now);
            }
            let entry = failures.entry(key).or_insert(Failures {
                count: 0,
                last: now,
                blocked_until: None,
            });
            if entry.forgotten(now) {
                entry.count = 0;
                entry.blocked_until = None;
            }
            entry.count = entry.count.saturating_add(1);
            entry.last = now;
            if entry.count >= free {
                entry.blocked_until = Some(now + backoff(entry.count - free));
            }
        }
    }

    /// A successful login: the account starts afresh.
    pub fn succeeded(&self, email: &str) {
        self.lock().remove(&Key::Account(email.into()));
    }

    /// Drops forgotten keys; the gateway calls it periodically.
    pub fn evict_forgotten(&self, now: Instant) {
        self.lock().retain(|_, failures| !failures.forgotten(now));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// The block after `past_free + 1` failures beyond the free ones.
fn backoff(past_free: u32) -> Duration {
    FIRST_BACKOFF
        .checked_mul(2u32.saturating_pow(past_free.min(16)))
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF)
}

fn keys(email: &str, address: Option<IpAddr>) -> Vec<Key> {
    let mut keys = vec![Key::Account(email.into())];
    if let Some(address) = address {
        keys.push(Key::Address(per_client(address)));
    }
    keys
}

/// An IPv4 address as it is; an IPv6 address cut to its /64 (an IPv4-mapped
/// one counts as the IPv4 address).
fn per_client(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// Frees a slot for a new key: forgotten keys first, then the unblocked key
/// with the fewest failures, then the block that ends soonest.
fn make_room(failures: &mut HashMap<Key, Failures>, capacity: usize, now: Instant) {
    if failures.len() < capacity {
        return;
    }
    failures.retain(|_, entry| !entry.forgotten(now));
    if failures.len() < capacity {
        return;
    }
    let victim = failures
        .iter()
        .min_by_key(|(_, entry)| {
            (
                entry.blocked(now).is_some(),
                entry.count,
                entry.blocked_until,
            )
        })
        .map(|(key, _)| key.clone());
    if let Some(victim) = victim {
        failures.remove(&victim);
    }
}

/// The client's address, when the server records the peer
/// (`http::serve` puts `ConnectInfo<SocketAddr>` on every request); `None`
/// otherwise, and then only accounts are counted.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| address.ip()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)));

    #[tokio::test(start_paused = true)]
    async fn an_account_is_blocked_after_its_free_failures_doubling_and_a_success_clears_it() {
        let throttle = LoginThrottle::default();
        for _ in 0..FREE_ACCOUNT_FAILURES - 1 {
            throttle.failed("mia@example.org", HOME, Instant::now());
            assert_eq!(
                throttle.check("mia@example.org", HOME, Instant::now()),
                Ok(())
            );
        }
        throttle.failed("mia@example.org", HOME, Instant::now());
        assert_eq!(
            throttle.check("mia@example.org", HOME, Instant::now()),
            Err(FIRST_BACKOFF)
        );
        // Another account from the same address is not blocked.
        assert_eq!(
            throttle.check("leo@example.org", HOME, Instant::now()),
            Ok(())
        );
        tokio::time::advance(FIRST_BACKOFF).await;
        assert_eq!(
            throttle.check("mia@example.org", HOME, Instant::now()),
            Ok(())
        );
        throttle.failed("mia@example.org", HOME, Instant::now());
        assert_eq!(
            throttle.check("mia@example.org", HOME, Instant::now()),
            Err(FIRST_BACKOFF * 2)
        );
        tokio::time::advance(FIRST_BACKOFF * 2).await;
        throttle.failed("mia@example.org", HOME, Instant::now());
        assert_eq!(
            throttle.check("mia@example.org", HOME, Instant::now()),
            Err(FIRST_BACKOFF * 4)
        );
        throttle.succeeded("mia@example.org");
        assert_eq!(
            throttle.check("mia@example.org", None, Instant::now()),
            Ok(())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn blocks_are_capped_and_failures_forgotten() {
        let throttle = LoginThrottle::default();
        for _ in 0..FREE_ACCOUNT_FAILURES + 20 {
            throttle.failed("mia@example.org", None, Instant::now());
        }
        assert_eq!(
            throttle.check("mia@example.org", None, Instant::now()),
            Err(MAX_BACKOFF)
        );
        tokio::time::advance(FORGET_AFTER).await;
        throttle.evict_forgotten(Instant::now());
        assert_eq!(throttle.len(), 0);
        throttle.failed("mia@example.org", None, Instant::now());
        assert_eq!(
            throttle.check("mia@example.org", None, Instant::now()),
            Ok(())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_address_is_blocked_across_accounts_and_ipv6_counts_per_64() {
        let throttle = LoginThrottle::default();
        let client = |n: u16| Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n)));
        for n in 0..FREE_ADDRESS_FAILURES as u16 {
            throttle.failed(&format!("guess{n}@example.org"), client(n), Instant::now());
        }
        assert_eq!(
            throttle.check("someone@example.org", client(999), Instant::now()),
            Err(FIRST_BACKOFF)
        );
        assert_eq!(
            throttle.check("someone@example.org", HOME, Instant::now()),
            Ok(())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_of_new_emails_stays_bounded_and_keeps_the_block() {
        let throttle = LoginThrottle::new(64);
        for _ in 0..FREE_ACCOUNT_FAILURES {
            throttle.failed("target@example.org", None, Instant::now());
        }
        for n in 0..10_000 {
            throttle.failed(&format!("flood{n}@example.org"), None, Instant::now());
            assert!(throttle.len() <= 64);
        }
        assert!(
            throttle
                .check("target@example.org", None, Instant::now())
                .is_err()
        );
    }
}
