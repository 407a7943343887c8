//! Docker registry tokens: JWTs signed ES256 (P-256), with the claims of Docker's token spec
//! (`iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti`, `access`) plus berth's own (`robot`,
//! `refresh`). The signing key is generated at first start under the data root (mode 0600) with a
//! self-signed certificate, so another registry (CNCF Distribution's `auth: token` with
//! `rootcertbundle`) can trust berth as its token server; the JWT header names the key by its
//! libtrust key ID (`kid`), which is what Distribution matches against its root certificates.
//! A [`Verifier`] checks signature, algorithm, issuer, audience, expiry and not-before (with a
//! small clock skew), for berth's own key or for an external issuer's (PEM key, certificate or
//! JWKS file).
//!
//! This module owns the key files (`token.key`, `token.crt`), the key IDs and the JWT wire
//! format; what a token grants is decided elsewhere (`guard`, `policy`).
//!
//! Interoperability notes:
//! - Distribution 2.x finds the key by the libtrust `kid`, or by the `x5c` certificate chain
//!   checked against `rootcertbundle`. Distribution 3.x no longer computes libtrust IDs for its
//!   root certificates: it takes the `x5c` chain, or a `kid` listed in its `jwks` file. berth's
//!   tokens therefore carry both `kid` and `x5c`, and [`SigningKey::jwks_json`] writes a JWKS with
//!   the same `kid` for Distribution's `jwks` option.
//! - A trusted key answers to its libtrust ID, its RFC 7638 thumbprint and, from a JWKS, its own
//!   `kid`. A token whose `kid` names none of them is tried against every trusted key of its
//!   algorithm; the keys are trusted either way, the `kid` only picks one quickly.
//! - Keys are never taken from the token itself (`jwk`, `x5c`, `jku` are ignored), and HMAC is
//!   never accepted, so a public key cannot be replayed as a shared secret.
//!
//! Layout: this file holds the claims and the refusal reasons; `keys` the signing key and its
//! files, `verify` the [`Verifier`], `jwks` the reading of JWKs, `public_key` public keys and
//! their key IDs (libtrust, RFC 7638), and `der` the few DER structures read and written.

use serde::{Deserialize, Serialize};

mod der;
mod jwks;
mod keys;
mod public_key;
mod verify;

pub use keys::SigningKey;
pub use verify::Verifier;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 60;

/// One entry of the `access` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaim {
    /// `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Repository name, or `catalog`.
    pub name: String,
    /// `pull`, `push`, `delete`, `*`.
    pub actions: Vec<String>,
}

/// A token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user name; empty for anonymous.
    pub sub: String,
    /// Audience: the registry's service name. Serialized as a string (what Distribution 2.8
    /// expects); a list is accepted when verifying.
    #[serde(deserialize_with = "audience")]
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Not before, Unix seconds.
    pub nbf: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Unique token ID.
    pub jti: String,
    /// What the bearer may do.
    #[serde(default)]
    pub access: Vec<AccessClaim>,
    /// The robot token it was issued to (berth's claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub robot: Option<String>,
    /// Whether this is a refresh token (berth's claim): accepted only by the token endpoint.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refresh: bool,
    /// The version of the user's password it was issued under (berth's claim: a short digest
    /// of the stored hash, which changes with every password change), so that a change refuses
    /// every earlier token at once, whatever the clock's resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pwv: Option<String>,
}

fn audience<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Aud::deserialize(d)? {
        Aud::One(s) => s,
        Aud::Many(v) => v.into_iter().next().unwrap_or_default(),
    })
}

/// Why a token was refused (said in the 401's error message; never contains the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT, bad base64 or JSON.
    #[error("malformed token")]
    Malformed,
    /// Not ES256 (or whatever the key needs), e.g. `alg: none`.
    #[error("token algorithm not accepted")]
    Algorithm,
    /// Signed by a key not trusted here, or the signature does not verify.
    #[error("invalid token signature")]
    Signature,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` is not the trusted issuer.
    #[error("token issuer not trusted")]
    Issuer,
    /// `aud` is not this registry's service.
    #[error("token audience is not this registry")]
    Audience,
}

#[cfg(test)]
mod tests;
