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
    /// Your requests, those waiting for your review, or (--all) every request you may see.
    Requests {
        /// Your own requests (the default).
        #[arg(long, conflicts_with_all = ["to_review", "all"])]
        mine: bool,
        /// Requests you may review and have not.
        #[arg(long, conflicts_with = "all")]
        to_review: bool,
        /// Everyone's requests: administrators and audit readers see all, reviewers those they may review.
        #[arg(long)]
        all: bool,
        /// With --all: only this requester's (user id or email).
        #[arg(long, requires = "all")]
        user: Option<String>,
        /// With --all: only on this resource.
        #[arg(long, requires = "all")]
        resource: Option<String>,
        /// With --all: only in this state (pending, approved, active, denied, expired, cancelled, revoked).
        #[arg(long, requires = "all")]
        state: Option<String>,
        /// With --all: only grants active now.
        #[arg(long, requires = "all")]
        active: bool,
    },
    /// One request with its reviews (without an id: your newest request).
    Show {
        /// Request id, or a unique prefix of it (6+ hex digits).
        id: Option<String>,
    },
    /// Approve a request (without an id: the one waiting for your review, if only one is).
    Approve {
        /// Request id, or a unique prefix of it (6+ hex digits).
        id: Option<String>,
        /// Comment.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Deny a request (without an id: the one waiting for your review, if only one is).
    Deny {
        /// Request id, or a unique prefix of it (6+ hex digits).
        id: Option<String>,
        /// Why (required).
        #[arg(long)]
        reason: String,
    },
    /// Start an approved grant; its duration counts from now (without an id: your one approved request).
    Activate {
        /// Request id, or a unique prefix of it (6+ hex digits).
        id: Option<String>,
    },
    /// Extend a live grant (without an id: your one active grant).
    Extend {
        /// Request id, or a unique prefix of it (6+ hex digits).
        id: Option<String>,
        /// How much longer.
        #[arg(long = "for", value_name = "DURATION", value_parser = crate::model::duration::checked)]
        duration: String,
    },
    /// Withdraw a request that is not yet active (without an id: your one pending or approved request).
    Cancel {
        /// Request id, or a unique prefix of it (6+ hex digits).
        id: Option<String>,
    },
    /// End a grant now (the requester or an administrator; without an id: your one active grant).
    Revoke {
        /// Request id, or a unique prefix of it (6+ hex digits).
        id: Option<String>,
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
