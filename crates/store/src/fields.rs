//! The criteria whitelist: each field a criterion may name, the findings
//! column that holds it, its type, and where it sits in the finding JSON.
//!
//! One extraction ([`Field::value`]) fills the column at ingest and feeds the
//! in-memory evaluator, so SQL and memory read the same value by
//! construction; only the operators have two implementations.

use serde_json::Value;

/// A column's type: how values compare and how they are bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Float,
    Int,
    /// Epoch milliseconds in the column; RFC 3339 in the JSON.
    Time,
    /// 0 or 1 in the column.
    Bool,
}

/// One value, as a column holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Text(String),
    Int(i64),
    Float(f64),
}

#[derive(Debug, Clone, Copy)]
enum Source {
    /// The JSON path is the field's name, dot-separated.
    Name,
    /// A key of the finding's container: for an ECS task the first of
    /// `taskDetails.containers`, else `containerDetails`.
    Container(&'static str),
}

#[derive(Debug)]
pub(crate) struct Field {
    pub name: &'static str,
    pub column: &'static str,
    pub kind: Kind,
    source: Source,
}

const fn f(name: &'static str, column: &'static str, kind: Kind) -> Field {
    Field { name, column, kind, source: Source::Name }
}

const fn container(name: &'static str, column: &'static str, key: &'static str) -> Field {
    Field { name, column, kind: Kind::Text, source: Source::Container(key) }
}

pub(crate) static FIELDS: &[Field] = &[
    f("id", "id", Kind::Text),
    f("type", "type", Kind::Text),
    f("severity", "severity", Kind::Float),
    f("accountId", "account_id", Kind::Text),
    f("region", "region", Kind::Text),
    f("createdAt", "created_at", Kind::Time),
    f("updatedAt", "updated_at", Kind::Time),
    f("service.archived", "archived", Kind::Bool),
    f("service.count", "count", Kind::Int),
    f("resource.resourceType", "resource_type", Kind::Text),
    f("resource.instanceDetails.instanceId", "instance_id", Kind::Text),
    f("resource.instanceDetails.hostname", "hostname", Kind::Text),
    f("resource.ecsClusterDetails.name", "ecs_cluster", Kind::Text),
    f("resource.ecsClusterDetails.taskDetails.arn", "task_arn", Kind::Text),
    container("resource.ecsClusterDetails.taskDetails.containers.image", "container_image", "image"),
    container("resource.ecsClusterDetails.taskDetails.containers.name", "container_name", "name"),
    container("resource.containerDetails.id", "container_id", "id"),
    container("resource.containerDetails.name", "container_name", "name"),
    container("resource.containerDetails.image", "container_image", "image"),
    f("resource.kubernetesDetails.kubernetesWorkloadDetails.name", "k8s_workload", Kind::Text),
    f("resource.kubernetesDetails.kubernetesWorkloadDetails.namespace", "k8s_namespace", Kind::Text),
    f("service.runtimeDetails.process.name", "process_name", Kind::Text),
    f("service.runtimeDetails.process.executablePath", "executable_path", Kind::Text),
    f("service.runtimeDetails.process.executableSha256", "executable_sha256", Kind::Text),
    f("service.additionalInfo.agentDetails.agentVersion", "agent_version", Kind::Text),
];

pub(crate) fn field(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

impl Field {
    /// This field's value in a finding's JSON; `None` when absent (NULL).
    pub fn value(&self, finding: &Value) -> Option<Cell> {
        let v = match self.source {
            Source::Name => self.name.split('.').try_fold(finding, |v, key| v.get(key))?,
            Source::Container(key) => {
                let r = finding.get("resource")?;
                let c =
                    r.pointer("/ecsClusterDetails/taskDetails/containers/0").or_else(|| r.get("containerDetails"))?;
                c.get(key)?
            }
        };
        match self.kind {
            Kind::Text => v.as_str().map(|s| Cell::Text(clean(s))),
            Kind::Float => v.as_f64().map(Cell::Float),
            Kind::Int => v.as_i64().or_else(|| v.as_u64().map(|_| i64::MAX)).map(Cell::Int),
            Kind::Time => v
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|t| Cell::Int(t.timestamp_millis())),
            Kind::Bool => v.as_bool().map(|b| Cell::Int(i64::from(b))),
        }
    }
}

/// Text as it can be stored: PostgreSQL's TEXT refuses NUL. Applied to
/// column values and criteria values alike, so both evaluators agree.
pub(crate) fn clean(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

/// The columns ingest writes from a finding's JSON (everything but the key
/// and the server's archive state), each with its type and value.
pub(crate) fn stored_cells(finding: &Value) -> Vec<(&'static str, Kind, Option<Cell>)> {
    let mut out: Vec<(&'static str, Kind, Option<Cell>)> = Vec::with_capacity(FIELDS.len());
    for f in FIELDS {
        if matches!(f.column, "id" | "account_id" | "archived") || out.iter().any(|(c, _, _)| *c == f.column) {
            continue;
        }
        out.push((f.column, f.kind, f.value(finding)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_columns_prefer_the_tasks_first_container() {
        let ecs = json!({"resource": {
            "containerDetails": {"id": "c2", "image": "b"},
            "ecsClusterDetails": {"taskDetails": {"containers": [{"id": "c1", "image": "a"}, {"id": "c2", "image": "b"}]}}}});
        let plain = json!({"resource": {"containerDetails": {"id": "c3", "image": "c"}}});
        let image = field("resource.containerDetails.image").map(|f| (f.value(&ecs), f.value(&plain)));
        assert_eq!(image, Some((Some(Cell::Text("a".into())), Some(Cell::Text("c".into())))));
    }

    #[test]
    fn every_column_has_one_type() {
        for a in FIELDS {
            for b in FIELDS.iter().filter(|b| b.column == a.column) {
                assert_eq!(a.kind, b.kind, "{} and {}", a.name, b.name);
            }
        }
    }
}
