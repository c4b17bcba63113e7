//! Redis 7's append-only file, the byte formats: the manifest of a multi-part AOF directory
//! and the RESP command stream of its base and incr files (plus the pre-7.0 single file,
//! with or without an RDB preamble). No file lifecycle here: the server opens, writes,
//! syncs and renames.
//!
//! ```text
//!  appendonlydir/appendonly.aof.manifest   "file <name> seq <n> type b|h|i" per line
//!  appendonly.aof.<seq>.base.rdb|.aof      the dataset at a rewrite (RDB preamble or RESP)
//!  appendonly.aof.<seq>.incr.aof           RESP commands since; "#..." annotation lines
//! ```

use bytes::Bytes;

/// The kind of a file listed in the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    Base,
    History,
    Incr,
}

impl FileType {
    fn letter(self) -> char {
        match self {
            FileType::Base => 'b',
            FileType::History => 'h',
            FileType::Incr => 'i',
        }
    }
}

/// One line of the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestEntry {
    pub name: String,
    pub seq: u64,
    pub kind: FileType,
}

/// A parsed manifest, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub entries: Vec<ManifestEntry>,
}

impl Manifest {
    /// Parses the manifest text as Redis 7.0 does (`aofLoadManifestFromFile`): key/value
    /// pairs per line, `#` comments, names may be quoted. Err carries Redis's message.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut entries = Vec::new();
        let mut bases = 0;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words = split_words(line).ok_or("Invalid AOF manifest file format")?;
            if words.len() % 2 != 0 {
                return Err("Invalid AOF manifest file format".into());
            }
            let (mut name, mut seq, mut kind) = (None, None, None);
            for pair in words.chunks(2) {
                match pair[0].as_str() {
                    "file" => name = Some(pair[1].clone()),
                    "seq" => seq = pair[1].parse::<u64>().ok(),
                    "type" => {
                        kind = match pair[1].as_str() {
                            "b" => Some(FileType::Base),
                            "h" => Some(FileType::History),
                            "i" => Some(FileType::Incr),
                            _ => None,
                        }
                    }
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err("Invalid AOF manifest file format".into());
            };
            if name.contains('/') {
                return Err("File can't be a path, just a filename".into());
            }
            if kind == FileType::Base {
                bases += 1;
                if bases > 1 {
                    return Err("Found duplicate base file information".into());
                }
            }
            entries.push(ManifestEntry { name, seq, kind });
        }
        if entries.is_empty() {
            return Err("Found an empty AOF manifest".into());
        }
        Ok(Manifest { entries })
    }

    /// The manifest text: base first, then history, then incr files (Redis's order).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for kind in [FileType::Base, FileType::History, FileType::Incr] {
            for e in self.entries.iter().filter(|e| e.kind == kind) {
                out.push_str(&format!("file {} seq {} type {}\n", e.name, e.seq, kind.letter()));
            }
        }
        out
    }

    pub fn base(&self) -> Option<&ManifestEntry> {
        self.entries.iter().find(|e| e.kind == FileType::Base)
    }

    /// The incr files in manifest order.
    pub fn incrs(&self) -> impl Iterator<Item = &ManifestEntry> {
        self.entries.iter().filter(|e| e.kind == FileType::Incr)
    }

    pub fn max_incr_seq(&self) -> u64 {
        self.incrs().map(|e| e.seq).max().unwrap_or(0)
    }
}

/// Splits a manifest line into words (sdssplitargs-like: spaces, double quotes).
fn split_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else { return Some(words) };
        let mut w = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => w.push(chars.next()?),
                    c => w.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
        }
        words.push(w);
    }
}

/// Base file name for `appendfilename` and `seq` (RDB preamble or RESP).
pub fn base_name(prefix: &str, seq: u64, rdb: bool) -> String {
    format!("{prefix}.{seq}.base.{}", if rdb { "rdb" } else { "aof" })
}

/// Incr file name for `appendfilename` and `seq`.
pub fn incr_name(prefix: &str, seq: u64) -> String {
    format!("{prefix}.{seq}.incr.aof")
}

