//! The activations, one module each: the element formulas (branch-free lane forms of
//! the contract in [`reference`](crate::reference)), the public slice functions, and
//! the argument checks. Each runs its formulas through the loop drivers of
//! [`kernel`](crate::kernel) on the chunks and stores [`Exec`](crate::exec::Exec) picks.

pub(crate) mod clipped;
pub(crate) mod leaky;
pub(crate) mod prelu;
pub(crate) mod relu;
pub(crate) mod rrelu;
pub(crate) mod threshold;
