//! OpenSSH key revocation lists (KRLs), written in the binary format of OpenSSH's
//! `PROTOCOL.krl` (format version 1): the header, then one CERTIFICATES section per
//! certificate authority listing revoked serials and key ids. No signature section:
//! OpenSSH 9.4 and later refuse to load a KRL that carries one (sshd never checked it).
//!
//! No Rust crate writes KRLs, so this one does, and `ssh-keygen -Q` judges it: the
//! property tests in `tests/api/ssh_krl.rs` ask OpenSSH itself whether each certificate is
//! revoked. Serials are packed the way OpenSSH's own `krl.c` does: each cluster of serials
//! in whichever of a list, a range or a bitmap is smallest.

use std::collections::BTreeSet;

/// `"SSHKRL\n\0"`.
const MAGIC: &[u8; 8] = b"SSHKRL\n\0";
const FORMAT_VERSION: u32 = 1;
const SECTION_CERTIFICATES: u8 = 1;
const CERT_SERIAL_LIST: u8 = 0x20;
const CERT_SERIAL_RANGE: u8 = 0x21;
const CERT_SERIAL_BITMAP: u8 = 0x22;
const CERT_KEY_ID: u8 = 0x23;
/// The widest bitmap a reader takes: OpenSSH refuses an mpint over 16384 bits
/// (`SSHBUF_MAX_BIGNUM`); half that keeps clear of the edge.
const MAX_BITMAP_BITS: u64 = 8192;
/// A subsection's own cost: its type byte and the length of its string.
const SUBSECTION_COST: u64 = 5;

/// What one certificate authority's certificates have had revoked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revoked {
    /// The CA's public key in SSH wire form; empty for "any CA" (key ids only).
    pub ca_key: Vec<u8>,
    /// Revoked serials; zero is never a serial (OpenSSH ignores it) and is dropped.
    pub serials: BTreeSet<u64>,
    /// Revoked key ids.
    pub key_ids: BTreeSet<String>,
}

/// A whole KRL, ready to encode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Krl {
    /// Increases whenever the list changes.
    pub version: u64,
    /// When it was made, seconds since the epoch.
    pub generated_at: u64,
    /// Free text OpenSSH prints with `ssh-keygen -Ql`.
    pub comment: String,
    /// One entry per certificate authority.
    pub authorities: Vec<Revoked>,
}

impl Krl {
    /// The KRL in OpenSSH's binary format.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(MAGIC);
        put_u32(&mut out, FORMAT_VERSION);
        put_u64(&mut out, self.version);
        put_u64(&mut out, self.generated_at);
        put_u64(&mut out, 0); // flags: none are defined
        put_string(&mut out, b""); // reserved
        put_string(&mut out, self.comment.as_bytes());
        for ca in &self.authorities {
            let section = certificates_section(ca);
            if section.is_empty() {
                continue;
            }
            out.push(SECTION_CERTIFICATES);
            put_string(&mut out, &section);
        }
        out
    }
}

/// The body of one CERTIFICATES section, or nothing when there is nothing to revoke.
fn certificates_section(ca: &Revoked) -> Vec<u8> {
    let serials: Vec<u64> = ca.serials.iter().copied().filter(|s| *s != 0).collect();
    if serials.is_empty() && ca.key_ids.is_empty() {
        return Vec::new();
    }
    let mut body = Vec::new();
    put_string(&mut body, &ca.ca_key);
    put_string(&mut body, b""); // reserved
    let mut pending_list: Vec<u64> = Vec::new();
    for cluster in clusters(&serials) {
        match cheapest(cluster) {
            Packing::List => pending_list.extend_from_slice(cluster),
            packing => {
                flush_list(&mut body, &mut pending_list);
                match packing {
                    Packing::Range => {
                        let mut range = Vec::with_capacity(16);
                        put_u64(&mut range, cluster[0]);
                        put_u64(&mut range, cluster[cluster.len() - 1]);
                        subsection(&mut body, CERT_SERIAL_RANGE, &range);
                    }
                    Packing::Bitmap | Packing::List => {
                        subsection(&mut body, CERT_SERIAL_BITMAP, &bitmap(cluster));
                    }
                }
            }
        }
    }
    flush_list(&mut body, &mut pending_list);
    if !ca.key_ids.is_empty() {
        let mut ids = Vec::new();
        for id in &ca.key_ids {
            put_string(&mut ids, id.as_bytes());
        }
        subsection(&mut body, CERT_KEY_ID, &ids);
    }
    body
}

/// How a cluster of serials is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Packing {
    List,
    Range,
    Bitmap,
}

/// Splits sorted serials into clusters a bitmap could cover: a gap wider than a list entry
/// costs in bits (64) starts a new one, as does the bitmap's width limit.
fn clusters(serials: &[u64]) -> Vec<&[u64]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..serials.len() {
        let gap = serials[i] - serials[i - 1];
        let span = serials[i] - serials[start];
        if gap > 64 || span >= MAX_BITMAP_BITS {
            out.push(&serials[start..i]);
            start = i;
        }
    }
    if start < serials.len() {
        out.push(&serials[start..]);
    }
    out
}

/// The smallest way to write one cluster (sorted, no duplicates).
fn cheapest(cluster: &[u64]) -> Packing {
    let n = cluster.len() as u64;
    let span = cluster[n as usize - 1] - cluster[0] + 1;
    let list = 8 * n;
    let range = if span == n {
        SUBSECTION_COST + 16
    } else {
        u64::MAX
    };
    // offset, then an mpint: its length, the bytes, and at most one leading zero.
    let bitmap = SUBSECTION_COST + 8 + 4 + span.div_ceil(8) + 1;
    if range <= list && range <= bitmap {
        Packing::Range
    } else if bitmap < list {
        Packing::Bitmap
    } else {
        Packing::List
    }
}

/// A SERIAL_BITMAP body: the first serial, then an mpint whose bit N is serial first+N.
fn bitmap(cluster: &[u64]) -> Vec<u8> {
    let first = cluster[0];
    let span = cluster[cluster.len() - 1] - first + 1;
    let len = usize::try_from(span.div_ceil(8)).unwrap_or(usize::MAX);
    let mut bytes = vec![0u8; len];
    for s in cluster {
        let bit = s - first;
        let byte = len - 1 - usize::try_from(bit / 8).unwrap_or(0);
        bytes[byte] |= 1 << (bit % 8);
    }
    // An mpint is positive only if its top bit is clear; its first byte is never zero
    // (the last serial sets a bit in it).
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    let mut body = Vec::with_capacity(12 + bytes.len());
    put_u64(&mut body, first);
    put_string(&mut body, &bytes);
    body
}

fn flush_list(body: &mut Vec<u8>, list: &mut Vec<u64>) {
    if list.is_empty() {
        return;
    }
    let mut data = Vec::with_capacity(8 * list.len());
    for s in list.drain(..) {
        put_u64(&mut data, s);
    }
    subsection(body, CERT_SERIAL_LIST, &data);
}

fn subsection(body: &mut Vec<u8>, kind: u8, data: &[u8]) {
    body.push(kind);
    put_string(body, data);
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// An SSH `string`: a u32 length, then the bytes. Nothing here comes near 4 GiB: a KRL
/// holds what a broker issued in a day.
fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, u32::try_from(bytes.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests;
