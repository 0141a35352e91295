//! `contacts.create`, `contacts.search` over the encrypted `contacts`
//! collection.

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Checks, matches_query, non_blank, today};
use crate::context::{Doc, ToolContext};
use crate::error::ToolError;
use crate::spec::{PolicyHint, SpecError, ToolSpec};

const COLLECTION: &str = "contacts";
const ENCRYPTED: &[&str] = &["name", "email", "phone", "notes"];

pub(super) fn tools() -> Result<Vec<ToolSpec>, SpecError> {
    Ok(vec![
        ToolSpec::new(
            "contacts.create",
            "Add a person to the current space's contacts: a name and, all optional, an email \
             address, a phone number (digits, spaces and + - ( ) /), notes and a birthday \
             (YYYY-MM-DD). Returns the contact with its id.",
            PolicyHint::Write,
            create,
        )?
        .encrypts(COLLECTION, ENCRYPTED),
        ToolSpec::new(
            "contacts.search",
            "Find contacts of the current space whose name, email, phone or notes contain the \
             query (case-insensitive substring), sorted by name. Use it to look up someone's \
             details. Returns the contacts (20 by default) and how many matched in total.",
            PolicyHint::Read,
            search,
        )?
        .encrypts(COLLECTION, ENCRYPTED),
    ])
}

/// A contact as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Contact {
    name: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    birthday: Option<NaiveDate>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactOut {
    id: String,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    notes: Option<String>,
    birthday: Option<NaiveDate>,
    created_at: DateTime<Utc>,
}

impl From<Doc<Contact>> for ContactOut {
    fn from(doc: Doc<Contact>) -> ContactOut {
        ContactOut {
            id: doc.id,
            name: doc.doc.name,
            email: doc.doc.email,
            phone: doc.doc.phone,
            notes: doc.doc.notes,
            birthday: doc.doc.birthday,
            created_at: doc.created_at,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateInput {
    /// The person's name as the user calls them.
    #[schemars(length(min = 1, max = 200))]
    name: String,
    /// Email address, e.g. anna@example.org.
    #[schemars(email, length(max = 254))]
    email: Option<String>,
    /// Phone number: 3–40 characters of digits, spaces and + - ( ) /.
    #[schemars(length(min = 3, max = 40))]
    phone: Option<String>,
    #[schemars(length(max = 2000))]
    notes: Option<String>,
    /// Date of birth, YYYY-MM-DD; not in the future.
    birthday: Option<NaiveDate>,
}

async fn create(input: CreateInput, context: ToolContext) -> Result<ContactOut, ToolError> {
    let mut checks = Checks::default();
    checks.not_blank("name", &input.name);
    if let Some(phone) = &input.phone
        && let Err(message) = check_phone(phone)
    {
        checks.fail("phone", message);
    }
    if let Some(birthday) = input.birthday
        && birthday > today(&context)
    {
        checks.fail("birthday", "must not be in the future");
    }
    checks.finish()?;
    let contact = Contact {
        name: input.name.trim().to_owned(),
        email: non_blank(input.email),
        phone: non_blank(input.phone),
        notes: non_blank(input.notes),
        birthday: input.birthday,
    };
    Ok(context.records(COLLECTION).insert(&contact).await?.into())
}

/// Phone numbers are kept as typed (formats differ by country), so this
/// only rejects what cannot be dialled.
fn check_phone(phone: &str) -> Result<(), &'static str> {
    let phone = phone.trim();
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')' | '/');
    if !phone.chars().all(allowed) {
        return Err("may contain only digits, spaces and + - ( ) /");
    }
    if !(3..=40).contains(&phone.chars().count()) {
        return Err("must be 3–40 characters long");
    }
    if !phone.chars().any(|c| c.is_ascii_digit()) {
        return Err("must contain digits");
    }
    Ok(())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchInput {
    /// Text to look for in names, email addresses, phone numbers and notes
    /// (case-insensitive).
    #[schemars(length(min = 1, max = 200))]
    query: String,
    /// At most this many contacts (default 20).
    #[schemars(range(min = 1, max = 50))]
    limit: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchOutput {
    /// Matching contacts, by name.
    contacts: Vec<ContactOut>,
    /// How many contacts matched before the limit.
    total: usize,
}

async fn search(input: SearchInput, context: ToolContext) -> Result<SearchOutput, ToolError> {
    let mut checks = Checks::default();
    checks.not_blank("query", &input.query);
    checks.finish()?;
    let mut contacts: Vec<(String, Doc<Contact>)> = context
        .records(COLLECTION)
        .list()
        .await?
        .into_iter()
        .filter(|doc: &Doc<Contact>| {
            let contact = &doc.doc;
            matches_query(
                &input.query,
                [
                    Some(contact.name.as_str()),
                    contact.email.as_deref(),
                    contact.phone.as_deref(),
                    contact.notes.as_deref(),
                ],
            )
        })
        .map(|doc| (doc.doc.name.to_lowercase(), doc))
        .collect();
    // Case-folded first so "anna" and "Anna" sit together; the id keeps
    // namesakes in a stable order.
    contacts.sort_by(|(a_key, a), (b_key, b)| {
        (a_key, &a.doc.name, &a.id).cmp(&(b_key, &b.doc.name, &b.id))
    });
    let total = contacts.len();
    let limit = input.limit.unwrap_or(20) as usize;
    Ok(SearchOutput {
        contacts: contacts
            .into_iter()
            .take(limit)
            .map(|(_, doc)| ContactOut::from(doc))
            .collect(),
        total,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn phones_take_digits_spaces_and_dialling_marks() {
        for good in ["+49 (0)30 123456-7", "030/1234567", "112", " 0171 2345678 "] {
            assert_eq!(check_phone(good), Ok(()), "{good}");
        }
        for bad in [
            "0171 ABC",
            "+49.30.1234",
            "12",
            "+-()/",
            "٠١٢٣",
            &"1".repeat(41),
        ] {
            assert!(check_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn blank_texts_are_dropped_and_others_trimmed() {
        assert_eq!(
            non_blank(Some(" Tante Käthe ".into())),
            Some("Tante Käthe".into())
        );
        assert_eq!(non_blank(Some(" \t".into())), None);
    }

    #[test]
    fn the_schema_rejects_bad_emails_and_names_the_field() {
        let tools = tools().unwrap();
        let create = tools
            .iter()
            .find(|tool| tool.name.as_str() == "contacts.create")
            .unwrap();
        assert!(
            create
                .validate(&json!({ "name": "Jürgen Groß", "email": "juergen@example.de" }))
                .is_ok()
        );
        assert!(create.validate(&json!({ "name": "Jürgen Groß" })).is_ok());
        let Err(ToolError::InvalidInput(errors)) =
            create.validate(&json!({ "name": "Jürgen", "email": "kein-at-zeichen" }))
        else {
            panic!("a bad email must be rejected");
        };
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "email");
    }
}
