//! Prometheus metrics, served at `GET /metrics` in the OpenMetrics text format.
//!
//! `prometheus-client` (the Prometheus project's own Rust client) is used rather than a
//! hand-written encoder: label escaping, histogram buckets and the exposition format's details
//! are where hand-written encoders go wrong, and the crate has no dependencies beyond `parking_lot`
//! and its derive macro.
//!
//! Everything is recorded in one place, the middleware in [`crate::router`]: handlers only put
//! a [`ModelLabel`] (which model and version answered, how many rows) and error answers an
//! [`crate::error::ErrorCode`] in the response's extensions. Model labels only ever name loaded
//! models, so a client cannot grow the label sets by asking for made-up names.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::time::Duration;

/// Which model answered a request, put in the response's extensions by the scoring handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelLabel {
    /// The model's name.
    pub name: String,
    /// Its version.
    pub version: u32,
    /// `predict` or `transform`.
    pub endpoint: &'static str,
    /// Rows scored (0 for a refused request).
    pub rows: u64,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
    version: String,
    endpoint: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    code: String,
    model: String,
    version: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 100 µs to ~13 s: a one-row request is well under a millisecond; a bulk batch of a
    // million rows takes seconds.
    Histogram::new(exponential_buckets(1e-4, 2.0, 18))
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    requests: Family<ModelLabels, Counter>,
    rows: Family<ModelLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    latency: HistogramFamily<ModelLabels>,
    models_loaded: Gauge,
    load_errors: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "keel_http_requests",
            "HTTP requests answered, by method, route template and status",
            http_requests.clone(),
        );
        let requests = Family::<ModelLabels, Counter>::default();
        registry.register(
            "keel_model_requests",
            "Scoring requests answered, by model, version and endpoint",
            requests.clone(),
        );
        let rows = Family::<ModelLabels, Counter>::default();
        registry.register(
            "keel_model_rows",
            "Rows scored, by model, version and endpoint",
            rows.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "keel_errors",
            "Error answers by code, with the model and version when one was resolved",
            errors.clone(),
        );
        let latency: HistogramFamily<ModelLabels> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "keel_model_request_duration_seconds",
            "Time from a scoring request's arrival to its answer, by model, version and endpoint",
            latency.clone(),
        );
        let models_loaded = Gauge::default();
        registry.register(
            "keel_models_loaded",
            "Model versions loaded and serving",
            models_loaded.clone(),
        );
        let load_errors = Gauge::default();
        registry.register(
            "keel_model_load_errors",
            "Watched bundle files whose latest content failed to load",
            load_errors.clone(),
        );
        registry.register(
            "keel_build",
            "The keel server's build",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        Metrics {
            registry,
            http_requests,
            requests,
            rows,
            errors,
            latency,
            models_loaded,
            load_errors,
        }
    }

    /// Records one answered request.
    pub fn record(
        &self,
        method: &str,
        route: &str,
        status: u16,
        elapsed: Duration,
        model: Option<&ModelLabel>,
        error: Option<&'static str>,
    ) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_string(),
                route: route.to_string(),
                status: status.to_string(),
            })
            .inc();
        if let Some(m) = model {
            let labels = ModelLabels {
                model: m.name.clone(),
                version: m.version.to_string(),
                endpoint: m.endpoint.to_string(),
            };
            self.requests.get_or_create(&labels).inc();
            self.rows.get_or_create(&labels).inc_by(m.rows);
            self.latency
                .get_or_create(&labels)
                .observe(elapsed.as_secs_f64());
        }
        if let Some(code) = error {
            self.errors
                .get_or_create(&ErrorLabels {
                    code: code.to_string(),
                    model: model.map(|m| m.name.clone()).unwrap_or_default(),
                    version: model.map(|m| m.version.to_string()).unwrap_or_default(),
                })
                .inc();
        }
    }

    /// Sets the number of loaded model versions and of files failing to load.
    pub fn set_models(&self, loaded: usize, errors: usize) {
        self.models_loaded
            .set(i64::try_from(loaded).unwrap_or(i64::MAX));
        self.load_errors
            .set(i64::try_from(errors).unwrap_or(i64::MAX));
    }

    /// The exposition text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; an error here would be an encoder bug, and the
        // scrape then gets what was written so far.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_show_up_in_the_text() {
        let m = Metrics::new();
        let label = ModelLabel {
            name: "iris".into(),
            version: 2,
            endpoint: "predict",
            rows: 5,
        };
        m.record(
            "POST",
            "/v1/models/{name}/predict",
            200,
            Duration::from_millis(3),
            Some(&label),
            None,
        );
        m.record("GET", "/nope", 404, Duration::ZERO, None, Some("not_found"));
        m.set_models(3, 1);
        let text = m.encode();
        for want in [
            r#"keel_model_rows_total{model="iris",version="2",endpoint="predict"} 5"#,
            r#"keel_errors_total{code="not_found",model="",version=""} 1"#,
            "keel_models_loaded 3",
            r#"keel_build_info{version=""#,
            "keel_model_request_duration_seconds_bucket",
        ] {
            assert!(text.contains(want), "{want} not in\n{text}");
        }
    }
}
