//! Tests of the `policy` module.

use super::*;

/// The segment checks as first written (lower-cased copies, `replace`):
/// the reference the in-place scans must agree with.
fn segment_checks_reference(path_part: &str) -> Option<&'static str> {
    for segment in path_part.split('/') {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        if decoded == "." || decoded == ".." {
            return Some("dot");
        }
        if segment.to_ascii_lowercase().contains("%2f")
            || segment.to_ascii_lowercase().contains("%5c")
        {
            return Some("separator");
        }
    }
    None
}

#[test]
fn in_place_segment_checks_agree_with_the_reference_on_every_short_path() {
    // Every string of up to 5 characters over the bytes that matter, as
    // the last segments of a path.
    let alphabet = [".", "%", "2", "e", "E", "f", "F", "5", "c", "C", "/", "a"];
    let mut tails = vec![String::new()];
    let mut frontier = vec![String::new()];
    for _ in 0..5 {
        frontier = frontier
            .iter()
            .flat_map(|t| alphabet.iter().map(move |a| format!("{t}{a}")))
            .collect();
        tails.extend(frontier.iter().cloned());
    }
    for tail in tails {
        let path = format!("/services/data/{tail}");
        let fast = check_path(&path).err().map(|e| {
            if e.contains("dot segment") {
                "dot"
            } else if e.contains("encoded path separator") {
                "separator"
            } else {
                panic!("{path}: unexpected denial {e}")
            }
        });
        assert_eq!(fast, segment_checks_reference(&path), "{path}");
    }
}

#[test]
fn accepts_org_relative_paths() {
    for p in [
        "/services/data/v62.0/sobjects/Lead/00Q5e00000AbCdEEAV",
        "/services/data/v62.0/query?q=SELECT+Id+FROM+Lead+WHERE+Id+IN+('a')",
        "/services/data/v62.0/jobs/ingest/7505e00000AaBbCAAV/batches",
        "/services/data/",
    ] {
        assert_eq!(check_path(p), Ok(()), "{p}");
    }
}

#[test]
fn refuses_other_origins_and_escapes() {
    for p in [
        "https://evil.example/x",
        "//evil.example/services/data",
        "http://localhost/services/",
        "/services/../etc/passwd",
        "/services/data/%2e%2e/x",
        "/services/data/%2E%2e/x",
        "/services/data/a%2fb",
        "/services/data/v62.0/x y",
        "/services/data\\x",
        "/services/data/v62.0/x#frag",
        "/services/@evil.example/x",
        "services/data",
        "/other/path",
        "",
        "/services/data/v62.0/sobjects\r\nHost: evil",
    ] {
        assert!(check_path(p).is_err(), "{p:?} should be refused");
    }
    let long = format!("/services/{}", "a".repeat(limits::MAX_PATH_BYTES));
    assert!(check_path(&long).unwrap_err().contains("at most"));
}

#[test]
fn api_version_must_match_the_connection() {
    assert!(check_api_version("/services/data/v62.0/sobjects/Lead/x", "62.0").is_ok());
    assert!(check_api_version("/services/data/", "62.0").is_ok());
    assert!(check_api_version("/services/async/x", "62.0").is_ok());
    let e = check_api_version("/services/data/v55.0/query?q=x", "62.0").unwrap_err();
    assert!(e.contains("v55.0") && e.contains("v62.0"), "{e}");
}

#[test]
fn host_owned_headers_are_dropped_and_bad_ones_refused() {
    let kept = filter_headers(vec![
        ("Content-Type".into(), "application/json".into()),
        ("Authorization".into(), "Bearer stolen".into()),
        ("host".into(), "evil.example".into()),
        ("Transfer-Encoding".into(), "chunked".into()),
        ("Sforce-Query-Options".into(), "batchSize=200".into()),
    ])
    .unwrap();
    assert_eq!(
        kept,
        vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            (
                "Sforce-Query-Options".to_string(),
                "batchSize=200".to_string()
            ),
        ]
    );
    assert!(filter_headers(vec![("X-A".into(), "a\r\nInjected: 1".into())]).is_err());
    assert!(filter_headers(vec![("Bad Name".into(), "x".into())]).is_err());
    let many = (0..=limits::MAX_REQUEST_HEADERS)
        .map(|i| (format!("X-{i}"), "v".to_string()))
        .collect();
    assert!(filter_headers(many).is_err());
}

#[test]
fn page_sizes_are_clamped() {
    assert_eq!(clamp_page(0), 1);
    assert_eq!(clamp_page(10), 10);
    assert_eq!(clamp_page(u32::MAX), limits::MAX_PAGE_ENTRIES);
}

#[test]
fn storage_sizes_are_capped() {
    assert!(check_key(&"k".repeat(limits::MAX_KEY_BYTES)).is_ok());
    assert!(check_key(&"k".repeat(limits::MAX_KEY_BYTES + 1)).is_err());
    assert!(check_value("k", limits::MAX_VALUE_BYTES).is_ok());
    assert!(check_value("k", limits::MAX_VALUE_BYTES + 1).is_err());
}

#[test]
fn origins_must_be_https_or_loopback_http() {
    assert_eq!(
        normalize_origin("https://Acme.my.salesforce.com/").unwrap(),
        "https://acme.my.salesforce.com"
    );
    assert_eq!(
        normalize_origin("http://127.0.0.1:8080").unwrap(),
        "http://127.0.0.1:8080"
    );
    assert!(normalize_origin("http://localhost:1").is_ok());
    assert!(normalize_origin("http://[::1]:1").is_ok());
    assert!(normalize_origin("http://acme.my.salesforce.com").is_err());
    assert!(normalize_origin("https://acme.my.salesforce.com/services").is_err());
    assert!(normalize_origin("https://user@acme.example").is_err());
    assert!(normalize_origin("ftp://x").is_err());
    assert!(normalize_origin("acme.example").is_err());
}
