//! Fuzzes the RESP request parser: arbitrary bytes under arbitrary limits must never panic,
//! every span must stay inside the input, each step must make progress, and the resumable
//! parser fed the same bytes in two pieces must agree with the one-shot parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mayfly_resp::{parse_request, Limits, Parsed, RequestParser};

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, buf)) = data.split_first() else { return };
    let limits = Limits {
        proto_max_bulk_len: if knobs & 1 == 0 { 512 << 20 } else { 16 },
        authenticated: knobs & 2 == 0,
        ..Limits::default()
    };
    // Stream the input request by request.
    let mut parser = RequestParser::new();
    let mut offset = 0;
    for _ in 0..buf.len() + 1 {
        let rest = &buf[offset..];
        match parser.parse(rest, &limits) {
            Ok(Parsed::Request { args, consumed }) => {
                assert!(consumed > 0 && consumed <= rest.len());
                for i in 0..args.len() {
                    assert!(args.arg(rest, i).is_some());
                }
                offset += consumed;
            }
            Ok(Parsed::Empty { consumed }) => {
                assert!(consumed > 0 && consumed <= rest.len());
                offset += consumed;
            }
            Ok(Parsed::Incomplete { need }) => {
                if let Some(n) = need {
                    assert!(n > rest.len());
                }
                break;
            }
            Err(_) => break,
        }
    }
    // Resumable parsing over a split agrees with parsing the whole.
    let cut = (knobs as usize * 7) % (buf.len() + 1);
    let mut resumable = RequestParser::new();
    let first = resumable.parse(&buf[..cut], &limits);
    if matches!(first, Ok(Parsed::Incomplete { .. })) {
        assert_eq!(resumable.parse(buf, &limits), parse_request(buf, &limits));
    }
});
