//! The simulator's JWT checks, with `ring`: the signature of a compact JWS under one public key
//! (PS256 client assertions, RS256/ES256 federated tokens), then the claims Entra checks.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use serde_json::Value;

/// Clock skew allowed on `exp` and `nbf`, as Entra allows some.
const LEEWAY_SECS: u64 = 60;

/// The signature algorithms the simulator accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwtAlgorithm {
    /// RSASSA-PSS with SHA-256 (certificate credentials).
    PS256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (federated tokens).
    RS256,
    /// ECDSA P-256 with SHA-256 (federated tokens).
    ES256,
}

impl JwtAlgorithm {
    fn name(self) -> &'static str {
        match self {
            Self::PS256 => "PS256",
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
        }
    }

    fn ring(self) -> &'static dyn VerificationAlgorithm {
        match self {
            Self::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Self::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        }
    }
}

/// A public key for one algorithm: for RSA the PKCS#1 `RSAPublicKey`, for EC the point.
#[derive(Clone)]
pub(crate) struct VerifyingKey {
    algorithm: JwtAlgorithm,
    key: Vec<u8>,
}

impl VerifyingKey {
    /// From the `subjectPublicKey` bits of a certificate or a `PUBLIC KEY` block.
    pub(crate) fn new(algorithm: JwtAlgorithm, key: &[u8]) -> Self {
        Self {
            algorithm,
            key: key.to_vec(),
        }
    }

    /// From a `PUBLIC KEY` (SubjectPublicKeyInfo) PEM.
    pub(crate) fn from_spki_pem(algorithm: JwtAlgorithm, pem_text: &str) -> Result<Self, String> {
        let block = pem::parse(pem_text).map_err(|e| format!("public key PEM: {e}"))?;
        use x509_parser::prelude::FromDer;
        let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(block.contents())
            .map_err(|e| format!("public key: {e}"))?;
        Ok(Self::new(algorithm, &spki.subject_public_key.data))
    }
}

/// The protected header fields the simulator looks at.
pub(crate) struct JwtHeader {
    pub alg: String,
    pub x5t_s256: Option<String>,
}

/// What the claims must say.
pub(crate) struct Expected<'a> {
    pub audience: &'a str,
    pub issuer: &'a str,
    pub subject: &'a str,
}

fn part(jwt: &str, index: usize) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(jwt.split('.').nth(index)?).ok()
}

/// The header of a compact JWS, unverified; `None` when it is not one.
pub(crate) fn header(jwt: &str) -> Option<JwtHeader> {
    if jwt.split('.').count() != 3 {
        return None;
    }
    let header: Value = serde_json::from_slice(&part(jwt, 0)?).ok()?;
    Some(JwtHeader {
        alg: header.get("alg")?.as_str()?.to_owned(),
        x5t_s256: header
            .get("x5t#S256")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// The claims, unverified (for error messages only).
pub(crate) fn unverified_claims(jwt: &str) -> Value {
    part(jwt, 1)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Whether `jwt` is signed by `key` with the key's algorithm and its claims match `expected`
/// and are valid now (`exp` and `nbf` required).
pub(crate) fn verify(jwt: &str, key: &VerifyingKey, expected: &Expected<'_>) -> bool {
    let Some(h) = header(jwt) else {
        return false;
    };
    if h.alg != key.algorithm.name() {
        return false;
    }
    let Some((signed, sig)) = jwt.rsplit_once('.') else {
        return false;
    };
    let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
        return false;
    };
    let public = UnparsedPublicKey::new(key.algorithm.ring(), &key.key);
    if public.verify(signed.as_bytes(), &sig).is_err() {
        return false;
    }
    claims_valid(&unverified_claims(jwt), expected)
}

fn claims_valid(claims: &Value, expected: &Expected<'_>) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let text = |k: &str| claims.get(k).and_then(Value::as_str);
    let audience_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == expected.audience,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(expected.audience)),
        _ => false,
    };
    let exp = claims.get("exp").and_then(Value::as_u64);
    let nbf = claims.get("nbf").and_then(Value::as_u64);
    audience_ok
        && text("iss") == Some(expected.issuer)
        && text("sub") == Some(expected.subject)
        && exp.is_some_and(|exp| exp + LEEWAY_SECS > now)
        && nbf.is_some_and(|nbf| nbf <= now + LEEWAY_SECS)
}
