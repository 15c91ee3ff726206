//! Every fast path against the contract, bit for bit: one file per activation, all fed
//! through the [`harness`]'s `Runner` (every length 0..=300 and more, every start offset
//! within 64 bytes, every instruction set, serial and threaded, plain and streamed
//! stores, on data mixing special values with random ones).

mod clipped;
mod hardtanh;
mod harness;
mod leaky;
mod monitor;
mod prelu;
mod relu;
mod rrelu;
mod threshold;
