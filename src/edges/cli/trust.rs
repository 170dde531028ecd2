//! The certificate authorities the CLI trusts besides the built-in (webpki) roots:
//! `--ca-cert FILE` or `LATCHKEY_CA_CERT`, for a broker or identity provider whose
//! certificate a private CA signed; and how a TLS failure is told, with what to set.

use std::path::Path;

/// The CAs added to the built-in roots for every connection the CLI makes.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    roots: Vec<reqwest::Certificate>,
}

/// Why `--ca-cert` cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("--ca-cert / LATCHKEY_CA_CERT: {0}")]
pub struct CaCertError(String);

impl Trust {
    /// The built-in roots, plus every certificate of the PEM file at `path` when given.
    pub fn load(path: Option<&Path>) -> Result<Self, CaCertError> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let pem = std::fs::read(path)
            .map_err(|e| CaCertError(format!("cannot read {}: {e}", path.display())))?;
        let roots = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| CaCertError(format!("{} is not PEM: {e}", path.display())))?;
        if roots.is_empty() {
            return Err(CaCertError(format!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            )));
        }
        Ok(Self { roots })
    }

    /// `builder`, trusting these CAs too.
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        self.roots
            .iter()
            .cloned()
            .fold(builder, |b, root| b.add_root_certificate(root))
    }
}

/// The TLS error under a failed connection, if TLS is why it failed. (An `io::Error`
/// does not name the error it wraps as its source, and the connector wraps one in
/// another, so each is opened.)
pub fn tls_error<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// The stable code of a TLS failure: `tls_untrusted` for a certificate the CLI does not
/// trust (unknown issuer, wrong name, expired), `tls_failed` for any other.
pub fn tls_code(e: &rustls::Error) -> &'static str {
    match e {
        rustls::Error::InvalidCertificate(_) => "tls_untrusted",
        _ => "tls_failed",
    }
}

/// A TLS failure for people: what failed, and what to set.
pub fn tls_message(server: &str, e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(why) => format!(
            "TLS failure: the certificate of {server} is not trusted ({why:?}); if a private CA \
             signed it, pass --ca-cert FILE or set LATCHKEY_CA_CERT to that CA's PEM certificate"
        ),
        other => format!(
            "TLS failure talking to {server}: {other} (is it serving HTTPS at that address?)"
        ),
    }
}
