use super::*;

fn role(toml_text: &str) -> Result<DbRole, String> {
    let f: DbRoleFile = toml::from_str(toml_text).map_err(|e| e.to_string())?;
    f.validate("db:x#r", &ConnectionFile::default())
}

#[test]
fn a_role_reads_its_connection_groups_and_settings() {
    let r = role(
        r#"dsn = "postgres://latchkey_admin@db.internal:6432/events?sslmode=require"
        password_env = "EVENTS_PW"
        groups = ["events_ro"]
        search_path = ["app", "$user"]
        statement_timeout = "30s"
        sslmode = "verify-full""#,
    )
    .unwrap();
    assert_eq!(r.connection.target, "db.internal:6432/events");
    assert_eq!(r.connection.admin_user, "latchkey_admin");
    assert_eq!(
        r.connection.password,
        PasswordSource::Env("EVENTS_PW".into())
    );
    assert_eq!(
        (r.connection.host.as_str(), r.connection.port),
        ("db.internal", 6432)
    );
    assert_eq!(r.connection_limit, 5);
    assert_eq!(r.statement_timeout, Some(Duration::from_secs(30)));
}

#[test]
fn a_dsn_with_a_password_or_without_user_host_or_database_is_refused() {
    for (dsn, says) in [
        ("postgres://admin:hunter2@h/db", "carries a password"),
        ("postgres://h/db", "names no user"),
        ("postgres://admin@h", "names no database"),
        ("mysql://admin@h/db", "must start with postgres://"),
        ("not a url", "is not a URL"),
    ] {
        let err = role(&format!("dsn = {dsn:?}\ngroups = [\"g\"]")).unwrap_err();
        assert!(err.contains(says), "{dsn}: {err}");
    }
}

#[test]
fn groups_must_exist_be_short_and_not_give_the_servers_files() {
    let dsn = "dsn = \"postgres://a@h/db\"\n";
    for (groups, says) in [
        ("[]", "names no group"),
        (
            &format!("[\"{}\"]", "g".repeat(64)) as &str,
            "1 to 63 bytes",
        ),
        ("[\"pg_execute_server_program\"]", "never handed out"),
        ("[\"lk_other\"]", "prefix of the broker's own logins"),
    ] {
        let err = role(&format!("{dsn}groups = {groups}")).unwrap_err();
        assert!(err.contains(says), "{groups}: {err}");
    }
    let err = role(&format!("{dsn}groups = [\"g\"]\nconnection_limit = 0")).unwrap_err();
    assert!(err.contains("connection_limit"), "{err}");
    let err = role(&format!(
        "{dsn}groups = [\"g\"]\nstatement_timeout = \"30\""
    ))
    .unwrap_err();
    assert!(err.contains("statement_timeout"), "{err}");
}

#[test]
fn a_role_overrides_the_resource_connection_and_its_password_goes_with_its_dsn() {
    let resource: ConnectionFile =
        toml::from_str("dsn = \"postgres://a@h/db\"\npassword_env = \"PW\"\nsslmode = \"require\"")
            .unwrap();
    let own: DbRoleFile = toml::from_str("groups = [\"g\"]").unwrap();
    let r = own.validate("x", &resource).unwrap();
    assert_eq!(r.connection.password, PasswordSource::Env("PW".into()));
    assert_eq!(r.connection.sslmode, "require");
    let other: DbRoleFile =
        toml::from_str("groups = [\"g\"]\ndsn = \"postgres://b@h2/db2\"").unwrap();
    let r = other.validate("x", &resource).unwrap();
    assert_eq!(r.connection.target, "h2:5432/db2");
    assert_eq!(r.connection.password, PasswordSource::None);
}

#[test]
fn login_names_say_whose_they_are_and_fit_postgres() {
    let id = "3f9c2a1b-77aa-4c1d-9e0f-0123456789ab";
    assert_eq!(login_name("alice@example.com", id, 1), "lk_alice_3f9c2a1b");
    assert_eq!(
        login_name("alice@example.com", id, 2),
        "lk_alice_3f9c2a1b_2"
    );
    assert_eq!(
        login_name("Jean-Luc.O'Neil+ops@x", id, 1),
        "lk_jean_luc_o_neil_ops_3f9c2a1b"
    );
    assert_eq!(login_name("élodie@x", id, 1), "lk_lodie_3f9c2a1b");
    assert_eq!(login_name("@x", id, 1), "lk_user_3f9c2a1b");
    assert_eq!(login_name("___", id, 1), "lk_user_3f9c2a1b");
    let long = login_name(&"a".repeat(300), id, 999_999);
    assert!(
        long.len() <= MAX_IDENTIFIER,
        "{long} is {} bytes",
        long.len()
    );
    assert!(long.starts_with("lk_aaaa") && long.ends_with("_3f9c2a1b_999999"));
}

proptest::proptest! {
    #[test]
    fn every_login_name_is_safe_and_short(user in "\\PC{0,80}", n in 1u32..10_000_000) {
        let name = login_name(&user, "0123456789abcdef", n);
        proptest::prop_assert!(name.len() <= MAX_IDENTIFIER);
        proptest::prop_assert!(name.starts_with(LOGIN_PREFIX));
        proptest::prop_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
    }
}
