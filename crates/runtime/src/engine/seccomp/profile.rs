//! A custom [`SeccompProfile`] compiled to one classic BPF program, in the parent.
//!
//! `seccompiler` gives every rule of a filter the same action, and a Docker profile mixes
//! them (ALLOW, ERRNO with several errnos, KILL…), so berth emits the BPF itself:
//!
//! 1. a foreign audit architecture (i386 via `int 0x80`) kills the process, and an x32-ABI
//!    call gets the default action (EPERM where that would allow it): only the native ABI's
//!    rules are compiled;
//! 2. a binary search on the system call number jumps to that call's block;
//! 3. a block tries the call's rules in profile order, the first whose argument conditions all
//!    hold returning its action; the default action ends every block and the search.
//!
//! Conditional jumps only ever skip one instruction; longer jumps are `JA` (32-bit offsets),
//! so no program outgrows the 8-bit offsets. Identical blocks (all the plain ALLOWs) are
//! emitted once.

use seccompiler::sock_filter;

use crate::error::{Error, Result};
use crate::spec::{SeccompAction, SeccompArg, SeccompOp, SeccompProfile};

const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const JA: u16 = 0x05; // BPF_JMP | BPF_JA
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K
/// The kernel's limit on one filter's length (`BPF_MAXINSNS`).
const MAX_INSNS: usize = 4096;
/// `AUDIT_ARCH_X86_64`.
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// x86_64's x32 ABI: system call numbers with this bit set.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// One system call's rules, in profile order: an action and the conditions that must all hold.
type Rules = Vec<(SeccompAction, Vec<SeccompArg>)>;

/// The kernel's return value for `action`.
fn ret(action: SeccompAction) -> u32 {
    match action {
        SeccompAction::Allow => libc::SECCOMP_RET_ALLOW,
        SeccompAction::Errno(e) => libc::SECCOMP_RET_ERRNO | u32::from(e),
        SeccompAction::KillThread => libc::SECCOMP_RET_KILL_THREAD,
        SeccompAction::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
        SeccompAction::Trap => libc::SECCOMP_RET_TRAP,
        SeccompAction::Log => libc::SECCOMP_RET_LOG,
        SeccompAction::Trace(v) => libc::SECCOMP_RET_TRACE | u32::from(v),
    }
}

/// The number of system call `name` on x86_64, or `None` (skipped, as libseccomp does).
fn number(name: &str) -> Option<u32> {
    let table = super::syscalls_x86_64::SYSCALLS;
    table
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| table[i].1)
}

/// One emitted instruction; `Jump` is a `JA` to a label, resolved at the end.
enum Insn {
    Raw(sock_filter),
    Jump(usize),
}

/// A program under construction, with forward labels.
#[derive(Default)]
struct Emitter {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
}

impl Emitter {
    fn raw(&mut self, code: u16, jt: u8, jf: u8, k: u32) {
        self.insns.push(Insn::Raw(sock_filter { code, jt, jf, k }));
    }
    fn ret(&mut self, k: u32) {
        self.raw(RET_K, 0, 0, k);
    }
    fn load(&mut self, offset: u32) {
        self.raw(LD_W_ABS, 0, 0, offset);
    }
    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }
    fn place(&mut self, label: usize) {
        self.labels[label] = Some(self.insns.len());
    }
    /// Jump to `label` when `A <code> k` is `when`, else fall through.
    fn jump_if(&mut self, code: u16, k: u32, when: bool, label: usize) {
        let (jt, jf) = if when { (0, 1) } else { (1, 0) };
        self.raw(code, jt, jf, k);
        self.insns.push(Insn::Jump(label));
    }
    fn finish(self) -> Vec<sock_filter> {
        let labels = self.labels;
        self.insns
            .into_iter()
            .enumerate()
            .map(|(i, insn)| match insn {
                Insn::Raw(f) => f,
                Insn::Jump(l) => {
                    let target = labels[l].expect("every label is placed");
                    let k = (target - i - 1) as u32;
                    sock_filter {
                        code: JA,
                        jt: 0,
                        jf: 0,
                        k,
                    }
                }
            })
            .collect()
    }
}

