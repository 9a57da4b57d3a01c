//! k6 thresholds: `options.thresholds` parsing, validation and evaluation.
//!
//! ```text
//! thresholds: {
//!   http_req_duration: ["p(95)<500", "avg<300"],
//!   "http_req_duration{status:200}": [{ threshold: "max<1000", abortOnFail: true, delayAbortEval: "10s" }],
//!   checks: ["rate>0.9"],
//! }
//! ```
//!
//! An expression is `<aggregation> <operator> <number>`: aggregation one of `avg`, `min`,
//! `max`, `med`, `p(N)`, `rate`, `count`, `value`; operator one of `<`, `<=`, `>`, `>=`, `==`,
//! `===`, `!=`. Which aggregations a metric accepts depends on its type (checked by
//! [`Threshold::validate`] once the metric's type is known). Evaluation follows k6 v1:
//! an empty trend reports 0 for every stat and is compared as such; an empty rate has no
//! `rate` value and its thresholds pass; counters use `count` and `count / test duration`.
//! k6 skips thresholds on empty sinks while the test runs and evaluates them all at the end;
//! that policy is the caller's (see [`crate::metrics::Sink::is_empty`]).

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::metrics::{parse_percentile_stat, MetricType, Sink};

/// What went wrong in a threshold definition.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    /// The expression text does not parse.
    #[error(
        "invalid threshold expression {expression:?}: {reason}; expected \
         `<aggregation> <operator> <number>` such as \"p(95)<500\" or \"rate<0.01\""
    )]
    Expression {
        /// The expression as written.
        expression: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The aggregation method does not exist for the metric's type.
    #[error(
        "invalid threshold {expression:?} applied on metric {metric}; reason: unsupported \
         aggregation method {aggregation} on metric of type {metric_type}. supported \
         aggregation methods for this metric are: {supported}"
    )]
    UnsupportedAggregation {
        /// The thresholds key, e.g. `http_req_duration{status:200}`.
        metric: String,
        /// The expression as written.
        expression: String,
        /// The aggregation it uses, e.g. `value`.
        aggregation: String,
        /// The metric's type.
        metric_type: MetricType,
        /// Comma-separated methods the type accepts.
        supported: String,
    },
    /// A thresholds key is not `name` or `name{tag:value,...}`.
    #[error(
        "invalid metric name {key:?} in thresholds: {reason}; expected `name` or \
         `name{{tag:value,...}}`, e.g. \"http_req_duration{{status:200}}\""
    )]
    MetricKey {
        /// The key as written.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The JSON for one metric's thresholds has the wrong shape.
    #[error("invalid thresholds for metric {key:?}: {reason}")]
    Config {
        /// The thresholds key.
        key: String,
        /// What is wrong and how to write it instead.
        reason: String,
    },
    /// `thresholds` itself is not an object.
    #[error(
        "invalid thresholds option: expected an object mapping metric names to lists of \
         expressions, e.g. {{\"http_req_duration\": [\"p(95)<500\"]}}, got {found}"
    )]
    NotAnObject {
        /// JSON type found instead.
        found: &'static str,
    },
}

/// The left-hand side of an expression.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Aggregation {
    /// `avg` (trend).
    Avg,
    /// `min` (trend).
    Min,
    /// `max` (trend).
    Max,
    /// `med` (trend).
    Med,
    /// `p(N)` with `0 ≤ N ≤ 100` (trend).
    Percentile(f64),
    /// `rate` (counter: per second; rate: share of non-zero samples).
    Rate,
    /// `count` (counter).
    Count,
    /// `value` (gauge: last value).
    Value,
}

impl Aggregation {
    /// True when k6 accepts this aggregation on a metric of type `t`.
    pub fn supported_by(self, t: MetricType) -> bool {
        use Aggregation::*;
        match t {
            MetricType::Counter => matches!(self, Count | Rate),
            MetricType::Gauge => matches!(self, Value),
            MetricType::Rate => matches!(self, Rate),
            MetricType::Trend => matches!(self, Avg | Min | Max | Med | Percentile(_)),
        }
    }
}

/// Formats as the stat name k6 shows next to a threshold: `avg`, `rate`, `p(95)`, `p(99.9)`.
impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aggregation::Avg => f.write_str("avg"),
            Aggregation::Min => f.write_str("min"),
            Aggregation::Max => f.write_str("max"),
            Aggregation::Med => f.write_str("med"),
            Aggregation::Percentile(p) => write!(f, "p({p})"),
            Aggregation::Rate => f.write_str("rate"),
            Aggregation::Count => f.write_str("count"),
            Aggregation::Value => f.write_str("value"),
        }
    }
}

