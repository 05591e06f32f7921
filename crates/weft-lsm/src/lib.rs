//! weft-lsm: the storage engine (being written).
#![forbid(unsafe_code)]
