//! The kinds of audit event, each with the dotted wire name the log stores and exports.
//!
//! Events are written only through an [`EventKind`]; the stored `type` stays the text, so
//! a log written by an older or newer broker, with a kind this one does not know, reads,
//! hashes and verifies unchanged: [`EventKind::parse`] answers `None` for it and the
//! readers (exports, the report) show its text as it is.

use std::fmt;

/// What happened, as one audit event records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// `request.created`: an access request was made.
    RequestCreated,
    /// `request.approved`: a reviewer approved it (enough approvals).
    RequestApproved,
    /// `request.denied`: a reviewer denied it.
    RequestDenied,
    /// `request.cancelled`: the requester withdrew it.
    RequestCancelled,
    /// `request.expired`: it was not decided or activated in time.
    RequestExpired,
    /// `grant.activated`: the grant started.
    GrantActivated,
    /// `grant.extended`: the grant was made longer.
    GrantExtended,
    /// `grant.revoked`: the grant was ended early.
    GrantRevoked,
    /// `grant.expired`: the grant ran out.
    GrantExpired,
    /// `breakglass.used`: a break-glass grant started without review.
    BreakglassUsed,
    /// `policy.decided`: the policy decided a request.
    PolicyDecided,
    /// `policy.loaded`: the policy in force at start.
    PolicyLoaded,
    /// `policy.reloaded`: a new policy file was taken, or refused.
    PolicyReloaded,
    /// `review.submitted`: a review was recorded.
    ReviewSubmitted,
    /// `review.refused`: a review was refused.
    ReviewRefused,
    /// `credential.issued`: a credential was handed out.
    CredentialIssued,
    /// `credential.failed`: a credential could not be made.
    CredentialFailed,
    /// `credential.discarded`: a minted credential was thrown away unanswered.
    CredentialDiscarded,
    /// `session.created`: a login made a session.
    SessionCreated,
    /// `session.ended`: a session was ended.
    SessionEnded,
    /// `session.refused`: a login was refused.
    SessionRefused,
    /// `user.locked`: an administrator locked a user.
    UserLocked,
    /// `user.unlocked`: an administrator lifted a lock.
    UserUnlocked,
    /// `key.rotated`: the signing key was rotated.
    KeyRotated,
    /// `key.imported`: the keys a broker kept on disk were sealed into the database.
    KeyImported,
    /// `slack.link_code.issued`: a code to link a Slack account was made.
    SlackLinkCodeIssued,
    /// `slack.linked`: a Slack account was linked.
    SlackLinked,
    /// `gate.refused`: the gate refused a known human.
    GateRefused,
    /// `gate.stream_opened`: a stream through the gate opened.
    GateStreamOpened,
    /// `gate.stream_closed`: a stream through the gate closed.
    GateStreamClosed,
    /// `aws.session_denied`: AWS sessions of a grant or user were denied.
    AwsSessionDenied,
    /// `aws.deny_failed`: such a deny could not be written (it is retried).
    AwsDenyFailed,
    /// `aws.deny_removed`: a deny that outlived its sessions was removed.
    AwsDenyRemoved,
    /// `audit.exported`: an evidence bundle was exported.
    AuditExported,
    /// `db.login_created`: a grant's database login was made (its name, groups, VALID UNTIL).
    DbLoginCreated,
    /// `db.sessions_terminated`: the live sessions of an ending login were terminated (with the count).
    DbSessionsTerminated,
    /// `db.login_dropped`: an ended grant's login was dropped.
    DbLoginDropped,
    /// `db.login_disabled`: an ended grant's login owns objects: left NOLOGIN without memberships.
    DbLoginDisabled,
    /// `db.cleanup_failed`: ending a login failed (with the SQLSTATE); retried.
    DbCleanupFailed,
    /// `ssh.ca_rotated`: the SSH user CA has a new signing key (the old one stays trusted until its certificates expire).
    SshCaRotated,
}

impl EventKind {
    /// Every kind, in the order above.
    pub const ALL: [EventKind; 40] = [
        Self::RequestCreated,
        Self::RequestApproved,
        Self::RequestDenied,
        Self::RequestCancelled,
        Self::RequestExpired,
        Self::GrantActivated,
        Self::GrantExtended,
        Self::GrantRevoked,
        Self::GrantExpired,
        Self::BreakglassUsed,
        Self::PolicyDecided,
        Self::PolicyLoaded,
        Self::PolicyReloaded,
        Self::ReviewSubmitted,
        Self::ReviewRefused,
        Self::CredentialIssued,
        Self::CredentialFailed,
        Self::CredentialDiscarded,
        Self::SessionCreated,
        Self::SessionEnded,
        Self::SessionRefused,
        Self::UserLocked,
        Self::UserUnlocked,
        Self::KeyRotated,
        Self::KeyImported,
        Self::SlackLinkCodeIssued,
        Self::SlackLinked,
        Self::GateRefused,
        Self::GateStreamOpened,
        Self::GateStreamClosed,
        Self::AwsSessionDenied,
        Self::AwsDenyFailed,
        Self::AwsDenyRemoved,
        Self::AuditExported,
        Self::DbLoginCreated,
        Self::DbSessionsTerminated,
        Self::DbLoginDropped,
        Self::DbLoginDisabled,
        Self::DbCleanupFailed,
        Self::SshCaRotated,
    ];

