//! The last SSH revocation list made, and what it was made from: kept so that a list
//! whose content has not changed is served as the same bytes, with the same ETag and
//! generation time.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

/// A revocation list as served.
#[derive(Debug, Clone)]
pub struct KrlFile {
    /// OpenSSH's binary KRL.
    pub bytes: Arc<Vec<u8>>,
    /// A strong validator: the SHA-256 of the bytes.
    pub etag: String,
    /// When this content was first made.
    pub generated_at: DateTime<Utc>,
    /// How many certificates it names by serial.
    pub serials: usize,
}

/// The last list made, and what it was made from.
#[derive(Default)]
pub struct KrlCache {
    pub(crate) last: Mutex<Option<(String, KrlFile)>>,
}
