//! Where a setting lives in the file: the TOML key of each setting the
//! component names by its WIT name, and the line that sets it.

/// The TOML key of each setting the component names (by its WIT name) in
/// an `invalid-settings` error.
pub(super) const SETTING_KEYS: [(&str, &str); 11] = [
    ("sync-enabled", "settings.sync_enabled"),
    ("email-opt-out", "settings.email_opt_out"),
    ("sales-opt-out-field", "settings.sales_opt_out_field"),
    ("api-version", "settings.api_version"),
    ("bulk-threshold", "settings.bulk_threshold"),
    ("budget.max-calls", "settings.budget.max_calls"),
    (
        "budget.max-percent-of-remaining",
        "settings.budget.max_percent_of_remaining",
    ),
    ("budget.reserve", "settings.budget.reserve"),
    ("schedule.hour", "schedule.hour"),
    ("schedule.minute", "schedule.minute"),
    ("schedule.time-zone", "schedule.time_zone"),
];

/// The TOML key for a setting named by its WIT name.
pub fn toml_key(setting: &str) -> String {
    SETTING_KEYS
        .iter()
        .find(|(wit, _)| *wit == setting)
        .map_or_else(
            || format!("settings ({setting})"),
            |(_, key)| key.to_string(),
        )
}

/// The 1-based line of `key` (`settings.budget.reserve`) in TOML `text`: the
/// line that sets its last part inside its table, if the file sets it.
pub fn key_line(text: &str, key: &str) -> Option<usize> {
    let (table, leaf) = key.rsplit_once('.')?;
    let mut in_table = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            in_table = header.trim_end_matches(']').trim() == table;
        } else if in_table && line.split_once('=').is_some_and(|(k, _)| k.trim() == leaf) {
            return Some(i + 1);
        }
    }
    None
}
