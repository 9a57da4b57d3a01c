//! Which addresses a run's requests may reach: k6's `blockHostnames` (checked before DNS) and
//! `blacklistIPs` (checked on every resolved address), and on an agent the controller's target
//! policy (volley_common::target). Checked when a connection is dialed, on the addresses it
//! would dial, so redirects and DNS answers that change between requests are covered too.

use std::net::SocketAddr;

use ipnet::IpNet;
use volley_common::target::{effective_ip, HostPattern, TargetPolicy};

use super::error::{RequestError, BLACKLISTED_IP, BLOCKED_HOSTNAME};

/// The run's target checks. Empty (the default): every target is allowed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetFilter {
    blacklist: Vec<IpNet>,
    blocked: Vec<HostPattern>,
    policy: TargetPolicy,
}

impl TargetFilter {
    /// Builds the filter from k6's options and the agent's policy. Errors use k6's wording.
    pub fn new(
        blacklist_ips: &[String],
        block_hostnames: &[String],
        policy: TargetPolicy,
    ) -> Result<TargetFilter, String> {
        let blacklist = blacklist_ips
            .iter()
            .map(|c| {
                c.parse::<IpNet>()
                    .map_err(|_| format!("failed to parse CIDR '{c}': invalid CIDR address: {c}"))
            })
            .collect::<Result<_, _>>()?;
        let blocked = block_hostnames
            .iter()
            .map(|p| HostPattern::parse(p))
            .collect::<Result<_, _>>()?;
        Ok(TargetFilter {
            blacklist,
            blocked,
            policy,
        })
    }

    /// Before DNS: `blockHostnames` (on names only: as in k6, an address in the URL is not a
    /// host name, so `*` does not block `http://127.0.0.1/`), then the policy's host name denies.
    pub(crate) fn check_name(&self, host: &str, port: u16) -> Result<(), RequestError> {
        let is_name = host.parse::<std::net::IpAddr>().is_err();
        if let Some(p) = self.blocked.iter().find(|p| is_name && p.matches(host)) {
            return Err(RequestError::new(BLOCKED_HOSTNAME, "hostname is blocked")
                .with_detail(format!("hostname ({host}) is in a blocked pattern ({p})")));
        }
        self.policy
            .check_name(host, port)
            .map_err(|r| refused_by_policy(BLOCKED_HOSTNAME, r))
    }

    /// After DNS: `blacklistIPs`, then the policy, on one address about to be dialed.
    pub(crate) fn check_addr(&self, host: &str, addr: SocketAddr) -> Result<(), RequestError> {
        let ip = effective_ip(addr.ip());
        if let Some(net) = self.blacklist.iter().find(|n| n.contains(&ip)) {
            return Err(RequestError::new(BLACKLISTED_IP, "ip is blacklisted")
                .with_detail(format!("IP ({ip}) is in a blacklisted range ({net})")));
        }
        self.policy
            .check_addr(host, addr)
            .map_err(|r| refused_by_policy(BLACKLISTED_IP, r))
    }
}

/// The policy's refusals use k6's codes for the same situation (a blocked name, a blacklisted
/// address) but their own message, so nobody looks for a `blacklistIPs` they never set.
fn refused_by_policy(code: u32, r: volley_common::target::Refusal) -> RequestError {
    RequestError::new(code, "target refused by the agent's target policy")
        .with_detail(r.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_common::target::{builtin_denies, PolicyRule};

    #[test]
    fn k6_options_block_with_k6_codes_and_messages() {
        let f = TargetFilter::new(
            &["127.0.0.0/8".into(), "::1/128".into()],
            &["*.example.com".into()],
            TargetPolicy::default(),
        )
        .unwrap();
        let e = f
            .check_addr("localhost", "127.0.0.1:80".parse().unwrap())
            .unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (1110, "ip is blacklisted"));
        assert_eq!(
            e.detail.as_deref(),
            Some("IP (127.0.0.1) is in a blacklisted range (127.0.0.0/8)")
        );
        let e = f
            .check_addr("x", "[::ffff:127.0.0.2]:80".parse().unwrap())
            .unwrap_err();
        assert_eq!(
            e.detail.as_deref(),
            Some("IP (127.0.0.2) is in a blacklisted range (127.0.0.0/8)")
        );
        let e = f.check_name("a.example.com", 80).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (1111, "hostname is blocked"));
        assert_eq!(
            e.detail.as_deref(),
            Some("hostname (a.example.com) is in a blocked pattern (*.example.com)")
        );
        assert!(f.check_name("example.com", 80).is_ok());
        let every = TargetFilter::new(&[], &["*".into()], TargetPolicy::default()).unwrap();
        assert!(every.check_name("localhost", 80).is_err());
        assert!(every.check_name("127.0.0.1", 80).is_ok());
        assert!(every.check_name("::1", 80).is_ok());
        assert!(f.check_addr("h", "10.0.0.1:80".parse().unwrap()).is_ok());
    }

    #[test]
    fn invalid_options_are_refused_with_k6_wording() {
        let e = TargetFilter::new(&["nope".into()], &[], TargetPolicy::default()).unwrap_err();
        assert_eq!(e, "failed to parse CIDR 'nope': invalid CIDR address: nope");
        let e = TargetFilter::new(&[], &["a.*.com".into()], TargetPolicy::default()).unwrap_err();
        assert_eq!(e, "invalid hostname pattern 'a.*.com'");
    }

    #[test]
    fn the_policy_names_its_rule() {
        let mut policy = TargetPolicy {
            deny: builtin_denies(),
            allow: Vec::new(),
        };
        policy
            .deny
            .push(PolicyRule::new("*.corp", "--deny-target").unwrap());
        let f = TargetFilter::new(&[], &[], policy).unwrap();
        let e = f
            .check_addr("169.254.169.254", "169.254.169.254:80".parse().unwrap())
            .unwrap_err();
        assert_eq!(e.code, 1110);
        assert_eq!(e.message, "target refused by the agent's target policy");
        assert!(
            e.detail.as_deref().unwrap().contains("\"169.254.0.0/16\""),
            "{e:?}"
        );
        let e = f.check_name("db.corp", 5432).unwrap_err();
        assert_eq!(e.code, 1111);
        assert!(e.detail.as_deref().unwrap().contains("--deny-target"));
    }
}
