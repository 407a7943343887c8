//! `--user NAME[:GROUP]` as Docker resolves it: names looked up in the image's `/etc/passwd`
//! and `/etc/group` (read through [`crate::safepath`], so never through a symlink out of the
//! rootfs), numeric ids taken as they are, and supplementary groups from `/etc/group`.

use std::path::Path;

/// A resolved user: uid, primary gid, supplementary groups and home directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids (the primary one not repeated).
    pub groups: Vec<u32>,
    /// Home directory from the user's passwd entry; `/` when it has none (as runc does), the
    /// container's `HOME` unless the image or `-e` set one.
    pub home: String,
}

/// An `/etc/passwd` entry: (name, uid, gid, home).
fn passwd_entries(text: &str) -> impl Iterator<Item = (&str, u32, u32, &str)> {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 4)
            .then(|| {
                let home = fields.get(5).copied().unwrap_or_default();
                Some((
                    fields[0],
                    fields[2].parse().ok()?,
                    fields[3].parse().ok()?,
                    home,
                ))
            })
            .flatten()
    })
}

/// An `/etc/group` entry: (name, gid, members).
fn group_entries(text: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 4)
            .then(|| {
                let members = fields[3].split(',').filter(|m| !m.is_empty()).collect();
                Some((fields[0], fields[2].parse().ok()?, members))
            })
            .flatten()
    })
}

/// Resolve `user` (`NAME`, `UID`, `NAME:GROUP`, `UID:GID`…) against the passwd and group
/// files' contents (empty when the image has none).
pub fn resolve_in(user: &str, passwd: &str, group: &str) -> Result<User, String> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let entry = passwd_entries(passwd).find(|(name, uid, _, _)| match user_part.parse::<u32>() {
        Ok(n) => *uid == n,
        Err(_) => *name == user_part,
    });
    let (name, uid, mut gid, home) = match (entry, user_part.parse::<u32>()) {
        (Some((name, uid, gid, home)), _) => (Some(name), uid, gid, home),
        (None, Ok(uid)) => (None, uid, 0, ""),
        (None, Err(_)) => {
            return Err(format!(
                "unable to find user {user_part}: no matching entries in passwd file"
            ));
        }
    };
    if let Some(g) = group_part.filter(|g| !g.is_empty()) {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group_entries(group)
                .find(|(gname, _, _)| *gname == g)
                .map(|(_, id, _)| id)
                .ok_or_else(|| {
                    format!("unable to find group {g}: no matching entries in group file")
                })?,
        };
    }
    let mut groups = Vec::new();
    if let Some(name) = name {
        for (_, id, members) in group_entries(group) {
            if members.contains(&name) && id != gid && !groups.contains(&id) {
                groups.push(id);
            }
        }
    }
    let home = if home.is_empty() { "/" } else { home }.to_string();
    Ok(User {
        uid,
        gid,
        groups,
        home,
    })
}

/// Resolve `user` against the image in `rootfs` (its `/etc/passwd` and `/etc/group`).
pub fn resolve(rootfs: &Path, user: &str) -> Result<User, String> {
    let read = |path: &str| {
        crate::safepath::read(rootfs, path)
            .map(|data| String::from_utf8_lossy(&data.unwrap_or_default()).into_owned())
            .map_err(|e| format!("cannot read {path} in the image: {e}"))
    };
    let needs_files = user.split(':').any(|part| part.parse::<u32>().is_err());
    let (passwd, group) = match (read("/etc/passwd"), read("/etc/group")) {
        (Ok(p), Ok(g)) => (p, g),
        // A numeric user needs no files: an unreadable one only costs the extra groups.
        _ if !needs_files => (String::new(), String::new()),
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    resolve_in(user, &passwd, &group)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str =
        "root:x:0:0:root:/root:/bin/sh\nsailor:x:1234:1234::/home/sailor:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:root,sailor\ncrew:x:1234:\ndeck:x:50:sailor\n";

    #[test]
    fn names_and_numbers() {
        let r = |u: &str| resolve_in(u, PASSWD, GROUP);
        assert_eq!(
            r("sailor").unwrap(),
            User {
                uid: 1234,
                gid: 1234,
                groups: vec![10, 50],
                home: "/home/sailor".into(),
            }
        );
        assert_eq!(r("sailor:wheel").unwrap().gid, 10);
        assert_eq!(r("sailor:wheel").unwrap().groups, vec![50]);
        assert_eq!(
            r("1000:1000").unwrap(),
            User {
                uid: 1000,
                gid: 1000,
                groups: vec![],
                home: "/".into(),
            }
        );
        assert_eq!(r("0").unwrap().groups, vec![10]);
        assert_eq!(r("1234").unwrap().gid, 1234);
        assert!(r("nobody").is_err());
        assert!(r("sailor:nogroup").is_err());
        assert_eq!(resolve_in("5", "", "").unwrap().gid, 0);
        assert_eq!(r("0").unwrap().home, "/root");
        assert_eq!(resolve_in("0", "", "").unwrap().home, "/");
    }
}
