//! OTLP sums and histograms keep their `start_time_unix_nano` as the
//! samples' start timestamps; gauges have none.

use std::sync::Mutex;

use sightline_model::Matcher;
use sightline_otlp::proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, metric::Data, number_data_point,
};
use sightline_tsdb::{Db, Options, Queryable};

const MS: u64 = 1_000_000;

fn point(t_ms: u64, st_ms: u64, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        start_time_unix_nano: st_ms * MS,
        time_unix_nano: t_ms * MS,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn metric(name: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        data: Some(data),
        ..Default::default()
    }
}

/// (metric name, start timestamps of its samples; None = no ST column)
fn sts(db: &Db, name: &str) -> Vec<Option<Vec<i64>>> {
    let q = db.querier(0, i64::MAX).unwrap();
    let out = Mutex::new(Vec::new());
    q.select_each_par_st(&[Matcher::equal("__name__", name)], 1, &|_, _, _, st| {
        out.lock().unwrap().push(st.map(|s| s.to_vec()));
    })
    .unwrap();
    out.into_inner().unwrap()
}

#[test]
fn start_times_become_start_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let cumulative = AggregationTemporality::Cumulative as i32;
    let rm = ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![
                metric(
                    "requests",
                    Data::Sum(Sum {
                        data_points: vec![point(10_000, 1_000, 5.0), point(20_000, 1_000, 9.0)],
                        aggregation_temporality: cumulative,
                        is_monotonic: true,
                    }),
                ),
                metric(
                    "temperature",
                    Data::Gauge(Gauge {
                        data_points: vec![point(10_000, 1_000, 20.5)],
                    }),
                ),
                metric(
                    "latency",
                    Data::Histogram(Histogram {
                        data_points: vec![HistogramDataPoint {
                            start_time_unix_nano: 2_000 * MS,
                            time_unix_nano: 10_000 * MS,
                            count: 3,
                            sum: Some(1.5),
                            bucket_counts: vec![1, 2],
                            explicit_bounds: vec![0.5],
                            ..Default::default()
                        }],
                        aggregation_temporality: cumulative,
                    }),
                ),
            ],
            ..Default::default()
        }],
        ..Default::default()
    };
    let out = sightline_otlp::metrics::write(db.as_ref(), &[rm]).unwrap();
    assert_eq!(out.rejected, 0, "{:?}", out.error);
    assert_eq!(sts(&db, "requests_total"), vec![Some(vec![1_000, 1_000])]);
    assert_eq!(sts(&db, "temperature"), vec![None]);
    assert_eq!(sts(&db, "latency_count"), vec![Some(vec![2_000])]);
    assert_eq!(sts(&db, "latency_sum"), vec![Some(vec![2_000])]);
    assert_eq!(sts(&db, "latency_bucket"), vec![Some(vec![2_000]); 2]);
}
