//! Why a database did not do what the broker asked, each with a stable code and, where
//! the server gave one, its SQLSTATE.

/// Why a database did not do what the broker asked; each with a stable code.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PgError {
    /// The server could not be reached (or did not answer in time).
    #[error("the database at {target} cannot be reached: {message}")]
    Unreachable {
        /// `host:port/database`.
        target: String,
        /// What failed.
        message: String,
    },
    /// The server refused the broker's own login.
    #[error("the database at {target} refused the broker's login as {user}: {message} (check db.password_env / db.password_file and pg_hba.conf)")]
    AuthFailed {
        /// `host:port/database`.
        target: String,
        /// The broker's role.
        user: String,
        /// The server's message.
        message: String,
    },
    /// The database does not exist.
    #[error("there is no database {target}")]
    UnknownDatabase {
        /// `host:port/database`.
        target: String,
    },
    /// A group role the catalogue names does not exist.
    #[error("group role {group:?} does not exist on {target}: {message}")]
    NoSuchGroup {
        /// The group.
        group: String,
        /// `host:port/database`.
        target: String,
        /// The server's message.
        message: String,
    },
    /// The broker's role lacks a privilege it needs.
    #[error("the broker's role may not do this on {target}: {message} (the start-up log names each missing grant; see \"PostgreSQL logins\" in the README)")]
    MissingGrant {
        /// `host:port/database`.
        target: String,
        /// The server's message.
        message: String,
    },
    /// The broker's password could not be read.
    #[error("the broker's password for {target} cannot be read: {0}", target = .1)]
    Password(String, String),
    /// Anything else the server said.
    #[error("the database at {target} refused ({sqlstate}): {message}")]
    Refused {
        /// `host:port/database`.
        target: String,
        /// SQLSTATE.
        sqlstate: String,
        /// The server's message.
        message: String,
    },
}

impl PgError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            PgError::Unreachable { .. } => "db_unreachable",
            PgError::AuthFailed { .. } => "db_admin_login_refused",
            PgError::UnknownDatabase { .. } => "db_unknown_database",
            PgError::NoSuchGroup { .. } => "db_no_such_group",
            PgError::MissingGrant { .. } => "db_missing_grant",
            PgError::Password(..) => "db_admin_password_unreadable",
            PgError::Refused { .. } => "db_refused",
        }
    }

    /// The SQLSTATE, where the server gave one.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            PgError::Refused { sqlstate, .. } => Some(sqlstate),
            PgError::NoSuchGroup { .. } => Some("42704"),
            PgError::MissingGrant { .. } => Some("42501"),
            PgError::UnknownDatabase { .. } => Some("3D000"),
            PgError::AuthFailed { .. } => Some("28P01"),
            _ => None,
        }
    }

    pub(crate) fn from_sqlx(target: &str, user: &str, e: sqlx::Error) -> Self {
        let target = target.to_string();
        match e {
            sqlx::Error::Database(db) => {
                let sqlstate = db.code().map(|c| c.to_string()).unwrap_or_default();
                let message = db.message().to_string();
                match sqlstate.as_str() {
                    "28P01" | "28000" => PgError::AuthFailed {
                        target,
                        user: user.into(),
                        message,
                    },
                    "3D000" => PgError::UnknownDatabase { target },
                    "42501" => PgError::MissingGrant { target, message },
                    // Connection limits, shutdown, cannot connect now: try again later.
                    "53300" | "57P01" | "57P02" | "57P03" | "08006" | "08001" | "08004" => {
                        PgError::Unreachable { target, message }
                    }
                    _ => PgError::Refused {
                        target,
                        sqlstate,
                        message,
                    },
                }
            }
            other => PgError::Unreachable {
                target,
                message: other.to_string(),
            },
        }
    }
}

/// A refusal to grant a group that does not exist, named as such.
pub(crate) fn no_such_group(e: PgError, groups: &[String]) -> PgError {
    match e {
        PgError::Refused {
            target,
            sqlstate,
            message,
        } if sqlstate == "42704" => {
            let group = groups
                .iter()
                .find(|g| message.contains(&format!("\"{g}\"")))
                .cloned()
                .unwrap_or_default();
            PgError::NoSuchGroup {
                group,
                target,
                message,
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_keep_their_sqlstate_and_code() {
        let e = no_such_group(
            PgError::Refused {
                target: "h:5432/db".into(),
                sqlstate: "42704".into(),
                message: "role \"events_ro\" does not exist".into(),
            },
            &["events_ro".into()],
        );
        assert_eq!(e.code(), "db_no_such_group");
        assert_eq!(e.sqlstate(), Some("42704"));
        assert!(e.to_string().contains("\"events_ro\""), "{e}");
    }
}
