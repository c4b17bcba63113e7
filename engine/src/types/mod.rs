//! Collection value types, one file each, free of I/O.

pub mod hash;
pub mod list;
pub mod segmented;
pub mod set;
pub mod stream;
pub mod zset;
