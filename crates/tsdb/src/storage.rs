//! The two narrow interfaces every producer and consumer of samples uses.
//! Scrape, remote write, OTLP and rules write through [`Appender`]; the PromQL
//! engine and the HTTP API read through [`Querier`]. A remote or distributed
//! backend implements the same traits.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use sightline_model::{Exemplar, Labels, Matcher, MetricMetadata, Sample};

/// Opaque handle to a series inside one storage; valid for the storage's lifetime
/// (until the series is garbage-collected after it has no data left in the head).
pub type SeriesRef = u64;

/// A storage's own per-series state that a caller may keep next to a [`SeriesRef`]
/// between transactions (see [`Appender::append_handle`]). Opaque to callers and
/// only meaningful to the storage that filled it.
pub type SeriesHandle = Arc<dyn Any + Send + Sync>;

/// Why one sample was refused. The rest of the batch is unaffected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Older than the newest sample of its series (and outside the out-of-order window).
    OutOfOrder,
    /// Older than what the head still accepts (already cut into a block).
    OutOfBounds,
    /// Same timestamp as the newest sample but a different value.
    DuplicateTimestamp,
    /// The label set is not valid (no `__name__`, bad name, duplicate names).
    InvalidLabels,
    /// The exemplar is older than the newest one of its series, or malformed.
    InvalidExemplar,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::OutOfOrder => "out of order sample",
            RejectReason::OutOfBounds => "out of bounds",
            RejectReason::DuplicateTimestamp => "duplicate sample for timestamp",
            RejectReason::InvalidLabels => "invalid labels",
            RejectReason::InvalidExemplar => "invalid exemplar",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug)]
pub enum StorageError {
    Io(std::io::Error),
    Corrupt(String),
    Closed,
    Invalid(String),
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Io(e) => write!(f, "i/o error: {e}"),
            StorageError::Corrupt(m) => write!(f, "corruption: {m}"),
            StorageError::Closed => f.write_str("storage is closed"),
            StorageError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for StorageError {}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        StorageError::Io(e)
    }
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// What a commit did: samples stored and samples refused, by reason.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CommitStats {
    pub samples: u64,
    pub exemplars: u64,
    pub new_series: u64,
    pub rejected: Vec<(RejectReason, u64)>,
}

impl CommitStats {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().map(|(_, n)| n).sum()
    }
}

