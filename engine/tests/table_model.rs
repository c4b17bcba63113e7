//! Model test: the segmented keyspace table against `std::collections::HashMap`.
//!
//! Tiny segment capacities force many splits and directory doublings with few keys; the SCAN
//! property interleaves random writes between scan calls and checks the guarantee: every key
//! present for the whole scan is visited at least once and nothing never present is visited.

use std::collections::{HashMap, HashSet};

use mayfly_engine::table::Table;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Insert(u16, u32),
    Remove(u16),
    Get(u16),
    GetMut(u16, u32),
    Retain(u8),
    Clear,
}

fn key(k: u16) -> Vec<u8> {
    format!("key:{k}").into_bytes()
}

fn op(key_space: u16) -> impl Strategy<Value = Op> {
    prop_oneof![
        40 => (0..key_space, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        20 => (0..key_space).prop_map(Op::Remove),
        20 => (0..key_space).prop_map(Op::Get),
        5 => (0..key_space, any::<u32>()).prop_map(|(k, v)| Op::GetMut(k, v)),
        2 => any::<u8>().prop_map(Op::Retain),
        1 => Just(Op::Clear),
    ]
}

fn check_same(table: &Table<u32>, model: &HashMap<Vec<u8>, u32>) {
    assert_eq!(table.len(), model.len());
    assert_eq!(table.is_empty(), model.is_empty());
    let mut seen = HashMap::new();
    for (k, v) in table.iter() {
        assert!(seen.insert(k.to_vec(), *v).is_none(), "iter yielded {k:?} twice");
    }
    assert_eq!(&seen, model);
    table.validate().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn operations_match_the_model(
        capacity in prop_oneof![Just(2usize), Just(3), Just(8), Just(64)],
        seed in any::<u64>(),
        ops in prop::collection::vec(op(600), 1..1500),
    ) {
        let mut table = Table::with_segment_capacity(seed, seed.rotate_left(17), capacity);
        let mut model: HashMap<Vec<u8>, u32> = HashMap::new();
        for (i, op) in ops.iter().enumerate() {
            match *op {
                Op::Insert(k, v) => {
                    prop_assert_eq!(table.insert(key(k).into(), v), model.insert(key(k), v));
                }
                Op::Remove(k) => {
                    let got = table.remove(&key(k)).map(|(k, v)| (k.to_vec(), v));
                    prop_assert_eq!(got, model.remove_entry(&key(k)));
                }
                Op::Get(k) => {
                    prop_assert_eq!(table.get(&key(k)), model.get(&key(k)));
                    prop_assert_eq!(table.contains_key(&key(k)), model.contains_key(&key(k)));
                }
                Op::GetMut(k, v) => {
                    let got = table.get_mut(&key(k)).map(|x| std::mem::replace(x, v));
                    let want = model.get_mut(&key(k)).map(|x| std::mem::replace(x, v));
                    prop_assert_eq!(got, want);
                }
                Op::Retain(m) => {
                    let m = u32::from(m) + 1;
                    table.retain(|_, v| *v % m != 0);
                    model.retain(|_, v| *v % m != 0);
                }
                Op::Clear => {
                    table.clear();
                    model.clear();
                }
            }
            prop_assert_eq!(table.len(), model.len());
            // Full comparison is O(n); do it every few ops and at the end.
            if i % 50 == 0 || i + 1 == ops.len() {
                check_same(&table, &model);
            }
        }
    }

    #[test]
    fn scan_sees_every_stable_key(
        capacity in prop_oneof![Just(2usize), Just(4), Just(16), Just(128)],
        seed in any::<u64>(),
        initial in 0u16..1500,
        counts in prop::collection::vec(0usize..40, 1..64),
        writes in prop::collection::vec((any::<bool>(), 0u16..3000), 0..400),
    ) {
        let mut table = Table::with_segment_capacity(seed, !seed, capacity);
        let mut ever: HashSet<Vec<u8>> = HashSet::new();
        for k in 0..initial {
            table.insert(key(k).into(), u32::from(k));
            ever.insert(key(k));
        }
        // Keys present for the whole scan: present at the start and never removed.
        let mut stable: HashSet<Vec<u8>> = ever.clone();
        let mut visited: HashSet<Vec<u8>> = HashSet::new();
        let mut cursor = 0u64;
        let mut call = 0usize;
        let mut writes = writes.into_iter();
        loop {
            let count = counts[call % counts.len()];
            cursor = table.scan(cursor, count, |k, _| {
                visited.insert(k.to_vec());
            });
            call += 1;
            if cursor == 0 {
                break;
            }
            prop_assert!(cursor < 1 << mayfly_engine::table::CURSOR_BITS);
            prop_assert!(call < 100_000, "scan does not terminate");
            for (insert, k) in writes.by_ref().take(7) {
                if insert {
                    table.insert(key(k).into(), u32::from(k));
                    ever.insert(key(k));
                } else {
                    table.remove(&key(k));
                    stable.remove(&key(k));
                }
            }
        }
        for k in &stable {
            prop_assert!(visited.contains(k), "stable key {:?} not visited", String::from_utf8_lossy(k));
        }
        for k in &visited {
            prop_assert!(ever.contains(k), "visited {:?} that never existed", String::from_utf8_lossy(k));
        }
        table.validate().unwrap();
    }

    #[test]
    fn scan_of_a_quiet_table_visits_each_key_once_in_order(
        capacity in prop_oneof![Just(2usize), Just(8), Just(896)],
        seed in any::<u64>(),
        n in 0u16..2000,
        count in 0usize..50,
    ) {
        let mut table = Table::with_segment_capacity(seed, seed ^ 0x55, capacity);
        for k in 0..n {
            table.insert(key(k).into(), u32::from(k));
        }
        let mut order = Vec::new();
        let mut cursor = 0;
        loop {
            let before = order.len();
            let start = cursor;
            cursor = table.scan(cursor, count, |k, _| order.push(k.to_vec()));
            // Each call visits positions in [start, cursor) only.
            for k in &order[before..] {
                let p = table.position_of(k);
                prop_assert!(p >= start && (cursor == 0 || p < cursor));
            }
            if cursor == 0 {
                break;
            }
        }
        prop_assert_eq!(order.len(), usize::from(n));
        let unique: HashSet<_> = order.iter().collect();
        prop_assert_eq!(unique.len(), usize::from(n));
        let positions: Vec<u64> = order.iter().map(|k| table.position_of(k)).collect();
        prop_assert!(positions.windows(2).all(|w| w[0] <= w[1]));
    }
}
