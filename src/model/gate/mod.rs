//! The gate's pure rules.
//!
//! - [`admission_rules`]: what an admission is, and the pure rules that refuse one.
//! - [`paths`]: paths refused because a decoding upstream would read a parent segment.

pub mod admission_rules;
pub mod paths;
