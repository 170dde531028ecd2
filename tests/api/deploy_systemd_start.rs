//! deploy/latchkey.service started as shipped, the way systemd would, with
//! deploy/latchkey.toml unchanged: in a mount and network namespace of its own (root
//! only), /etc and /var are overlays on which the unit's install steps are done, the
//! directories systemd makes for the unit are made, the credential is copied, and the
//! unit's ExecStart runs in its WorkingDirectory with its Environment. The broker must
//! answer /readyz over HTTPS on the configured port and write its event sink.

use std::process::Command;

use crate::deploy_manifests::{repo, run};
use crate::deploy_systemd::service;
use crate::helpers::missing_peer;

const SCRIPT: &str = r#"
set -eu
mount -t tmpfs none "$W"
for d in etc var; do
  mkdir -p "$W/$d/upper" "$W/$d/work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$W/$d/upper,workdir=$W/$d/work" "/$d"
done
ip link set lo up
# The install steps of the unit's comment.
install -d /etc/latchkey/tls
cp -r "$REPO/policies" /etc/latchkey/policies
install -m 0644 "$REPO/deploy/latchkey.toml" /etc/latchkey/latchkey.toml
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -keyout /etc/latchkey/tls/privkey.pem -out /etc/latchkey/tls/fullchain.pem 2>/dev/null
chmod 0600 /etc/latchkey/tls/privkey.pem
# What systemd does for the unit: its directories, then the credential.
for d in $STATE; do install -d -m 0700 "/var/lib/$d"; done
for d in $LOGS; do install -d -m 0750 "/var/log/$d"; done
mkdir -p "$CREDS"
for c in $CREDENTIALS; do cp "${c#*:}" "$CREDS/${c%%:*}"; done
cd "$WORKDIR"
env $ENVIRONMENT $EXEC >"$W/broker.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  if curl -sfk https://127.0.0.1:8443/readyz >"$W/ready" 2>/dev/null; then break; fi
  kill -0 "$pid" 2>/dev/null || { cat "$W/broker.log"; exit 1; }
  sleep 0.2
done
kill "$pid"; wait "$pid" || true
cat "$W/ready"; echo
wc -l </var/log/latchkey/audit.jsonl
"#;

#[test]
fn the_unit_starts_the_broker_with_the_shipped_configuration() {
    let unshare = Command::new("unshare")
        .args([
            "--mount", "--net", "--fork", "ip", "link", "set", "lo", "up",
        ])
        .output();
    if !unshare.is_ok_and(|o| o.status.success()) {
        missing_peer("unshare --mount --net as root (util-linux) and ip (iproute2)");
        return;
    }
    let unit = std::fs::read_to_string(repo().join("deploy/latchkey.service")).unwrap();
    let one = |key: &str| service(&unit, key).join(" ");
    let scratch = tempfile::tempdir().unwrap();
    let creds = "/run/credentials/latchkey.service";
    let environment = one("Environment").replace("%d", creds);
    let (ok, said) = run(Command::new("unshare")
        .args(["--mount", "--net", "--fork", "sh", "-c", SCRIPT])
        .env("W", scratch.path())
        .env("REPO", repo())
        .env("STATE", one("StateDirectory"))
        .env("LOGS", one("LogsDirectory"))
        .env("CREDS", creds)
        .env("CREDENTIALS", one("LoadCredential"))
        .env("WORKDIR", one("WorkingDirectory"))
        .env("ENVIRONMENT", &environment)
        .env(
            "EXEC",
            one("ExecStart").replace("/usr/local/bin/latchkey", env!("CARGO_BIN_EXE_latchkey")),
        ));
    assert!(ok, "{said}");
    assert!(said.contains(r#""status":"ready""#), "{said}");
    let events: u64 = said.lines().last().unwrap().trim().parse().unwrap();
    assert!(events > 0, "the event sink is empty: {said}");
}
