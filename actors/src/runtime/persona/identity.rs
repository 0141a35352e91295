//! Who a persona is and how it logs in, held once and shared.

use std::fmt;

use crate::tick::PersonaProfile;

/// Who a persona is and how it logs in: one allocation per persona, shared
/// by the supervisor, the persona's actor and its ticks (a system prompt is
/// about 1.5 KB; held twice, that is 15 MB at 10,000 personas).
pub struct PersonaIdentity {
    pub profile: PersonaProfile,
    /// The derived login password.
    pub password: String,
}

impl PersonaIdentity {
    /// Whether `profile` and `password` describe this identity exactly.
    pub fn matches(&self, profile: &PersonaProfile, password: &str) -> bool {
        self.profile == *profile && self.password == password
    }
}

impl fmt::Debug for PersonaIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersonaIdentity")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}
