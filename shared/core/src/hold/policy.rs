//! The hold policy: which objects are held and which marking they get, filled from CLI flags or
//! Lambda environment variables (strings), with errors that say what was expected.

use std::path::PathBuf;

use super::register::MatterRegister;
use crate::store::{DEFAULT_COPY_PART_SIZE, DEFAULT_MULTIPART_THRESHOLD};

/// Environment variable names the Lambda function reads (the CLI uses flags of the same meaning).
pub const ENV_HOLD_SELECT: &str = "CUSTODY_HOLD_SELECT";
pub const ENV_HOLD_MARKING: &str = "CUSTODY_HOLD_MARKING";
pub const ENV_COPY_MULTIPART_THRESHOLD: &str = "CUSTODY_COPY_MULTIPART_THRESHOLD";
pub const ENV_COPY_PART_SIZE: &str = "CUSTODY_COPY_PART_SIZE";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct PolicyError {
    /// The flag or variable, e.g. `CUSTODY_HOLD_MARKING`.
    pub setting: String,
    pub problem: String,
}

/// Where a matter register lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterLocation {
    S3 { bucket: String, key: String },
    Path(PathBuf),
}

/// Which objects are held, as configured before the register is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectionSpec {
    Everything,
    Matters(RegisterLocation),
    FieldEquals { path: String, value: String },
}

/// Which objects are held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every exported object.
    Everything,
    /// Only conversations a matter in the register names.
    Matters(MatterRegister),
    /// Conversations whose metadata (any recording's or the call metadata) has the value at the
    /// dotted path, e.g. `participantData.legalHold` = `true`.
    FieldEquals { path: String, value: String },
}

/// The marking mechanisms in force; any combination, at least one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marking {
    pub tags: bool,
    pub metadata: bool,
    pub object_lock: bool,
}

impl Marking {
    pub const ALL: Marking = Marking {
        tags: true,
        metadata: true,
        object_lock: true,
    };

    /// Names of the mechanisms in force, as written in records: `tags`, `metadata`, `object-lock`.
    pub fn names(&self) -> Vec<String> {
        [
            (self.tags, "tags"),
            (self.metadata, "metadata"),
            (self.object_lock, "object-lock"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| name.to_string())
        .collect()
    }
}

/// The whole hold configuration of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldPolicy {
    pub selection: Selection,
    pub marking: Marking,
    /// Objects larger than this are copied with multipart UploadPartCopy (default 5 GiB).
    pub multipart_threshold: u64,
    pub part_size: u64,
    /// The matter named on holds the selection itself names none for (`all`, `field:`, a
    /// manifest's hold flag).
    pub default_matter: Option<String>,
}

impl HoldPolicy {
    pub fn new(selection: Selection, marking: Marking) -> Self {
        HoldPolicy {
            selection,
            marking,
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            part_size: DEFAULT_COPY_PART_SIZE,
            default_matter: None,
        }
    }
}

impl SelectionSpec {
    /// `all` | `matters:<s3://bucket/key or path>` | `field:<dotted.path>=<value>`.
    pub fn parse(setting: &str, text: &str) -> Result<SelectionSpec, PolicyError> {
        let fail = |problem: String| PolicyError {
            setting: setting.to_string(),
            problem,
        };
        let text = text.trim();
        if text.eq_ignore_ascii_case("all") {
            return Ok(SelectionSpec::Everything);
        }
        if let Some(location) = text.strip_prefix("matters:") {
            return RegisterLocation::parse(location)
                .map(SelectionSpec::Matters)
                .map_err(|e| fail(e.to_string()));
        }
        if let Some(rule) = text.strip_prefix("field:") {
            let (path, value) = rule
                .split_once('=')
                .ok_or_else(|| fail(format!("{rule:?} needs the form <dotted.path>=<value>")))?;
            let path = path.trim();
            if path.is_empty() || path.split('.').any(str::is_empty) {
                return Err(fail(format!(
                    "{path:?} is not a dotted field path like participantData.legalHold"
                )));
            }
            return Ok(SelectionSpec::FieldEquals {
                path: path.to_string(),
                value: value.trim().to_string(),
            });
        }
        Err(fail(format!(
            "{text:?} is not one of: all | matters:<s3://bucket/key or file path> | field:<path>=<value>"
        )))
    }
}

/// A matter register location that names none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterLocationError {
    #[error("the matter register location is empty")]
    Empty,
    #[error("{0:?} is not s3://<bucket>/<key>")]
    NotAnS3Object(String),
}

impl RegisterLocation {
    pub fn parse(text: &str) -> Result<RegisterLocation, RegisterLocationError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(RegisterLocationError::Empty);
        }
        if let Some(rest) = text.strip_prefix("s3://") {
            return match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
                    Ok(RegisterLocation::S3 {
                        bucket: bucket.to_string(),
                        key: key.to_string(),
                    })
                }
                _ => Err(RegisterLocationError::NotAnS3Object(text.to_string())),
            };
        }
        Ok(RegisterLocation::Path(PathBuf::from(text)))
    }
}

