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

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind as IoErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use rustls_pemfile::Item;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

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

/// File name of the signing key under the key directory.
const KEY_FILE: &str = "token.key";
/// File name of its certificate.
const CERT_FILE: &str = "token.crt";
/// Subject of the self-signed certificate.
const CERT_COMMON_NAME: &str = "berth registry token signer";
/// How long a generated certificate is valid: verifiers that check the `x5c` chain
/// (Distribution) refuse an expired one, and nobody rotates this certificate by hand.
const CERT_VALIDITY: Duration = Duration::from_secs(3653 * 86_400);
/// A generated certificate starts a day early, for verifiers whose clock is behind.
const CERT_BACKDATE: Duration = Duration::from_secs(86_400);

/// berth's token-signing key and its certificate.
pub struct SigningKey {
    /// The parsed key, kept so that signing does not re-read PKCS#8 each time.
    key_pair: EcdsaKeyPair,
    rng: SystemRandom,
    /// The public key, uncompressed SEC1 point (`04 || x || y`).
    point: Vec<u8>,
    kid: String,
    cert_pem: String,
    /// The JWT header, base64url: the same for every token.
    header_b64: String,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Load `<dir>/token.key` (PKCS#8 PEM, P-256) and `<dir>/token.crt`, generating both the
    /// first time (the directory 0700, the key 0600, written atomically).
    pub fn load_or_generate(dir: &Path) -> Result<SigningKey> {
        ensure_private_dir(dir)?;
        let key_path = dir.join(KEY_FILE);
        let cert_path = dir.join(CERT_FILE);
        let pkcs8 = match fs::read_to_string(&key_path) {
            Ok(pem) => {
                warn_if_exposed(&key_path);
                read_private_key(&pem, &key_path)?
            }
            Err(e) if e.kind() == IoErrorKind::NotFound => {
                let (der, pem) = generate_pkcs8()?;
                write_atomic(&key_path, pem.as_bytes(), 0o600)?;
                tracing::info!(path = %key_path.display(), "generated the token signing key");
                der
            }
            Err(e) => return Err(Error::io(&key_path, e)),
        };
        let (key_pair, point) = parse_pkcs8(&pkcs8, &key_path)?;
        let existing = match fs::read_to_string(&cert_path) {
            Ok(pem) => Some(pem),
            Err(e) if e.kind() == IoErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(&cert_path, e)),
        };
        // The certificate is derived from the key: when it is missing (a crash between the two
        // writes) or belongs to another key (the key file was replaced), make it again.
        let cert_pem = match existing {
            Some(pem) if leaf_matches(&pem, &point).unwrap_or(false) => pem,
            existing => {
                if existing.is_some() {
                    tracing::warn!(
                        path = %cert_path.display(),
                        "the token certificate does not hold the signing key's public key; \
                         replacing it"
                    );
                }
                let pem = self_signed_pem(&pkcs8)?;
                write_atomic(&cert_path, pem.as_bytes(), 0o644)?;
                pem
            }
        };
        SigningKey::assemble(key_pair, point, cert_pem)
    }

    /// Use a key given in the configuration (PKCS#8 or SEC1 PEM, P-256), with its certificate
    /// if given (else a self-signed one is made in memory).
    pub fn from_files(key: &Path, cert: Option<&Path>) -> Result<SigningKey> {
        let pem = fs::read_to_string(key).map_err(|e| Error::io(key, e))?;
        let pkcs8 = read_private_key(&pem, key)?;
        let (key_pair, point) = parse_pkcs8(&pkcs8, key)?;
        let cert_pem = match cert {
            Some(path) => {
                let pem = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
                let matches = leaf_matches(&pem, &point)
                    .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
                if !matches {
                    return Err(Error::Config(format!(
                        "{}: the first certificate is not for the token signing key {}",
                        path.display(),
                        key.display()
                    )));
                }
                pem
            }
            None => self_signed_pem(&pkcs8)?,
        };
        SigningKey::assemble(key_pair, point, cert_pem)
    }

    /// A fresh key and self-signed certificate kept only in memory (tests, throwaway
    /// registries): tokens it signs stop verifying when the process ends.
    pub fn generate() -> Result<SigningKey> {
        let (pkcs8, _) = generate_pkcs8()?;
        let (key_pair, point) = parse_pkcs8(&pkcs8, Path::new("<generated>"))?;
        let cert_pem = self_signed_pem(&pkcs8)?;
        SigningKey::assemble(key_pair, point, cert_pem)
    }

