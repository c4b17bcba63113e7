//! The cost of the write path per command: SET and INCR through `Shard::execute` with no
//! journal attached (the configuration every node runs until persistence or replication is
//! on), and with a journal that only counts records (the cost of building each record).
//!
//! `cargo bench -p mayfly-engine --bench write_path`

use std::hint::black_box;

use bytes::Bytes;
use criterion::Criterion;
use mayfly_engine::journal::{Journal, Record};
use mayfly_engine::testing::TestShard;

/// Drops records, counting them: what a consumer with a free buffer costs the shard.
struct Counter(u64);

impl Journal for Counter {
    fn append(&mut self, record: Record) {
        self.0 += black_box(record).lsn & 1;
    }
}

fn args(list: &[&str]) -> Vec<Bytes> {
    list.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
}

fn bench(c: &mut Criterion, name: &str, argv: &[&str], journal: bool) {
    let mut t = TestShard::new();
    if journal {
        t.shard.set_journal(Some(Box::new(Counter(0))));
    }
    let argv = args(argv);
    t.run_bytes(&argv);
    c.bench_function(name, |b| b.iter(|| black_box(t.shard.execute(0, black_box(&argv), false))));
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, "set_overwrite", &["SET", "key:000001", "value-of-sixteen"], false);
    bench(&mut c, "set_ex_overwrite", &["SET", "key:000001", "value", "EX", "100"], false);
    bench(&mut c, "incr", &["INCR", "counter"], false);
    bench(&mut c, "set_overwrite_journaled", &["SET", "key:000001", "value-of-sixteen"], true);
    bench(&mut c, "set_ex_overwrite_journaled", &["SET", "key:000001", "value", "EX", "100"], true);
    bench(&mut c, "incr_journaled", &["INCR", "counter"], true);
    c.final_summary();
}
