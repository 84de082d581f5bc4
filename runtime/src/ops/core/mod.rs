//! Graph plumbing that belongs to no framework: stacking columns into one feature block
//! ([`concat`]) and picking features out of one ([`select`]).

pub(crate) mod concat;
pub(crate) mod select;
