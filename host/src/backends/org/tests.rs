//! Tests of the `org` module.

use super::*;

#[test]
fn form_encoding_escapes_reserved_characters() {
    assert_eq!(
        form_encode(&[("a", "x y&z=1/+"), ("b", "é")]),
        "a=x+y%26z%3D1%2F%2B&b=%C3%A9"
    );
}

#[test]
fn the_client_refuses_non_https_origins() {
    let config = OrgConfig {
        login_url: "http://login.example.com".into(),
        instance_url: None,
        api_version: "62.0".into(),
        client_id: "id".into(),
        client_secret: Secret::new("s"),
        refresh_token: Secret::new("r"),
        timeout: Duration::from_secs(1),
        max_response_bytes: 1024,
        trusted_ca_pem: None,
    };
    assert!(
        OrgClient::new(config)
            .unwrap_err()
            .contains("org.login_url")
    );
}

#[test]
fn debug_output_holds_no_secret() {
    let config = OrgConfig {
        login_url: "https://login.salesforce.com".into(),
        instance_url: None,
        api_version: "62.0".into(),
        client_id: "id".into(),
        client_secret: Secret::new("very-secret"),
        refresh_token: Secret::new("refresh-me"),
        timeout: Duration::from_secs(1),
        max_response_bytes: 1024,
        trusted_ca_pem: None,
    };
    let c = OrgClient::new(config).unwrap();
    let d = format!("{c:?}");
    assert!(
        !d.contains("very-secret") && !d.contains("refresh-me"),
        "{d}"
    );
}
