//! The host side of SSH from the command line: `latchkey ssh ca` (the CA keys sshd
//! trusts, and their rotation), `latchkey ssh krl --out FILE` (the revocation list,
//! replaced atomically) and `latchkey ssh-config` (Host blocks for plain `ssh`).

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use serde_json::json;

use crate::edges::cli::client::ApiClient;
use crate::edges::cli::error::CliError;
use crate::edges::cli::ssh::SshCommand;
use crate::edges::cli::ssh_keys;
use crate::model::wire::ResourceView;

/// Runs `ssh ca` and `ssh krl`.
pub async fn public(api: &ApiClient, command: SshCommand) -> Result<(), CliError> {
    match command {
        SshCommand::Ca {
            rotate: true,
            algorithm,
        } => {
            let keys: Vec<serde_json::Value> = api
                .post("/v1/admin/ssh/ca/rotate", &json!({"algorithm": algorithm}))
                .await?;
            for k in keys {
                println!("{}", k["public_key"].as_str().unwrap_or_default());
            }
            Ok(())
        }
        SshCommand::Ca { .. } => {
            let keys: Vec<serde_json::Value> = api.get("/v1/ssh/ca?format=json").await?;
            for k in keys {
                println!("{}", k["public_key"].as_str().unwrap_or_default());
            }
            Ok(())
        }
        SshCommand::Krl { out } => {
            let bytes = api.get_bytes("/v1/ssh/krl").await?;
            if !bytes.starts_with(b"SSHKRL\n\0") {
                return Err(CliError::Other(anyhow!(
                    "the broker's answer is not a KRL; {} was left as it was",
                    out.display()
                )));
            }
            // sshd refuses every key if RevokedKeys is unreadable: never a partial file.
            ssh_keys::write_atomically(&out, &bytes, 0o644)?;
            eprintln!("wrote {} ({} bytes)", out.display(), bytes.len());
            Ok(())
        }
    }
}

/// Runs `ssh-config`: a `Host` block per ssh resource the caller may request, naming the
/// certificate `latchkey creds ssh` writes, for plain `ssh HOST`.
pub async fn config(api: &ApiClient, key: Option<&Path>) -> Result<(), CliError> {
    let resources: Vec<ResourceView> = api.get("/v1/resources").await?;
    let own = ssh_keys::own_key(key)?;
    let identity = own
        .as_ref()
        .map(|k| k.private.clone())
        .unwrap_or_else(|| PathBuf::from("~/.ssh/id_ed25519"));
    let mut any = false;
    for r in resources.iter().filter(|r| r.kind == "ssh") {
        any = true;
        let alias = r.name.replace(':', "-");
        let login = r.roles.iter().find_map(|x| x.ssh_login.clone());
        println!(
            "# {}: {} (refresh the certificate with `latchkey creds ssh {}`)",
            r.name, r.description, r.name
        );
        println!("Host {alias}");
        match &r.ssh {
            Some(h) => {
                println!("    HostName {}", h.host);
                println!("    Port {}", h.port);
                if let Some(k) = &h.host_key {
                    println!(
                        "    # pinned host key: add to ~/.ssh/known_hosts: {} {k}",
                        h.host
                    );
                }
            }
            None => println!("    # HostName: the catalogue names no host for {}", r.name),
        }
        if let Some(l) = login {
            println!("    User {l}");
        }
        println!("    IdentityFile {}", identity.display());
        println!(
            "    CertificateFile {}",
            ssh_keys::cert_path(&identity, &r.name).display()
        );
        println!("    IdentitiesOnly yes");
        println!();
    }
    if !any {
        eprintln!("no ssh resources you may request; see `latchkey resources`");
    }
    Ok(())
}
