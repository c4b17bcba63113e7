//! Host facts that do not live in sysfs/procfs files of the checked root: resource limits,
//! kernel release, whether io_uring can be set up. Filled from the live process
//! ([`HostFacts::live`]) or from a fixture tree's `proc/self/limits` and
//! `proc/sys/kernel/osrelease` ([`HostFacts::read`]), so checks are testable.

use std::path::Path;

use crate::sysroot::SysRoot;

/// A resource limit; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(serde::Serialize))]
pub struct Limit {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// Outcome of creating (and closing) a one-entry io_uring.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(serde::Serialize))]
pub enum IoUringProbe {
    /// Setup worked; `features` is `io_uring_params.features` (IORING_FEAT_* bits).
    Available { features: u32 },
    /// Setup failed with this errno (EPERM: disabled or seccomp, ENOSYS: not built in).
    Unavailable { errno: i32, message: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(serde::Serialize))]
pub struct HostFacts {
    /// `uname -r`, e.g. `6.8.0-45-generic`.
    pub kernel_release: Option<String>,
    /// RLIMIT_NOFILE.
    pub open_files: Option<Limit>,
    /// RLIMIT_MEMLOCK in bytes.
    pub memlock_bytes: Option<Limit>,
    pub io_uring: Option<IoUringProbe>,
}

impl HostFacts {
    /// This process's limits (getrlimit), kernel release (uname) and an io_uring probe.
    pub fn live() -> HostFacts {
        HostFacts {
            kernel_release: uname_release(),
            open_files: rlimit(libc::RLIMIT_NOFILE),
            memlock_bytes: rlimit(libc::RLIMIT_MEMLOCK),
            io_uring: Some(probe_io_uring()),
        }
    }

    /// Facts recorded in a tree: `proc/sys/kernel/osrelease` and `proc/self/limits`.
    /// Nothing is probed: a fixture says nothing about this machine's io_uring.
    pub fn read(root: &Path) -> HostFacts {
        let root = SysRoot::new(root);
        let limits = root.read("/proc/self/limits").unwrap_or_default();
        HostFacts {
            kernel_release: root
                .read_trimmed("/proc/sys/kernel/osrelease")
                .filter(|s| !s.is_empty()),
            open_files: parse_limits_line(&limits, "Max open files"),
            memlock_bytes: parse_limits_line(&limits, "Max locked memory"),
            io_uring: None,
        }
    }
}

/// One row of `/proc/<pid>/limits`: `Max open files   1024   524288   files`.
pub fn parse_limits_line(text: &str, name: &str) -> Option<Limit> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let mut fields = line[name.len()..].split_whitespace();
    let value = |s: Option<&str>| -> Option<Option<u64>> {
        match s? {
            "unlimited" => Some(None),
            v => v.parse().ok().map(Some),
        }
    };
    let soft = value(fields.next())?;
    let hard = value(fields.next())?;
    Some(Limit { soft, hard })
}

#[cfg(target_env = "gnu")]
type RlimitResource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type RlimitResource = libc::c_int;

fn rlimit(resource: RlimitResource) -> Option<Limit> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit struct to a valid pointer.
    if unsafe { libc::getrlimit(resource, &mut lim) } != 0 {
        return None;
    }
    let conv = |v: libc::rlim_t| if v == libc::RLIM_INFINITY { None } else { Some(v) };
    Some(Limit { soft: conv(lim.rlim_cur), hard: conv(lim.rlim_max) })
}

fn uname_release() -> Option<String> {
    // SAFETY: utsname is plain bytes; uname fills it and NUL-terminates each field.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is valid for the struct's size.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return None;
    }
    let bytes: Vec<u8> = uts.release.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8(bytes).ok()
}

/// Creates and closes a one-entry ring with the raw syscall, so the probe needs no
/// io_uring crate and reports exactly the errno a server would get.
pub fn probe_io_uring() -> IoUringProbe {
    // struct io_uring_params is 120 bytes: 10 u32 fields then two 40-byte offset structs.
    let mut params = [0u32; 30];
    // SAFETY: `params` is a zeroed io_uring_params-sized buffer the kernel reads and fills.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1u32, params.as_mut_ptr()) };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        return IoUringProbe::Unavailable {
            errno: err.raw_os_error().unwrap_or(0),
            message: err.to_string(),
        };
    }
    // SAFETY: `fd` is a descriptor we just created and own.
    unsafe { libc::close(fd as libc::c_int) };
    IoUringProbe::Available { features: params[5] }
}

/// `6.8.0-45-generic` → `(6, 8)`.
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_rows_parse_numbers_and_unlimited() {
        let text = "Limit                     Soft Limit           Hard Limit           Units\n\
                    Max open files            1024                 524288               files\n\
                    Max locked memory         unlimited            unlimited            bytes\n";
        assert_eq!(
            parse_limits_line(text, "Max open files"),
            Some(Limit { soft: Some(1024), hard: Some(524288) })
        );
        assert_eq!(
            parse_limits_line(text, "Max locked memory"),
            Some(Limit { soft: None, hard: None })
        );
        assert_eq!(parse_limits_line(text, "Max processes"), None);
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(kernel_version("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(kernel_version("5.4.0"), Some((5, 4)));
        assert_eq!(kernel_version("garbage"), None);
    }

    #[test]
    fn live_facts_match_getrlimit_and_proc() {
        let live = HostFacts::live();
        let from_proc = HostFacts::read(Path::new("/"));
        assert_eq!(live.open_files, from_proc.open_files);
        assert_eq!(live.kernel_release, from_proc.kernel_release);
        assert!(live.io_uring.is_some());
    }
}
