//! A counting global allocator for memory-per-element tests: live heap bytes of the current
//! thread, requested and rounded to jemalloc's size classes. Include with
//! `#[path = "support/counting_alloc.rs"] mod counting_alloc;` — it installs itself as the test
//! binary's global allocator. Each test binary reads the count it needs, so unused items are
//! expected.

#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts live heap bytes of the current thread (requested, and rounded to jemalloc's size
/// classes), so the memory test can report bytes per member independent of the system
/// allocator and of tests running on other threads.
struct Counting;

thread_local! {
    static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
    static LIVE_JEMALLOC_BYTES: Cell<isize> = const { Cell::new(0) };
}

/// jemalloc 5's size classes (16-byte quantum): 8, 16, 32, 48, …, 128, then four classes per
/// doubling.
fn jemalloc_class(size: usize) -> usize {
    if size <= 8 {
        return 8;
    }
    if size <= 128 {
        return size.div_ceil(16) * 16;
    }
    let group = (usize::BITS - (size - 1).leading_zeros()) as usize; // 2^group ≥ size
    let step = 1usize << (group - 3);
    size.div_ceil(step) * step
}

fn count(size: usize, sign: isize) {
    // try_with: the thread-local may already be gone while a thread shuts down.
    let _ = LIVE_BYTES.try_with(|c| c.set(c.get() + sign * size as isize));
    let _ = LIVE_JEMALLOC_BYTES.try_with(|c| c.set(c.get() + sign * jemalloc_class(size) as isize));
}

/// Live bytes of this thread: (as requested, rounded to jemalloc's size classes).
pub fn live_bytes() -> (isize, isize) {
    (requested_bytes(), jemalloc_bytes())
}

/// Live bytes of this thread as requested from the allocator.
pub fn requested_bytes() -> isize {
    LIVE_BYTES.with(Cell::get)
}

/// Live bytes of this thread rounded up to jemalloc's size classes, which is what
/// redis-server's `used_memory` counts.
pub fn jemalloc_bytes() -> isize {
    LIVE_JEMALLOC_BYTES.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 1);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(layout.size(), -1);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    // Forwarded rather than left to the default (alloc, copy, dealloc) so growing a large
    // buffer can stay in place, as it would under the real allocator.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds realloc's contract.
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if !moved.is_null() {
            count(layout.size(), -1);
            count(new_size, 1);
        }
        moved
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;
