//! Settings validation and the fields a write sets (R2, R3).
//!
//! [`validate`] is the one authority on settings: the host calls the
//! component's `validate-settings` when it loads its configuration and checks
//! only what is its own (paths, addresses, limits). Every error names the
//! setting by its WIT name and never echoes the value (a config file may hold
//! secrets next to it).

use crate::model::{EMAIL_OPT_OUT_FIELD, Settings, SettingsProblem, SyncError};

/// The oldest API version with sObject Collections (plugin/SALESFORCE.md §3.1).
const MIN_API_VERSION: u32 = 42;

/// Checks every setting; the error names the first one that is wrong.
///
/// A disabled sync needs no field selected: it writes `HasOptedOutOfEmail`
/// whatever is selected (R3).
pub fn validate(settings: &Settings) -> Result<(), SyncError> {
    api_version_number(&settings.api_version)?;
    if let Some(field) = &settings.sales_opt_out_field
        && let Err(why) = check_custom_field_name(field)
    {
        return Err(SettingsProblem::error("sales-opt-out-field", why));
    }
    if settings.sync_enabled && !settings.email_opt_out && settings.sales_opt_out_field.is_none() {
        return Err(SettingsProblem::error(
            "email-opt-out",
            "no opt-out field selected: with the sync enabled, select email-opt-out \
             (HasOptedOutOfEmail), a sales-opt-out-field, or both",
        ));
    }
    crate::schedule::validate(&settings.schedule)?;
    if let Some(pct) = settings.budget.max_percent_of_remaining
        && !(1..=100).contains(&pct)
    {
        return Err(SettingsProblem::error(
            "budget.max-percent-of-remaining",
            "must be 1 to 100",
        ));
    }
    if settings.budget.max_calls == Some(0) {
        return Err(SettingsProblem::error(
            "budget.max-calls",
            "is 0: the nightly could never run; omit it for no cap",
        ));
    }
    Ok(())
}

/// The API version as a number, e.g. `62.0` → 62. Salesforce's versions
/// are whole numbers written with `.0`; `62.1` does not exist.
pub fn api_version_number(version: &str) -> Result<u32, SyncError> {
    let bad = || {
        SettingsProblem::error(
            "api-version",
            format!("must look like \"62.0\" and be {MIN_API_VERSION}.0 or later"),
        )
    };
    let major = version.strip_suffix(".0").ok_or_else(bad)?;
    if major.is_empty() || major.len() > 3 || !major.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u32 = major.parse().map_err(|_| bad())?;
    if n < MIN_API_VERSION {
        return Err(bad());
    }
    Ok(n)
}

/// The fields a write sets: every selected field, or only the standard Email
/// Opt Out when the sync is disabled (R3).
pub fn fields_to_write(settings: &Settings) -> Vec<String> {
    if !settings.sync_enabled {
        return vec![EMAIL_OPT_OUT_FIELD.to_string()];
    }
    let mut fields = Vec::with_capacity(2);
    if settings.email_opt_out {
        fields.push(EMAIL_OPT_OUT_FIELD.to_string());
    }
    if let Some(custom) = &settings.sales_opt_out_field {
        fields.push(custom.clone());
    }
    fields
}

/// Checks a custom field API name: `Name__c` with an optional `ns__` prefix.
/// The suffix is accepted in either case (`__C`): Salesforce matches API
/// names without regard to case. Salesforce's rules: the name starts with a letter, has only letters, digits
/// and single underscores, does not end with an underscore, and is at most 40
/// characters; a namespace prefix is at most 15 such characters.
fn check_custom_field_name(field: &str) -> Result<(), String> {
    let body = field
        .strip_suffix("__c")
        .or_else(|| field.strip_suffix("__C"))
        .ok_or("a custom field's API name ends with __c, like Sales_Opt_Out__c")?;
    let (namespace, name) = match body.split_once("__") {
        Some((ns, name)) => (Some(ns), name),
        None => (None, body),
    };
    if let Some(ns) = namespace {
        check_identifier(ns, 15).map_err(|why| format!("its namespace prefix {why}"))?;
    }
    check_identifier(name, 40).map_err(|why| format!("its name {why}"))
}

