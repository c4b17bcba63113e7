//! Workloads: weighted command templates with `__key__` and `__data__`
//! placeholders, encoded straight into a connection's write buffer.
//!
//! Templates are parsed once; per request the encoder only picks a template,
//! a key index and a value length, then copies bytes, so the client spends
//! its cycles on the wire and not on formatting.

use crate::keys::{KeyDistribution, KeySampler};
use crate::resp::{decimal_len, push_decimal, push_header};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Placeholder replaced by the key (`--key-prefix` followed by the index).
pub const KEY_PLACEHOLDER: &str = "__key__";
/// Placeholder replaced by the value bytes.
pub const DATA_PLACEHOLDER: &str = "__data__";

/// Upper bound on one value, to keep memory bounded.
pub const MAX_DATA_SIZE: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(Vec<u8>),
    Key,
    Data,
}

/// One parsed command template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// Name used in reports (the command word, uppercased, made unique).
    pub label: String,
    /// Relative weight among the run's templates.
    pub weight: u32,
    /// The template as given.
    pub text: String,
    args: Vec<Vec<Part>>,
}

impl Template {
    /// Parses a template such as `HSET h:__key__ f __data__`. Arguments are
    /// split on whitespace; double quotes group an argument with spaces.
    pub fn parse(text: &str, weight: u32) -> Result<Template, String> {
        let words = split_words(text)?;
        if words.is_empty() {
            return Err("empty command template".to_string());
        }
        let args = words.iter().map(|word| parse_parts(word)).collect::<Vec<_>>();
        let label = words[0].to_ascii_uppercase();
        Ok(Template { label, weight, text: text.trim().to_string(), args })
    }

    /// Whether any argument contains `__data__`.
    pub fn uses_data(&self) -> bool {
        self.args.iter().flatten().any(|part| *part == Part::Data)
    }
}

fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for ch in text.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            c => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err(format!("unbalanced double quote in {text:?}"));
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

fn parse_parts(word: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut rest = word;
    while !rest.is_empty() {
        let key_at = rest.find(KEY_PLACEHOLDER);
        let data_at = rest.find(DATA_PLACEHOLDER);
        let (at, part, skip) = match (key_at, data_at) {
            (Some(k), Some(d)) if d < k => (d, Part::Data, DATA_PLACEHOLDER.len()),
            (Some(k), _) => (k, Part::Key, KEY_PLACEHOLDER.len()),
            (None, Some(d)) => (d, Part::Data, DATA_PLACEHOLDER.len()),
            (None, None) => {
                parts.push(Part::Literal(rest.as_bytes().to_vec()));
                break;
            }
        };
        if at > 0 {
            parts.push(Part::Literal(rest.as_bytes()[..at].to_vec()));
        }
        parts.push(part);
        rest = &rest[at + skip..];
    }
    parts
}

/// Parses `--ratio SET:GET`, e.g. `1:10`.
pub fn parse_ratio(text: &str) -> Result<(u32, u32), String> {
    let (set, get) =
        text.split_once(':').ok_or_else(|| format!("ratio {text:?} is not SET:GET"))?;
    let set: u32 = set.trim().parse().map_err(|_| format!("bad SET weight in ratio {text:?}"))?;
    let get: u32 = get.trim().parse().map_err(|_| format!("bad GET weight in ratio {text:?}"))?;
    if set == 0 && get == 0 {
        return Err("ratio 0:0 sends nothing".to_string());
    }
    Ok((set, get))
}

/// Value sizes in bytes: `MIN..=MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataSize {
    pub min: usize,
    pub max: usize,
}

impl DataSize {
    /// Parses `32` or `10-100`.
    pub fn parse(text: &str) -> Result<DataSize, String> {
        let parse_one = |s: &str| -> Result<usize, String> {
            s.trim().parse::<usize>().map_err(|_| format!("bad data size {text:?}"))
        };
        let (min, max) = match text.split_once('-') {
            Some((a, b)) => (parse_one(a)?, parse_one(b)?),
            None => {
                let size = parse_one(text)?;
                (size, size)
            }
        };
        if min > max {
            return Err(format!("data size range {text:?} has min > max"));
        }
        if max > MAX_DATA_SIZE {
            return Err(format!("data size {max} exceeds the limit of {MAX_DATA_SIZE} bytes"));
        }
        Ok(DataSize { min, max })
    }
}

