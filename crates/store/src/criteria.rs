//! GuardDuty's FindingCriteria: `{"criterion": {"<field>": {"eq": [..],
//! "neq": [..], "gt": n, "gte": n, "lt": n, "lte": n, "matches": ["a*"],
//! "notMatches": [..]}}}`. Fields AND; values of `eq`/`matches` OR;
//! `neq`/`notMatches` exclude each value. Wildcards: `*` any run, `?` one
//! character.
//!
//! Parsed once into [`Criteria`], then either rendered as SQL over the
//! findings table (column names from [`FIELDS`] only, every value bound) or
//! evaluated on a finding's JSON in memory (suppression at ingest). Tests
//! check that the two agree.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct CriteriaError(String);

fn err(m: impl Into<String>) -> CriteriaError {
    CriteriaError(m.into())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Number,
    /// Epoch milliseconds in the table; RFC 3339 in the JSON.
    Time,
    Bool,
}

/// (criteria field, column, kind, JSON paths in the finding).
const FIELDS: &[(&str, &str, Kind, &[&str])] = &[
    ("id", "id", Kind::Text, &["id"]),
    ("type", "type", Kind::Text, &["type"]),
    ("severity", "severity", Kind::Number, &["severity"]),
    ("accountId", "account_id", Kind::Text, &["accountId"]),
    ("region", "region", Kind::Text, &["region"]),
    ("createdAt", "created_at", Kind::Time, &["createdAt"]),
    ("updatedAt", "updated_at", Kind::Time, &["updatedAt"]),
    ("service.archived", "archived", Kind::Bool, &["service.archived"]),
    ("service.count", "count", Kind::Number, &["service.count"]),
    ("resource.resourceType", "resource_type", Kind::Text, &["resource.resourceType"]),
    ("resource.instanceDetails.instanceId", "instance_id", Kind::Text, &["resource.instanceDetails.instanceId"]),
    ("resource.instanceDetails.hostname", "hostname", Kind::Text, &["resource.instanceDetails.hostname"]),
    ("resource.ecsClusterDetails.name", "ecs_cluster", Kind::Text, &["resource.ecsClusterDetails.name"]),
    (
        "resource.ecsClusterDetails.taskDetails.arn",
        "task_arn",
        Kind::Text,
        &["resource.ecsClusterDetails.taskDetails.arn"],
    ),
    (
        "resource.ecsClusterDetails.taskDetails.containers.image",
        "container_image",
        Kind::Text,
        &["resource.containerDetails.image", "resource.ecsClusterDetails.taskDetails.containers.image"],
    ),
    (
        "resource.ecsClusterDetails.taskDetails.containers.name",
        "container_name",
        Kind::Text,
        &["resource.containerDetails.name", "resource.ecsClusterDetails.taskDetails.containers.name"],
    ),
    ("resource.containerDetails.id", "container_id", Kind::Text, &["resource.containerDetails.id"]),
    (
        "resource.containerDetails.name",
        "container_name",
        Kind::Text,
        &["resource.containerDetails.name", "resource.ecsClusterDetails.taskDetails.containers.name"],
    ),
    (
        "resource.containerDetails.image",
        "container_image",
        Kind::Text,
        &["resource.containerDetails.image", "resource.ecsClusterDetails.taskDetails.containers.image"],
    ),
    (
        "resource.kubernetesDetails.kubernetesWorkloadDetails.name",
        "k8s_workload",
        Kind::Text,
        &["resource.kubernetesDetails.kubernetesWorkloadDetails.name"],
    ),
    (
        "resource.kubernetesDetails.kubernetesWorkloadDetails.namespace",
        "k8s_namespace",
        Kind::Text,
        &["resource.kubernetesDetails.kubernetesWorkloadDetails.namespace"],
    ),
    ("service.runtimeDetails.process.name", "process_name", Kind::Text, &["service.runtimeDetails.process.name"]),
    (
        "service.runtimeDetails.process.executablePath",
        "executable_path",
        Kind::Text,
        &["service.runtimeDetails.process.executablePath"],
    ),
    (
        "service.runtimeDetails.process.executableSha256",
        "executable_sha256",
        Kind::Text,
        &["service.runtimeDetails.process.executableSha256"],
    ),
    (
        "service.additionalInfo.agentDetails.agentVersion",
        "agent_version",
        Kind::Text,
        &["service.additionalInfo.agentDetails.agentVersion"],
    ),
];

