//! Salesforce record IDs: validation, the 15 → 18 checksum, and the object a
//! key prefix names (plugin/SALESFORCE.md §8).

use crate::model::{IdProblem, RecordRef, SObject};

/// The alphabet of the 18-character suffix: chunk value 0 → `A` … 31 → `5`.
const SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// Computes the 3-character case-checksum suffix of a 15-character ID.
/// The caller guarantees `id15` is 15 ASCII alphanumerics.
pub fn checksum_suffix(id15: &[u8]) -> [u8; 3] {
    let mut suffix = [0u8; 3];
    for (chunk_index, chunk) in id15.chunks(5).take(3).enumerate() {
        let bits = chunk
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_ascii_uppercase())
            .fold(0usize, |acc, (i, _)| acc | (1 << i));
        suffix[chunk_index] = SUFFIX_ALPHABET[bits];
    }
    suffix
}

/// Parses and normalizes a Lead or Contact ID to its 18-character form.
///
/// Accepted: 15 case-sensitive characters, or 18 characters whose suffix matches
/// the case of the first 15. An 18-character ID whose letters were all upper- or
/// all lower-cased by another system (a spreadsheet, a case-insensitive store)
/// is restored from its suffix, as Salesforce itself does (§8.3). Surrounding
/// ASCII whitespace is ignored. Everything else is a typed problem.
pub fn parse(raw: &str) -> Result<RecordRef, IdProblem> {
    let problem = |reason: String| IdProblem {
        value: raw.to_string(),
        reason,
    };
    let value = raw.trim_matches(|c: char| c.is_ascii_whitespace());
    if let Some(bad) = value.chars().find(|c| !c.is_ascii_alphanumeric()) {
        return Err(problem(format!(
            "character {bad:?} is not allowed: IDs are letters and digits only"
        )));
    }
    let bytes = value.as_bytes();
    let id18 = match bytes.len() {
        15 => {
            let mut id = bytes.to_vec();
            id.extend_from_slice(&checksum_suffix(bytes));
            id
        }
        18 => restore_case(bytes).ok_or_else(|| {
            problem(format!(
                "checksum suffix {:?} does not match the first 15 characters (expected {:?})",
                &value[15..],
                String::from_utf8_lossy(&checksum_suffix(&bytes[..15]))
            ))
        })?,
        n => {
            return Err(problem(format!(
                "has {n} characters; a Salesforce ID has 15 or 18"
            )));
        }
    };
    // Only ASCII alphanumerics reach here, so this cannot fail.
    let id = String::from_utf8(id18).map_err(|e| problem(e.to_string()))?;
    let object = object_of(&id).ok_or_else(|| {
        problem(format!(
            "prefix {:?} is neither a Lead (00Q) nor a Contact (003)",
            &id[..3]
        ))
    })?;
    Ok(RecordRef { object, id })
}

/// The first 15 characters of a normalized ID as a base-62 number: a compact,
/// case-sensitive key for large sorted sets (16 bytes instead of a String).
/// None when the ID is shorter or has other characters.
pub fn compact(id: &str) -> Option<u128> {
    let bytes = id.as_bytes();
    if bytes.len() < 15 {
        return None;
    }
    bytes[..15].iter().try_fold(0u128, |n, &c| {
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            b'a'..=b'z' => c - b'a' + 36,
            _ => return None,
        };
        Some(n * 62 + u128::from(digit))
    })
}

/// The object named by an ID's key prefix (case-sensitive).
pub fn object_of(id: &str) -> Option<SObject> {
    SObject::ALL
        .into_iter()
        .find(|o| id.starts_with(o.key_prefix()))
}