/// The comparison of an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `===` (same as `==` on numbers)
    StrictEq,
    /// `!=`
    Ne,
}

impl Operator {
    /// Longest tokens first so that `<=` is not read as `<` followed by `=`.
    const TOKENS: [(&'static str, Operator); 7] = [
        ("===", Operator::StrictEq),
        ("==", Operator::Eq),
        ("!=", Operator::Ne),
        ("<=", Operator::Le),
        (">=", Operator::Ge),
        ("<", Operator::Lt),
        (">", Operator::Gt),
    ];

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::Gt => ">",
            Operator::Ge => ">=",
            Operator::Eq => "==",
            Operator::StrictEq => "===",
            Operator::Ne => "!=",
        }
    }

    /// `lhs <op> rhs`.
    pub fn apply(self, lhs: f64, rhs: f64) -> bool {
        match self {
            Operator::Lt => lhs < rhs,
            Operator::Le => lhs <= rhs,
            Operator::Gt => lhs > rhs,
            Operator::Ge => lhs >= rhs,
            Operator::Eq | Operator::StrictEq => lhs == rhs,
            Operator::Ne => lhs != rhs,
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed expression.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThresholdExpr {
    /// Left-hand side.
    pub aggregation: Aggregation,
    /// Comparison.
    pub operator: Operator,
    /// Right-hand side.
    pub value: f64,
}

impl ThresholdExpr {
    /// Parses `<aggregation> <operator> <number>`, whitespace allowed around each part.
    pub fn parse(src: &str) -> Result<ThresholdExpr, ThresholdError> {
        let err = |reason: String| ThresholdError::Expression {
            expression: src.to_owned(),
            reason,
        };
        let op_at = src.find(['<', '>', '=', '!']).ok_or_else(|| {
            err("no comparison operator (<, <=, >, >=, ==, ===, !=) found".into())
        })?;
        let (lhs, rest) = src.split_at(op_at);
        let (token, operator) = Operator::TOKENS
            .iter()
            .copied()
            .find(|(t, _)| rest.starts_with(t))
            .ok_or_else(|| {
                let shown: String = rest.chars().take(3).collect();
                err(format!(
                    "unknown operator at {shown:?}; use one of <, <=, >, >=, ==, ===, !="
                ))
            })?;
        let lhs = lhs.trim();
        let rhs = rest[token.len()..].trim();
        let aggregation = parse_aggregation(lhs).map_err(err)?;
        if rhs.is_empty() {
            return Err(err(format!(
                "nothing to compare {lhs} with after {token:?}"
            )));
        }
        // Same leniency as k6 (Go's ParseFloat): signs, exponents, "Inf" are accepted.
        let value: f64 = rhs
            .parse()
            .map_err(|_| err(format!("right-hand side {rhs:?} is not a number")))?;
        Ok(ThresholdExpr {
            aggregation,
            operator,
            value,
        })
    }
}

impl fmt::Display for ThresholdExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.aggregation, self.operator, self.value)
    }
}

fn parse_aggregation(lhs: &str) -> Result<Aggregation, String> {
    Ok(match lhs {
        "avg" => Aggregation::Avg,
        "min" => Aggregation::Min,
        "max" => Aggregation::Max,
        "med" => Aggregation::Med,
        "rate" => Aggregation::Rate,
        "count" => Aggregation::Count,
        "value" => Aggregation::Value,
        "" => return Err("missing the aggregation method before the operator".into()),
        _ if lhs.starts_with("p(") && lhs.ends_with(')') => {
            return parse_percentile_stat(lhs)
                .map(Aggregation::Percentile)
                .ok_or_else(|| {
                    format!(
                        "malformed percentile {lhs:?}; write p(N) with N a number from 0 to 100"
                    )
                })
        }
        _ => {
            return Err(format!(
                "unknown aggregation method {lhs:?}; expected one of avg, min, max, med, p(N), \
                 rate, count, value"
            ))
        }
    })
}

/// One threshold on one metric (or submetric).
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// The expression exactly as written (k6 shows and keys results by it).
    pub source: String,
    /// Stop the whole test as soon as this threshold fails.
    pub abort_on_fail: bool,
    /// With `abort_on_fail`: do not abort before the test has run this long.
    pub delay_abort_eval: Option<Duration>,
    expr: ThresholdExpr,
}

