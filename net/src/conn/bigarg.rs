//! Large arguments without a second copy (Redis's "big arg" optimisation).
//!
//! ```text
//!   Incomplete { need ≥ ADOPT_MIN more bytes } ─► the request moves to a buffer of its own,
//!                                                 sized for it (+ SLACK for what follows)
//!   Request (consumed ≥ ADOPT_MIN) ─► from such a buffer: arguments handed over as they are
//!                                 └─► otherwise: each argument ≥ ADOPT_MIN copied out
//! ```
//! The engine keeps an argument of at least `ADOPT_MIN_BYTES` as the value itself
//! (`StrValue::Shared`), so that a 512 MB SET holds 512 MB, not the frame plus a copy. That is
//! safe only if such an argument does not pin unrelated bytes: a slice of a read-ahead buffer
//! of many requests would keep all of it alive. This module makes every long argument either
//! come from a buffer made for its request alone, or have an allocation of its own.

use bytes::{Bytes, BytesMut};
use mayfly_engine::value::ADOPT_MIN_BYTES;

/// Room past the request in its own buffer: what one recv may append beyond it (a provided
/// buffer or a 16 KiB read), so the buffer is never regrown (a copy) while the request
/// completes.
pub const SLACK_BYTES: usize = 64 * 1024;

/// On an incomplete request at the start of `rbuf` that needs `need` bytes in all: when more
/// than [`ADOPT_MIN_BYTES`] are missing and `rbuf` is not already its own, move what came so
/// far to a buffer sized for the request (`*own` becomes true); else reserve room as before.
/// `cap` bounds the reservation (client-query-buffer-limit).
pub fn make_room(rbuf: &mut BytesMut, need: usize, own: &mut bool, cap: usize) {
    let missing = need.saturating_sub(rbuf.len());
    if !*own && missing >= ADOPT_MIN_BYTES {
        let mut fresh = BytesMut::with_capacity(need.min(cap).saturating_add(SLACK_BYTES));
        fresh.extend_from_slice(rbuf);
        *rbuf = fresh;
        *own = true;
    } else {
        // Room for the whole request at once: a large bulk is read into place instead of
        // through repeated doublings (each a copy at peak 1.5x).
        rbuf.reserve(missing.min(cap));
    }
}

/// For a request of `consumed` bytes: unless it came from a buffer of its own (`own`), gives
/// every argument of at least [`ADOPT_MIN_BYTES`] an allocation of its own.
pub fn own_long_args(argv: &mut [Bytes], consumed: usize, own: bool) {
    if own || consumed < ADOPT_MIN_BYTES {
        return;
    }
    for arg in argv.iter_mut().filter(|a| a.len() >= ADOPT_MIN_BYTES) {
        *arg = Bytes::copy_from_slice(arg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_request_gets_a_buffer_of_its_own_once() {
        let mut rbuf = BytesMut::with_capacity(16);
        rbuf.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
        let mut own = false;
        let need = 4 * ADOPT_MIN_BYTES;
        make_room(&mut rbuf, need, &mut own, usize::MAX);
        assert!(own);
        assert_eq!(&rbuf[..], b"*3\r\n$3\r\nSET\r\n");
        assert_eq!(rbuf.capacity(), need + SLACK_BYTES);
        let ptr = rbuf.as_ptr();
        make_room(&mut rbuf, need, &mut own, usize::MAX);
        assert_eq!(rbuf.as_ptr(), ptr, "not moved twice");
        let mut small = BytesMut::new();
        let mut own_small = false;
        make_room(&mut small, 100, &mut own_small, usize::MAX);
        assert!(!own_small && small.capacity() >= 100);
    }

    #[test]
    fn long_args_of_a_shared_buffer_are_copied_out() {
        let frame = Bytes::from(vec![7u8; ADOPT_MIN_BYTES + 10]);
        let mut argv = vec![frame.slice(0..3), frame.slice(3..)];
        own_long_args(&mut argv, frame.len(), true);
        assert_eq!(argv[1].as_ptr(), frame[3..].as_ptr(), "own buffer: handed over as is");
        own_long_args(&mut argv, frame.len(), false);
        assert_ne!(argv[1].as_ptr(), frame[3..].as_ptr(), "shared buffer: copied out");
        assert_eq!(argv[0].as_ptr(), frame.as_ptr(), "short args stay slices");
        assert_eq!(&argv[1][..], &frame[3..]);
    }
}
