//! One statement, written once, run on whichever backend the transaction holds.
//!
//! The schema stores only integers (times as milliseconds), text and booleans, so a
//! statement's arguments are kept as [`Arg`]s and bound to SQLite's or PostgreSQL's
//! arguments when it runs; rows decode through `sqlx::FromRow`, derived once for both
//! (see [`Stored`]). Both backends read `$N` placeholders.

use std::borrow::Cow;

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Arguments, Database, Encode, FromRow, Type};

use crate::store::error::StoreError;
use crate::store::tx::{Conn, Tx};

/// A value bound to a placeholder.
#[derive(Debug, Clone)]
pub(super) enum Arg<'a> {
    /// An integer (or a time in milliseconds), or NULL.
    Int(Option<i64>),
    /// Text, or NULL.
    Text(Option<Cow<'a, str>>),
    /// A boolean.
    Bool(bool),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(Cow::Borrowed(v)))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(Cow::Borrowed(v)))
    }
}

impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Arg::Text(Some(Cow::Owned(v)))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v.map(Cow::Borrowed))
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::Text(v.as_deref().map(Cow::Borrowed))
    }
}

/// A row (a `#[derive(sqlx::FromRow)]` struct or a tuple) that both backends decode.
pub(super) trait Stored:
    Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>
{
}

impl<T> Stored for T where
    T: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>
{
}

/// SQL with its arguments, run by [`Statement::execute`] or one of the `fetch_*`.
#[derive(Debug, Clone)]
pub(super) struct Statement<'a> {
    sql: Cow<'a, str>,
    args: Vec<Arg<'a>>,
}

/// A statement both backends read (`$N` placeholders); bind its arguments in order.
pub(super) fn sql<'a>(sql: impl Into<Cow<'a, str>>) -> Statement<'a> {
    Statement {
        sql: sql.into(),
        args: Vec::new(),
    }
}

/// The backend's arguments for `args`.
fn arguments<'q, DB: Database>(args: &'q [Arg<'_>]) -> Result<DB::Arguments<'q>, StoreError>
where
    Option<i64>: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    bool: Encode<'q, DB> + Type<DB>,
{
    let mut out: DB::Arguments<'q> = Default::default();
    out.reserve(args.len(), 0);
    for a in args {
        match a {
            Arg::Int(v) => out.add(*v),
            Arg::Text(v) => out.add(v.as_deref()),
            Arg::Bool(v) => out.add(*v),
        }
        .map_err(|e| StoreError::Database(sqlx::Error::Encode(e)))?;
    }
    Ok(out)
}

impl<'a> Statement<'a> {
    /// Binds the next placeholder.
    pub(super) fn bind(mut self, value: impl Into<Arg<'a>>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Runs the statement; how many rows it changed.
    pub(super) async fn execute(&self, tx: &mut Tx) -> Result<u64, StoreError> {
        let sql = self.sql.as_ref();
        Ok(match &mut tx.conn {
            Conn::Sqlite(c) => {
                let args = arguments::<sqlx::Sqlite>(&self.args)?;
                let done = sqlx::query_with(sql, args).execute(&mut **c).await?;
                done.rows_affected()
            }
            Conn::Postgres(c) => {
                let args = arguments::<sqlx::Postgres>(&self.args)?;
                let done = sqlx::query_with(sql, args).execute(&mut **c).await?;
                done.rows_affected()
            }
        })
    }

    /// The one row the statement returns.
    pub(super) async fn fetch_one<T: Stored>(&self, tx: &mut Tx) -> Result<T, StoreError> {
        let sql = self.sql.as_ref();
        Ok(match &mut tx.conn {
            Conn::Sqlite(c) => {
                let args = arguments::<sqlx::Sqlite>(&self.args)?;
                sqlx::query_as_with(sql, args).fetch_one(&mut **c).await?
            }
            Conn::Postgres(c) => {
                let args = arguments::<sqlx::Postgres>(&self.args)?;
                sqlx::query_as_with(sql, args).fetch_one(&mut **c).await?
            }
        })
    }

    /// The first row the statement returns, if any.
    pub(super) async fn fetch_optional<T: Stored>(
        &self,
        tx: &mut Tx,
    ) -> Result<Option<T>, StoreError> {
        let sql = self.sql.as_ref();
        Ok(match &mut tx.conn {
            Conn::Sqlite(c) => {
                let args = arguments::<sqlx::Sqlite>(&self.args)?;
                sqlx::query_as_with(sql, args)
                    .fetch_optional(&mut **c)
                    .await?
            }
            Conn::Postgres(c) => {
                let args = arguments::<sqlx::Postgres>(&self.args)?;
                sqlx::query_as_with(sql, args)
                    .fetch_optional(&mut **c)
                    .await?
            }
        })
    }

    /// Every row the statement returns.
    pub(super) async fn fetch_all<T: Stored>(&self, tx: &mut Tx) -> Result<Vec<T>, StoreError> {
        let sql = self.sql.as_ref();
        Ok(match &mut tx.conn {
            Conn::Sqlite(c) => {
                let args = arguments::<sqlx::Sqlite>(&self.args)?;
                sqlx::query_as_with(sql, args).fetch_all(&mut **c).await?
            }
            Conn::Postgres(c) => {
                let args = arguments::<sqlx::Postgres>(&self.args)?;
                sqlx::query_as_with(sql, args).fetch_all(&mut **c).await?
            }
        })
    }
}
