//! Property tests for the codec: the parser against arbitrary and generated input, the
//! encoder against a small independent RESP2/RESP3 reply reader written here.

use bytes::Bytes;
use mayfly_engine::reply::Reply;
use proptest::prelude::*;

use super::*;

// ---------------------------------------------------------------------------------------
// Request side
// ---------------------------------------------------------------------------------------

fn multibulk(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn request_args(buf: &[u8], parsed: &Parsed) -> Option<(Vec<Vec<u8>>, usize)> {
    match parsed {
        Parsed::Request { args, consumed } => {
            let bytes = Bytes::copy_from_slice(buf);
            Some((to_args(&bytes, args).iter().map(|b| b.to_vec()).collect(), *consumed))
        }
        _ => None,
    }
}

/// Bytes that are mostly protocol punctuation and digits, so random input reaches deep states.
fn protocolish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        3 => prop::sample::select(b"*$\r\n0123456789-+ \"'\\x\tab\x00".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..300)
}

fn limits_strategy() -> impl Strategy<Value = Limits> {
    (any::<bool>(), 0u64..64, 1usize..64, 1usize..128, any::<bool>()).prop_map(
        |(small, bulk_max, mbulk_max, inline_max, authenticated)| {
            if small {
                Limits {
                    proto_max_bulk_len: bulk_max,
                    max_multibulk_len: mbulk_max,
                    inline_max,
                    authenticated,
                }
            } else {
                Limits { authenticated, ..Limits::default() }
            }
        },
    )
}

