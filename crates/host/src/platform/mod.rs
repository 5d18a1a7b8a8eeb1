//! Facts jailctl reads straight from the FreeBSD kernel instead of spawning a tool, kept in one
//! place so that the rest of the crate never needs a `cfg(target_os)`.
//!
//! On FreeBSD ([`freebsd`](self) backend) the RACCT/RCTL state comes from the `rctl` crate
//! (`security.jail.jailed` and `kern.racct.enable` read with sysctl(3)) and running jails come
//! from jail_get(2) through the `jail` crate. On every other OS the `other` backend compiles in
//! its place: it answers [`RacctState::Unsupported`] and [`PlatformError::Unsupported`], saying
//! what is missing and what to use instead (`--simulate DIR`).
//!
//! These calls read the machine jailctl runs on. They do not go through the
//! [`Runner`](crate::Runner) seam, so code that must also work against the simulated host
//! asks the host instead (`sysctl -n kern.racct.enable security.jail.jailed` answered by either)
//! and turns the answer into the same type with [`RacctState::from_sysctl`].

use std::fmt;
use std::path::PathBuf;

#[cfg(target_os = "freebsd")]
mod freebsd;
#[cfg(target_os = "freebsd")]
use freebsd as imp;

#[cfg(not(target_os = "freebsd"))]
mod other;
#[cfg(not(target_os = "freebsd"))]
use other as imp;

/// Whether this build talks to a FreeBSD kernel (`false`: the `other` backend is compiled in).
pub const KERNEL_SUPPORTED: bool = cfg!(target_os = "freebsd");

/// Can rctl(8) limits be enforced on this host? Mirrors the `rctl` crate's `State`, plus the
/// case where the question cannot be asked at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RacctState {
    /// RACCT and RCTL are compiled in and `kern.racct.enable=1`: limits work.
    Enabled,
    /// The kernel has RACCT but it was not enabled at boot (`kern.racct.enable=0`).
    Disabled,
    /// The kernel has no RACCT/RCTL (`kern.racct.enable` does not exist).
    NotPresent,
    /// jailctl itself runs inside a jail, where rctl is not available.
    Jailed,
    /// The question cannot be answered here; the text says why.
    Unsupported(String),
}

impl RacctState {
    /// The state of this machine's kernel (sysctl(3) on FreeBSD, `Unsupported` elsewhere).
    pub fn current() -> RacctState {
        imp::racct_state()
    }

    /// The same decision as the `rctl` crate's `State::check`, made from the values printed by
    /// `sysctl -n security.jail.jailed` and `sysctl -n kern.racct.enable` (`None` when the OID
    /// does not exist). Lets the simulated host and the real one share one answer type.
    pub fn from_sysctl(jailed: Option<&str>, racct_enable: Option<&str>) -> RacctState {
        // An unreadable or non-zero `security.jail.jailed` means we are in a jail, as rctl does.
        match jailed.map(str::trim) {
            Some("0") => {}
            _ => return RacctState::Jailed,
        }
        match racct_enable.map(str::trim) {
            None => RacctState::NotPresent,
            Some("1") => RacctState::Enabled,
            Some(_) => RacctState::Disabled,
        }
    }

    /// True when rctl rules take effect.
    pub fn enforces_limits(&self) -> bool {
        matches!(self, RacctState::Enabled)
    }

    /// What to do about it, for people; `None` when limits already work.
    pub fn fix(&self) -> Option<String> {
        match self {
            RacctState::Enabled => None,
            RacctState::Disabled => Some(
                "add kern.racct.enable=1 to /boot/loader.conf and reboot; it is a boot-time tunable"
                    .to_string(),
            ),
            RacctState::NotPresent => Some(
                "this kernel was built without RACCT/RCTL: use GENERIC or add `options RACCT` and `options RCTL` to the kernel configuration"
                    .to_string(),
            ),
            RacctState::Jailed => Some(
                "run jailctl on the host, not inside a jail: rctl is not available in a jail"
                    .to_string(),
            ),
            RacctState::Unsupported(_) => Some(
                "resource limits need a FreeBSD host; use --simulate DIR to try jailctl elsewhere"
                    .to_string(),
            ),
        }
    }
}

