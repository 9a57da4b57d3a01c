//! The `dns` option (`{ttl, select, policy}`): its three parts merge separately across layers,
//! as in k6, and read from the script's object, `K6_DNS=ttl=5m,select=random` or both.

use std::time::Duration;

use serde_json::{Map, Value};

use super::formats::{split_list, EnvFormat, Format};
use super::json::type_err;
use super::OptionsError;
use crate::duration::{format_duration, parse_duration};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsTtl {
    Infinite,
    For(Duration),
}

/// Which address k6 picks when a name resolves to several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsSelect {
    First,
    Random,
    RoundRobin,
}

/// Which IP families k6 resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsPolicy {
    PreferIpv4,
    PreferIpv6,
    OnlyIpv4,
    OnlyIpv6,
    Any,
}

/// The `dns` option; each part merges separately across layers, as in k6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DnsOptions {
    pub ttl: Option<DnsTtl>,
    pub select: Option<DnsSelect>,
    pub policy: Option<DnsPolicy>,
}

/// The `dns` option with k6's defaults (`ttl: 5m`, `select: random`, `policy: preferIPv4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedDns {
    pub ttl: DnsTtl,
    pub select: DnsSelect,
    pub policy: DnsPolicy,
}

impl DnsTtl {
    fn parse(text: &str) -> Result<Self, String> {
        if text == "inf" {
            return Ok(DnsTtl::Infinite);
        }
        parse_duration(text)
            .map(DnsTtl::For)
            .map_err(|e| e.to_string())
    }

    fn to_text(self) -> String {
        match self {
            DnsTtl::Infinite => "inf".to_string(),
            DnsTtl::For(d) => format_duration(d),
        }
    }
}

impl DnsSelect {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "first" => Some(DnsSelect::First),
            "random" => Some(DnsSelect::Random),
            "roundRobin" => Some(DnsSelect::RoundRobin),
            _ => None,
        }
    }

    /// k6's spelling of the value.
    pub fn as_str(self) -> &'static str {
        match self {
            DnsSelect::First => "first",
            DnsSelect::Random => "random",
            DnsSelect::RoundRobin => "roundRobin",
        }
    }
}

impl DnsPolicy {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "preferIPv4" => Some(DnsPolicy::PreferIpv4),
            "preferIPv6" => Some(DnsPolicy::PreferIpv6),
            "onlyIPv4" => Some(DnsPolicy::OnlyIpv4),
            "onlyIPv6" => Some(DnsPolicy::OnlyIpv6),
            "any" => Some(DnsPolicy::Any),
            _ => None,
        }
    }

    /// k6's spelling of the value.
    pub fn as_str(self) -> &'static str {
        match self {
            DnsPolicy::PreferIpv4 => "preferIPv4",
            DnsPolicy::PreferIpv6 => "preferIPv6",
            DnsPolicy::OnlyIpv4 => "onlyIPv4",
            DnsPolicy::OnlyIpv6 => "onlyIPv6",
            DnsPolicy::Any => "any",
        }
    }
}

impl DnsOptions {
    /// Sets one `key=value` part; `source` names where it came from for error messages.
    fn set(&mut self, key: &str, value: &str, source: &str) -> Result<(), OptionsError> {
        match key {
            "ttl" => {
                self.ttl = Some(DnsTtl::parse(value).map_err(|e| {
                    OptionsError::new(format!(
                        "{source}.ttl must be \"inf\", \"0\" or a duration like \"5m\" ({e})"
                    ))
                })?)
            }
            "select" => {
                self.select = Some(DnsSelect::parse(value).ok_or_else(|| {
                    OptionsError::new(format!(
                        "{source}.select must be one of first, random, roundRobin, got \"{value}\""
                    ))
                })?)
            }
            "policy" => {
                self.policy = Some(DnsPolicy::parse(value).ok_or_else(|| {
                    OptionsError::new(format!(
                        "{source}.policy must be one of preferIPv4, preferIPv6, onlyIPv4, onlyIPv6, any, got \"{value}\""
                    ))
                })?)
            }
            other => {
                return Err(OptionsError::new(format!(
                    "{source} has an unknown field \"{other}\"; valid fields are ttl, select and policy"
                )))
            }
        }
        Ok(())
    }

    pub(super) fn from_json(v: &Value, path: &str) -> Result<Option<Self>, OptionsError> {
        let obj = match v {
            Value::Null => return Ok(None),
            Value::Object(obj) => obj,
            _ => return Err(type_err(path, "an object like {ttl, select, policy}", v)),
        };
        let mut dns = DnsOptions::default();
        for (key, value) in obj {
            let text = match value {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                // A bare number of milliseconds, as for other durations.
                Value::Number(n) if key == "ttl" => n.to_string(),
                other => return Err(type_err(&format!("{path}.{key}"), "a string", other)),
            };
            dns.set(key, &text, path)?;
        }
        Ok(Some(dns))
    }

    pub(super) fn to_json(self) -> Value {
        let mut m = Map::new();
        if let Some(t) = self.ttl {
            m.insert("ttl".into(), Value::from(t.to_text()));
        }
        if let Some(s) = self.select {
            m.insert("select".into(), Value::from(s.as_str()));
        }
        if let Some(p) = self.policy {
            m.insert("policy".into(), Value::from(p.as_str()));
        }
        Value::Object(m)
    }

    /// `K6_DNS`: `ttl=5m,select=random,policy=preferIPv4`, any subset.
    pub(super) fn from_env(text: &str) -> Result<DnsOptions, OptionsError> {
        let mut dns = DnsOptions::default();
        for part in split_list(text) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                OptionsError::new(format!(
                    "K6_DNS must look like \"ttl=5m,select=random,policy=preferIPv4\", got \"{part}\""
                ))
            })?;
            dns.set(k.trim(), v.trim(), "K6_DNS")?;
        }
        Ok(dns)
    }

    /// A higher layer's parts win, part by part.
    pub(super) fn merge(&mut self, higher: &DnsOptions) {
        self.ttl = higher.ttl.or(self.ttl);
        self.select = higher.select.or(self.select);
        self.policy = higher.policy.or(self.policy);
    }

    /// k6's defaults for the parts no layer set: `ttl: 5m`, `select: random`,
    /// `policy: preferIPv4`.
    pub(super) fn resolve(dns: &Option<DnsOptions>, _problems: &mut Vec<String>) -> ResolvedDns {
        let dns = dns.unwrap_or_default();
        ResolvedDns {
            ttl: dns.ttl.unwrap_or(DnsTtl::For(Duration::from_secs(300))),
            select: dns.select.unwrap_or(DnsSelect::Random),
            policy: dns.policy.unwrap_or(DnsPolicy::PreferIpv4),
        }
    }
}

/// `dns`: `{ttl, select, policy}`, each part merged separately across layers.
pub struct Dns;

impl Format for Dns {
    type Value = DnsOptions;
    fn read_json(v: &Value, path: &str) -> Result<Option<DnsOptions>, OptionsError> {
        DnsOptions::from_json(v, path)
    }
    fn write_json(v: &DnsOptions) -> Value {
        v.to_json()
    }
    fn merge(low: &mut Option<DnsOptions>, high: &Option<DnsOptions>) {
        if let Some(h) = high {
            low.get_or_insert_with(DnsOptions::default).merge(h);
        }
    }
}

impl EnvFormat for Dns {
    fn parse_env(text: &str, _var: &str) -> Result<DnsOptions, OptionsError> {
        DnsOptions::from_env(text)
    }
}
