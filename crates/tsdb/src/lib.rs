//! Sightline's embedded time-series database.
//!
//! Data flows head → blocks: appends go to the WAL and the in-memory head;
//! once the head spans 1.5 block ranges its oldest range is written as an
//! immutable block and dropped from head and WAL; blocks are merged into
//! larger ones and deleted by retention. Writers use [`Appender`], readers
//! [`Querier`]; neither knows about the layers beneath.

mod appender;
pub mod block;
pub mod chunk;
mod db;
mod head;
mod interned;
mod metrics;
mod options;
mod postings;
mod querier;
mod record;
mod storage;
mod tombstones;
mod varint;
mod wal;
pub mod wal_tail;

pub use db::{Db, OpenReport};
pub use head::Head;
pub use metrics::DbMetrics;
pub use options::Options;
pub use storage::{
    Appendable, Appender, CommitStats, Querier, Queryable, RejectReason, Result, SelectHints,
    SeriesData, SeriesHandle, SeriesRef, SeriesStFn, StorageError,
};
