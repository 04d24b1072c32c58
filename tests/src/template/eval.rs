//! `template.yaml` read as CloudFormation would for one set of parameters: the short-form tags
//! (`!Sub`, `!Ref`, `!GetAtt`, `!If`, ...) turned into their `Fn::` forms, then the intrinsic
//! functions the roles' policies use evaluated (CloudFormation's intrinsic function reference:
//! `Ref`, `Fn::Sub`, `Fn::GetAtt`, `Fn::If`, `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`,
//! `Condition`, `Fn::Join`, `Fn::Split`, `Fn::Select`; `AWS::NoValue` removes the property or list
//! item). Anything else is an error naming it, so a new construct cannot be silently misread.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value};

const NO_VALUE: &str = "\u{0}AWS::NoValue";

/// The template, parsed, with the values its parameters and resources take in a test.
pub struct Template {
    root: Value,
    params: BTreeMap<String, String>,
    /// Bucket resources (logical id -> bucket name): `Ref` is the name, `.Arn` its ARN.
    buckets: BTreeMap<String, String>,
}

impl Template {
    /// Parses `text`; `params` override the template's parameter defaults.
    pub fn parse(
        text: &str,
        params: &[(&str, &str)],
        buckets: &[(&str, &str)],
    ) -> Result<Template> {
        let yaml: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).context("template.yaml is not YAML")?;
        let root = to_json(yaml)?;
        let mut values = BTreeMap::new();
        if let Some(declared) = root.get("Parameters").and_then(Value::as_object) {
            for (name, p) in declared {
                if let Some(default) = p.get("Default") {
                    values.insert(name.clone(), scalar_text(default));
                }
            }
        }
        for (name, value) in params {
            values.insert(name.to_string(), value.to_string());
        }
        Ok(Template {
            root,
            params: values,
            buckets: buckets
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    }

    /// `Resources.<id>.Properties`, evaluated.
    pub fn resource_properties(&self, id: &str) -> Result<Value> {
        let raw = self
            .root
            .pointer(&format!("/Resources/{id}/Properties"))
            .ok_or_else(|| anyhow!("template.yaml: Resources.{id}.Properties is missing"))?;
        self.eval(raw)
            .with_context(|| format!("template.yaml: Resources.{id}"))
    }

    fn eval(&self, v: &Value) -> Result<Value> {
        match v {
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    let e = self.eval(item)?;
                    if e != Value::String(NO_VALUE.into()) {
                        out.push(e);
                    }
                }
                Ok(Value::Array(out))
            }
            Value::Object(map) if map.len() == 1 => {
                let (key, arg) = map.iter().next().expect("one entry");
                if key == "Ref" || key == "Condition" || key.starts_with("Fn::") {
                    self.intrinsic(key, arg)
                } else {
                    self.eval_map(map)
                }
            }
            Value::Object(map) => self.eval_map(map),
            other => Ok(other.clone()),
        }
    }

    fn eval_map(&self, map: &Map<String, Value>) -> Result<Value> {
        let mut out = Map::new();
        for (k, v) in map {
            let e = self.eval(v)?;
            if e != Value::String(NO_VALUE.into()) {
                out.insert(k.clone(), e);
            }
        }
        Ok(Value::Object(out))
    }

    fn intrinsic(&self, name: &str, arg: &Value) -> Result<Value> {
        let args = |n: usize| -> Result<Vec<Value>> {
            match arg {
                Value::Array(a) if a.len() == n => Ok(a.clone()),
                _ => bail!("{name} takes {n} arguments, got {arg}"),
            }
        };
        Ok(match name {
            "Ref" => Value::String(self.reference(&text(arg)?, None)?),
            "Condition" => Value::Bool(self.condition(&text(arg)?)?),
            "Fn::GetAtt" => {
                let (res, attr) = match arg {
                    Value::String(s) => s
                        .split_once('.')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                        .ok_or_else(|| anyhow!("Fn::GetAtt {s}: expected Resource.Attribute"))?,
                    _ => {
                        let a = args(2)?;
                        (text(&a[0])?, text(&a[1])?)
                    }
                };
                Value::String(self.reference(&res, Some(&attr))?)
            }
            "Fn::Sub" => match arg {
                Value::String(s) => Value::String(self.sub(s, &Map::new())?),
                _ => {
                    let a = args(2)?;
                    let vars = self.eval(&a[1])?;
                    let vars = vars.as_object().cloned().unwrap_or_default();
                    Value::String(self.sub(&text(&a[0])?, &vars)?)
                }
            },
            "Fn::If" => {
                let a = args(3)?;
                if self.condition(&text(&a[0])?)? {
                    self.eval(&a[1])?
                } else {
                    self.eval(&a[2])?
                }
            }
            "Fn::Equals" => {
                let a = args(2)?;
                Value::Bool(scalar_text(&self.eval(&a[0])?) == scalar_text(&self.eval(&a[1])?))
            }
            "Fn::Not" => Value::Bool(!truth(&self.eval(&args(1)?[0])?)?),
            "Fn::And" | "Fn::Or" => {
                let items = arg
                    .as_array()
                    .ok_or_else(|| anyhow!("{name} takes a list"))?;
                let mut values = Vec::new();
                for item in items {
                    values.push(truth(&self.eval(item)?)?);
                }
                Value::Bool(if name == "Fn::And" {
                    values.iter().all(|b| *b)
                } else {
                    values.iter().any(|b| *b)
                })
            }
            "Fn::Join" => {
                let a = args(2)?;
                let list = self.eval(&a[1])?;
                let parts: Vec<String> = list
                    .as_array()
                    .ok_or_else(|| anyhow!("Fn::Join: second argument is not a list"))?
                    .iter()
                    .map(scalar_text)
                    .collect();
                Value::String(parts.join(&text(&a[0])?))
            }
            "Fn::Split" => {
                let a = args(2)?;
                let whole = scalar_text(&self.eval(&a[1])?);
                Value::Array(
                    whole
                        .split(text(&a[0])?.as_str())
                        .map(|s| Value::String(s.to_string()))
                        .collect(),
                )
            }
            "Fn::Select" => {
                let a = args(2)?;
                let index: usize = scalar_text(&self.eval(&a[0])?)
                    .parse()
                    .context("Fn::Select: the index is not a number")?;
                let list = self.eval(&a[1])?;
                list.as_array()
                    .and_then(|l| l.get(index).cloned())
                    .ok_or_else(|| anyhow!("Fn::Select: index {index} out of range"))?
            }
            other => bail!("{other} is not evaluated by the test harness"),
        })
    }

    fn condition(&self, name: &str) -> Result<bool> {
        let body = self
            .root
            .pointer(&format!("/Conditions/{name}"))
            .ok_or_else(|| anyhow!("condition {name} is not declared"))?;
        truth(&self.eval(body)?).with_context(|| format!("condition {name}"))
    }

    /// `Ref` (attr `None`) or `Fn::GetAtt` of a parameter, pseudo parameter or resource.
    fn reference(&self, name: &str, attr: Option<&str>) -> Result<String> {
        if attr.is_none() {
            if let Some(v) = self.params.get(name) {
                return Ok(v.clone());
            }
            match name {
                "AWS::NoValue" => return Ok(NO_VALUE.into()),
                "AWS::Partition" => return Ok("aws".into()),
                "AWS::Region" => return Ok("us-east-1".into()),
                "AWS::AccountId" => return Ok("123456789012".into()),
                "AWS::StackName" => return Ok("custody-test".into()),
                _ => {}
            }
        }
        if let Some(bucket) = self.buckets.get(name) {
            return match attr {
                None => Ok(bucket.clone()),
                Some("Arn") => Ok(format!("arn:aws:s3:::{bucket}")),
                Some(other) => bail!("{name}.{other}: not a bucket attribute the harness knows"),
            };
        }
        if self.root.pointer(&format!("/Resources/{name}")).is_some() {
            // Not an S3 bucket (log groups, queues, roles): a placeholder ARN of its own service.
            return Ok(format!(
                "arn:aws:other:us-east-1:123456789012:{name}{}",
                attr.map(|a| format!(".{a}")).unwrap_or_default()
            ));
        }
        bail!("{name} is neither a parameter nor a resource")
    }

    /// `${Name}`, `${Resource.Attr}` and `${!Literal}` replaced.
    fn sub(&self, template: &str, vars: &Map<String, Value>) -> Result<String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| anyhow!("Fn::Sub {template:?}: unclosed ${{"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str(&format!("${{{literal}}}"));
            } else if let Some(v) = vars.get(name) {
                out.push_str(&scalar_text(v));
            } else if let Some((res, attr)) = name.split_once('.') {
                out.push_str(&self.reference(res, Some(attr))?);
            } else {
                out.push_str(&self.reference(name, None)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn text(v: &Value) -> Result<String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("expected a string, got {v}"))
}

fn truth(v: &Value) -> Result<bool> {
    v.as_bool()
        .ok_or_else(|| anyhow!("expected a condition (true/false), got {v}"))
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// YAML to JSON, short-form tags to their long form (`!Sub x` -> `{"Fn::Sub": x}`).
fn to_json(v: serde_yaml_ng::Value) -> Result<Value> {
    use serde_yaml_ng::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n)?,
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect::<Result<_>>()?),
        Y::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s,
                    other => bail!("a mapping key that is not a string: {other:?}"),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let value = to_json(tagged.value)?;
            let key = match tag {
                "Ref" | "Condition" => tag.to_string(),
                "GetAtt" => "Fn::GetAtt".to_string(),
                other => format!("Fn::{other}"),
            };
            let mut out = Map::new();
            out.insert(key, value);
            Value::Object(out)
        }
    })
}