fn check_parsed_invariants(buf: &[u8], parsed: &Parsed) {
    match parsed {
        Parsed::Incomplete { need } => {
            if let Some(need) = need {
                assert!(*need > buf.len(), "need {need} but already have {}", buf.len());
            }
        }
        Parsed::Empty { consumed } => assert!(*consumed > 0 && *consumed <= buf.len()),
        Parsed::Request { args, consumed } => {
            assert!(*consumed > 0 && *consumed <= buf.len());
            assert!(!args.is_empty());
            for i in 0..args.len() {
                assert!(args.arg(buf, i).is_some(), "span {i} out of range");
            }
            if args.decoded().is_none() {
                for span in args.iter() {
                    assert!(span.start + span.len <= *consumed);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// (a) Arbitrary bytes never panic, stay in bounds, and the resumable parser fed the same
    /// bytes in pieces agrees with the pure parser at every step.
    #[test]
    fn arbitrary_bytes_never_panic(
        buf in protocolish_bytes(),
        limits in limits_strategy(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let whole = parse_request(&buf, &limits);
        if let Ok(parsed) = &whole {
            check_parsed_invariants(&buf, parsed);
        }
        let mut cut_points: Vec<usize> = cuts.iter().map(|i| i.index(buf.len() + 1)).collect();
        cut_points.push(buf.len());
        cut_points.sort_unstable();
        let mut parser = RequestParser::new();
        for cut in cut_points {
            let prefix = &buf[..cut];
            let resumed = parser.parse(prefix, &limits);
            prop_assert_eq!(&resumed, &parse_request(prefix, &limits));
            if !matches!(resumed, Ok(Parsed::Incomplete { .. })) {
                break;
            }
        }
    }

    /// Arbitrary bytes consumed as a stream, request after request, until the parser waits
    /// or fails: every step stays in bounds and makes progress.
    #[test]
    fn arbitrary_stream_consumes_in_bounds(
        buf in protocolish_bytes(),
        limits in limits_strategy(),
    ) {
        let mut parser = RequestParser::new();
        let mut offset = 0;
        loop {
            let rest = &buf[offset..];
            match parser.parse(rest, &limits) {
                Ok(Parsed::Incomplete { .. }) | Err(_) => break,
                Ok(parsed) => {
                    check_parsed_invariants(rest, &parsed);
                    let consumed = match parsed {
                        Parsed::Request { consumed, .. } | Parsed::Empty { consumed } => consumed,
                        Parsed::Incomplete { .. } => unreachable!("handled above"),
                    };
                    prop_assert!(consumed > 0);
                    offset += consumed;
                }
            }
        }
        prop_assert!(offset <= buf.len());
    }

    /// (b) Any argv encoded as multibulk parses back to itself, in one piece or fed in pieces;
    /// every strict prefix is Incomplete and `need` never overshoots.
    #[test]
    fn multibulk_round_trip(
        args in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..20),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        trailer in prop::collection::vec(any::<u8>(), 0..10),
    ) {
        let encoded = multibulk(&args);
        let mut buf = encoded.clone();
        buf.extend_from_slice(&trailer);
        let limits = Limits::default();

        let parsed = parse_request(&buf, &limits).unwrap();
        let (got, consumed) = request_args(&buf, &parsed).expect("a request");
        prop_assert_eq!(&got, &args);
        prop_assert_eq!(consumed, encoded.len());

        let mut cut_points: Vec<usize> = cuts.iter().map(|i| i.index(encoded.len())).collect();
        cut_points.sort_unstable();
        let mut parser = RequestParser::new();
        for cut in cut_points {
            let prefix = &buf[..cut];
            let pure = parse_request(prefix, &limits).unwrap();
            let resumed = parser.parse(prefix, &limits).unwrap();
            prop_assert_eq!(&pure, &resumed);
            match resumed {
                Parsed::Incomplete { need: Some(need) } => {
                    prop_assert!(need > cut && need <= encoded.len());
                    // Nothing short of `need` can complete the request.
                    let shorter = parse_request(&buf[..need - 1], &limits).unwrap();
                    prop_assert!(
                        matches!(shorter, Parsed::Incomplete { .. }),
                        "prefix {} gave {:?}",
                        need - 1,
                        shorter
                    );
                }
                Parsed::Incomplete { need: None } => {}
                other => prop_assert!(false, "prefix {} of {} gave {:?}", cut, encoded.len(), other),
            }
        }
        let resumed = parser.parse(&buf, &limits).unwrap();
        prop_assert_eq!(request_args(&buf, &resumed), Some((args.clone(), encoded.len())));
    }

    /// A pipeline of requests parses back request by request.
    #[test]
    fn multibulk_pipeline(
        requests in prop::collection::vec(
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), 1..5), 1..10),
    ) {
        let mut buf = Vec::new();
        for request in &requests {
            buf.extend_from_slice(&multibulk(request));
        }
        let mut offset = 0;
        for request in &requests {
            let rest = &buf[offset..];
            let parsed = parse_request(rest, &Limits::default()).unwrap();
            let (got, consumed) = request_args(rest, &parsed).expect("a request");
            prop_assert_eq!(&got, request);
            offset += consumed;
        }
        prop_assert_eq!(offset, buf.len());
    }

    /// (c) Inline commands of plain words, any blank runs between them, `\n` or `\r\n`.
    #[test]
    fn inline_round_trip(
        words in prop::collection::vec("[a-zA-Z0-9:_.!#$%&()*+,/;<=>?@^`{|}~-]{1,12}", 1..8),
        gaps in prop::collection::vec("[ \t]{1,3}", 8),
        lead in "[ \t]{0,2}",
        crlf in any::<bool>(),
    ) {
        // A leading '*' would make it a multibulk request.
        prop_assume!(!lead.is_empty() || !words[0].starts_with('*'));
        let mut line = lead.clone();
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                line.push_str(&gaps[i]);
            }
            line.push_str(word);
        }
        line.push_str(if crlf { "\r\n" } else { "\n" });
        let buf = line.as_bytes();
        let parsed = parse_request(buf, &Limits::default()).unwrap();
        let (got, consumed) = request_args(buf, &parsed).expect("a request");
        let expected: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        prop_assert_eq!(got, expected);
        prop_assert_eq!(consumed, buf.len());
        if let Parsed::Request { args, .. } = &parsed {
            prop_assert!(args.decoded().is_none(), "plain words stay zero-copy");
        }
    }

    /// Inline double-quoted arguments carry any bytes through the escapes of `sdssplitargs`.
    #[test]
    fn inline_quoted_round_trip(
        args in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 1..5),
        single in prop::collection::vec(any::<bool>(), 5),
    ) {
        let mut line = b"cmd".to_vec();
        let mut expected = vec![b"cmd".to_vec()];
        for (i, arg) in args.iter().enumerate() {
            line.push(b' ');
            let printable_plain = arg.iter().all(|b| (0x20..0x7f).contains(b) && *b != b'\\');
            if single[i] && printable_plain {
                line.push(b'\'');
                for &b in arg {
                    if b == b'\'' {
                        line.push(b'\\');
                    }
                    line.push(b);
                }
                line.push(b'\'');
            } else {
                line.push(b'"');
                for &b in arg {
                    match b {
                        b'"' | b'\\' => line.extend_from_slice(&[b'\\', b]),
                        0x20..=0x7e => line.push(b),
                        _ => line.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
                    }
                }
                line.push(b'"');
            }
            expected.push(arg.clone());
        }
        line.extend_from_slice(b"\r\n");
        let parsed = parse_request(&line, &Limits::default()).unwrap();
        let (got, consumed) = request_args(&line, &parsed).expect("a request");
        prop_assert_eq!(got, expected);
        prop_assert_eq!(consumed, line.len());
    }
}

