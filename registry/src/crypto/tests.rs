//! Interop with the web app's WebCrypto implementation, and round trips.
//!
//! `interop_vectors.json` is a copy of vectors produced independently by
//! WebCrypto AES-GCM (Node); every valid one must decrypt to its plaintext and
//! every invalid one must fail with the error its `why` describes.

use serde_json::{Value, json};

use super::*;

fn vectors() -> Value {
    serde_json::from_str(include_str!("interop_vectors.json")).unwrap()
}

fn vector_key(vectors: &Value) -> MasterKey {
    let key = STANDARD
        .decode(vectors["aes_gcm"]["key_b64"].as_str().unwrap())
        .unwrap();
    MasterKey::from_bytes(&key).unwrap()
}

#[test]
fn every_valid_webcrypto_vector_decrypts_to_its_plaintext() {
    let vectors = vectors();
    let key = vector_key(&vectors);
    let valid = vectors["aes_gcm"]["valid"].as_array().unwrap();
    assert!(valid.len() >= 5);
    for vector in valid {
        let wire = vector["wire"].as_str().unwrap();
        assert_eq!(
            decrypt_value(&key, wire).unwrap(),
            vector["plaintext"],
            "{wire}"
        );
    }
}

#[test]
fn every_invalid_vector_is_a_typed_error_naming_why() {
    let vectors = vectors();
    let key = vector_key(&vectors);
    for vector in vectors["aes_gcm"]["invalid"].as_array().unwrap() {
        let why = vector["why"].as_str().unwrap();
        let error = decrypt_value(&key, vector["wire"].as_str().unwrap()).unwrap_err();
        let expected = match why {
            "tampered ciphertext" | "encrypted under another key" | "truncated tag" => {
                // A short but tag-sized ciphertext still fails authentication.
                matches!(error, CryptoError::Authentication | CryptoError::Truncated)
            }
            "missing iv/ct separator" => error == CryptoError::MissingSeparator,
            "bad base64" => matches!(error, CryptoError::BadBase64 { .. }),
            other => panic!("unknown invalid vector kind {other:?}"),
        };
        assert!(expected, "{why}: got {error:?}");
    }
}

#[test]
fn our_ciphertexts_decrypt_with_the_same_key_and_format() {
    let vectors = vectors();
    let key = vector_key(&vectors);
    for vector in vectors["aes_gcm"]["valid"].as_array().unwrap() {
        let plaintext = &vector["plaintext"];
        let wire = encrypt_value(&key, plaintext).unwrap();
        let text = wire.as_str().unwrap();
        assert!(text.starts_with("enc:1:"));
        let (iv, ciphertext) = text["enc:1:".len()..].split_once('.').unwrap();
        assert_eq!(STANDARD.decode(iv).unwrap().len(), 12);
        // JSON text plus the 16-byte tag, as WebCrypto produces.
        assert_eq!(
            STANDARD.decode(ciphertext).unwrap().len(),
            plaintext.to_string().len() + 16
        );
        assert_eq!(&decrypt_value(&key, text).unwrap(), plaintext);
    }
}

#[test]
fn fresh_iv_per_value_and_null_passes_through() {
    let key = MasterKey::generate().unwrap();
    let first = encrypt_value(&key, &json!("same")).unwrap();
    let second = encrypt_value(&key, &json!("same")).unwrap();
    assert_ne!(first, second);
    assert_eq!(encrypt_value(&key, &Value::Null).unwrap(), Value::Null);
    assert!(is_encrypted(&first));
    assert!(!is_encrypted(&json!("plain")));
}

#[test]
fn foreign_key_and_non_wire_text_are_errors_not_garbage() {
    let key = MasterKey::generate().unwrap();
    let other = MasterKey::generate().unwrap();
    let wire = encrypt_value(&key, &json!({ "a": 1 })).unwrap();
    assert_eq!(
        decrypt_value(&other, wire.as_str().unwrap()),
        Err(CryptoError::Authentication)
    );
    assert_eq!(
        decrypt_value(&key, "plain text"),
        Err(CryptoError::NotEncrypted)
    );
    assert_eq!(
        decrypt_value(&key, "enc:1:AAAA.AAAA"),
        Err(CryptoError::BadIvLength(3))
    );
}

#[test]
fn master_keys_wrap_and_rotate() {
    let old = KeyEncryptionKey::new("kek-2025", &[1; 32]).unwrap();
    let new = KeyEncryptionKey::new("kek-2026", &[2; 32]).unwrap();
    let master = MasterKey::generate().unwrap();
    let wrapped_old = Keyring::new(old.clone(), vec![]).wrap(&master).unwrap();
    let rotated = Keyring::new(new, vec![old]);
    assert_eq!(
        rotated.unwrap_key(&wrapped_old).unwrap(),
        master,
        "old wraps still open"
    );
    let wrapped_new = rotated.wrap(&master).unwrap();
    assert_eq!(wrapped_new.kek_id, "kek-2026");
    assert_ne!(wrapped_new.sealed, wrapped_old.sealed);
    let stranger = Keyring::new(KeyEncryptionKey::new("other", &[3; 32]).unwrap(), vec![]);
    assert_eq!(
        stranger.unwrap_key(&wrapped_new),
        Err(CryptoError::UnknownKek("kek-2026".into()))
    );
    assert!(KeyEncryptionKey::new("short", &[0; 16]).is_err());
    assert!(!format!("{master:?}").contains('['));
}
