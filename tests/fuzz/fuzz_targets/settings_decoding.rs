//! Arbitrary bytes as settings, through validation and the nightly schedule.
//! The body and its invariants are in `src/checks.rs`, shared with the
//! plugin's `fuzz_corpus` replay test.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| unsubscribe_sync_fuzz::settings_decoding(data));