// ---------------------------------------------------------------------------------------
// Reply side: an independent reader for what the encoder writes
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Wire {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    NullBulk,
    NullArray,
    Null,
    Array(Vec<Wire>),
    Map(Vec<(Wire, Wire)>),
    Set(Vec<Wire>),
    Push(Vec<Wire>),
    Double(Vec<u8>),
    Bool(bool),
    Verbatim(Vec<u8>, Vec<u8>),
    BigNumber(Vec<u8>),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn line(&mut self) -> Result<&'a [u8], String> {
        let rest = &self.buf[self.pos..];
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| format!("no CRLF after offset {}", self.pos))?;
        self.pos += end + 2;
        Ok(&rest[..end])
    }

    fn number(&mut self) -> Result<i64, String> {
        let line = self.line()?;
        std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad number {:?}", String::from_utf8_lossy(line)))
    }

    fn payload(&mut self, len: i64) -> Result<&'a [u8], String> {
        let len = usize::try_from(len).map_err(|_| "negative length".to_string())?;
        let data = self.buf.get(self.pos..self.pos + len).ok_or("short payload")?;
        if self.buf.get(self.pos + len..self.pos + len + 2) != Some(b"\r\n") {
            return Err("payload not followed by CRLF".into());
        }
        self.pos += len + 2;
        Ok(data)
    }

    fn items(&mut self, n: i64) -> Result<Vec<Wire>, String> {
        (0..n).map(|_| self.value()).collect()
    }

    fn value(&mut self) -> Result<Wire, String> {
        let kind = *self.buf.get(self.pos).ok_or("truncated")?;
        self.pos += 1;
        Ok(match kind {
            b'+' => Wire::Simple(self.line()?.to_vec()),
            b'-' => Wire::Error(self.line()?.to_vec()),
            b':' => Wire::Int(self.number()?),
            b'$' => match self.number()? {
                -1 => Wire::NullBulk,
                len => Wire::Bulk(self.payload(len)?.to_vec()),
            },
            b'*' => match self.number()? {
                -1 => Wire::NullArray,
                n => Wire::Array(self.items(n)?),
            },
            b'_' => {
                if !self.line()?.is_empty() {
                    return Err("junk after _".into());
                }
                Wire::Null
            }
            b'%' => {
                let n = self.number()?;
                let mut pairs = Vec::new();
                for _ in 0..n {
                    pairs.push((self.value()?, self.value()?));
                }
                Wire::Map(pairs)
            }
            b'~' => {
                let n = self.number()?;
                Wire::Set(self.items(n)?)
            }
            b'>' => {
                let n = self.number()?;
                Wire::Push(self.items(n)?)
            }
            b',' => Wire::Double(self.line()?.to_vec()),
            b'#' => match self.line()? {
                b"t" => Wire::Bool(true),
                b"f" => Wire::Bool(false),
                other => return Err(format!("bad bool {other:?}")),
            },
            b'=' => {
                let len = self.number()?;
                let data = self.payload(len)?;
                if data.len() < 4 || data[3] != b':' {
                    return Err("bad verbatim".into());
                }
                Wire::Verbatim(data[..3].to_vec(), data[4..].to_vec())
            }
            b'(' => Wire::BigNumber(self.line()?.to_vec()),
            other => return Err(format!("unknown type byte {other:#x}")),
        })
    }
}

fn read_reply(buf: &[u8]) -> Result<(Wire, usize), String> {
    let mut reader = Reader { buf, pos: 0 };
    let wire = reader.value()?;
    Ok((wire, reader.pos))
}

fn sanitized(text: &str) -> Vec<u8> {
    text.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }).collect()
}

fn same_double(text: &[u8], value: f64) -> bool {
    let parsed: Option<f64> = std::str::from_utf8(text).ok().and_then(|s| s.parse().ok());
    match parsed {
        Some(p) if value.is_nan() => p.is_nan(),
        // %.17g round-trips every finite double exactly, sign of zero included.
        Some(p) => p == value && p.is_sign_negative() == value.is_sign_negative(),
        None => false,
    }
}

