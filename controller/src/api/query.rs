//! Query-string handling. k6's legacy API repeats keys (`ids[]=1&ids[]=3`), which serde-based
//! extractors cannot express, so the query is parsed here into ordered pairs. Unknown parameters
//! are rejected (naming the accepted ones) so a typo like `$selct` is not silently ignored.

use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value};
use volley_common::text::echo;

use super::extract::ok;
use super::ApiError;

pub(super) const INVALID_QUERY: &str = "invalid_query";

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space, `%XX` a byte).
fn decode_component(s: &str) -> Result<String, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        return Err(ApiError::bad_request(
                            INVALID_QUERY,
                            format!(
                                "the query has a bad percent-escape in `{}`: `%` must be followed by two hex digits (write `%25` for a literal `%`)",
                                echo(s)
                            ),
                        ))
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| {
        ApiError::bad_request(
            INVALID_QUERY,
            format!(
                "the query component `{}` does not decode to UTF-8 text",
                echo(s)
            ),
        )
    })
}

/// The parsed query of one request: ordered `(key, value)` pairs, consumed by the handler.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        let mut pairs = Vec::new();
        for part in raw.unwrap_or("").split('&') {
            if part.is_empty() {
                continue;
            }
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((decode_component(k)?, decode_component(v)?));
        }
        Ok(Query { pairs })
    }

    /// Removes every pair whose key is one of `names`, returning their values in order.
    pub fn take_all(&mut self, names: &[&str]) -> Vec<(String, String)> {
        let (taken, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pairs)
            .into_iter()
            .partition(|(k, _)| names.contains(&k.as_str()));
        self.pairs = rest;
        taken
    }

    /// One optional parameter (with aliases). Repeating it with different values is an error:
    /// guessing which one the caller meant would hide a bug in their request.
    pub fn take_one(&mut self, names: &[&str]) -> Result<Option<String>, ApiError> {
        let taken = self.take_all(names);
        let mut value: Option<(String, String)> = None;
        for (k, v) in taken {
            match &value {
                Some((k0, v0)) if *v0 != v => {
                    return Err(ApiError::bad_request(
                        INVALID_QUERY,
                        format!(
                            "query parameter `{k0}` is given twice with different values (`{}` and `{k}={}`); give it once",
                            echo(v0),
                            echo(&v)
                        ),
                    ))
                }
                Some(_) => {}
                None => value = Some((k, v)),
            }
        }
        Ok(value.map(|(_, v)| v))
    }

    /// One optional non-negative integer parameter.
    pub fn take_u64(&mut self, names: &[&str]) -> Result<Option<u64>, ApiError> {
        match self.take_one(names)? {
            None => Ok(None),
            Some(v) => parse_u64(names[0], v.trim()).map(Some),
        }
    }

    /// `ids[]=1&ids[]=3` (also `ids=1,3`): `None` when absent, else the set asked for.
    pub fn take_ids(&mut self) -> Result<Option<Vec<u64>>, ApiError> {
        let taken = self.take_all(&["ids[]", "ids"]);
        if taken.is_empty() {
            return Ok(None);
        }
        let mut ids = Vec::new();
        for (_, v) in taken {
            for item in v.split(',') {
                let item = item.trim();
                if item.is_empty() {
                    continue;
                }
                ids.push(parse_u64("ids[]", item)?);
            }
        }
        Ok(Some(ids))
    }

    /// `$select` (also `select`, as k6's own example spells it).
    pub fn take_select(&mut self, known: &[impl AsRef<str>]) -> Result<Select, ApiError> {
        match self.take_one(&["$select", "select"])? {
            None => Ok(Select::all()),
            Some(v) => Select::parse(&v, known),
        }
    }

    /// Fails if any parameter was not consumed, naming it and the accepted ones.
    pub fn finish(self, accepted: &[&str]) -> Result<(), ApiError> {
        if self.pairs.is_empty() {
            return Ok(());
        }
        let mut unknown: Vec<String> = self
            .pairs
            .iter()
            .map(|(k, _)| echo(k).into_owned())
            .collect();
        unknown.dedup();
        let accepted = if accepted.is_empty() {
            "none".to_string()
        } else {
            accepted.join(", ")
        };
        Err(ApiError::bad_request(
            INVALID_QUERY,
            format!(
                "unknown query parameter(s): {}; this endpoint accepts: {accepted}",
                echo(&unknown.join(", "))
            ),
        ))
    }
}

