//! `latchkey ssh RESOURCE [-- ssh args]`, `latchkey creds ssh`, `latchkey ssh ca`,
//! `latchkey ssh krl --out FILE` and `latchkey ssh-config`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use crate::edges::cli::client::ApiClient;
use crate::edges::cli::error::CliError;
use crate::edges::cli::ssh_keys::{self, OwnKey};
use crate::model::wire::SshCertificate;

/// `latchkey ssh …`: log in with a certificate, or the CA's public side.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SshArgs {
    /// What else to do.
    #[command(subcommand)]
    pub command: Option<SshCommand>,
    /// Resource, e.g. ssh:bastion.
    #[arg(required = true)]
    pub resource: Option<String>,
    /// The key to certify (default: ~/.ssh/id_ed25519, id_ecdsa or id_rsa; with none, a key
    /// made in memory for this login only).
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// ssh's own arguments, after `--` (a command to run, -L, …).
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// `latchkey ssh ca | krl`.
#[derive(Debug, Subcommand)]
pub enum SshCommand {
    /// Print the CA keys hosts trust (the contents of sshd's TrustedUserCAKeys file).
    Ca {
        /// Give the CA a new signing key (administrators); the old one stays trusted until its certificates expire.
        #[arg(long)]
        rotate: bool,
        /// With --rotate: ed25519 or ecdsa-p256 (default: the broker's ssh.ca_algorithm).
        #[arg(long, requires = "rotate")]
        algorithm: Option<String>,
    },
    /// Fetch the revocation list (sshd's RevokedKeys) and replace FILE atomically.
    Krl {
        /// The file sshd reads.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// How `creds ssh` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SshFormat {
    /// Where the certificate went, and what it allows.
    Text,
    /// The broker's answer.
    Json,
}

/// `latchkey creds ssh` flags.
#[derive(Debug, Args)]
pub struct CredsSsh {
    /// Resource, e.g. ssh:bastion.
    pub resource: String,
    /// The key to certify (default: ~/.ssh/id_ed25519, id_ecdsa or id_rsa).
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// Add key and certificate to the running ssh-agent for the certificate's lifetime
    /// (with no key of your own: a key made in memory, given to the agent only).
    #[arg(long)]
    pub agent: bool,
    /// Validity asked (at most the role's and the grant's).
    #[arg(long = "for", value_name = "DURATION", value_parser = crate::model::duration::checked)]
    pub duration: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SshFormat::Text)]
    pub format: SshFormat,
}

async fn certify(
    api: &ApiClient,
    resource: &str,
    public: &str,
    duration: Option<&str>,
) -> Result<SshCertificate, CliError> {
    Ok(api
        .post(
            "/v1/credentials/ssh",
            &json!({"resource": resource, "public_key": public, "ttl": duration}),
        )
        .await?)
}

/// Seconds the certificate has left: the agent's lifetime for it.
fn lifetime(c: &SshCertificate) -> u32 {
    let left = (c.valid_before - chrono::Utc::now()).num_seconds().max(1);
    u32::try_from(left).unwrap_or(u32::MAX)
}

/// Runs `creds ssh`.
pub async fn creds(api: &ApiClient, a: CredsSsh) -> Result<(), CliError> {
    if a.agent && std::env::var_os("SSH_AUTH_SOCK").is_none() {
        // Asked before anything is issued: a certificate no one can use is not made.
        return Err(CliError::Other(anyhow!(
            "--agent needs a running ssh-agent, and SSH_AUTH_SOCK is not set (start one: eval $(ssh-agent))"
        )));
    }
    let own = ssh_keys::own_key(a.key.as_deref())?;
    let (cert, written) = match &own {
        Some(k) => {
            let cert = certify(api, &a.resource, &k.public, a.duration.as_deref()).await?;
            let path = ssh_keys::cert_path(&k.private, &a.resource);
            ssh_keys::write_atomically(&path, format!("{}\n", cert.certificate).as_bytes(), 0o600)?;
            if a.agent {
                ssh_keys::ssh_add(k, &path, lifetime(&cert)).await?;
            }
            (cert, Some(path))
        }
        None if a.agent => {
            let key = ssh_keys::ephemeral_key()?;
            let public = key.public_key().to_openssh().map_err(|e| anyhow!("{e}"))?;
            let cert = certify(api, &a.resource, &public, a.duration.as_deref()).await?;
            ssh_keys::agent_add(&key, &cert.certificate, lifetime(&cert)).await?;
            (cert, None)
        }
        None => {
            return Err(CliError::Other(anyhow!(
                "no SSH key found (~/.ssh/id_ed25519.pub, id_ecdsa.pub, id_rsa.pub): pass --key PATH, make one with `ssh-keygen -t ed25519`, or use --agent for a key made in memory"
            )))
        }
    };
    match a.format {
        SshFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&cert).map_err(anyhow::Error::from)?
        ),
        SshFormat::Text => {
            match &written {
                Some(p) => println!("certificate: {}", p.display()),
                None => println!("certificate: in the ssh-agent with its key"),
            }
            if a.agent {
                println!(
                    "agent:       key and certificate added for {}s",
                    lifetime(&cert)
                );
            }
            println!("principals:  {}", cert.principals.join(", "));
            println!(
                "valid:       {} to {}",
                cert.valid_after.to_rfc3339(),
                cert.valid_before.to_rfc3339()
            );
            println!("serial:      {} (key id {})", cert.serial, cert.key_id);
            if let Some(h) = &cert.host {
                println!(
                    "connect:     latchkey ssh {}   (ssh -p {} {}@{})",
                    a.resource,
                    cert.port.unwrap_or(22),
                    cert.login,
                    h
                );
            }
        }
    }
    Ok(())
}

