//! GuardDuty's FindingCriteria: `{"criterion": {"<field>": {"eq": [..],
//! "neq": [..], "gt": n, "gte": n, "lt": n, "lte": n, "matches": ["a*"],
//! "notMatches": [..]}}}`. Fields AND; values of `eq`/`matches` OR;
//! `neq`/`notMatches` exclude each of their values. Wildcards: `*` any run,
//! `?` one character; everything else is literal and case-sensitive. Time
//! fields take RFC 3339 strings or epoch milliseconds. GuardDuty's long
//! operator names (`equals`, `greaterThanOrEqual`, ...) are accepted too.
//!
//! Parsed once into [`Criteria`], then either rendered as SQL over the
//! findings table (column names from the whitelist in `fields.rs` only,
//! every value bound) or evaluated on a finding's JSON in memory
//! (suppression at ingest). A missing value (NULL) satisfies only `neq` and
//! `notMatches`, in both. Tests check that the two agree.

use crate::db::Sql;
use crate::fields::{self, Cell, FIELDS, Field, Kind, clean};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;

/// Criteria (or a sort, or a paging token) that cannot be used; the message
/// says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CriteriaError(String);

pub(crate) fn err(m: impl Into<String>) -> CriteriaError {
    CriteriaError(m.into())
}

const MAX_FIELDS: usize = 50;
const MAX_VALUES: usize = 100;
const MAX_TEXT: usize = 1024;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Eq(Vec<Cell>),
    Neq(Vec<Cell>),
    Gt(Cell),
    Gte(Cell),
    Lt(Cell),
    Lte(Cell),
    Matches(Vec<String>),
    NotMatches(Vec<String>),
}

#[derive(Debug, Clone)]
struct Condition {
    field: &'static Field,
    op: Op,
}

/// Parsed criteria. Serializes back to the JSON it was parsed from; the
/// default (from `null` or an absent `findingCriteria`) matches everything.
#[derive(Debug, Clone, Default)]
pub struct Criteria {
    conditions: Vec<Condition>,
    source: Value,
}

impl PartialEq for Criteria {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.conditions.len() == other.conditions.len()
    }
}

impl Serialize for Criteria {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.source.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Criteria {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Criteria::parse(&Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Criteria {
    /// Parse GuardDuty's shape. `null` means "everything"; an empty
    /// criterion, an unknown field or operator, or a value of the wrong type
    /// is an error naming the field and operator.
    pub fn parse(v: &Value) -> Result<Criteria, CriteriaError> {
        if v.is_null() {
            return Ok(Criteria::default());
        }
        let shape = "{\"criterion\": {\"<field>\": {\"<operator>\": ...}}}";
        let obj = v.as_object().ok_or_else(|| err(format!("findingCriteria must be an object: {shape}")))?;
        if let Some(k) = obj.keys().find(|k| *k != "criterion") {
            return Err(err(format!("findingCriteria: unknown key {k:?}; the shape is {shape}")));
        }
        let criterion =
            obj.get("criterion").ok_or_else(|| err(format!("findingCriteria has no criterion: {shape}")))?;
        let criterion = criterion.as_object().ok_or_else(|| err("criterion must be an object of fields"))?;
        if criterion.is_empty() {
            return Err(err("criterion is empty: name at least one field"));
        }
        if criterion.len() > MAX_FIELDS {
            return Err(err(format!("criterion names more than {MAX_FIELDS} fields")));
        }
        let mut conditions = Vec::new();
        for (name, ops) in criterion {
            let field = fields::field(name).ok_or_else(|| {
                let known: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
                err(format!("unknown field {name:?} in criterion; the fields are: {}", known.join(", ")))
            })?;
            let ops = ops
                .as_object()
                .ok_or_else(|| err(format!("{name}: expected an object of operators, e.g. {{\"eq\": [...]}}")))?;
            if ops.is_empty() {
                return Err(err(format!("{name}: no operator (eq, neq, gt, gte, lt, lte, matches, notMatches)")));
            }
            for (op, val) in ops {
                conditions.push(Condition { field, op: parse_op(field, op, val)? });
            }
        }
        Ok(Criteria { conditions, source: v.clone() })
    }

    /// Matches every finding.
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }

    /// The field names criteria may use.
    pub fn field_names() -> impl Iterator<Item = &'static str> {
        FIELDS.iter().map(|f| f.name)
    }