impl fmt::Display for RacctState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RacctState::Enabled => f.write_str("RACCT enabled: rctl limits are enforced"),
            RacctState::Disabled => f.write_str(
                "RACCT present but disabled (kern.racct.enable=0): rctl limits are not enforced",
            ),
            RacctState::NotPresent => {
                f.write_str("RACCT not in this kernel: rctl limits are not available")
            }
            RacctState::Jailed => {
                f.write_str("running inside a jail: rctl limits are not available")
            }
            RacctState::Unsupported(why) => write!(f, "RACCT state unknown: {why}"),
        }
    }
}

/// The RACCT/RCTL state of this machine's kernel; shorthand for [`RacctState::current`].
pub fn racct_state() -> RacctState {
    RacctState::current()
}

/// A running jail as the kernel reports it (jail_get(2)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelJail {
    pub jid: i32,
    pub name: String,
    pub path: PathBuf,
    pub hostname: String,
}

/// Reading the kernel failed, or there is no FreeBSD kernel to read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlatformError {
    /// This build runs on an OS without jails.
    #[error("cannot {what}: this build of jailctl runs on {os}, which has no FreeBSD jails")]
    #[diagnostic(help("use --simulate DIR for a simulated FreeBSD host"))]
    Unsupported {
        what: &'static str,
        os: &'static str,
    },
    /// The kernel refused; `source` is the error the system call returned.
    #[error("cannot {what}: {source}")]
    Kernel {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Every running jail, lowest jid first, read from the kernel (no jls(8) process).
pub fn running_jails() -> Result<Vec<KernelJail>, PlatformError> {
    imp::running_jails()
}

/// The running jail called `name`, or `None` if the kernel knows no such jail.
pub fn running_jail(name: &str) -> Result<Option<KernelJail>, PlatformError> {
    imp::running_jail(name)
}

/// Live RACCT usage per jail, by resource name as `rctl -u jail:NAME` prints it.
pub type Usages = std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>>;

/// The live RACCT usage of each jail in `names` read from the kernel, no process spawned
/// (rctl_get_racct(2), one system call per jail). Jails the kernel does not know (stopped
/// since they were listed) are left out. `None` where this build cannot ask the kernel:
/// callers then run `rctl -u` per jail.
pub fn jail_usages(names: &[String]) -> Option<Result<Usages, PlatformError>> {
    imp::jail_usages(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_values_map_like_rctl_state_check() {
        use RacctState::*;
        assert_eq!(RacctState::from_sysctl(Some("0"), Some("1")), Enabled);
        assert_eq!(RacctState::from_sysctl(Some("0\n"), Some("1\n")), Enabled);
        assert_eq!(RacctState::from_sysctl(Some("0"), Some("0")), Disabled);
        assert_eq!(RacctState::from_sysctl(Some("0"), None), NotPresent);
        assert_eq!(RacctState::from_sysctl(Some("1"), Some("1")), Jailed);
        // An unreadable `security.jail.jailed` counts as jailed, as in the rctl crate.
        assert_eq!(RacctState::from_sysctl(None, Some("1")), Jailed);
    }

    #[test]
    fn only_enabled_enforces_limits_and_every_other_state_names_a_fix() {
        let states = [
            RacctState::Enabled,
            RacctState::Disabled,
            RacctState::NotPresent,
            RacctState::Jailed,
            RacctState::Unsupported("x".into()),
        ];
        for s in &states {
            assert_eq!(s.enforces_limits(), *s == RacctState::Enabled, "{s}");
            assert_eq!(s.fix().is_none(), *s == RacctState::Enabled, "{s}");
        }
        assert!(
            RacctState::Disabled
                .fix()
                .unwrap()
                .contains("kern.racct.enable=1")
        );
        assert!(
            RacctState::NotPresent
                .fix()
                .unwrap()
                .contains("options RCTL")
        );
    }

    #[test]
    fn backend_matches_the_build_target() {
        let state = racct_state();
        if KERNEL_SUPPORTED {
            assert!(!matches!(state, RacctState::Unsupported(_)), "{state}");
            // jail_get(2) needs no privilege: listing must work, even with no jails.
            let jails = running_jails().expect("jail_get(2) enumerates jails");
            assert!(jails.windows(2).all(|w| w[0].jid < w[1].jid), "{jails:?}");
        } else {
            assert!(matches!(state, RacctState::Unsupported(_)), "{state}");
            assert!(running_jails().is_err());
            assert!(running_jail("web").is_err());
        }
    }
}
