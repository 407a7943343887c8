//! Custom seccomp profiles in Docker's (moby's) JSON format: [`SeccompProfile`], parsed and
//! checked up front (so a bad profile fails `berth run`, not the container's set-up), then
//! narrowed to one container ([`SeccompProfile::rules_for`]) by its capabilities, the
//! architecture and the kernel, and translated into an OCI `linux.seccomp` for external
//! runtimes. The native engine compiles the narrowed rules to BPF (`engine::seccomp`).
//!
//! Semantics follow moby and runc: `name` or `names` (not both), `architectures` or `archMap`
//! (not both), ERRNO without `errnoRet` is EPERM, an entry whose action is the default action
//! is left out, and the conditions of an entry that compares one argument twice are OR-ed
//! (each its own rule) instead of AND-ed.

use serde_json::{Value, json};

use crate::error::{Error, Result};

mod parse;
use parse::{action, entry, opt_u16, strings};

/// What the kernel does with a matching system call (`SCMP_ACT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeccompAction {
    /// `SCMP_ACT_ALLOW`: run it.
    Allow,
    /// `SCMP_ACT_ERRNO`: fail it with this errno (EPERM unless the profile says otherwise).
    Errno(u16),
    /// `SCMP_ACT_KILL` or `SCMP_ACT_KILL_THREAD`: kill the calling thread.
    KillThread,
    /// `SCMP_ACT_KILL_PROCESS`: kill the whole process.
    KillProcess,
    /// `SCMP_ACT_TRAP`: send SIGSYS.
    Trap,
    /// `SCMP_ACT_LOG`: log it, then run it.
    Log,
    /// `SCMP_ACT_TRACE`: notify a ptrace tracer with this value (ENOSYS without one).
    Trace(u16),
}

impl SeccompAction {
    /// The OCI (libseccomp) name of the action and its `errnoRet`, if it has one.
    fn oci(self) -> (&'static str, Option<u16>) {
        match self {
            SeccompAction::Allow => ("SCMP_ACT_ALLOW", None),
            SeccompAction::Errno(e) => ("SCMP_ACT_ERRNO", Some(e)),
            SeccompAction::KillThread => ("SCMP_ACT_KILL_THREAD", None),
            SeccompAction::KillProcess => ("SCMP_ACT_KILL_PROCESS", None),
            SeccompAction::Trap => ("SCMP_ACT_TRAP", None),
            SeccompAction::Log => ("SCMP_ACT_LOG", None),
            SeccompAction::Trace(v) => ("SCMP_ACT_TRACE", Some(v)),
        }
    }
}

/// How an argument is compared (`SCMP_CMP_*`), as unsigned 64-bit values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeccompOp {
    /// `SCMP_CMP_EQ`: arg == value.
    Eq,
    /// `SCMP_CMP_NE`: arg != value.
    Ne,
    /// `SCMP_CMP_LT`: arg < value.
    Lt,
    /// `SCMP_CMP_LE`: arg <= value.
    Le,
    /// `SCMP_CMP_GT`: arg > value.
    Gt,
    /// `SCMP_CMP_GE`: arg >= value.
    Ge,
    /// `SCMP_CMP_MASKED_EQ`: (arg & value) == value_two.
    MaskedEq,
}

const OPS: &[(&str, SeccompOp)] = &[
    ("SCMP_CMP_EQ", SeccompOp::Eq),
    ("SCMP_CMP_NE", SeccompOp::Ne),
    ("SCMP_CMP_LT", SeccompOp::Lt),
    ("SCMP_CMP_LE", SeccompOp::Le),
    ("SCMP_CMP_GT", SeccompOp::Gt),
    ("SCMP_CMP_GE", SeccompOp::Ge),
    ("SCMP_CMP_MASKED_EQ", SeccompOp::MaskedEq),
];

/// One argument condition of a profile entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeccompArg {
    /// The argument, 0 to 5.
    pub index: u8,
    /// The value compared with (the mask for [`SeccompOp::MaskedEq`]).
    pub value: u64,
    /// The masked value must equal this ([`SeccompOp::MaskedEq`] only).
    pub value_two: u64,
    /// The comparison.
    pub op: SeccompOp,
}

