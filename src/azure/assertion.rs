//! The signed client assertion for certificate credentials (graph-protocol.md §1): a PS256 JWT
//! with the certificate's SHA-256 thumbprint in `x5t#S256`, signed with `ring`.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PSS_SHA256, RsaKeyPair};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::GraphError;

/// Lifetime of an assertion: Entra wants `exp` 5–10 minutes after `nbf`.
const ASSERTION_LIFETIME_SECS: u64 = 600;

/// A certificate credential parsed once from the Secret's PEM. `Debug` shows the thumbprint
/// only, never the key.
#[derive(Clone)]
pub(crate) struct CertificateKey {
    x5t_s256: String,
    key: Arc<RsaKeyPair>,
}

impl fmt::Debug for CertificateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateKey")
            .field("x5t_s256", &self.x5t_s256)
            .field("key", &"<redacted>")
            .finish()
    }
}

#[derive(Serialize)]
struct JwtHeader<'a> {
    alg: &'static str,
    typ: &'static str,
    #[serde(rename = "x5t#S256")]
    x5t_s256: &'a str,
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: u64,
    iat: u64,
    exp: u64,
}

impl CertificateKey {
    /// Reads the first CERTIFICATE and the RSA private key (PKCS#8 or PKCS#1) from `pem`.
    /// Errors say what is wrong with the PEM, never what it holds.
    pub(crate) fn from_pem(pem_text: &str) -> Result<Self, GraphError> {
        let blocks = pem::parse_many(pem_text).map_err(|_| {
            GraphError::config(
                "the certificate Secret is not valid PEM; put the certificate and its private key in one PEM",
            )
        })?;
        let cert = blocks.iter().find(|b| b.tag() == "CERTIFICATE").ok_or_else(|| {
            GraphError::config("the certificate Secret holds no CERTIFICATE block; put the certificate and its private key in one PEM")
        })?;
        let block = blocks
            .iter()
            .find(|b| matches!(b.tag(), "PRIVATE KEY" | "RSA PRIVATE KEY"))
            .ok_or_else(|| {
                GraphError::config("the certificate Secret holds no unencrypted RSA PRIVATE KEY or PRIVATE KEY block")
            })?;
        let key = match block.tag() {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(block.contents()),
            _ => RsaKeyPair::from_der(block.contents()),
        }
        .map_err(|_| {
            GraphError::config(
                "the private key in the certificate Secret is not an RSA key of 2048 to 8192 bits",
            )
        })?;
        let x5t_s256 = URL_SAFE_NO_PAD.encode(Sha256::digest(cert.contents()));
        Ok(Self {
            x5t_s256,
            key: Arc::new(key),
        })
    }

    /// A fresh assertion for `audience` (the token endpoint URL), valid from `now` (Unix seconds).
    pub(crate) fn assertion(
        &self,
        client_id: &str,
        audience: &str,
        now: u64,
    ) -> Result<String, GraphError> {
        let header = JwtHeader {
            alg: "PS256",
            typ: "JWT",
            x5t_s256: &self.x5t_s256,
        };
        let claims = Claims {
            aud: audience,
            iss: client_id,
            sub: client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: now,
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        };
        let signed = format!("{}.{}", b64_json(&header), b64_json(&claims));
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PSS_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .map_err(|_| GraphError::config("cannot sign the client assertion"))?;
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// base64url of the JSON of the header or the claims (plain strings and numbers: it cannot
/// fail).
fn b64_json<T: Serialize>(value: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::GraphErrorKind;

    #[test]
    fn unreadable_pem_is_a_config_error() {
        let err = CertificateKey::from_pem("not a pem").err().unwrap();
        assert_eq!(err.kind(), GraphErrorKind::Config);
        let only_cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = CertificateKey::from_pem(only_cert).err().unwrap();
        assert!(err.to_string().contains("PRIVATE KEY"));
    }
}