    /// The libtrust key ID of the public key (the JWT `kid`).
    pub fn key_id(&self) -> &str {
        &self.kid
    }

    /// The certificate, PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The public key as a JWKS document (`{"keys":[...]}`, `kid` = [`SigningKey::key_id`]), for
    /// verifiers configured with a key set rather than certificates (Distribution 3's `jwks`).
    pub fn jwks_json(&self) -> String {
        let jwk = PublicKey::Ec {
            curve: Curve::P256,
            point: self.point.clone(),
        };
        let (x, y) = jwk.ec_coordinates().unwrap_or_default();
        serde_json::json!({
            "keys": [{
                "kty": "EC",
                "crv": "P-256",
                "x": x,
                "y": y,
                "kid": self.kid,
                "alg": "ES256",
                "use": "sig",
            }]
        })
        .to_string()
    }

    /// Sign `claims` (header: `alg` ES256, `typ` JWT, `kid`).
    pub fn sign(&self, claims: &Claims) -> Result<String> {
        let payload = serde_json::to_vec(claims)
            .map_err(|e| Error::Config(format!("cannot encode token claims: {e}")))?;
        self.sign_parts(&self.header_b64, &payload)
    }

    /// `header.payload.signature`, the header already encoded.
    fn sign_parts(&self, header_b64: &str, payload: &[u8]) -> Result<String> {
        let mut token = String::with_capacity(header_b64.len() + payload.len() * 4 / 3 + 92);
        token.push_str(header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        // The FIXED variant gives `r || s`, the JWS form (not ASN.1).
        let signature = self
            .key_pair
            .sign(&self.rng, token.as_bytes())
            .map_err(|_| Error::Config("cannot sign a token: no system randomness".into()))?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut token);
        Ok(token)
    }

    fn assemble(key_pair: EcdsaKeyPair, point: Vec<u8>, cert_pem: String) -> Result<SigningKey> {
        let public = PublicKey::Ec {
            curve: Curve::P256,
            point: point.clone(),
        };
        let kid = libtrust_key_id(&public.spki());
        let x5c: Vec<String> = pem_certificates(&cert_pem)
            .map_err(Error::Config)?
            .iter()
            .map(|der| STANDARD.encode(der))
            .collect();
        let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
        header.kid = Some(kid.clone());
        header.x5c = Some(x5c);
        let header_json = serde_json::to_vec(&header)
            .map_err(|e| Error::Config(format!("cannot encode the token header: {e}")))?;
        Ok(SigningKey {
            key_pair,
            rng: SystemRandom::new(),
            point,
            kid,
            cert_pem,
            header_b64: URL_SAFE_NO_PAD.encode(header_json),
        })
    }
}

/// A new P-256 key: PKCS#8 DER and PEM.
fn generate_pkcs8() -> Result<(Vec<u8>, String)> {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| Error::Config(format!("cannot generate the token signing key: {e}")))?;
    Ok((kp.serialize_der(), kp.serialize_pem()))
}

/// The PKCS#8 DER of the first private key in `pem` (a SEC1 key is wrapped into PKCS#8).
fn read_private_key(pem: &str, path: &Path) -> Result<Vec<u8>> {
    for item in rustls_pemfile::read_all(&mut pem.as_bytes()) {
        let item = item.map_err(|e| Error::Config(format!("{}: bad PEM: {e}", path.display())))?;
        match item {
            Item::Pkcs8Key(k) => return Ok(k.secret_pkcs8_der().to_vec()),
            Item::Sec1Key(k) => return Ok(sec1_to_pkcs8(k.secret_sec1_der())),
            Item::Pkcs1Key(_) => {
                return Err(Error::Config(format!(
                    "{}: an RSA key; the token signing key must be EC P-256",
                    path.display()
                )));
            }
            _ => {}
        }
    }
    Err(Error::Config(format!(
        "{}: no private key (PEM \"PRIVATE KEY\" or \"EC PRIVATE KEY\"; encrypted keys are not \
         supported)",
        path.display()
    )))
}

/// Parse a P-256 PKCS#8 key: the signing key and its public point.
fn parse_pkcs8(pkcs8: &[u8], path: &Path) -> Result<(EcdsaKeyPair, Vec<u8>)> {
    let key_pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &SystemRandom::new())
            .map_err(|e| {
                Error::Config(format!(
                    "{}: not a usable EC P-256 private key ({e})",
                    path.display()
                ))
            })?;
    let point = key_pair.public_key().as_ref().to_vec();
    Ok((key_pair, point))
}

