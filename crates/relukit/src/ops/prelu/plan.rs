//! How a PReLU call's slopes map onto its flat buffer: a [`Plan`] that depends on the
//! layout alone.

use std::ops::Range;

use crate::element::Slopes;
use crate::{ChannelLayout, Float};

/// `inner` from which each run is processed on its own (below it, the fixed cost of
/// a kernel call per run outweighs reading a slope pattern beside the data).
const RUN_MIN: usize = 2048;
/// Least length of an expanded slope pattern for the forward pass: 4 KiB of `f32`, in
/// L1 beside the streaming data, and a multiple of the 16-bit kernels' 32-element
/// vectors when the period divides it (a piece that ends mid-vector finishes element by
/// element, which halved PReLU's speed on 16-bit floats at 1088).
pub(crate) const FORWARD_WIDTH: usize = 1024;
/// Least length of the pattern for the backward pass: about 4 KiB of `f32`, so the
/// pattern and the accumulators stay in L1, but not a multiple of 4 KiB, so the rows it
/// reads together (one pattern length apart) do not all fall into the same L1 sets
/// (measured: 15-20% faster from 1 MiB).
pub(crate) const BACKWARD_WIDTH: usize = 1088;

/// How the slopes map onto the flat buffer.
pub(crate) enum Plan<C> {
    /// One slope for every element (built by the ndarray adapter).
    #[cfg_attr(not(feature = "ndarray"), allow(dead_code))]
    Shared(C),
    /// Run `r` (elements `r*inner..(r+1)*inner`) has slope `slopes[r % slopes.len()]`.
    Runs { inner: usize, slopes: Vec<C> },
    /// Element `i` has slope `pattern[i % pattern.len()]`; the pattern is a whole
    /// number of periods of `channels * inner` elements.
    Periodic {
        pattern: Vec<C>,
        period: usize,
        inner: usize,
        channels: usize,
    },
}

impl<C: Copy> Plan<C> {
    /// The plan of a call: the weights widened to the compute type.
    pub(crate) fn new<T: Float<Compute = C>>(
        weight: &[T],
        layout: ChannelLayout,
        len: usize,
        min_width: usize,
    ) -> Self {
        let slopes = weight.iter().map(|w| w.widen()).collect();
        Plan::from_slopes(slopes, layout, len, min_width)
    }

    /// The plan of a call with one slope per channel (or one shared), of any type.
    /// `min_width` is the least pattern length ([`FORWARD_WIDTH`] or [`BACKWARD_WIDTH`]).
    pub(crate) fn from_slopes(
        slopes: Vec<C>,
        layout: ChannelLayout,
        len: usize,
        min_width: usize,
    ) -> Self {
        if slopes.len() == 1 || layout.channels() == 1 {
            return Plan::Runs {
                inner: len.max(1),
                slopes: vec![slopes[0]],
            };
        }
        let (channels, inner) = (layout.channels(), layout.inner());
        if inner >= RUN_MIN {
            return Plan::Runs { inner, slopes };
        }
        let period = channels * inner;
        let width = period * min_width.min(len).div_ceil(period).max(1);
        // One period, then copies of it.
        let mut pattern = Vec::with_capacity(width);
        if inner == 1 {
            pattern.extend_from_slice(&slopes);
        } else {
            for &slope in &slopes {
                pattern.extend(std::iter::repeat_n(slope, inner));
            }
        }
        while pattern.len() < width {
            pattern.extend_from_within(..period);
        }
        Plan::Periodic {
            pattern,
            period,
            inner,
            channels,
        }
    }

    /// Calls `f(local_range, slopes)` for each piece of `offset..offset + len`.
    pub(crate) fn for_each_piece(
        &self,
        offset: usize,
        len: usize,
        mut f: impl FnMut(Range<usize>, Slopes<'_, C>),
    ) {
        let mut i = 0;
        match self {
            Plan::Shared(slope) => f(0..len, Slopes::One(*slope)),
            Plan::Runs { inner, slopes } => {
                while i < len {
                    let run = (offset + i) / inner;
                    let end = ((run + 1) * inner - offset).min(len);
                    f(i..end, Slopes::One(slopes[run % slopes.len()]));
                    i = end;
                }
            }
            Plan::Periodic { pattern, .. } => {
                let mut j = offset % pattern.len();
                while i < len {
                    let take = (pattern.len() - j).min(len - i);
                    f(i..i + take, Slopes::Pattern(&pattern[j..j + take]));
                    i += take;
                    j = 0;
                }
            }
        }
    }
}