fn parse_u64(name: &str, v: &str) -> Result<u64, ApiError> {
    v.parse::<u64>().map_err(|_| {
        ApiError::bad_request(
            INVALID_QUERY,
            format!(
                "query parameter `{name}` must be a non-negative integer, got `{}`",
                echo(v)
            ),
        )
    })
}

/// A `$select` field list: `None` means every field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Select(Option<Vec<String>>);

impl Select {
    pub fn all() -> Select {
        Select(None)
    }

    /// Parses `id,test_id,run_status`; every name must be in `known`.
    pub fn parse(v: &str, known: &[impl AsRef<str>]) -> Result<Select, ApiError> {
        let known: Vec<&str> = known.iter().map(AsRef::as_ref).collect();
        let mut fields: Vec<String> = Vec::new();
        let mut unknown: Vec<&str> = Vec::new();
        for f in v.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            if !known.contains(&f) {
                if !unknown.contains(&f) {
                    unknown.push(f);
                }
            } else if !fields.iter().any(|x| x == f) {
                fields.push(f.to_string());
            }
        }
        if !unknown.is_empty() {
            return Err(ApiError::bad_request(
                "unknown_select_field",
                format!(
                    "unknown field(s) in $select: {}; known fields: {}",
                    echo(&unknown.join(", ")),
                    known.join(", ")
                ),
            ));
        }
        if fields.is_empty() {
            return Err(ApiError::bad_request(
                INVALID_QUERY,
                "$select is empty: name at least one field, e.g. $select=id,run_status, or leave it out for every field",
            ));
        }
        Ok(Select(Some(fields)))
    }

    /// Whether `field` is kept.
    pub fn wants(&self, field: &str) -> bool {
        self.0.as_ref().is_none_or(|f| f.iter().any(|x| x == field))
    }

    /// Keeps only the selected keys, in the object's own order.
    pub fn apply(&self, obj: Map<String, Value>) -> Map<String, Value> {
        match &self.0 {
            None => obj,
            Some(fields) => obj
                .into_iter()
                .filter(|(k, _)| fields.iter().any(|f| f == k))
                .collect(),
        }
    }

    /// A 200 answer with `envelope` (`{"k6-run": {..}}` or `{"k6-runs": [..], "meta": ..}`)
    /// whose resource objects keep only the selected fields; `meta` is left whole.
    pub fn answer(&self, envelope: &impl Serialize) -> Response {
        let Ok(Value::Object(top)) = serde_json::to_value(envelope) else {
            return ok(envelope);
        };
        let filtered: Map<String, Value> = top
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    _ if k == "meta" => v,
                    Value::Object(o) => Value::Object(self.apply(o)),
                    Value::Array(items) => Value::Array(
                        items
                            .into_iter()
                            .map(|i| match i {
                                Value::Object(o) => Value::Object(self.apply(o)),
                                other => other,
                            })
                            .collect(),
                    ),
                    other => other,
                };
                (k, v)
            })
            .collect();
        ok(&filtered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repeated_and_encoded_keys() {
        let mut q = Query::parse(Some("ids%5B%5D=1&ids[]=3&note=a+b%21&flag")).unwrap();
        assert_eq!(q.take_ids().unwrap(), Some(vec![1, 3]));
        assert_eq!(q.take_one(&["note"]).unwrap().as_deref(), Some("a b!"));
        assert_eq!(q.take_one(&["flag"]).unwrap().as_deref(), Some(""));
        q.finish(&[]).unwrap();
    }

    #[test]
    fn bad_percent_escape_is_400() {
        for raw in ["a=%zz", "a=%4", "a%=1", "a=%ff"] {
            let e = Query::parse(Some(raw)).unwrap_err();
            assert_eq!(e.status.as_u16(), 400, "{raw}");
            assert_eq!(e.code, "invalid_query");
        }
    }

    #[test]
    fn empty_query_is_fine() {
        for raw in [None, Some(""), Some("&&")] {
            let q = Query::parse(raw).unwrap();
            q.finish(&["x"]).unwrap();
        }
    }

    #[test]
    fn conflicting_repeats_are_rejected_but_equal_ones_accepted() {
        let mut q = Query::parse(Some("test_id=1&$test_id=1")).unwrap();
        assert_eq!(q.take_u64(&["test_id", "$test_id"]).unwrap(), Some(1));
        let mut q = Query::parse(Some("test_id=1&test_id=2")).unwrap();
        let e = q.take_u64(&["test_id"]).unwrap_err();
        assert!(e.message.contains("twice"), "{}", e.message);
    }

    #[test]
    fn integers_are_validated() {
        for bad in ["abc", "-1", "1.5", "", "99999999999999999999999"] {
            let mut q = Query::parse(Some(&format!("test_id={bad}"))).unwrap();
            let e = q.take_u64(&["test_id"]).unwrap_err();
            assert!(e.message.contains("test_id"), "{}", e.message);
        }
        let mut q = Query::parse(Some("ids[]=1,x")).unwrap();
        let e = q.take_ids().unwrap_err();
        assert!(e.message.contains("`x`"), "{}", e.message);
    }

    #[test]
    fn ids_comma_list_and_empty_items() {
        let mut q = Query::parse(Some("ids=4,5,&ids[]=6")).unwrap();
        assert_eq!(q.take_ids().unwrap(), Some(vec![4, 5, 6]));
        let mut q = Query::parse(Some("ids[]=")).unwrap();
        assert_eq!(q.take_ids().unwrap(), Some(vec![]));
    }

    #[test]
    fn unknown_parameters_are_named() {
        let mut q = Query::parse(Some("$selct=id&test_id=1&zz=2")).unwrap();
        q.take_u64(&["test_id"]).unwrap();
        let e = q.finish(&["test_id", "$select"]).unwrap_err();
        assert!(e.message.contains("$selct"), "{}", e.message);
        assert!(e.message.contains("zz"), "{}", e.message);
        assert!(
            e.message.contains("accepts: test_id, $select"),
            "{}",
            e.message
        );
    }

    const KNOWN: &[&str] = &["id", "name", "status"];

    #[test]
    fn select_keeps_object_order_and_dedups() {
        let s = Select::parse(" status, id ,id,", KNOWN).unwrap();
        let obj = serde_json::json!({"id": 1, "name": "n", "status": 3});
        let Value::Object(m) = obj else { panic!() };
        let out = s.apply(m);
        assert_eq!(
            Value::Object(out).to_string(),
            r#"{"id":1,"status":3}"#.to_string()
        );
    }

    #[test]
    fn select_names_unknown_fields() {
        let e = Select::parse("id,bogus,nope,bogus", KNOWN).unwrap_err();
        assert_eq!(e.code, "unknown_select_field");
        assert!(
            e.message
                .starts_with("unknown field(s) in $select: bogus, nope;"),
            "{}",
            e.message
        );
        assert!(e.message.contains("known fields: id, name, status"));
    }

    #[test]
    fn empty_select_is_rejected() {
        for v in ["", " , "] {
            let e = Select::parse(v, KNOWN).unwrap_err();
            assert!(e.message.contains("$select is empty"), "{}", e.message);
        }
    }

    #[test]
    fn select_alias_and_default() {
        let mut q = Query::parse(Some("select=id")).unwrap();
        assert_eq!(
            q.take_select(&["id"]).unwrap(),
            Select(Some(vec!["id".into()]))
        );
        let mut q = Query::parse(None).unwrap();
        assert_eq!(q.take_select(&["id"]).unwrap(), Select::all());
    }
}
