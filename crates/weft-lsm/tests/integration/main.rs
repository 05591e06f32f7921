//! Integration tests of weft-lsm (one binary, see STYLE.md).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected errors"
)]

mod basic;
mod copy;
mod corruption;
mod crash;
mod decoders;
mod faults;
mod model;
mod support;
