//! Exact per-shard memory: one jemalloc arena per shard, each over its own address range.
//!
//! ```text
//!   reserved at start-up (MAP_NORESERVE, nothing resident):
//!   BASE ┌──────────────┬──────────────┬─────┬──────────────┐
//!        │ shard 0      │ shard 1      │ ... │ shard n-1    │   each 2^shift bytes
//!        └──────────────┴──────────────┴─────┴──────────────┘
//!   arena i's extent hooks bump-allocate inside range i, so owner(ptr) = (ptr - BASE) >> shift
//! ```
//! Each shard thread is bound to its arena before it allocates anything, so everything a shard
//! allocates (its keys and values, its connections' buffers, the replies it builds for other
//! shards) lives in its range. jemalloc's per-thread counters (`thread.allocated` /
//! `thread.deallocated`) then say exactly what each shard holds, except for one thing: a reply
//! built on shard A and freed on shard B. That free is seen here (the pointer is in A's range,
//! the thread is B), so it is
//! - returned straight to A's arena, skipping B's thread cache (otherwise B would reuse A's
//!   memory for its own data and the ranges would stop meaning anything), and
//! - credited: A's figure loses the bytes, B's keeps them ([`shard_net_bytes`]).
//!
//! Goals: a per-shard figure that never drifts, whatever crosses threads, for `maxmemory` split
//! across shards; nothing added to the allocation path and three loads and a compare added to a
//! free. Non-goals: accounting for memory of other threads (the main thread's start-up data is
//! "outside" memory, split evenly by the caller).
//!
//! The reservation can fail (`vm.overcommit_memory=2`, an address-space limit); then nothing is
//! bound, every pointer is "outside", and the server falls back to process-wide accounting.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;
use tikv_jemalloc_sys as ffi;
use tikv_jemallocator::Jemalloc;

/// Shards that can get their own range (the server clamps `--shards` to this).
pub const MAX_SHARDS: usize = 1024;
/// What [`owner_of`] answers for memory outside every shard's range.
pub const OUTSIDE: usize = usize::MAX;
/// Address space reserved for all shards together (16 TiB of the 128 TiB a process has).
const RESERVE_TOTAL_LOG2: u32 = 44;
/// Address space per shard at most (256 GiB), whatever the shard count.
const RESERVE_SHARD_LOG2_MAX: u32 = 38;

static BASE: AtomicUsize = AtomicUsize::new(0);
static SHIFT: AtomicUsize = AtomicUsize::new(0);
/// Shards with a range; 0 until [`init`] succeeded, so `owner_of` answers OUTSIDE.
static COUNT: AtomicUsize = AtomicUsize::new(0);
/// Set by the binary that installs [`ShardAlloc`] as its global allocator.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Bytes of shard i's memory freed by other threads (its figure loses them).
static FREED_FOR: [CachePadded<AtomicU64>; MAX_SHARDS] =
    [const { CachePadded::new(AtomicU64::new(0)) }; MAX_SHARDS];

/// Arena index and range of each shard, fixed by [`init`].
static REGIONS: std::sync::OnceLock<Vec<&'static Region>> = std::sync::OnceLock::new();

thread_local! {
    /// The shard this thread runs, or OUTSIDE.
    static MY_SHARD: Cell<usize> = const { Cell::new(OUTSIDE) };
    /// Bytes this thread freed that another shard (or no shard) had allocated: its
    /// `thread.deallocated` counts them, its figure must not.
    static FOREIGN_FREED: Cell<u64> = const { Cell::new(0) };
    /// `MALLOCX_TCACHE(...)` of this shard thread's explicit cache for foreign frees, or
    /// `MALLOCX_TCACHE_NONE`. Nothing is ever allocated through it, so blocks in it never
    /// become this shard's; they go back to their arenas in batches when a bin fills, and all
    /// at once on every tick ([`flush_foreign_cache`]).
    static FOREIGN_CACHE: Cell<i32> = const { Cell::new(ffi::MALLOCX_TCACHE_NONE) };
    static FOREIGN_CACHE_ID: Cell<u32> = const { Cell::new(u32::MAX) };
    /// `thread.allocated - thread.deallocated` when the thread was bound: what it allocated
    /// before, from the default arenas, is not the shard's.
    static BASELINE: Cell<i64> = const { Cell::new(0) };
}

