//! Tests of token signing and verification: the key files, the key IDs, and every way a token
//! must be refused (expired, not yet valid, wrong issuer or audience, changed payload, another
//! key's signature, `alg: none`, HMAC keyed with the public key).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::Algorithm;

use super::der::certificate_spki;
use super::jwks::parse_jwk;
use super::keys::{leaf_matches, pem_certificates};
use super::public_key::{Curve, PublicKey, base32, libtrust_key_id};
use super::*;

const ISS: &str = "berth-registry";
const AUD: &str = "berth-registry";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims() -> Claims {
    let now = now();
    Claims {
        iss: ISS.into(),
        sub: "alice".into(),
        aud: AUD.into(),
        exp: now + 300,
        nbf: now,
        iat: now,
        jti: "0123456789abcdef".into(),
        access: vec![AccessClaim {
            kind: "repository".into(),
            name: "team-a/app".into(),
            actions: vec!["pull".into(), "push".into()],
        }],
        robot: None,
        refresh: false,
        pwv: None,
    }
}

fn verifier_for(key: &SigningKey) -> Verifier {
    let mut v = Verifier::new(ISS, AUD);
    v.trust_signer(key);
    v
}

fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

/// The three parts of a compact JWS.
fn parts(token: &str) -> (String, String, String) {
    let p: Vec<&str> = token.split('.').collect();
    assert_eq!(p.len(), 3, "{token}");
    (p[0].to_string(), p[1].to_string(), p[2].to_string())
}

fn is_libtrust_id(kid: &str) -> bool {
    let groups: Vec<&str> = kid.split(':').collect();
    groups.len() == 12
        && groups.iter().all(|g| {
            g.len() == 4
                && g.bytes()
                    .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        })
}

#[test]
fn sign_then_verify_round_trip() {
    let key = SigningKey::generate().unwrap();
    let c = claims();
    let token = key.sign(&c).unwrap();
    let (header, _, signature) = parts(&token);
    let header: serde_json::Value = serde_json::from_slice(&unb64(&header)).unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], key.key_id());
    // x5c: the certificate, so Distribution can check it against its root bundle.
    let x5c = header["x5c"].as_array().unwrap();
    assert_eq!(x5c.len(), 1);
    assert_eq!(
        STANDARD.decode(x5c[0].as_str().unwrap()).unwrap(),
        pem_certificates(key.certificate_pem()).unwrap()[0]
    );
    // ES256 in JWS form: r || s, 64 bytes (not ASN.1).
    assert_eq!(unb64(&signature).len(), 64);
    assert_eq!(verifier_for(&key).verify(&token), Ok(c));
}

#[test]
fn claims_with_robot_and_refresh_round_trip() {
    let key = SigningKey::generate().unwrap();
    let mut c = claims();
    c.robot = Some("0123456789ab".into());
    c.refresh = true;
    c.access.clear();
    let token = key.sign(&c).unwrap();
    assert_eq!(verifier_for(&key).verify(&token), Ok(c));
    // The plain claims do not carry berth's extras at all (Distribution sees the spec's set).
    let plain = key.sign(&claims()).unwrap();
    let payload: serde_json::Value = serde_json::from_slice(&unb64(&parts(&plain).1)).unwrap();
    assert!(
        payload.get("robot").is_none() && payload.get("refresh").is_none(),
        "{payload}"
    );
    assert_eq!(payload["aud"], AUD, "aud is a string");
}

#[test]
fn key_generated_at_first_start_private_and_reloaded() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("v1").join("auth");
    let first = SigningKey::load_or_generate(&dir).unwrap();
    let key_file = dir.join("token.key");
    let cert_file = dir.join("token.crt");
    assert!(key_file.is_file() && cert_file.is_file());
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&key_file), 0o600, "the private key is owner-only");
    assert_eq!(mode(&dir), 0o700, "the key directory is owner-only");
    let pem = fs::read_to_string(&key_file).unwrap();
    assert!(pem.contains("PRIVATE KEY"), "{pem}");
    // No temporary file left behind.
    let names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    let token = first.sign(&claims()).unwrap();
    let again = SigningKey::load_or_generate(&dir).unwrap();
    assert_eq!(again.key_id(), first.key_id(), "the same key is reloaded");
    assert_eq!(
        again.certificate_pem(),
        first.certificate_pem(),
        "and its certificate kept"
    );
    assert_eq!(
        fs::read_to_string(&key_file).unwrap(),
        pem,
        "the key file is not rewritten"
    );
    assert!(
        verifier_for(&again).verify(&token).is_ok(),
        "tokens survive a restart"
    );

    // A fresh directory gets another key.
    let other = SigningKey::load_or_generate(&root.path().join("other")).unwrap();
    assert_ne!(other.key_id(), first.key_id());
}

