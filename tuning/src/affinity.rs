//! Thread pinning and NUMA memory policy, as thin checked wrappers over the Linux syscalls.
//!
//! Shard threads call [`pin_current_thread`] first thing, before they allocate, so the
//! kernel's first-touch policy places their pages on the local node; with more than one node
//! they also set a preferred node ([`prefer_node_for_current_thread`]) and bind large
//! preallocated buffers ([`bind_memory_to_node`]). Masks are sized dynamically, so machines
//! with more than the 1024 CPUs of glibc's fixed `cpu_set_t` work; every failure is an
//! `io::Error`, never a panic.

use std::io;

use crate::cpulist::MAX_CPU_ID;

const WORD_BITS: usize = u64::BITS as usize;

/// `set_mempolicy`/`mbind` modes from `<linux/mempolicy.h>`.
const MPOL_PREFERRED: libc::c_int = 1;
const MPOL_BIND: libc::c_int = 2;
/// Migrate pages already faulted in, so a buffer touched before binding still ends up local.
const MPOL_MF_MOVE: libc::c_uint = 1 << 1;

fn mask_for(ids: &[usize]) -> io::Result<Vec<u64>> {
    let max = ids.iter().copied().max().unwrap_or(0);
    if max > MAX_CPU_ID {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("id {max} exceeds the supported maximum {MAX_CPU_ID}"),
        ));
    }
    // At least 1024 bits: the kernel rejects masks shorter than its own nr_cpu_ids.
    let words = ((max / WORD_BITS) + 1).max(1024 / WORD_BITS);
    let mut mask = vec![0u64; words];
    for &id in ids {
        mask[id / WORD_BITS] |= 1 << (id % WORD_BITS);
    }
    Ok(mask)
}

fn ids_of(mask: &[u64]) -> Vec<usize> {
    let mut out = Vec::new();
    for (w, &word) in mask.iter().enumerate() {
        for bit in 0..WORD_BITS {
            if word & (1 << bit) != 0 {
                out.push(w * WORD_BITS + bit);
            }
        }
    }
    out
}

/// Pins the calling thread to one CPU.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    set_thread_affinity(&[cpu])
}

/// Restricts the calling thread to a set of CPUs.
pub fn set_thread_affinity(cpus: &[usize]) -> io::Result<()> {
    if cpus.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty CPU set"));
    }
    let mask = mask_for(cpus)?;
    // SAFETY: the pointer and byte length describe `mask`, which outlives the call; the
    // kernel only reads it. pid 0 means the calling thread.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sched_setaffinity,
            0 as libc::pid_t,
            std::mem::size_of_val(mask.as_slice()),
            mask.as_ptr(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn get_affinity(tid: libc::pid_t) -> io::Result<Vec<usize>> {
    // The kernel wants a buffer at least nr_cpu_ids bits long; grow until it fits.
    let mut words = 1024 / WORD_BITS;
    loop {
        let mut mask = vec![0u64; words];
        // SAFETY: the kernel writes at most the given byte length into `mask`.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_sched_getaffinity,
                tid,
                std::mem::size_of_val(mask.as_slice()),
                mask.as_mut_ptr(),
            )
        };
        if rc >= 0 {
            return Ok(ids_of(&mask));
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EINVAL) && words * WORD_BITS <= MAX_CPU_ID {
            words *= 2;
            continue;
        }
        return Err(err);
    }
}

/// CPUs the calling thread may run on.
pub fn current_thread_affinity() -> io::Result<Vec<usize>> {
    get_affinity(0)
}

/// CPUs the process may run on: the mask of its main thread (thread id = pid). Read this
/// before pinning the main thread, or it reports the pinned mask.
pub fn process_affinity() -> io::Result<Vec<usize>> {
    // SAFETY: getpid has no preconditions.
    get_affinity(unsafe { libc::getpid() })
}

/// The calling thread's kernel thread id (what `/proc/self/task/<tid>` is named by).
pub fn current_thread_id() -> libc::pid_t {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::pid_t }
}

fn node_mask(node: usize) -> io::Result<(Vec<libc::c_ulong>, libc::c_ulong)> {
    const BITS: usize = libc::c_ulong::BITS as usize;
    if node > MAX_CPU_ID {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("node {node} is out of range"),
        ));
    }
    let mut mask: Vec<libc::c_ulong> = vec![0; node / BITS + 1];
    mask[node / BITS] |= 1 << (node % BITS);
    // The kernel reads maxnode-1 bits (a historic off-by-one that libnuma also accounts for).
    let maxnode = (mask.len() * BITS + 1) as libc::c_ulong;
    Ok((mask, maxnode))
}