/// The shard whose range holds `addr`, or [`OUTSIDE`].
#[inline(always)]
pub fn owner_of(addr: usize) -> usize {
    let index = addr.wrapping_sub(BASE.load(Ordering::Relaxed)) >> SHIFT.load(Ordering::Relaxed);
    if index < COUNT.load(Ordering::Relaxed) {
        index
    } else {
        OUTSIDE
    }
}

/// The global allocator of the `mayfly` binary: jemalloc, with frees of another shard's memory
/// sent home and credited (see the module docs).
pub struct ShardAlloc;

impl ShardAlloc {
    /// Declares that this allocator is the process's global allocator, which makes [`init`]
    /// set up per-shard arenas. Call from `main` before the server starts.
    pub fn installed() {
        INSTALLED.store(true, Ordering::Relaxed);
    }
}

/// tikv-jemallocator's rule: no flags when malloc's natural alignment already suffices.
#[inline(always)]
fn layout_flags(layout: &Layout) -> i32 {
    if layout.align() <= 16 && layout.align() <= layout.size() {
        0
    } else {
        ffi::MALLOCX_ALIGN(layout.align())
    }
}

// SAFETY: every method forwards to jemalloc with the caller's layout; the foreign-free path
// frees with the same size and alignment flags jemalloc allocated with.
unsafe impl GlobalAlloc for ShardAlloc {
    #[inline(always)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { Jemalloc.alloc(layout) }
    }

    #[inline(always)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { Jemalloc.alloc_zeroed(layout) }
    }

    #[inline(always)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let owner = owner_of(ptr as usize);
        if owner == MY_SHARD.get() {
            // SAFETY: forwarded contract.
            unsafe { Jemalloc.dealloc(ptr, layout) }
        } else {
            // SAFETY: forwarded contract.
            unsafe { foreign_dealloc(ptr, layout, owner) }
        }
    }

    #[inline(always)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let owner = owner_of(ptr as usize);
        if owner == MY_SHARD.get() {
            // SAFETY: forwarded contract.
            return unsafe { Jemalloc.realloc(ptr, layout, new_size) };
        }
        // Growing another shard's block in place would charge this thread's counter for bytes
        // in the other range: move it into this thread's own memory instead.
        // SAFETY: `new_size` is non-zero and, rounded to `align`, does not overflow (the
        // GlobalAlloc::realloc contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: valid layout, see above.
        let new = unsafe { Jemalloc.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live and at least this long; they are distinct.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                foreign_dealloc(ptr, layout, owner);
            }
        }
        new
    }
}

/// Frees memory this thread does not own: straight to its arena (no thread cache), credited
/// to its owner, and kept out of this thread's figure.
#[cold]
#[inline(never)]
unsafe fn foreign_dealloc(ptr: *mut u8, layout: Layout, owner: usize) {
    let flags = layout_flags(&layout);
    // SAFETY: plain size-class arithmetic; it is what jemalloc adds to thread.deallocated.
    let usable = unsafe { ffi::nallocx(layout.size(), flags) } as u64;
    if owner != OUTSIDE {
        FREED_FOR[owner].fetch_add(usable, Ordering::Relaxed);
    }
    if MY_SHARD.get() != OUTSIDE {
        FOREIGN_FREED.set(FOREIGN_FREED.get() + usable);
    }
    // SAFETY: `ptr` was allocated by jemalloc with this size and these flags.
    unsafe { ffi::sdallocx(ptr as *mut c_void, layout.size(), flags | FOREIGN_CACHE.get()) }
}

/// One shard's address range and jemalloc's hooks over it. `hooks` comes first so jemalloc's
/// `extent_hooks_t *` is also a `Region *`.
#[repr(C)]
pub struct Region {
    hooks: ffi::extent_hooks_t,
    start: usize,
    end: usize,
    next: AtomicUsize,
    /// Bytes handed out from plain mmap after the range ran out (then outside memory).
    spilled: AtomicU64,
    arena: u32,
}

