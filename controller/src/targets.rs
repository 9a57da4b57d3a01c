//! The target policy the controller sends with every run: the operator's `--deny-target` and
//! `--allow-target` rules, and its own REST and gRPC endpoints, so a script cannot use the
//! agents to reach the controller's API (SSRF). Agents add the link-local and cloud-metadata
//! denies and the controller's ports on the address they reach it at; see
//! volley_common::target and docs/agent-sandbox.md.

use std::net::SocketAddr;

use volley_common::target::{PolicyRule, TargetPolicy};

/// Parses the operator's rules; the error names the flag and the rule.
pub fn operator_policy(deny: &[String], allow: &[String]) -> Result<TargetPolicy, String> {
    let parse = |flag: &str, texts: &[String]| {
        texts
            .iter()
            .map(|t| PolicyRule::new(t, flag).map_err(|e| format!("invalid {flag}: {e}")))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(TargetPolicy {
        deny: parse("--deny-target", deny)?,
        allow: parse("--allow-target", allow)?,
    })
}

/// Adds the controller's own endpoints to `policy`'s denies: the address and port of each; an
/// endpoint on every interface (`0.0.0.0`, `::`) is denied on loopback here, and agents deny
/// its port on the address they reach the controller at.
pub fn deny_own_endpoints(policy: &mut TargetPolicy, endpoints: &[(SocketAddr, &str)]) {
    for (addr, what) in endpoints {
        let texts = if addr.ip().is_unspecified() {
            vec![
                format!("127.0.0.0/8:{}", addr.port()),
                format!("[::1]:{}", addr.port()),
            ]
        } else {
            vec![addr.to_string()]
        };
        for text in texts {
            match PolicyRule::new(&text, what) {
                Ok(rule) => policy.deny.push(rule),
                // Addresses and ports always parse; nothing to deny if one ever does not.
                Err(e) => tracing::error!("cannot deny the controller's own {text}: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_rules_name_the_flag() {
        let e = operator_policy(&["10.0.0.0/99".into()], &[]).unwrap_err();
        assert!(
            e.starts_with("invalid --deny-target: target rule \"10.0.0.0/99\""),
            "{e}"
        );
        let p = operator_policy(&["*.corp".into()], &["10.0.0.0/8".into()]).unwrap();
        assert_eq!((p.deny.len(), p.allow.len()), (1, 1));
        assert_eq!(p.allow[0].why, "--allow-target");
    }

    #[test]
    fn own_endpoints_are_denied_with_their_port() {
        let mut p = TargetPolicy::default();
        deny_own_endpoints(
            &mut p,
            &[
                (
                    "127.0.0.1:6565".parse().unwrap(),
                    "the controller's REST API",
                ),
                (
                    "0.0.0.0:6566".parse().unwrap(),
                    "the controller's gRPC endpoint",
                ),
            ],
        );
        let e = p
            .check_addr("localhost", "127.0.0.1:6565".parse().unwrap())
            .unwrap_err();
        assert!(e.to_string().contains("the controller's REST API"), "{e}");
        assert!(p
            .check_addr("h", "127.0.0.2:6566".parse().unwrap())
            .is_err());
        assert!(p.check_addr("h", "[::1]:6566".parse().unwrap()).is_err());
        assert!(p.check_addr("h", "127.0.0.1:8080".parse().unwrap()).is_ok());
        assert!(p.check_addr("h", "10.0.0.1:6565".parse().unwrap()).is_ok());
    }
}
