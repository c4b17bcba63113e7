//! The write path costs nothing without a journal: running a command through
//! `Shard::execute` allocates exactly what its handler allocates when called bare, and a
//! handler that declares a rewritten record (SET EX → SET PXAT) builds nothing. A counting
//! global allocator (this binary's own) counts allocations on the test's thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use mayfly_engine::command::Handler;
use mayfly_engine::reply::Reply;
use mayfly_engine::shard::Shard;
use mayfly_engine::testing::{RecordingJournal, TestShard};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // try_with: the thread-local may already be gone while a thread shuts down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; the caller upholds realloc's contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn args(list: &[&str]) -> Vec<Bytes> {
    list.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
}

/// Allocations made by `f` on this thread (the reply is dropped outside the count).
fn allocations(f: impl FnOnce() -> Reply) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    let reply = f();
    let n = ALLOCATIONS.with(Cell::get) - before;
    drop(reply);
    n
}

/// The command's handler called directly, without `execute`'s wrapping.
fn bare(shard: &mut Shard, argv: &[Bytes]) -> Reply {
    let spec = mayfly_engine::lookup(&argv[0]).expect("known command");
    let Handler::Shard(f) = spec.handler else { panic!("a shard command") };
    f(&mut shard.ctx(0, false), argv)
}

/// Command sequences that leave the data as they found it, so that after a warm-up each run
/// allocates the same.
const REPEATABLE: &[&[&[&str]]] = &[
    &[&["SET", "k", "value"]],
    &[&["SET", "k", "value", "EX", "100"]],
    &[&["SET", "k", "value", "PX", "100", "GET"]],
    &[&["GET", "k"]],
    &[&["INCR", "n"]],
    &[&["INCRBY", "n", "5"]],
    &[&["EXPIRE", "k", "100"]],
    &[&["HSET", "h", "f", "v"]],
    &[&["SADD", "s", "a"], &["SPOP", "s"]],
    &[&["ZADD", "z", "1", "m"], &["ZPOPMIN", "z"]],
    &[&["LPUSH", "l", "a"], &["LPOP", "l"]],
    &[&["RPUSH", "l", "a"], &["BLPOP", "l", "0"]],
];

#[test]
fn execute_adds_no_allocation_to_the_handler_without_a_journal() {
    let mut t = TestShard::new();
    t.run(&["RPUSH", "l", "x", "y", "z"]);
    for sequence in REPEATABLE {
        let sequence: Vec<Vec<Bytes>> = sequence.iter().map(|argv| args(argv)).collect();
        for argv in sequence.iter().chain(&sequence) {
            t.run_bytes(argv);
        }
        let mut handler = 0;
        let mut executed = 0;
        for argv in &sequence {
            handler += allocations(|| bare(&mut t.shard, argv));
        }
        for argv in &sequence {
            executed += allocations(|| t.shard.execute(0, argv, false));
        }
        assert_eq!(executed, handler, "{sequence:?}: execute vs the bare handler");
    }
}

#[test]
fn a_rewritten_record_is_built_only_with_a_journal() {
    let mut t = TestShard::new();
    let plain = args(&["SET", "k", "value"]);
    let with_ttl = args(&["SET", "k", "value", "EX", "100"]);
    t.run_bytes(&plain);
    let set = allocations(|| t.shard.execute(0, &plain, false));
    let set_ex = allocations(|| t.shard.execute(0, &with_ttl, false));
    assert_eq!(set_ex, set, "SET EX builds its SET PXAT record only for a journal");
    assert!(set <= 1, "an overwriting SET allocates the key only: {set}");

    let journal = RecordingJournal::attach(&mut t.shard);
    let journaled = allocations(|| t.shard.execute(0, &with_ttl, false));
    assert!(journaled > set_ex, "the counter sees the record being built: {journaled}");
    assert_eq!(journal.len(), 1);
}