/// A self-signed certificate for the key, PEM.
fn self_signed_pem(pkcs8: &[u8]) -> Result<String> {
    let fail = |e: rcgen::Error| Error::Config(format!("cannot make the token certificate: {e}"));
    let key_pair = rcgen::KeyPair::try_from(pkcs8).map_err(fail)?;
    let mut params = rcgen::CertificateParams::default();
    let mut name = rcgen::DistinguishedName::new();
    name.push(rcgen::DnType::CommonName, CERT_COMMON_NAME);
    params.distinguished_name = name;
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + since_epoch.saturating_sub(CERT_BACKDATE);
    params.not_after = epoch + since_epoch + CERT_VALIDITY;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    // rcgen's default serial is a hash of the public key: a regenerated certificate would reuse
    // it, which RFC 5280 forbids for one issuer.
    let mut serial = [0u8; 16];
    SystemRandom::new()
        .fill(&mut serial)
        .map_err(|_| Error::Config("cannot make the token certificate: no randomness".into()))?;
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    Ok(params.self_signed(&key_pair).map_err(fail)?.pem())
}

/// The DER of each certificate in `pem`, in order.
fn pem_certificates(pem: &str) -> std::result::Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for item in rustls_pemfile::read_all(&mut pem.as_bytes()) {
        if let Item::X509Certificate(der) = item.map_err(|e| format!("bad PEM: {e}"))? {
            out.push(der.as_ref().to_vec());
        }
    }
    Ok(out)
}

/// Whether the first certificate of `pem` is for the P-256 key `point`.
fn leaf_matches(pem: &str, point: &[u8]) -> std::result::Result<bool, String> {
    let certs = pem_certificates(pem)?;
    let leaf = certs.first().ok_or("no certificate in the PEM")?;
    Ok(match parse_spki(certificate_spki(leaf)?)? {
        PublicKey::Ec {
            curve: Curve::P256,
            point: p,
        } => p == point,
        _ => false,
    })
}

/// Create the key directory 0700 (its parents with the default mode) unless it exists.
fn ensure_private_dir(dir: &Path) -> Result<()> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {
            if m.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    path = %dir.display(),
                    "the token key directory is open to group or others; chmod 700 it"
                );
            }
            return Ok(());
        }
        Ok(_) => {
            return Err(Error::Config(format!(
                "{}: not a directory",
                dir.display()
            )));
        }
        Err(e) if e.kind() == IoErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(dir, e)),
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == IoErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(dir, e)),
    }
}

/// Warn (never fix silently) when the private key is readable beyond its owner.
fn warn_if_exposed(path: &Path) {
    if let Ok(m) = fs::metadata(path)
        && m.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            "the token signing key is readable by group or others; chmod 600 it"
        );
    }
}