/// When an entry applies (`includes`) or does not (`excludes`).
#[derive(Debug, Clone, Default, PartialEq)]
struct Filter {
    caps: Vec<String>,
    arches: Vec<String>,
    min_kernel: Option<(u32, u32)>,
}

/// One entry of the profile's `syscalls`.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    names: Vec<String>,
    action: SeccompAction,
    args: Vec<SeccompArg>,
    includes: Filter,
    excludes: Filter,
}

/// One rule of a profile narrowed to a container: system call `name` gets `action` when all
/// of `args` hold (always, when it has none).
#[derive(Debug, Clone, PartialEq)]
pub struct SeccompRule {
    /// The system call's name.
    pub name: String,
    /// What happens when it matches.
    pub action: SeccompAction,
    /// Conditions, all of which must hold.
    pub args: Vec<SeccompArg>,
}

/// A Docker seccomp profile (`--security-opt seccomp=PROFILE.json`), checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SeccompProfile {
    name: String,
    default_action: SeccompAction,
    architectures: Vec<String>,
    entries: Vec<Entry>,
    source: Value,
}

/// Names this machine's architecture goes by in `includes`/`excludes` `arches` (Go's
/// `GOARCH` first, as moby compares it, then the kernel's).
fn native_arches() -> &'static [&'static str] {
    match std::env::consts::ARCH {
        "x86_64" => &["amd64", "x86_64"],
        "aarch64" => &["arm64", "aarch64"],
        _ => &[],
    }
}

/// This machine's architecture as libseccomp names it.
pub(crate) fn native_scmp_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "SCMP_ARCH_AARCH64",
        "riscv64" => "SCMP_ARCH_RISCV64",
        _ => "SCMP_ARCH_X86_64",
    }
}

/// The running kernel's `(version, major revision)`, e.g. `(6, 18)`.
fn kernel_version() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    parse_kernel(release.trim())
}

