//! Authentication: signing and checking JWTs (`jwt`), the extractors routes
//! use to require a user, an admin or the service key (`extract`), and the
//! auth routes themselves (`routes`); `verified` remembers tokens already
//! checked, so a request does not pay for a signature check twice.

pub mod extract;
pub mod jwt;
pub mod routes;
mod verified;

pub use extract::{AdminUser, AuthUser, ServiceKey};
pub use jwt::{Claims, JwtKeys};
