//! The target policy: where the requests of a run on an agent may go.
//!
//! An operator sets it on the controller (`--deny-target`, `--allow-target`); the controller adds
//! its own REST and gRPC endpoints and sends it to agents with every run, and each agent adds the
//! link-local and cloud-metadata ranges and enforces it in its HTTP client on the address it is
//! about to dial, after DNS resolution, so a name that resolves somewhere else than it claims
//! (DNS rebinding) gains nothing. A rule is a CIDR, an address or a host name pattern, each with
//! an optional port; deny rules always win, and an allow-list, when given, is exclusive.
//! See docs/agent-sandbox.md.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;

/// A host name pattern as k6's `blockHostnames` takes it: `api.example.com` (exactly that name),
/// `*.example.com` (every name below example.com, not example.com itself) or `*` (every name).
/// Names compare case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern(String);

impl HostPattern {
    /// Parses a pattern; the error is k6's wording (`invalid hostname pattern 'a.*.com'`).
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        let lower = text.trim().to_ascii_lowercase();
        let name = lower.strip_prefix("*.").unwrap_or(&lower);
        let valid = lower == "*"
            || (!name.is_empty()
                && name.split('.').all(|label| {
                    !label.is_empty()
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                }));
        if valid {
            Ok(HostPattern(lower))
        } else {
            Err(format!("invalid hostname pattern '{text}'"))
        }
    }

    /// Whether `host` (a URL's host name) matches.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() {
            return false;
        }
        match self.0.strip_prefix('*') {
            Some("") => true,
            Some(suffix) => host.ends_with(suffix),
            None => host == self.0,
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The address an IP really reaches, for matching: an IPv4-mapped IPv6 address is its IPv4
/// address, and the unspecified address (`0.0.0.0`, `::`), which a connect on Linux turns into
/// a loopback connection, is loopback.
pub fn effective_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// What a rule matches: addresses or host names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleHost {
    /// A CIDR; a single address is a /32 or /128.
    Net(IpNet),
    /// A host name pattern, matched against the URL's host.
    Name(HostPattern),
}

/// One `--deny-target` / `--allow-target` rule: a CIDR, an address or a host name pattern, with
/// an optional port (`10.0.0.0/8`, `10.1.2.3:6565`, `[fd00::1]:443`, `*.internal:8080`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRule {
    pub host: RuleHost,
    pub port: Option<u16>,
    /// The rule as written (for messages).
    pub text: String,
}

/// A rule that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "target rule {text:?} is invalid: {reason}; write a CIDR (10.0.0.0/8), an address \
     (10.1.2.3), or a host name (api.example.com, *.example.com), each optionally with :port \
     (IPv6 in brackets: [fd00::1]:443)"
)]
pub struct TargetRuleError {
    pub text: String,
    pub reason: String,
}

impl FromStr for TargetRule {
    type Err = TargetRuleError;

    fn from_str(text: &str) -> Result<TargetRule, TargetRuleError> {
        let err = |reason: &str| TargetRuleError {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let s = text.trim();
        if s.is_empty() {
            return Err(err("it is empty"));
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (inner, after) = rest
                .split_once(']')
                .ok_or_else(|| err("a '[' without its ']'"))?;
            match after {
                "" => (inner, None),
                p => (
                    inner,
                    Some(
                        p.strip_prefix(':')
                            .ok_or_else(|| err("only :port may follow ']'"))?,
                    ),
                ),
            }
        } else if s.matches(':').count() >= 2 {
            (s, None)
        } else {
            match s.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            }
        };
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => Some(n),
                _ => return Err(err(&format!("port {p:?} is not a number from 1 to 65535"))),
            },
        };
        let host = if let Ok(net) = host.parse::<IpNet>() {
            RuleHost::Net(net)
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            RuleHost::Net(IpNet::from(ip))
        } else if host.contains('/') || host.contains(':') {
            return Err(err(&format!("{host:?} is not a valid CIDR or address")));
        } else {
            RuleHost::Name(HostPattern::parse(host).map_err(|e| err(&e))?)
        };
        Ok(TargetRule {
            host,
            port,
            text: s.to_string(),
        })
    }
}

