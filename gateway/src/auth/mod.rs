//! Authentication: signing and checking JWTs (`jwt`), the extractors routes
//! use to require a user, an admin or the service key (`extract`), and the
//! auth routes themselves (`routes`); `verified` remembers tokens already
//! checked, so a request does not pay for a signature check twice;
//! `live_users` refuses a deleted user's tokens at once; `throttle` counts
//! failed logins per account and per client address.

pub mod extract;
pub mod jwt;
pub mod live_users;
pub mod routes;
pub mod throttle;
mod verified;

pub use extract::{AdminUser, AuthUser, ServiceKey};
pub use jwt::{Claims, JwtKeys};