impl Region {
    fn new(start: usize, len: usize) -> Region {
        Region {
            hooks: ffi::extent_hooks_t {
                alloc: Some(hook_alloc),
                dalloc: Some(hook_dalloc),
                destroy: Some(hook_destroy),
                commit: Some(hook_commit),
                decommit: None,
                purge_lazy: Some(hook_purge_lazy),
                purge_forced: Some(hook_purge_forced),
                split: Some(hook_split),
                merge: Some(hook_merge),
            },
            start,
            end: start + len,
            next: AtomicUsize::new(start),
            spilled: AtomicU64::new(0),
            arena: 0,
        }
    }

    /// Bytes of the range handed to jemalloc so far.
    pub fn mapped_bytes(&self) -> u64 {
        (self.next.load(Ordering::Relaxed) - self.start) as u64
    }

    /// Takes `size` bytes aligned to `alignment` from the range, or None when it ran out.
    fn bump(&self, size: usize, alignment: usize) -> Option<usize> {
        let alignment = alignment.max(1);
        let mut cur = self.next.load(Ordering::Relaxed);
        loop {
            let at = cur.checked_add(alignment - 1)? & !(alignment - 1);
            let end = at.checked_add(size)?;
            if end > self.end {
                return None;
            }
            match self.next.compare_exchange_weak(cur, end, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some(at),
                Err(now) => cur = now,
            }
        }
    }
}

/// # Safety
/// `hooks` is the first field of a live `Region` (jemalloc hands back what we registered).
unsafe fn region<'a>(hooks: *mut ffi::extent_hooks_t) -> &'a Region {
    // SAFETY: see above; regions are leaked, so 'static in practice.
    unsafe { &*(hooks as *const Region) }
}

unsafe extern "C" fn hook_alloc(
    hooks: *mut ffi::extent_hooks_t,
    new_addr: *mut c_void,
    size: usize,
    alignment: usize,
    zero: *mut bool,
    commit: *mut bool,
    _arena: u32,
) -> *mut c_void {
    // SAFETY: registered by `create_arena`.
    let r = unsafe { region(hooks) };
    if !new_addr.is_null() {
        // Growing in place at a fixed address: only when it is exactly the range's next byte.
        let want = new_addr as usize;
        let Some(end) = want.checked_add(size) else { return std::ptr::null_mut() };
        if end > r.end
            || r.next.compare_exchange(want, end, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            return std::ptr::null_mut();
        }
        // SAFETY: jemalloc passes valid out-pointers.
        unsafe {
            *zero = true;
            *commit = true;
        }
        return new_addr;
    }
    let at = match r.bump(size, alignment) {
        Some(at) => at as *mut c_void,
        None => {
            // The range is used up: keep serving from ordinary mappings (accounting for these
            // becomes approximate, never a failed allocation).
            let p = map_aligned(size, alignment);
            if p.is_null() {
                return p;
            }
            r.spilled.fetch_add(size as u64, Ordering::Relaxed);
            p
        }
    };
    // Fresh anonymous pages (never handed out twice: `dalloc` keeps them with jemalloc) are
    // zero and writable.
    // SAFETY: jemalloc passes valid out-pointers.
    unsafe {
        *zero = true;
        *commit = true;
    }
    at
}

/// An anonymous mapping of `size` bytes aligned to `alignment`, or null.
fn map_aligned(size: usize, alignment: usize) -> *mut c_void {
    let alignment = alignment.max(page_size());
    let Some(len) = size.checked_add(alignment) else { return std::ptr::null_mut() };
    // SAFETY: anonymous private mapping; checked below.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    let start = p as usize;
    let at = (start + alignment - 1) & !(alignment - 1);
    // SAFETY: unmapping the unaligned head and the tail beyond `size`, both inside the mapping.
    unsafe {
        if at > start {
            libc::munmap(p, at - start);
        }
        let tail = start + len - (at + size);
        if tail > 0 {
            libc::munmap((at + size) as *mut c_void, tail);
        }
    }
    at as *mut c_void
}