#[test]
fn a_certificate_of_another_key_is_replaced() {
    let root = tempfile::tempdir().unwrap();
    let first = SigningKey::load_or_generate(root.path()).unwrap();
    let stranger = SigningKey::generate().unwrap();
    fs::write(root.path().join("token.crt"), stranger.certificate_pem()).unwrap();
    let again = SigningKey::load_or_generate(root.path()).unwrap();
    assert_eq!(again.key_id(), first.key_id());
    assert_ne!(again.certificate_pem(), stranger.certificate_pem());
    assert!(leaf_matches(again.certificate_pem(), &first.point).unwrap());
    assert!(!leaf_matches(stranger.certificate_pem(), &first.point).unwrap());
}

#[test]
fn configured_key_files_are_used() {
    let root = tempfile::tempdir().unwrap();
    let generated = SigningKey::load_or_generate(root.path()).unwrap();
    let key = root.path().join("token.key");
    let cert = root.path().join("token.crt");
    let from = SigningKey::from_files(&key, Some(&cert)).unwrap();
    assert_eq!(from.key_id(), generated.key_id());
    let token = from.sign(&claims()).unwrap();
    assert!(verifier_for(&generated).verify(&token).is_ok());
    // A certificate for another key is refused, not silently used.
    let stranger = SigningKey::generate().unwrap();
    let wrong = root.path().join("wrong.crt");
    fs::write(&wrong, stranger.certificate_pem()).unwrap();
    let e = SigningKey::from_files(&key, Some(&wrong)).unwrap_err();
    assert!(
        e.to_string().contains("not for the token signing key"),
        "{e}"
    );
}

#[test]
fn key_id_is_libtrust_format() {
    let key = SigningKey::generate().unwrap();
    let kid = key.key_id();
    assert_eq!(kid.len(), 12 * 4 + 11, "{kid}");
    assert!(is_libtrust_id(kid), "{kid}");
    // The certificate's key has the same ID (what Distribution 2.x computes from its bundle).
    let spki = certificate_spki(&pem_certificates(key.certificate_pem()).unwrap()[0])
        .unwrap()
        .to_vec();
    assert_eq!(libtrust_key_id(&spki), kid);
}

#[test]
fn key_id_matches_a_published_libtrust_id() {
    // The P-256 key and its libtrust ID from the Docker image manifest v2 schema 1 spec.
    let jwk = serde_json::json!({
        "kty": "EC",
        "crv": "P-256",
        "x": "3gAwX48IQ5oaYQAYSxor6rYYc_6yjuLCjtQ9LUakg4A",
        "y": "t72ge6kIA1XOjqjVoEOiPPAURltJFBMGDSQvEGVB010",
    });
    let (public, kid, alg) = parse_jwk(jwk).unwrap();
    assert_eq!((kid, alg), (None, None));
    assert_eq!(
        libtrust_key_id(&public.spki()),
        "OD6I:6DRK:JXEJ:KBM4:255X:NSAA:MUSF:E4VM:ZI6W:CUN2:L4Z6:LSF4"
    );
}

#[test]
fn base32_is_rfc4648() {
    for (input, want) in [
        ("", ""),
        ("f", "MY"),
        ("fo", "MZXQ"),
        ("foo", "MZXW6"),
        ("foob", "MZXW6YQ"),
        ("fooba", "MZXW6YTB"),
        ("foobar", "MZXW6YTBOI"),
    ] {
        assert_eq!(base32(input.as_bytes()), want, "{input}");
    }
}

#[test]
fn expiry_is_checked_with_a_small_leeway() {
    let key = SigningKey::generate().unwrap();
    let v = verifier_for(&key);
    let leeway = LEEWAY_SECS as i64;
    let mut c = claims();
    c.iat = now() - 600;
    c.nbf = c.iat;
    c.exp = now() - leeway - 10;
    assert_eq!(v.verify(&key.sign(&c).unwrap()), Err(TokenError::Expired));
    // Within the clock skew it still passes.
    c.exp = now() - 10;
    assert!(v.verify(&key.sign(&c).unwrap()).is_ok());
}