/// Write `data` to `path` so that readers see the old file or the whole new one: a temporary
/// file created with `mode` (so a key is never readable by others, even briefly), synced,
/// renamed over `path`, and the directory synced so the rename survives a crash.
fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

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
            let item =
                item.map_err(|e| Error::Config(format!("trusted keys: bad PEM: {e}")))?;
            let parsed = match &item {
                Item::X509Certificate(der) => certificate_spki(der)
                    .and_then(parse_spki)
                    .map_err(|e| format!("certificate: {e}")),
                Item::SubjectPublicKeyInfo(der) => {
                    parse_spki(der.as_ref()).map_err(|e| format!("public key: {e}"))
                }
                Item::Pkcs1Key(_) | Item::Pkcs8Key(_) | Item::Sec1Key(_) => {
                    skipped.push("a private key (only public keys and certificates are read)".into());
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

/// A JWK's key, its `kid`, and the one algorithm its `alg` allows, if given.
fn parse_jwk(
    value: serde_json::Value,
) -> std::result::Result<(PublicKey, Option<String>, Option<Algorithm>), String> {
    #[derive(Deserialize)]
    struct Jwk {
        kty: String,
        #[serde(default)]
        kid: Option<String>,
        #[serde(default)]
        alg: Option<String>,
        #[serde(default, rename = "use")]
        use_: Option<String>,
        #[serde(default)]
        crv: Option<String>,
        #[serde(default)]
        x: Option<String>,
        #[serde(default)]
        y: Option<String>,
        #[serde(default)]
        n: Option<String>,
        #[serde(default)]
        e: Option<String>,
    }
    let jwk: Jwk = serde_json::from_value(value).map_err(|e| format!("not a JWK: {e}"))?;
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return Err("not a signing key (`use` is not \"sig\")".into());
    }
    let field = |v: &Option<String>, name: &str| -> std::result::Result<Vec<u8>, String> {
        let v = v.as_deref().ok_or_else(|| format!("no `{name}`"))?;
        URL_SAFE_NO_PAD
            .decode(v.trim_end_matches('='))
            .map_err(|_| format!("`{name}` is not base64url"))
    };
    let public = match jwk.kty.as_str() {
        "EC" => {
            let curve = match jwk.crv.as_deref() {
                Some("P-256") => Curve::P256,
                Some("P-384") => Curve::P384,
                other => return Err(format!("unsupported curve {other:?}")),
            };
            let (x, y) = (field(&jwk.x, "x")?, field(&jwk.y, "y")?);
            if x.len() != curve.coordinate_len() || y.len() != curve.coordinate_len() {
                return Err("EC coordinates of the wrong length".into());
            }
            let mut point = Vec::with_capacity(1 + x.len() + y.len());
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            PublicKey::Ec { curve, point }
        }
        "RSA" => PublicKey::rsa(field(&jwk.n, "n")?, field(&jwk.e, "e")?)?,
        "oct" => return Err("a symmetric key: shared secrets are never trusted".into()),
        other => return Err(format!("unsupported key type {other:?}")),
    };
    let only = match jwk.alg.as_deref() {
        None => None,
        Some(name) => {
            let alg = Algorithm::from_str(name)
                .ok()
                .filter(|a| public.algorithms().contains(a))
                .ok_or_else(|| format!("`alg` {name:?} does not fit the key"))?;
            Some(alg)
        }
    };
    Ok((public, jwk.kid, only))
}

/// The elliptic curves accepted for trusted keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
}

impl Curve {
    /// The curve's OID, DER content bytes.
    fn oid(self) -> &'static [u8] {
        match self {
            Curve::P256 => OID_P256,
            Curve::P384 => OID_P384,
        }
    }

    fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }

    fn jwk_name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        }
    }
}

/// A public key read from an SPKI, a certificate or a JWK.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PublicKey {
    /// Uncompressed point `04 || x || y`.
    Ec { curve: Curve, point: Vec<u8> },
    /// Modulus and exponent, unsigned big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

impl PublicKey {
    /// An RSA key, refused unless the modulus is 2048 to 8192 bits (what ring verifies).
    fn rsa(n: Vec<u8>, e: Vec<u8>) -> std::result::Result<PublicKey, String> {
        let (n, e) = (strip_zeros(&n).to_vec(), strip_zeros(&e).to_vec());
        let bits = match n.first() {
            Some(b) => n.len() * 8 - b.leading_zeros() as usize,
            None => 0,
        };
        if !(2048..=8192).contains(&bits) {
            return Err(format!("RSA modulus of {bits} bits (2048 to 8192 accepted)"));
        }
        if e.is_empty() {
            return Err("RSA exponent is zero".into());
        }
        Ok(PublicKey::Rsa { n, e })
    }

    fn algorithms(&self) -> Vec<Algorithm> {
        match self {
            PublicKey::Ec {
                curve: Curve::P256, ..
            } => vec![Algorithm::ES256],
            PublicKey::Ec {
                curve: Curve::P384, ..
            } => vec![Algorithm::ES384],
            PublicKey::Rsa { .. } => vec![
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ],
        }
    }

    fn decoding_key(&self) -> DecodingKey {
        match self {
            // jsonwebtoken hands these bytes to ring as the raw public point.
            PublicKey::Ec { point, .. } => DecodingKey::from_ec_der(point),
            PublicKey::Rsa { n, e } => DecodingKey::from_rsa_raw_components(n, e),
        }
    }

