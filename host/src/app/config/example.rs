//! The commented example `unsubscribe-sync init` writes.

/// The commented example written by `unsubscribe-sync init`. Every key is
/// shown with its default.
pub const EXAMPLE: &str = r#"# unsubscribe-sync configuration.
#
# Credentials never go in this file. Provide them as environment variables
#   UNSUBSCRIBE_SYNC_CLIENT_ID, UNSUBSCRIBE_SYNC_CLIENT_SECRET,
#   UNSUBSCRIBE_SYNC_REFRESH_TOKEN (and UNSUBSCRIBE_SYNC_WEBHOOK_SECRET for `serve`)
# or in a TOML file readable only by you (chmod 600) named by org.credentials_file:
#   client_id = "..."  client_secret = "..."  refresh_token = "..."  webhook_secret = "..."
# Relative paths below are relative to this file's directory.

[org]
# The OAuth token endpoint's origin: https://login.salesforce.com (production),
# https://test.salesforce.com (sandbox) or your My Domain.
login_url = "https://login.salesforce.com"
# Pin the org's instance (optional). Requests only ever go to the instance; when
# pinned, the token endpoint must name this same one.
# instance_url = "https://acme.my.salesforce.com"
# credentials_file = "credentials.toml"
# Trust only these certificate authorities (PEM) for the org, instead of the
# public roots built in: for a TLS-inspecting proxy or a test server.
# ca_file = "corporate-ca.pem"
# One request's timeout (also capped by the call deadline, limits.call_timeout_secs).
timeout_secs = 30
# Cap on a response body from the org.
max_response_bytes = 33554432

[settings]
# The Salesforce unsubscribe sync. When false, a push still writes, to
# HasOptedOutOfEmail only, and the nightly does not run.
sync_enabled = true
# Write the standard "Email Opt Out" checkbox (HasOptedOutOfEmail).
email_opt_out = true
# The custom "sales opt-out" checkbox to write too (its API name), if any.
# sales_opt_out_field = "Sales_Opt_Out__c"
# The REST API version (42.0 or later).
api_version = "62.0"
# The nightly uses Bulk API 2.0 for an object from this many unsubscribes (0: never).
bulk_threshold = 10000

[settings.budget]
# What one nightly run may spend of the org's daily API requests.
# max_calls = 5000
max_percent_of_remaining = 10
# Requests kept free for real-time pushes.
reserve = 1000

[schedule]
# When the nightly runs (`serve`), in local time of the zone.
hour = 20
minute = 0
time_zone = "America/Los_Angeles"

[storage]
# The SQLite file holding the ledger, retries, audit trail and the serve inbox.
path = "unsubscribe-sync.db"

[limits]
# Deadline of one call into the component, in seconds.
call_timeout_secs = 10
# Memory cap of the component, in MiB.
memory_mib = 64

[runtime]
# Run another build of the component (the same WIT world) instead of the embedded one.
# component = "unsubscribe_sync_plugin.wasm"
# Where the precompiled component is cached (default: ~/.cache/unsubscribe-sync).
# cache_dir = ".cache"
pooling = true

[server]
# `serve`: the address to listen on.
listen = "127.0.0.1:8787"
# Webhook body cap, in bytes.
max_body_bytes = 65536
# A signed request older (or newer) than this is refused as a replay.
replay_window_secs = 300
# Retries attempted per drain.
retry_batch = 50
# Waiting unsubscribes written together in one call (200 = one Salesforce
# collections call); 1 writes every event on its own.
batch_max = 200
# A client that takes longer than this to send a request's head is dropped.
header_read_timeout_secs = 10
# A connection that moves no byte for this long is dropped.
idle_timeout_secs = 60
# Open connections at most; the next is answered 503 at once.
max_connections = 512
"#;