    /// These criteria and "not archived" (for queries: serializes as the
    /// original criteria).
    pub fn and_not_archived(mut self) -> Criteria {
        if let Some(field) = fields::field("service.archived") {
            self.conditions.push(Condition { field, op: Op::Eq(vec![Cell::Int(0)]) });
        }
        self
    }

    /// Does a finding (its JSON, as the store returns it or as ingest sees
    /// it) satisfy every condition?
    pub fn matches(&self, finding: &Value) -> bool {
        self.conditions.iter().all(|c| eval(&c.op, c.field.value(finding).as_ref()))
    }

    /// The conditions as one SQL boolean over the findings table.
    pub(crate) fn push_sql(&self, sql: &mut Sql) {
        if self.conditions.is_empty() {
            sql.push("1 = 1");
        }
        for (i, c) in self.conditions.iter().enumerate() {
            if i > 0 {
                sql.push(" AND ");
            }
            push_condition(sql, c.field.column, &c.op);
        }
    }
}

fn push_condition(sql: &mut Sql, col: &'static str, op: &Op) {
    let cmp = |sql: &mut Sql, operator: &str, v: &Cell| {
        sql.push("(").push(col).push(operator).bind(v.clone()).push(")");
    };
    let likes = |sql: &mut Sql, patterns: &[String]| {
        sql.push("(");
        for (i, p) in patterns.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push(col).push(" LIKE ").bind(like_pattern(p)).push(" ESCAPE '\\'");
        }
        sql.push(")");
    };
    match op {
        Op::Eq(vs) => {
            sql.push("(").push(col).push(" IN (").bind_list(vs.iter().cloned()).push("))");
        }
        Op::Neq(vs) => {
            sql.push("(").push(col).push(" IS NULL OR ").push(col).push(" NOT IN (");
            sql.bind_list(vs.iter().cloned()).push("))");
        }
        Op::Gt(v) => cmp(sql, " > ", v),
        Op::Gte(v) => cmp(sql, " >= ", v),
        Op::Lt(v) => cmp(sql, " < ", v),
        Op::Lte(v) => cmp(sql, " <= ", v),
        Op::Matches(ps) => likes(sql, ps),
        Op::NotMatches(ps) => {
            sql.push("(").push(col).push(" IS NULL OR NOT ");
            likes(sql, ps);
            sql.push(")");
        }
    }
}

fn parse_op(field: &Field, op: &str, val: &Value) -> Result<Op, CriteriaError> {
    let name = field.name;
    let what = match field.kind {
        Kind::Text => "a text field",
        Kind::Float | Kind::Int => "a number field",
        Kind::Time => "a time field",
        Kind::Bool => "a boolean field",
    };
    let ordered = matches!(field.kind, Kind::Float | Kind::Int | Kind::Time);
    let one = |v: &Value| literal(field, op, v);
    let range = |v: &Value| {
        if !ordered {
            return Err(err(format!("{name}.{op}: ranges apply to numbers and times; {name} is {what}")));
        }
        if v.is_array() {
            return Err(err(format!("{name}.{op}: expected one value, not a list")));
        }
        one(v)
    };
    let patterns = |v: &Value| -> Result<Vec<String>, CriteriaError> {
        if field.kind != Kind::Text {
            return Err(err(format!("{name}.{op}: wildcards apply to text; {name} is {what}")));
        }
        as_list(name, op, v)?
            .iter()
            .map(|p| match p.as_str() {
                Some(s) if s.chars().count() <= MAX_TEXT => Ok(clean(s)),
                Some(_) => Err(err(format!("{name}.{op}: a pattern is longer than {MAX_TEXT} characters"))),
                None => Err(err(format!("{name}.{op}: {p} is not a string pattern"))),
            })
            .collect()
    };
    Ok(match op {
        "eq" | "equals" => Op::Eq(as_list(name, op, val)?.iter().map(one).collect::<Result<_, _>>()?),
        "neq" | "notEquals" => Op::Neq(as_list(name, op, val)?.iter().map(one).collect::<Result<_, _>>()?),
        "gt" | "greaterThan" => Op::Gt(range(val)?),
        "gte" | "greaterThanOrEqual" => Op::Gte(range(val)?),
        "lt" | "lessThan" => Op::Lt(range(val)?),
        "lte" | "lessThanOrEqual" => Op::Lte(range(val)?),
        "matches" => Op::Matches(patterns(val)?),
        "notMatches" => Op::NotMatches(patterns(val)?),
        other => {
            return Err(err(format!(
                "{name}: unknown operator {other:?} (eq, neq, gt, gte, lt, lte, matches, notMatches)"
            )));
        }
    })
}

