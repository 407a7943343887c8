//! JSON Web Keys: one entry of a trusted JWKS document read into a public key, its `kid` and
//! the algorithm its `alg` allows.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::public_key::{Curve, PublicKey};

/// A JWK's key, its `kid`, and the one algorithm its `alg` allows, if given.
pub(super) fn parse_jwk(
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