/// A write transaction. Nothing is visible to readers or durable before `commit`;
/// once `commit` returns Ok, every accepted sample is in the write-ahead log and
/// survives a `kill -9`.
pub trait Appender: Send {
    /// Queues one sample. Per-sample problems (out of order, …) are returned here
    /// and do not poison the transaction.
    fn append(
        &mut self,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> std::result::Result<SeriesRef, RejectReason>;

    /// Like `append`, for decoders holding borrowed label pairs (sorted by name,
    /// unique, no empty values): a known series is found without building a
    /// `Labels`. The default builds one.
    fn append_pairs(
        &mut self,
        pairs: &[(&str, &str)],
        t: i64,
        v: f64,
    ) -> std::result::Result<SeriesRef, RejectReason> {
        self.append(&Labels::from_pairs(pairs.iter().copied()), t, v)
    }

    /// Fast path for callers that cached the ref from an earlier `append` (scrape loops).
    /// Returns `None` when the ref is unknown (series collected): call `append` instead.
    fn append_ref(
        &mut self,
        r: SeriesRef,
        t: i64,
        v: f64,
    ) -> Option<std::result::Result<(), RejectReason>>;

    /// Like `append_ref`, for callers that also keep `handle` next to the ref: a
    /// storage may fill it on the first call and use it later to skip the lookup
    /// by ref. `None` (leave `handle` empty) is always valid. The default ignores
    /// the handle and calls `append_ref`.
    fn append_handle(
        &mut self,
        r: SeriesRef,
        handle: &mut Option<SeriesHandle>,
        t: i64,
        v: f64,
    ) -> Option<std::result::Result<(), RejectReason>> {
        let _ = handle;
        self.append_ref(r, t, v)
    }

    /// Like `append`, with the sample's start timestamp `st` (ms since the
    /// epoch; 0 = none): when the counter (or the delta's interval) began.
    /// Storages that do not keep start timestamps drop it (the default).
    fn append_st(
        &mut self,
        labels: &Labels,
        t: i64,
        st: i64,
        v: f64,
    ) -> std::result::Result<SeriesRef, RejectReason> {
        let _ = st;
        self.append(labels, t, v)
    }

    /// Like `append_ref`, with the sample's start timestamp (see `append_st`).
    fn append_ref_st(
        &mut self,
        r: SeriesRef,
        t: i64,
        st: i64,
        v: f64,
    ) -> Option<std::result::Result<(), RejectReason>> {
        let _ = st;
        self.append_ref(r, t, v)
    }

    fn append_exemplar(
        &mut self,
        r: SeriesRef,
        e: &Exemplar,
    ) -> std::result::Result<(), RejectReason>;

    /// Metadata of a metric family (by its name without suffixes, as exposed).
    fn update_metadata(&mut self, metric_family: &str, md: &MetricMetadata);

    fn commit(self: Box<Self>) -> Result<CommitStats>;

    fn rollback(self: Box<Self>);
}

/// Something appenders can be opened on.
pub trait Appendable: Send + Sync {
    fn appender(&self) -> Box<dyn Appender + '_>;
}

/// One series returned by a select: its labels and the samples in the queried range.
pub struct SeriesData {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// Hints a caller may pass so the storage can skip work.
#[derive(Debug, Clone, Default)]
pub struct SelectHints {
    /// Only labels are needed (e.g. `/api/v1/series`): samples may be left empty.
    pub series_only: bool,
    /// Stop after this many series (0 = unlimited).
    pub limit: usize,
}

/// A read view over `[mint, maxt]` (inclusive, milliseconds).
pub trait Querier: Send + Sync {
    /// Series matching all matchers, sorted by labels, with their samples in range.
    fn select(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<Vec<SeriesData>>;

    /// Like `select` but streams each series' samples through a callback without
    /// materialising every series at once.
    fn select_each(
        &self,
        matchers: &[Matcher],
        f: &mut dyn FnMut(&Labels, &mut dyn Iterator<Item = Sample>),
    ) -> Result<()>;

    /// Like `select_each`, but may call `f` from up to `threads` threads at
    /// once. Series are split, in label order, into contiguous runs, one per
    /// worker; `f` gets the worker index, so a caller keeping per-worker state
    /// and reading the workers in index order sees series in label order.
    /// The default runs everything on the calling thread as worker 0.
    fn select_each_par(
        &self,
        matchers: &[Matcher],
        threads: usize,
        f: &(dyn Fn(usize, &Labels, &[Sample]) + Sync),
    ) -> Result<()> {
        let _ = threads;
        let mut buf = Vec::new();
        self.select_each(matchers, &mut |l, it| {
            buf.clear();
            buf.extend(it);
            f(0, l, &buf);
        })
    }

    /// Like `select_each_par`, also handing over each series' start
    /// timestamps: one per sample (0 = none), or `None` for series stored
    /// without any in range (the common case, which costs nothing extra).
    /// The default reports no start timestamps.
    fn select_each_par_st(
        &self,
        matchers: &[Matcher],
        threads: usize,
        f: &SeriesStFn<'_>,
    ) -> Result<()> {
        self.select_each_par(matchers, threads, &|w, l, s| f(w, l, s, None))
    }

    /// Sorted label names of series matching the matchers (all series if empty).
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>>;

    /// Sorted values of `name` among series matching the matchers.
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>>;

    /// Exemplars of matching series in range.
    fn exemplars(&self, matchers: &[Matcher]) -> Result<Vec<(Labels, Vec<Exemplar>)>>;
}

/// Callback of [`Querier::select_each_par_st`]: worker index, labels,
/// samples and their start timestamps (0 = none; `None` if no sample has one).
pub type SeriesStFn<'a> = dyn Fn(usize, &Labels, &[Sample], Option<&[i64]>) + Sync + 'a;

/// Something queriers can be opened on.
pub trait Queryable: Send + Sync {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>>;
}
