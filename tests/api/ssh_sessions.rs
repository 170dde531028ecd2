//! What a revocation does to SSH sessions already open: nothing by itself (sshd checks a
//! certificate at login only), and with the shipped host helper
//! (`deploy/ssh/latchkey-ssh-end-revoked`, run by the fetcher with
//! END_REVOKED_SESSIONS=yes) the revoked grant's sessions end and no one else's.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::ssh::{grant, SSH_OPTS};
use crate::ssh_fixture::{run, SshFixture};

/// `latchkey ssh ssh:test -- … sleep 60` in the background, once sshd has let it in.
fn open_session(f: &SshFixture, home: &Path, accepted_before: usize) -> std::process::Child {
    let mut args = vec!["ssh", "ssh:test", "--"];
    args.extend(SSH_OPTS);
    args.extend(["sleep", "60"]);
    let child = crate::cli_and_config::latchkey(home)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let began = Instant::now();
    while f.log().matches("Accepted publickey").count() <= accepted_before {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "no login: {}",
            f.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The remote `sleep` starts just after the login is logged.
    std::thread::sleep(Duration::from_millis(300));
    child
}

fn ended_within(
    child: &mut std::process::Child,
    within: Duration,
) -> Option<std::process::ExitStatus> {
    let began = Instant::now();
    while began.elapsed() < within {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_helper_ends_the_open_sessions_of_a_revoked_grant_and_no_others() {
    let Some(mut f) = SshFixture::new() else {
        return;
    };
    let app = f.broker(None).await;
    f.start(&app).await;
    let (alice, bob) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let id = grant(&app.url, alice.path(), "alice@example.com", "shell");
    grant(&app.url, bob.path(), "bob@example.com", "shell");
    let mut a = open_session(&f, alice.path(), 0);
    let mut b = open_session(&f, bob.path(), 1);

    let (code, _, err) = crate::ssh::cli(alice.path(), &["revoke", &id]);
    assert_eq!(code, Some(0), "{err}");
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ssh");
    let fetch = |end: &str| {
        run(Command::new("sh")
            .arg(deploy.join("latchkey-krl-fetch"))
            .env("LATCHKEY_URL", &app.url)
            .env("KRL_FILE", f.path("revoked.krl"))
            .env("END_REVOKED_SESSIONS", end))
    };
    // The list alone: the open session lives on.
    let (code, _, err) = fetch("no");
    assert_eq!(code, Some(0), "{err}");
    assert!(
        ended_within(&mut a, Duration::from_millis(500)).is_none(),
        "a KRL does not end open sessions"
    );
    // With the helper: alice's session ends, bob's does not.
    let (code, _, err) = fetch("yes");
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("ended SSH session") && err.contains("alice@example.com"),
        "{err}"
    );
    let status = ended_within(&mut a, Duration::from_secs(5)).expect("alice's session ended");
    assert!(!status.success());
    assert!(
        ended_within(&mut b, Duration::from_millis(500)).is_none(),
        "bob's session is untouched"
    );
    let _ = b.kill();
    let _ = b.wait();
}