/// `"5.8"`, `"5.8.1-gentoo"` or `"5.8-rc1"` as `(5, 8)`.
fn parse_kernel(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

impl SeccompProfile {
    /// Parse and check the profile in `text`; `name` (its path) names it in errors.
    ///
    /// Errors: not JSON, a field of the wrong type, an unknown or unsupported action
    /// (`SCMP_ACT_NOTIFY`) or operator, an argument index past 5, both `name` and `names`,
    /// both `architectures` and `archMap`. Unknown system call names are no error: they are
    /// skipped when the profile is applied, as libseccomp does.
    pub fn parse(name: &str, text: &[u8]) -> Result<SeccompProfile> {
        let bad = |reason: String| Error::SeccompProfile {
            profile: name.to_string(),
            reason,
        };
        let source: Value = serde_json::from_slice(text).map_err(|e| bad(format!("{e}")))?;
        if !source.is_object() {
            return Err(bad("not a JSON object".into()));
        }
        let default_errno = opt_u16(&source, "defaultErrnoRet").map_err(&bad)?;
        let default_action = action(&source["defaultAction"], default_errno)
            .map_err(|e| bad(format!("defaultAction: {e}")))?;
        let mut architectures = strings(&source, "architectures").map_err(&bad)?;
        if let Some(map) = source.get("archMap").filter(|m| !m.is_null()) {
            if !architectures.is_empty() {
                return Err(bad(
                    "both 'architectures' and 'archMap' are given; use one".into()
                ));
            }
            let map = map
                .as_array()
                .ok_or_else(|| bad("archMap: not a list".into()))?;
            for a in map {
                if a["architecture"].as_str() == Some(native_scmp_arch()) {
                    architectures.push(native_scmp_arch().to_string());
                    architectures.extend(strings(a, "subArchitectures").map_err(&bad)?);
                }
            }
        }
        let mut entries = Vec::new();
        let list = match &source["syscalls"] {
            Value::Null => &Vec::new(),
            Value::Array(list) => list,
            _ => return Err(bad("syscalls: not a list".into())),
        };
        for (i, e) in list.iter().enumerate() {
            let entry = entry(e).map_err(|reason| {
                let names = e["names"]
                    .as_array()
                    .map(|n| n.iter().filter_map(Value::as_str).collect::<Vec<_>>())
                    .unwrap_or_else(|| e["name"].as_str().into_iter().collect());
                bad(format!("syscalls[{i}] ({}): {reason}", names.join(", ")))
            })?;
            entries.push(entry);
        }
        Ok(SeccompProfile {
            name: name.to_string(),
            default_action,
            architectures,
            entries,
            source,
        })
    }

    /// Where the profile came from (its path), as given to [`SeccompProfile::parse`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The profile's JSON as given, to store and [`SeccompProfile::parse`] again.
    pub fn json(&self) -> &Value {
        &self.source
    }

    /// What happens to a system call no rule matches.
    pub fn default_action(&self) -> SeccompAction {
        self.default_action
    }

    /// The rules that apply to a container with `capabilities` (names, `CAP_CHOWN`) on this
    /// machine, in the profile's order: entries whose `includes` hold and whose `excludes`
    /// do not, one rule per name, without those whose action is the default action. An entry
    /// comparing one argument twice becomes one rule per condition (they are OR-ed).
    pub fn rules_for(&self, capabilities: &[String]) -> Vec<SeccompRule> {
        let has_cap = |c: &String| {
            let want = c.to_ascii_uppercase();
            let want = want.strip_prefix("CAP_").unwrap_or(&want);
            capabilities.iter().any(|have| {
                let have = have.to_ascii_uppercase();
                have.strip_prefix("CAP_").unwrap_or(&have) == want
            })
        };
        let on_arch = |arches: &[String]| arches.iter().any(|a| native_arches().contains(&&**a));
        let kernel = kernel_version().unwrap_or((0, 0));
        let mut rules = Vec::new();
        for e in &self.entries {
            let (inc, exc) = (&e.includes, &e.excludes);
            let included = inc.caps.iter().all(has_cap)
                && (inc.arches.is_empty() || on_arch(&inc.arches))
                && inc.min_kernel.is_none_or(|k| kernel >= k);
            let excluded = exc.caps.iter().any(has_cap)
                || on_arch(&exc.arches)
                || exc.min_kernel.is_some_and(|k| kernel >= k);
            if !included || excluded || e.action == self.default_action {
                continue;
            }
            let mut seen = [false; 6];
            let repeated = e
                .args
                .iter()
                .any(|a| std::mem::replace(&mut seen[a.index as usize], true));
            let groups: Vec<Vec<SeccompArg>> = if repeated {
                e.args.iter().map(|a| vec![*a]).collect()
            } else {
                vec![e.args.clone()]
            };
            for name in &e.names {
                for args in &groups {
                    rules.push(SeccompRule {
                        name: name.clone(),
                        action: e.action,
                        args: args.clone(),
                    });
                }
            }
        }
        rules
    }

    /// The profile as an OCI `linux.seccomp` for a container with `capabilities`: the
    /// narrowed rules, this architecture and the sub-architectures the profile lists.
    pub fn oci_json(&self, capabilities: &[String]) -> Value {
        let mut architectures = vec![native_scmp_arch().to_string()];
        for a in &self.architectures {
            if !architectures.contains(a) {
                architectures.push(a.clone());
            }
        }
        let (default, default_errno) = self.default_action.oci();
        let syscalls = self
            .rules_for(capabilities)
            .into_iter()
            .map(|r| {
                let (action, errno) = r.action.oci();
                let mut s = json!({ "names": [r.name], "action": action });
                if let Some(errno) = errno {
                    s["errnoRet"] = json!(errno);
                }
                if !r.args.is_empty() {
                    s["args"] = r
                        .args
                        .iter()
                        .map(|a| {
                            let op = OPS.iter().find(|(_, o)| *o == a.op).map(|(n, _)| *n);
                            json!({
                                "index": a.index, "value": a.value,
                                "valueTwo": a.value_two, "op": op,
                            })
                        })
                        .collect();
                }
                s
            })
            .collect::<Vec<_>>();
        let mut value = json!({
            "defaultAction": default,
            "architectures": architectures,
            "syscalls": syscalls,
        });
        if let Some(errno) = default_errno {
            value["defaultErrnoRet"] = json!(errno);
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
        ],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["nope"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
             "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["clone", "mount"], "action": "SCMP_ACT_ALLOW",
             "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
            {"names": ["s390_pci_mmio_read"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}},
            {"names": ["future"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.1"}},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
        ]
    }"#;

    fn names(rules: &[SeccompRule]) -> Vec<&str> {
        rules.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn parses_docker_profiles_and_narrows_them_to_a_container() {
        let p = SeccompProfile::parse("p.json", PROFILE.as_bytes()).unwrap();
        assert_eq!(p.default_action(), SeccompAction::Errno(38));
        let plain = p.rules_for(&["CAP_CHOWN".into()]);
        let expected = [
            "read",
            "write",
            "mkdir",
            "clone",
            "personality",
            "personality",
        ];
        let mut on_x86 = expected.to_vec();
        if cfg!(target_arch = "x86_64") {
            on_x86.insert(4, "arch_prctl");
        }
        assert_eq!(names(&plain), on_x86);
        // The ERRNO rule keeps its own errno; "nope" (ERRNO 38, the default) is left out.
        assert_eq!(plain[2].action, SeccompAction::Errno(1));
        assert_eq!(plain[3].args[0].op, SeccompOp::MaskedEq);
        assert_eq!(plain[3].args[0].value, 2114060288);
        // An argument compared twice: one rule per condition.
        let personality: Vec<_> = plain.iter().filter(|r| r.name == "personality").collect();
        assert_eq!(personality[1].args.len(), 1);
        assert_eq!(personality[1].args[0].value, 8);
        // With CAP_SYS_ADMIN (as "sys_admin"): clone unconditionally, and mount.
        let admin = p.rules_for(&["sys_admin".into()]);
        let clone: Vec<_> = admin.iter().filter(|r| r.name == "clone").collect();
        assert_eq!(clone.len(), 1);
        assert!(clone[0].args.is_empty());
        assert!(names(&admin).contains(&"mount"));
    }

    #[test]
    fn translates_to_oci() {
        let p = SeccompProfile::parse("p.json", PROFILE.as_bytes()).unwrap();
        let oci = p.oci_json(&[]);
        assert_eq!(oci["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(oci["defaultErrnoRet"], 38);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(
                oci["architectures"],
                json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
            );
        }
        assert_eq!(oci["syscalls"][2]["names"], json!(["mkdir"]));
        assert_eq!(oci["syscalls"][2]["errnoRet"], 1);
        assert_eq!(oci["syscalls"][3]["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        let parsed: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(oci).unwrap();
        assert_eq!(parsed.syscalls().as_ref().unwrap()[0].names()[0], "read");
    }

    #[test]
    fn bad_profiles_name_the_profile_and_the_entry() {
        let err = |text: &str| {
            SeccompProfile::parse("/tmp/p.json", text.as_bytes())
                .unwrap_err()
                .to_string()
        };
        let e = err(r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}"#);
        assert_eq!(
            e,
            "seccomp profile /tmp/p.json: syscalls[1] (mkdir, mkdirat): action: \
             unsupported action SCMP_ACT_NOTIFY"
        );
        let e = err(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "read",
            "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}]}"#,
        );
        assert!(
            e.contains("syscalls[0] (read)") && e.contains("SCMP_CMP_XX"),
            "{e}"
        );
        let e = err(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "read",
            "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
        );
        assert!(e.contains("index 6"), "{e}");
        assert!(err(r#"{"defaultAction": "SCMP_ACT_NOPE"}"#).contains("defaultAction"));
        assert!(err(r#"{"syscalls": []}"#).contains("defaultAction"));
        assert!(err("{").starts_with("seccomp profile /tmp/p.json: "));
        let e = err(r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"name": "read", "names": ["write"], "action": "SCMP_ACT_ERRNO"}]}"#);
        assert!(e.contains("both 'name' and 'names'"), "{e}");
        let e = err(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
            "archMap": []}"#,
        );
        assert!(e.contains("archMap"), "{e}");
        let e = err(r#"{"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1}"#);
        assert!(e.contains("errnoRet"), "{e}");
    }
}