/// A comparable value: text, or a number (times as epoch ms, booleans 0/1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Text(String),
    Number(f64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Op {
    Eq(Vec<Scalar>),
    Neq(Vec<Scalar>),
    Gt(Scalar),
    Gte(Scalar),
    Lt(Scalar),
    Lte(Scalar),
    Matches(Vec<String>),
    NotMatches(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Condition {
    field: String,
    op: Op,
}

/// Parsed criteria. Serializes back to GuardDuty's shape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Criteria {
    conditions: Vec<Condition>,
    /// The original JSON, for storing and showing.
    source: Value,
}

impl Serialize for Criteria {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.source.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Criteria {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Criteria::parse(&v).map_err(serde::de::Error::custom)
    }
}

fn field(name: &str) -> Option<&'static (&'static str, &'static str, Kind, &'static [&'static str])> {
    FIELDS.iter().find(|f| f.0 == name)
}

impl Criteria {
    pub fn parse(v: &Value) -> Result<Criteria, CriteriaError> {
        if v.is_null() {
            return Ok(Criteria::default());
        }
        let obj = v.as_object().ok_or_else(|| err("criteria must be an object {\"criterion\": {...}}"))?;
        if let Some(k) = obj.keys().find(|k| *k != "criterion") {
            return Err(err(format!("unknown key {k:?}: criteria are {{\"criterion\": {{...}}}}")));
        }
        let Some(criterion) = obj.get("criterion") else { return Ok(Criteria::default()) };
        let criterion = criterion.as_object().ok_or_else(|| err("criterion must be an object of fields"))?;
        let mut conditions = Vec::new();
        for (name, ops) in criterion {
            let Some(&(_, _, kind, _)) = field(name) else {
                let known: Vec<&str> = FIELDS.iter().map(|f| f.0).collect();
                return Err(err(format!("unknown field {name:?}; known: {}", known.join(", "))));
            };
            let ops = ops.as_object().ok_or_else(|| err(format!("{name}: expected an object of operators")))?;
            if ops.is_empty() {
                return Err(err(format!("{name}: no operator")));
            }
            for (op, val) in ops {
                let op = parse_op(name, kind, op, val)?;
                conditions.push(Condition { field: name.clone(), op });
            }
        }
        Ok(Criteria { conditions, source: v.clone() })
    }

    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }

    /// These criteria, and only unarchived findings.
    pub fn and_not_archived(mut self) -> Criteria {
        self.conditions.push(Condition { field: "service.archived".into(), op: Op::Eq(vec![Scalar::Number(0.0)]) });
        self
    }

    /// Does a finding (its JSON) satisfy every condition?
    pub fn matches(&self, finding: &Value) -> bool {
        self.conditions.iter().all(|c| {
            let Some(&(_, _, kind, paths)) = field(&c.field) else { return false };
            let values: Vec<Scalar> =
                paths.iter().flat_map(|p| leaves(finding, p)).filter_map(|v| scalar_of(kind, &v)).collect();
            eval(&c.op, &values)
        })
    }

    /// `AND`-joined SQL over the findings table, with its arguments;
    /// placeholders start at `$first`.
    pub(crate) fn to_sql(&self, first: usize) -> (String, Vec<Scalar>) {
        let mut parts = Vec::new();
        let mut args = Vec::new();
        let mut next = first;
        let mut ph = |args: &mut Vec<Scalar>, v: Scalar| {
            args.push(v);
            let p = format!("${next}");
            next += 1;
            p
        };
        for c in &self.conditions {
            let Some(&(_, column, _, _)) = field(&c.field) else { continue };
            let sql = match &c.op {
                Op::Eq(vs) => {
                    let ors: Vec<String> =
                        vs.iter().map(|v| format!("{column} = {}", ph(&mut args, v.clone()))).collect();
                    format!("({})", ors.join(" OR "))
                }
                Op::Neq(vs) => {
                    let ands: Vec<String> = vs
                        .iter()
                        .map(|v| format!("({column} IS NULL OR {column} <> {})", ph(&mut args, v.clone())))
                        .collect();
                    format!("({})", ands.join(" AND "))
                }
                Op::Gt(v) => format!("{column} > {}", ph(&mut args, v.clone())),
                Op::Gte(v) => format!("{column} >= {}", ph(&mut args, v.clone())),
                Op::Lt(v) => format!("{column} < {}", ph(&mut args, v.clone())),
                Op::Lte(v) => format!("{column} <= {}", ph(&mut args, v.clone())),
                Op::Matches(ps) => {
                    let ors: Vec<String> = ps
                        .iter()
                        .map(|p| format!("{column} LIKE {} ESCAPE '\\'", ph(&mut args, Scalar::Text(like_pattern(p)))))
                        .collect();
                    format!("({})", ors.join(" OR "))
                }
                Op::NotMatches(ps) => {
                    let ands: Vec<String> = ps
                        .iter()
                        .map(|p| {
                            let a = ph(&mut args, Scalar::Text(like_pattern(p)));
                            format!("({column} IS NULL OR {column} NOT LIKE {a} ESCAPE '\\')")
                        })
                        .collect();
                    format!("({})", ands.join(" AND "))
                }
            };
            parts.push(sql);
        }
        if parts.is_empty() {
            return ("1 = 1".into(), args);
        }
        (parts.join(" AND "), args)
    }
}

fn parse_op(name: &str, kind: Kind, op: &str, val: &Value) -> Result<Op, CriteriaError> {
    let one =
        |v: &Value| scalar_of(kind, v).ok_or_else(|| err(format!("{name}.{op}: {v} is not a {}", kind_name(kind))));
    let many = |v: &Value| -> Result<Vec<Scalar>, CriteriaError> {
        let arr = v.as_array().ok_or_else(|| err(format!("{name}.{op}: expected a list of values")))?;
        if arr.is_empty() || arr.len() > 100 {
            return Err(err(format!("{name}.{op}: 1 to 100 values")));
        }
        arr.iter().map(one).collect()
    };
    let patterns = |v: &Value| -> Result<Vec<String>, CriteriaError> {
        if kind != Kind::Text {
            return Err(err(format!("{name}.{op}: wildcard matching is for text fields")));
        }
        let arr = v.as_array().ok_or_else(|| err(format!("{name}.{op}: expected a list of patterns")))?;
        if arr.is_empty() || arr.len() > 100 {
            return Err(err(format!("{name}.{op}: 1 to 100 patterns")));
        }
        arr.iter()
            .map(|p| p.as_str().map(str::to_owned).ok_or_else(|| err(format!("{name}.{op}: patterns are strings"))))
            .collect()
    };
    let ordered = |v: &Value| {
        if kind == Kind::Text || kind == Kind::Bool {
            return Err(err(format!("{name}.{op}: ranges are for numbers and times")));
        }
        one(v)
    };
    Ok(match op {
        "eq" => Op::Eq(many(val)?),
        "neq" => Op::Neq(many(val)?),
        "gt" => Op::Gt(ordered(val)?),
        "gte" => Op::Gte(ordered(val)?),
        "lt" => Op::Lt(ordered(val)?),
        "lte" => Op::Lte(ordered(val)?),
        "matches" => Op::Matches(patterns(val)?),
        "notMatches" => Op::NotMatches(patterns(val)?),
        other => {
            return Err(err(format!(
                "{name}: unknown operator {other:?} (eq, neq, gt, gte, lt, lte, matches, notMatches)"
            )));
        }
    })
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Text => "string",
        Kind::Number => "number",
        Kind::Time => "time (RFC 3339 or epoch milliseconds)",
        Kind::Bool => "boolean",
    }
}