#[test]
fn not_before_in_the_future_is_refused() {
    let key = SigningKey::generate().unwrap();
    let v = verifier_for(&key);
    let leeway = LEEWAY_SECS as i64;
    let mut c = claims();
    c.nbf = now() + leeway + 30;
    c.exp = now() + 3600;
    assert_eq!(
        v.verify(&key.sign(&c).unwrap()),
        Err(TokenError::NotYetValid)
    );
    c.nbf = now() + 10;
    assert!(
        v.verify(&key.sign(&c).unwrap()).is_ok(),
        "a small skew is tolerated"
    );
}

#[test]
fn wrong_issuer_or_audience_is_refused() {
    let key = SigningKey::generate().unwrap();
    let v = verifier_for(&key);
    let mut c = claims();
    c.iss = "someone-else".into();
    assert_eq!(v.verify(&key.sign(&c).unwrap()), Err(TokenError::Issuer));
    let mut c = claims();
    c.aud = "another-registry".into();
    assert_eq!(v.verify(&key.sign(&c).unwrap()), Err(TokenError::Audience));
    // A verifier for another service refuses berth's tokens.
    let mut other = Verifier::new(ISS, "another-registry");
    other.trust_signer(&key);
    assert_eq!(
        other.verify(&key.sign(&claims()).unwrap()),
        Err(TokenError::Audience)
    );
}

#[test]
fn audience_as_a_list_is_accepted_only_when_it_names_us() {
    let key = SigningKey::generate().unwrap();
    let v = verifier_for(&key);
    let mut payload = serde_json::to_value(claims()).unwrap();
    payload["aud"] = serde_json::json!(["another-registry", AUD]);
    let token = key
        .sign_parts(&key.header_b64, &serde_json::to_vec(&payload).unwrap())
        .unwrap();
    let got = v.verify(&token).unwrap();
    assert_eq!(got.aud, AUD);
    payload["aud"] = serde_json::json!(["another-registry"]);
    let token = key
        .sign_parts(&key.header_b64, &serde_json::to_vec(&payload).unwrap())
        .unwrap();
    assert_eq!(v.verify(&token), Err(TokenError::Audience));
}

#[test]
fn missing_required_claims_are_refused() {
    let key = SigningKey::generate().unwrap();
    let v = verifier_for(&key);
    for claim in ["exp", "nbf", "iss", "aud"] {
        let mut payload = serde_json::to_value(claims()).unwrap();
        payload.as_object_mut().unwrap().remove(claim);
        let token = key
            .sign_parts(&key.header_b64, &serde_json::to_vec(&payload).unwrap())
            .unwrap();
        assert!(v.verify(&token).is_err(), "without {claim}");
    }
}

#[test]
fn a_changed_payload_is_refused() {
    let key = SigningKey::generate().unwrap();
    let v = verifier_for(&key);
    let token = key.sign(&claims()).unwrap();
    let (header, payload, signature) = parts(&token);
    let mut c: serde_json::Value = serde_json::from_slice(&unb64(&payload)).unwrap();
    c["access"][0]["actions"] = serde_json::json!(["pull", "push", "delete"]);
    let forged = format!(
        "{header}.{}.{signature}",
        b64(&serde_json::to_vec(&c).unwrap())
    );
    assert_eq!(v.verify(&forged), Err(TokenError::Signature));
    let mut c: serde_json::Value = serde_json::from_slice(&unb64(&payload)).unwrap();
    c["sub"] = "root".into();
    let forged = format!(
        "{header}.{}.{signature}",
        b64(&serde_json::to_vec(&c).unwrap())
    );
    assert_eq!(v.verify(&forged), Err(TokenError::Signature));
    // A flipped bit in the signature too.
    let mut sig = unb64(&signature);
    sig[10] ^= 1;
    let forged = format!("{header}.{payload}.{}", b64(&sig));
    assert_eq!(v.verify(&forged), Err(TokenError::Signature));
}