    /// The wire name: what the log stores in `type` and every export shows.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RequestCreated => "request.created",
            Self::RequestApproved => "request.approved",
            Self::RequestDenied => "request.denied",
            Self::RequestCancelled => "request.cancelled",
            Self::RequestExpired => "request.expired",
            Self::GrantActivated => "grant.activated",
            Self::GrantExtended => "grant.extended",
            Self::GrantRevoked => "grant.revoked",
            Self::GrantExpired => "grant.expired",
            Self::BreakglassUsed => "breakglass.used",
            Self::PolicyDecided => "policy.decided",
            Self::PolicyLoaded => "policy.loaded",
            Self::PolicyReloaded => "policy.reloaded",
            Self::ReviewSubmitted => "review.submitted",
            Self::ReviewRefused => "review.refused",
            Self::CredentialIssued => "credential.issued",
            Self::CredentialFailed => "credential.failed",
            Self::CredentialDiscarded => "credential.discarded",
            Self::SessionCreated => "session.created",
            Self::SessionEnded => "session.ended",
            Self::SessionRefused => "session.refused",
            Self::UserLocked => "user.locked",
            Self::UserUnlocked => "user.unlocked",
            Self::KeyRotated => "key.rotated",
            Self::KeyImported => "key.imported",
            Self::SlackLinkCodeIssued => "slack.link_code.issued",
            Self::SlackLinked => "slack.linked",
            Self::GateRefused => "gate.refused",
            Self::GateStreamOpened => "gate.stream_opened",
            Self::GateStreamClosed => "gate.stream_closed",
            Self::AwsSessionDenied => "aws.session_denied",
            Self::AwsDenyFailed => "aws.deny_failed",
            Self::AwsDenyRemoved => "aws.deny_removed",
            Self::AuditExported => "audit.exported",
            Self::DbLoginCreated => "db.login_created",
            Self::DbSessionsTerminated => "db.sessions_terminated",
            Self::DbLoginDropped => "db.login_dropped",
            Self::DbLoginDisabled => "db.login_disabled",
            Self::DbCleanupFailed => "db.cleanup_failed",
            Self::SshCaRotated => "ssh.ca_rotated",
        }
    }

    /// The kind a stored wire name names, or `None` for one this broker does not know
    /// (a log from another version): the event is kept and read as its text.
    pub fn parse(wire: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == wire)
    }
}

/// Serialized as its wire name.
impl serde::Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::EventKind as K;

    /// The wire names are stored in every log and bundle ever written: this list changes
    /// only by growing.
    #[test]
    fn every_kind_keeps_its_wire_name() {
        let expected = [
            (K::RequestCreated, "request.created"),
            (K::RequestApproved, "request.approved"),
            (K::RequestDenied, "request.denied"),
            (K::RequestCancelled, "request.cancelled"),
            (K::RequestExpired, "request.expired"),
            (K::GrantActivated, "grant.activated"),
            (K::GrantExtended, "grant.extended"),
            (K::GrantRevoked, "grant.revoked"),
            (K::GrantExpired, "grant.expired"),
            (K::BreakglassUsed, "breakglass.used"),
            (K::PolicyDecided, "policy.decided"),
            (K::PolicyLoaded, "policy.loaded"),
            (K::PolicyReloaded, "policy.reloaded"),
            (K::ReviewSubmitted, "review.submitted"),
            (K::ReviewRefused, "review.refused"),
            (K::CredentialIssued, "credential.issued"),
            (K::CredentialFailed, "credential.failed"),
            (K::CredentialDiscarded, "credential.discarded"),
            (K::SessionCreated, "session.created"),
            (K::SessionEnded, "session.ended"),
            (K::SessionRefused, "session.refused"),
            (K::UserLocked, "user.locked"),
            (K::UserUnlocked, "user.unlocked"),
            (K::KeyRotated, "key.rotated"),
            (K::KeyImported, "key.imported"),
            (K::SlackLinkCodeIssued, "slack.link_code.issued"),
            (K::SlackLinked, "slack.linked"),
            (K::GateRefused, "gate.refused"),
            (K::GateStreamOpened, "gate.stream_opened"),
            (K::GateStreamClosed, "gate.stream_closed"),
            (K::AwsSessionDenied, "aws.session_denied"),
            (K::AwsDenyFailed, "aws.deny_failed"),
            (K::AwsDenyRemoved, "aws.deny_removed"),
            (K::AuditExported, "audit.exported"),
            (K::DbLoginCreated, "db.login_created"),
            (K::DbSessionsTerminated, "db.sessions_terminated"),
            (K::DbLoginDropped, "db.login_dropped"),
            (K::DbLoginDisabled, "db.login_disabled"),
            (K::DbCleanupFailed, "db.cleanup_failed"),
            (K::SshCaRotated, "ssh.ca_rotated"),
        ];
        assert_eq!(K::ALL.len(), expected.len());
        for (kind, wire) in expected {
            assert_eq!(kind.as_str(), wire);
            assert_eq!(kind.to_string(), wire);
            assert_eq!(serde_json::to_value(kind).unwrap(), wire);
            assert_eq!(K::parse(wire), Some(kind));
        }
        assert_eq!(K::ALL.to_vec(), expected.map(|(k, _)| k).to_vec());
    }

    #[test]
    fn an_unknown_stored_kind_is_not_a_known_one() {
        for wire in ["test.stale", "grant.paused", "", "GRANT.ACTIVATED"] {
            assert_eq!(K::parse(wire), None);
        }
    }
}