fn as_list<'v>(name: &str, op: &str, v: &'v Value) -> Result<&'v [Value], CriteriaError> {
    let arr = v.as_array().ok_or_else(|| err(format!("{name}.{op}: expected a list of values, e.g. [\"x\"]")))?;
    if arr.is_empty() || arr.len() > MAX_VALUES {
        return Err(err(format!("{name}.{op}: give 1 to {MAX_VALUES} values")));
    }
    Ok(arr)
}

/// A criterion value as the column's type.
fn literal(field: &Field, op: &str, v: &Value) -> Result<Cell, CriteriaError> {
    let name = field.name;
    match (field.kind, v) {
        (Kind::Text, Value::String(s)) if s.chars().count() <= MAX_TEXT => Ok(Cell::Text(clean(s))),
        (Kind::Text, Value::String(_)) => {
            Err(err(format!("{name}.{op}: a value is longer than {MAX_TEXT} characters")))
        }
        (Kind::Text, _) => Err(err(format!("{name}.{op}: {v} is not a string"))),
        (Kind::Float | Kind::Int, Value::Number(n)) => {
            Ok(n.as_i64().map(Cell::Int).or_else(|| n.as_f64().map(Cell::Float)).unwrap_or(Cell::Float(f64::MAX)))
        }
        (Kind::Float | Kind::Int, _) => Err(err(format!("{name}.{op}: {v} is not a number"))),
        (Kind::Time, Value::Number(n)) => {
            n.as_i64().map(Cell::Int).ok_or_else(|| err(format!("{name}.{op}: {v} is not whole epoch milliseconds")))
        }
        (Kind::Time, Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| Cell::Int(t.timestamp_millis()))
            .map_err(|_| err(format!("{name}.{op}: {s:?} is not an RFC 3339 time (like 2026-11-28T10:00:00Z)"))),
        (Kind::Time, _) => Err(err(format!("{name}.{op}: {v} is not an RFC 3339 time or epoch milliseconds"))),
        (Kind::Bool, Value::Bool(b)) => Ok(Cell::Int(i64::from(*b))),
        (Kind::Bool, _) => Err(err(format!("{name}.{op}: {v} is not true or false"))),
    }
}

/// How two cells compare: text with text, numbers with numbers (exactly
/// between integers, as the databases do).
fn order(a: &Cell, b: &Cell) -> Option<Ordering> {
    match (a, b) {
        (Cell::Text(x), Cell::Text(y)) => Some(x.cmp(y)),
        (Cell::Int(x), Cell::Int(y)) => Some(x.cmp(y)),
        (Cell::Text(_), _) | (_, Cell::Text(_)) => None,
        _ => number(a)?.partial_cmp(&number(b)?),
    }
}

fn number(c: &Cell) -> Option<f64> {
    match c {
        Cell::Int(v) => Some(*v as f64),
        Cell::Float(v) => Some(*v),
        Cell::Text(_) => None,
    }
}

fn eval(op: &Op, v: Option<&Cell>) -> bool {
    let is = |w: &Cell, want: &[Ordering]| v.and_then(|x| order(x, w)).is_some_and(|o| want.contains(&o));
    let matched = |ps: &[String]| matches!(v, Some(Cell::Text(s)) if ps.iter().any(|p| wildcard(p, s)));
    match op {
        Op::Eq(ws) => ws.iter().any(|w| is(w, &[Ordering::Equal])),
        Op::Neq(ws) => v.is_none() || !ws.iter().any(|w| is(w, &[Ordering::Equal])),
        Op::Gt(w) => is(w, &[Ordering::Greater]),
        Op::Gte(w) => is(w, &[Ordering::Greater, Ordering::Equal]),
        Op::Lt(w) => is(w, &[Ordering::Less]),
        Op::Lte(w) => is(w, &[Ordering::Less, Ordering::Equal]),
        Op::Matches(ps) => matched(ps),
        Op::NotMatches(ps) => !matched(ps),
    }
}

/// `*` and `?` wildcards, everything else literal (case-sensitive).
fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it is tried at.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            // Let the `*` take one more character.
            star = Some((sp, st + 1));
            pi = sp + 1;
            ti = st + 1;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A wildcard pattern as LIKE (`ESCAPE '\'`): `*` → `%`, `?` → `_`, and a