fn page_size() -> usize {
    // SAFETY: plain libc query.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

/// Opts out: jemalloc keeps the extent (retained) and reuses it; the range never shrinks.
unsafe extern "C" fn hook_dalloc(
    _: *mut ffi::extent_hooks_t,
    _: *mut c_void,
    _: usize,
    _: bool,
    _: u32,
) -> bool {
    true
}

/// Only called when an arena is destroyed, which Mayfly never does.
unsafe extern "C" fn hook_destroy(
    _: *mut ffi::extent_hooks_t,
    _: *mut c_void,
    _: usize,
    _: bool,
    _: u32,
) {
}

/// Pages are mapped read-write up front, so committing always succeeds.
unsafe extern "C" fn hook_commit(
    _: *mut ffi::extent_hooks_t,
    _: *mut c_void,
    _: usize,
    _: usize,
    _: usize,
    _: u32,
) -> bool {
    false
}

fn advise(addr: *mut c_void, offset: usize, length: usize, advice: i32) -> bool {
    // SAFETY: jemalloc asks to purge pages of an extent it owns; the advice only drops their
    // contents. A failure is reported back (true = not done).
    unsafe { libc::madvise((addr as usize + offset) as *mut c_void, length, advice) != 0 }
}

unsafe extern "C" fn hook_purge_lazy(
    _: *mut ffi::extent_hooks_t,
    addr: *mut c_void,
    _: usize,
    offset: usize,
    length: usize,
    _: u32,
) -> bool {
    advise(addr, offset, length, libc::MADV_FREE)
}

/// Returns the pages to the kernel (what keeps RSS near maxmemory after eviction).
unsafe extern "C" fn hook_purge_forced(
    _: *mut ffi::extent_hooks_t,
    addr: *mut c_void,
    _: usize,
    offset: usize,
    length: usize,
    _: u32,
) -> bool {
    advise(addr, offset, length, libc::MADV_DONTNEED)
}

/// Extents are plain address ranges here: splitting and merging need no work.
unsafe extern "C" fn hook_split(
    _: *mut ffi::extent_hooks_t,
    _: *mut c_void,
    _: usize,
    _: usize,
    _: usize,
    _: bool,
    _: u32,
) -> bool {
    false
}

unsafe extern "C" fn hook_merge(
    _: *mut ffi::extent_hooks_t,
    _: *mut c_void,
    _: usize,
    _: *mut c_void,
    _: usize,
    _: bool,
    _: u32,
) -> bool {
    false
}

/// Reserves address space for `count` ranges of `1 << shift` bytes; returns its start.
fn reserve(count: usize, shift: u32) -> Option<usize> {
    let len = count.checked_mul(1usize << shift)?;
    // Aligned to a range so that no range straddles anything odd; PROT_READ|WRITE with
    // MAP_NORESERVE costs nothing until touched.
    let p = map_aligned(len, 1usize << 21);
    (!p.is_null()).then_some(p as usize)
}

/// Creates a jemalloc arena over `region` (leaked, so its hooks stay valid).
fn create_arena(region: Region) -> Option<&'static Region> {
    let region: &'static mut Region = Box::leak(Box::new(region));
    let mut hooks: *mut ffi::extent_hooks_t = &mut region.hooks;
    let mut arena: u32 = 0;
    let mut arena_len = std::mem::size_of::<u32>();
    // SAFETY: mallctl with correctly sized in/out values; the hooks outlive the arena.
    let rc = unsafe {
        ffi::mallctl(
            c"arenas.create".as_ptr(),
            &mut arena as *mut u32 as *mut c_void,
            &mut arena_len,
            &mut hooks as *mut *mut ffi::extent_hooks_t as *mut c_void,
            std::mem::size_of::<*mut ffi::extent_hooks_t>(),
        )
    };
    if rc != 0 {
        return None;
    }
    region.arena = arena;
    Some(region)
}

