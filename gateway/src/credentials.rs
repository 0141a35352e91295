//! What an account's email and password must look like, checked at the
//! edge (register, login, the admin persona upsert) before any work is done.
//!
//! An [`Email`] is parsed by the `email_address` crate (RFC 5322, without
//! display names or domain literals) plus our own rules: exactly one `@`, a
//! domain with a dot, no control characters or whitespace, at most 254
//! characters; it is kept lower-cased, so `Mia@Example.org` and
//! `mia@example.org` are one account. A password has at least
//! [`MIN_PASSWORD_LEN`] and at most [`MAX_PASSWORD_LEN`] characters and is
//! not only whitespace.
//!
//! A problem never quotes the value it refuses: an email may be 10,000
//! characters of someone's input, and a password is a secret. The caller
//! names the field (`email: must contain exactly one @`).

use std::fmt;

use email_address::{EmailAddress, Options};

/// Passwords shorter than this (in characters) are refused.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Passwords longer than this are refused: argon2 hashes the whole of it,
/// and no person types more.
pub const MAX_PASSWORD_LEN: usize = 1024;
/// The longest email an SMTP path can carry (RFC 5321).
pub const MAX_EMAIL_LEN: usize = 254;

/// Why an email or a password was refused; the caller names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CredentialError {
    #[error("must not be empty")]
    Empty,
    #[error("must not be only whitespace")]
    Blank,
    #[error("must have at least {min} characters")]
    TooShort { min: usize },
    #[error("must have at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control characters or whitespace")]
    ControlOrWhitespace,
    #[error("must contain exactly one @")]
    NotOneAt,
    #[error("needs a domain with a dot, like example.org")]
    NoDotInDomain,
    #[error("is not an email address ({0})")]
    Malformed(#[from] email_address::Error),
}

/// A valid, lower-cased email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Checks `raw` (surrounding whitespace ignored) and lower-cases it.
    pub fn parse(raw: &str) -> Result<Email, CredentialError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(CredentialError::Empty);
        }
        if trimmed.chars().count() > MAX_EMAIL_LEN {
            return Err(CredentialError::TooLong { max: MAX_EMAIL_LEN });
        }
        if trimmed.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(CredentialError::ControlOrWhitespace);
        }
        // IMPORTANT: before the crate's parse, which accepts a quoted local
        // part holding another `@` ("a@b"@c.com).
        if trimmed.matches('@').count() != 1 {
            return Err(CredentialError::NotOneAt);
        }
        let options = Options::default()
            .with_required_tld()
            .without_domain_literal()
            .without_display_text();
        let parsed = EmailAddress::parse_with_options(trimmed, options)?;
        let domain = parsed.domain();
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err(CredentialError::NoDotInDomain);
        }
        Ok(Email(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a new password: long enough, not too long, not only whitespace.
pub fn check_new_password(password: &str) -> Result<(), CredentialError> {
    if password.is_empty() {
        return Err(CredentialError::Empty);
    }
    if password.trim().is_empty() {
        return Err(CredentialError::Blank);
    }
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_LEN {
        return Err(CredentialError::TooShort {
            min: MIN_PASSWORD_LEN,
        });
    }
    if chars > MAX_PASSWORD_LEN {
        return Err(CredentialError::TooLong {
            max: MAX_PASSWORD_LEN,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_the_issue_named_are_refused_and_good_ones_lower_cased() {
        let refused = [
            ("", CredentialError::Empty),
            ("a@b@c.com", CredentialError::NotOneAt),
            ("\"a@b\"@c.com", CredentialError::NotOneAt),
            ("not-an-email", CredentialError::NotOneAt),
            ("a\0b@c.com", CredentialError::ControlOrWhitespace),
            ("a b@c.com", CredentialError::ControlOrWhitespace),
        ];
        for (raw, problem) in refused {
            assert_eq!(Email::parse(raw), Err(problem), "{raw:?}");
        }
        for raw in ["a@b.", "a@b", "a@.com", "@b.com", "a@[127.0.0.1]"] {
            assert!(Email::parse(raw).is_err(), "{raw:?} was accepted");
        }
        let long = format!("{}@example.org", "a".repeat(10_000));
        assert_eq!(
            Email::parse(&long),
            Err(CredentialError::TooLong { max: MAX_EMAIL_LEN })
        );
        assert_eq!(
            Email::parse("  Mia.Keller+x@Example.ORG ").map(Email::into_string),
            Ok("mia.keller+x@example.org".to_owned())
        );
    }

    #[test]
    fn passwords_must_not_be_blank_short_or_huge() {
        assert_eq!(check_new_password(""), Err(CredentialError::Empty));
        assert_eq!(check_new_password("        "), Err(CredentialError::Blank));
        assert_eq!(
            check_new_password("short"),
            Err(CredentialError::TooShort { min: 8 })
        );
        assert_eq!(
            check_new_password(&"x".repeat(MAX_PASSWORD_LEN + 1)),
            Err(CredentialError::TooLong {
                max: MAX_PASSWORD_LEN
            })
        );
        assert_eq!(check_new_password(" correct horse "), Ok(()));
    }
}
