//! The two sort orders Redis's replies inherit from C: glibc's `qsort` (a top-down merge sort,
//! so stable) and Redis's own partial quicksort `pqsort` (Bentley & McIlroy's "Engineering a
//! Sort Function" restricted to the partitions that overlap a wanted range).
//!
//! Why not `slice::sort_by`: where the comparator calls elements equal (GEO points at the
//! same distance, SORT … BY … ALPHA with missing weights), the order they come out in is part
//! of Redis's reply, and `pqsort` is not stable; so the algorithm has to be the same one.
//! Comparators here may also be inconsistent (a NaN distance compares "less" both ways):
//! unlike the standard library's sorts these never panic on that, they just finish, as C does.
//!
//! Both sort an index permutation (`u32`s are cheap to move), then apply it.

use std::cmp::Ordering;

/// Sorts `items` as glibc 2.36's `qsort` does (merge sort, `cmp <= 0` takes the left run).
pub fn qsort_by<T>(items: &mut Vec<T>, mut cmp: impl FnMut(&T, &T) -> Ordering) {
    if items.len() < 2 {
        return;
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    let mut tmp = Vec::with_capacity(items.len());
    merge_sort(&mut order, &mut tmp, &mut |a, b| cmp(&items[a], &items[b]));
    apply(items, &order);
}

/// Sorts `items` as Redis's `pqsort(…, lrange, rrange)` does: afterwards positions
/// `lrange..=rrange` hold what a full sort would put there; the rest are partitioned around
/// them in an unspecified order. The bounds are signed because SORT passes `end = start - 1`
/// for an empty LIMIT (even -1), which C compares as addresses; see [`overlaps`].
pub fn pqsort_by<T>(
    items: &mut Vec<T>,
    lrange: i64,
    rrange: i64,
    mut cmp: impl FnMut(&T, &T) -> Ordering,
) {
    if items.len() < 2 {
        return;
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    let n = order.len();
    partial_quicksort(&mut order, 0, n, lrange, rrange, &mut |a, b| cmp(&items[a], &items[b]));
    apply(items, &order);
}

/// Reorders `items` so that position i holds the old `items[order[i]]`.
fn apply<T>(items: &mut Vec<T>, order: &[usize]) {
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    for &i in order {
        if let Some(item) = slots.get_mut(i).and_then(Option::take) {
            items.push(item);
        }
    }
    debug_assert_eq!(items.len(), slots.len(), "order is a permutation");
}

fn merge_sort(
    v: &mut [usize],
    tmp: &mut Vec<usize>,
    cmp: &mut impl FnMut(usize, usize) -> Ordering,
) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    merge_sort(&mut v[..n1], tmp, cmp);
    merge_sort(&mut v[n1..], tmp, cmp);
    tmp.clear();
    let (mut i, mut j) = (0, n1);
    while i < n1 && j < n {
        if cmp(v[i], v[j]) != Ordering::Greater {
            tmp.push(v[i]);
            i += 1;
        } else {
            tmp.push(v[j]);
            j += 1;
        }
    }
    // What is left of the right run is already in place.
    tmp.extend_from_slice(&v[i..n1]);
    v[..tmp.len()].copy_from_slice(tmp);
}

/// The median of three positions, with Bentley & McIlroy's comparisons.
fn med3(
    v: &[usize],
    a: usize,
    b: usize,
    c: usize,
    cmp: &mut impl FnMut(usize, usize) -> Ordering,
) -> usize {
    if cmp(v[a], v[b]) == Ordering::Less {
        if cmp(v[b], v[c]) == Ordering::Less {
            b
        } else if cmp(v[a], v[c]) == Ordering::Less {
            c
        } else {
            a
        }
    } else if cmp(v[b], v[c]) == Ordering::Greater {
        b
    } else if cmp(v[a], v[c]) == Ordering::Less {
        a
    } else {
        c
    }
}

/// Swaps `n` positions pairwise from `a` and `b` upwards.
fn swap_runs(v: &mut [usize], a: usize, b: usize, n: usize) {
    for k in 0..n {
        v.swap(a + k, b + k);
    }
}

/// Sorts positions `base..base + n` of `v`, recursing only into partitions that overlap
/// `lrange..=rrange`. Positions stay inside `base..base + n` throughout (pb ≥ base + 1 and
/// pc ≥ pb - 1 bound every decrement).
/// Whether positions `start..start + len` must be sorted for the wanted range `l..=r`. C
/// compares byte addresses: the range spans `l·es ..= (r + 1)·es - 1` and the partition
/// `start·es ..= (start + len)·es - 1`, and it recurses unless both range ends lie before the
/// partition or both after it. With `es = 2` the same comparisons hold in integers, including
/// `r = l - 1`.
fn overlaps(l: i64, r: i64, start: usize, len: usize) -> bool {
    let (lo, hi) = (2 * l, 2 * (r + 1) - 1);
    let (first, last) = (2 * start as i64, 2 * (start + len) as i64 - 1);
    !((lo < first && hi < first) || (lo > last && hi > last))
}

fn partial_quicksort(
    v: &mut [usize],
    mut base: usize,
    mut n: usize,
    lrange: i64,
    rrange: i64,
    cmp: &mut impl FnMut(usize, usize) -> Ordering,
) {
    loop {
        if n < 7 {
            for m in base + 1..base + n {
                let mut l = m;
                while l > base && cmp(v[l - 1], v[l]) == Ordering::Greater {
                    v.swap(l, l - 1);
                    l -= 1;
                }
            }
            return;
        }
        let mut pm = base + n / 2;
        if n > 7 {
            let mut pl = base;
            let mut pn = base + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(base, pm);
        let (mut pa, mut pb) = (base + 1, base + 1);
        let (mut pc, mut pd) = (base + n - 1, base + n - 1);
        loop {
            while pb <= pc {
                let r = cmp(v[pb], v[base]);
                if r == Ordering::Greater {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let r = cmp(v[pc], v[base]);
                if r == Ordering::Less {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = base + n;
        let r = (pa - base).min(pb - pa);
        swap_runs(v, base, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        swap_runs(v, pb, pn - r, r);
        let left = pb - pa;
        if left > 1 && overlaps(lrange, rrange, base, left) {
            partial_quicksort(v, base, left, lrange, rrange, cmp);
        }
        let right = pd - pc;
        if right > 1 && overlaps(lrange, rrange, pn - right, right) {
            base = pn - right;
            n = right;
            continue;
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qsort_is_stable() {
        let mut v: Vec<(u8, u32)> = (0..200u32).map(|i| ((i * 7 % 5) as u8, i)).collect();
        qsort_by(&mut v, |a, b| a.0.cmp(&b.0));
        for w in v.windows(2) {
            assert!(w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1));
        }
    }

    #[test]
    fn pqsort_sorts_the_wanted_range() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in [0usize, 1, 2, 6, 7, 8, 40, 41, 100, 1000] {
            for (l, r) in [(0i64, 0i64), (0, 9), (3, 5), (0, len as i64 - 1), (4, 3), (0, -1)] {
                let mut v: Vec<u32> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        (seed % 50) as u32
                    })
                    .collect();
                let mut sorted = v.clone();
                sorted.sort();
                pqsort_by(&mut v, l, r, |a, b| a.cmp(b));
                let end = ((r + 1).max(0) as usize).min(len);
                let l = l as usize;
                if l < end {
                    assert_eq!(v[l..end], sorted[l..end], "len {len} range {l}..={r}");
                }
                let mut all = v.clone();
                all.sort();
                assert_eq!(all, sorted, "a permutation");
            }
        }
    }

    #[test]
    fn inconsistent_comparators_do_not_panic() {
        let mut v: Vec<f64> =
            (0..500).map(|i| if i % 3 == 0 { f64::NAN } else { i as f64 }).collect();
        let cmp = |a: &f64, b: &f64| {
            if a > b {
                Ordering::Greater
            } else if a == b {
                Ordering::Equal
            } else {
                Ordering::Less
            }
        };
        qsort_by(&mut v, cmp);
        pqsort_by(&mut v, 0, 10, cmp);
        assert_eq!(v.len(), 500);
    }
}