/// Does `wire` (what the reader saw) correspond to `reply` under the protocol's mapping rules?
fn matches_reply(reply: &Reply, wire: &Wire, resp3: bool) -> bool {
    let all = |items: &[Reply], wires: &[Wire]| {
        items.len() == wires.len()
            && items.iter().zip(wires).all(|(r, w)| matches_reply(r, w, resp3))
    };
    match (reply, wire) {
        (Reply::Status(t), Wire::Simple(w)) => sanitized(t) == *w,
        (Reply::Error(t), Wire::Error(w)) => sanitized(t.strip_prefix('-').unwrap_or(t)) == *w,
        (Reply::Int(n), Wire::Int(m)) => n == m,
        (Reply::Bulk(b), Wire::Bulk(w)) => b[..] == w[..],
        (Reply::Nil, Wire::NullBulk) => !resp3,
        (Reply::NilArray, Wire::NullArray) => !resp3,
        (Reply::Nil | Reply::NilArray, Wire::Null) => resp3,
        (Reply::Array(items), Wire::Array(wires)) => all(items, wires),
        (Reply::Set(items), Wire::Array(wires)) | (Reply::Push(items), Wire::Array(wires)) => {
            !resp3 && all(items, wires)
        }
        (Reply::Set(items), Wire::Set(wires)) | (Reply::Push(items), Wire::Push(wires)) => {
            resp3 && all(items, wires)
        }
        (Reply::Map(pairs), Wire::Array(wires)) => {
            !resp3
                && pairs.len() * 2 == wires.len()
                && pairs.iter().zip(wires.chunks(2)).all(|((k, v), kv)| {
                    matches_reply(k, &kv[0], resp3) && matches_reply(v, &kv[1], resp3)
                })
        }
        (Reply::Map(pairs), Wire::Map(wires)) => {
            resp3
                && pairs.len() == wires.len()
                && pairs.iter().zip(wires).all(|((k, v), (wk, wv))| {
                    matches_reply(k, wk, resp3) && matches_reply(v, wv, resp3)
                })
        }
        (Reply::Double(d), Wire::Bulk(text)) => !resp3 && same_double(text, *d),
        (Reply::Double(d), Wire::Double(text)) => resp3 && same_double(text, *d),
        (Reply::Bool(b), Wire::Int(n)) => !resp3 && *n == i64::from(*b),
        (Reply::Bool(b), Wire::Bool(w)) => resp3 && b == w,
        (Reply::Verbatim(_, text), Wire::Bulk(w)) => !resp3 && text[..] == w[..],
        (Reply::Verbatim(format, text), Wire::Verbatim(wf, w)) => {
            resp3 && format.as_bytes() == &wf[..] && text[..] == w[..]
        }
        (Reply::BigNumber(digits), Wire::Bulk(w)) => !resp3 && digits.as_bytes() == &w[..],
        (Reply::BigNumber(digits), Wire::BigNumber(w)) => resp3 && digits.as_bytes() == &w[..],
        _ => false,
    }
}

fn text_strategy() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[ -~]{0,16}", 1 => "[a-z\r\n]{0,8}"]
}

fn double_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        1 => prop::sample::select(vec![0.0, -0.0, 0.1, 1e20, f64::INFINITY, f64::NEG_INFINITY,
            f64::NAN, f64::MIN_POSITIVE, f64::MAX, 5e-324]),
        2 => (-1_000_000i64..1_000_000).prop_map(|n| n as f64 / 100.0),
    ]
}

fn reply_strategy() -> impl Strategy<Value = Reply> {
    let leaf = prop_oneof![
        text_strategy().prop_map(Reply::status),
        text_strategy().prop_map(|t| Reply::error(format!("ERR {t}"))),
        any::<i64>().prop_map(Reply::Int),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(Reply::bulk),
        Just(Reply::Nil),
        Just(Reply::NilArray),
        double_strategy().prop_map(Reply::Double),
        any::<bool>().prop_map(Reply::Bool),
        (prop::sample::select(vec!["txt", "mkd"]), prop::collection::vec(any::<u8>(), 0..24))
            .prop_map(|(f, t)| Reply::Verbatim(f, Bytes::from(t))),
        "-?[1-9][0-9]{0,40}".prop_map(Reply::BigNumber),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Reply::Array),
            prop::collection::vec((inner.clone(), inner.clone()), 0..4).prop_map(Reply::Map),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Reply::Set),
            prop::collection::vec(inner, 0..6).prop_map(Reply::Push),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// (d) Random reply trees, encoded in RESP2 and RESP3, read back to the same tree.
    #[test]
    fn encoded_replies_read_back(reply in reply_strategy(), resp3 in any::<bool>()) {
        let mut out = Vec::new();
        encode(&reply, resp3, &mut out);
        let (wire, used) = read_reply(&out).map_err(TestCaseError::fail)?;
        prop_assert_eq!(used, out.len(), "trailing bytes after the reply");
        prop_assert!(matches_reply(&reply, &wire, resp3), "{:?} encoded as {:?}", reply, wire);
    }

    /// `%.17g` round-trips every double and never exceeds 17 significant digits.
    #[test]
    fn format_double_round_trips(value in any::<f64>()) {
        let text = format_double(value);
        prop_assert!(same_double(text.as_bytes(), value), "{} -> {}", value, text);
        let mantissa = text.split('e').next().unwrap_or("");
        let significant = mantissa.trim_start_matches('-').trim_start_matches(['0', '.']);
        prop_assert!(significant.bytes().filter(u8::is_ascii_digit).count() <= 17, "{}", text);
    }
}