/// Runs `latchkey ssh RESOURCE -- args`: a certificate for the user's key (or one made for
/// this login), then the system's `ssh` with it, its exit code passed on.
pub async fn login(
    api: &ApiClient,
    resource: &str,
    key: Option<&Path>,
    args: &[String],
) -> Result<(), CliError> {
    let scratch = ssh_keys::private_dir()?;
    let own = ssh_keys::own_key(key)?;
    let (identity, cert_file, cert) = match own {
        Some(OwnKey { private, public }) => {
            let cert = certify(api, resource, &public, None).await?;
            let path = ssh_keys::cert_path(&private, resource);
            ssh_keys::write_atomically(&path, format!("{}\n", cert.certificate).as_bytes(), 0o600)?;
            (private, path, cert)
        }
        None => {
            let k = ssh_keys::ephemeral_key()?;
            let public = k.public_key().to_openssh().map_err(|e| anyhow!("{e}"))?;
            let cert = certify(api, resource, &public, None).await?;
            let private = ssh_keys::write_private_key(scratch.path(), &k)?;
            let path = scratch.path().join("id_ed25519-cert.pub");
            ssh_keys::write_atomically(&path, format!("{}\n", cert.certificate).as_bytes(), 0o600)?;
            (private, path, cert)
        }
    };
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.arg("-i")
        .arg(&identity)
        .arg("-o")
        .arg(format!("CertificateFile={}", cert_file.display()))
        .arg("-o")
        .arg("IdentitiesOnly=yes");
    if let Some(host) = &cert.host {
        let port = cert.port.unwrap_or(22);
        if let Some(hk) = &cert.host_key {
            // The catalogue pins the host's key: this login trusts that key and no other.
            let known = scratch.path().join("known_hosts");
            let name = if port == 22 {
                host.clone()
            } else {
                format!("[{host}]:{port}")
            };
            ssh_keys::write_atomically(&known, format!("{name} {hk}\n").as_bytes(), 0o600)?;
            cmd.arg("-o")
                .arg(format!("UserKnownHostsFile={}", known.display()))
                .arg("-o")
                .arg("StrictHostKeyChecking=yes");
        }
        let (options, command) = split_ssh_args(args);
        cmd.args(options)
            .arg("-p")
            .arg(port.to_string())
            .arg(format!("{}@{host}", cert.login))
            .args(command);
    } else if args.is_empty() {
        return Err(CliError::Other(anyhow!(
            "the catalogue names no host for {resource}: give ssh the destination after --, e.g. latchkey ssh {resource} -- {}@HOST",
            cert.login
        )));
    }
    if cert.host.is_none() {
        cmd.args(args);
    }
    let status = crate::edges::cli::foreground::run_in_foreground(cmd)
        .await
        .context("running ssh (install OpenSSH's client)")?;
    drop(scratch);
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(CliError::Program(
            u8::try_from(code).unwrap_or(1),
            format!("ssh exited with {code}"),
        )),
        None => Err(CliError::Program(1, "ssh was killed by a signal".into())),
    }
}

/// ssh's options that take a value (its getopt string, OpenSSH 9.x).
const SSH_OPTIONS_WITH_VALUE: &str = "BbcDEeFIiJLlmOoPpQRSWw";

/// Splits what follows `--` the way ssh's own getopt does: the leading options (and their
/// values) go before the destination the catalogue names, the rest is the remote command.
fn split_ssh_args(args: &[String]) -> (&[String], &[String]) {
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            return (&args[..i], &args[i + 1..]);
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        // `-L8080:…` carries its value; `-L 8080:…` takes the next word; flags may cluster.
        let flags = &a[1..];
        let takes_value = flags
            .char_indices()
            .find(|(_, c)| SSH_OPTIONS_WITH_VALUE.contains(*c))
            .is_some_and(|(at, _)| at + 1 == flags.len());
        i += if takes_value { 2 } else { 1 };
    }
    let i = i.min(args.len());
    (&args[..i], &args[i..])
}

#[cfg(test)]
mod tests {
    use super::split_ssh_args;

    fn split(words: &[&str]) -> (Vec<String>, Vec<String>) {
        let v: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        let (o, c) = split_ssh_args(&v);
        (o.to_vec(), c.to_vec())
    }

    #[test]
    fn ssh_options_go_before_the_destination_and_the_command_after() {
        assert_eq!(split(&["uptime"]), (vec![], vec!["uptime".into()]));
        assert_eq!(
            split(&["-L", "8080:db:5432", "-vN"]),
            (
                vec!["-L".into(), "8080:db:5432".into(), "-vN".into()],
                vec![]
            )
        );
        assert_eq!(
            split(&["-F/dev/null", "-t", "sudo", "-l"]),
            (
                vec!["-F/dev/null".into(), "-t".into()],
                vec!["sudo".into(), "-l".into()]
            )
        );
        assert_eq!(
            split(&["-vo", "BatchMode=yes", "true"]),
            (
                vec!["-vo".into(), "BatchMode=yes".into()],
                vec!["true".into()]
            )
        );
        assert_eq!(
            split(&["-v", "--", "-x"]),
            (vec!["-v".into()], vec!["-x".into()])
        );
    }
}
