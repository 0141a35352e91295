//! The app's authoritative encryption table: which fields of which
//! collection are encrypted at rest. The record access path
//! ([`crate::context::Records`]) encrypts and decrypts by this table, never
//! by what a tool declares; tools' declarations are audited against it
//! ([`crate::audit`]).

use serde_json::{Map, Value};

use crate::crypto::{CryptoError, MasterKey, decrypt_value, encrypt_value};

/// One collection's encryption declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectionEncryption {
    pub collection: &'static str,
    pub fields: &'static [&'static str],
    /// A disabled entry keeps its declaration but stores plaintext.
    pub enabled: bool,
}

/// The single declaration per collection.
pub const ENCRYPTION_TABLE: &[CollectionEncryption] = &[
    CollectionEncryption {
        collection: "tasks",
        fields: &["title", "description", "subtasks", "metadata"],
        enabled: true,
    },
    CollectionEncryption {
        collection: "notes",
        fields: &["title", "content"],
        enabled: true,
    },
    CollectionEncryption {
        collection: "journalEntries",
        fields: &["title", "content"],
        enabled: true,
    },
    CollectionEncryption {
        collection: "moodEntries",
        fields: &["withWhom", "notes"],
        enabled: true,
    },
    CollectionEncryption {
        collection: "events",
        fields: &["title", "description", "location"],
        enabled: true,
    },
    CollectionEncryption {
        collection: "contacts",
        fields: &["name", "email", "phone", "notes"],
        enabled: true,
    },
];

/// The enabled declaration of a collection, if its fields are encrypted.
pub fn encrypted_fields(collection: &str) -> Option<&'static [&'static str]> {
    ENCRYPTION_TABLE
        .iter()
        .find(|entry| entry.collection == collection && entry.enabled)
        .map(|entry| entry.fields)
}

/// Encrypts the declared fields of `data` in place.
pub fn seal_fields(
    key: &MasterKey,
    fields: &[&str],
    data: &mut Map<String, Value>,
) -> Result<(), CryptoError> {
    for field in fields {
        if let Some(value) = data.get_mut(*field) {
            *value = encrypt_value(key, value)?;
        }
    }
    Ok(())
}

/// Decrypts the declared fields of `data` in place. A declared field holding
/// plaintext (written before the collection was encrypted) is left as it is;
/// a damaged or foreign ciphertext is an error.
pub fn open_fields(
    key: &MasterKey,
    fields: &[&str],
    data: &mut Map<String, Value>,
) -> Result<(), CryptoError> {
    for field in fields {
        if let Some(Value::String(text)) = data.get(*field)
            && text.starts_with(crate::crypto::WIRE_PREFIX)
        {
            let plain = decrypt_value(key, text)?;
            data.insert((*field).to_owned(), plain);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn one_declaration_per_collection() {
        let mut seen = std::collections::HashSet::new();
        for entry in ENCRYPTION_TABLE {
            assert!(
                seen.insert(entry.collection),
                "{} declared twice",
                entry.collection
            );
        }
        assert_eq!(
            encrypted_fields("moodEntries"),
            Some(&["withWhom", "notes"][..])
        );
        assert_eq!(encrypted_fields("habits"), None);
    }

    #[test]
    fn seals_only_declared_fields_and_opens_them_again() {
        let key = MasterKey::generate().unwrap();
        let original = json!({ "title": "Geheim", "done": false, "description": null })
            .as_object()
            .unwrap()
            .clone();
        let mut data = original.clone();
        seal_fields(&key, &["title", "description"], &mut data).unwrap();
        assert!(data["title"].as_str().unwrap().starts_with("enc:1:"));
        assert_eq!(data["done"], false);
        assert_eq!(data["description"], Value::Null);
        open_fields(&key, &["title", "description"], &mut data).unwrap();
        assert_eq!(data, original);
    }
}
