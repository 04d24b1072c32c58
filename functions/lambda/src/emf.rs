//! CloudWatch Embedded Metric Format (EMF): one JSON log line from which CloudWatch Logs extracts
//! metrics, no API call and no extra permission (Amazon CloudWatch User Guide, "Specification:
//! Embedded metric format"). The wire text, on one line:
//!
//! ```text
//! {"_aws":{"Timestamp":1764629409123,"CloudWatchMetrics":[{"Namespace":"custody",
//!   "Dimensions":[["FunctionName"]],"Metrics":[{"Name":"Objects","Unit":"Count"}]}]},
//!  "FunctionName":"custody-tagger","Objects":3,"requestId":"8f5c..."}
//! ```
//!
//! `_aws.Timestamp` is milliseconds since the Unix epoch; every dimension and metric a directive
//! names must be a member of the root with its value (dimension values strings, metric values
//! numbers); other members (the request id) travel along as searchable properties. At most 100
//! metrics per directive and 30 dimensions per set. `schemas/cloudwatch-emf.schema.json` holds
//! the specification's JSON schema, which the tests validate every line against.

use serde_json::{Map, Value, json};

/// CloudWatch metric units this project uses (a subset of the specification's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
    Milliseconds,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Bytes => "Bytes",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// The most metrics one directive may name.
pub const MAX_METRICS: usize = 100;

/// One EMF line being built: a namespace, one dimension set, metrics and properties.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricLine {
    namespace: String,
    dimensions: Vec<(String, String)>,
    metrics: Vec<(String, f64, Unit)>,
    properties: Map<String, Value>,
}

impl MetricLine {
    pub fn new(namespace: impl Into<String>) -> MetricLine {
        MetricLine {
            namespace: namespace.into(),
            dimensions: Vec::new(),
            metrics: Vec::new(),
            properties: Map::new(),
        }
    }

    /// Add a dimension (a string the metrics are split by, e.g. `FunctionName`).
    pub fn dimension(mut self, name: &str, value: &str) -> MetricLine {
        self.dimensions.push((name.to_string(), value.to_string()));
        self
    }

    /// Add a metric value; a second value under the same name replaces the first.
    pub fn metric(mut self, name: &str, value: f64, unit: Unit) -> MetricLine {
        self.metrics.retain(|(n, _, _)| n != name);
        self.metrics.push((name.to_string(), value, unit));
        self
    }

    /// Add a member that is not a metric (searchable in Logs Insights, e.g. `requestId`).
    pub fn property(mut self, name: &str, value: Value) -> MetricLine {
        self.properties.insert(name.to_string(), value);
        self
    }

    /// The line as a JSON object, stamped with `timestamp_millis`. Metrics beyond the
    /// specification's 100 per directive are kept as properties (never silently dropped).
    pub fn to_json(&self, timestamp_millis: i64) -> Value {
        let mut root = self.properties.clone();
        for (name, value) in &self.dimensions {
            root.insert(name.clone(), json!(value));
        }
        let mut definitions = Vec::new();
        for (i, (name, value, unit)) in self.metrics.iter().enumerate() {
            root.insert(name.clone(), json!(value));
            if i < MAX_METRICS {
                definitions.push(json!({ "Name": name, "Unit": unit.name() }));
            }
        }
        let dimension_set: Vec<&str> = self.dimensions.iter().map(|(n, _)| n.as_str()).collect();
        root.insert(
            "_aws".to_string(),
            json!({
                "Timestamp": timestamp_millis,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [dimension_set],
                    "Metrics": definitions,
                }],
            }),
        );
        Value::Object(root)
    }

    /// Print the line to standard output, where the Lambda service sends it to CloudWatch Logs.
    pub fn emit(&self) {
        let line = self.to_json(chrono::Utc::now().timestamp_millis());
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> jsonschema::Validator {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schemas/cloudwatch-emf.schema.json"
        );
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        jsonschema::validator_for(&schema).expect("the EMF schema compiles")
    }

    /// What the schema cannot say: every metric and dimension a directive names is a root member
    /// of the right type.
    fn targets_present(line: &Value) -> Result<(), String> {
        for directive in line["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                if !line.get(name).is_some_and(Value::is_number) {
                    return Err(format!("metric {name} has no numeric root member"));
                }
            }
            for set in directive["Dimensions"].as_array().unwrap() {
                for name in set.as_array().unwrap() {
                    let name = name.as_str().unwrap();
                    if !line.get(name).is_some_and(Value::is_string) {
                        return Err(format!("dimension {name} has no string root member"));
                    }
                }
            }
        }
        Ok(())
    }

    fn sample() -> Value {
        MetricLine::new("custody")
            .dimension("FunctionName", "custody-tagger")
            .metric("Objects", 3.0, Unit::Count)
            .metric("BytesHashed", 1024.0, Unit::Bytes)
            .metric("Duration", 12.5, Unit::Milliseconds)
            .property("requestId", json!("8f5c"))
            .to_json(1_764_629_409_123)
    }

    #[test]
    fn a_metric_line_satisfies_the_emf_schema_and_names_only_present_members() {
        let line = sample();
        let validator = schema();
        let errors: Vec<String> = validator
            .iter_errors(&line)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}\n{line}");
        targets_present(&line).unwrap();
        assert_eq!(line["Objects"], json!(3.0));
        assert_eq!(line["requestId"], json!("8f5c"));
        // One line of text, as CloudWatch Logs reads it.
        assert!(!line.to_string().contains('\n'));
    }

    #[test]
    fn the_schema_refuses_what_the_specification_refuses() {
        let validator = schema();
        let mut no_timestamp = sample();
        no_timestamp["_aws"]
            .as_object_mut()
            .unwrap()
            .remove("Timestamp");
        assert!(!validator.is_valid(&no_timestamp));
        let mut bad_unit = sample();
        bad_unit["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Objects");
        assert!(!validator.is_valid(&bad_unit));
        let mut no_namespace = sample();
        no_namespace["_aws"]["CloudWatchMetrics"][0]["Namespace"] = json!("");
        assert!(!validator.is_valid(&no_namespace));
        let mut text_timestamp = sample();
        text_timestamp["_aws"]["Timestamp"] = json!("2026-12-01T00:00:00Z");
        assert!(!validator.is_valid(&text_timestamp));
        let mut missing_value = sample();
        missing_value.as_object_mut().unwrap().remove("Objects");
        assert!(targets_present(&missing_value).is_err());
    }

    #[test]
    fn metrics_beyond_one_hundred_stay_as_properties() {
        let mut line = MetricLine::new("custody").dimension("FunctionName", "f");
        for i in 0..105 {
            line = line.metric(&format!("M{i}"), i as f64, Unit::Count);
        }
        let json = line.to_json(1);
        let named = json["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(named, MAX_METRICS);
        assert_eq!(json["M104"], json!(104.0));
        assert!(schema().is_valid(&json));
    }
}
