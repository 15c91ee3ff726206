//! The activations, one module each: its [`Activation`](crate::activation::Activation)
//! (parameters and their check, the element formulas, branch-free lane forms of the
//! contract in [`reference`](crate::reference)) and its named slice functions, which are
//! [`activation`](crate::activation)'s five with the parameters as arguments. PReLU, whose
//! weight is a tensor rather than a parameter, has its own kernels.

pub(crate) mod clipped;
pub(crate) mod hardtanh;
pub(crate) mod leaky;
pub(crate) mod prelu;
pub(crate) mod relu;
pub(crate) mod rrelu;
pub(crate) mod threshold;
