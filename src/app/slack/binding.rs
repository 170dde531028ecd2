//! Who a Slack user is in latchkey. A Slack user counts only when bound to a principal:
//! by a one-time code from `latchkey slack link` (typed as `/latchkey link CODE`), or by
//! the email that `users.info` shows as confirmed matching exactly one latchkey user's
//! verified email. Every click is checked against Slack again (`users.info`), whatever
//! the binding: a changed Slack email stops counting at once, and deactivated users, bots
//! and guests (restricted and ultra-restricted accounts) never count, even when linked by
//! code. A click from another workspace than the configured one (`slack.team_id`, or the
//! bot token's own) is refused. A locked latchkey user is refused as everywhere else.

use chrono::{DateTime, Utc};

use crate::adapters::slack::api::{SlackApi, SlackError};
use crate::app::services::Slack;
use crate::model::audit::EventKind;
use crate::model::digest::sha256_hex;
use crate::model::domain::Principal;
use crate::model::random::RandomError;
use crate::store::{StoreError, UserRecord};

/// How long a link code is valid.
pub const LINK_CODE_LIFETIME: chrono::Duration = chrono::Duration::minutes(10);
/// Letters of link codes (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Length of a link code: 31^10, about 49 bits, for ten minutes, used once.
const CODE_LENGTH: usize = 10;

/// Why a Slack user does not count as a latchkey user.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// No binding and no usable email.
    #[error("your Slack account is not linked to a latchkey user ({0}); run `latchkey slack link` and type the code it prints as `/latchkey link CODE`")]
    Unbound(String),
    /// Slack says the account is deactivated, a bot or a guest.
    #[error("deactivated accounts, bots and guests never review")]
    NotAMember,
    /// The click came from another workspace.
    #[error("this Slack workspace is not the one latchkey is configured for")]
    WrongTeam,
    /// The bound latchkey user is locked.
    #[error("your latchkey user is locked by an administrator")]
    Locked,
    /// Slack could not be asked.
    #[error(transparent)]
    Slack(#[from] SlackError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The operating system's generator failed: the binding's audit event has no id.
    #[error(transparent)]
    Random(#[from] RandomError),
}

impl BindError {
    /// Stable code for the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unbound(_) => "slack_unbound",
            Self::NotAMember => "slack_not_a_member",
            Self::WrongTeam => "slack_wrong_team",
            Self::Locked => "user_locked",
            Self::Slack(_) => "slack_unavailable",
            Self::Store(_) | Self::Random(_) => "internal",
        }
    }
}

/// A Slack user resolved to a latchkey principal.
#[derive(Debug, Clone)]
pub struct Bound {
    /// The principal, with groups as of their last latchkey login and no `auth_time`
    /// (a click is not a login, so a role that asks for a fresh login refuses it), except
    /// on a development server, where the user's last development login counts (there
    /// is no identity provider to confirm at).
    pub principal: Principal,
    /// `code` or `email`.
    pub method: &'static str,
}

fn principal(
    u: UserRecord,
    slack_user_id: &str,
    now: DateTime<Utc>,
) -> Result<Principal, BindError> {
    if u.locked {
        return Err(BindError::Locked);
    }
    Ok(Principal {
        dev: u.issuer == crate::app::login_dev::DEV_ISSUER,
        user_id: u.id,
        subject: u.subject,
        email: u.email,
        name: u.name,
        groups: u.groups,
        session_id: format!("slack:{slack_user_id}"),
        expires_at: now,
        auth_time: None,
        groups_claim_missing: None,
    })
}

/// A new one-time link code (shown once; only its hash is stored).
pub fn new_link_code() -> Result<String, RandomError> {
    let mut bytes = [0u8; CODE_LENGTH];
    crate::model::random::fill(&mut bytes)?;
    Ok(bytes
        .iter()
        .map(|b| CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()] as char)
        .collect())
}

