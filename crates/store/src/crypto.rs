//! Encryption at rest: the key from `store.encryption_key`, and the sealing of stored values.
//!
//! # What is encrypted
//!
//! With a key, the store seals the values that carry calendar content or secrets: the mirror's
//! `event` JSON (subject, body, location, attendees, …), the outbox `data` JSON, the presence
//! document, stored idempotent responses, and every row of the `secrets` table. The columns the
//! store queries on (user, folder, UID, instance key, ItemId, times, hashes) stay plain. Without
//! a key values are stored as plain text, as before; `secrets` refuses to store anything.
//!
//! # Key
//!
//! [`StoreKey::parse`] takes the configured text as
//! - 32 raw bytes written as 64 hexadecimal characters, or as base64 (standard or URL-safe
//!   alphabet, padded or not) — recommended: `openssl rand -base64 32`;
//! - anything else as a passphrase, stretched with Argon2id (19 MiB, 2 passes, 1 lane: the
//!   OWASP minimum) so that a stolen database file cannot be brute-forced cheaply.
//!
//! Each database has its own random 16-byte salt, created when the database is first opened
//! with a key and kept in `store_meta` (`kdf_salt`). The data key is
//! `HKDF-SHA256(salt = kdf_salt, ikm = raw key or Argon2id(passphrase, kdf_salt), info =
//! "exbridge store data key v1")`. The same configured key therefore yields a different data key
//! in every database, and the database file never holds the key.
//!
//! `store_meta` also keeps `key_check`: a known text sealed with the data key. Opening with
//! another key fails at once ([`StoreError::WrongKey`]) instead of failing on the first row;
//! opening a database that has a `key_check` without a key fails with
//! [`StoreError::KeyRequired`].
//!
//! # Format
//!
//! A sealed value is the text `enc:v1:` followed by the standard base64 (padded) of
//! `nonce (24 bytes) || ciphertext || tag (16 bytes)`: XChaCha20-Poly1305 with a fresh random
//! nonce per value (192-bit nonces make random choice safe at any volume), and as associated
//! data the table, the column and the row's key. A sealed value copied to another row or
//! column does not decrypt; a changed byte does not decrypt. Plain rows (written before a key
//! was set) have no `enc:v1:` prefix and are read as they are, so a database can be mixed; a
//! JSON document can never start with `enc:`, so the two cannot be confused.
//!
//! The encryption is done here in Rust, not in SQL, so a PostgreSQL store uses it unchanged.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::error::{Result, StoreError};

/// The prefix of a sealed value.
pub(crate) const PREFIX: &str = "enc:v1:";

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Bytes of the per-database salt.
pub(crate) const SALT_LEN: usize = 16;
const HKDF_INFO: &[u8] = b"exbridge store data key v1";
/// The text sealed as `store_meta.key_check`.
const CHECK_TEXT: &str = "exbridge store key check v1";

/// The configured encryption key, parsed. The material is wiped from memory when dropped and
/// never printed (`Debug` shows only its kind).
#[derive(Clone)]
pub struct StoreKey {
    material: Zeroizing<Vec<u8>>,
    passphrase: bool,
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.passphrase { "passphrase" } else { "32-byte key" };
        write!(f, "StoreKey({kind}, redacted)")
    }
}

impl StoreKey {
    /// Parses the configured key: 64 hex characters or base64 of 32 bytes are a raw key,
    /// anything else (at least 16 characters) a passphrase.
    pub fn parse(text: &str) -> Result<StoreKey> {
        let text = text.trim();
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut bytes = Zeroizing::new(vec![0u8; 32]);
            for (i, byte) in bytes.iter_mut().enumerate() {
                let pair = &text[2 * i..2 * i + 2];
                *byte = u8::from_str_radix(pair, 16).map_err(|_| key_invalid("not hexadecimal"))?;
            }
            return Ok(StoreKey { material: bytes, passphrase: false });
        }
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            if let Ok(bytes) = engine.decode(text) {
                let bytes = Zeroizing::new(bytes);
                if bytes.len() == 32 {
                    return Ok(StoreKey { material: bytes, passphrase: false });
                }
            }
        }
        if text.chars().count() < 16 {
            return Err(key_invalid(
                "it is neither 32 bytes (64 hex characters or base64) nor a passphrase of at least 16 characters",
            ));
        }
        Ok(StoreKey { material: Zeroizing::new(text.as_bytes().to_vec()), passphrase: true })
    }

    /// Whether the key is a passphrase (stretched with Argon2id) rather than 32 raw bytes.
    pub fn is_passphrase(&self) -> bool {
        self.passphrase
    }

    /// The data key of the database whose salt is `salt`.
    pub(crate) fn derive(&self, salt: &[u8]) -> Result<Cipher> {
        let stretched;
        let ikm: &[u8] = if self.passphrase {
            let params = argon2::Params::new(19 * 1024, 2, 1, Some(32))
                .map_err(|e| key_invalid(&format!("Argon2 parameters: {e}")))?;
            let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            let mut out = Zeroizing::new([0u8; 32]);
            argon
                .hash_password_into(&self.material, salt, out.as_mut())
                .map_err(|e| key_invalid(&format!("Argon2id failed: {e}")))?;
            stretched = out;
            stretched.as_ref()
        } else {
            &self.material
        };
        let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), ikm);
        let mut key = Zeroizing::new([0u8; 32]);
        hkdf.expand(HKDF_INFO, key.as_mut()).map_err(|_| key_invalid("HKDF expand failed"))?;
        let aead = XChaCha20Poly1305::new_from_slice(key.as_ref()).map_err(|_| key_invalid("bad key length"))?;
        Ok(Cipher { aead })
    }
}

