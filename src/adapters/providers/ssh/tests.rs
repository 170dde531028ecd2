use ssh_key::{Algorithm, Certificate, PrivateKey};

use super::*;

fn key() -> (PrivateKey, String) {
    let k = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap();
    let line = k.public_key().to_openssh().unwrap();
    (k, line)
}

#[test]
fn a_key_line_is_read_and_fingerprinted() {
    let (k, line) = key();
    let u = user_key(&format!("  {line} alice@laptop\n")).unwrap();
    assert_eq!(
        u.fingerprint,
        k.public_key().fingerprint(HashAlg::Sha256).to_string()
    );
}

#[test]
fn what_is_not_a_key_is_refused_with_its_code() {
    for bad in [
        "",
        "hello",
        "ssh-ed25519 notbase64!!",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA",
    ] {
        assert_eq!(
            user_key(bad).unwrap_err().code(),
            "ssh_bad_public_key",
            "{bad:?}"
        );
    }
    let cert = "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29t";
    assert_eq!(user_key(cert).unwrap_err(), KeyRefusal::Certificate);
}

#[test]
fn a_signed_certificate_says_what_was_asked_and_verifies_against_the_ca() {
    let ca = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap();
    let (_, line) = key();
    let u = user_key(&line).unwrap();
    let principals = vec!["alice".to_string(), "ops".to_string()];
    let spec = CertSpec {
        serial: 42,
        key_id: "latchkey:alice@example.com:ssh:x#y:grant:g1",
        principals: &principals,
        valid_after: 1_800_000_000,
        valid_before: 1_800_003_600,
        critical_options: &[("source-address", "192.0.2.7/32".into())],
        extensions: &["permit-pty".into()],
    };
    let text = sign(&ca, &u, &spec).unwrap();
    let cert = Certificate::from_openssh(&text).unwrap();
    assert_eq!(cert.serial(), 42);
    assert_eq!(cert.cert_type(), CertType::User);
    assert_eq!(cert.key_id(), spec.key_id);
    assert_eq!(cert.valid_principals(), principals.as_slice());
    assert_eq!(
        (cert.valid_after(), cert.valid_before()),
        (1_800_000_000, 1_800_003_600)
    );
    assert_eq!(
        cert.critical_options()
            .get("source-address")
            .map(String::as_str),
        Some("192.0.2.7/32")
    );
    assert_eq!(cert.extensions().keys().collect::<Vec<_>>(), ["permit-pty"]);
    let ca_fp = ca.public_key().fingerprint(HashAlg::Sha256);
    cert.validate_at(1_800_000_100, [&ca_fp]).unwrap();
    assert!(
        cert.validate_at(1_800_003_600, [&ca_fp]).is_err(),
        "expired at valid_before"
    );
    let other = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap();
    assert!(cert
        .validate_at(
            1_800_000_100,
            [&other.public_key().fingerprint(HashAlg::Sha256)]
        )
        .is_err());
}
