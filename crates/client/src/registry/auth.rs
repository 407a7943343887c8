//! Registry authentication: reading `WWW-Authenticate` challenges, Docker's token flow (a realm
//! that trades credentials for a short-lived bearer token per scope) and Basic auth, plus the
//! caches that spare a pull one token request per blob.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};

use crate::credentials::Credential;

/// Token lifetime when the token server does not say.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// Tokens are dropped this long before they expire, so a request never races the expiry.
const EXPIRY_MARGIN: Duration = Duration::from_secs(5);

/// One challenge of a `WWW-Authenticate` header: a scheme (lowercased) and its parameters
/// (names lowercased, values unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `bearer`, `basic`, ...
    pub scheme: String,
    /// `realm`, `service`, `scope`, ...
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of parameter `name`, if present.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How a registry wants to be authenticated, as learnt from its last challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `Authorization: Basic` with the stored login.
    Basic,
    /// Docker's token flow against `realm`.
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

impl Scheme {
    /// The scheme to use among `challenges` (Bearer preferred), and the scope the registry
    /// asked for, if any.
    pub(crate) fn choose(challenges: &[Challenge]) -> Option<(Scheme, Option<String>)> {
        if let Some(c) = challenges.iter().find(|c| c.scheme == "bearer")
            && let Some(realm) = c.param("realm")
        {
            let scheme = Scheme::Bearer {
                realm: realm.to_string(),
                service: c.param("service").map(str::to_string),
            };
            return Some((scheme, c.param("scope").map(str::to_string)));
        }
        challenges
            .iter()
            .any(|c| c.scheme == "basic")
            .then_some((Scheme::Basic, None))
    }
}

/// Every challenge in the `WWW-Authenticate` headers of a response.
pub fn parse_challenges(headers: &HeaderMap) -> Vec<Challenge> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_challenge_header)
        .collect()
}

/// Parse one `WWW-Authenticate` value, which may hold several challenges:
/// `Basic realm="a, b", Bearer realm="https://x/token",service="reg",scope="repository:foo:pull"`.
pub fn parse_challenge_header(value: &str) -> Vec<Challenge> {
    let b = value.as_bytes();
    let mut out: Vec<Challenge> = Vec::new();
    let mut i = 0;
    let skip = |i: &mut usize, pred: &dyn Fn(u8) -> bool| {
        while *i < b.len() && pred(b[*i]) {
            *i += 1;
        }
    };
    loop {
        skip(&mut i, &|c| c == b' ' || c == b'\t' || c == b',');
        if i >= b.len() {
            break;
        }
        let start = i;
        skip(&mut i, &|c| !matches!(c, b' ' | b'\t' | b',' | b'='));
        let token = &value[start..i];
        let mut j = i;
        skip(&mut j, &|c| c == b' ' || c == b'\t');
        let is_param = j < b.len() && b[j] == b'=' && !out.is_empty();
        if !is_param {
            out.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                params: Vec::new(),
            });
            continue;
        }
        // A parameter of the current challenge: token = ( token / quoted-string ).
        i = j + 1;
        skip(&mut i, &|c| c == b' ' || c == b'\t');
        let mut v = String::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut chars = value[i..].char_indices();
            let mut end = value.len();
            while let Some((k, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, e)) = chars.next() {
                            v.push(e);
                        }
                    }
                    '"' => {
                        end = i + k + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            i = end;
        } else {
            let vs = i;
            skip(&mut i, &|c| c != b',' && c != b' ' && c != b'\t');
            v.push_str(&value[vs..i]);
        }
        if let Some(c) = out.last_mut() {
            c.params.push((token.to_ascii_lowercase(), v));
        }
    }
    out
}

/// `Basic <base64(user:secret)>`.
pub(crate) fn basic_header(cred: &Credential) -> String {
    let raw = format!("{}:{}", cred.username, cred.secret);
    format!("Basic {}", BASE64.encode(raw))
}

/// What a token server answers (Docker's token spec and the OAuth2 variant).
#[derive(serde::Deserialize)]
pub(crate) struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

impl TokenResponse {
    /// The token and how long it may be used, or `None` when the answer holds no token.
    pub(crate) fn into_token(self) -> Option<(String, Duration)> {
        let token = self.token.or(self.access_token).filter(|t| !t.is_empty())?;
        let life = self
            .expires_in
            .filter(|&s| s > 0)
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        Some((token, life))
    }
}

/// What the client has learnt about each registry's auth: its scheme and the bearer tokens it
/// issued, keyed by registry and scope.
#[derive(Default)]
pub(crate) struct AuthCache {
    schemes: Mutex<HashMap<String, Scheme>>,
    tokens: Mutex<HashMap<(String, String), (String, Instant)>>,
}

