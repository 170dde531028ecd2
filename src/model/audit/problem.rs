//! What a verification finds wrong: a stable code, words, and the range of sequence
//! numbers it puts in doubt, exact where the evidence pins the first bad event.

/// Something found wrong, and the range of sequence numbers it puts in doubt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// The first sequence number that cannot be trusted.
    pub seq: i64,
    /// A stable code: `edited`, `missing`, `broken_link`, `truncated`, `checkpoint_mismatch`.
    pub code: String,
    /// What was found, in words.
    pub message: String,
    /// The last sequence number in doubt, where the evidence bounds it (`None`: up to the
    /// end of the log, as far as anyone can tell).
    #[serde(default)]
    pub through: Option<i64>,
    /// Whether `seq` is exactly the first event changed or removed (true), or only the
    /// first one the evidence can no longer vouch for (false).
    #[serde(default)]
    pub exact: bool,
}

impl Problem {
    /// A problem at `seq`.
    pub fn new(seq: i64, code: &str, message: String) -> Self {
        Problem {
            seq,
            code: code.to_string(),
            message,
            through: None,
            exact: false,
        }
    }

    /// Bounds the range in doubt at `through`.
    pub fn through(mut self, through: i64) -> Self {
        self.through = Some(through);
        self
    }

    /// Says that `seq` is exactly the first bad one.
    pub fn exact(mut self) -> Self {
        self.exact = true;
        self
    }

    /// The range in words: `events 41-57`, `event 41`, `events from 41 on`.
    pub fn range(&self) -> String {
        match self.through {
            Some(t) if t == self.seq => format!("event {t}"),
            Some(t) => format!("events {}-{t}", self.seq),
            None => format!("events from {} on", self.seq),
        }
    }
}