/// Appends `argv` as a RESP array of bulk strings (the AOF's command form).
pub fn encode_command<A: AsRef<[u8]>>(argv: &[A], out: &mut Vec<u8>) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(argv.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in argv {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(itoa::Buffer::new().format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// How a RESP command stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// Every byte belongs to a complete command.
    Clean,
    /// The input ends inside a command (or inside an open MULTI): `valid_up_to` is where
    /// the complete part ends (the start of the cut command or of the open MULTI);
    /// `in_multi` says the cut is an unterminated transaction.
    Truncated { valid_up_to: usize, in_multi: bool },
    /// Bytes that are not a command (Redis: "Bad file format reading the append only file").
    Bad { offset: usize },
}

/// One command of a stream with its byte range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub argv: Vec<Bytes>,
    /// `#MF-TX <txid> <parts>` right before this command (a MULTI): Mayfly's mark of one
    /// part of a transaction over several shards.
    pub tx_tag: Option<(u64, u32)>,
    pub start: usize,
    pub end: usize,
}

/// The commands of a RESP stream (annotation lines `#...\r\n` skipped), and how it ended.
/// Commands of an unterminated MULTI at the tail are not returned: the whole transaction is
/// the cut tail.
pub fn parse_commands(data: &Bytes) -> (Vec<Command>, StreamEnd) {
    let mut cmds: Vec<Command> = Vec::new();
    let mut pos = 0;
    // Index into `cmds` and byte offset of the open MULTI.
    let mut multi_at: Option<(usize, usize)> = None;
    let mut tag: Option<(u64, u32)> = None;
    let end = loop {
        if pos >= data.len() {
            break match multi_at {
                Some((_, off)) => StreamEnd::Truncated { valid_up_to: off, in_multi: true },
                None => StreamEnd::Clean,
            };
        }
        match parse_one(data, pos) {
            Parse::Annotation(next) => {
                tag = tx_tag(&data[pos..next]);
                pos = next;
            }
            Parse::Command(argv, next) => {
                let is = |w: &[u8]| argv.len() == 1 && argv[0].eq_ignore_ascii_case(w);
                if is(b"multi") && multi_at.is_none() {
                    multi_at = Some((cmds.len(), pos));
                } else if is(b"exec") {
                    multi_at = None;
                }
                cmds.push(Command { argv, tx_tag: tag.take(), start: pos, end: next });
                pos = next;
            }
            Parse::Short => {
                break match multi_at {
                    Some((_, off)) => StreamEnd::Truncated { valid_up_to: off, in_multi: true },
                    None => StreamEnd::Truncated { valid_up_to: pos, in_multi: false },
                };
            }
            Parse::Bad(at) => break StreamEnd::Bad { offset: at },
        }
    };
    if let (Some((idx, _)), StreamEnd::Truncated { .. }) = (multi_at, &end) {
        cmds.truncate(idx);
    }
    (cmds, end)
}

/// `#MF-TX <txid> <parts>\r\n`.
fn tx_tag(line: &[u8]) -> Option<(u64, u32)> {
    let text = std::str::from_utf8(line).ok()?.trim_end();
    let mut words = text.strip_prefix("#MF-TX ")?.split(' ');
    let txid = words.next()?.parse().ok()?;
    let parts = words.next()?.parse().ok()?;
    Some((txid, parts))
}

enum Parse {
    Annotation(usize),
    Command(Vec<Bytes>, usize),
    Short,
    Bad(usize),
}

/// Reads a `<prefix><decimal>\r\n` line at `pos`: (value, next position).
fn read_len(data: &[u8], pos: usize, prefix: u8) -> Result<Option<(u64, usize)>, usize> {
    if pos >= data.len() {
        return Ok(None);
    }
    if data[pos] != prefix {
        return Err(pos);
    }
    let Some(nl) = data[pos..].iter().position(|&b| b == b'\n') else {
        // No line end yet: short if what is there could still be a number line.
        return if data.len() - pos > 24 { Err(pos) } else { Ok(None) };
    };
    let line = &data[pos + 1..pos + nl];
    let line = line.strip_suffix(b"\r").ok_or(pos)?;
    if line.is_empty() || line.len() > 20 || !line.iter().all(|b| b.is_ascii_digit()) {
        return Err(pos);
    }
    let v = std::str::from_utf8(line).ok().and_then(|s| s.parse::<u64>().ok()).ok_or(pos)?;
    Ok(Some((v, pos + nl + 1)))
}

fn parse_one(data: &Bytes, pos: usize) -> Parse {
    if data[pos] == b'#' {
        return match data[pos..].iter().position(|&b| b == b'\n') {
            Some(nl) => Parse::Annotation(pos + nl + 1),
            None => Parse::Short,
        };
    }
    let (n, mut at) = match read_len(data, pos, b'*') {
        Ok(Some((n, next))) if n >= 1 => (n, next),
        Ok(Some(_)) | Err(_) => return Parse::Bad(pos),
        Ok(None) => return Parse::Short,
    };
    // Every argument takes at least 4 bytes ("$0\r\n" + "\r\n" is 6): a count the rest of
    // the input cannot back is short (or bad) without allocating for it.
    let mut argv = Vec::with_capacity((n as usize).min((data.len() - at) / 4 + 1));
    for _ in 0..n {
        let (len, next) = match read_len(data, at, b'$') {
            Ok(Some(v)) => v,
            Ok(None) => return Parse::Short,
            Err(off) => return Parse::Bad(off),
        };
        let len = len as usize;
        if next.saturating_add(len).saturating_add(2) > data.len() {
            return Parse::Short;
        }
        if &data[next + len..next + len + 2] != b"\r\n" {
            return Parse::Bad(next + len);
        }
        argv.push(data.slice(next..next + len));
        at = next + len + 2;
    }
    Parse::Command(argv, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(words: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_command(words, &mut out);
        out
    }

    #[test]
    fn manifest_round_trips_and_refuses_bad_lines() {
        let text = "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.1.base.rdb seq 1 type h\nfile appendonly.aof.2.incr.aof seq 2 type i\nfile appendonly.aof.3.incr.aof seq 3 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.render(), text);
        assert_eq!(m.base().unwrap().seq, 2);
        assert_eq!(m.incrs().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(m.max_incr_seq(), 3);
        let quoted = Manifest::parse("file \"a b.aof\" seq 1 type i\n").unwrap();
        assert_eq!(quoted.entries[0].name, "a b.aof");
        assert!(Manifest::parse("").is_err());
        assert!(Manifest::parse("file x seq 1\n").is_err());
        assert!(Manifest::parse("file x seq 1 type z\n").is_err());
        assert!(Manifest::parse("file a/b seq 1 type i\n").is_err());
        assert!(Manifest::parse("file a seq 1 type b\nfile b seq 2 type b\n").is_err());
    }

    #[test]
    fn commands_parse_with_annotations() {
        let mut data = b"#TS:1700000000\r\n".to_vec();
        data.extend(cmd(&["SELECT", "0"]));
        data.extend(b"#MF-TX 42 2\r\n");
        data.extend(cmd(&["MULTI"]));
        data.extend(cmd(&["EXEC"]));
        data.extend(cmd(&["SET", "k", "a\r\nb"]));
        let (cmds, end) = parse_commands(&Bytes::from(data.clone()));
        assert_eq!(end, StreamEnd::Clean);
        assert_eq!(cmds.len(), 4);
        assert_eq!(cmds[0].tx_tag, None);
        assert_eq!(cmds[1].tx_tag, Some((42, 2)));
        assert_eq!(cmds[2].tx_tag, None);
        assert_eq!(cmds[3].argv[2], Bytes::from_static(b"a\r\nb"));
        assert_eq!(cmds[3].end, data.len());
    }

    #[test]
    fn a_cut_command_and_a_cut_multi_are_the_tail() {
        let mut data = cmd(&["SET", "a", "1"]);
        let first = data.len();
        data.extend(cmd(&["SET", "b", "2"]));
        for cut in first + 1..data.len() {
            let (cmds, end) = parse_commands(&Bytes::from(data[..cut].to_vec()));
            assert_eq!(cmds.len(), 1);
            assert_eq!(end, StreamEnd::Truncated { valid_up_to: first, in_multi: false });
        }
        let mut tx = cmd(&["SET", "a", "1"]);
        let multi_at = tx.len();
        tx.extend(cmd(&["MULTI"]));
        tx.extend(cmd(&["SET", "x", "1"]));
        tx.extend(cmd(&["SET", "y", "1"]));
        let exec_at = tx.len();
        tx.extend(cmd(&["EXEC"]));
        let multi_end = multi_at + cmd(&["MULTI"]).len();
        for cut in multi_at + 1..=exec_at + 3 {
            let (cmds, end) = parse_commands(&Bytes::from(tx[..cut].to_vec()));
            assert_eq!(cmds.len(), 1, "cut at {cut}");
            let in_multi = cut >= multi_end;
            assert_eq!(end, StreamEnd::Truncated { valid_up_to: multi_at, in_multi });
        }
        let (cmds, end) = parse_commands(&Bytes::from(tx.clone()));
        assert_eq!((cmds.len(), end), (5, StreamEnd::Clean));
    }

    #[test]
    fn garbage_is_bad_not_short() {
        let (_, end) = parse_commands(&Bytes::from_static(b"*1\r\n$3\r\nfoo\r\nhello world\r\n"));
        assert_eq!(end, StreamEnd::Bad { offset: 13 });
        let (_, end) = parse_commands(&Bytes::from_static(b"*1\r\n$3\r\nfooXY"));
        assert_eq!(end, StreamEnd::Bad { offset: 11 });
        let (_, end) = parse_commands(&Bytes::from_static(b"*99999999999\r\n"));
        assert!(matches!(end, StreamEnd::Truncated { .. }));
    }
}
