//! Bounded reads of sysfs/procfs files below a configurable root.
//!
//! Production uses `/`; tests point the same code at fixture trees. Every read is capped in
//! size and every directory listing in length, so a strange or hostile tree cannot make the
//! tool allocate without bound. Missing files are `None`, never errors: callers decide the
//! fallback.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest file read (a `/proc/interrupts` on a 512-CPU box with many devices is a few MiB).
const MAX_FILE_BYTES: u64 = 16 << 20;
/// Most entries taken from one directory listing.
const MAX_DIR_ENTRIES: usize = 100_000;

#[derive(Debug, Clone)]
pub struct SysRoot {
    base: PathBuf,
}

impl SysRoot {
    pub fn new(base: &Path) -> SysRoot {
        SysRoot { base: base.to_path_buf() }
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    /// `rel` is an absolute-looking path such as `/proc/sys/vm/swappiness`; it is joined
    /// below the root (leading slashes are dropped so it never escapes to the real `/`).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.base.join(rel.trim_start_matches('/'))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    /// The file's contents, or `None` if it is missing, unreadable, not UTF-8 or too large.
    pub fn read(&self, rel: &str) -> Option<String> {
        read_bounded(&self.path(rel))
    }

    /// The file's contents with surrounding whitespace removed.
    pub fn read_trimmed(&self, rel: &str) -> Option<String> {
        self.read(rel).map(|s| s.trim().to_string())
    }

    pub fn read_i64(&self, rel: &str) -> Option<i64> {
        self.read_trimmed(rel)?.parse().ok()
    }

    /// Names in a directory, sorted, at most [`MAX_DIR_ENTRIES`]. Missing dir → empty.
    pub fn list(&self, rel: &str) -> Vec<String> {
        list_dir(&self.path(rel))
    }
}

pub fn read_bounded(path: &Path) -> Option<String> {
    let file = fs::File::open(path).ok()?;
    let mut buf = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut buf).ok()?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return None;
    }
    String::from_utf8(buf).ok()
}

pub fn list_dir(path: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(path) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .take(MAX_DIR_ENTRIES)
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// `cpu12` with prefix `cpu` → `Some(12)`; `cpufreq` → `None`.
pub fn numbered(name: &str, prefix: &str) -> Option<usize> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names_need_digits_only() {
        assert_eq!(numbered("cpu12", "cpu"), Some(12));
        assert_eq!(numbered("cpufreq", "cpu"), None);
        assert_eq!(numbered("cpu", "cpu"), None);
        assert_eq!(numbered("node1", "node"), Some(1));
    }

    #[test]
    fn paths_stay_below_the_root() {
        let root = SysRoot::new(Path::new("/tmp/fixture"));
        assert_eq!(
            root.path("/proc/sys/vm/swappiness"),
            Path::new("/tmp/fixture/proc/sys/vm/swappiness")
        );
        assert_eq!(root.path("sys/kernel"), Path::new("/tmp/fixture/sys/kernel"));
    }
}