/// Checks an 18-character ID's suffix, restoring the case of a single-case ID.
fn restore_case(bytes: &[u8]) -> Option<Vec<u8>> {
    let (body, suffix) = bytes.split_at(15);
    let suffix: Vec<u8> = suffix.iter().map(|c| c.to_ascii_uppercase()).collect();
    if checksum_suffix(body) == suffix[..] {
        let mut id = body.to_vec();
        id.extend_from_slice(&suffix);
        return Some(id);
    }
    let has_upper = body.iter().any(u8::is_ascii_uppercase);
    let has_lower = body.iter().any(u8::is_ascii_lowercase);
    if has_upper && has_lower {
        // Mixed case was typed deliberately: a mismatch is a wrong checksum.
        return None;
    }
    let mut id = Vec::with_capacity(18);
    for (chunk_index, chunk) in body.chunks(5).enumerate() {
        let bits = SUFFIX_ALPHABET
            .iter()
            .position(|&c| c == suffix[chunk_index])?;
        for (i, &c) in chunk.iter().enumerate() {
            let upper = bits & (1 << i) != 0;
            match (upper, c.is_ascii_alphabetic()) {
                (true, true) => id.push(c.to_ascii_uppercase()),
                (false, true) => id.push(c.to_ascii_lowercase()),
                (false, false) => id.push(c),
                // A bit set over a digit cannot come from a real ID.
                (true, false) => return None,
            }
        }
    }
    id.extend_from_slice(&suffix);
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to18(id15: &str) -> String {
        let mut s = id15.to_string();
        s.push_str(std::str::from_utf8(&checksum_suffix(id15.as_bytes())).unwrap());
        s
    }

    #[test]
    fn checksum_matches_published_pairs() {
        // plugin/SALESFORCE.md §8.2, from six independent sources.
        let pairs = [
            ("0036000000QKv5T", "0036000000QKv5TAAT"),
            ("a0D30000001n7Pi", "a0D30000001n7PiEAI"),
            ("70130000001tcyI", "70130000001tcyIAAQ"),
            ("001550V000WOQZi", "001550V000WOQZiACP"),
            ("00558000001N0Ke", "00558000001N0KeAAK"),
            ("0019000000B98de", "0019000000B98deAAB"),
        ];
        for (short, long) in pairs {
            assert_eq!(to18(short), long);
        }
    }

    #[test]
    fn fifteen_character_lead_is_normalized_to_eighteen() {
        let r = parse("00Q5e00000AbCdE").unwrap();
        assert_eq!(r.id, "00Q5e00000AbCdEEAV");
        assert_eq!(r.object, SObject::Lead);
    }

    #[test]
    fn eighteen_character_contact_is_accepted_as_is() {
        let r = parse("0035e00000XyZaBAAV").unwrap();
        assert_eq!(r.id, "0035e00000XyZaBAAV");
        assert_eq!(r.object, SObject::Contact);
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        assert_eq!(
            parse(" 0035e00000XyZaBAAV\n").unwrap().id,
            "0035e00000XyZaBAAV"
        );
    }

    #[test]
    fn upper_cased_eighteen_character_id_is_restored_from_its_suffix() {
        let r = parse("00Q5E00000ABCDEEAV").unwrap();
        assert_eq!(r.id, "00Q5e00000AbCdEEAV");
    }

    #[test]
    fn lower_cased_eighteen_character_id_is_restored_from_its_suffix() {
        let r = parse("0035e00000xyzabaav").unwrap();
        assert_eq!(r.id, "0035e00000XyZaBAAV");
    }

    #[test]
    fn wrong_checksum_is_rejected() {
        let e = parse("00Q5e00000AbCdEAAA").unwrap_err();
        assert!(e.reason.contains("checksum"), "{}", e.reason);
        assert_eq!(e.value, "00Q5e00000AbCdEAAA");
    }

    #[test]
    fn wrong_lengths_are_rejected() {
        for v in ["", "00Q5e", "00Q5e00000AbCdEE", "00Q5e00000AbCdEEAVX"] {
            let e = parse(v).unwrap_err();
            assert!(e.reason.contains("15 or 18"), "{v}: {}", e.reason);
        }
    }

    #[test]
    fn bad_characters_are_rejected() {
        for v in [
            "00Q5e00000AbC-E",
            "00Q5e00000AbC'E",
            "00Q5e00000AbCdé",
            "00Q5e0000 AbCdE",
        ] {
            let e = parse(v).unwrap_err();
            assert!(e.reason.contains("not allowed"), "{v}: {}", e.reason);
        }
    }

    #[test]
    fn compact_keys_are_case_sensitive_and_ordered_like_ids() {
        let a = compact("00Q5e00000AbCdEEAV").unwrap();
        let b = compact("00Q5e00000abCdEEAV").unwrap();
        assert_ne!(a, b);
        assert_eq!(compact("00Q5e00000AbCdE"), Some(a));
        assert!(compact("0000000000000000") < compact("0000000000000010"));
        assert_eq!(compact("00Q5e00000AbC-E"), None);
        assert_eq!(compact("short"), None);
    }

    #[test]
    fn other_objects_are_rejected() {
        // An Account (001) and a User (005), both with valid checksums.
        for v in [
            "0019000000B98deAAB",
            "00558000001N0KeAAK",
            "00q5e00000AbCdE",
        ] {
            let e = parse(v).unwrap_err();
            assert!(e.reason.contains("neither a Lead"), "{v}: {}", e.reason);
        }
    }
}