    /// The SubjectPublicKeyInfo DER, byte for byte what Go's `x509.MarshalPKIXPublicKey`
    /// writes (libtrust hashes that).
    fn spki(&self) -> Vec<u8> {
        match self {
            PublicKey::Ec { curve, point } => der(
                TAG_SEQUENCE,
                &[
                    der(
                        TAG_SEQUENCE,
                        &[der(TAG_OID, OID_EC_PUBLIC_KEY), der(TAG_OID, curve.oid())].concat(),
                    ),
                    der(TAG_BIT_STRING, &[&[0u8][..], point].concat()),
                ]
                .concat(),
            ),
            PublicKey::Rsa { n, e } => {
                let rsa_public_key =
                    der(TAG_SEQUENCE, &[der_uint(n), der_uint(e)].concat());
                der(
                    TAG_SEQUENCE,
                    &[
                        der(
                            TAG_SEQUENCE,
                            &[der(TAG_OID, OID_RSA_ENCRYPTION), vec![TAG_NULL, 0]].concat(),
                        ),
                        der(TAG_BIT_STRING, &[&[0u8][..], &rsa_public_key].concat()),
                    ]
                    .concat(),
                )
            }
        }
    }

    /// base64url `x` and `y` of an EC key.
    fn ec_coordinates(&self) -> Option<(String, String)> {
        match self {
            PublicKey::Ec { point, .. } => {
                let (x, y) = point.get(1..)?.split_at(point.len().saturating_sub(1) / 2);
                Some((URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y)))
            }
            PublicKey::Rsa { .. } => None,
        }
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url): Distribution 3's key ID for its root
    /// certificates and what many JWKS publishers use as `kid`.
    fn thumbprint(&self) -> String {
        let canonical = match self {
            PublicKey::Ec { curve, .. } => {
                let (x, y) = self.ec_coordinates().unwrap_or_default();
                format!(
                    r#"{{"crv":"{}","kty":"EC","x":"{x}","y":"{y}"}}"#,
                    curve.jwk_name()
                )
            }
            PublicKey::Rsa { n, e } => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                URL_SAFE_NO_PAD.encode(e),
                URL_SAFE_NO_PAD.encode(n)
            ),
        };
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// The libtrust key ID (docker/libtrust `keyIDFromCryptoKey`): SHA-256 of the DER
/// SubjectPublicKeyInfo, first 240 bits, base32 (RFC 4648, no padding), in 12 groups of 4
/// joined by `:`.
fn libtrust_key_id(spki: &[u8]) -> String {
    let digest = Sha256::digest(spki);
    let encoded = base32(&digest[..30]);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 4);
    for (i, c) in encoded.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push(':');
        }
        out.push(c);
    }
    out
}

/// RFC 4648 base32, upper case, without padding.
fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity((data.len() * 8).div_ceil(5));
    let mut buffer: u16 = 0;
    let mut bits = 0;
    for &byte in data {
        buffer = (buffer << 8) | u16::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[usize::from((buffer >> bits) & 31)] as char);
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ALPHABET[usize::from((buffer << (5 - bits)) & 31)] as char);
    }
    out
}

// A minimal DER reader and writer: enough to find the key in a certificate, to parse and write a
// SubjectPublicKeyInfo, and to wrap a SEC1 key into PKCS#8. No X.509 crate is in the tree, and
// nothing here needs more than this walk.

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
/// `[0] EXPLICIT`: the version of a v2/v3 certificate.
const TAG_CONTEXT_0: u8 = 0xa0;

/// 1.2.840.10045.2.1 (id-ecPublicKey).
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// 1.2.840.10045.3.1.7 (prime256v1, P-256).
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// 1.3.132.0.34 (secp384r1, P-384).
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// 1.2.840.113549.1.1.1 (rsaEncryption).
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// 1.3.101.112 (Ed25519), named only to say it is not supported.
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// One DER element.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    /// Tag, length and content.
    whole: &'a [u8],
}

/// The first element of `input` and what follows it; `None` when malformed or truncated.
fn read_tlv(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // multi-byte tags: none in the structures read here
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None; // indefinite length (BER, not DER), or absurd
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    let tlv = Tlv {
        tag,
        content: &rest[..len],
        whole: &input[..header + len],
    };
    Some((tlv, &rest[len..]))
}

/// Like [`read_tlv`], requiring `tag`.
fn expect_tlv(input: &[u8], tag: u8) -> std::result::Result<(Tlv<'_>, &[u8]), String> {
    match read_tlv(input) {
        Some((tlv, rest)) if tlv.tag == tag => Ok((tlv, rest)),
        Some((tlv, _)) => Err(format!(
            "malformed DER: tag {:#04x} where {tag:#04x} was expected",
            tlv.tag
        )),
        None => Err("malformed or truncated DER".into()),
    }
}

