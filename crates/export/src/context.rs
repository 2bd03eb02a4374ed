//! What every format needs besides the finding: where the server runs (the
//! account and region to fall back on, the AWS partition, the Security Hub
//! product ARN) and which lifecycle step the export is (new, updated,
//! archived).

use crate::error::ExportError;
use saker_detect::Finding;
use serde::{Deserialize, Serialize};

/// The step of a finding's life an export reports. The server derives it
/// from the store's ingest outcome (`created`, `changed`, `archived`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FindingState {
    /// First time the server stores this (account, finding id).
    New,
    /// A stored finding changed (count, last seen, newer process snapshot).
    Updated,
    /// Archived by a user or suppressed by a rule at ingest: never exported.
    Archived,
}

/// One finding on its way to a destination.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportItem {
    pub finding: Finding,
    pub state: FindingState,
}

impl ExportItem {
    pub fn new(finding: Finding, state: FindingState) -> Self {
        ExportItem { finding, state }
    }

    /// Archived either by the lifecycle step or by the finding's own flag.
    pub fn archived(&self) -> bool {
        self.state == FindingState::Archived || self.finding.service.archived
    }
}

/// Server-wide facts the formats use. Built once at start-up and validated
/// then, so rendering a finding cannot fail on them.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportContext {
    account_id: String,
    region: String,
    partition: String,
    product_arn: Option<String>,
    product_version: String,
    hostname: String,
}

/// AWS partitions ASFF accepts (`Resource.Partition`).
pub const PARTITIONS: [&str; 3] = ["aws", "aws-cn", "aws-us-gov"];

impl ExportContext {
    /// `account_id`: the account to report when a finding carries none (12
    /// digits, like the Saker account ids the server issues); `region`: the
    /// region likewise (e.g. `eu-west-1`).
    pub fn new(account_id: &str, region: &str) -> Result<Self, ExportError> {
        if !is_account_id(account_id) {
            return Err(ExportError::invalid("account id", format!("{account_id:?} is not 12 decimal digits")));
        }
        if !is_region(region) {
            return Err(ExportError::invalid("region", format!("{region:?} is not a region name like eu-west-1")));
        }
        Ok(ExportContext {
            account_id: account_id.to_owned(),
            region: region.to_owned(),
            partition: "aws".to_owned(),
            product_arn: None,
            product_version: env!("CARGO_PKG_VERSION").to_owned(),
            hostname: "-".to_owned(),
        })
    }

    /// `aws` (default), `aws-cn` or `aws-us-gov`.
    pub fn with_partition(mut self, partition: &str) -> Result<Self, ExportError> {
        if !PARTITIONS.contains(&partition) {
            return Err(ExportError::invalid("partition", format!("{partition:?} is not one of {PARTITIONS:?}")));
        }
        self.partition = partition.to_owned();
        Ok(self)
    }

    /// The ARN Security Hub assigned to the integration. Without it, ASFF uses
    /// the custom-integration form `arn:<partition>:securityhub:<region>:<account>:product/<account>/default`.
    pub fn with_product_arn(mut self, arn: &str) -> Result<Self, ExportError> {
        // ASFF: ProductArn is 12 to 2048 characters.
        if !(12..=2048).contains(&arn.chars().count()) || !arn.starts_with("arn:") {
            return Err(ExportError::invalid("product ARN", format!("{arn:?} is not an ARN")));
        }
        self.product_arn = Some(arn.to_owned());
        Ok(self)
    }

    /// The Saker version reported as the product version (OCSF metadata).
    pub fn with_product_version(mut self, version: &str) -> Self {
        self.product_version = version.to_owned();
        self
    }

    /// The host name to report when a finding names none (syslog, Falco).
    pub fn with_hostname(mut self, hostname: &str) -> Self {
        self.hostname = hostname.to_owned();
        self
    }

    pub fn partition(&self) -> &str {
        &self.partition
    }

    pub fn product_version(&self) -> &str {
        &self.product_version
    }

    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The finding's account when it is a well-formed one, else the server's.
    pub fn account_of<'a>(&'a self, f: &'a Finding) -> &'a str {
        f.account_id.as_deref().filter(|a| is_account_id(a)).unwrap_or(&self.account_id)
    }

    /// The finding's region when it is a well-formed one, else the server's.
    pub fn region_of<'a>(&'a self, f: &'a Finding) -> &'a str {
        f.region.as_deref().filter(|r| is_region(r)).unwrap_or(&self.region)
    }

    /// The partition named by the finding's ECS ARNs, else the server's.
    pub fn partition_of<'a>(&'a self, f: &'a Finding) -> &'a str {
        let ecs = f.resource.ecs_cluster_details.as_ref();
        let arns =
            ecs.and_then(|e| e.task_details.arn.as_deref()).into_iter().chain(ecs.and_then(|e| e.arn.as_deref()));
        for arn in arns {
            if let Some(p) = arn.strip_prefix("arn:").and_then(|rest| rest.split(':').next())
                && let Some(known) = PARTITIONS.iter().find(|k| **k == p)
            {
                return known;
            }
        }
        &self.partition
    }

    /// ASFF `ProductArn` for findings of `account` in `region`.
    pub fn product_arn(&self, account: &str, region: &str) -> String {
        match &self.product_arn {
            Some(arn) => arn.clone(),
            None => format!("arn:{}:securityhub:{region}:{account}:product/{account}/default", self.partition),
        }
    }
}

/// 12 ASCII digits: ASFF `AwsAccountId` is exactly 12 characters.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A region name: lower-case letters, digits and dashes, starting with a
/// letter, at most 16 characters (ASFF `Resource.Region`). Also what keeps a
/// region safe to use as a directory name.
pub fn is_region(s: &str) -> bool {
    (1..=16).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_account_region_partition() {
        assert!(ExportContext::new("123456789012", "eu-west-1").is_ok());
        assert!(ExportContext::new("12345678901", "eu-west-1").is_err());
        assert!(ExportContext::new("12345678901a", "eu-west-1").is_err());
        assert!(ExportContext::new("123456789012", "../etc").is_err());
        assert!(ExportContext::new("123456789012", "").is_err());
        let ctx = ExportContext::new("123456789012", "eu-west-1").unwrap();
        assert!(ctx.clone().with_partition("aws-cn").is_ok());
        assert!(ctx.clone().with_partition("azure").is_err());
        assert_eq!(
            ctx.product_arn("123456789012", "eu-west-1"),
            "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
        );
    }
}
