//! [`ChannelLayout`]: where the channels are in a flat buffer.

use crate::{Error, ErrorKind};

/// How a flat buffer is split into channels, for PReLU: the buffer is an array of
/// shape `[outer, channels, inner]` in row-major order, and element `i` belongs to
/// channel `(i / inner) % channels`.
///
/// | tensor | layout |
/// |---|---|
/// | NCHW `[N, C, H, W]` (PyTorch's default) | `[N, C, H*W]`: [`ChannelLayout::nchw`] |
/// | NHWC `[N, H, W, C]` (channels last) | `[N*H*W, C, 1]`: [`ChannelLayout::nhwc`] |
/// | `[batch, features]` (a linear layer) | `[batch, features, 1]` |
///
/// ```
/// use relukit::ChannelLayout;
/// let layout = ChannelLayout::nchw(8, 3, 32, 32);
/// assert_eq!((layout.outer(), layout.channels(), layout.inner()), (8, 3, 1024));
/// assert_eq!(layout.len(), Some(8 * 3 * 1024));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelLayout {
    outer: usize,
    channels: usize,
    inner: usize,
}

impl ChannelLayout {
    /// The layout `[outer, channels, inner]`.
    pub const fn new(outer: usize, channels: usize, inner: usize) -> Self {
        Self {
            outer,
            channels,
            inner,
        }
    }

    /// A tensor `[n, c, h, w]` in NCHW order: `[n, c, h*w]`.
    /// (A product that overflows `usize` is reported when the layout is used.)
    pub const fn nchw(n: usize, c: usize, h: usize, w: usize) -> Self {
        Self::new(n, c, h.saturating_mul(w))
    }

    /// A tensor `[n, h, w, c]` in NHWC (channels-last) order: `[n*h*w, c, 1]`.
    /// (A product that overflows `usize` is reported when the layout is used.)
    pub const fn nhwc(n: usize, h: usize, w: usize, c: usize) -> Self {
        Self::new(n.saturating_mul(h).saturating_mul(w), c, 1)
    }

    /// The number of blocks of `channels * inner` elements.
    pub const fn outer(&self) -> usize {
        self.outer
    }

    /// The number of channels.
    pub const fn channels(&self) -> usize {
        self.channels
    }

    /// The number of consecutive elements that share a channel.
    pub const fn inner(&self) -> usize {
        self.inner
    }

    /// `outer * channels * inner`, or `None` if that overflows `usize`.
    pub const fn len(&self) -> Option<usize> {
        match self.outer.checked_mul(self.channels) {
            Some(rows) => rows.checked_mul(self.inner),
            None => None,
        }
    }

    /// Whether the layout describes no elements (`None` if its size overflows).
    pub const fn is_empty(&self) -> Option<bool> {
        match self.len() {
            Some(len) => Some(len == 0),
            None => None,
        }
    }

    /// Checks that the layout describes a buffer of `len` elements named `name`.
    pub(crate) fn check(&self, name: &str, len: usize) -> Result<(), Error> {
        if self.len() == Some(len) {
            return Ok(());
        }
        let product = match self.len() {
            Some(product) => product.to_string(),
            None => "more than usize::MAX".to_string(),
        };
        Err(Error::new(
            ErrorKind::LayoutMismatch,
            format!(
                "`{name}` has {len} elements, but `layout` [outer {}, channels {}, inner {}] describes {product}",
                self.outer, self.channels, self.inner
            ),
        ))
    }

    /// Checks a PReLU `weight` length: 1 (a shared slope) or `channels`.
    pub(crate) fn check_weight(&self, weight_len: usize) -> Result<(), Error> {
        if weight_len == 1 || weight_len == self.channels {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::WeightMismatch,
                format!(
                    "`weight` has {weight_len} elements, expected 1 (a shared slope) or {} (one per channel)",
                    self.channels
                ),
            ))
        }
    }
}
