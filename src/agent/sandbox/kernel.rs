//! The kernel side: which Landlock ABI this kernel offers, and restricting
//! the calling process (the trampoline, just before it execs the agent).

use std::path::Path;
use std::sync::OnceLock;

use landlock::{
    AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use super::rules::Support;
use super::{Confine, Grant};

/// The ABI that scopes signals (ABI 6, Linux 6.12).
const SIGNAL_SCOPE_ABI: u8 = 6;

/// What this kernel offers; asked once per process.
pub fn support() -> Support {
    static SUPPORT: OnceLock<Support> = OnceLock::new();
    SUPPORT.get_or_init(probe).clone()
}

fn probe() -> Support {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute, size 0 and the VERSION flag, the
    // kernel only returns its ABI number (or an error); no memory is read
    // or written and no descriptor is made.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if version > 0 {
        return Support::Available(u8::try_from(version).unwrap_or(u8::MAX));
    }
    let why = match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::EOPNOTSUPP) => {
            "Landlock is built into this kernel but not enabled (add landlock to the lsm= boot parameter)"
        }
        Some(libc::ENOSYS) => "this kernel has no Landlock (it needs Linux 5.13 or later, built with it)",
        _ => "this kernel refused to say whether it has Landlock (a seccomp filter?)",
    };
    Support::Unavailable(why.to_string())
}

/// The write rights handled at `abi`: all the crate calls write, but the
/// right to connect to Unix sockets (ABI 9), which is not a write and
/// which agents need (orch's own socket, ssh-agent).
fn handled(abi: ABI) -> BitFlags<AccessFs> {
    AccessFs::from_write(abi) & !BitFlags::from(AccessFs::ResolveUnix)
}

fn granted(grant: Grant, abi: ABI, dir: bool) -> BitFlags<AccessFs> {
    let wanted = match grant {
        Grant::Tree => handled(abi),
        Grant::Files => {
            AccessFs::WriteFile | AccessFs::Truncate | AccessFs::MakeReg | AccessFs::RemoveFile
        }
        Grant::Write => AccessFs::WriteFile | AccessFs::Truncate | AccessFs::IoctlDev,
    };
    let legal = if dir {
        handled(abi)
    } else {
        AccessFs::from_file(abi)
    };
    wanted & handled(abi) & legal
}

/// Restrict this process (and what it starts) to `confine`, with
/// no_new_privs set. Every right of `confine.abi` is required: an ABI the
/// kernel does not have is an error, never a silent downgrade.
pub fn restrict(confine: &Confine) -> Result<(), String> {
    // The ABI is the kernel's own, chosen by the parent from `support`;
    // the crate maps a number beyond its own to the last it knows.
    let abi = ABI::from(i32::from(confine.abi));
    let failed = |e: &dyn std::fmt::Display| format!("Landlock: {e}");
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(handled(abi))
        .map_err(|e| failed(&e))?;
    if confine.abi >= SIGNAL_SCOPE_ABI {
        // No signals to processes outside the sandbox: orch, other agents,
        // the user's shell.
        ruleset = ruleset.scope(Scope::Signal).map_err(|e| failed(&e))?;
    }
    let mut created = ruleset.create().map_err(|e| failed(&e))?;
    for rule in &confine.rules {
        let dir = Path::new(&rule.path).is_dir();
        let fd = PathFd::new(&rule.path).map_err(|e| failed(&e))?;
        created = created
            .add_rule(PathBeneath::new(fd, granted(rule.grant, abi, dir)))
            .map_err(|e| failed(&e))?;
    }
    let status = created.restrict_self().map_err(|e| failed(&e))?;
    if status.ruleset != RulesetStatus::FullyEnforced || !status.no_new_privs {
        return Err(format!(
            "Landlock: the ruleset was not fully enforced ({:?}, no_new_privs {})",
            status.ruleset, status.no_new_privs
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_only_hold_rights_the_abi_handles_and_the_path_can_take() {
        for n in 1..=10u8 {
            let abi = ABI::from(i32::from(n));
            for grant in [Grant::Tree, Grant::Files, Grant::Write] {
                for dir in [true, false] {
                    let rights = granted(grant, abi, dir);
                    assert!(handled(abi).contains(rights), "{grant:?} at ABI {n}");
                    if !dir {
                        assert!(AccessFs::from_file(abi).contains(rights));
                    }
                    assert!(!rights.contains(AccessFs::ResolveUnix));
                }
            }
        }
        let v3 = ABI::V3;
        assert!(granted(Grant::Tree, v3, true).contains(AccessFs::Truncate | AccessFs::Refer));
        assert!(!granted(Grant::Files, v3, true).contains(AccessFs::MakeDir));
        assert!(!granted(Grant::Write, v3, true).contains(AccessFs::MakeReg));
        // ABI 1 has no truncate and no reparenting right to hand out.
        assert!(!granted(Grant::Tree, ABI::V1, true).contains(AccessFs::Truncate));
    }
}