impl Marking {
    /// A comma-separated list of `tags`, `metadata`, `object-lock` (or `all`).
    pub fn parse(setting: &str, text: &str) -> Result<Marking, PolicyError> {
        let mut marking = Marking {
            tags: false,
            metadata: false,
            object_lock: false,
        };
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word.to_ascii_lowercase().as_str() {
                "tags" | "tag" => marking.tags = true,
                "metadata" | "meta" => marking.metadata = true,
                "object-lock" | "object_lock" | "objectlock" | "legal-hold" => {
                    marking.object_lock = true
                }
                "all" => marking = Marking::ALL,
                _ => {
                    return Err(PolicyError {
                        setting: setting.to_string(),
                        problem: format!(
                            "{word:?} is not a marking; use tags, metadata, object-lock or all"
                        ),
                    });
                }
            }
        }
        if marking.names().is_empty() {
            return Err(PolicyError {
                setting: setting.to_string(),
                problem:
                    "no marking given; use any of tags, metadata, object-lock (comma-separated)"
                        .into(),
            });
        }
        Ok(marking)
    }
}

/// A byte size: `1048576`, `64MiB`, `5GiB`, `8MB`.
pub fn parse_size(setting: &str, text: &str) -> Result<u64, PolicyError> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(PolicyError {
                setting: setting.to_string(),
                problem: format!(
                    "unknown unit {other:?} in {text:?}; use B, KiB, MiB, GiB, KB, MB or GB"
                ),
            });
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .filter(|n| *n > 0)
        .ok_or_else(|| PolicyError {
            setting: setting.to_string(),
            problem: format!("{text:?} is not a positive size like 64MiB or 5GiB"),
        })
}

/// S3's bounds on UploadPartCopy part sizes, and on a single CopyObject.
const MIN_PART_SIZE: u64 = 5 << 20;
const MAX_PART_SIZE: u64 = 5 << 30;

/// The hold settings as read from the environment (Lambda) or flags (CLI), before the matter
/// register is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySettings {
    pub selection: SelectionSpec,
    pub marking: Marking,
    pub multipart_threshold: u64,
    pub part_size: u64,
}

impl PolicySettings {
    /// Read [`ENV_HOLD_SELECT`] and [`ENV_HOLD_MARKING`] (both required: what is held and how is
    /// never guessed) and the optional copy sizes through `lookup` (e.g. `std::env::var(..).ok()`).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<PolicySettings, PolicyError> {
        let required = |name: &str, expected: &str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| PolicyError {
                    setting: name.to_string(),
                    problem: format!("not set; expected {expected}"),
                })
        };
        let selection = SelectionSpec::parse(
            ENV_HOLD_SELECT,
            &required(
                ENV_HOLD_SELECT,
                "all | matters:<location> | field:<path>=<value>",
            )?,
        )?;
        let marking = Marking::parse(
            ENV_HOLD_MARKING,
            &required(
                ENV_HOLD_MARKING,
                "a comma-separated list of tags, metadata, object-lock",
            )?,
        )?;
        let size = |name: &str, default: u64| match lookup(name).filter(|v| !v.trim().is_empty()) {
            Some(text) => parse_size(name, &text),
            None => Ok(default),
        };
        let settings = PolicySettings {
            selection,
            marking,
            multipart_threshold: size(ENV_COPY_MULTIPART_THRESHOLD, DEFAULT_MULTIPART_THRESHOLD)?,
            part_size: size(ENV_COPY_PART_SIZE, DEFAULT_COPY_PART_SIZE)?,
        };
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), PolicyError> {
        if self.multipart_threshold > MAX_PART_SIZE {
            return Err(PolicyError {
                setting: ENV_COPY_MULTIPART_THRESHOLD.to_string(),
                problem: format!(
                    "{} bytes is above 5 GiB, the largest object one CopyObject can copy",
                    self.multipart_threshold
                ),
            });
        }
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.part_size) {
            return Err(PolicyError {
                setting: ENV_COPY_PART_SIZE.to_string(),
                problem: format!(
                    "{} bytes is outside S3's part size range of 5 MiB to 5 GiB",
                    self.part_size
                ),
            });
        }
        Ok(())
    }

    /// The policy, given the register when the selection names one.
    pub fn into_policy(self, register: Option<MatterRegister>) -> Result<HoldPolicy, PolicyError> {
        let selection = match (self.selection, register) {
            (SelectionSpec::Everything, _) => Selection::Everything,
            (SelectionSpec::FieldEquals { path, value }, _) => {
                Selection::FieldEquals { path, value }
            }
            (SelectionSpec::Matters(_), Some(register)) => Selection::Matters(register),
            (SelectionSpec::Matters(location), None) => {
                return Err(PolicyError {
                    setting: ENV_HOLD_SELECT.to_string(),
                    problem: format!("the matter register at {location:?} was not loaded"),
                });
            }
        };
        Ok(HoldPolicy {
            selection,
            marking: self.marking,
            multipart_threshold: self.multipart_threshold,
            part_size: self.part_size,
            default_matter: None,
        })
    }
}

