//! The loop drivers, written once: each is a [`Kernel`](crate::arch::Kernel) that
//! [`Simd::run`](crate::arch::Simd::run) compiles for every instruction-set level.
//!
//! - [`elementwise`]: operations that produce each output element from the inputs at
//!   the same position ([`Elementwise`]), or update data in place ([`Update`]), written
//!   with plain or non-temporal stores;
//! - [`reduce`]: loops that also sum or count (PReLU's weight gradient, the dead-unit
//!   monitor), in an order fixed by the data alone.
//!
//! The element formula comes in as a closure or an operation value. Callers guarantee
//! equal lengths; the drivers zip slices, so they never read or write out of bounds
//! even if they did not.

pub(crate) mod elementwise;
pub(crate) mod reduce;

pub(crate) use elementwise::{
    Binary, BinaryInPlace, Elementwise, Modify, Stream, Unary, UnaryInPlace, Update, Write,
};