/// Outcome of evaluating one threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct ThresholdResult {
    /// True when the threshold holds.
    pub ok: bool,
    /// The stat compared, as k6 names it next to the threshold: `p(95)`, `rate`, `count`...
    pub stat: String,
    /// The stat's value. 0 when the sink has none (an empty rate, or a sink of a type the
    /// threshold was not validated against); such thresholds pass, as in k6.
    pub observed: f64,
}

impl Threshold {
    /// Parses a plain expression (no abort options).
    pub fn parse(source: &str) -> Result<Threshold, ThresholdError> {
        Ok(Threshold {
            source: source.to_owned(),
            abort_on_fail: false,
            delay_abort_eval: None,
            expr: ThresholdExpr::parse(source)?,
        })
    }

    /// Parses one entry of a metric's thresholds list: either `"p(95)<500"` or
    /// `{"threshold": "p(95)<500", "abortOnFail": true, "delayAbortEval": "10s"}`.
    /// `key` is the metric key, used in error messages. `delayAbortEval` takes a k6 duration
    /// string or a number of milliseconds; unknown object fields are ignored, as in k6.
    pub fn from_json(key: &str, entry: &Value) -> Result<Threshold, ThresholdError> {
        let config_err = |reason: String| ThresholdError::Config {
            key: key.to_owned(),
            reason,
        };
        let obj = match entry {
            Value::String(s) => return Threshold::parse(s),
            Value::Object(obj) => obj,
            other => {
                return Err(config_err(format!(
                    "each threshold must be an expression string like \"p(95)<500\" or an object \
                     like {{\"threshold\": \"p(95)<500\", \"abortOnFail\": true}}, got {}",
                    json_type(other)
                )))
            }
        };
        let source = match obj.get("threshold") {
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(config_err(format!(
                    "\"threshold\" must be an expression string like \"p(95)<500\", got {}",
                    json_type(other)
                )))
            }
            None => {
                return Err(config_err(
                    "a threshold object needs a \"threshold\" field with the expression, e.g. \
                     {\"threshold\": \"p(95)<500\", \"abortOnFail\": true}"
                        .into(),
                ))
            }
        };
        let abort_on_fail = match obj.get("abortOnFail") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(config_err(format!(
                    "\"abortOnFail\" must be true or false, got {}",
                    json_type(other)
                )))
            }
        };
        let delay_abort_eval = match obj.get("delayAbortEval") {
            None | Some(Value::Null) => None,
            Some(v) => Some(delay_from_json(v).map_err(|reason| {
                config_err(format!(
                    "\"delayAbortEval\" {reason}; write a duration such as \"10s\" or \"1m30s\""
                ))
            })?),
        };
        let mut t = Threshold::parse(source)?;
        t.abort_on_fail = abort_on_fail;
        t.delay_abort_eval = delay_abort_eval;
        Ok(t)
    }

    /// The parsed expression.
    pub fn expr(&self) -> &ThresholdExpr {
        &self.expr
    }

    /// The stat this threshold compares, named as k6 shows it (`p(95)`, `rate`...).
    pub fn stat_name(&self) -> String {
        self.expr.aggregation.to_string()
    }

    /// Checks that the aggregation exists for a metric of type `metric_type`; `metric_key`
    /// names the metric in the error. k6 refuses to start on such a threshold.
    pub fn validate(
        &self,
        metric_key: &str,
        metric_type: MetricType,
    ) -> Result<(), ThresholdError> {
        if self.expr.aggregation.supported_by(metric_type) {
            return Ok(());
        }
        Err(ThresholdError::UnsupportedAggregation {
            metric: metric_key.to_owned(),
            expression: self.source.clone(),
            aggregation: self.stat_name(),
            metric_type,
            supported: metric_type.threshold_aggregations().join(", "),
        })
    }

    /// Evaluates against a sink. `duration_secs` is the test run time so far (counter
    /// `rate`). See [`ThresholdResult`] for sinks without the stat.
    pub fn evaluate(&self, sink: &Sink, duration_secs: f64) -> ThresholdResult {
        let stat = self.stat_name();
        let observed = match (self.expr.aggregation, sink) {
            // k6 has no `rate` for an empty rate metric, and a missing value passes.
            (Aggregation::Rate, Sink::Rate(r)) if r.is_empty() => None,
            (Aggregation::Percentile(p), Sink::Trend(t)) => Some(t.percentile(p)),
            (_, sink) => sink.stat(&stat, duration_secs),
        };
        match observed {
            Some(v) => ThresholdResult {
                ok: self.expr.operator.apply(v, self.expr.value),
                stat,
                observed: v,
            },
            None => ThresholdResult {
                ok: true,
                stat,
                observed: 0.0,
            },
        }
    }

    /// Whether a failure of this threshold after `elapsed` of test time aborts the test:
    /// only with `abortOnFail`, and only once `delayAbortEval` (if any) has passed.
    pub fn should_abort(&self, elapsed: Duration) -> bool {
        self.abort_on_fail && self.delay_abort_eval.is_none_or(|d| elapsed > d)
    }
}

