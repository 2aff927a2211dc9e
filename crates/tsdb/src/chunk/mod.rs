//! Sample encodings. The head appends into Gorilla-style XOR chunks (cheap
//! incremental appends); blocks re-encode each series into a denser
//! "block chunk" (see `block_codec`) that is then zstd-compressed in frames.

mod bits;
pub mod block_codec;
pub mod st;
pub mod xor;

pub use xor::{XorAppender, XorIter, split_st};

use sightline_model::Sample;

/// Iterator over samples of one encoded chunk, either encoding.
pub enum ChunkIter<'a> {
    Xor(XorIter<'a>),
    Block(std::vec::IntoIter<Sample>),
}

impl Iterator for ChunkIter<'_> {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        match self {
            ChunkIter::Xor(i) => i.next(),
            ChunkIter::Block(i) => i.next(),
        }
    }
}
