//! PostgreSQL, for several broker replicas sharing one database.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

super::access_queries::access_queries!(sqlx::PgConnection);
super::queries::shared_queries!(sqlx::PgConnection);
super::gate_queries::gate_queries!(sqlx::PgConnection);

/// Connects to the server named by `url`.
pub async fn connect(url: &str) -> Result<PgPool, StoreError> {
    Ok(PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await?)
}

/// Applies `migrations/postgres`.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::migrate!("migrations/postgres").run(pool).await?;
    Ok(())
}
