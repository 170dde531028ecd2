//! Audit events: one per thing that happened, written in the same transaction as the
//! change it records, so that a change without its event cannot exist.
//!
//! Secrets never appear here: tokens and keys are named by fingerprint only.
//!
//! Appends are chained ([`chain`]): the store gives each event its sequence number and the
//! hash of the one before when the transaction commits, under a lock that serializes
//! every appender, so the chain never forks. [`kind`] names every kind of event with its
//! wire name; [`checkpoint`] signs the head at intervals; [`problem`] is what a
//! verification reports; [`lines`] writes events as canonical JSON lines and reads them
//! back; [`canonical`] is the JCS the hashes and signatures are computed over; [`bounded`]
//! cuts the text events take from requests to a small length. Verifying a live log or a
//! bundle (`app::audit_verify`), exporting evidence (`app::export`), following the log
//! (`app::audit_feed`) and delivering checkpoints (`adapters::sink`) are done above the
//! core.

pub mod bounded;
pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod key;
pub mod kind;
pub mod lines;
pub mod par;
pub mod problem;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

pub use kind::EventKind;

use crate::model::domain::ClientInfo;
use crate::model::random::{uuid_v4, RandomError};

/// Where an action came from: the HTTP request id and the client.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The API request id (`x-request-id`).
    pub request_id: Option<String>,
    /// Peer address and user agent.
    pub client: ClientInfo,
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// Sequence number, assigned on append.
    pub seq: i64,
    /// Unique id.
    pub id: String,
    /// Dotted type, the wire name of an [`EventKind`] (`request.created`, …). Kept as the
    /// stored text so that a kind this broker does not know still reads and verifies.
    #[serde(rename = "type")]
    pub kind: String,
    /// When (UTC, milliseconds).
    #[serde(serialize_with = "serialize_at")]
    pub at: DateTime<Utc>,
    /// Who did it (user id, or `latchkey` for the broker itself).
    pub actor: String,
    /// What it was done to (an access request id, a user).
    pub subject: Option<String>,
    /// Resource.
    pub resource: Option<String>,
    /// Role.
    pub role: Option<String>,
    /// `success`, `refused`, `failure`.
    pub outcome: String,
    /// Why, in words.
    pub reason: Option<String>,
    /// API request id.
    pub request_id: Option<String>,
    /// Client address.
    pub client_addr: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Anything else, structured (integers, strings, booleans, lists, objects).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// The hash of the event before ([`chain::GENESIS`] for the first).
    #[serde(default)]
    pub prev_hash: String,
    /// This event's hash ([`chain::event_hash`]).
    #[serde(default)]
    pub hash: String,
}

fn fractions_to_strings(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.as_i64().is_none() && n.as_u64().is_none() => {
            *v = Value::String(n.to_string());
        }
        Value::Array(items) => items.iter_mut().for_each(fractions_to_strings),
        Value::Object(map) => map.values_mut().for_each(fractions_to_strings),
        _ => {}
    }
}