impl TargetRule {
    /// Whether the rule covers a connection to `ip:port` made for the URL host `host`; `ip`
    /// is `None` before DNS resolution (then only host name rules can match).
    pub fn matches(&self, host: &str, ip: Option<IpAddr>, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match &self.host {
            RuleHost::Net(net) => ip.is_some_and(|ip| net.contains(&effective_ip(ip))),
            RuleHost::Name(p) => p.matches(host),
        }
    }
}

/// A rule and why it is in the policy (`--deny-target`, "the controller's REST API", ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRule {
    pub rule: TargetRule,
    pub why: String,
}

impl PolicyRule {
    pub fn new(text: &str, why: &str) -> Result<PolicyRule, TargetRuleError> {
        Ok(PolicyRule {
            rule: text.parse()?,
            why: why.to_string(),
        })
    }
}

/// Why the policy always refuses link-local addresses.
pub const LINK_LOCAL_WHY: &str = "link-local and cloud metadata addresses, refused on every agent";

/// The denies every agent applies whatever the controller sends: link-local ranges, where cloud
/// metadata services (instance credentials) live, and AWS's IPv6 metadata address.
pub fn builtin_denies() -> Vec<PolicyRule> {
    ["169.254.0.0/16", "fe80::/10", "fd00:ec2::254"]
        .iter()
        .map(|t| PolicyRule::new(t, LINK_LOCAL_WHY).expect("built-in rules parse"))
        .collect()
}

/// Where a run's requests may go. Empty: anywhere (a local `volley run`, as in k6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    pub deny: Vec<PolicyRule>,
    /// When not empty, a target must match one of these (and none of `deny`).
    pub allow: Vec<PolicyRule>,
}

/// A refused target, naming the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{target} is refused by the agent's target policy: it matches {rule:?} ({why})")]
    Denied {
        target: String,
        rule: String,
        why: String,
    },
    #[error(
        "{target} is refused by the agent's target policy: it matches none of the allowed \
         targets ({allowed}), and an allow-list is exclusive"
    )]
    NotAllowed { target: String, allowed: String },
}

impl TargetPolicy {
    pub fn is_empty(&self) -> bool {
        self.deny.is_empty() && self.allow.is_empty()
    }

    /// Before DNS: refuses a host name that a deny rule names.
    pub fn check_name(&self, host: &str, port: u16) -> Result<(), Refusal> {
        match self.deny.iter().find(|r| r.rule.matches(host, None, port)) {
            Some(r) => Err(Refusal::Denied {
                target: format!("{host}:{port}"),
                rule: r.rule.text.clone(),
                why: r.why.clone(),
            }),
            None => Ok(()),
        }
    }

