//! k6's `hosts` option (validated with the options, applied by the agent's HTTP client): names (or `*.suffix` patterns, optionally with `:port`) answered with
//! a fixed address instead of DNS, as `/etc/hosts` would, for every connection HTTP and the
//! WebSocket clients dial. The Host header and TLS server name stay the URL's name; the target
//! checks still run on the mapped address
//! ([docs/k6-compatibility.md](../../docs/k6-compatibility.md#hosts)).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use crate::target::HostPattern;

/// One `hosts` entry: which names (and port) it answers, and with what.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    pattern: HostPattern,
    /// The key's `:port`: the entry answers only requests to that port.
    port: Option<u16>,
    ip: IpAddr,
    /// The value's `:port`: connections go there instead of the URL's port.
    to_port: Option<u16>,
}

/// The run's `hosts` mapping. Empty (the default): every name goes to DNS.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostsMap {
    entries: Vec<Entry>,
}

impl HostsMap {
    /// Parses `options.hosts`; an error names the entry and says what to write instead.
    pub fn new(hosts: &BTreeMap<String, String>) -> Result<HostsMap, String> {
        let entries = hosts
            .iter()
            .map(|(k, v)| parse_entry(k, v))
            .collect::<Result<_, _>>()?;
        Ok(HostsMap { entries })
    }

    /// The address to dial for `host:port` if an entry answers it: an entry with the request's
    /// port beats one without, an exact name beats a pattern, a longer pattern a shorter one.
    pub fn lookup(&self, host: &str, port: u16) -> Option<SocketAddr> {
        self.entries
            .iter()
            .filter(|e| e.port.is_none_or(|p| p == port) && e.pattern.matches(host))
            .max_by_key(|e| {
                let text = e.pattern.to_string();
                (!text.starts_with('*'), text.len(), e.port.is_some())
            })
            .map(|e| SocketAddr::new(e.ip, e.to_port.unwrap_or(port)))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn parse_entry(key: &str, value: &str) -> Result<Entry, String> {
    let (name, port) = match key.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => {
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| {
                    format!(
                        "options.hosts: the key '{key}' has an invalid port '{port}': write \
                     'name', '*.name' or 'name:port' with a port from 1 to 65535"
                    )
                })?;
            (name, Some(port))
        }
        _ => (key, None),
    };
    let pattern = HostPattern::parse(name).map_err(|_| {
        format!(
            "options.hosts: invalid host pattern '{key}': write 'name', '*.name' or \
             'name:port' (a '*' only as the first label)"
        )
    })?;
    let value = value.trim();
    let (ip, to_port) = if let Ok(ip) = value.parse::<IpAddr>() {
        (ip, None)
    } else if let Ok(addr) = value.parse::<SocketAddr>() {
        if addr.port() == 0 {
            return Err(bad_value(key, value));
        }
        (addr.ip(), Some(addr.port()))
    } else if let Some(ip) = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .and_then(|v| v.parse::<IpAddr>().ok())
    {
        (ip, None)
    } else {
        return Err(bad_value(key, value));
    };
    Ok(Entry {
        pattern,
        port,
        ip,
        to_port,
    })
}

fn bad_value(key: &str, value: &str) -> String {
    format!(
        "options.hosts['{key}']: '{value}' is not an IP address: write an address such as \
         '127.0.0.1', '::1', '127.0.0.1:8080' or '[::1]:8080' (host names are not resolved)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> Result<HostsMap, String> {
        HostsMap::new(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn at(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn exact_names_any_case_keep_the_url_port_unless_the_value_has_one() {
        let m = map(&[("A.Test", "127.0.0.1"), ("b.test", "127.0.0.2:8080")]).unwrap();
        assert_eq!(m.lookup("a.test", 443), at("127.0.0.1:443"));
        assert_eq!(m.lookup("A.TEST", 80), at("127.0.0.1:80"));
        assert_eq!(m.lookup("b.test", 80), at("127.0.0.2:8080"));
        assert_eq!(m.lookup("c.test", 80), None);
        assert_eq!(m.lookup("x.a.test", 80), None);
    }

    #[test]
    fn wildcards_match_subdomains_only_and_yield_to_exact_names() {
        let m = map(&[("*.a.test", "10.0.0.1"), ("x.a.test", "10.0.0.2")]).unwrap();
        assert_eq!(m.lookup("y.a.test", 80), at("10.0.0.1:80"));
        assert_eq!(m.lookup("z.y.a.test", 80), at("10.0.0.1:80"));
        assert_eq!(m.lookup("x.a.test", 80), at("10.0.0.2:80"));
        assert_eq!(m.lookup("a.test", 80), None);
    }

    #[test]
    fn a_key_port_restricts_the_entry_to_that_port_and_wins_over_none() {
        let m = map(&[("a.test:80", "127.0.0.1:9000"), ("a.test", "10.0.0.9")]).unwrap();
        assert_eq!(m.lookup("a.test", 80), at("127.0.0.1:9000"));
        assert_eq!(m.lookup("a.test", 81), at("10.0.0.9:81"));
        let only = map(&[("a.test:80", "127.0.0.1")]).unwrap();
        assert_eq!(only.lookup("a.test", 8080), None);
    }

    #[test]
    fn ipv6_values_with_and_without_port() {
        let m = map(&[
            ("a.test", "::1"),
            ("b.test", "[::1]:8080"),
            ("c.test", "[::1]"),
        ])
        .unwrap();
        assert_eq!(m.lookup("a.test", 80), at("[::1]:80"));
        assert_eq!(m.lookup("b.test", 80), at("[::1]:8080"));
        assert_eq!(m.lookup("c.test", 80), at("[::1]:80"));
    }

    #[test]
    fn bad_entries_name_the_key_and_the_fix() {
        let e = map(&[("a.*.test", "127.0.0.1")]).unwrap_err();
        assert!(e.contains("invalid host pattern 'a.*.test'"), "{e}");
        let e = map(&[("a.test", "localhost")]).unwrap_err();
        assert!(
            e.contains("options.hosts['a.test']") && e.contains("'127.0.0.1'"),
            "{e}"
        );
        for v in ["", "999.1.1.1", "127.0.0.1:99999", "127.0.0.1:0"] {
            assert!(map(&[("a.test", v)]).is_err(), "{v:?}");
        }
        let e = map(&[("a.test:http", "127.0.0.1")]).unwrap_err();
        assert!(e.contains("invalid port 'http'"), "{e}");
        assert!(map(&[]).unwrap().is_empty());
    }
}