/// The SubjectPublicKeyInfo (whole DER element) of an X.509 certificate:
/// `Certificate { tbsCertificate { [0] version?, serialNumber, signature, issuer, validity,
/// subject, subjectPublicKeyInfo, ... }, ... }`.
fn certificate_spki(cert: &[u8]) -> std::result::Result<&[u8], String> {
    let (cert, _) = expect_tlv(cert, TAG_SEQUENCE)?;
    let (tbs, _) = expect_tlv(cert.content, TAG_SEQUENCE)?;
    let mut rest = tbs.content;
    if rest.first() == Some(&TAG_CONTEXT_0) {
        rest = expect_tlv(rest, TAG_CONTEXT_0)?.1;
    }
    let (_serial, rest) = expect_tlv(rest, TAG_INTEGER)?;
    let (_signature, rest) = expect_tlv(rest, TAG_SEQUENCE)?;
    let (_issuer, rest) = expect_tlv(rest, TAG_SEQUENCE)?;
    let (_validity, rest) = expect_tlv(rest, TAG_SEQUENCE)?;
    let (_subject, rest) = expect_tlv(rest, TAG_SEQUENCE)?;
    let (spki, _) = expect_tlv(rest, TAG_SEQUENCE)?;
    Ok(spki.whole)
}

/// Read a SubjectPublicKeyInfo: EC (P-256, P-384) or RSA.
fn parse_spki(spki: &[u8]) -> std::result::Result<PublicKey, String> {
    let (spki, _) = expect_tlv(spki, TAG_SEQUENCE)?;
    let (algorithm, rest) = expect_tlv(spki.content, TAG_SEQUENCE)?;
    let (bits, _) = expect_tlv(rest, TAG_BIT_STRING)?;
    let key = match bits.content.split_first() {
        Some((0, key)) => key,
        _ => return Err("malformed public key bit string".into()),
    };
    let (oid, parameters) = expect_tlv(algorithm.content, TAG_OID)?;
    match oid.content {
        OID_EC_PUBLIC_KEY => {
            let (curve, _) = expect_tlv(parameters, TAG_OID)
                .map_err(|_| "EC key without a named curve".to_string())?;
            let curve = match curve.content {
                OID_P256 => Curve::P256,
                OID_P384 => Curve::P384,
                _ => return Err("unsupported EC curve (P-256 and P-384 accepted)".into()),
            };
            if key.len() != 1 + 2 * curve.coordinate_len() || key[0] != 0x04 {
                return Err("EC public key is not an uncompressed point of its curve".into());
            }
            Ok(PublicKey::Ec {
                curve,
                point: key.to_vec(),
            })
        }
        OID_RSA_ENCRYPTION => {
            let (seq, _) = expect_tlv(key, TAG_SEQUENCE)?;
            let (n, rest) = expect_tlv(seq.content, TAG_INTEGER)?;
            let (e, _) = expect_tlv(rest, TAG_INTEGER)?;
            PublicKey::rsa(n.content.to_vec(), e.content.to_vec())
        }
        OID_ED25519 => Err("Ed25519 keys are not supported".into()),
        _ => Err("unsupported key algorithm (EC P-256/P-384 and RSA accepted)".into()),
    }
}

/// Wrap a SEC1 `ECPrivateKey` into a PKCS#8 `PrivateKeyInfo` for P-256 (ring reads only
/// PKCS#8). A key of another curve then fails to parse, naming the mismatch.
fn sec1_to_pkcs8(sec1: &[u8]) -> Vec<u8> {
    der(
        TAG_SEQUENCE,
        &[
            der(TAG_INTEGER, &[0]),
            der(
                TAG_SEQUENCE,
                &[der(TAG_OID, OID_EC_PUBLIC_KEY), der(TAG_OID, OID_P256)].concat(),
            ),
            der(TAG_OCTET_STRING, sec1),
        ]
        .concat(),
    )
}

/// One DER element: `tag`, definite length, `content`.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A DER INTEGER holding the unsigned big-endian `value`.
fn der_uint(value: &[u8]) -> Vec<u8> {
    let value = strip_zeros(value);
    let mut content = Vec::with_capacity(value.len() + 1);
    if value.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(value);
    der(TAG_INTEGER, &content)
}

fn strip_zeros(value: &[u8]) -> &[u8] {
    let skip = value.iter().take_while(|&&b| b == 0).count();
    &value[skip..]
}

#[cfg(test)]
mod tests;
