//! Password hashing: argon2id (PHC strings) for berth's own users, bcrypt for htpasswd entries,
//! and a dummy verification for unknown users so that "no such user" and "wrong password" take
//! the same time. Robot-token secrets are random and long, so a SHA-256 of them is enough.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The prefix of every robot secret (so secret scanners and humans recognise one).
pub const ROBOT_PREFIX: &str = "berth_";

/// Hash a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2id with default parameters and a random salt cannot fail")
        .to_string()
}

/// Whether `password` matches `hash` (argon2 PHC, or bcrypt `$2a$`/`$2b$`/`$2y$`), in constant
/// time; an unknown hash format never matches.
pub fn verify_password(hash: &str, password: &str) -> bool {
    if hash.starts_with("$argon2") {
        match PasswordHash::new(hash) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    } else if hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$") {
        bcrypt::verify(password, hash).unwrap_or(false)
    } else {
        false
    }
}

/// Spend the time a real argon2id verification takes, and fail.
pub fn dummy_verify(password: &str) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("berth: no such user, not a password"));
    let _ = verify_password(hash, password);
    false
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .expect("the system random number generator failed");
    b
}

/// A new robot token: its ID and its secret (`berth_<id>_<random>`), shown once.
pub fn new_robot_secret() -> (String, String) {
    let id: String = random_bytes::<6>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>());
    let full = format!("{ROBOT_PREFIX}{id}_{secret}");
    (id, full)
}

/// The robot ID embedded in a secret that looks like one.
pub fn robot_id(secret: &str) -> Option<&str> {
    let rest = secret.strip_prefix(ROBOT_PREFIX)?;
    let (id, random) = rest.split_once('_')?;
    let ok = id.len() == 12
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && random.len() >= 40;
    ok.then_some(id)
}

/// SHA-256 of a robot secret, hex; compare with [`hashes_equal`].
pub fn secret_hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Constant-time equality of two hash strings.
pub fn hashes_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "correct horsE"));
        assert_ne!(h, hash_password("correct horse"), "salts differ");
        assert!(!dummy_verify("correct horse"));
    }

    #[test]
    fn bcrypt_from_htpasswd() {
        let h = bcrypt::hash("s3cret-pw", 4).unwrap();
        assert!(verify_password(&h, "s3cret-pw"));
        assert!(!verify_password(&h, "s3cret-pX"));
        // Formats berth does not accept never match (plain text, MD5-crypt, SHA1).
        assert!(!verify_password("s3cret-pw", "s3cret-pw"));
        assert!(!verify_password("$apr1$abc$def", "s3cret-pw"));
        assert!(!verify_password("{SHA}abc", "s3cret-pw"));
        assert!(!verify_password("$argon2id$garbage", "s3cret-pw"));
    }

    #[test]
    fn robot_secrets() {
        let (id, secret) = new_robot_secret();
        assert_eq!(robot_id(&secret), Some(id.as_str()));
        let (id2, secret2) = new_robot_secret();
        assert_ne!(id, id2);
        assert_ne!(secret, secret2);
        assert!(robot_id("berth_short_x").is_none());
        assert!(robot_id("hunter2hunter2").is_none());
        let h = secret_hash(&secret);
        assert_eq!(h.len(), 64);
        assert!(hashes_equal(&h, &secret_hash(&secret)));
        assert!(!hashes_equal(&h, &secret_hash(&secret2)));
        assert!(!hashes_equal(&h, "short"));
    }
}