/// Sets up one arena and range per shard. Does nothing (and answers false) unless
/// [`ShardAlloc`] is the global allocator, or when the address space cannot be reserved.
pub fn init(shards: usize) -> bool {
    if !INSTALLED.load(Ordering::Relaxed) || shards == 0 || shards > MAX_SHARDS {
        return false;
    }
    if REGIONS.get().is_some() {
        return COUNT.load(Ordering::Relaxed) == shards;
    }
    let per_shard_log2 = (RESERVE_TOTAL_LOG2 - (shards.next_power_of_two().trailing_zeros()))
        .min(RESERVE_SHARD_LOG2_MAX);
    let Some(base) = reserve(shards, per_shard_log2) else { return false };
    let mut regions = Vec::with_capacity(shards);
    for i in 0..shards {
        let start = base + (i << per_shard_log2);
        match create_arena(Region::new(start, 1usize << per_shard_log2)) {
            Some(r) => regions.push(r),
            None => return false,
        }
    }
    if REGIONS.set(regions).is_err() {
        return false;
    }
    BASE.store(base, Ordering::Relaxed);
    SHIFT.store(per_shard_log2 as usize, Ordering::Relaxed);
    COUNT.store(shards, Ordering::Release);
    true
}

/// True when [`init`] set up per-shard arenas.
pub fn active() -> bool {
    COUNT.load(Ordering::Acquire) > 0
}