    /// After DNS: checks the address about to be dialed for the URL host `host`.
    pub fn check_addr(&self, host: &str, addr: SocketAddr) -> Result<(), Refusal> {
        let target = if host.trim_matches(['[', ']']) == addr.ip().to_string() {
            addr.to_string()
        } else {
            format!("{host} ({addr})")
        };
        let (ip, port) = (Some(addr.ip()), addr.port());
        if let Some(r) = self.deny.iter().find(|r| r.rule.matches(host, ip, port)) {
            return Err(Refusal::Denied {
                target,
                rule: r.rule.text.clone(),
                why: r.why.clone(),
            });
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|r| r.rule.matches(host, ip, port)) {
            let allowed: Vec<&str> = self.allow.iter().map(|r| r.rule.text.as_str()).collect();
            return Err(Refusal::NotAllowed {
                target,
                allowed: allowed.join(", "),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> TargetRule {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn rules_parse_cidrs_addresses_names_and_ports() {
        assert_eq!(rule("10.0.0.0/8").port, None);
        assert_eq!(rule("10.1.2.3:6565").port, Some(6565));
        assert_eq!(rule("[fd00::1]:443").port, Some(443));
        assert_eq!(rule("[fd00::/8]").port, None);
        assert_eq!(rule("fd00::1").port, None);
        assert_eq!(rule("*.Example.com:8080").port, Some(8080));
        assert!(matches!(rule("api.internal").host, RuleHost::Name(_)));
        assert!(matches!(rule("10.1.2.3").host, RuleHost::Net(n) if n.prefix_len() == 32));
        for bad in [
            "",
            "10.0.0.0/33",
            "a.*.com",
            "host:0",
            "host:99999",
            "[::1",
            "[::1]x",
            "10.0.0.1/x",
        ] {
            let e = bad.parse::<TargetRule>().unwrap_err();
            assert!(e.to_string().contains("write a CIDR"), "{bad}: {e}");
        }
    }

    #[test]
    fn host_patterns_follow_k6() {
        let p = HostPattern::parse("*.example.com").unwrap();
        assert!(p.matches("a.b.EXAMPLE.com"));
        assert!(!p.matches("example.com"));
        assert!(HostPattern::parse("Upper.TEST")
            .unwrap()
            .matches("upper.test."));
        assert!(HostPattern::parse("*").unwrap().matches("anything"));
        assert_eq!(
            HostPattern::parse("x*.test").unwrap_err(),
            "invalid hostname pattern 'x*.test'"
        );
    }

    #[test]
    fn mapped_and_unspecified_addresses_match_what_they_reach() {
        let r = rule("127.0.0.1:6565");
        assert!(r.matches("x", Some("0.0.0.0".parse().unwrap()), 6565));
        assert!(r.matches("x", Some("::ffff:127.0.0.1".parse().unwrap()), 6565));
        assert!(!r.matches("x", Some("127.0.0.1".parse().unwrap()), 6566));
        assert!(rule("::1").matches("x", Some("::".parse().unwrap()), 1));
    }

    #[test]
    fn deny_wins_and_an_allow_list_is_exclusive() {
        let mut p = TargetPolicy {
            deny: builtin_denies(),
            allow: Vec::new(),
        };
        p.deny
            .push(PolicyRule::new("127.0.0.1:6565", "the controller's REST API").unwrap());
        p.deny
            .push(PolicyRule::new("*.corp", "--deny-target").unwrap());
        let e = p
            .check_addr("169.254.169.254", addr("169.254.169.254:80"))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "169.254.169.254:80 is refused by the agent's target policy: it matches \
             \"169.254.0.0/16\" (link-local and cloud metadata addresses, refused on every agent)"
        );
        let e = p
            .check_addr("[fd00:ec2::254]", addr("[fd00:ec2::254]:80"))
            .unwrap_err();
        assert!(e.to_string().contains("\"fd00:ec2::254\""), "{e}");
        let e = p
            .check_addr("localhost", addr("127.0.0.1:6565"))
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("localhost (127.0.0.1:6565) is refused")
                && e.to_string().contains("the controller's REST API"),
            "{e}"
        );
        assert!(p.check_addr("localhost", addr("127.0.0.1:8080")).is_ok());
        assert!(p.check_addr("10.0.0.1", addr("10.0.0.1:80")).is_ok());
        assert!(p.check_name("db.corp", 5432).is_err());
        assert!(p.check_name("db.example", 5432).is_ok());

        p.allow
            .push(PolicyRule::new("10.0.0.0/8", "--allow-target").unwrap());
        p.allow
            .push(PolicyRule::new("api.test:443", "--allow-target").unwrap());
        assert!(p.check_addr("10.0.0.1", addr("10.0.0.1:80")).is_ok());
        assert!(p.check_addr("api.test", addr("192.0.2.1:443")).is_ok());
        let e = p.check_addr("api.test", addr("192.0.2.1:80")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "api.test (192.0.2.1:80) is refused by the agent's target policy: it matches none of \
             the allowed targets (10.0.0.0/8, api.test:443), and an allow-list is exclusive"
        );
        // Deny still wins inside the allow-list.
        p.deny
            .push(PolicyRule::new("10.9.0.0/16", "--deny-target").unwrap());
        assert!(p.check_addr("10.9.1.1", addr("10.9.1.1:80")).is_err());
    }
}
