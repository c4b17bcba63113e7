//! The packed encodings that RDB stores as opaque strings: listpacks (read and written),
//! intsets (read and written), and the pre-7.0 ziplists and zipmaps (read only). Each parser
//! validates as deeply as Redis's `sanitize-dump-payload yes` before anything is built from
//! the bytes, and returns `None` for any malformed input.

pub mod intset;
pub mod listpack;
pub mod ziplist;
pub mod zipmap;
