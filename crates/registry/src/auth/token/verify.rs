//! The [`Verifier`]: which keys are trusted (berth's own, PEM keys and certificates, JWKS), and
//! the checks a token passes before its claims are believed.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rustls_pemfile::Item;
use serde::Deserialize;

use super::der::{certificate_spki, parse_spki};
use super::jwks::parse_jwk;
use super::public_key::{Curve, PublicKey, libtrust_key_id};
use super::{Claims, LEEWAY_SECS, SigningKey, TokenError};
use crate::error::{Error, Result};

/// Checks tokens against trusted keys, one issuer and one audience.
pub struct Verifier {
    issuer: String,
    audience: String,
    keys: Vec<TrustedKey>,
}

/// One trusted public key, ready to check signatures with.
struct TrustedKey {
    /// Names a token's `kid` may use for it.
    kids: Vec<String>,
    /// The algorithms it may verify (a JWK's `alg` narrows them to one).
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
    /// Built once: algorithms, issuer, audience, leeway, `exp` and `nbf` checks.
    validation: Validation,
}

impl TrustedKey {
    fn has_kid(&self, kid: &str) -> bool {
        self.kids.iter().any(|k| k == kid)
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field(
                "keys",
                &self.keys.iter().map(|k| &k.kids).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The header fields looked at before choosing a key.
#[derive(Deserialize)]
struct PeekHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// Read a token's header without trusting it: only to pick the key and refuse an algorithm.
fn peek_header(token: &str) -> std::result::Result<PeekHeader, TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenError::Malformed)?;
    let header: PeekHeader = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
    // RFC 7515 §4.1.11: extensions marked critical must be understood; none are here.
    if header.crit.is_some() {
        return Err(TokenError::Malformed);
    }
    Ok(header)
}

/// What a jsonwebtoken failure means to the caller. Key-format failures count as "this key does
/// not verify it", so the next trusted key is tried.
fn classify(kind: &JwtErrorKind) -> TokenError {
    match kind {
        JwtErrorKind::InvalidSignature
        | JwtErrorKind::InvalidEcdsaKey
        | JwtErrorKind::InvalidRsaKey(_)
        | JwtErrorKind::InvalidKeyFormat
        | JwtErrorKind::Crypto(_) => TokenError::Signature,
        JwtErrorKind::InvalidAlgorithm
        | JwtErrorKind::MissingAlgorithm
        | JwtErrorKind::InvalidAlgorithmName => TokenError::Algorithm,
        JwtErrorKind::ExpiredSignature => TokenError::Expired,
        JwtErrorKind::ImmatureSignature => TokenError::NotYetValid,
        JwtErrorKind::InvalidIssuer => TokenError::Issuer,
        JwtErrorKind::InvalidAudience => TokenError::Audience,
        _ => TokenError::Malformed,
    }
}

impl Verifier {
    /// A verifier trusting no key yet.
    pub fn new(issuer: &str, audience: &str) -> Verifier {
        Verifier {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            keys: Vec::new(),
        }
    }

    /// How many keys are trusted.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Trust berth's own signing key.
    pub fn trust_signer(&mut self, key: &SigningKey) {
        let public = PublicKey::Ec {
            curve: Curve::P256,
            point: key.point.clone(),
        };
        self.trust(&public, Some(key.kid.clone()), None);
    }

    /// Trust the keys in a PEM text: public keys (SPKI) and/or certificates.
    pub fn trust_pem(&mut self, pem: &str) -> Result<()> {
        let mut added = 0;
        let mut skipped = Vec::new();
        for item in rustls_pemfile::read_all(&mut pem.as_bytes()) {
            let item = item.map_err(|e| Error::Config(format!("trusted keys: bad PEM: {e}")))?;
            let parsed = match &item {
                Item::X509Certificate(der) => certificate_spki(der)
                    .and_then(parse_spki)
                    .map_err(|e| format!("certificate: {e}")),
                Item::SubjectPublicKeyInfo(der) => {
                    parse_spki(der.as_ref()).map_err(|e| format!("public key: {e}"))
                }
                Item::Pkcs1Key(_) | Item::Pkcs8Key(_) | Item::Sec1Key(_) => {
                    skipped
                        .push("a private key (only public keys and certificates are read)".into());
                    continue;
                }
                _ => continue,
            };
            match parsed {
                Ok(public) => {
                    self.trust(&public, None, None);
                    added += 1;
                }
                Err(e) => skipped.push(e),
            }
        }
        self.finish_trust("PEM", added, skipped)
    }

