//! Salesforce record Ids: the 15 → 18 character checksum, normalisation, and key prefixes.
//!
//! Salesforce Ids are base-62 and case-sensitive in their 15-character form. The
//! 18-character form appends three characters that encode the letter case of the first
//! fifteen, which makes the Id safe for case-insensitive systems (plugin/SALESFORCE.md §8).
//!
//! The emulator stores every record under its canonical 15-character key. Input is resolved
//! the way Salesforce does it: a 15-character Id exactly (case-sensitively), an 18-character
//! Id case-insensitively by restoring the case of its first fifteen characters from the
//! suffix.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::SObject;

/// The 32 characters a checksum digit maps to, in order of value (0 → `A`, 31 → `5`).
const SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// Why a string is not a usable Salesforce Id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SfIdError {
    /// The string is neither 15 nor 18 characters long.
    #[error("an Id has 15 or 18 characters, not {0}")]
    BadLength(usize),
    /// The first 15 characters contain something other than `0-9a-zA-Z`.
    #[error("an Id contains only the characters 0-9, a-z and A-Z")]
    BadCharacter,
    /// An 18-character Id whose last three characters are not checksum characters.
    #[error("the last three characters of an 18-character Id must be A-Z or 0-5")]
    BadSuffix,
}

/// A canonical 18-character Salesforce Id (first fifteen characters in their true case,
/// followed by the checksum suffix).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SfId([u8; 18]);

impl SfId {
    /// Builds the canonical Id from a case-correct 15-character key.
    pub fn from_key(key: &[u8; 15]) -> SfId {
        let mut out = [0u8; 18];
        out[..15].copy_from_slice(key);
        out[15..].copy_from_slice(&suffix(key));
        SfId(out)
    }

    /// Parses 15- or 18-character input, normalising an 18-character Id case-insensitively.
    pub fn parse(input: &str) -> Result<SfId, SfIdError> {
        Ok(SfId::from_key(&normalize(input)?))
    }

    /// The Id as an 18-character string slice.
    pub fn as_str(&self) -> &str {
        // The bytes are ASCII by construction (validated alphanumerics plus suffix letters).
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The case-sensitive 15-character key.
    pub fn key(&self) -> [u8; 15] {
        let mut key = [0u8; 15];
        key.copy_from_slice(&self.0[..15]);
        key
    }

    /// The three-character key prefix (for example `00Q` for a Lead).
    pub fn prefix(&self) -> &str {
        &self.as_str()[..3]
    }

    /// The standard object this Id's key prefix belongs to, when it is a Lead or Contact.
    pub fn sobject(&self) -> Option<SObject> {
        sobject_for_prefix(self.prefix())
    }
}

impl fmt::Display for SfId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SfId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SfId({})", self.as_str())
    }
}

impl Serialize for SfId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SfId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SfId, D::Error> {
        let text = String::deserialize(d)?;
        SfId::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The three checksum characters for a case-correct 15-character key.
fn suffix(key: &[u8; 15]) -> [u8; 3] {
    let mut out = [0u8; 3];
    for (chunk, slot) in key.chunks(5).zip(out.iter_mut()) {
        let mut v = 0usize;
        for (i, c) in chunk.iter().enumerate() {
            if c.is_ascii_uppercase() {
                v |= 1 << i;
            }
        }
        *slot = SUFFIX_ALPHABET[v];
    }
    out
}

/// Converts a 15-character Id to its 18-character form.
///
/// An 18-character input is returned in canonical form (its case restored from the suffix).
pub fn to18(id: &str) -> Result<String, SfIdError> {
    SfId::parse(id).map(|id| id.as_str().to_owned())
}

/// Resolves an Id to its case-sensitive 15-character key.
///
/// A 15-character Id is taken exactly as given (case matters). An 18-character Id is
/// matched case-insensitively: the suffix says which of the first fifteen letters are
/// upper case, so `80120000000TESTAAE` resolves to `80120000000tEst`.
pub fn normalize(id: &str) -> Result<[u8; 15], SfIdError> {
    let bytes = id.as_bytes();
    if bytes.len() != 15 && bytes.len() != 18 {
        return Err(SfIdError::BadLength(id.chars().count()));
    }
    let mut key = [0u8; 15];
    key.copy_from_slice(&bytes[..15]);
    if !key.iter().all(u8::is_ascii_alphanumeric) {
        return Err(SfIdError::BadCharacter);
    }
    if bytes.len() == 18 {
        for (chunk_index, s) in bytes[15..].iter().enumerate() {
            let upper = s.to_ascii_uppercase();
            let v = SUFFIX_ALPHABET
                .iter()
                .position(|&c| c == upper)
                .ok_or(SfIdError::BadSuffix)?;
            for i in 0..5 {
                let c = &mut key[chunk_index * 5 + i];
                *c = if v & (1 << i) != 0 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                };
            }
        }
    }
    Ok(key)
}

/// True when `id` is 18 characters and its suffix matches the case of its first fifteen
/// exactly (the check a strict client would make).
pub fn has_valid_checksum(id: &str) -> bool {
    id.len() == 18 && id.is_ascii() && to18(&id[..15]).is_ok_and(|full| full == id)
}

/// The object a key prefix names, for the two objects the emulator serves.
pub fn sobject_for_prefix(prefix: &str) -> Option<SObject> {
    match prefix {
        "00Q" => Some(SObject::Lead),
        "003" => Some(SObject::Contact),
        _ => None,
    }
}

/// The object an Id belongs to, judged by its key prefix (15 or 18 characters).
pub fn sobject_of(id: &str) -> Option<SObject> {
    id.get(..3).and_then(sobject_for_prefix)
}

/// Builds a deterministic, valid Id: `prefix` (3 characters) + a 2-character pod marker +
/// `n` in base 62, zero-padded to 10 characters, then the checksum.
pub(crate) fn make_id(prefix: &str, pod: &str, n: u64) -> SfId {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut key = [b'0'; 15];
    key[..3].copy_from_slice(&prefix.as_bytes()[..3]);
    key[3..5].copy_from_slice(&pod.as_bytes()[..2]);
    let mut rest = n;
    for slot in key[5..].iter_mut().rev() {
        *slot = DIGITS[(rest % 62) as usize];
        rest /= 62;
    }
    SfId::from_key(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restores_case_from_suffix() {
        assert_eq!(
            &normalize("80120000000TESTAAE").unwrap(),
            b"80120000000tEst"
        );
        assert_eq!(
            &normalize("80120000000testaae").unwrap(),
            b"80120000000tEst"
        );
        assert_eq!(
            SfId::parse("00q5E00000abcDEEAV").unwrap().as_str(),
            "00Q5e00000AbCdEEAV"
        );
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(normalize("abc"), Err(SfIdError::BadLength(3)));
        assert_eq!(normalize("00Q5e00000AbC-E"), Err(SfIdError::BadCharacter));
        assert_eq!(normalize("00Q5e00000AbCdE999"), Err(SfIdError::BadSuffix));
        // Multi-byte input of a plausible byte length must not panic on slicing.
        assert!(normalize("ééééééééé").is_err());
    }

    #[test]
    fn make_id_is_valid_and_distinct() {
        let a = make_id("00Q", "9Z", 0);
        let b = make_id("00Q", "9Z", 61);
        assert_ne!(a, b);
        assert!(has_valid_checksum(a.as_str()));
        assert!(has_valid_checksum(b.as_str()));
        assert_eq!(a.sobject(), Some(SObject::Lead));
    }
}
