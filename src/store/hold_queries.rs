//! Statements that hold what an issuance was decided on until its transaction ends
//! (instantiated by [`hold_queries!`]). PostgreSQL locks the rows against updates (`FOR
//! NO KEY UPDATE`, not `FOR SHARE`: share locks let a stream of issuances keep a
//! revocation's `UPDATE` waiting until the last of them, where this one queues it behind
//! the one holding the row) and takes an advisory lock that user locks take exclusively;
//! a SQLite writer (`BEGIN IMMEDIATE`) already excludes every other writer, so there the
//! statements only read.

macro_rules! hold_queries {
    ($conn:ty, $postgres:expr) => {
        mod hold {
            use crate::access::AccessRequest;
            use crate::store::rows::{RequestRow, REQUEST_COLUMNS};
            use crate::store::StoreError;

            /// The advisory lock key that orders issuances and logins against user locks
            /// (`latchkey` in ASCII).
            const LOCKS_KEY: i64 = 0x6c61_7463_686b_6579;

            fn row_lock() -> &'static str {
                if $postgres {
                    " FOR NO KEY UPDATE"
                } else {
                    ""
                }
            }

            pub async fn hold_against_locks(c: &mut $conn) -> Result<(), StoreError> {
                if $postgres {
                    sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
                        .bind(LOCKS_KEY)
                        .execute(&mut *c)
                        .await?;
                }
                Ok(())
            }

            pub async fn exclude_holders(c: &mut $conn) -> Result<(), StoreError> {
                if $postgres {
                    sqlx::query("SELECT pg_advisory_xact_lock($1)")
                        .bind(LOCKS_KEY)
                        .execute(&mut *c)
                        .await?;
                }
                Ok(())
            }

            pub async fn hold_request(
                c: &mut $conn,
                id: &str,
            ) -> Result<Option<AccessRequest>, StoreError> {
                let row: Option<RequestRow> = sqlx::query_as(&format!(
                    "SELECT {REQUEST_COLUMNS} FROM access_requests WHERE id = $1{}",
                    row_lock()
                ))
                .bind(id)
                .fetch_optional(&mut *c)
                .await?;
                row.map(AccessRequest::try_from).transpose()
            }

            pub async fn hold_session(c: &mut $conn, id: &str) -> Result<(), StoreError> {
                let _: Option<(String,)> = sqlx::query_as(&format!(
                    "SELECT id FROM sessions WHERE id = $1{}",
                    row_lock()
                ))
                .bind(id)
                .fetch_optional(&mut *c)
                .await?;
                Ok(())
            }
        }
        pub use hold::*;
    };
}

pub(crate) use hold_queries;