/// Makes the calling thread's future allocations prefer `node` (falling back to others when
/// it is full, unlike a strict bind). A no-op when the machine has a single node, where the
/// call would only cost a syscall and fail on kernels built without NUMA.
pub fn prefer_node_for_current_thread(node: usize, node_count: usize) -> io::Result<()> {
    if node_count <= 1 {
        return Ok(());
    }
    let (mask, maxnode) = node_mask(node)?;
    // SAFETY: `mask` holds `maxnode - 1` bits and outlives the call; the kernel only reads it.
    let rc =
        unsafe { libc::syscall(libc::SYS_set_mempolicy, MPOL_PREFERRED, mask.as_ptr(), maxnode) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Binds the pages of `[addr, addr+len)` to `node` (MPOL_BIND), moving pages already faulted
/// in. `addr` must be page-aligned (as from `mmap` or an aligned allocation). The kernel
/// validates the range, so a bad range is an error, not undefined behaviour. Fails with
/// ENOSYS on kernels built without NUMA: callers use it only when there is more than one node.
pub fn bind_memory_to_node(addr: *mut u8, len: usize, node: usize) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page = if page > 0 { page as usize } else { 4096 };
    // Passed to the kernel as a plain number: nothing here reads through the pointer.
    let addr = addr as usize;
    if addr % page != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("mbind needs a page-aligned address ({page} bytes)"),
        ));
    }
    let (mask, maxnode) = node_mask(node)?;
    // SAFETY: mbind changes the policy of the caller's own mappings and never dereferences
    // `addr` in user space; `mask` holds `maxnode - 1` bits and outlives the call.
    let rc = unsafe {
        libc::syscall(libc::SYS_mbind, addr, len, MPOL_BIND, mask.as_ptr(), maxnode, MPOL_MF_MOVE)
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The node backing the page at `addr` (get_mempolicy with MPOL_F_NODE|MPOL_F_ADDR); used to
/// verify placement. The page must have been touched.
pub fn node_of_address(addr: *const u8) -> io::Result<usize> {
    let addr = addr as usize;
    const MPOL_F_NODE: libc::c_ulong = 1;
    const MPOL_F_ADDR: libc::c_ulong = 1 << 1;
    let mut node: libc::c_int = -1;
    // SAFETY: the kernel writes one int to `node`; a null nodemask with maxnode 0 is allowed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_get_mempolicy,
            &mut node as *mut libc::c_int,
            std::ptr::null_mut::<libc::c_ulong>(),
            0 as libc::c_ulong,
            addr,
            MPOL_F_NODE | MPOL_F_ADDR,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    usize::try_from(node).map_err(|_| io::Error::other("kernel returned a negative node"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_round_trip() {
        let ids = vec![0, 3, 64, 1500];
        let mask = mask_for(&ids).unwrap();
        assert_eq!(ids_of(&mask), ids);
        assert!(mask_for(&[MAX_CPU_ID + 1]).is_err());
    }

    #[test]
    fn pinning_a_spawned_thread_reads_back() {
        let allowed = process_affinity().unwrap();
        let target = *allowed.last().unwrap();
        let got = std::thread::spawn(move || {
            pin_current_thread(target).unwrap();
            current_thread_affinity().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(got, vec![target]);
    }

    #[test]
    fn pinning_to_an_absent_cpu_is_an_error() {
        let result = std::thread::spawn(|| pin_current_thread(MAX_CPU_ID)).join().unwrap();
        assert!(result.is_err());
        let result = std::thread::spawn(|| set_thread_affinity(&[])).join().unwrap();
        assert!(result.is_err());
    }

    #[test]
    fn single_node_preference_is_a_no_op() {
        prefer_node_for_current_thread(0, 1).unwrap();
        prefer_node_for_current_thread(5, 0).unwrap();
    }

    #[test]
    fn unaligned_bind_is_rejected() {
        let mut buf = vec![0u8; 8192];
        let addr =
            buf.as_mut_ptr().wrapping_add(1 + (4096 - (buf.as_ptr() as usize % 4096)) % 4096);
        assert!(bind_memory_to_node(addr, 16, 0).is_err());
        assert!(bind_memory_to_node(addr, 0, 0).is_ok());
    }
}
