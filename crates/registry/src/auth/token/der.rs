//! A minimal DER reader and writer: enough to find the key in a certificate, to parse and write
//! a SubjectPublicKeyInfo, and to wrap a SEC1 key into PKCS#8. No X.509 crate is in the tree, and
//! nothing here needs more than this walk.

use super::public_key::{Curve, PublicKey};

const TAG_INTEGER: u8 = 0x02;
pub(super) const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
pub(super) const TAG_NULL: u8 = 0x05;
pub(super) const TAG_OID: u8 = 0x06;
pub(super) const TAG_SEQUENCE: u8 = 0x30;
/// `[0] EXPLICIT`: the version of a v2/v3 certificate.
const TAG_CONTEXT_0: u8 = 0xa0;

/// 1.2.840.10045.2.1 (id-ecPublicKey).
pub(super) const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// 1.2.840.10045.3.1.7 (prime256v1, P-256).
pub(super) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// 1.3.132.0.34 (secp384r1, P-384).
pub(super) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// 1.2.840.113549.1.1.1 (rsaEncryption).
pub(super) const OID_RSA_ENCRYPTION: &[u8] =
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
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
pub(super) fn certificate_spki(cert: &[u8]) -> std::result::Result<&[u8], String> {
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
pub(super) fn parse_spki(spki: &[u8]) -> std::result::Result<PublicKey, String> {
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
pub(super) fn sec1_to_pkcs8(sec1: &[u8]) -> Vec<u8> {
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
pub(super) fn der(tag: u8, content: &[u8]) -> Vec<u8> {
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
pub(super) fn der_uint(value: &[u8]) -> Vec<u8> {
    let value = strip_zeros(value);
    let mut content = Vec::with_capacity(value.len() + 1);
    if value.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(value);
    der(TAG_INTEGER, &content)
}

pub(super) fn strip_zeros(value: &[u8]) -> &[u8] {
    let skip = value.iter().take_while(|&&b| b == 0).count();
    &value[skip..]
}
