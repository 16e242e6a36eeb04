//! Talking to Salesforce: request building, answers and errors.

pub mod api;
pub mod errors;
pub mod soql;
