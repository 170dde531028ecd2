use crate::config::*;

fn env(pairs: &[(&str, &str)]) -> Layer {
    Layer::from_env(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
}

#[test]
fn later_layers_win() {
    let file: Layer = toml::from_str(
        "listen = \"127.0.0.1:1\"\n[oidc]\nissuer = \"https://a\"\nclient_id = \"c\"",
    )
    .unwrap();
    let e = env(&[("LATCHKEY_LISTEN", "127.0.0.1:2")]);
    let flags = Layer {
        listen: Some("127.0.0.1:3".into()),
        ..Layer::default()
    };
    let c = flags.over(e.over(file)).validate().unwrap();
    assert_eq!(c.listen.port(), 3);
    assert_eq!(c.oidc.unwrap().issuer, "https://a");
}

#[test]
fn missing_issuer_says_what_to_set() {
    let err = Layer::default().validate().unwrap_err().to_string();
    assert!(err.contains("LATCHKEY_OIDC_ISSUER"), "{err}");
    assert!(err.contains("--dev"), "{err}");
}

#[test]
fn non_loopback_plain_http_is_refused_unless_behind_a_proxy() {
    let base = env(&[
        ("LATCHKEY_OIDC_ISSUER", "https://idp"),
        ("LATCHKEY_OIDC_CLIENT_ID", "c"),
    ]);
    let open = Layer {
        listen: Some("0.0.0.0:8080".into()),
        ..Layer::default()
    }
    .over(base.clone());
    let err = open.clone().validate().unwrap_err().to_string();
    assert!(err.contains("behind_tls_proxy"), "{err}");
    let proxied = Layer {
        behind_tls_proxy: Some(true),
        ..Layer::default()
    }
    .over(open);
    assert!(proxied.validate().is_ok());
}

#[test]
fn dev_mode_refuses_a_non_loopback_address() {
    let l = Layer {
        dev: Some(true),
        listen: Some("0.0.0.0:8080".into()),
        behind_tls_proxy: Some(true),
        ..Layer::default()
    };
    assert!(l.validate().unwrap_err().to_string().contains("loopback"));
}

#[test]
fn symmetric_algorithms_cannot_be_allowed() {
    let l = env(&[
        ("LATCHKEY_OIDC_ISSUER", "https://idp"),
        ("LATCHKEY_OIDC_CLIENT_ID", "c"),
        ("LATCHKEY_OIDC_ALGORITHMS", "RS256,HS256"),
    ]);
    assert!(l.validate().unwrap_err().to_string().contains("HS256"));
}

#[test]
fn unknown_file_keys_and_bad_values_are_errors() {
    assert!(toml::from_str::<Layer>("lisen = \"x\"").is_err());
    let l = env(&[
        ("LATCHKEY_DEV", "true"),
        ("LATCHKEY_SESSION_LIFETIME", "8 hours"),
    ]);
    assert!(l
        .validate()
        .unwrap_err()
        .to_string()
        .contains("LATCHKEY_SESSION_LIFETIME"));
    assert!(Layer::from_env([("LATCHKEY_DEV".to_string(), "maybe".to_string())]).is_err());
}

#[test]
fn dev_defaults_to_sqlite_in_the_data_dir() {
    let c = env(&[("LATCHKEY_DEV", "1"), ("LATCHKEY_DATA_DIR", "/tmp/x")])
        .validate()
        .unwrap();
    assert_eq!(c.database_url, "sqlite:///tmp/x/latchkey.db");
    assert_eq!(c.keys_dir, PathBuf::from("/tmp/x/keys"));
    assert!(c.oidc.is_none());
}

#[test]
fn a_zero_jwks_refresh_interval_is_refused() {
    for (value, ok) in [("0s", false), ("0", false), ("1s", true), ("10s", true)] {
        let layer = env(&[
            ("LATCHKEY_OIDC_ISSUER", "https://idp"),
            ("LATCHKEY_OIDC_CLIENT_ID", "c"),
            ("LATCHKEY_OIDC_JWKS_MIN_REFRESH", value),
        ]);
        let result = layer.validate();
        assert_eq!(result.is_ok(), ok, "{value}");
        if let Err(e) = result {
            assert!(e.to_string().contains("jwks_min_refresh"), "{e}");
        }
    }
}

#[test]
fn checkpoint_every_events_defaults_small_and_refuses_nonsense() {
    let dev = |layer: Layer| {
        layer
            .over(Layer {
                dev: Some(true),
                ..Layer::default()
            })
            .validate()
    };
    let every = |layer: Layer| dev(layer).map(|c| c.audit.checkpoint_every_events);
    assert_eq!(every(Layer::default()).unwrap(), 100);
    let file: Layer = toml::from_str("[audit]\ncheckpoint_every_events = 25").unwrap();
    assert_eq!(every(file).unwrap(), 25);
    let from_env = env(&[("LATCHKEY_AUDIT_CHECKPOINT_EVERY_EVENTS", "7")]);
    assert_eq!(every(from_env).unwrap(), 7);
    for bad in ["0", "-3", "many", "2000000"] {
        let e = dev(env(&[("LATCHKEY_AUDIT_CHECKPOINT_EVERY_EVENTS", bad)])).unwrap_err();
        assert!(
            e.to_string().contains("audit.checkpoint_every_events"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn the_key_encryption_key_comes_from_the_environment_or_a_file_but_not_both() {
    let c = env(&[
        ("LATCHKEY_DEV", "true"),
        ("LATCHKEY_KEY_ENCRYPTION_KEY", "kek-value"),
    ])
    .validate()
    .unwrap();
    assert!(
        !format!("{c:?}").contains("kek-value"),
        "the KEK never prints"
    );
    assert!(
        matches!(c.key_encryption_key, Some(KekSetting::Value(v)) if v.expose() == "kek-value")
    );
    let c = env(&[
        ("LATCHKEY_DEV", "true"),
        ("LATCHKEY_KEY_ENCRYPTION_KEY_FILE", "/run/kek"),
    ])
    .validate()
    .unwrap();
    assert!(
        matches!(c.key_encryption_key, Some(KekSetting::File(p)) if p == std::path::Path::new("/run/kek"))
    );
    assert!(env(&[("LATCHKEY_DEV", "true")])
        .validate()
        .unwrap()
        .key_encryption_key
        .is_none());
    let both = env(&[
        ("LATCHKEY_DEV", "true"),
        ("LATCHKEY_KEY_ENCRYPTION_KEY", "k"),
        ("LATCHKEY_KEY_ENCRYPTION_KEY_FILE", "/run/kek"),
    ])
    .validate()
    .unwrap_err()
    .to_string();
    assert!(both.contains("set one of them"), "{both}");
}