/// An event time as the log writes it: RFC 3339, UTC, exactly three fractional digits, `Z`.
pub fn format_at(at: DateTime<Utc>) -> String {
    let mut out = Vec::with_capacity(24);
    write_at(at, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends [`format_at`]'s form of `at` to `out`, digit by digit: this runs for every
/// event hashed or verified.
pub fn write_at(at: DateTime<Utc>, out: &mut Vec<u8>) {
    use chrono::{Datelike, Timelike};
    let (y, ms) = (at.year(), at.timestamp_subsec_millis().min(999));
    if !(0..=9999).contains(&y) {
        out.extend_from_slice(at.to_rfc3339_opts(SecondsFormat::Millis, true).as_bytes());
        return;
    }
    let mut b = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (0..width).rev() {
            b[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y as u32);
    put(5, 2, at.month());
    put(8, 2, at.day());
    put(11, 2, at.hour());
    put(14, 2, at.minute());
    put(17, 2, at.second().min(59));
    put(20, 3, ms);
    out.extend_from_slice(&b);
}

fn serialize_at<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_at(*at))
}

/// The broker itself, as an actor.
pub const SYSTEM: &str = "latchkey";

impl AuditEvent {
    /// A new event of `kind` by `actor` at `now`, from `origin`, with a random id (none if
    /// the generator fails).
    pub fn new(
        kind: EventKind,
        actor: &str,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<Self, RandomError> {
        Ok(AuditEvent {
            seq: 0,
            id: uuid_v4()?.to_string(),
            kind: kind.as_str().to_string(),
            at: now,
            actor: bounded::clip(actor),
            subject: None,
            resource: None,
            role: None,
            outcome: "success".into(),
            reason: None,
            request_id: origin.request_id.clone(),
            client_addr: origin.client.addr.as_deref().map(bounded::clip),
            user_agent: origin.client.user_agent.as_deref().map(bounded::clip),
            details: serde_json::json!({}),
            prev_hash: String::new(),
            hash: String::new(),
        })
    }

    /// The kind, or `None` for a stored kind this broker does not know.
    pub fn event_kind(&self) -> Option<EventKind> {
        EventKind::parse(&self.kind)
    }

    /// About an access request.
    pub fn about(mut self, request_id: &str, resource: &str, role: &str) -> Self {
        self.subject = Some(request_id.to_string());
        self.resource = Some(resource.to_string());
        self.role = Some(role.to_string());
        self
    }

    /// With an outcome and reason.
    pub fn outcome(mut self, outcome: &str, reason: Option<String>) -> Self {
        self.outcome = outcome.to_string();
        self.reason = reason.as_deref().map(bounded::clip);
        self
    }

    /// With details (long strings cut by [`bounded::clip_json`]). A number with a fraction is kept as its decimal string, so the
    /// canonical form (integers only) can always be computed and an append never fails
    /// on what a caller put here.
    pub fn details(mut self, mut details: serde_json::Value) -> Self {
        fractions_to_strings(&mut details);
        bounded::clip_json(&mut details);
        self.details = details;
        self
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_event_gets_its_own_version_4_id() {
        let at = chrono::DateTime::from_timestamp_millis(1_780_000_000_123).unwrap();
        let event = || {
            super::AuditEvent::new(
                super::EventKind::GrantActivated,
                "alice",
                &super::Origin::default(),
                at,
            )
            .unwrap()
        };
        let (a, b) = (event(), event());
        assert_ne!(a.id, b.id);
        for e in [a, b] {
            let id = uuid::Uuid::parse_str(&e.id).unwrap();
            assert_eq!(id.get_version(), Some(uuid::Version::Random), "{}", e.id);
        }
    }

    #[test]
    fn an_event_of_a_kind_this_broker_does_not_know_reads_as_its_text() {
        let mut e = super::AuditEvent::new(
            super::EventKind::GrantActivated,
            "alice",
            &super::Origin::default(),
            chrono::DateTime::from_timestamp_millis(1_780_000_000_123).unwrap(),
        )
        .unwrap();
        assert_eq!(e.event_kind(), Some(super::EventKind::GrantActivated));
        e.kind = "grant.paused".into();
        let line = serde_json::to_string(&e).unwrap();
        let read: super::AuditEvent = serde_json::from_str(&line).unwrap();
        assert_eq!(read.kind, "grant.paused");
        assert_eq!(read.event_kind(), None);
        assert_eq!(read, e);
    }

    #[test]
    fn times_are_written_with_exactly_three_fractional_digits() {
        for ms in [0_i64, 1, 999, 1_780_000_000_123, 253_402_300_799_999] {
            let at = chrono::DateTime::from_timestamp_millis(ms).unwrap();
            assert_eq!(
                super::format_at(at),
                at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            );
        }
    }
}
