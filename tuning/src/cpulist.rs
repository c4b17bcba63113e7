//! The kernel's list syntax for CPU and node sets (`0-3,8,10-11`), as found in
//! `cpu/online`, `node*/cpulist`, `thread_siblings_list`, `Cpus_allowed_list` and
//! `/proc/irq/*/smp_affinity_list`, plus the hex mask form (`ff,00000003`).
//!
//! Input comes from files we do not control (and from fixture trees), so parsing is bounded:
//! ids above [`MAX_CPU_ID`] are rejected instead of allocating huge sets.

/// Largest CPU or node id accepted. The kernel's `NR_CPUS` tops out at 8192 in distro
/// configs; this leaves headroom while keeping a malicious `0-4294967295` harmless.
pub const MAX_CPU_ID: usize = 65_535;

/// Parses `0-3,8,10-11` (also the `a-b:stride/group` form the kernel accepts on input).
/// Returns a sorted list without duplicates. An empty or whitespace string is an empty set.
pub fn parse_list(text: &str) -> Option<Vec<usize>> {
    let text = text.trim();
    let mut out = Vec::new();
    if text.is_empty() {
        return Some(out);
    }
    for part in text.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (range, stride) = match part.split_once(':') {
            Some((range, rest)) => {
                let (used, group) = rest.split_once('/')?;
                let used: usize = used.trim().parse().ok()?;
                let group: usize = group.trim().parse().ok()?;
                if used == 0 || group == 0 || used > group {
                    return None;
                }
                (range, Some((used, group)))
            }
            None => (part, None),
        };
        let (lo, hi) = match range.split_once('-') {
            Some((a, b)) => (a.trim().parse::<usize>().ok()?, b.trim().parse::<usize>().ok()?),
            None => {
                let v = range.trim().parse::<usize>().ok()?;
                (v, v)
            }
        };
        if lo > hi || hi > MAX_CPU_ID {
            return None;
        }
        for id in lo..=hi {
            let keep = match stride {
                Some((used, group)) => (id - lo) % group < used,
                None => true,
            };
            if keep {
                out.push(id);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// Parses the comma-grouped hex mask form (`/proc/irq/*/smp_affinity`, `Cpus_allowed`):
/// 32-bit groups, most significant first.
pub fn parse_mask(text: &str) -> Option<Vec<usize>> {
    let groups: Vec<&str> = text.trim().split(',').collect();
    if groups.len() > MAX_CPU_ID / 32 + 1 {
        return None;
    }
    let mut out = Vec::new();
    for (rank, group) in groups.iter().rev().enumerate() {
        let group = group.trim();
        if group.is_empty() || group.len() > 8 {
            return None;
        }
        let bits = u32::from_str_radix(group, 16).ok()?;
        for bit in 0..32 {
            if bits & (1 << bit) != 0 {
                out.push(rank * 32 + bit);
            }
        }
    }
    out.sort_unstable();
    Some(out)
}

/// Formats a set in the kernel's list syntax, collapsing runs: `[0,1,2,5]` → `0-2,5`.
pub fn format_list(ids: &[usize]) -> String {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_ranges_and_singles() {
        assert_eq!(parse_list("0-3,8,10-11\n"), Some(vec![0, 1, 2, 3, 8, 10, 11]));
        assert_eq!(parse_list("5"), Some(vec![5]));
        assert_eq!(parse_list(""), Some(vec![]));
        assert_eq!(parse_list("3,1,1-2"), Some(vec![1, 2, 3]));
        assert_eq!(parse_list("0-7:2/4"), Some(vec![0, 1, 4, 5]));
    }

    #[test]
    fn lists_reject_garbage_and_huge_ranges() {
        assert_eq!(parse_list("a-b"), None);
        assert_eq!(parse_list("3-1"), None);
        assert_eq!(parse_list("0-4294967295"), None);
        assert_eq!(parse_list("0-3:0/4"), None);
        assert_eq!(parse_list("-1"), None);
    }

    #[test]
    fn masks_parse_groups_most_significant_first() {
        assert_eq!(parse_mask("3"), Some(vec![0, 1]));
        assert_eq!(parse_mask("00000001,80000000"), Some(vec![31, 32]));
        assert_eq!(parse_mask("xyz"), None);
        assert_eq!(parse_mask("123456789"), None);
    }

    #[test]
    fn format_collapses_runs_and_round_trips() {
        assert_eq!(format_list(&[5, 0, 1, 2]), "0-2,5");
        assert_eq!(format_list(&[]), "");
        assert_eq!(format_list(&[7]), "7");
        let ids = vec![0, 2, 3, 4, 9, 10, 63];
        assert_eq!(parse_list(&format_list(&ids)), Some(ids));
    }
}