/// Binds the calling thread to shard `id`'s arena; call first thing on the shard's thread.
/// Returns false (thread left as it was) when per-shard arenas are not active.
pub fn bind_current_thread(id: usize) -> bool {
    let Some(region) = REGIONS.get().and_then(|r| r.get(id)) else { return false };
    let mut arena = region.arena;
    // SAFETY: mallctl write of a u32.
    let rc = unsafe {
        ffi::mallctl(
            c"thread.arena".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut arena as *mut u32 as *mut c_void,
            std::mem::size_of::<u32>(),
        )
    };
    if rc != 0 {
        return false;
    }
    let mut cache: u32 = 0;
    let mut cache_len = std::mem::size_of::<u32>();
    // SAFETY: mallctl read of a u32.
    let rc = unsafe {
        ffi::mallctl(
            c"tcache.create".as_ptr(),
            &mut cache as *mut u32 as *mut c_void,
            &mut cache_len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc == 0 {
        FOREIGN_CACHE.set(ffi::MALLOCX_TCACHE(cache as usize));
        FOREIGN_CACHE_ID.set(cache);
    }
    BASELINE.set(thread_net_bytes());
    FOREIGN_FREED.set(0);
    MY_SHARD.set(id);
    true
}

/// Returns every block parked in this shard thread's foreign-free cache to its arena (run
/// from the tick, so they wait at most one tick).
pub fn flush_foreign_cache() {
    let mut id = FOREIGN_CACHE_ID.get();
    if id == u32::MAX {
        return;
    }
    // SAFETY: mallctl write of a u32 naming a cache this thread created.
    unsafe {
        ffi::mallctl(
            c"tcache.flush".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut id as *mut u32 as *mut c_void,
            std::mem::size_of::<u32>(),
        );
    }
}

/// Bytes the calling shard thread holds: what it allocated since it was bound and nobody has
/// freed yet, wherever they are now (its data, its buffers, replies on their way to other
/// shards). Exact: jemalloc's own counters, corrected by the credited foreign frees.
pub fn shard_net_bytes() -> i64 {
    let me = MY_SHARD.get();
    if me == OUTSIDE {
        return thread_net_bytes();
    }
    thread_net_bytes() - BASELINE.get() + FOREIGN_FREED.get() as i64
        - FREED_FOR[me].load(Ordering::Relaxed) as i64
}

/// jemalloc's active bytes (pages holding live allocations, slab holes and thread-cached
/// blocks included) of shard `id`'s arena, as of the last `epoch` refresh.
pub fn arena_active_bytes(id: usize) -> Option<u64> {
    let region = REGIONS.get()?.get(id)?;
    let name = format!("stats.arenas.{}.pactive\0", region.arena);
    // SAFETY: NUL-terminated name of a size_t statistic.
    let pages = unsafe { tikv_jemalloc_ctl::raw::read::<usize>(name.as_bytes()) }.ok()?;
    Some((pages * page_size()) as u64)
}

/// Bytes served from outside the ranges after one ran out (0 unless a shard used its whole
/// range of address space).
pub fn spilled_bytes() -> u64 {
    REGIONS.get().map_or(0, |rs| rs.iter().map(|r| r.spilled.load(Ordering::Relaxed)).sum())
}

thread_local! {
    /// jemalloc's per-thread allocated/deallocated counters, looked up once per thread.
    static COUNTERS: Option<(tikv_jemalloc_ctl::thread::ThreadLocal<u64>, tikv_jemalloc_ctl::thread::ThreadLocal<u64>)> =
        match (tikv_jemalloc_ctl::thread::allocatedp::read(), tikv_jemalloc_ctl::thread::deallocatedp::read()) {
            (Ok(a), Ok(d)) => Some((a, d)),
            _ => None,
        };
}

/// Bytes allocated minus bytes freed by the calling thread, from jemalloc's own counters: a
/// pointer read, cheap enough for every write. Memory freed by another thread than the one
/// that allocated it moves between threads' figures; the sum over all threads stays exact.
pub fn thread_net_bytes() -> i64 {
    COUNTERS.with(|c| c.map(|(a, d)| a.get() as i64 - d.get() as i64).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    // These tests drive jemalloc directly (the test binary's global allocator is the system
    // one), through arenas over small test ranges.

    fn test_arena(len: usize) -> &'static Region {
        let base = reserve(1, len.trailing_zeros()).expect("reserve a test range");
        create_arena(Region::new(base, len)).expect("arenas.create")
    }

    fn arena_flags(r: &Region) -> i32 {
        ffi::MALLOCX_ARENA(r.arena as usize) | ffi::MALLOCX_TCACHE_NONE
    }

    #[test]
    fn arena_memory_comes_from_its_range() {
        let r = test_arena(1 << 30);
        let mut ptrs = Vec::new();
        for size in [8usize, 100, 2000, 5000, 64 << 10, 3 << 20] {
            // SAFETY: plain jemalloc allocation in the test arena.
            let p = unsafe { ffi::mallocx(size, arena_flags(r)) } as usize;
            assert!(p >= r.start && p + size <= r.end, "{size} bytes at {p:#x} outside range");
            ptrs.push((p, size));
        }
        assert!(r.mapped_bytes() > 0);
        for (p, size) in ptrs {
            // SAFETY: freeing what was allocated above with the same flags.
            unsafe { ffi::sdallocx(p as *mut c_void, size, arena_flags(r)) };
        }
    }

    #[test]
    fn an_exhausted_range_spills_to_ordinary_mappings_instead_of_failing() {
        let r = test_arena(4 << 20);
        let mut ptrs = Vec::new();
        for _ in 0..8 {
            // SAFETY: plain jemalloc allocation in the test arena.
            let p = unsafe { ffi::mallocx(1 << 20, arena_flags(r)) };
            assert!(!p.is_null());
            // SAFETY: writing to the block just allocated.
            unsafe { std::ptr::write_bytes(p as *mut u8, 7, 1 << 20) };
            ptrs.push(p);
        }
        assert!(r.spilled.load(Ordering::Relaxed) > 0, "8 MiB cannot fit a 4 MiB range");
        assert!(r.mapped_bytes() <= 4 << 20);
        for p in ptrs {
            // SAFETY: freeing what was allocated above with the same flags.
            unsafe { ffi::sdallocx(p, 1 << 20, arena_flags(r)) };
        }
    }

    #[test]
    fn bump_respects_alignment_and_the_end() {
        let r = Region::new(0x10_0000, 0x10_0000);
        assert_eq!(r.bump(100, 4096), Some(0x10_0000));
        assert_eq!(r.bump(100, 4096), Some(0x10_1000));
        assert_eq!(r.bump(0x10_0000, 4096), None, "would pass the end");
        assert_eq!(r.bump(0x7_f000, 0x8_0000), Some(0x18_0000), "aligned past the hole");
        assert_eq!(r.bump(0x1000, 1), Some(0x1f_f000), "the last page fits exactly");
        assert_eq!(r.bump(1, 1), None, "full");
    }

    #[test]
    fn owner_is_outside_until_ranges_exist() {
        // No test calls `init` (it needs the global allocator), so nothing is owned.
        assert_eq!(owner_of(0), OUTSIDE);
        assert_eq!(owner_of(usize::MAX), OUTSIDE);
        let v = [0u8; 16];
        assert_eq!(owner_of(v.as_ptr() as usize), OUTSIDE);
    }
}
