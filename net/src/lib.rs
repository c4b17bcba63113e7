//! mayfly-net: the network side of Mayfly, in layers that only depend downwards.
//!
//! ```text
//!   server/  start-up, config, clients, server-level commands, the request dispatcher
//!     │
//!   conn/    accept loop, one task per connection: recv → parse → dispatch → send
//!     │
//!   coord/   routing by key, split/gather/broadcast, MULTI/EXEC/WATCH, blocking commands
//!     │
//!   shard/   the engine shard of this thread: jobs under locks, waiters, watches, events,
//!     │      pub/sub registries, the tick and the shard loop
//!   rt/      io_uring ring, task executor, SPSC mesh, park/notify, timers (no Redis)
//!   mem/     per-shard jemalloc arenas and the memory book (no Redis)
//!   log      the server log in redis-server's line format (no dependencies)
//! ```
//! The RESP codec is its own crate (`mayfly-resp`), shared with the AOF and replication.
//! A request: the connection's task parses it on the shard that accepted it, the dispatcher
//! checks it, the coordinator sends it as a job to the shard that owns its keys (inline when
//! that is this shard), and the reply comes back and is written in request order. Goals:
//! every core busy with useful work, replies in order, multi-shard commands atomic.
//! Non-goals here: data structures and command semantics (engine), file formats
//! (persistence). `docs/ARCHITECTURE.md` walks through it.

pub mod conn;
pub mod coord;
pub mod log;
pub mod mem;
pub mod rt;
pub mod script;
pub mod server;
pub mod shard;