/// A JSON value as the comparable the column holds.
fn scalar_of(kind: Kind, v: &Value) -> Option<Scalar> {
    match kind {
        Kind::Text => match v {
            Value::String(s) => Some(Scalar::Text(s.clone())),
            Value::Number(n) => Some(Scalar::Text(n.to_string())),
            _ => None,
        },
        Kind::Number => v.as_f64().map(Scalar::Number),
        Kind::Time => match v {
            Value::Number(n) => n.as_f64().map(Scalar::Number),
            Value::String(s) => {
                chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| Scalar::Number(t.timestamp_millis() as f64))
            }
            _ => None,
        },
        Kind::Bool => v.as_bool().map(|b| Scalar::Number(if b { 1.0 } else { 0.0 })),
    }
}

/// Every value at a dotted path, descending into arrays.
fn leaves(v: &Value, path: &str) -> Vec<Value> {
    let mut cur = vec![v];
    for key in path.split('.') {
        let mut next = Vec::new();
        for c in cur {
            match c.get(key) {
                Some(Value::Array(items)) => next.extend(items.iter()),
                Some(Value::Null) | None => {}
                Some(x) => next.push(x),
            }
        }
        cur = next;
    }
    cur.into_iter().cloned().collect()
}

fn cmp(a: &Scalar, b: &Scalar) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Scalar::Number(x), Scalar::Number(y)) => x.partial_cmp(y),
        (Scalar::Text(x), Scalar::Text(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn eval(op: &Op, values: &[Scalar]) -> bool {
    use std::cmp::Ordering::*;
    let any = |f: &dyn Fn(&Scalar) -> bool| values.iter().any(f);
    match op {
        Op::Eq(vs) => any(&|x| vs.iter().any(|v| cmp(x, v) == Some(Equal))),
        Op::Neq(vs) => !any(&|x| vs.iter().any(|v| cmp(x, v) == Some(Equal))),
        Op::Gt(v) => any(&|x| cmp(x, v) == Some(Greater)),
        Op::Gte(v) => any(&|x| matches!(cmp(x, v), Some(Greater | Equal))),
        Op::Lt(v) => any(&|x| cmp(x, v) == Some(Less)),
        Op::Lte(v) => any(&|x| matches!(cmp(x, v), Some(Less | Equal))),
        Op::Matches(ps) => any(&|x| matches!(x, Scalar::Text(s) if ps.iter().any(|p| wildcard(p, s)))),
        Op::NotMatches(ps) => !any(&|x| matches!(x, Scalar::Text(s) if ps.iter().any(|p| wildcard(p, s)))),
    }
}

/// `*` and `?` wildcards, everything else literal (case-sensitive).
fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A wildcard pattern as LIKE: `*` → `%`, `?` → `_`, literal `%`, `_` and
/// `\` escaped with `\`.
fn like_pattern(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for c in p.chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// How to order a search.
#[derive(Debug, Clone, PartialEq)]
pub struct Sort {
    pub(crate) column: &'static str,
    pub(crate) descending: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Sort { column: "updated_at", descending: true }
    }
}

impl Sort {
    /// `{"attributeName": "updatedAt", "orderBy": "DESC"}`.
    pub fn parse(v: &Value) -> Result<Sort, CriteriaError> {
        let column = match v.get("attributeName").and_then(Value::as_str).unwrap_or("updatedAt") {
            "updatedAt" => "updated_at",
            "createdAt" => "created_at",
            "severity" => "severity",
            "count" | "service.count" => "count",
            "type" => "type",
            other => {
                return Err(err(format!("attributeName {other:?}: updatedAt, createdAt, severity, count or type")));
            }
        };
        let descending = match v.get("orderBy").and_then(Value::as_str).unwrap_or("DESC") {
            "DESC" => true,
            "ASC" => false,
            other => return Err(err(format!("orderBy {other:?}: ASC or DESC"))),
        };
        Ok(Sort { column, descending })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcards_and_like() {
        assert!(wildcard("nginx*", "nginx:1.25"));
        assert!(wildcard("*:Runtime/*", "Execution:Runtime/ReverseShell"));
        assert!(wildcard("a?c", "abc") && !wildcard("a?c", "abbc"));
        assert!(!wildcard("Nginx*", "nginx"));
        assert_eq!(like_pattern("50%_off*\\"), "50\\%\\_off%\\\\");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = |v| Criteria::parse(&v).unwrap_err().to_string();
        assert!(e(json!({"criterion": {"nope": {"eq": ["x"]}}})).contains("unknown field \"nope\""));
        assert!(e(json!({"criterion": {"severity": {"eq": ["high"]}}})).contains("not a number"));
        assert!(e(json!({"criterion": {"type": {"gte": "a"}}})).contains("ranges are for numbers"));
        assert!(e(json!({"criterion": {"type": {"like": ["a"]}}})).contains("unknown operator"));
        assert!(e(json!({"criterion": {"type": {}}})).contains("no operator"));
        assert!(e(json!([1])).contains("must be an object"));
    }

    #[test]
    fn in_memory_evaluation() {
        let f = json!({"type": "Execution:Runtime/ReverseShell", "severity": 8.0, "updatedAt": "2026-11-28T12:00:00Z",
            "service": {"archived": false, "count": 3},
            "resource": {"ecsClusterDetails": {"taskDetails": {"containers": [{"image": "nginx:1"}, {"image": "redis:7"}]}}}});
        let m = |c| Criteria::parse(&c).unwrap().matches(&f);
        assert!(m(json!({"criterion": {"severity": {"gte": 7}}})));
        assert!(!m(json!({"criterion": {"severity": {"gt": 8}}})));
        assert!(m(json!({"criterion": {"resource.containerDetails.image": {"matches": ["redis*"]}}})));
        assert!(m(json!({"criterion": {"updatedAt": {"gte": "2026-11-28T11:00:00Z"}}})));
        assert!(m(json!({"criterion": {"service.archived": {"eq": [false]}}})));
        assert!(!m(json!({"criterion": {"type": {"neq": ["Execution:Runtime/ReverseShell"]}}})));
        assert!(m(json!({"criterion": {"type": {"notMatches": ["Impact:*"]}}})));
    }
}