fn check_identifier(part: &str, max_len: usize) -> Result<(), String> {
    if part.is_empty() {
        return Err("is empty".into());
    }
    if part.len() > max_len {
        return Err(format!("is longer than {max_len} characters"));
    }
    if !part.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("must start with a letter".into());
    }
    if !part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("has a character other than letters, digits and underscores".into());
    }
    if part.contains("__") || part.ends_with('_') {
        return Err("has a double or trailing underscore".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::settings;

    #[test]
    fn default_settings_are_valid_and_write_email_opt_out() {
        let s = settings();
        validate(&s).unwrap();
        assert_eq!(fields_to_write(&s), vec!["HasOptedOutOfEmail"]);
    }

    #[test]
    fn both_fields_are_written_in_order() {
        let mut s = settings();
        s.sales_opt_out_field = Some("ns__Sales_Opt_Out__c".into());
        validate(&s).unwrap();
        assert_eq!(
            fields_to_write(&s),
            vec!["HasOptedOutOfEmail", "ns__Sales_Opt_Out__c"]
        );
    }

    #[test]
    fn custom_field_only() {
        let mut s = settings();
        s.email_opt_out = false;
        s.sales_opt_out_field = Some("Sales_Opt_Out__c".into());
        validate(&s).unwrap();
        assert_eq!(fields_to_write(&s), vec!["Sales_Opt_Out__c"]);
    }

    #[test]
    fn disabled_sync_writes_only_the_standard_field() {
        let mut s = settings();
        s.sync_enabled = false;
        s.email_opt_out = false;
        s.sales_opt_out_field = Some("Sales_Opt_Out__c".into());
        validate(&s).unwrap();
        assert_eq!(fields_to_write(&s), vec!["HasOptedOutOfEmail"]);
    }

    #[test]
    fn enabled_sync_needs_a_field() {
        let mut s = settings();
        s.email_opt_out = false;
        let e = validate(&s).unwrap_err();
        assert!(
            matches!(e, SyncError::InvalidSettings(p) if p.reason.contains("no opt-out field") && p.setting == "email-opt-out")
        );
    }

    #[test]
    fn malformed_custom_field_names_are_rejected() {
        for bad in [
            "Sales_Opt_Out",
            "__c",
            "1Sales__c",
            "Sales__Opt__Out__c",
            "Sales_Opt_Out___c",
            "Sales Opt__c",
            "Sales'Opt__c",
            "ns_x__Sales__c__c",
            "averyveryveryveryveryveryveryverylongname1__c",
        ] {
            let mut s = settings();
            s.sales_opt_out_field = Some(bad.into());
            assert!(
                matches!(validate(&s), Err(SyncError::InvalidSettings(p)) if p.setting == "sales-opt-out-field"),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn rules_the_host_once_decided_differently() {
        // A custom field's suffix in upper case is a valid API name.
        let mut s = settings();
        s.sales_opt_out_field = Some("Sales__C".into());
        validate(&s).unwrap();
        // 62.1 is not a Salesforce API version.
        let mut s = settings();
        s.api_version = "62.1".into();
        assert!(
            matches!(validate(&s), Err(SyncError::InvalidSettings(p)) if p.setting == "api-version")
        );
        // A disabled sync with no field selected still writes Email Opt Out.
        let mut s = settings();
        s.sync_enabled = false;
        s.email_opt_out = false;
        validate(&s).unwrap();
        assert_eq!(fields_to_write(&s), vec!["HasOptedOutOfEmail"]);
    }

    #[test]
    fn api_versions_are_checked() {
        assert_eq!(api_version_number("62.0").unwrap(), 62);
        for bad in ["41.0", "v62.0", "62", "62.1", "", "abc.0", "1000.0"] {
            assert!(api_version_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn budget_percentage_is_checked() {
        let mut s = settings();
        s.budget.max_percent_of_remaining = Some(0);
        assert!(validate(&s).is_err());
        s.budget.max_percent_of_remaining = Some(101);
        assert!(validate(&s).is_err());
        s.budget.max_percent_of_remaining = Some(100);
        validate(&s).unwrap();
    }
}
