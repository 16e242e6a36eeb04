//! Talking to Salesforce: request building, answers and errors.

pub mod api;
pub mod bulk;
pub mod errors;
pub mod soql;
