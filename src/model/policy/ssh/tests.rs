use super::*;

fn role(toml_text: &str) -> Result<SshRole, String> {
    let f: SshRoleFile = toml::from_str(toml_text).map_err(|e| e.to_string())?;
    f.validate("ssh:x#y")
}

#[test]
fn principals_come_fixed_or_from_the_user_each_once() {
    let r =
        role(r#"principals = ["{email.local}", "ops", "{email}", "ops", "{subject}"]"#).unwrap();
    let p = r
        .principals_for(Some("alice.smith@example.com"), "sub-123")
        .unwrap();
    assert_eq!(
        p,
        ["alice.smith", "ops", "alice.smith@example.com", "sub-123"]
    );
    assert_eq!(
        r.login_for(Some("alice.smith@example.com"), "s").unwrap(),
        "alice.smith"
    );
}

#[test]
fn a_principal_with_odd_characters_is_refused_at_load_and_at_issuance() {
    for bad in ["a,b", "a b", "-oProxyCommand", "x*", "", "{claim.unix}"] {
        assert!(role(&format!("principals = [{bad:?}]")).is_err(), "{bad:?}");
    }
    let r = role(r#"principals = ["{email.local}"]"#).unwrap();
    let e = r
        .principals_for(Some("o'brien,root@example.com"), "s")
        .unwrap_err();
    assert!(
        matches!(e, PrincipalError::Unsafe(_, "{email.local}")),
        "{e}"
    );
    assert_eq!(
        r.principals_for(None, "s").unwrap_err(),
        PrincipalError::NoEmail("{email.local}")
    );
}

#[test]
fn a_role_without_principals_is_refused() {
    assert!(role("principals = []")
        .unwrap_err()
        .contains("at least one"));
}

#[test]
fn extensions_default_to_none_and_only_known_or_namespaced_ones_load() {
    assert!(role(r#"principals = ["ops"]"#)
        .unwrap()
        .extensions
        .is_empty());
    let r = role(
        r#"principals = ["ops"]
extensions = ["permit-pty", "grant-id@latchkey.dev", "permit-pty"]"#,
    )
    .unwrap();
    assert_eq!(r.extensions, ["grant-id@latchkey.dev", "permit-pty"]);
    assert!(role(
        r#"principals = ["ops"]
extensions = ["permit-everything"]"#
    )
    .unwrap_err()
    .contains("permit-everything"));
}

#[test]
fn validity_is_bounded() {
    assert_eq!(
        role(r#"principals = ["ops"]"#).unwrap().max_validity,
        DEFAULT_VALIDITY
    );
    assert!(role(
        r#"principals = ["ops"]
max_validity = "25h""#
    )
    .is_err());
    assert!(role(
        r#"principals = ["ops"]
max_validity = "0s""#
    )
    .is_err());
}

#[test]
fn source_address_is_the_caller_or_cidr_blocks() {
    let r = role(
        r#"principals = ["ops"]
source_address = ["caller", "10.0.0.0/8"]"#,
    )
    .unwrap();
    let v4: IpAddr = "192.0.2.7".parse().unwrap();
    assert_eq!(
        source_address_for(&r, Some(v4)).unwrap().unwrap(),
        "192.0.2.7/32,10.0.0.0/8"
    );
    let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
    assert_eq!(
        source_address_for(&r, Some(mapped)).unwrap().unwrap(),
        "192.0.2.7/32,10.0.0.0/8"
    );
    assert_eq!(source_address_for(&r, None), Err(CallerUnknown));
    for bad in ["nowhere", "10.0.0.0/33", "::1/129"] {
        assert!(
            role(&format!(
                "principals = [\"ops\"]\nsource_address = [{bad:?}]"
            ))
            .is_err(),
            "{bad}"
        );
    }
}

#[test]
fn login_must_be_one_of_the_principals() {
    assert!(role(
        r#"principals = ["ops"]
login = "root""#
    )
    .is_err());
}

#[test]
fn a_host_needs_a_name_and_a_key_in_pub_form() {
    let h: HostFile = toml::from_str(r#"host = "bastion.example.com""#).unwrap();
    assert_eq!(h.validate("r").unwrap().unwrap().port, 22);
    let h: HostFile = toml::from_str(r#"port = 2222"#).unwrap();
    assert!(h.validate("r").is_err());
    let h: HostFile = toml::from_str(
        r#"host = "h"
host_key = "AAAA""#,
    )
    .unwrap();
    assert!(h.validate("r").is_err());
}