impl AuthCache {
    /// The scheme `registry` asked for last time, if it ever challenged us.
    pub(crate) fn scheme(&self, registry: &str) -> Option<Scheme> {
        self.schemes
            .lock()
            .expect("auth cache")
            .get(registry)
            .cloned()
    }

    /// Remember how `registry` wants to be authenticated.
    pub(crate) fn set_scheme(&self, registry: &str, scheme: Scheme) {
        self.schemes
            .lock()
            .expect("auth cache")
            .insert(registry.to_string(), scheme);
    }

    /// A still-valid token for `registry` and `scope`.
    pub(crate) fn token(&self, registry: &str, scope: &str) -> Option<String> {
        let mut tokens = self.tokens.lock().expect("auth cache");
        let key = (registry.to_string(), scope.to_string());
        match tokens.get(&key) {
            Some((t, until)) if Instant::now() < *until => Some(t.clone()),
            Some(_) => {
                tokens.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Keep `token` for `registry` and `scope` for `life` (less a safety margin).
    pub(crate) fn set_token(&self, registry: &str, scope: &str, token: &str, life: Duration) {
        let until = Instant::now()
            + life
                .saturating_sub(EXPIRY_MARGIN)
                .max(Duration::from_secs(1));
        self.tokens.lock().expect("auth cache").insert(
            (registry.to_string(), scope.to_string()),
            (token.to_string(), until),
        );
    }

    /// Forget the token for `registry` and `scope` (the registry refused it).
    pub(crate) fn drop_token(&self, registry: &str, scope: &str) {
        self.tokens
            .lock()
            .expect("auth cache")
            .remove(&(registry.to_string(), scope.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(c: &Challenge) -> Vec<(&str, &str)> {
        c.params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn bearer_challenge() {
        let v = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#;
        let c = parse_challenge_header(v);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(
            params(&c[0]),
            [
                ("realm", "https://auth.docker.io/token"),
                ("service", "registry.docker.io"),
                ("scope", "repository:samalba/my-app:pull,push"),
            ]
        );
    }

    #[test]
    fn several_challenges_quotes_and_escapes() {
        let v = r#"Basic realm="a, \"b\"", BEARER Realm = https://t/x , service="s",error="insufficient_scope""#;
        let c = parse_challenge_header(v);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(params(&c[0]), [("realm", r#"a, "b""#)]);
        assert_eq!(c[1].scheme, "bearer");
        assert_eq!(c[1].param("realm"), Some("https://t/x"));
        assert_eq!(c[1].param("service"), Some("s"));
        assert_eq!(c[1].param("error"), Some("insufficient_scope"));
    }

    #[test]
    fn bearer_is_preferred_and_needs_a_realm() {
        let c = parse_challenge_header(r#"Basic realm="r", Bearer realm="https://t",scope="x""#);
        let (scheme, scope) = Scheme::choose(&c).unwrap();
        assert!(
            matches!(scheme, Scheme::Bearer { ref realm, service: None } if realm == "https://t")
        );
        assert_eq!(scope.as_deref(), Some("x"));
        let c = parse_challenge_header("Bearer service=\"x\", Basic");
        assert_eq!(Scheme::choose(&c), Some((Scheme::Basic, None)));
        assert_eq!(Scheme::choose(&parse_challenge_header("Negotiate")), None);
        assert!(parse_challenge_header("  ,, ").is_empty());
    }

    #[test]
    fn token_responses() {
        let t: TokenResponse = serde_json::from_str(r#"{"token":"a","expires_in":300}"#).unwrap();
        assert_eq!(t.into_token(), Some(("a".into(), Duration::from_secs(300))));
        let t: TokenResponse = serde_json::from_str(r#"{"access_token":"b"}"#).unwrap();
        assert_eq!(t.into_token(), Some(("b".into(), DEFAULT_TOKEN_LIFETIME)));
        let t: TokenResponse = serde_json::from_str(r#"{"token":""}"#).unwrap();
        assert_eq!(t.into_token(), None);
    }

    #[test]
    fn token_cache_expires() {
        let cache = AuthCache::default();
        cache.set_token("r", "s", "t", Duration::from_secs(300));
        assert_eq!(cache.token("r", "s").as_deref(), Some("t"));
        assert_eq!(cache.token("r", "other"), None);
        cache.set_token("r", "s", "t", Duration::ZERO);
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(cache.token("r", "s"), None);
        cache.set_token("r", "s", "t", Duration::from_secs(300));
        cache.drop_token("r", "s");
        assert_eq!(cache.token("r", "s"), None);
    }
}