/// Everything needed to generate requests; shared read-only by all threads.
#[derive(Debug, Clone)]
pub struct Workload {
    pub templates: Vec<Template>,
    pub keyspace: u64,
    pub key_prefix: Vec<u8>,
    pub distribution: KeyDistribution,
    pub data_size: DataSize,
    pub seed: u64,
    data: Vec<u8>,
    total_weight: u64,
}

impl Workload {
    /// Builds a workload; labels are made unique so each template gets its
    /// own histogram.
    pub fn new(
        mut templates: Vec<Template>,
        keyspace: u64,
        key_prefix: &str,
        distribution: KeyDistribution,
        data_size: DataSize,
        seed: u64,
    ) -> Result<Workload, String> {
        templates.retain(|t| t.weight > 0);
        if templates.is_empty() {
            return Err("no command has a positive weight".to_string());
        }
        if templates.len() > u16::MAX as usize {
            return Err("too many command templates".to_string());
        }
        if keyspace == 0 {
            return Err("--keyspace must be at least 1".to_string());
        }
        let mut seen = std::collections::HashMap::<String, usize>::new();
        for template in &mut templates {
            let n = seen.entry(template.label.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                template.label = format!("{}#{}", template.label, n);
            }
        }
        let total_weight = templates.iter().map(|t| u64::from(t.weight)).sum();
        // Printable filler, generated once from the seed.
        let mut rng = SmallRng::seed_from_u64(seed ^ 0xda7a);
        let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let data = (0..data_size.max).map(|_| alphabet[rng.gen_range(0..alphabet.len())]).collect();
        Ok(Workload {
            templates,
            keyspace,
            key_prefix: key_prefix.as_bytes().to_vec(),
            distribution,
            data_size,
            seed,
            data,
            total_weight,
        })
    }

    /// Labels in template order (index = command id used in histograms).
    pub fn labels(&self) -> Vec<String> {
        self.templates.iter().map(|t| t.label.clone()).collect()
    }

    /// A request generator for one connection; `connection` seeds it so that
    /// connections differ but a run repeats.
    /// `sequential_start` is where a sequential key walk begins.
    pub fn generator(&self, connection: u64, sequential_start: u64) -> Generator {
        let start = sequential_start;
        Generator {
            rng: SmallRng::seed_from_u64(
                self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ connection,
            ),
            keys: KeySampler::new(&self.distribution, self.keyspace, start),
        }
    }

    /// Appends one request to `out`; returns the template index.
    pub fn encode_next(&self, generator: &mut Generator, out: &mut Vec<u8>) -> u16 {
        let index = if self.templates.len() == 1 {
            0
        } else {
            let mut pick = generator.rng.gen_range(0..self.total_weight);
            let mut index = 0;
            for (i, template) in self.templates.iter().enumerate() {
                let weight = u64::from(template.weight);
                if pick < weight {
                    index = i;
                    break;
                }
                pick -= weight;
            }
            index
        };
        let template = &self.templates[index];
        let key = generator.keys.next(&mut generator.rng);
        let data_len = if self.data_size.min == self.data_size.max {
            self.data_size.min
        } else {
            generator.rng.gen_range(self.data_size.min..=self.data_size.max)
        };
        self.encode(template, key, data_len, out);
        index as u16
    }

