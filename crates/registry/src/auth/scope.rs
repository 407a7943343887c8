//! Scopes: repository globs in grants (`team-a/*`, `team-a/**`, `*`) and the resource scopes of
//! Docker's token protocol (`repository:team-a/app:pull,push`, `registry:catalog:*`).

use std::fmt;

use super::model::Actions;

/// Check a grant scope: a repository name whose components may be `*` (any characters but `/`)
/// or contain `*`, and `**` (any number of components, `/` included). The bare `*` means every
/// repository, as `**` does.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    let ok = !pattern.is_empty()
        && pattern.len() <= 255
        && pattern.split('/').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| {
                    b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || matches!(b, b'.' | b'_' | b'-' | b'*')
                })
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid scope {pattern:?}: a repository name or a glob such as 'team-a/*', 'team-a/**' or '*'"
        ))
    }
}

/// Whether repository `name` falls under grant scope `pattern`.
pub fn matches(pattern: &str, name: &str) -> bool {
    if pattern == "*" || pattern == "**" {
        return true;
    }
    if !pattern.contains('*') {
        return pattern == name;
    }
    let pat: Vec<&str> = pattern.split('/').collect();
    let parts: Vec<&str> = name.split('/').collect();
    match_components(&pat, &parts)
}

fn match_components(pat: &[&str], parts: &[&str]) -> bool {
    match pat.split_first() {
        None => parts.is_empty(),
        Some((&"**", rest)) => (0..=parts.len()).any(|k| match_components(rest, &parts[k..])),
        Some((p, rest)) => match parts.split_first() {
            Some((first, others)) => glob_component(p, first) && match_components(rest, others),
            None => false,
        },
    }
}

/// `*` within one component: any run of characters.
fn glob_component(pat: &str, s: &str) -> bool {
    let (p, s) = (pat.as_bytes(), s.as_bytes());
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// What a resource scope is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resource {
    /// `repository:<name>`
    Repository(String),
    /// `registry:catalog`
    Catalog,
}

/// One resource scope with its actions, as in a challenge, a token request or a token's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceScope {
    /// The resource.
    pub resource: Resource,
    /// The actions asked for or granted.
    pub actions: Actions,
}

impl ResourceScope {
    /// `repository:<name>:<actions>`.
    pub fn repository(name: &str, actions: Actions) -> ResourceScope {
        ResourceScope {
            resource: Resource::Repository(name.to_string()),
            actions,
        }
    }

    /// Parse `type:name:actions`; the name may itself contain `:` (a port in a name is not
    /// allowed in repository names, but `registry:catalog:*` has none). Unknown types and
    /// unknown actions give `None` (a token server ignores what it does not understand).
    pub fn parse(s: &str) -> Option<ResourceScope> {
        let (kind, rest) = s.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        let actions: Actions = actions
            .split(',')
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        let resource = match (kind, name) {
            ("repository", n) if berth_oci::validate_repository(n).is_ok() => {
                Resource::Repository(n.to_string())
            }
            ("registry", "catalog") => Resource::Catalog,
            _ => return None,
        };
        Some(ResourceScope { resource, actions })
    }

    /// Every scope of a space-separated list (one `scope` parameter may hold several).
    pub fn parse_list<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<ResourceScope> {
        values
            .into_iter()
            .flat_map(|v| v.split(' '))
            .filter(|v| !v.is_empty())
            .filter_map(ResourceScope::parse)
            .collect()
    }

    /// The claim type: `repository` or `registry`.
    pub fn kind(&self) -> &'static str {
        match self.resource {
            Resource::Repository(_) => "repository",
            Resource::Catalog => "registry",
        }
    }

    /// The claim name: the repository, or `catalog`.
    pub fn name(&self) -> &str {
        match &self.resource {
            Resource::Repository(n) => n,
            Resource::Catalog => "catalog",
        }
    }
}

impl fmt::Display for ResourceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.kind(), self.name(), self.actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::model::Action;

    #[test]
    fn globs() {
        let cases = [
            ("*", "a/b/c", true),
            ("**", "a", true),
            ("team-a/*", "team-a/app", true),
            ("team-a/*", "team-a/x/app", false),
            ("team-a/*", "team-a", false),
            ("team-a/**", "team-a/x/app", true),
            ("team-a/**", "team-a", true),
            ("team-a/**", "team-ab/x", false),
            ("team-a/app-*", "team-a/app-web", true),
            ("team-a/app-*", "team-a/web", false),
            ("library/hello-world", "library/hello-world", true),
            ("library/hello-world", "library/hello-worlds", false),
            ("*/base", "x/base", true),
            ("*/base", "x/y/base", false),
            ("a/**/z", "a/z", true),
            ("a/**/z", "a/b/c/z", true),
            ("a/**/z", "a/b/c/y", false),
        ];
        for (p, n, want) in cases {
            assert_eq!(matches(p, n), want, "{p} vs {n}");
        }
        assert!(check_pattern("team-a/**").is_ok());
        assert!(check_pattern("Team").is_err());
        assert!(check_pattern("a//b").is_err());
        assert!(check_pattern("").is_err());
    }

    #[test]
    fn resource_scopes() {
        let s = ResourceScope::parse("repository:team-a/app:pull,push").unwrap();
        assert_eq!(s.resource, Resource::Repository("team-a/app".into()));
        assert!(s.actions.contains(Action::Push));
        assert_eq!(s.to_string(), "repository:team-a/app:pull,push");
        let c = ResourceScope::parse("registry:catalog:*").unwrap();
        assert_eq!(c.resource, Resource::Catalog);
        assert!(ResourceScope::parse("repository:UPPER:pull").is_none());
        assert!(ResourceScope::parse("nonsense").is_none());
        let many = ResourceScope::parse_list([
            "repository:a:pull repository:b:push",
            "registry:catalog:*",
        ]);
        assert_eq!(many.len(), 3);
    }
}
