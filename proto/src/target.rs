//! The target policy on the wire: rules travel as the text the operator wrote (and the reason
//! they are there), and the agent parses them again, refusing a run whose policy does not parse
//! rather than running it unguarded.

use volley_common::target::{PolicyRule, TargetPolicy, TargetRuleError};

use crate::v1;

impl From<&TargetPolicy> for v1::TargetPolicy {
    fn from(p: &TargetPolicy) -> v1::TargetPolicy {
        let rules = |rs: &[PolicyRule]| {
            rs.iter()
                .map(|r| v1::TargetRule {
                    target: r.rule.text.clone(),
                    why: r.why.clone(),
                })
                .collect()
        };
        v1::TargetPolicy {
            deny: rules(&p.deny),
            allow: rules(&p.allow),
            controller_ports: Vec::new(),
        }
    }
}

impl TryFrom<&v1::TargetPolicy> for TargetPolicy {
    type Error = TargetRuleError;

    fn try_from(p: &v1::TargetPolicy) -> Result<TargetPolicy, TargetRuleError> {
        let rules = |rs: &[v1::TargetRule]| {
            rs.iter()
                .map(|r| PolicyRule::new(&r.target, &r.why))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(TargetPolicy {
            deny: rules(&p.deny)?,
            allow: rules(&p.allow)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_round_trip_and_bad_rules_are_refused() {
        let p = TargetPolicy {
            deny: vec![PolicyRule::new("10.0.0.0/8:443", "--deny-target").unwrap()],
            allow: vec![PolicyRule::new("*.test", "--allow-target").unwrap()],
        };
        let wire = v1::TargetPolicy::from(&p);
        assert_eq!(TargetPolicy::try_from(&wire).unwrap(), p);
        let mut bad = wire;
        bad.deny[0].target = "10.0.0.0/99".into();
        assert!(TargetPolicy::try_from(&bad).is_err());
    }
}
