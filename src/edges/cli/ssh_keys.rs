//! The user's side of SSH certificates: which key to certify, where its certificate goes,
//! a key made in memory for someone without one, and handing key and certificate to the
//! running ssh-agent with a lifetime no longer than the certificate's.
//!
//! The agent is spoken to directly (`SSH2_AGENTC_ADD_ID_CONSTRAINED`, draft-miller-ssh-agent
//! §3.2 and §3.2.7) so that a key made in memory reaches it without touching a disk; a key
//! of the user's own goes through `ssh-add`, which can ask for its passphrase.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, Certificate, PrivateKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `SSH2_AGENTC_ADD_ID_CONSTRAINED`.
const ADD_ID_CONSTRAINED: u8 = 25;
/// `SSH_AGENT_CONSTRAIN_LIFETIME`.
const CONSTRAIN_LIFETIME: u8 = 1;
/// `SSH_AGENT_SUCCESS`.
const AGENT_SUCCESS: u8 = 6;

/// A key of the user's own: its private file and its public line.
#[derive(Debug, Clone)]
pub struct OwnKey {
    /// The private key file (what `ssh -i` takes).
    pub private: PathBuf,
    /// Its `.pub` line.
    pub public: String,
}

/// `--key PATH` (the private key or its `.pub`), else the first of `~/.ssh/id_ed25519`,
/// `id_ecdsa`, `id_rsa` that has a `.pub` beside it; `None` when the user has none.
pub fn own_key(asked: Option<&Path>) -> anyhow::Result<Option<OwnKey>> {
    let candidates: Vec<PathBuf> = match asked {
        Some(p) => {
            let private = match p.to_str().and_then(|s| s.strip_suffix(".pub")) {
                Some(stem) => PathBuf::from(stem),
                None => p.to_path_buf(),
            };
            vec![private]
        }
        None => {
            let Some(home) = std::env::var_os("HOME") else {
                return Ok(None);
            };
            let dir = Path::new(&home).join(".ssh");
            ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .map(|n| dir.join(n))
                .collect()
        }
    };
    for private in candidates {
        let public = pub_path(&private);
        match std::fs::read_to_string(&public) {
            Ok(line) => {
                return Ok(Some(OwnKey {
                    private,
                    public: line.trim().to_string(),
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && asked.is_none() => continue,
            Err(e) => return Err(anyhow!(e).context(format!("reading {}", public.display()))),
        }
    }
    Ok(None)
}

fn pub_path(private: &Path) -> PathBuf {
    let mut s = private.as_os_str().to_os_string();
    s.push(".pub");
    PathBuf::from(s)
}

/// Where a resource's certificate for `key` goes: beside the key, named for the resource
/// (`~/.ssh/id_ed25519-ssh_bastion-cert.pub`), so that certificates for two resources
/// never overwrite each other.
pub fn cert_path(key: &Path, resource: &str) -> PathBuf {
    let slug: String = resource
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut s = key.as_os_str().to_os_string();
    s.push(format!("-{slug}-cert.pub"));
    PathBuf::from(s)
}

/// Writes `text` to `path` (mode `mode`) through a file beside it renamed over it, so no
/// reader ever sees half of it.
pub fn write_atomically(path: &Path, text: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".latchkey-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
        .tempfile_in(dir)
        .with_context(|| format!("writing beside {}", path.display()))?;
    tmp.write_all(text)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| anyhow!(e.error))
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// An Ed25519 key made in memory, for someone without a key of their own.
pub fn ephemeral_key() -> anyhow::Result<PrivateKey> {
    PrivateKey::random(&mut OsRng, Algorithm::Ed25519).map_err(|e| anyhow!("making a key: {e}"))
}

/// A private directory for what must sit on a file for `ssh` to read it (an ephemeral key
/// for the length of one `latchkey ssh`, a pinned host key): under `$XDG_RUNTIME_DIR`
/// (memory, the user's alone) where there is one. Removed when dropped.
pub fn private_dir() -> anyhow::Result<tempfile::TempDir> {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("latchkey-ssh-")
        .tempdir_in(base)
        .context("making a private directory")?;
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;
    Ok(dir)
}

/// Writes a private key ssh can read (0600, in `dir`); returns its path.
pub fn write_private_key(dir: &Path, key: &PrivateKey) -> anyhow::Result<PathBuf> {
    let path = dir.join("id_ed25519");
    let pem = key
        .to_openssh(ssh_key::LineEnding::LF)
        .map_err(|e| anyhow!("{e}"))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(pem.as_bytes())?;
    Ok(path)
}

/// Gives `key` with its certificate to the agent at `$SSH_AUTH_SOCK` for `lifetime`
/// seconds: the agent forgets both then, whatever happens to this process.
pub async fn agent_add(key: &PrivateKey, cert_line: &str, lifetime: u32) -> anyhow::Result<()> {
    let sock = std::env::var_os("SSH_AUTH_SOCK").ok_or_else(|| {
        anyhow!("no ssh-agent: SSH_AUTH_SOCK is not set (start one with `eval $(ssh-agent)`)")
    })?;
    let cert = Certificate::from_openssh(cert_line)
        .map_err(|e| anyhow!("reading the certificate: {e}"))?;
    let ed = key
        .key_data()
        .ed25519()
        .ok_or_else(|| anyhow!("only an Ed25519 key made here is given to the agent this way"))?;
    let mut msg = vec![ADD_ID_CONSTRAINED];
    put_string(&mut msg, cert.algorithm().to_certificate_type().as_bytes());
    put_string(&mut msg, &cert.to_bytes().map_err(|e| anyhow!("{e}"))?);
    put_string(&mut msg, ed.public.as_ref());
    let mut secret = zeroize::Zeroizing::new(Vec::with_capacity(64));
    secret.extend_from_slice(ed.private.as_ref());
    secret.extend_from_slice(ed.public.as_ref());
    put_string(&mut msg, &secret);
    put_string(&mut msg, cert.key_id().as_bytes());
    msg.push(CONSTRAIN_LIFETIME);
    msg.extend_from_slice(&lifetime.to_be_bytes());
    let mut stream = tokio::net::UnixStream::connect(&sock)
        .await
        .with_context(|| {
            format!(
                "connecting to the ssh-agent at {}",
                Path::new(&sock).display()
            )
        })?;
    let mut framed = zeroize::Zeroizing::new(Vec::with_capacity(4 + msg.len()));
    framed.extend_from_slice(&u32::try_from(msg.len())?.to_be_bytes());
    framed.extend_from_slice(&msg);
    zeroize::Zeroize::zeroize(&mut msg);
    stream.write_all(&framed).await?;
    let len = stream
        .read_u32()
        .await
        .context("reading the agent's answer")?;
    let mut answer = vec![0u8; usize::try_from(len.min(1024))?];
    stream.read_exact(&mut answer).await?;
    match answer.first() {
        Some(&AGENT_SUCCESS) => Ok(()),
        _ => Err(anyhow!(
            "the ssh-agent refused the key (it may not take lifetimes or certificates)"
        )),
    }
}

/// Gives a key of the user's own, with its certificate, to the agent through `ssh-add -t`
/// (which asks for a passphrase if the key has one). `ssh-add` finds a certificate beside
/// the key as `KEY-cert.pub`: both are linked into a private directory under that name.
pub async fn ssh_add(key: &OwnKey, cert: &Path, lifetime: u32) -> anyhow::Result<()> {
    let dir = private_dir()?;
    let link = dir.path().join("key");
    std::os::unix::fs::symlink(std::fs::canonicalize(&key.private)?, &link)?;
    std::os::unix::fs::symlink(
        std::fs::canonicalize(cert)?,
        dir.path().join("key-cert.pub"),
    )?;
    let status = tokio::process::Command::new("ssh-add")
        .arg("-t")
        .arg(lifetime.to_string())
        .arg(&link)
        .status()
        .await
        .context("running ssh-add (install OpenSSH's client)")?;
    if status.success() {
        Ok(())
    } else {
        Err(anyhow!("ssh-add failed ({status})"))
    }
}

fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}
