//! What is asked ([`Ask`]) and what is decided ([`Decision`], its [`Outcome`]).

use std::time::Duration;

use serde::Serialize;

/// What is asked.
#[derive(Debug, Clone, Default)]
pub struct Ask {
    /// Resource name.
    pub resource: String,
    /// Role name (`None`: the resource's only role).
    pub role: Option<String>,
    /// Duration asked (`None`: the role's default).
    pub duration: Option<Duration>,
    /// Why.
    pub reason: Option<String>,
    /// Ticket reference.
    pub ticket: Option<String>,
    /// Break-glass.
    pub breakglass: bool,
}

/// The decision's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Refused; nothing is created.
    Refused,
    /// Granted at once.
    AutoApproved,
    /// Granted at once under break-glass, flagged for review after the fact.
    Breakglass,
    /// Waits for reviews.
    NeedsReview,
}

/// A decision with its explanation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Decision {
    /// What happens.
    #[schema(inline)]
    pub outcome: Outcome,
    /// For refusals, a stable code.
    pub code: Option<&'static str>,
    /// The role decided on.
    pub role: Option<String>,
    /// Effective duration (seconds).
    pub duration_secs: u64,
    /// Why, in order.
    pub explanation: Vec<String>,
    /// What would make a refusal possible.
    pub hint: Option<String>,
    /// Approvals needed.
    pub approvals: u32,
    /// Denials that end it.
    pub denials: u32,
    /// Who may review, in words.
    pub reviewers: String,
    /// Policy lines that matched.
    pub rules: Vec<String>,
    /// Every requirement of the role the ask does not meet (reason, ticket, duration), in
    /// order. A request is refused for all of them at once, its `code` the first's; an
    /// explanation decides as if they were met and lists them as what a real request would
    /// also need. Empty when the policy refused before the terms (who asks, for what).
    pub unmet: Vec<Unmet>,
}

/// A requirement of the role that the ask does not meet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Unmet {
    /// Stable code, the one a refusal for this alone has: `reason_required`,
    /// `reason_mismatch`, `ticket_required`, `ticket_mismatch`, `duration_too_long`.
    pub code: &'static str,
    /// The field of the request: `reason`, `ticket` or `duration`.
    pub field: &'static str,
    /// What is wrong, in words.
    pub message: String,
    /// What would meet it, in words: `a reason (at least 10 characters)`.
    pub need: String,
}

impl Decision {
    /// A refusal with its `code`: the explanation so far, then `why`.
    pub(super) fn refuse(
        code: &'static str,
        why: String,
        hint: Option<String>,
        explanation: Vec<String>,
    ) -> Self {
        let mut explanation = explanation;
        explanation.push(why);
        Decision {
            outcome: Outcome::Refused,
            code: Some(code),
            role: None,
            duration_secs: 0,
            explanation,
            hint,
            approvals: 0,
            denials: 0,
            reviewers: String::new(),
            rules: Vec::new(),
            unmet: Vec::new(),
        }
    }
}
