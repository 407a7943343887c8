//! Public keys as read from an SPKI, a certificate or a JWK (EC P-256/P-384, RSA): the
//! algorithms each may verify, and the names a token's `kid` may use for it (the libtrust key ID
//! and the RFC 7638 thumbprint).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use sha2::{Digest, Sha256};

use super::der::{
    OID_EC_PUBLIC_KEY, OID_P256, OID_P384, OID_RSA_ENCRYPTION, TAG_BIT_STRING, TAG_NULL, TAG_OID,
    TAG_SEQUENCE, der, der_uint, strip_zeros,
};

/// The elliptic curves accepted for trusted keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Curve {
    P256,
    P384,
}

impl Curve {
    /// The curve's OID, DER content bytes.
    pub(super) fn oid(self) -> &'static [u8] {
        match self {
            Curve::P256 => OID_P256,
            Curve::P384 => OID_P384,
        }
    }

    pub(super) fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }

    pub(super) fn jwk_name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        }
    }
}

/// A public key read from an SPKI, a certificate or a JWK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PublicKey {
    /// Uncompressed point `04 || x || y`.
    Ec { curve: Curve, point: Vec<u8> },
    /// Modulus and exponent, unsigned big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

impl PublicKey {
    /// An RSA key, refused unless the modulus is 2048 to 8192 bits (what ring verifies).
    pub(super) fn rsa(n: Vec<u8>, e: Vec<u8>) -> std::result::Result<PublicKey, String> {
        let (n, e) = (strip_zeros(&n).to_vec(), strip_zeros(&e).to_vec());
        let bits = match n.first() {
            Some(b) => n.len() * 8 - b.leading_zeros() as usize,
            None => 0,
        };
        if !(2048..=8192).contains(&bits) {
            return Err(format!(
                "RSA modulus of {bits} bits (2048 to 8192 accepted)"
            ));
        }
        if e.is_empty() {
            return Err("RSA exponent is zero".into());
        }
        Ok(PublicKey::Rsa { n, e })
    }

    pub(super) fn algorithms(&self) -> Vec<Algorithm> {
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

    pub(super) fn decoding_key(&self) -> DecodingKey {
        match self {
            // jsonwebtoken hands these bytes to ring as the raw public point.
            PublicKey::Ec { point, .. } => DecodingKey::from_ec_der(point),
            PublicKey::Rsa { n, e } => DecodingKey::from_rsa_raw_components(n, e),
        }
    }

    /// The SubjectPublicKeyInfo DER, byte for byte what Go's `x509.MarshalPKIXPublicKey`
    /// writes (libtrust hashes that).
    pub(super) fn spki(&self) -> Vec<u8> {
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
                let rsa_public_key = der(TAG_SEQUENCE, &[der_uint(n), der_uint(e)].concat());
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
    pub(super) fn ec_coordinates(&self) -> Option<(String, String)> {
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
    pub(super) fn thumbprint(&self) -> String {
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
pub(super) fn libtrust_key_id(spki: &[u8]) -> String {
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
pub(super) fn base32(data: &[u8]) -> String {
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
