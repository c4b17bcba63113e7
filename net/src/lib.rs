//! mayfly-net: the network side of Mayfly.
