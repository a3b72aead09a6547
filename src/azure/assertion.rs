//! The signed client assertion for certificate credentials (graph-protocol.md §1): a PS256 JWT
//! with the certificate's SHA-256 thumbprint in `x5t#S256`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::GraphError;

/// Lifetime of an assertion: Entra wants `exp` 5–10 minutes after `nbf`.
const ASSERTION_LIFETIME_SECS: u64 = 600;

/// A certificate credential parsed once from the Secret's PEM.
#[derive(Clone)]
pub(crate) struct CertificateKey {
    x5t_s256: String,
    key: EncodingKey,
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
    pub(crate) fn from_pem(pem_text: &str) -> Result<Self, GraphError> {
        let blocks = pem::parse_many(pem_text).map_err(|e| {
            GraphError::config(format!("the certificate Secret is not valid PEM: {e}"))
        })?;
        let cert = blocks.iter().find(|b| b.tag() == "CERTIFICATE").ok_or_else(|| {
            GraphError::config("the certificate Secret holds no CERTIFICATE block; put the certificate and its private key in one PEM")
        })?;
        let key = blocks
            .iter()
            .find(|b| matches!(b.tag(), "PRIVATE KEY" | "RSA PRIVATE KEY"))
            .ok_or_else(|| {
                GraphError::config("the certificate Secret holds no unencrypted RSA PRIVATE KEY or PRIVATE KEY block")
            })?;
        let key = EncodingKey::from_rsa_pem(pem::encode(key).as_bytes()).map_err(|_| {
            GraphError::config("the private key in the certificate Secret is not an RSA key")
        })?;
        let x5t_s256 = URL_SAFE_NO_PAD.encode(Sha256::digest(cert.contents()));
        Ok(Self { x5t_s256, key })
    }

    /// A fresh assertion for `audience` (the token endpoint URL), valid from `now` (Unix seconds).
    pub(crate) fn assertion(
        &self,
        client_id: &str,
        audience: &str,
        now: u64,
    ) -> Result<String, GraphError> {
        let mut header = Header::new(Algorithm::PS256);
        header.typ = Some("JWT".into());
        header.x5t_s256 = Some(self.x5t_s256.clone());
        let claims = Claims {
            aud: audience,
            iss: client_id,
            sub: client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: now,
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| GraphError::config(format!("cannot sign the client assertion: {e}")))
    }
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
