//! berth's token-signing key: its files under the data root (`token.key`, `token.crt`, written
//! atomically with private modes), its self-signed certificate, its libtrust key ID, and the
//! signing of tokens.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind as IoErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::Algorithm;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use rustls_pemfile::Item;

use super::Claims;
use super::der::{certificate_spki, parse_spki, sec1_to_pkcs8};
use super::public_key::{Curve, PublicKey, libtrust_key_id};
use crate::error::{Error, Result};

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
    pub(super) point: Vec<u8>,
    pub(super) kid: String,
    cert_pem: String,
    /// The JWT header, base64url: the same for every token.
    pub(super) header_b64: String,
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
    pub(super) fn sign_parts(&self, header_b64: &str, payload: &[u8]) -> Result<String> {
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
    let key_pair = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8,
        &SystemRandom::new(),
    )
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
pub(super) fn pem_certificates(pem: &str) -> std::result::Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for item in rustls_pemfile::read_all(&mut pem.as_bytes()) {
        if let Item::X509Certificate(der) = item.map_err(|e| format!("bad PEM: {e}"))? {
            out.push(der.as_ref().to_vec());
        }
    }
    Ok(out)
}

/// Whether the first certificate of `pem` is for the P-256 key `point`.
pub(super) fn leaf_matches(pem: &str, point: &[u8]) -> std::result::Result<bool, String> {
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
            return Err(Error::Config(format!("{}: not a directory", dir.display())));
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
