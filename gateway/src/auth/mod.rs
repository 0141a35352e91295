//! Authentication: signing and checking JWTs (`jwt`), the extractors routes
//! use to require a user, an admin or the service key (`extract`), and the
//! auth routes themselves (`routes`).

pub mod extract;
pub mod jwt;
pub mod routes;

pub use extract::{AdminUser, AuthUser, ServiceKey};
pub use jwt::{Claims, JwtKeys};
