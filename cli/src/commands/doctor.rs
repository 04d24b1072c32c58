//! `custody doctor`: checks a deployment before it runs (custody_aws::doctor): versioning, Object
//! Lock and default retention of both buckets, event delivery, encryption and KMS access, and
//! every S3 and Secrets Manager action the chosen role needs, each probed with a call that cannot
//! change anything. Exit 0 all good, 1 problems found, 2 could not run.
//!
//! The table (default) has one line per check; `--json` prints the report:
//! `{"role":"tagger","healthy":false,"checks":[{"area":"permission","subject":…,"name":…,
//! "status":"pass|fail|unknown","detail":…,"fix":…}]}`.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use clap::Args;
use custody_aws::doctor::{self, Check, Place, Report, Role, Status, Target};
use custody_aws::services::{self, Settings};
use custody_core::hold::Marking;

use crate::store_flags::StoreFlags;

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The export: s3://bucket/prefix (the tagger's CUSTODY_EXPORT_BUCKET and CUSTODY_EXPORT_PREFIX).
    #[arg(long)]
    pub export: Option<String>,
    /// The ledger: s3://bucket/prefix.
    #[arg(long, env = services::ENV_LEDGER)]
    pub ledger: Option<String>,
    /// Whose permissions to check with the current identity: tagger, sequencer or auditor.
    #[arg(long, default_value = "tagger")]
    pub role: String,
    /// The tagger's hold marking (it decides which writes it needs).
    #[arg(long, env = services::ENV_HOLD_MARKING, default_value = "tags,object-lock")]
    pub marking: String,
    /// The signing key secret's ARN (its GetSecretValue is probed without reading it).
    #[arg(long, env = services::ENV_SIGNING_KEY_SECRET_ARN)]
    pub signing_key_secret: Option<String>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreFlags,
}

pub async fn doctor_cmd(args: DoctorArgs) -> Result<ExitCode> {
    let role = Role::parse(&args.role)?;
    let marking = Marking::parse("--marking", &args.marking).map_err(|e| anyhow!("{e}"))?;
    let place = |flag: &str, location: &Option<String>| -> Result<Option<Place>> {
        location
            .as_deref()
            .map(|l| Place::parse(l).map_err(|e| anyhow!("--{flag}: {e}")))
            .transpose()
    };
    let export = place("export", &args.export)?;
    let ledger = place("ledger", &args.ledger)?;
    if role == Role::Tagger && export.is_none() {
        return Err(anyhow!(
            "--export s3://bucket/prefix is required for --role tagger"
        ));
    }
    let settings = args.store.apply(Settings::default());
    let target = Target {
        role,
        export,
        ledger,
        marking,
        signing_key_secret: args.signing_key_secret.clone(),
        s3: settings.s3_options(),
    };
    let report = match doctor::run(&target).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("custody doctor: could not run: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        value["healthy"] = serde_json::Value::Bool(report.healthy());
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(if report.healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Pass => "ok",
        Status::Fail => "FAIL",
        Status::Unknown => "could not check",
    }
}

/// One line per check, aligned; each failure followed by what to change.
pub fn table(report: &Report) -> String {
    let width = |f: &dyn Fn(&Check) -> usize| report.checks.iter().map(f).max().unwrap_or(0);
    let w_status = width(&|c| status_word(c.status).len()).max(6);
    let w_subject = width(&|c| c.subject.len()).max(7);
    let w_name = width(&|c| c.name.len()).max(5);
    let mut out = format!(
        "{:<w_status$}  {:<10}  {:<w_subject$}  {:<w_name$}  DETAIL\n",
        "STATUS", "AREA", "SUBJECT", "CHECK"
    );
    for c in &report.checks {
        out.push_str(&format!(
            "{:<w_status$}  {:<10}  {:<w_subject$}  {:<w_name$}  {}\n",
            status_word(c.status),
            c.area.label(),
            c.subject,
            c.name,
            c.detail
        ));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("{:w_status$}  fix: {fix}\n", ""));
        }
    }
    let count = |s: Status| report.checks.iter().filter(|c| c.status == s).count();
    out.push_str(&format!(
        "\n{} role: {} ok, {} failed, {} could not be checked\n",
        report.role,
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Unknown)
    ));
    out
}
