//! mayfly-net: the network side of Mayfly.
//!
//! ```text
//!            accept (shard 0, multishot) ──round robin──► shard k
//!  client ──► conn task on shard k: recv → resp::parse → dispatch ─┬─► Exec on shard k (inline)
//!                                                                  └─► mesh ► Exec on owner ► reply
//!            replies encoded in request order ──► send
//! ```
//! Goals: every core busy with useful work, replies in request order, multi-shard commands
//! atomic. Non-goals here: data structures and command semantics (engine), file formats
//! (persistence).

pub mod admin;
pub mod alloc;
pub mod args;
pub mod client;
pub mod conn;
pub mod dispatch;
pub mod memory;
pub mod pubsub;
pub mod resp;
pub mod rt;
pub mod server;
