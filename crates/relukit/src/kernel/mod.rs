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

use crate::arch::{Kernel, Level};
use crate::element::sealed::ElementOps;

pub(crate) mod elementwise;
pub(crate) mod reduce;

pub(crate) use elementwise::{
    Binary, BinaryInPlace, Elementwise, Modify, Stream, Unary, UnaryInPlace, Update, Write,
};

/// How many of `data`'s first elements come before a 64-byte (cache-line) boundary:
/// all of them if none is on one.
#[inline(always)]
pub(crate) fn line_offset<T>(data: &[T]) -> usize {
    match data.as_ptr().align_offset(64) {
        offset if offset <= data.len() => offset,
        _ => data.len(),
    }
}

/// Bytes of a [`Tile`].
pub(crate) const TILE_BYTES: usize = 2048;

/// A small buffer aligned for whole-cache-line non-temporal stores: a streamed pass
/// computes a block into it (in L1), then streams the block out.
#[repr(C, align(64))]
pub(crate) struct Tile([u8; TILE_BYTES]);

impl Tile {
    #[inline(always)]
    pub(crate) fn new() -> Tile {
        Tile([0; TILE_BYTES])
    }

    /// The first `len` elements of the buffer, as `U`s (64-byte aligned).
    #[inline(always)]
    pub(crate) fn elements<U: ElementOps>(&mut self, len: usize) -> &mut [U] {
        assert!(len * size_of::<U>() <= TILE_BYTES && align_of::<U>() <= 64);
        // SAFETY: the buffer holds `len` elements of `U` (checked) at an alignment of
        // 64, which no element type exceeds (checked); every bit pattern is a valid
        // value of an element type (integers and floats), so its bytes, whatever was
        // written before, are `U`s. The slice borrows the buffer mutably.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr().cast::<U>(), len) }
    }
}

/// Orders the non-temporal stores of earlier kernels before any later store.
pub(crate) struct Fence;

impl Kernel for Fence {
    type Output = ();
    #[inline(always)]
    fn run<L: Level>(self, level: L) {
        level.store_fence()
    }
}
