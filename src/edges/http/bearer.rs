//! The one reader of an `Authorization: Bearer …` header's value.

/// The token of an `Authorization` header's value (`Bearer` or `bearer`, then the token,
/// trimmed); `None` for any other scheme or an empty token.
pub fn token(value: &str) -> Option<&str> {
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_non_empty_bearer_token_is_read() {
        assert_eq!(token("Bearer abc.def"), Some("abc.def"));
        assert_eq!(token("bearer  abc "), Some("abc"));
        assert_eq!(token("Bearer "), None);
        assert_eq!(token("Basic dXNlcg=="), None);
        assert_eq!(token("abc"), None);
    }
}