#[test]
fn another_keys_signature_is_refused() {
    let key = SigningKey::generate().unwrap();
    let stranger = SigningKey::generate().unwrap();
    let v = verifier_for(&key);
    // Signed by the other key, naming it.
    let token = stranger.sign(&claims()).unwrap();
    assert_eq!(v.verify(&token), Err(TokenError::Signature));
    // Signed by the other key, but claiming to be ours (our header, with our kid and x5c).
    let payload = serde_json::to_vec(&claims()).unwrap();
    let token = stranger.sign_parts(&key.header_b64, &payload).unwrap();
    assert_eq!(v.verify(&token), Err(TokenError::Signature));
    // A header with the other key's certificate in x5c changes nothing: keys come from trust.
    let mut header: serde_json::Value = serde_json::from_slice(&unb64(&key.header_b64)).unwrap();
    header["x5c"] = serde_json::from_slice::<serde_json::Value>(&unb64(&stranger.header_b64))
        .unwrap()["x5c"]
        .clone();
    let token = stranger
        .sign_parts(&b64(&serde_json::to_vec(&header).unwrap()), &payload)
        .unwrap();
    assert_eq!(v.verify(&token), Err(TokenError::Signature));
    // A verifier that trusts nothing refuses everything.
    assert_eq!(
        Verifier::new(ISS, AUD).verify(&key.sign(&claims()).unwrap()),
        Err(TokenError::Signature)
    );
}