fn delay_from_json(v: &Value) -> Result<Duration, String> {
    match v {
        Value::String(s) => {
            crate::duration::parse_duration(s).map_err(|e| format!("is invalid ({e})"))
        }
        Value::Number(n) => {
            // A bare number is milliseconds, as for every k6 duration option.
            let ms = n.as_f64().unwrap_or(f64::NAN);
            if ms.is_finite() && ms >= 0.0 {
                Duration::try_from_secs_f64(ms / 1000.0)
                    .map_err(|e| format!("{n} is out of range ({e})"))
            } else {
                Err(format!("must not be negative, got {n}"))
            }
        }
        other => Err(format!(
            "must be a duration string, got {}",
            json_type(other)
        )),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Splits a thresholds key into the metric name and its submetric tag filter:
/// `http_req_duration{status:200,method:GET}` → (`http_req_duration`,
/// `[("status","200"), ("method","GET")]`). Whitespace around names, keys and values is
/// trimmed and surrounding quotes are removed (`{name:'foo bar'}`), as in k6. The value is
/// everything after the first `:`, so `group_duration{group:::api}` filters on `::api`.
/// When a tag repeats, the last value wins (in the position of the first).
pub fn parse_metric_key(key: &str) -> Result<(String, Vec<(String, String)>), ThresholdError> {
    let err = |reason: &str| ThresholdError::MetricKey {
        key: key.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = key.trim();
    let open = trimmed.find('{');
    let close = trimmed.rfind('}');
    let (open, close) = match (open, close) {
        (None, None) => {
            if trimmed.is_empty() {
                return Err(err("the metric name is empty"));
            }
            return Ok((trimmed.to_owned(), Vec::new()));
        }
        (Some(o), Some(c)) => (o, c),
        _ => return Err(err("it has an unmatched curly brace")),
    };
    if close < open {
        return Err(err("the closing curly brace comes before the opening one"));
    }
    if close != trimmed.len() - 1 {
        return Err(err("there is text after the closing curly brace"));
    }
    let name = trimmed[..open].trim();
    if name.is_empty() {
        return Err(err("the metric name before '{' is empty"));
    }
    let inner = &trimmed[open + 1..close];
    if inner.trim().is_empty() {
        return Err(err("the tag filter between the curly braces is empty"));
    }
    let unquote = |s: &str| s.trim().trim_matches(['"', '\'']).to_owned();
    let mut tags: Vec<(String, String)> = Vec::new();
    for part in inner.split(',') {
        let Some((k, v)) = part.split_once(':') else {
            return Err(ThresholdError::MetricKey {
                key: key.to_owned(),
                reason: format!("tag filter {:?} is not of the form key:value", part.trim()),
            });
        };
        if v.is_empty() {
            return Err(ThresholdError::MetricKey {
                key: key.to_owned(),
                reason: format!("tag filter {:?} has no value after ':'", part.trim()),
            });
        }
        let (k, v) = (unquote(k), unquote(v));
        if k.is_empty() {
            return Err(ThresholdError::MetricKey {
                key: key.to_owned(),
                reason: format!("tag filter {:?} has an empty tag name", part.trim()),
            });
        }
        match tags.iter_mut().find(|(existing, _)| *existing == k) {
            Some(slot) => slot.1 = v,
            None => tags.push((k, v)),
        }
    }
    Ok((name.to_owned(), tags))
}

/// Parses k6's `options.thresholds` object, keeping the input order of keys and of each
/// key's expressions. Keys are returned as written; split them with [`parse_metric_key`]
/// (already checked here). A `null` list counts as empty, as in k6. Aggregation methods are
/// checked later with [`Threshold::validate`], once metric types are known.
pub fn parse_thresholds(map: &Value) -> Result<Vec<(String, Vec<Threshold>)>, ThresholdError> {
    let obj = match map {
        Value::Object(obj) => obj,
        other => {
            return Err(ThresholdError::NotAnObject {
                found: json_type(other),
            })
        }
    };
    let mut out = Vec::with_capacity(obj.len());
    for (key, list) in obj {
        parse_metric_key(key)?;
        let thresholds = match list {
            Value::Null => Vec::new(),
            Value::Array(items) => items
                .iter()
                .map(|item| Threshold::from_json(key, item))
                .collect::<Result<Vec<_>, _>>()?,
            other => {
                return Err(ThresholdError::Config {
                    key: key.clone(),
                    reason: format!(
                        "expected an array of expressions like [\"p(95)<500\"], got {}",
                        json_type(other)
                    ),
                })
            }
        };
        out.push((key.clone(), thresholds));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::TagSet;
    use serde_json::json;

    fn sink_of(t: MetricType, values: &[f64]) -> Sink {
        let mut s = Sink::new(t);
        for (i, &v) in values.iter().enumerate() {
            s.add(v, i as u64);
        }
        s
    }

    fn eval(expr: &str, sink: &Sink) -> ThresholdResult {
        Threshold::parse(expr).expect("parse").evaluate(sink, 10.0)
    }

    #[test]
    fn parses_every_aggregation() {
        let cases = [
            ("avg<300", Aggregation::Avg),
            ("min<1", Aggregation::Min),
            ("max<1000", Aggregation::Max),
            ("med<1000", Aggregation::Med),
            ("p(95)<500", Aggregation::Percentile(95.0)),
            ("p(99.9)<500", Aggregation::Percentile(99.9)),
            ("p(0)<500", Aggregation::Percentile(0.0)),
            ("p(100)<500", Aggregation::Percentile(100.0)),
            ("rate<0.01", Aggregation::Rate),
            ("count>0", Aggregation::Count),
            ("value<100", Aggregation::Value),
        ];
        for (src, agg) in cases {
            let t = Threshold::parse(src).expect(src);
            assert_eq!(t.expr().aggregation, agg, "{src}");
            assert_eq!(t.source, src);
            assert!(!t.abort_on_fail);
            assert_eq!(t.delay_abort_eval, None);
        }
        assert_eq!(Threshold::parse("p(95)<1").expect("p").stat_name(), "p(95)");
        assert_eq!(
            Threshold::parse("p(99.90)<1").expect("p").stat_name(),
            "p(99.9)"
        );
    }

    #[test]
    fn parses_every_operator_with_whitespace() {
        let cases = [
            ("count < 5", Operator::Lt),
            ("count<=5", Operator::Le),
            ("count >5", Operator::Gt),
            ("count>= 5", Operator::Ge),
            ("count==5", Operator::Eq),
            ("count === 5", Operator::StrictEq),
            ("  count != 5  ", Operator::Ne),
        ];
        for (src, op) in cases {
            let e = ThresholdExpr::parse(src).expect(src);
            assert_eq!(e.operator, op, "{src}");
            assert_eq!(e.value, 5.0);
            assert_eq!(e.aggregation, Aggregation::Count);
        }
        let e = ThresholdExpr::parse("p( 95 ) < 1.5e2").expect("spaces");
        assert_eq!(e.aggregation, Aggregation::Percentile(95.0));
        assert_eq!(e.value, 150.0);
        assert_eq!(ThresholdExpr::parse("value>-3").expect("neg").value, -3.0);
        assert_eq!(
            ThresholdExpr::parse("p(95)<500").expect("d").to_string(),
            "p(95)<500"
        );
    }

    #[test]
    fn operators_compare() {
        let cases = [
            (Operator::Lt, [false, false, true]),
            (Operator::Le, [false, true, true]),
            (Operator::Gt, [true, false, false]),
            (Operator::Ge, [true, true, false]),
            (Operator::Eq, [false, true, false]),
            (Operator::StrictEq, [false, true, false]),
            (Operator::Ne, [true, false, true]),
        ];
        for (op, expected) in cases {
            // lhs 6, 5, 4 against rhs 5
            for (lhs, want) in [6.0, 5.0, 4.0].into_iter().zip(expected) {
                assert_eq!(op.apply(lhs, 5.0), want, "{lhs} {op} 5");
            }
        }
    }

    #[test]
    fn expression_errors() {
        let cases = [
            ("p(95)", "no comparison operator"),
            ("", "no comparison operator"),
            ("<500", "missing the aggregation method"),
            ("p(95)<", "nothing to compare"),
            ("p(95)<<500", "is not a number"),
            ("p(95)<abc", "is not a number"),
            ("p(95)=500", "unknown operator"),
            ("p(95)=>500", "unknown operator"),
            ("mean<500", "unknown aggregation method \"mean\""),
            ("p<500", "unknown aggregation method"),
            ("p(abc)<500", "malformed percentile"),
            ("p(101)<500", "malformed percentile"),
            ("p(-5)<500", "malformed percentile"),
            ("P(95)<500", "unknown aggregation method"),
        ];
        for (src, want) in cases {
            let err = Threshold::parse(src).expect_err(src);
            let msg = err.to_string();
            assert!(msg.contains(want), "{src}: {msg}");
            assert!(
                msg.contains("expected `<aggregation> <operator> <number>`"),
                "{msg}"
            );
            assert!(matches!(err, ThresholdError::Expression { .. }));
        }
    }

    #[test]
    fn validates_aggregation_against_metric_type() {
        let ok = [
            (MetricType::Counter, "count>0"),
            (MetricType::Counter, "rate>1"),
            (MetricType::Gauge, "value<100"),
            (MetricType::Rate, "rate<0.01"),
            (MetricType::Trend, "avg<1"),
            (MetricType::Trend, "min<1"),
            (MetricType::Trend, "max<1"),
            (MetricType::Trend, "med<1"),
            (MetricType::Trend, "p(99)<1"),
        ];
        for (ty, src) in ok {
            Threshold::parse(src)
                .expect(src)
                .validate("m", ty)
                .expect(src);
        }
        let bad = [
            (MetricType::Counter, "value<1"),
            (MetricType::Counter, "p(95)<1"),
            (MetricType::Gauge, "count<1"),
            (MetricType::Gauge, "max<1"),
            (MetricType::Rate, "count<1"),
            (MetricType::Trend, "rate<1"),
            (MetricType::Trend, "count<1"),
            (MetricType::Trend, "value<1"),
        ];
        for (ty, src) in bad {
            let err = Threshold::parse(src)
                .expect(src)
                .validate("my_metric{a:b}", ty)
                .expect_err(src);
            assert!(matches!(err, ThresholdError::UnsupportedAggregation { .. }));
        }
        let err = Threshold::parse("value<100")
            .expect("parse")
            .validate("http_req_duration", MetricType::Trend)
            .expect_err("trend has no value");
        assert_eq!(
            err.to_string(),
            "invalid threshold \"value<100\" applied on metric http_req_duration; reason: \
             unsupported aggregation method value on metric of type trend. supported \
             aggregation methods for this metric are: avg, min, max, med, p"
        );
    }

    #[test]
    fn evaluates_trend_stats_like_k6() {
        let s = sink_of(
            MetricType::Trend,
            &(1..=10).map(f64::from).collect::<Vec<_>>(),
        );
        let r = eval("p(90)<9.2", &s);
        assert!(r.ok);
        assert_eq!(r.stat, "p(90)");
        assert!((r.observed - 9.1).abs() < 1e-9);
        assert!(!eval("p(90)<9.0", &s).ok);
        let med = eval("med==5.5", &s);
        assert!(med.ok && med.stat == "med" && med.observed == 5.5);
        assert!(eval("avg===5.5", &s).ok);
        assert!(eval("min>=1", &s).ok);
        assert!(!eval("min>1", &s).ok);
        assert!(eval("max<=10", &s).ok);
        assert!(eval("max!=11", &s).ok);
        assert!(eval("p(100)==10", &s).ok);
        assert!(eval("p(0)==1", &s).ok);
    }

    #[test]
    fn evaluates_counter_gauge_rate() {
        let c = sink_of(MetricType::Counter, &[5.0, 15.0]);
        let r = eval("count>5", &c);
        assert!(r.ok && r.observed == 20.0 && r.stat == "count");
        let r = eval("rate>=2", &c); // 20 over 10 s
        assert!(r.ok && r.observed == 2.0);
        assert!(!eval("rate>2", &c).ok);

        let g = sink_of(MetricType::Gauge, &[11.0, 21.0]);
        let r = eval("value<100", &g);
        assert!(r.ok && r.observed == 21.0 && r.stat == "value");
        assert!(!eval("value<21", &g).ok);

        let rt = sink_of(MetricType::Rate, &[1.0, 1.0, 0.0, 1.0]);
        let r = eval("rate>0.9", &rt);
        assert!(!r.ok && r.observed == 0.75 && r.stat == "rate");
        assert!(eval("rate>=0.75", &rt).ok);
    }

    #[test]
    fn empty_sinks_follow_k6() {
        // Empty trend: every stat is 0 and is compared.
        let t = Sink::new(MetricType::Trend);
        let r = eval("p(95)<500", &t);
        assert!(r.ok && r.observed == 0.0);
        assert!(!eval("avg>0", &t).ok);
        // Empty counter: count 0.
        assert!(!eval("count>0", &Sink::new(MetricType::Counter)).ok);
        // Empty gauge: value 0.
        assert!(eval("value<1", &Sink::new(MetricType::Gauge)).ok);
        // Empty rate: no rate at all, the threshold passes whatever it says.
        let r = eval("rate>0.99", &Sink::new(MetricType::Rate));
        assert!(r.ok && r.observed == 0.0 && r.stat == "rate");
        // Unvalidated type mismatch: no such stat, passes (validate() prevents this).
        assert!(eval("value<1", &Sink::new(MetricType::Trend)).ok);
    }

    #[test]
    fn evaluates_on_histogram_backed_trends() {
        let values: Vec<f64> = (1..=100_000).map(f64::from).collect();
        let s = sink_of(MetricType::Trend, &values);
        let r = eval("p(95)<95000", &s);
        // Exact p(95) = 95000.05; the histogram is within 0.05 %.
        assert!(
            (r.observed - 95_000.05).abs() / 95_000.05 < 0.0005,
            "{}",
            r.observed
        );
        let r = eval("max==100000", &s);
        assert!(r.ok, "max stays exact");
    }

    #[test]
    fn abort_rules() {
        let plain = Threshold::parse("rate<0.01").expect("parse");
        assert!(!plain.should_abort(Duration::from_secs(100)));
        let t = Threshold::from_json("m", &json!({"threshold": "rate<0.01", "abortOnFail": true}))
            .expect("obj");
        assert!(t.should_abort(Duration::ZERO));
        let d = Threshold::from_json(
            "m",
            &json!({"threshold": "rate<0.01", "abortOnFail": true, "delayAbortEval": "10s"}),
        )
        .expect("obj");
        assert_eq!(d.delay_abort_eval, Some(Duration::from_secs(10)));
        assert!(!d.should_abort(Duration::from_secs(5)));
        assert!(!d.should_abort(Duration::from_secs(10)));
        assert!(d.should_abort(Duration::from_secs(11)));
    }

    #[test]
    fn threshold_object_forms() {
        let t = Threshold::from_json(
            "http_req_failed",
            &json!({"threshold": "rate<0.01", "abortOnFail": true, "delayAbortEval": "1m30s"}),
        )
        .expect("object");
        assert_eq!(t.source, "rate<0.01");
        assert!(t.abort_on_fail);
        assert_eq!(t.delay_abort_eval, Some(Duration::from_secs(90)));
        let ms = Threshold::from_json(
            "m",
            &json!({"threshold": "count>0", "delayAbortEval": "500ms"}),
        )
        .expect("ms");
        assert_eq!(ms.delay_abort_eval, Some(Duration::from_millis(500)));
        assert!(!ms.abort_on_fail);
        let num = Threshold::from_json(
            "m",
            &json!({"threshold": "count>0", "delayAbortEval": 2500}),
        )
        .expect("number = ms");
        assert_eq!(num.delay_abort_eval, Some(Duration::from_millis(2500)));
        let nulls = Threshold::from_json(
            "m",
            &json!({"threshold": "count>0", "abortOnFail": null, "delayAbortEval": null, "extra": 1}),
        )
        .expect("nulls and unknown fields");
        assert!(!nulls.abort_on_fail && nulls.delay_abort_eval.is_none());

        let bad = [
            (json!({"abortOnFail": true}), "needs a \"threshold\" field"),
            (
                json!({"threshold": 5}),
                "\"threshold\" must be an expression string",
            ),
            (
                json!({"threshold": "count>0", "abortOnFail": "yes"}),
                "\"abortOnFail\" must be true or false",
            ),
            (
                json!({"threshold": "count>0", "delayAbortEval": "soon"}),
                "\"delayAbortEval\" is invalid",
            ),
            (
                json!({"threshold": "count>0", "delayAbortEval": -5}),
                "must not be negative",
            ),
            (
                json!({"threshold": "count>0", "delayAbortEval": true}),
                "must be a duration string",
            ),
            (json!(42), "each threshold must be an expression string"),
        ];
        for (v, want) in bad {
            let err = Threshold::from_json("my_metric", &v).expect_err(want);
            let msg = err.to_string();
            assert!(msg.contains(want), "{v}: {msg}");
            assert!(msg.contains("my_metric"), "{msg}");
        }
        let err = Threshold::from_json("m", &json!({"threshold": "bogus"})).expect_err("expr");
        assert!(matches!(err, ThresholdError::Expression { .. }));
    }

    #[test]
    fn metric_keys() {
        assert_eq!(
            parse_metric_key("http_req_duration").expect("plain"),
            ("http_req_duration".to_owned(), vec![])
        );
        let (name, tags) =
            parse_metric_key("http_req_duration{status:200,method:GET}").expect("tags");
        assert_eq!(name, "http_req_duration");
        assert_eq!(
            tags,
            vec![
                ("status".to_owned(), "200".to_owned()),
                ("method".to_owned(), "GET".to_owned())
            ]
        );
        let (_, tags) = parse_metric_key("my_trend{name:'foo bar'}").expect("quotes");
        assert_eq!(tags, vec![("name".to_owned(), "foo bar".to_owned())]);
        let (_, tags) =
            parse_metric_key("my_trend{ \"name\" : \"x\" , status : 200 }").expect("spaces");
        assert_eq!(
            tags,
            vec![
                ("name".to_owned(), "x".to_owned()),
                ("status".to_owned(), "200".to_owned())
            ]
        );
        let (name, tags) = parse_metric_key("group_duration{group:::api}").expect("colons");
        assert_eq!(name, "group_duration");
        assert_eq!(tags, vec![("group".to_owned(), "::api".to_owned())]);
        let (_, tags) = parse_metric_key("m{a:1,a:2,b:3}").expect("dup");
        assert_eq!(
            tags,
            vec![
                ("a".to_owned(), "2".to_owned()),
                ("b".to_owned(), "3".to_owned())
            ]
        );
        let (name, _) = parse_metric_key("  spaced {a:1}").expect("trim");
        assert_eq!(name, "spaced");
        // Matching a sample's tags.
        let (_, filter) = parse_metric_key("http_req_duration{status:200}").expect("filter");
        let sample_tags = TagSet::from_pairs([("status", "200"), ("method", "GET")]);
        assert!(sample_tags.contains_all(&filter));

        let bad = [
            ("", "metric name is empty"),
            ("m{a:1", "unmatched curly brace"),
            ("ma:1}", "unmatched curly brace"),
            ("m}a:1{", "closing curly brace comes before"),
            ("m{a:1}x", "text after the closing curly brace"),
            ("{a:1}", "metric name before '{' is empty"),
            ("m{}", "tag filter between the curly braces is empty"),
            ("m{ }", "tag filter between the curly braces is empty"),
            ("m{status}", "not of the form key:value"),
            ("m{status:}", "no value after ':'"),
            ("m{a:1,}", "not of the form key:value"),
            ("m{:1}", "empty tag name"),
        ];
        for (key, want) in bad {
            let err = parse_metric_key(key).expect_err(key);
            let msg = err.to_string();
            assert!(msg.contains(want), "{key:?}: {msg}");
            assert!(
                msg.contains("expected `name` or `name{tag:value,...}`"),
                "{msg}"
            );
        }
    }

    #[test]
    fn parses_thresholds_object_in_order() {
        let v = json!({
            "http_req_duration": ["p(95)<500", "avg<300"],
            "checks": ["rate>0.5"],
            "http_req_duration{group:::api}": [{"threshold": "max<1000", "abortOnFail": true, "delayAbortEval": "10s"}],
            "my_counter": ["count>5"],
            "unused": null,
            "my_gauge": ["value<100"]
        });
        let parsed = parse_thresholds(&v).expect("parse");
        let keys: Vec<&str> = parsed.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "http_req_duration",
                "checks",
                "http_req_duration{group:::api}",
                "my_counter",
                "unused",
                "my_gauge"
            ]
        );
        let srcs: Vec<&str> = parsed[0].1.iter().map(|t| t.source.as_str()).collect();
        assert_eq!(srcs, ["p(95)<500", "avg<300"]);
        assert!(parsed[2].1[0].abort_on_fail);
        assert_eq!(
            parsed[2].1[0].delay_abort_eval,
            Some(Duration::from_secs(10))
        );
        assert!(parsed[4].1.is_empty());
        assert!(parse_thresholds(&json!({})).expect("empty").is_empty());
    }

    #[test]
    fn thresholds_object_errors() {
        let err = parse_thresholds(&json!(["p(95)<500"])).expect_err("array");
        assert!(matches!(
            err,
            ThresholdError::NotAnObject { found: "an array" }
        ));
        assert!(err.to_string().contains("expected an object"));
        let err = parse_thresholds(&json!({"http_req_duration": "p(95)<500"})).expect_err("string");
        assert!(
            err.to_string().contains("expected an array of expressions"),
            "{err}"
        );
        assert!(err.to_string().contains("http_req_duration"));
        let err = parse_thresholds(&json!({"m{a}": ["count>0"]})).expect_err("bad key");
        assert!(matches!(err, ThresholdError::MetricKey { .. }));
        let err = parse_thresholds(&json!({"m": ["count>0", "nope"]})).expect_err("bad expr");
        assert!(err.to_string().contains("\"nope\""), "{err}");
    }
}