/// A fresh random salt for a database's key derivation.
pub(crate) fn new_salt() -> Result<Vec<u8>> {
    let mut salt = vec![0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|e| StoreError::Invalid(format!("no randomness for the key salt: {e}")))?;
    Ok(salt)
}

/// The salt as stored in `store_meta`.
pub(crate) fn encode_salt(salt: &[u8]) -> String {
    STANDARD.encode(salt)
}

/// A stored salt; `None` if it is not base64 of [`SALT_LEN`] bytes.
pub(crate) fn decode_salt(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok().filter(|salt| salt.len() == SALT_LEN)
}

fn key_invalid(detail: &str) -> StoreError {
    StoreError::Invalid(format!("store.encryption_key cannot be used: {detail}"))
}

/// The data key of one database (the key inside is zeroized when dropped).
pub(crate) struct Cipher {
    aead: XChaCha20Poly1305,
}

/// Where a value lives: the associated data that binds a sealed value to its place.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place<'a> {
    pub table: &'static str,
    pub column: &'static str,
    /// The row's key, in key-column order.
    pub row: &'a [&'a str],
}

impl Place<'_> {
    /// `"exbridge-store" || table || column || row parts`, each part length-prefixed (u32 BE) so
    /// that no two places give the same bytes.
    fn aad(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        let mut part = |bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(bytes);
        };
        part(b"exbridge-store");
        part(self.table.as_bytes());
        part(self.column.as_bytes());
        for key in self.row {
            part(key.as_bytes());
        }
        out
    }

    fn undecryptable(&self) -> StoreError {
        StoreError::Undecryptable { table: self.table, column: self.column, row: self.row.join("/") }
    }
}

impl Cipher {
    fn seal(&self, plain: &str, place: Place<'_>) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| {
            StoreError::Invalid(format!("no randomness for a nonce ({}.{}): {e}", place.table, place.column))
        })?;
        let nonce = XNonce::from(nonce);
        let aad = place.aad();
        let sealed = self
            .aead
            .encrypt(&nonce, Payload { msg: plain.as_bytes(), aad: &aad })
            .map_err(|_| StoreError::Invalid(format!("encrypting {}.{} failed", place.table, place.column)))?;
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", STANDARD.encode(bytes)))
    }

    fn open(&self, sealed: &str, place: Place<'_>) -> Result<String> {
        let body = sealed.strip_prefix(PREFIX).ok_or_else(|| place.undecryptable())?;
        let bytes = STANDARD.decode(body).map_err(|_| place.undecryptable())?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(place.undecryptable());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| place.undecryptable())?;
        let aad = place.aad();
        let plain = Zeroizing::new(
            self.aead.decrypt(&nonce, Payload { msg: ciphertext, aad: &aad }).map_err(|_| place.undecryptable())?,
        );
        String::from_utf8(plain.to_vec()).map_err(|_| place.undecryptable())
    }

    /// The sealed check value kept in `store_meta`.
    pub(crate) fn check_value(&self) -> Result<String> {
        self.seal(CHECK_TEXT, CHECK_PLACE)
    }

    /// Whether `sealed` is this key's check value.
    pub(crate) fn verify_check(&self, sealed: &str) -> bool {
        self.open(sealed, CHECK_PLACE).is_ok_and(|text| text == CHECK_TEXT)
    }
}

const CHECK_PLACE: Place<'static> = Place { table: "store_meta", column: "value", row: &["key_check"] };

/// Seals and opens stored values; without a key it passes plain text through.
pub(crate) struct Codec {
    cipher: Option<Cipher>,
}

impl Codec {
    pub(crate) fn new(cipher: Option<Cipher>) -> Self {
        Codec { cipher }
    }

    /// Whether values are sealed.
    pub(crate) fn is_keyed(&self) -> bool {
        self.cipher.is_some()
    }

