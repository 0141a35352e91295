//! The app's tool registry: which modules the app exposes to agents.
//!
//! Persona catalogs weight their attention across these modules; a module
//! outside this list has no tools, so a persona could never use it.

/// Every module the app has tools for, in the order operators read them.
pub const MODULES: &[&str] = &[
    "todo", "journal", "notes", "habits", "mood", "calendar", "contacts", "spaces",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_are_unique_and_lowercase() {
        let mut seen = std::collections::HashSet::new();
        for module in MODULES {
            assert!(seen.insert(module), "{module} listed twice");
            assert!(module.chars().all(|c| c.is_ascii_lowercase()), "{module}");
        }
    }
}