/// The stored form of a code, as the user may type it (case and spaces ignored).
pub fn code_hash(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect();
    sha256_hex(format!("latchkey-slack-link:{normal}").as_bytes())
}

/// Refuses an interaction from another workspace than latchkey's.
pub async fn check_team(api: &SlackApi, team_id: Option<&str>) -> Result<(), BindError> {
    let expected = api.team_id().await?;
    match team_id {
        Some(t) if t == expected => Ok(()),
        _ => Err(BindError::WrongTeam),
    }
}

/// The latchkey principal of a Slack user, now, clicking from workspace `team_id`.
pub async fn resolve(
    slack: &Slack,
    api: &SlackApi,
    team_id: Option<&str>,
    slack_user_id: &str,
    now: DateTime<Utc>,
) -> Result<Bound, BindError> {
    check_team(api, team_id).await?;
    // Asked at every click, before any binding counts.
    let user = api.user_info(slack_user_id).await?;
    if user.deleted || user.is_bot || user.is_restricted || user.is_ultra_restricted {
        return Err(BindError::NotAMember);
    }
    if let Some(u) = linked_by_code(slack, slack_user_id).await? {
        return Ok(Bound {
            principal: with_dev_login(slack, principal(u, slack_user_id, now)?, now).await?,
            method: "code",
        });
    }
    let email = match (user.is_email_confirmed, user.profile.email) {
        (true, Some(e)) if !e.is_empty() => e,
        _ => {
            return Err(BindError::Unbound(
                "Slack shows no confirmed email for you".into(),
            ))
        }
    };
    let u = bind_by_email(slack, slack_user_id, &email, now).await?;
    Ok(Bound {
        principal: with_dev_login(slack, principal(u, slack_user_id, now)?, now).await?,
        method: "email",
    })
}

/// On a development server, a development user's last development login (of a live
/// session) is their `auth_time`: the development login is the only login there is.
async fn with_dev_login(
    slack: &Slack,
    mut p: Principal,
    now: DateTime<Utc>,
) -> Result<Principal, BindError> {
    if slack.core.config.dev && p.dev {
        let mut tx = slack.core.store.begin_read().await?;
        p.auth_time = tx.last_dev_login(&p.user_id, now).await?;
        tx.commit().await?;
    }
    Ok(p)
}

/// The latchkey user a Slack user was linked to by a one-time code, if any.
async fn linked_by_code(
    slack: &Slack,
    slack_user_id: &str,
) -> Result<Option<UserRecord>, BindError> {
    let mut tx = slack.core.store.begin_read().await?;
    let linked = match tx.slack_binding(slack_user_id).await? {
        Some((user_id, method)) if method == "code" => tx.user_by_id(&user_id).await?,
        _ => None,
    };
    tx.commit().await?;
    Ok(linked)
}

/// The one latchkey user whose verified email is the Slack user's confirmed `email`,
/// bound to the Slack user in one transaction (`slack.linked` audited the first time).
async fn bind_by_email(
    slack: &Slack,
    slack_user_id: &str,
    email: &str,
    now: DateTime<Utc>,
) -> Result<UserRecord, BindError> {
    let mut tx = slack.core.store.begin().await?;
    let mut matches = tx.users_by_email(email).await?;
    if matches.len() != 1 {
        tx.commit().await?;
        return Err(BindError::Unbound(if matches.is_empty() {
            "no latchkey user has your Slack email; log in to latchkey once first".into()
        } else {
            "several latchkey users share your Slack email".into()
        }));
    }
    let u = matches.remove(0);
    let new = tx.slack_bind(slack_user_id, &u.id, "email", now).await?;
    if new {
        let e = crate::model::audit::AuditEvent::new(
            EventKind::SlackLinked,
            &u.id,
            &Default::default(),
            now,
        )?
        .details(serde_json::json!({ "slack_user_id": slack_user_id, "method": "email" }));
        tx.append_audit(&e).await?;
    }
    tx.commit().await?;
    Ok(u)
}
