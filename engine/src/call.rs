//! Running one command on a shard: Redis's `call()`. Looks the handler up, runs it in a
//! [`Ctx`], and journals the command when it changed the keyspace, in the form the handler
//! declared (see the write path in `shard`).
//!
//! ```text
//!   execute(db, argv) ─► check_command ─► execute_spec
//!        no journal:  handler(ctx, argv) ─► Reply                       (one branch extra)
//!        journal:     begin_op ─ dirty₀ ─ handler ─ dirty₁ > dirty₀ ? record(s) ─ end_op
//!                     (lazy deletions the handler caused are records of the same operation)
//! ```
//! Kept apart from `shard` so that the command table (`command`) depends on the shard's
//! context and not the other way round.

use bytes::Bytes;

use crate::command::{CommandSpec, Handler, ShardFn};
use crate::reply::Reply;
use crate::shard::{Propagation, Shard};

impl Shard {
    /// Runs one command on this shard: lookup, arity, then the handler. Commands the net layer
    /// implements answer an error here; the net dispatcher never sends them.
    pub fn execute(&mut self, db: usize, argv: &[Bytes], resp3: bool) -> Reply {
        let spec = match crate::check_command(argv) {
            Ok(spec) => spec,
            Err(reply) => return reply,
        };
        self.execute_spec(spec, db, argv, resp3)
    }

    /// Runs a command whose table entry is known (arity already checked).
    pub fn execute_spec(
        &mut self,
        spec: &CommandSpec,
        db: usize,
        argv: &[Bytes],
        resp3: bool,
    ) -> Reply {
        match spec.handler {
            Handler::Shard(f) if !self.journaling() => f(&mut self.ctx(db, resp3), argv),
            Handler::Shard(f) => self.call_journaled(f, db, argv, resp3),
            Handler::Net => Reply::error(format!(
                "ERR command '{}' is not available in this context",
                spec.name
            )),
        }
    }

    /// The handler, then its records: Redis's `call()` with `alsoPropagate`.
    fn call_journaled(&mut self, f: ShardFn, db: usize, argv: &[Bytes], resp3: bool) -> Reply {
        let dirty_before = self.dirty;
        self.begin_op();
        let mut ctx = self.ctx(db, resp3);
        let reply = f(&mut ctx, argv);
        let propagation = std::mem::take(&mut ctx.propagation);
        if self.dirty != dirty_before {
            match propagation {
                Propagation::AsIs => self.propagate(db, || argv.to_vec()),
                Propagation::Rewritten(list) => {
                    for cmd in list {
                        self.propagate(db, || cmd);
                    }
                }
                Propagation::Prevented => {}
            }
        }
        self.end_op();
        reply
    }
}
