//! Who asks or reviews, and the object a policy line matches: what the decision and the
//! review rules both read.

/// Who is asking or reviewing.
#[derive(Debug, Clone)]
pub struct Who<'a> {
    /// The policy name: verified email, else user id.
    pub name: &'a str,
    /// Broker user id.
    pub user_id: &'a str,
    /// Groups.
    pub groups: &'a [String],
}

/// `resource#role`, the object policy lines match.
pub fn object(resource: &str, role: &str) -> String {
    format!("{resource}#{role}")
}