    /// Trust the keys of a JWKS document (`{"keys":[...]}`; EC P-256 and RSA keys).
    pub fn trust_jwks(&mut self, json: &str) -> Result<()> {
        #[derive(Deserialize)]
        struct KeySet {
            keys: Vec<serde_json::Value>,
        }
        let set: KeySet = serde_json::from_str(json)
            .map_err(|e| Error::Config(format!("trusted keys: not a JWKS document: {e}")))?;
        let mut added = 0;
        let mut skipped = Vec::new();
        for (i, value) in set.keys.into_iter().enumerate() {
            match parse_jwk(value) {
                Ok((public, kid, only)) => {
                    self.trust(&public, kid, only);
                    added += 1;
                }
                Err(e) => skipped.push(format!("key {i}: {e}")),
            }
        }
        self.finish_trust("JWKS", added, skipped)
    }

    fn finish_trust(&self, what: &str, added: usize, skipped: Vec<String>) -> Result<()> {
        if added == 0 {
            let why = if skipped.is_empty() {
                String::from("nothing in it")
            } else {
                skipped.join("; ")
            };
            return Err(Error::Config(format!(
                "trusted keys: the {what} holds no usable public key ({why})"
            )));
        }
        for reason in skipped {
            tracing::warn!(source = what, reason = %reason, "ignoring an unusable trusted key");
        }
        Ok(())
    }

    fn trust(&mut self, public: &PublicKey, kid: Option<String>, only: Option<Algorithm>) {
        let mut kids = Vec::with_capacity(3);
        kids.extend(kid);
        for k in [libtrust_key_id(&public.spki()), public.thumbprint()] {
            if !kids.contains(&k) {
                kids.push(k);
            }
        }
        let algorithms = match only {
            Some(alg) => vec![alg],
            None => public.algorithms(),
        };
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms.clone();
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        // jsonwebtoken checks `aud` as a string or as a list containing ours.
        validation.validate_aud = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud"]);
        self.keys.push(TrustedKey {
            kids,
            algorithms,
            key: public.decoding_key(),
            validation,
        });
    }

    /// Verify a token and return its claims.
    pub fn verify(&self, token: &str) -> std::result::Result<Claims, TokenError> {
        let header = peek_header(token)?;
        // `none`, unknown names and anything no trusted key uses stop here; HMAC never matches
        // a trusted key, so a public key cannot be used as an HMAC secret.
        let alg = Algorithm::from_str(&header.alg).map_err(|_| TokenError::Algorithm)?;
        if self.keys.is_empty() {
            return Err(TokenError::Signature);
        }
        let named = header
            .kid
            .as_deref()
            .filter(|kid| self.keys.iter().any(|k| k.has_kid(kid)));
        let mut tried = false;
        for key in &self.keys {
            if named.is_some_and(|kid| !key.has_kid(kid)) || !key.algorithms.contains(&alg) {
                continue;
            }
            tried = true;
            match jsonwebtoken::decode::<Claims>(token, &key.key, &key.validation) {
                Ok(data) => {
                    let mut claims = data.claims;
                    // The audience matched (as a string or within a list): report it as ours.
                    claims.aud.clone_from(&self.audience);
                    return Ok(claims);
                }
                Err(e) => match classify(e.kind()) {
                    TokenError::Signature => continue,
                    other => return Err(other),
                },
            }
        }
        Err(if tried {
            TokenError::Signature
        } else {
            TokenError::Algorithm
        })
    }
}
