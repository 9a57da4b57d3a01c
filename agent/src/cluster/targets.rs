//! The target policy of one run on an agent: what the controller sent with the run, the denies
//! every agent applies whatever it is sent (link-local and cloud metadata addresses), and the
//! controller's own ports on every address the agent reaches it at. The HTTP client enforces it
//! on each address it dials (`crate::http::targets`); see docs/agent-sandbox.md.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use volley_common::target::{builtin_denies, PolicyRule, TargetPolicy};
use volley_proto as pb;

/// Why the controller's address is denied.
const CONTROLLER_WHY: &str = "the controller, as this agent reaches it (--controller)";

/// The policy of a run: the built-in denies, the controller's rules and its ports on the
/// addresses `controller_url` (the agent's `--controller`, every controller of a group) resolves
/// to. A rule that does not
/// parse refuses the run rather than running it unguarded.
pub fn run_policy(
    controller_url: &str,
    wire: Option<&pb::TargetPolicy>,
) -> Result<TargetPolicy, String> {
    let mut policy = TargetPolicy {
        deny: builtin_denies(),
        allow: Vec::new(),
    };
    let Some(wire) = wire else {
        return Ok(policy);
    };
    let sent = TargetPolicy::try_from(wire)
        .map_err(|e| format!("the run's target policy is invalid: {e}"))?;
    policy.deny.extend(sent.deny);
    policy.allow = sent.allow;
    let ports: Vec<u16> = wire
        .controller_ports
        .iter()
        .filter_map(|p| u16::try_from(*p).ok().filter(|p| *p > 0))
        .collect();
    if !ports.is_empty() {
        let ips = super::dial::controller_urls(controller_url)
            .iter()
            .flat_map(|u| controller_ips(u))
            .collect::<Vec<_>>();
        for ip in ips {
            for port in &ports {
                let text = SocketAddr::new(ip, *port).to_string();
                let rule = PolicyRule::new(&text, CONTROLLER_WHY)
                    .map_err(|e| format!("the controller's address {text}: {e}"))?;
                if !policy.deny.contains(&rule) {
                    policy.deny.push(rule);
                }
            }
        }
    }
    Ok(policy)
}

/// The addresses the host of the agent's `--controller` URL resolves to (none when it does
/// not resolve now: the agent reached it moments ago, so that is a passing DNS failure, and the
/// controller's rules still name its listening addresses).
fn controller_ips(controller_url: &str) -> Vec<IpAddr> {
    let Ok(url) = url::Url::parse(controller_url) else {
        return Vec::new();
    };
    let Some(host) = url.host_str() else {
        return Vec::new();
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return vec![ip];
    }
    match (bare, 0).to_socket_addrs() {
        Ok(addrs) => {
            let mut ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            ips.sort();
            ips.dedup();
            ips
        }
        Err(e) => {
            tracing::warn!(
                "cannot resolve the controller's host {bare} for the target policy: {e}"
            );
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(deny: &[&str], allow: &[&str], ports: &[u32]) -> pb::TargetPolicy {
        let rules = |rs: &[&str], why: &str| {
            rs.iter()
                .map(|t| pb::TargetRule {
                    target: t.to_string(),
                    why: why.to_string(),
                })
                .collect()
        };
        pb::TargetPolicy {
            deny: rules(deny, "--deny-target"),
            allow: rules(allow, "--allow-target"),
            controller_ports: ports.to_vec(),
        }
    }

    #[test]
    fn builtin_denies_apply_without_a_policy() {
        let p = run_policy("http://127.0.0.1:6566", None).unwrap();
        assert!(p
            .check_addr("169.254.169.254", "169.254.169.254:80".parse().unwrap())
            .is_err());
        assert!(p
            .check_addr("127.0.0.1", "127.0.0.1:6566".parse().unwrap())
            .is_ok());
    }

    #[test]
    fn the_controller_ports_are_denied_where_the_agent_reaches_it() {
        let w = wire(&["10.0.0.0/8"], &[], &[6565, 6566]);
        let p = run_policy("http://[::1]:6566", Some(&w)).unwrap();
        for port in [6565, 6566] {
            let e = p
                .check_addr("::1", SocketAddr::new("::1".parse().unwrap(), port))
                .unwrap_err();
            assert!(e.to_string().contains(CONTROLLER_WHY), "{e}");
        }
        assert!(p.check_addr("::1", "[::1]:8080".parse().unwrap()).is_ok());
        assert!(p
            .check_addr("10.1.1.1", "10.1.1.1:80".parse().unwrap())
            .is_err());
    }

    #[test]
    fn a_policy_that_does_not_parse_refuses_the_run() {
        let w = wire(&["10.0.0.0/99"], &[], &[]);
        let e = run_policy("http://127.0.0.1:6566", Some(&w)).unwrap_err();
        assert!(e.contains("10.0.0.0/99"), "{e}");
    }
}
