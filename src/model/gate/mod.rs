//! The gate's pure rules.
//!
//! - [`admission_rules`]: what an admission is, and the pure rules that refuse one.
//! - [`assertion`]: the header the identity assertion travels in.
//! - [`paths`]: paths refused because a decoding upstream would read a parent segment.

pub mod admission_rules;
pub mod assertion;
pub mod paths;
