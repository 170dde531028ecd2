use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::adapters::keys::files;

fn at(h: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + h * 3600, 0).unwrap()
}

#[test]
fn the_ca_key_is_made_once_private_and_read_back() {
    let dir = files::private_tempdir();
    let a = SshCa::load_or_create(dir.path(), CaAlg::Ed25519, at(0)).unwrap();
    let b = SshCa::load_or_create(dir.path(), CaAlg::EcdsaP256, at(1)).unwrap();
    let (sa, sb) = (a.signer().unwrap(), b.signer().unwrap());
    assert_eq!(sa.fingerprint, sb.fingerprint, "the existing key is kept");
    let trusted = b.trusted(at(1));
    assert_eq!(trusted.len(), 1);
    assert!(
        trusted[0].public_key.starts_with("ssh-ed25519 AAAA"),
        "{}",
        trusted[0].public_key
    );
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let mode = entry.unwrap().metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn an_ecdsa_ca_can_be_chosen() {
    let dir = files::private_tempdir();
    let ca = SshCa::load_or_create(dir.path(), CaAlg::EcdsaP256, at(0)).unwrap();
    assert!(ca.trusted(at(0))[0]
        .public_key
        .starts_with("ecdsa-sha2-nistp256 "));
}

#[test]
fn a_rotated_key_stays_trusted_until_its_certificates_have_expired() {
    let dir = files::private_tempdir();
    let ca = SshCa::load_or_create(dir.path(), CaAlg::Ed25519, at(0)).unwrap();
    let old = ca.signer().unwrap().fingerprint;
    let permit = crate::adapters::keys::tests::administrator();
    let new = ca
        .rotate(&permit, CaAlg::Ed25519, at(1), Duration::hours(24))
        .unwrap();
    assert_ne!(old, new);
    assert_eq!(ca.signer().unwrap().fingerprint, new);
    let trusted = ca.trusted(at(2));
    assert_eq!(
        trusted
            .iter()
            .map(|k| (k.fingerprint.clone(), k.active))
            .collect::<Vec<_>>(),
        [(new.clone(), true), (old.clone(), false)]
    );
    // Read back from disk: the same two; a day later, the old one is gone, file and all.
    let again = SshCa::load_or_create(dir.path(), CaAlg::Ed25519, at(2)).unwrap();
    assert_eq!(again.trusted(at(2)).len(), 2);
    let later = SshCa::load_or_create(dir.path(), CaAlg::Ed25519, at(26)).unwrap();
    assert_eq!(later.trusted(at(26)).len(), 1);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "one key file and the manifest"
    );
}

#[test]
fn a_key_file_that_does_not_match_its_manifest_is_refused() {
    let dir = files::private_tempdir();
    SshCa::load_or_create(dir.path(), CaAlg::Ed25519, at(0)).unwrap();
    let other = files::private_tempdir();
    SshCa::load_or_create(other.path(), CaAlg::Ed25519, at(0)).unwrap();
    let file = |d: &Path| {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "key"))
            .unwrap()
    };
    std::fs::copy(file(other.path()), file(dir.path())).unwrap();
    let e = SshCa::load_or_create(dir.path(), CaAlg::Ed25519, at(0)).unwrap_err();
    assert!(e.to_string().contains("ssh-ca.json"), "{e}");
}
