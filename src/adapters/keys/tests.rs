//! The keyring on disk: first start, rotation, files refused.

use super::*;
use std::os::unix::fs::PermissionsExt;

/// The administrator's permit, made the only way there is: the policy's check (here
/// on the example policy, with the configuration naming `root` an administrator).
pub(crate) fn administrator() -> Permit<Administer> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let policy = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(crate::model::policy::Policy::load(&dir))
        .unwrap();
    let root = crate::model::domain::Principal {
        user_id: "root".into(),
        subject: "root".into(),
        email: None,
        name: None,
        groups: vec![],
        session_id: "s".into(),
        expires_at: Utc::now(),
        dev: false,
        auth_time: None,
        groups_claim_missing: None,
    };
    let users = ["root".to_string()];
    let admins = crate::model::policy::permit::Admins {
        groups: &[],
        users: &users,
    };
    crate::model::policy::permit::administer(&policy, admins, &root).unwrap()
}

#[test]
fn first_start_creates_one_private_key() {
    let dir = files::private_tempdir();
    let now = Utc::now();
    let ring = Keyring::load_or_create(dir.path(), now).unwrap();
    let keys = ring.list(now);
    assert_eq!(
        keys.iter().map(|k| k.alg).collect::<Vec<_>>(),
        vec![KeyAlg::Ed25519, KeyAlg::P256]
    );
    for k in &keys {
        let mode = fs::metadata(dir.path().join(format!("{}.key", k.kid)))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A second start loads the same key.
    let again = Keyring::load_or_create(dir.path(), now).unwrap();
    assert_eq!(again.list(now), keys);
}

#[test]
fn rotation_keeps_the_old_key_published_until_its_tokens_expire() {
    let dir = files::private_tempdir();
    let now = Utc::now();
    let ring = Keyring::load_or_create(dir.path(), now).unwrap();
    let (old, _) = ring.active();
    let new = ring
        .rotate(&administrator(), now, Duration::hours(8))
        .unwrap();
    assert_ne!(old, new);
    assert_eq!(ring.active().0, new);
    assert!(ring.decoding_key(&old, now + Duration::hours(7)).is_some());
    assert!(ring.decoding_key(&old, now + Duration::hours(9)).is_none());
    let jwks = ring.jwks(now).to_string();
    assert!(jwks.contains(&old) && jwks.contains(&new));
    assert!(!ring
        .jwks(now + Duration::hours(9))
        .to_string()
        .contains(&old));
    // After the retirement time a restart forgets the old key and deletes its file.
    let later = Keyring::load_or_create(dir.path(), now + Duration::hours(9)).unwrap();
    assert_eq!(later.list(now + Duration::hours(9)).len(), 2);
    assert!(!dir.path().join(format!("{old}.key")).exists());
}

#[test]
fn signing_always_finds_an_active_key_while_keys_rotate() {
    let dir = files::private_tempdir();
    let now = Utc::now();
    let ring = Keyring::load_or_create(dir.path(), now).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (ring, stop) = (ring.clone(), stop.clone());
            std::thread::spawn(move || {
                let (mut reads, mut missing) = (0u32, 0u32);
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    for alg in KeyAlg::ALL {
                        let (kid, _) = ring.active_for(alg);
                        reads += 1;
                        if kid.is_empty() || ring.decoding_key(&kid, now).is_none() {
                            missing += 1;
                        }
                    }
                }
                (reads, missing)
            })
        })
        .collect();
    let permit = administrator();
    for _ in 0..20 {
        ring.rotate(&permit, now, Duration::hours(2)).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for r in readers {
        let (reads, missing) = r.join().unwrap();
        assert!(reads > 0);
        assert_eq!(missing, 0, "{missing} of {reads} reads found no active key");
    }
    assert_eq!(ring.list(now).iter().filter(|k| k.active).count(), 2);
}

#[test]
fn a_key_file_replaced_by_a_link_is_refused() {
    let dir = files::private_tempdir();
    let now = Utc::now();
    let ring = Keyring::load_or_create(dir.path(), now).unwrap();
    let (kid, _) = ring.active();
    let path = dir.path().join(format!("{kid}.key"));
    let elsewhere = dir.path().join("elsewhere");
    fs::rename(&path, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
    let err = Keyring::load_or_create(dir.path(), now).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
}

#[test]
fn a_keys_directory_writable_by_others_is_refused_at_load() {
    let dir = files::private_tempdir();
    let now = Utc::now();
    Keyring::load_or_create(dir.path(), now).unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    assert!(matches!(
        Keyring::load_or_create(dir.path(), now),
        Err(KeyError::DirPermissions(_))
    ));
    assert!(matches!(
        audit::AuditKey::load_or_create(dir.path()),
        Err(KeyError::DirPermissions(_))
    ));
}

#[test]
fn a_key_readable_by_others_is_refused() {
    let dir = files::private_tempdir();
    let now = Utc::now();
    let ring = Keyring::load_or_create(dir.path(), now).unwrap();
    let (kid, _) = ring.active();
    let path = dir.path().join(format!("{kid}.key"));
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        Keyring::load_or_create(dir.path(), now),
        Err(KeyError::Permissions(_))
    ));
}