/// Offsets of argument `i`'s low and high 32-bit words in `struct seccomp_data`
/// (little-endian).
fn arg_words(i: u8) -> (u32, u32) {
    let lo = 16 + 8 * u32::from(i);
    if cfg!(target_endian = "little") {
        (lo, lo + 4)
    } else {
        (lo + 4, lo)
    }
}

/// Emit a check of `arg` that jumps to `fail` when it does not hold.
fn condition(e: &mut Emitter, arg: &SeccompArg, fail: usize) {
    let (lo_off, hi_off) = arg_words(arg.index);
    let (hi, lo) = ((arg.value >> 32) as u32, arg.value as u32);
    let pass = e.label();
    match arg.op {
        SeccompOp::Eq => {
            e.load(hi_off);
            e.jump_if(JEQ_K, hi, false, fail);
            e.load(lo_off);
            e.jump_if(JEQ_K, lo, false, fail);
        }
        SeccompOp::Ne => {
            e.load(hi_off);
            e.jump_if(JEQ_K, hi, false, pass);
            e.load(lo_off);
            e.jump_if(JEQ_K, lo, true, fail);
        }
        SeccompOp::MaskedEq => {
            let (want_hi, want_lo) = ((arg.value_two >> 32) as u32, arg.value_two as u32);
            e.load(hi_off);
            e.raw(AND_K, 0, 0, hi);
            e.jump_if(JEQ_K, want_hi, false, fail);
            e.load(lo_off);
            e.raw(AND_K, 0, 0, lo);
            e.jump_if(JEQ_K, want_lo, false, fail);
        }
        SeccompOp::Gt | SeccompOp::Ge => {
            // Greater high word: pass; smaller: fail; equal: the low words decide.
            e.load(hi_off);
            e.jump_if(JGT_K, hi, true, pass);
            e.jump_if(JEQ_K, hi, false, fail);
            e.load(lo_off);
            let code = if arg.op == SeccompOp::Gt {
                JGT_K
            } else {
                JGE_K
            };
            e.jump_if(code, lo, false, fail);
        }
        SeccompOp::Lt | SeccompOp::Le => {
            e.load(hi_off);
            e.jump_if(JGE_K, hi, false, pass);
            e.jump_if(JGT_K, hi, true, fail);
            e.load(lo_off);
            // lo < v fails when lo >= v; lo <= v fails when lo > v.
            let code = if arg.op == SeccompOp::Lt {
                JGE_K
            } else {
                JGT_K
            };
            e.jump_if(code, lo, true, fail);
        }
    }
    e.place(pass);
}

/// Binary search over `calls` (sorted numbers, each with its block's label); the
/// accumulator holds the system call number.
fn search(e: &mut Emitter, calls: &[(u32, usize)], default: usize) {
    if calls.len() <= 4 {
        for &(nr, block) in calls {
            e.jump_if(JEQ_K, nr, true, block);
        }
        e.insns.push(Insn::Jump(default));
        return;
    }
    let mid = calls.len() / 2;
    let upper = e.label();
    e.jump_if(JGE_K, calls[mid].0, true, upper);
    search(e, &calls[..mid], default);
    e.place(upper);
    search(e, &calls[mid..], default);
}

