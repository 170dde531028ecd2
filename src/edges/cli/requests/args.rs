//! The access verbs' arguments, as clap reads them.

use clap::{Args, Subcommand};

/// What to ask for.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Resource, e.g. aws:prod.
    pub resource: String,
    /// Role (required when the resource has several).
    #[arg(long)]
    pub role: Option<String>,
    /// How long, counted from activation (e.g. 2h).
    #[arg(long = "for", value_name = "DURATION", value_parser = crate::model::duration::checked)]
    pub duration: Option<String>,
    /// Why.
    #[arg(long)]
    pub reason: Option<String>,
    /// Ticket, e.g. INC-123.
    #[arg(long)]
    pub ticket: Option<String>,
    /// Wait, showing progress, until the request is decided (exit 0 granted, 5 denied, 6 expired, 7 cancelled or revoked).
    #[arg(long)]
    pub wait: bool,
}

/// The access verbs.
#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// What you may request, each role's limits and who must approve.
    Resources,
    /// Ask for access.
    Request(RequestArgs),
    /// Emergency access, active at once, reviewed after the fact.
    Breakglass {
        /// Resource.
        resource: String,
        /// Role.
        #[arg(long)]
        role: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
        /// How long (capped short by the role).
        #[arg(long = "for", value_name = "DURATION", value_parser = crate::model::duration::checked)]
        duration: Option<String>,
    },
    /// Your requests, or those waiting for your review.
    Requests {
        /// Your own requests (the default).
        #[arg(long, conflicts_with = "to_review")]
        mine: bool,
        /// Requests you may review and have not.
        #[arg(long)]
        to_review: bool,
    },
    /// One request with its reviews.
    Show {
        /// Request id.
        id: String,
    },
    /// Approve a request.
    Approve {
        /// Request id.
        id: String,
        /// Comment.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Deny a request.
    Deny {
        /// Request id.
        id: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
    },
    /// Start an approved grant; its duration counts from now.
    Activate {
        /// Request id.
        id: String,
    },
    /// Extend a live grant.
    Extend {
        /// Request id.
        id: String,
        /// How much longer.
        #[arg(long = "for", value_name = "DURATION", value_parser = crate::model::duration::checked)]
        duration: String,
    },
    /// Withdraw a request that is not yet active.
    Cancel {
        /// Request id.
        id: String,
    },
    /// End a grant now (the requester or an administrator).
    Revoke {
        /// Request id.
        id: String,
    },
    /// Print a broker token for a resource you hold an active grant on.
    Token {
        /// Resource (of kind `token`).
        resource: String,
        /// Lifetime (capped by the grant and at 1h).
        #[arg(long, value_name = "DURATION", value_parser = crate::model::duration::checked)]
        ttl: Option<String>,
    },
}
