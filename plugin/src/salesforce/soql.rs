//! Building SOQL safely: literals escaped, identifiers checked, and ID lists
//! chunked so every request stays under Salesforce's URI limit (§4.6, §4.7).

use crate::model::SObject;

/// Salesforce rejects URI + headers above 16,384 bytes (414/431). We keep the
/// encoded request line well below that, leaving room for headers.
pub const MAX_ENCODED_URI_BYTES: usize = 12_000;

/// At most this many IDs go into one `IN (...)`: it matches the 200-record
/// collections write, so one read feeds one write.
pub const MAX_IDS_PER_QUERY: usize = 200;

/// Escapes a value as a SOQL string literal, quotes included. Backslash and
/// single quote are escaped, as are the control characters SOQL knows; any
/// other control character is dropped, since SOQL has no escape for it.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Whether a name is a plain SOQL identifier (a field or relationship path):
/// letters, digits, underscores and dots, starting with a letter.
pub fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// `SELECT <fields> FROM <object> WHERE Id IN (<ids>)`.
///
/// Panics in debug builds if a field is not an identifier: fields come from
/// validated settings and constants, never from events.
pub fn select_by_ids(fields: &[&str], object: SObject, ids: &[&str]) -> String {
    debug_assert!(fields.iter().all(|f| is_identifier(f)));
    let list: Vec<String> = ids.iter().map(|id| quote(id)).collect();
    format!(
        "SELECT {} FROM {} WHERE Id IN ({})",
        fields.join(", "),
        object.api_name(),
        list.join(",")
    )
}

/// Percent-encodes a query-string value: everything but RFC 3986's unreserved
/// characters is encoded, so quotes, commas, spaces and non-ASCII are safe.
pub fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3 / 2);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The request path of a SOQL query (`query` or `queryAll`).
pub fn query_path(api_version: &str, all: bool, soql: &str) -> String {
    let resource = if all { "queryAll" } else { "query" };
    format!(
        "/services/data/v{api_version}/{resource}?q={}",
        encode_component(soql)
    )
}

/// Splits IDs into chunks of at most [`MAX_IDS_PER_QUERY`] whose query paths
/// stay under [`MAX_ENCODED_URI_BYTES`].
pub fn chunk_ids<'a>(
    api_version: &str,
    fields: &[&str],
    object: SObject,
    ids: &[&'a str],
) -> Vec<Vec<&'a str>> {
    // The encoded length grows by each literal plus an encoded comma (`%2C`),
    // so it is tracked incrementally rather than re-encoding the whole query.
    // Sized for `queryAll`, the longer resource name, so a chunk fits either.
    let base = query_path(api_version, true, &select_by_ids(fields, object, &[])).len();
    let mut chunks: Vec<Vec<&str>> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut length = base;
    for &id in ids {
        let added = encode_component(&quote(id)).len() + if current.is_empty() { 0 } else { 3 };
        let full = current.len() == MAX_IDS_PER_QUERY || length + added > MAX_ENCODED_URI_BYTES;
        if full && !current.is_empty() {
            chunks.push(std::mem::take(&mut current));
            length = base;
        }
        length += encode_component(&quote(id)).len() + if current.is_empty() { 0 } else { 3 };
        current.push(id);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(quote("O'Brien"), r"'O\'Brien'");
        assert_eq!(quote(r"a\b"), r"'a\\b'");
        assert_eq!(quote("' OR Id != '"), r"'\' OR Id != \''");
        assert_eq!(quote("line\nbreak"), r"'line\nbreak'");
        assert_eq!(quote("bell\u{7}"), "'bell'");
    }

    #[test]
    fn injection_attempts_stay_inside_one_literal() {
        let evil = "x' OR Email != 'y";
        let soql = select_by_ids(&["Id"], SObject::Lead, &[evil]);
        assert_eq!(
            soql,
            r"SELECT Id FROM Lead WHERE Id IN ('x\' OR Email != \'y')"
        );
    }

    #[test]
    fn query_strings_are_fully_encoded() {
        let p = query_path("62.0", false, "SELECT Id FROM Lead WHERE Id IN ('a','b')");
        assert_eq!(
            p,
            "/services/data/v62.0/query?q=SELECT%20Id%20FROM%20Lead%20WHERE%20Id%20IN%20%28%27a%27%2C%27b%27%29"
        );
        assert!(query_path("62.0", true, "SELECT Id FROM Lead").contains("/queryAll?q="));
        assert_eq!(encode_component("é&+"), "%C3%A9%26%2B");
    }

    #[test]
    fn ids_are_chunked_at_two_hundred() {
        let ids: Vec<String> = (0..450).map(|i| format!("00Q5e00000A{i:04}AAA")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let chunks = chunk_ids("62.0", &["Id", "HasOptedOutOfEmail"], SObject::Lead, &refs);
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![200, 200, 50]
        );
        for c in &chunks {
            let path = query_path(
                "62.0",
                false,
                &select_by_ids(&["Id", "HasOptedOutOfEmail"], SObject::Lead, c),
            );
            assert!(path.len() <= MAX_ENCODED_URI_BYTES);
        }
    }

    #[test]
    fn long_field_lists_shrink_the_chunks_to_fit_the_uri_limit() {
        let ids: Vec<String> = (0..200).map(|i| format!("00Q5e00000A{i:04}AAA")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let long_field = "A".repeat(5000);
        let fields = ["Id", long_field.as_str(), long_field.as_str()];
        let chunks = chunk_ids("62.0", &fields, SObject::Lead, &refs);
        assert!(chunks.len() > 1);
        for c in &chunks {
            assert!(
                query_path("62.0", false, &select_by_ids(&fields, SObject::Lead, c)).len()
                    <= MAX_ENCODED_URI_BYTES
            );
        }
        assert_eq!(chunks.iter().map(Vec::len).sum::<usize>(), 200);
    }

    #[test]
    fn identifiers_are_checked() {
        assert!(is_identifier("ns__Sales_Opt_Out__c"));
        assert!(is_identifier("ConvertedContact.HasOptedOutOfEmail"));
        assert!(!is_identifier("Id) OR (Id"));
        assert!(!is_identifier("_x"));
        assert!(!is_identifier(""));
    }
}
