//! Reviews of access requests: one per reviewer, read oldest first.

use crate::model::access::{AccessRequest, Review, Verdict};
use crate::model::domain::{from_ms, to_ms};
use crate::model::policy::permit::{Permit, ReviewRequest};
use crate::model::policy::subject::object;
use crate::store::error::StoreError;
use crate::store::permitted::permitted;
use crate::store::statement::sql;
use crate::store::tx::Tx;

#[derive(sqlx::FromRow)]
pub(super) struct ReviewRow {
    reviewer_id: String,
    reviewer_name: String,
    verdict: String,
    comment: Option<String>,
    at: i64,
}

impl TryFrom<ReviewRow> for Review {
    type Error = StoreError;
    fn try_from(r: ReviewRow) -> Result<Self, StoreError> {
        let verdict = match r.verdict.as_str() {
            "approve" => Verdict::Approve,
            "deny" => Verdict::Deny,
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "reviews.verdict {:?}",
                    r.verdict
                )))
            }
        };
        Ok(Review {
            verdict,
            reviewer_id: r.reviewer_id,
            reviewer_name: r.reviewer_name,
            comment: r.comment,
            at: from_ms(r.at),
        })
    }
}

/// Stored name of a verdict.
fn verdict_str(v: Verdict) -> &'static str {
    match v {
        Verdict::Approve => "approve",
        Verdict::Deny => "deny",
    }
}

impl Tx {
    /// Records a review; false if this reviewer already reviewed this request.
    pub async fn insert_review(
        &mut self,
        permit: &Permit<ReviewRequest>,
        request: &AccessRequest,
        r: &Review,
    ) -> Result<bool, StoreError> {
        permitted(
            permit,
            &r.reviewer_id,
            &object(&request.resource, &request.role),
        )?;
        let request_id = &request.id;
        let inserted = sql(
            "INSERT INTO reviews (request_id, reviewer_id, reviewer_name, verdict, comment, at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (request_id, reviewer_id) DO NOTHING",
        )
        .bind(request_id)
        .bind(&r.reviewer_id)
        .bind(&r.reviewer_name)
        .bind(verdict_str(r.verdict))
        .bind(&r.comment)
        .bind(to_ms(r.at))
        .execute(self)
        .await?;
        Ok(inserted == 1)
    }

    /// A request's reviews, oldest first.
    pub async fn reviews(&mut self, request_id: &str) -> Result<Vec<Review>, StoreError> {
        let rows: Vec<ReviewRow> = sql(
            "SELECT reviewer_id, reviewer_name, verdict, comment, at FROM reviews
             WHERE request_id = $1 ORDER BY at, reviewer_id",
        )
        .bind(request_id)
        .fetch_all(self)
        .await?;
        rows.into_iter().map(Review::try_from).collect()
    }
}
