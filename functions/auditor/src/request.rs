//! A Function URL request (payload format 2.0, Lambda Developer Guide "Invoking Lambda function
//! URLs"), parsed with `aws_lambda_events`' `LambdaFunctionUrlRequest`. The query is read from
//! `rawQueryString` (`conversation=c0ffee01&event=hashed`), which every request carries, and
//! merged with `queryStringParameters`, which requests without a query (and some clients) omit.

use std::collections::BTreeMap;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use serde_json::Value;

/// What the auditor needs of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// The IAM principal the Function URL authenticated (`requestContext.authorizer.iam.userArn`).
    pub caller: Option<String>,
}

/// A payload that is not a Function URL request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Function URL request (payload format 2.0): {0}")]
pub struct RequestError(String);

impl Request {
    pub fn parse(payload: &Value) -> Result<Request, RequestError> {
        let request: LambdaFunctionUrlRequest =
            serde_json::from_value(payload.clone()).map_err(|e| RequestError(e.to_string()))?;
        let mut query: BTreeMap<String, String> = request
            .raw_query_string
            .as_deref()
            .map(|raw| {
                url::form_urlencoded::parse(raw.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        for (name, value) in &request.query_string_parameters {
            query.entry(name.clone()).or_insert_with(|| value.clone());
        }
        let context = &request.request_context;
        Ok(Request {
            method: context.http.method.clone().unwrap_or_else(|| "GET".into()),
            path: request
                .raw_path
                .clone()
                .or_else(|| context.http.path.clone())
                .unwrap_or_else(|| "/".into()),
            query,
            caller: context
                .authorizer
                .as_ref()
                .and_then(|a| a.iam.as_ref())
                .and_then(|iam| iam.user_arn.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Value {
        let path = format!("{}/../../samples/events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    #[test]
    fn the_query_comes_from_raw_query_string_without_query_string_parameters() {
        let payload = sample("function-url-get-records-raw-query.json");
        assert!(payload.get("queryStringParameters").is_none());
        let request = Request::parse(&payload).unwrap();
        assert_eq!(request.path, "/records");
        assert_eq!(
            request.query.get("conversation").map(String::as_str),
            Some("9e2c4a1b-7f3d-4e8a-b5c6-0d1e2f3a4b5c")
        );
        assert_eq!(
            request.query.get("event").map(String::as_str),
            Some("hashed")
        );
        assert!(request.caller.unwrap().contains("CustodyAuditor"));
    }

    #[test]
    fn percent_encoded_query_values_are_decoded() {
        let mut payload = sample("function-url-get-records-raw-query.json");
        payload["rawQueryString"] =
            serde_json::json!("key=org%2Fyear%3D2024%2Fa+b.opus&matter=M%2B1");
        let request = Request::parse(&payload).unwrap();
        assert_eq!(request.query["key"], "org/year=2024/a b.opus");
        assert_eq!(request.query["matter"], "M+1");
    }

    #[test]
    fn the_older_sample_with_query_string_parameters_still_parses() {
        let request = Request::parse(&sample("function-url-get-records.json")).unwrap();
        assert!(request.query.contains_key("conversation"));
    }

    #[test]
    fn a_payload_that_is_not_a_function_url_request_is_refused() {
        assert!(Request::parse(&serde_json::json!({"Records": []})).is_err());
    }
}