/// literal `%`, `_` or `\` escaped.
pub(crate) fn like_pattern(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 4);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcards_and_like() {
        assert!(wildcard("nginx*", "nginx:1.25"));
        assert!(wildcard("*:Runtime/*", "Execution:Runtime/ReverseShell"));
        assert!(wildcard("a?c", "abc") && !wildcard("a?c", "abbc") && !wildcard("a?c", "ac"));
        assert!(wildcard("*a*b", "xxaxxab") && !wildcard("*a*b", "xxaxxa"));
        assert!(wildcard("", "") && !wildcard("", "a") && wildcard("*", ""));
        assert!(!wildcard("Nginx*", "nginx"));
        assert!(wildcard("é?", "éü"));
        assert_eq!(like_pattern("50%_off*\\?"), "50\\%\\_off%\\\\_");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = |v| Criteria::parse(&v).unwrap_err().to_string();
        assert!(e(json!({"criterion": {"nope": {"eq": ["x"]}}})).contains("unknown field \"nope\""));
        assert!(
            e(json!({"criterion": {"severity": {"eq": ["high"]}}})).contains("severity.eq: \"high\" is not a number")
        );
        assert!(e(json!({"criterion": {"type": {"eq": [5]}}})).contains("type.eq: 5 is not a string"));
        assert!(e(json!({"criterion": {"type": {"gte": "a"}}})).contains("ranges apply to numbers and times"));
        assert!(e(json!({"criterion": {"severity": {"matches": ["7*"]}}})).contains("wildcards apply to text"));
        assert!(e(json!({"criterion": {"type": {"like": ["a"]}}})).contains("unknown operator \"like\""));
        assert!(e(json!({"criterion": {"type": {}}})).contains("type: no operator"));
        assert!(e(json!({"criterion": {"type": {"eq": []}}})).contains("1 to 100 values"));
        assert!(e(json!({"criterion": {"type": {"eq": "x"}}})).contains("expected a list"));
        assert!(e(json!({"criterion": {}})).contains("criterion is empty"));
        assert!(e(json!({})).contains("no criterion"));
        assert!(e(json!({"criteria": {}})).contains("unknown key \"criteria\""));
        assert!(e(json!({"criterion": {"createdAt": {"gt": "yesterday"}}})).contains("not an RFC 3339 time"));
        assert!(e(json!({"criterion": {"service.archived": {"eq": ["no"]}}})).contains("not true or false"));
        assert!(e(json!([1])).contains("must be an object"));
        assert!(Criteria::parse(&Value::Null).unwrap().is_empty());
    }

    #[test]
    fn round_trips_and_long_operator_names() {
        let v = json!({"criterion": {"severity": {"greaterThanOrEqual": 7}, "type": {"equals": ["a"]}}});
        let c: Criteria = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&c).unwrap(), v);
        assert!(c.matches(&json!({"severity": 8.0, "type": "a"})));
        assert!(!c.matches(&json!({"severity": 6.9, "type": "a"})));
    }

    #[test]
    fn in_memory_evaluation() {
        let f = json!({"type": "Execution:Runtime/ReverseShell", "severity": 8.0, "updatedAt": "2026-11-28T12:00:00Z",
            "service": {"archived": false, "count": 3},
            "resource": {"ecsClusterDetails": {"taskDetails": {"containers": [{"image": "nginx:1"}, {"image": "redis:7"}]}}}});
        let m = |c| Criteria::parse(&c).unwrap().matches(&f);
        assert!(m(json!({"criterion": {"severity": {"gte": 7}}})));
        assert!(!m(json!({"criterion": {"severity": {"gt": 8}}})));
        // The first container of the task is the finding's container.
        assert!(m(json!({"criterion": {"resource.containerDetails.image": {"matches": ["nginx*"]}}})));
        assert!(!m(json!({"criterion": {"resource.containerDetails.image": {"matches": ["redis*"]}}})));
        assert!(m(json!({"criterion": {"updatedAt": {"gte": "2026-11-28T11:00:00Z", "lt": 1795867200001i64}}})));
        assert!(m(json!({"criterion": {"service.archived": {"eq": [false]}}})));
        assert!(!m(json!({"criterion": {"type": {"neq": ["Execution:Runtime/ReverseShell"]}}})));
        assert!(m(json!({"criterion": {"type": {"notMatches": ["Impact:*"]}}})));
        // Absent values: only the negative operators hold.
        assert!(m(json!({"criterion": {"region": {"neq": ["x"]}, "accountId": {"notMatches": ["*"]}}})));
        assert!(!m(json!({"criterion": {"region": {"matches": ["*"]}}})));
    }
}
