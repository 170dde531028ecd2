use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

/// Reads back what `encode` wrote: the header's fields and, per CA, the serials and key
/// ids, strictly (every length must match), as OpenSSH's reader does.
fn decode(bytes: &[u8]) -> (u64, u64, String, Vec<Revoked>) {
    let mut r = Reader(bytes);
    assert_eq!(r.take(8), MAGIC);
    assert_eq!(r.u32(), FORMAT_VERSION);
    let version = r.u64();
    let generated = r.u64();
    assert_eq!(r.u64(), 0, "flags");
    assert!(r.string().is_empty(), "reserved");
    let comment = String::from_utf8(r.string().to_vec()).unwrap();
    let mut cas = Vec::new();
    while !r.0.is_empty() {
        assert_eq!(r.u8(), SECTION_CERTIFICATES);
        let mut s = Reader(r.string());
        let mut ca = Revoked {
            ca_key: s.string().to_vec(),
            ..Revoked::default()
        };
        assert!(s.string().is_empty(), "reserved");
        while !s.0.is_empty() {
            let kind = s.u8();
            let mut d = Reader(s.string());
            match kind {
                CERT_SERIAL_LIST => {
                    while !d.0.is_empty() {
                        ca.serials.insert(d.u64());
                    }
                }
                CERT_SERIAL_RANGE => {
                    let (lo, hi) = (d.u64(), d.u64());
                    assert!(lo <= hi && lo > 0);
                    ca.serials.extend(lo..=hi);
                }
                CERT_SERIAL_BITMAP => {
                    let first = d.u64();
                    let m = d.string();
                    assert!(m.first().is_some_and(|b| b & 0x80 == 0), "a positive mpint");
                    assert!(
                        m.len() < 2 || m[0] != 0 || m[1] & 0x80 != 0,
                        "minimal mpint"
                    );
                    for (i, byte) in m.iter().rev().enumerate() {
                        for bit in 0..8 {
                            if byte & (1 << bit) != 0 {
                                ca.serials.insert(first + (i as u64) * 8 + bit);
                            }
                        }
                    }
                }
                CERT_KEY_ID => {
                    while !d.0.is_empty() {
                        ca.key_ids
                            .insert(String::from_utf8(d.string().to_vec()).unwrap());
                    }
                }
                other => panic!("unknown subsection {other:#x}"),
            }
            assert!(d.0.is_empty());
        }
        cas.push(ca);
    }
    (version, generated, comment, cas)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take(8).try_into().unwrap())
    }
    fn string(&mut self) -> &'a [u8] {
        let n = self.u32() as usize;
        self.take(n)
    }
}

fn one_ca(serials: impl IntoIterator<Item = u64>, ids: &[&str]) -> Krl {
    Krl {
        version: 7,
        generated_at: 1_800_000_000,
        comment: "latchkey".into(),
        authorities: vec![Revoked {
            ca_key: b"ca-blob".to_vec(),
            serials: serials.into_iter().collect(),
            key_ids: ids.iter().map(|s| s.to_string()).collect(),
        }],
    }
}

#[test]
fn an_empty_list_is_the_header_alone() {
    let krl = Krl {
        version: 1,
        generated_at: 2,
        comment: String::new(),
        authorities: vec![Revoked::default()],
    };
    let bytes = krl.encode();
    assert_eq!(bytes.len(), 8 + 4 + 8 + 8 + 8 + 4 + 4);
    let (v, g, c, cas) = decode(&bytes);
    assert_eq!((v, g, c.as_str(), cas.len()), (1, 2, "", 0));
}

#[test]
fn the_header_carries_version_date_and_comment() {
    let (v, g, c, cas) = decode(&one_ca([5], &[]).encode());
    assert_eq!((v, g, c.as_str()), (7, 1_800_000_000, "latchkey"));
    assert_eq!(cas[0].ca_key, b"ca-blob");
    assert_eq!(cas[0].serials, BTreeSet::from([5]));
}

#[test]
fn serial_zero_is_never_written() {
    let (_, _, _, cas) = decode(&one_ca([0, 3], &[]).encode());
    assert_eq!(cas[0].serials, BTreeSet::from([3]));
}

#[test]
fn a_contiguous_run_is_one_range() {
    let bytes = one_ca(1000..=5000, &[]).encode();
    // Header (52 with the 8-byte comment), section type and length, CA key and reserved
    // strings, one range subsection.
    assert_eq!(bytes.len(), 52 + 5 + (4 + 7) + 4 + (5 + 16));
    assert_eq!(decode(&bytes).3[0].serials.len(), 4001);
}

#[test]
fn ten_thousand_sequential_serials_with_gaps_take_about_a_bit_each() {
    // Every third certificate of 30,000 revoked: what a busy day of early revocations
    // looks like with serials drawn in sequence.
    let serials: Vec<u64> = (1..=30_000).step_by(3).collect();
    let bytes = one_ca(serials.iter().copied(), &[]).encode();
    assert!(bytes.len() < 4_500, "{} bytes", bytes.len());
    assert_eq!(decode(&bytes).3[0].serials, serials.into_iter().collect());
}

#[test]
fn scattered_serials_fall_back_to_a_list() {
    let serials = [1u64, 1_000_000, 2_000_000_000, u64::MAX];
    let bytes = one_ca(serials, &[]).encode();
    assert_eq!(decode(&bytes).3[0].serials, BTreeSet::from(serials));
    // One list subsection of four serials.
    assert_eq!(bytes.len(), 52 + 5 + (4 + 7) + 4 + 5 + 8 * 4);
}

#[test]
fn key_ids_are_listed_under_their_ca() {
    let (_, _, _, cas) = decode(&one_ca([], &["alice grant 1", "bob grant 2"]).encode());
    assert_eq!(cas[0].key_ids.len(), 2);
    assert!(cas[0].serials.is_empty());
}

proptest! {
    #[test]
    fn what_is_written_reads_back_as_the_same_serials(
        base in 1u64..u64::MAX / 2,
        offsets in proptest::collection::btree_set(0u64..40_000, 0..400),
        ids in proptest::collection::btree_set("[a-z0-9 :@.-]{1,30}", 0..4),
    ) {
        let serials: BTreeSet<u64> = offsets.iter().map(|o| base + o).collect();
        let krl = Krl {
            version: 1,
            generated_at: 1,
            comment: String::new(),
            authorities: vec![Revoked { ca_key: vec![1, 2, 3], serials: serials.clone(), key_ids: ids.clone() }],
        };
        let (_, _, _, cas) = decode(&krl.encode());
        if serials.is_empty() && ids.is_empty() {
            prop_assert!(cas.is_empty());
        } else {
            prop_assert_eq!(&cas[0].serials, &serials);
            prop_assert_eq!(&cas[0].key_ids, &ids);
        }
    }
}
