//! Arbitrary bytes as an unsubscribe or re-subscribe event, through the intake.
//! The body and its invariants are in `src/checks.rs`, shared with the
//! plugin's `fuzz_corpus` replay test.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| unsubscribe_sync_fuzz::event_decoding(data));