#[cfg(test)]
mod settings_tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn settings_come_from_the_environment_with_defaults_for_sizes() {
        let s = PolicySettings::from_lookup(lookup(&[
            (ENV_HOLD_SELECT, "all"),
            (ENV_HOLD_MARKING, "tags,object-lock"),
        ]))
        .unwrap();
        assert_eq!(s.multipart_threshold, DEFAULT_MULTIPART_THRESHOLD);
        let policy = s.into_policy(None).unwrap();
        assert_eq!(policy.selection, Selection::Everything);
        assert!(policy.marking.tags && policy.marking.object_lock && !policy.marking.metadata);
    }

    #[test]
    fn missing_or_impossible_settings_are_named() {
        let err = PolicySettings::from_lookup(lookup(&[(ENV_HOLD_MARKING, "tags")])).unwrap_err();
        assert_eq!(err.setting, ENV_HOLD_SELECT);
        let err = PolicySettings::from_lookup(lookup(&[
            (ENV_HOLD_SELECT, "all"),
            (ENV_HOLD_MARKING, "metadata"),
            (ENV_COPY_PART_SIZE, "1MiB"),
        ]))
        .unwrap_err();
        assert_eq!(err.setting, ENV_COPY_PART_SIZE);
        let err = PolicySettings::from_lookup(lookup(&[
            (ENV_HOLD_SELECT, "all"),
            (ENV_HOLD_MARKING, "metadata"),
            (ENV_COPY_MULTIPART_THRESHOLD, "6GiB"),
        ]))
        .unwrap_err();
        assert_eq!(err.setting, ENV_COPY_MULTIPART_THRESHOLD);
        let s = PolicySettings::from_lookup(lookup(&[
            (ENV_HOLD_SELECT, "matters:/tmp/m.json"),
            (ENV_HOLD_MARKING, "tags"),
        ]))
        .unwrap();
        assert!(
            s.into_policy(None)
                .unwrap_err()
                .problem
                .contains("not loaded")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections_parse() {
        assert_eq!(
            SelectionSpec::parse("s", "all").unwrap(),
            SelectionSpec::Everything
        );
        assert_eq!(
            SelectionSpec::parse("s", "matters:s3://legal/register.json").unwrap(),
            SelectionSpec::Matters(RegisterLocation::S3 {
                bucket: "legal".into(),
                key: "register.json".into()
            })
        );
        assert_eq!(
            SelectionSpec::parse("s", "matters:samples/matters.json").unwrap(),
            SelectionSpec::Matters(RegisterLocation::Path("samples/matters.json".into()))
        );
        assert_eq!(
            SelectionSpec::parse("s", "field:participantData.legalHold=true").unwrap(),
            SelectionSpec::FieldEquals {
                path: "participantData.legalHold".into(),
                value: "true".into()
            }
        );
        for bad in [
            "",
            "some",
            "matters:",
            "matters:s3://bucket",
            "field:noequals",
            "field:a..b=1",
        ] {
            let err = SelectionSpec::parse(ENV_HOLD_SELECT, bad).unwrap_err();
            assert_eq!(err.setting, ENV_HOLD_SELECT, "{bad}");
        }
    }

    #[test]
    fn markings_parse_in_any_combination() {
        let m = Marking::parse("m", "tags, object-lock").unwrap();
        assert!(m.tags && m.object_lock && !m.metadata);
        assert_eq!(m.names(), vec!["tags", "object-lock"]);
        assert_eq!(Marking::parse("m", "all").unwrap(), Marking::ALL);
        let err = Marking::parse(ENV_HOLD_MARKING, "tags,stickers").unwrap_err();
        assert!(err.to_string().contains("stickers") && err.to_string().contains(ENV_HOLD_MARKING));
        assert!(Marking::parse("m", " , ").is_err());
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("t", "5GiB").unwrap(), 5 << 30);
        assert_eq!(parse_size("t", "8 MiB").unwrap(), 8 << 20);
        assert_eq!(parse_size("t", "1000").unwrap(), 1000);
        assert_eq!(parse_size("t", "5MB").unwrap(), 5_000_000);
        assert!(parse_size("t", "0").is_err());
        assert!(parse_size("t", "5 parsecs").is_err());
        assert!(parse_size("t", "GiB").is_err());
    }
}