/// `profile` for a container keeping `capabilities`, as a BPF program for x86_64.
pub(crate) fn profile_program(
    id: &str,
    profile: &SeccompProfile,
    capabilities: &[String],
) -> Result<Vec<sock_filter>> {
    if !cfg!(target_arch = "x86_64") {
        return Err(Error::SeccompProfile {
            profile: profile.name().to_string(),
            reason: "custom profiles are only supported on x86_64".into(),
        });
    }
    let default = profile.default_action();
    // Each known system call's rules (action and conditions), in profile order.
    let mut calls: std::collections::BTreeMap<u32, Rules> = Default::default();
    for rule in profile.rules_for(capabilities) {
        if let Some(nr) = number(&rule.name) {
            calls.entry(nr).or_default().push((rule.action, rule.args));
        }
    }
    let mut e = Emitter::default();
    e.load(4); // seccomp_data.arch
    e.raw(JEQ_K, 1, 0, AUDIT_ARCH_X86_64);
    e.ret(libc::SECCOMP_RET_KILL_PROCESS);
    e.load(0); // seccomp_data.nr
    let x32 = match default {
        SeccompAction::Allow | SeccompAction::Log | SeccompAction::Trace(_) => {
            SeccompAction::Errno(libc::EPERM as u16)
        }
        other => other,
    };
    e.raw(JGE_K, 0, 1, X32_SYSCALL_BIT);
    e.ret(ret(x32));
    let default_label = e.label();
    let mut blocks: Vec<(&Rules, usize)> = Vec::new();
    let mut table = Vec::new();
    for (nr, rules) in &calls {
        let label = match blocks.iter().find(|(r, _)| *r == rules) {
            Some(&(_, label)) => label,
            None => {
                let label = e.label();
                blocks.push((rules, label));
                label
            }
        };
        table.push((*nr, label));
    }
    search(&mut e, &table, default_label);
    e.place(default_label);
    e.ret(ret(default));
    for (rules, label) in blocks {
        e.place(label);
        for (action, args) in rules {
            let next = e.label();
            for arg in args {
                condition(&mut e, arg, next);
            }
            e.ret(ret(*action));
            e.place(next);
        }
        e.ret(ret(default));
    }
    let program = e.finish();
    if program.len() > MAX_INSNS {
        return Err(Error::invalid(
            id,
            format!(
                "seccomp profile {}: {} BPF instructions, the kernel takes at most {MAX_INSNS}",
                profile.name(),
                program.len()
            ),
        ));
    }
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run `program` on a `seccomp_data` as the kernel would: a classic BPF interpreter for
    /// the instructions the emitter uses.
    fn run(program: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = Vec::new();
        data.extend(nr.to_ne_bytes());
        data.extend(arch.to_ne_bytes());
        data.extend(0u64.to_ne_bytes());
        for a in args {
            data.extend(a.to_ne_bytes());
        }
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let f = &program[pc];
            pc += 1;
            let jump = |taken: bool| if taken { f.jt as usize } else { f.jf as usize };
            match f.code {
                LD_W_ABS => {
                    let k = f.k as usize;
                    a = u32::from_ne_bytes(data[k..k + 4].try_into().unwrap());
                }
                AND_K => a &= f.k,
                JA => pc += f.k as usize,
                JEQ_K => pc += jump(a == f.k),
                JGT_K => pc += jump(a > f.k),
                JGE_K => pc += jump(a >= f.k),
                RET_K => return f.k,
                code => panic!("unexpected instruction {code:#x}"),
            }
        }
    }

    fn compile(text: &str, caps: &[&str]) -> Vec<sock_filter> {
        let profile = SeccompProfile::parse("t.json", text.as_bytes()).unwrap();
        let caps: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
        profile_program("t1", &profile, &caps).unwrap()
    }

    const ERRNO: u32 = libc::SECCOMP_RET_ERRNO;
    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;

    #[test]
    fn mixed_actions_and_unknown_names() {
        let p = compile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir", "mkdirat", "no_such_call"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["kill"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["tkill"], "action": "SCMP_ACT_TRAP"}]}"#,
            &[],
        );
        let call = |nr: i64| run(&p, AUDIT_ARCH_X86_64, nr as u32, [0; 6]);
        assert_eq!(call(libc::SYS_mkdir), ERRNO | 1);
        assert_eq!(call(libc::SYS_mkdirat), ERRNO | 1);
        assert_eq!(call(libc::SYS_getpid), ERRNO | 38);
        assert_eq!(call(libc::SYS_kill), libc::SECCOMP_RET_KILL_PROCESS);
        assert_eq!(call(libc::SYS_tkill), libc::SECCOMP_RET_TRAP);
        assert_eq!(call(libc::SYS_write), ALLOW);
        assert_eq!(call(libc::SYS_execve), ALLOW);
        // x32 calls are refused, a foreign architecture (i386) is killed.
        assert_eq!(call(X32_SYSCALL_BIT as i64 | libc::SYS_mkdir), ERRNO | 1);
        assert_eq!(
            run(&p, 0x4000_0003, 39, [0; 6]),
            libc::SECCOMP_RET_KILL_PROCESS
        );
    }

    #[test]
    fn allow_lists_with_many_calls() {
        // Every call but mkdir allowed: the search tree and the shared block.
        let names: Vec<&str> = super::super::syscalls_x86_64::SYSCALLS
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| *n != "mkdir")
            .collect();
        let text = serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}],
        })
        .to_string();
        let p = compile(&text, &[]);
        assert!(p.len() < 2000, "{}", p.len());
        for &(name, nr) in super::super::syscalls_x86_64::SYSCALLS {
            let want = if name == "mkdir" { ERRNO | 1 } else { ALLOW };
            assert_eq!(run(&p, AUDIT_ARCH_X86_64, nr, [0; 6]), want, "{name}");
        }
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 1000, [0; 6]), ERRNO | 1);
    }

    #[test]
    fn argument_conditions_compare_64_bits() {
        let big = 0x1_0000_0005u64;
        // (operator, value, [(argument, refused)]).
        type Case<'a> = (&'a str, u64, &'a [(u64, bool)]);
        let cases: &[Case] = &[
            (
                "SCMP_CMP_EQ",
                big,
                &[(big, true), (5, false), (big + 1, false)],
            ),
            (
                "SCMP_CMP_NE",
                big,
                &[(big, false), (5, true), (1 << 32, true)],
            ),
            (
                "SCMP_CMP_LT",
                big,
                &[(5, true), (big - 1, true), (big, false), (u64::MAX, false)],
            ),
            (
                "SCMP_CMP_LE",
                big,
                &[(big, true), (big + 1, false), (2 << 32, false), (0, true)],
            ),
            (
                "SCMP_CMP_GT",
                big,
                &[(big, false), (big + 1, true), (6, false), (2 << 32, true)],
            ),
            (
                "SCMP_CMP_GE",
                big,
                &[(big, true), (big - 1, false), (u64::MAX, true)],
            ),
        ];
        for (op, value, checks) in cases {
            let text = format!(
                r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{{"names": ["ioctl"],
                "action": "SCMP_ACT_ERRNO", "args": [{{"index": 2, "value": {value}, "op": "{op}"}}]}}]}}"#
            );
            let p = compile(&text, &[]);
            for &(arg, refused) in *checks {
                let got = run(
                    &p,
                    AUDIT_ARCH_X86_64,
                    libc::SYS_ioctl as u32,
                    [0, 0, arg, 0, 0, 0],
                );
                let want = if refused { ERRNO | 1 } else { ALLOW };
                assert_eq!(got, want, "{op} {value:#x} with {arg:#x}");
            }
        }
        // Docker's clone rule: allowed only without namespace flags; two conditions AND-ed.
        let p = compile(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["clone"],
                "action": "SCMP_ACT_ALLOW", "args": [
                    {"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"},
                    {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}]}"#,
            &[],
        );
        let clone = |flags: u64, stack: u64| {
            run(
                &p,
                AUDIT_ARCH_X86_64,
                libc::SYS_clone as u32,
                [flags, stack, 0, 0, 0, 0],
            )
        };
        assert_eq!(clone(libc::SIGCHLD as u64, 0), ALLOW);
        assert_eq!(clone(libc::CLONE_NEWNS as u64, 0), ERRNO | 1);
        assert_eq!(clone(libc::SIGCHLD as u64, 8), ERRNO | 1);
    }

    #[test]
    fn capability_includes_pick_the_rules() {
        let text = r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["reboot"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_BOOT"]}}]}"#;
        let mount = |caps: &[&str]| {
            let p = compile(text, caps);
            let call = |nr: i64| run(&p, AUDIT_ARCH_X86_64, nr as u32, [0; 6]);
            (call(libc::SYS_mount), call(libc::SYS_reboot))
        };
        assert_eq!(mount(&["CAP_CHOWN"]), (ERRNO | 1, ALLOW));
        assert_eq!(
            mount(&["CAP_SYS_ADMIN", "CAP_SYS_BOOT"]),
            (ALLOW, ERRNO | 1)
        );
    }

    #[test]
    fn the_table_is_sorted() {
        let t = super::super::syscalls_x86_64::SYSCALLS;
        assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(number("mkdirat"), Some(libc::SYS_mkdirat as u32));
        assert_eq!(number("no_such_call"), None);
    }
}