    /// Encodes `template` with a given key index and value length.
    pub fn encode(&self, template: &Template, key: u64, data_len: usize, out: &mut Vec<u8>) {
        let key_len = self.key_prefix.len() + decimal_len(key);
        push_header(out, b'*', template.args.len());
        for arg in &template.args {
            let len: usize = arg
                .iter()
                .map(|part| match part {
                    Part::Literal(bytes) => bytes.len(),
                    Part::Key => key_len,
                    Part::Data => data_len,
                })
                .sum();
            push_header(out, b'$', len);
            for part in arg {
                match part {
                    Part::Literal(bytes) => out.extend_from_slice(bytes),
                    Part::Key => {
                        out.extend_from_slice(&self.key_prefix);
                        push_decimal(out, key);
                    }
                    Part::Data => out.extend_from_slice(&self.data[..data_len]),
                }
            }
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Per-connection generator state.
#[derive(Debug, Clone)]
pub struct Generator {
    rng: SmallRng,
    keys: KeySampler,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{parse_reply, Parsed};

    fn workload(templates: Vec<Template>, size: DataSize) -> Workload {
        Workload::new(templates, 100, "key:", KeyDistribution::Sequential, size, 1).expect("valid")
    }

    #[test]
    fn template_placeholders_expand() {
        let template = Template::parse("HSET h:__key__ f __data__", 1).expect("parse");
        let w = workload(vec![template.clone()], DataSize { min: 4, max: 4 });
        let mut out = Vec::new();
        w.encode(&template, 42, 4, &mut out);
        let text = String::from_utf8(out).expect("ascii");
        let expected_data = String::from_utf8(w.data[..4].to_vec()).expect("ascii");
        assert_eq!(
            text,
            format!("*4\r\n$4\r\nHSET\r\n$8\r\nh:key:42\r\n$1\r\nf\r\n$4\r\n{expected_data}\r\n")
        );
    }

    #[test]
    fn quoted_arguments_keep_spaces() {
        let template = Template::parse("SET \"a b\" __key____data__", 1).expect("parse");
        let w = workload(vec![template.clone()], DataSize { min: 2, max: 2 });
        let mut out = Vec::new();
        w.encode(&template, 7, 2, &mut out);
        let data = String::from_utf8(w.data[..2].to_vec()).expect("ascii");
        assert_eq!(
            String::from_utf8(out).expect("ascii"),
            format!("*3\r\n$3\r\nSET\r\n$3\r\na b\r\n$7\r\nkey:7{data}\r\n")
        );
        assert!(Template::parse("SET \"a", 1).is_err());
        assert!(Template::parse("   ", 1).is_err());
    }

    #[test]
    fn weights_are_respected() {
        let set = Template::parse("SET __key__ __data__", 1).expect("parse");
        let get = Template::parse("GET __key__", 9).expect("parse");
        let w = workload(vec![set, get], DataSize { min: 1, max: 8 });
        let mut generator = w.generator(0, 0);
        let mut counts = [0u32; 2];
        let mut out = Vec::new();
        for _ in 0..10_000 {
            out.clear();
            let index = w.encode_next(&mut generator, &mut out);
            counts[index as usize] += 1;
            // Every encoded request is one well-formed RESP array.
            match parse_reply(&out).expect("valid") {
                Parsed::Reply { len, .. } => assert_eq!(len, out.len()),
                Parsed::Incomplete => panic!("incomplete request"),
            }
        }
        assert!((800..1200).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn duplicate_labels_are_made_unique() {
        let a = Template::parse("set a __key__", 1).expect("parse");
        let b = Template::parse("SET b __key__", 1).expect("parse");
        let w = workload(vec![a, b], DataSize { min: 1, max: 1 });
        assert_eq!(w.labels(), vec!["SET".to_string(), "SET#2".to_string()]);
    }

    #[test]
    fn parses_ratio_and_sizes() {
        assert_eq!(parse_ratio("1:10"), Ok((1, 10)));
        assert_eq!(parse_ratio("0:1"), Ok((0, 1)));
        assert!(parse_ratio("0:0").is_err());
        assert!(parse_ratio("3").is_err());
        assert_eq!(DataSize::parse("32"), Ok(DataSize { min: 32, max: 32 }));
        assert_eq!(DataSize::parse("10-100"), Ok(DataSize { min: 10, max: 100 }));
        assert!(DataSize::parse("100-10").is_err());
        assert!(DataSize::parse("999999999999").is_err());
    }
}