#[test]
fn alg_none_is_refused() {
    let key = SigningKey::generate().unwrap();
    let v = verifier_for(&key);
    let payload = b64(&serde_json::to_vec(&claims()).unwrap());
    for header in [
        r#"{"alg":"none","typ":"JWT"}"#.to_string(),
        format!(r#"{{"alg":"none","typ":"JWT","kid":"{}"}}"#, key.key_id()),
        r#"{"alg":"None"}"#.to_string(),
        r#"{"typ":"JWT"}"#.to_string(),
    ] {
        let h = b64(header.as_bytes());
        assert!(
            v.verify(&format!("{h}.{payload}.")).is_err(),
            "{header}, empty signature"
        );
        // With a real ES256 signature left in place.
        let (_, _, sig) = parts(&key.sign(&claims()).unwrap());
        assert!(
            v.verify(&format!("{h}.{payload}.{sig}")).is_err(),
            "{header}, kept signature"
        );
    }
    let h = b64(br#"{"alg":"none","typ":"JWT"}"#);
    assert_eq!(
        v.verify(&format!("{h}.{payload}.")),
        Err(TokenError::Algorithm)
    );
}

#[test]
fn hmac_keyed_with_the_public_key_is_refused() {
    let key = SigningKey::generate().unwrap();
    let v = verifier_for(&key);
    let secrets: Vec<Vec<u8>> = vec![
        key.point.clone(),
        key.certificate_pem().as_bytes().to_vec(),
        key.jwks_json().into_bytes(),
        PublicKey::Ec {
            curve: Curve::P256,
            point: key.point.clone(),
        }
        .spki(),
    ];
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        for secret in &secrets {
            let mut header = jsonwebtoken::Header::new(alg);
            header.kid = Some(key.key_id().to_string());
            let token = jsonwebtoken::encode(
                &header,
                &claims(),
                &jsonwebtoken::EncodingKey::from_secret(secret),
            )
            .unwrap();
            assert_eq!(v.verify(&token), Err(TokenError::Algorithm), "{alg:?}");
        }
    }
}

#[test]
fn other_algorithms_for_our_key_are_refused() {
    let key = SigningKey::generate().unwrap();
    let v = verifier_for(&key);
    let token = key.sign(&claims()).unwrap();
    let (_, payload, sig) = parts(&token);
    for alg in ["ES384", "RS256", "PS256", "EdDSA", "XX"] {
        let h = b64(format!(r#"{{"alg":"{alg}","kid":"{}"}}"#, key.key_id()).as_bytes());
        assert_eq!(
            v.verify(&format!("{h}.{payload}.{sig}")),
            Err(TokenError::Algorithm),
            "{alg}"
        );
    }
}

#[test]
fn malformed_tokens_are_refused() {
    let key = SigningKey::generate().unwrap();
    let v = verifier_for(&key);
    let token = key.sign(&claims()).unwrap();
    let (h, p, s) = parts(&token);
    for bad in [
        String::new(),
        "abc".into(),
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.{s}"),
        format!("!!.{p}.{s}"),
        format!("{}.{p}.{s}", b64(b"not json")),
        format!("{h}.{}.{s}", b64(b"not json")),
    ] {
        assert!(v.verify(&bad).is_err(), "{bad}");
    }
    // A critical extension nobody here understands.
    let crit = b64(format!(
        r#"{{"alg":"ES256","kid":"{}","crit":["exp"]}}"#,
        key.key_id()
    )
    .as_bytes());
    let token = key
        .sign_parts(&crit, &serde_json::to_vec(&claims()).unwrap())
        .unwrap();
    assert_eq!(v.verify(&token), Err(TokenError::Malformed));
}

#[test]
fn trust_pem_accepts_another_signers_certificate() {
    let issuer = SigningKey::generate().unwrap();
    let stranger = SigningKey::generate().unwrap();
    let mut v = Verifier::new(ISS, AUD);
    v.trust_pem(issuer.certificate_pem()).unwrap();
    assert_eq!(v.key_count(), 1);
    let c = claims();
    assert_eq!(v.verify(&issuer.sign(&c).unwrap()), Ok(c.clone()));
    assert_eq!(
        v.verify(&stranger.sign(&c).unwrap()),
        Err(TokenError::Signature)
    );
    // Two certificates in one bundle: both trusted.
    let bundle = format!("{}{}", issuer.certificate_pem(), stranger.certificate_pem());
    let mut both = Verifier::new(ISS, AUD);
    both.trust_pem(&bundle).unwrap();
    assert_eq!(both.key_count(), 2);
    assert!(both.verify(&stranger.sign(&c).unwrap()).is_ok());
    // A token whose kid names no trusted key is still checked against each trusted key.
    let mut header: serde_json::Value = serde_json::from_slice(&unb64(&issuer.header_b64)).unwrap();
    header["kid"] = "AAAA:BBBB:CCCC:DDDD:EEEE:FFFF:GGGG:HHHH:IIII:JJJJ:KKKK:LLLL".into();
    let token = issuer
        .sign_parts(
            &b64(&serde_json::to_vec(&header).unwrap()),
            &serde_json::to_vec(&c).unwrap(),
        )
        .unwrap();
    assert!(v.verify(&token).is_ok());
    // Nothing usable in the PEM is an error, and private keys are not read as trust.
    assert!(Verifier::new(ISS, AUD).trust_pem("").is_err());
    let root = tempfile::tempdir().unwrap();
    SigningKey::load_or_generate(root.path()).unwrap();
    let private = fs::read_to_string(root.path().join("token.key")).unwrap();
    assert!(Verifier::new(ISS, AUD).trust_pem(&private).is_err());
}

#[test]
fn trust_jwks_accepts_another_signers_key_set() {
    let issuer = SigningKey::generate().unwrap();
    let stranger = SigningKey::generate().unwrap();
    let jwks: serde_json::Value = serde_json::from_str(&issuer.jwks_json()).unwrap();
    let jwk = &jwks["keys"][0];
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    assert_eq!(jwk["alg"], "ES256");
    assert_eq!(jwk["kid"], issuer.key_id());
    assert_eq!(unb64(jwk["x"].as_str().unwrap()).len(), 32);
    assert_eq!(unb64(jwk["y"].as_str().unwrap()).len(), 32);
    let mut v = Verifier::new(ISS, AUD);
    v.trust_jwks(&issuer.jwks_json()).unwrap();
    let c = claims();
    assert_eq!(v.verify(&issuer.sign(&c).unwrap()), Ok(c.clone()));
    assert_eq!(
        v.verify(&stranger.sign(&c).unwrap()),
        Err(TokenError::Signature)
    );
    // A JWKS kid of its own choosing names the key too.
    let mut custom = jwks.clone();
    custom["keys"][0]["kid"] = "my-key-1".into();
    let mut v = Verifier::new(ISS, AUD);
    v.trust_jwks(&custom.to_string()).unwrap();
    let mut header: serde_json::Value = serde_json::from_slice(&unb64(&issuer.header_b64)).unwrap();
    header["kid"] = "my-key-1".into();
    let token = issuer
        .sign_parts(
            &b64(&serde_json::to_vec(&header).unwrap()),
            &serde_json::to_vec(&c).unwrap(),
        )
        .unwrap();
    assert!(v.verify(&token).is_ok());
    // Symmetric keys are never trusted; a key set with nothing usable is an error.
    let oct = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}]}"#;
    let e = Verifier::new(ISS, AUD).trust_jwks(oct).unwrap_err();
    assert!(e.to_string().contains("symmetric"), "{e}");
    assert!(Verifier::new(ISS, AUD).trust_jwks("{}").is_err());
    // An `alg` that does not fit the key is refused.
    let mut wrong = jwks.clone();
    wrong["keys"][0]["alg"] = "RS256".into();
    assert!(
        Verifier::new(ISS, AUD)
            .trust_jwks(&wrong.to_string())
            .is_err()
    );
}
