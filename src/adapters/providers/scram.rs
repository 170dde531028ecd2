//! A grant login's password and what PostgreSQL stores of it. The password is derived
//! from the broker's login key and the login's place and name (HMAC-SHA-256, 192 bits), so
//! every credential of one grant carries the same password without the broker storing it;
//! the server is sent only its SCRAM-SHA-256 verifier (RFC 7677, PostgreSQL's
//! `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`), so the plaintext never
//! appears in its statement log. PostgreSQL stores a well-formed verifier as it is.

use std::num::NonZeroU32;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::{digest, hmac, pbkdf2};

use crate::model::random::RandomError;
use crate::model::secret::Secret;

/// PBKDF2 iterations of a login's verifier. Key stretching slows the guessing of
/// passwords people choose; these are 192 random bits, which no iteration count makes
/// easier or harder to guess (NIST SP 800-63B §5.1.2.2: secrets of 112 bits or more need
/// only an approved one-way function). RFC 7677 asks for at least 4096 with human
/// passwords in mind; here each iteration is paid three times over for nothing: by the
/// broker making the verifier, by PostgreSQL checking it at CREATE ROLE (3 ms at 4096),
/// and by the client at every login. So: 256.
pub const ITERATIONS: u32 = 256;

/// The key logins' passwords are derived from (`db-login.key`, 32 random bytes).
pub struct LoginKey(hmac::Key);

impl LoginKey {
    /// A key from its bytes.
    pub fn new(bytes: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// The password of the login `name` at `target` (`host:port/database`): 32 URL-safe
    /// characters, 192 bits.
    pub fn password(&self, target: &str, name: &str) -> Secret {
        let mut ctx = hmac::Context::with_key(&self.0);
        for part in ["latchkey db login v1", target, name] {
            ctx.update(part.as_bytes());
            ctx.update(&[0]);
        }
        let tag = ctx.sign();
        Secret::new(URL_SAFE_NO_PAD.encode(&tag.as_ref()[..24]))
    }
}

/// The SCRAM-SHA-256 verifier of `password` with a fresh random salt.
pub fn verifier(password: &Secret) -> Result<String, RandomError> {
    let mut salt = [0u8; 16];
    crate::model::random::fill(&mut salt)?;
    Ok(verifier_with(password.expose(), &salt, ITERATIONS))
}

/// The verifier of `password` with this salt and iteration count. The password is ASCII,
/// which SASLprep leaves as it is.
pub fn verifier_with(password: &str, salt: &[u8], iterations: u32) -> String {
    let rounds = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    let mut salted = [0u8; 32];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        salt,
        password.as_bytes(),
        &mut salted,
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
    let client_key = hmac::sign(&key, b"Client Key");
    let stored_key = digest::digest(&digest::SHA256, client_key.as_ref());
    let server_key = hmac::sign(&key, b"Server Key");
    format!(
        "SCRAM-SHA-256${rounds}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key.as_ref()),
        STANDARD.encode(server_key.as_ref())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verifier_matches_rfc_7677s_worked_example() {
        // RFC 7677 §3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==,
        // 4096 iterations; its ServerSignature checks out against this ServerKey.
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let v = verifier_with("pencil", &salt, 4096);
        let parts: Vec<&str> = v.split(['$', ':']).collect();
        assert_eq!(parts[0], "SCRAM-SHA-256");
        assert_eq!(parts[1], "4096");
        assert_eq!(parts[2], "W22ZaJ0SNY7soEsUEjb6gQ==");
        // ServerSignature = HMAC(ServerKey, AuthMessage) from the RFC's exchange.
        let server_key = STANDARD.decode(parts[4]).unwrap();
        let auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let signature = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &server_key),
            auth_message.as_bytes(),
        );
        assert_eq!(
            STANDARD.encode(signature.as_ref()),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        // And the client's proof from the RFC opens with this StoredKey:
        // ClientKey = proof XOR HMAC(StoredKey, AuthMessage), StoredKey = H(ClientKey).
        let stored_key = STANDARD.decode(parts[3]).unwrap();
        let client_signature = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &stored_key),
            auth_message.as_bytes(),
        );
        let proof = STANDARD
            .decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        let client_key: Vec<u8> = proof
            .iter()
            .zip(client_signature.as_ref())
            .map(|(a, b)| a ^ b)
            .collect();
        assert_eq!(
            digest::digest(&digest::SHA256, &client_key).as_ref(),
            &stored_key[..]
        );
    }

    #[test]
    fn passwords_are_per_login_and_stable() {
        let key = LoginKey::new(&[7u8; 32]);
        let a = key.password("h:5432/db", "lk_alice_12345678");
        assert_eq!(a.expose().len(), 32);
        assert_eq!(a, key.password("h:5432/db", "lk_alice_12345678"));
        assert_ne!(a, key.password("h:5432/db", "lk_alice_12345679"));
        assert_ne!(a, key.password("h:5432/db2", "lk_alice_12345678"));
        assert_ne!(
            a,
            LoginKey::new(&[8u8; 32]).password("h:5432/db", "lk_alice_12345678")
        );
        // Fresh salt each time: two verifiers of one password differ.
        assert_ne!(verifier(&a).unwrap(), verifier(&a).unwrap());
    }
}