    /// The value to store: sealed with a key, `plain` itself without.
    pub(crate) fn seal(&self, plain: String, place: Place<'_>) -> Result<String> {
        match &self.cipher {
            Some(cipher) => cipher.seal(&plain, place),
            None => Ok(plain),
        }
    }

    /// Seals, refusing to store anything without a key (secrets).
    pub(crate) fn seal_required(&self, plain: &str, place: Place<'_>) -> Result<String> {
        match &self.cipher {
            Some(cipher) => cipher.seal(plain, place),
            None => Err(StoreError::KeyRequired {
                what: format!("storing into {}.{} needs store.encryption_key", place.table, place.column),
            }),
        }
    }

    /// The stored value's plain text: sealed values are opened (a key is needed), plain ones
    /// (written before a key was set) returned as they are.
    pub(crate) fn open(&self, stored: String, place: Place<'_>) -> Result<String> {
        if !stored.starts_with(PREFIX) {
            return Ok(stored);
        }
        match &self.cipher {
            Some(cipher) => cipher.open(&stored, place),
            None => Err(StoreError::KeyRequired {
                what: format!("{}.{} of row {} is encrypted", place.table, place.column, place.row.join("/")),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> Cipher {
        StoreKey::parse(&"ab".repeat(32)).unwrap().derive(&[7u8; SALT_LEN]).unwrap()
    }

    const PLACE: Place<'static> = Place { table: "t", column: "c", row: &["u1", "k1"] };

    #[test]
    fn parses_hex_base64_and_passphrases() {
        assert!(!StoreKey::parse(&"0f".repeat(32)).unwrap().is_passphrase());
        assert!(!StoreKey::parse(&STANDARD.encode([9u8; 32])).unwrap().is_passphrase());
        assert!(!StoreKey::parse(&URL_SAFE_NO_PAD.encode([0xfbu8; 32])).unwrap().is_passphrase());
        assert!(StoreKey::parse("correct horse battery staple").unwrap().is_passphrase());
        assert!(StoreKey::parse("short").is_err());
        let debug = format!("{:?}", StoreKey::parse("correct horse battery staple").unwrap());
        assert!(!debug.contains("horse"), "{debug}");
    }

    #[test]
    fn seals_and_opens_with_fresh_nonces() {
        let c = cipher();
        let a = c.seal("hello", PLACE).unwrap();
        let b = c.seal("hello", PLACE).unwrap();
        assert!(a.starts_with(PREFIX));
        assert_ne!(a, b, "each value gets its own nonce");
        assert_eq!(c.open(&a, PLACE).unwrap(), "hello");
    }

    #[test]
    fn another_place_or_a_changed_byte_does_not_open() {
        let c = cipher();
        let sealed = c.seal("hello", PLACE).unwrap();
        let other_row = Place { row: &["u1", "k2"], ..PLACE };
        assert!(matches!(c.open(&sealed, other_row), Err(StoreError::Undecryptable { .. })));
        let other_column = Place { column: "d", ..PLACE };
        assert!(c.open(&sealed, other_column).is_err());
        let mut bytes = STANDARD.decode(&sealed[PREFIX.len()..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("{PREFIX}{}", STANDARD.encode(bytes));
        assert!(matches!(c.open(&tampered, PLACE), Err(StoreError::Undecryptable { .. })));
    }

    #[test]
    fn the_salt_and_the_key_both_matter() {
        let key = StoreKey::parse(&"ab".repeat(32)).unwrap();
        let sealed = cipher().check_value().unwrap();
        assert!(cipher().verify_check(&sealed));
        assert!(!key.derive(&[8u8; SALT_LEN]).unwrap().verify_check(&sealed));
        let other = StoreKey::parse(&"cd".repeat(32)).unwrap().derive(&[7u8; SALT_LEN]).unwrap();
        assert!(!other.verify_check(&sealed));
    }

    #[test]
    fn plain_values_pass_through_and_sealed_ones_need_the_key() {
        let plain = Codec::new(None);
        assert_eq!(plain.seal("{\"a\":1}".into(), PLACE).unwrap(), "{\"a\":1}");
        assert!(matches!(plain.seal_required("x", PLACE), Err(StoreError::KeyRequired { .. })));
        let keyed = Codec::new(Some(cipher()));
        let sealed = keyed.seal("{\"a\":1}".into(), PLACE).unwrap();
        assert!(matches!(plain.open(sealed.clone(), PLACE), Err(StoreError::KeyRequired { .. })));
        assert_eq!(keyed.open(sealed, PLACE).unwrap(), "{\"a\":1}");
        assert_eq!(keyed.open("{\"a\":2}".into(), PLACE).unwrap(), "{\"a\":2}", "mixed databases read plain rows");
    }
}
