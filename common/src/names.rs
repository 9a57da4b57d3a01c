//! What an agent may call itself and label itself with. Names and labels travel from agents to
//! every operator's terminal (`volley agents`, run events, error details), so they are
//! restricted to characters that cannot move a cursor, start an escape sequence or fake a line:
//! the characters of host names and Kubernetes labels.

/// Longest agent name (a Kubernetes pod name is at most 63; host name + pid fits too).
pub const MAX_NAME_LEN: usize = 128;
/// Longest label key.
pub const MAX_LABEL_LEN: usize = 63;
/// Longest label value (a DNS name, e.g. a Kubernetes node name, fits).
pub const MAX_LABEL_VALUE_LEN: usize = 253;
/// Most labels on one agent.
pub const MAX_LABELS: usize = 32;

/// Why a name or label is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "invalid agent name {shown}: use 1 to {MAX_NAME_LEN} letters, digits, '.', '_' or '-' \
         (--name)"
    )]
    Name { shown: String },
    #[error(
        "invalid label key {shown}: use 1 to {MAX_LABEL_LEN} letters, digits, '.', '_', '-' or '/' \
         (--label KEY=VALUE)"
    )]
    LabelKey { shown: String },
    #[error(
        "invalid value {shown} of label {key:?}: use up to {MAX_LABEL_VALUE_LEN} letters, digits, \
         '.', '_', '-', '/' or ':' (--label KEY=VALUE)"
    )]
    LabelValue { key: String, shown: String },
    #[error("too many labels ({count}): at most {MAX_LABELS} (--label)")]
    TooManyLabels { count: usize },
}

/// A bounded, escaped rendering of untrusted text for an error message: at most 40 characters,
/// control characters shown as escapes.
fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect::<String>();
    if s.chars().count() > 40 {
        out.push('…');
    }
    format!("{out:?}")
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Checks an agent name.
pub fn check_agent_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(is_name_char) {
        return Err(NameError::Name { shown: shown(name) });
    }
    Ok(())
}

/// Checks an agent's labels.
pub fn check_labels<'a>(
    labels: impl ExactSizeIterator<Item = (&'a String, &'a String)>,
) -> Result<(), NameError> {
    if labels.len() > MAX_LABELS {
        return Err(NameError::TooManyLabels {
            count: labels.len(),
        });
    }
    for (k, v) in labels {
        if k.is_empty()
            || k.len() > MAX_LABEL_LEN
            || !k.chars().all(|c| is_name_char(c) || c == '/')
        {
            return Err(NameError::LabelKey { shown: shown(k) });
        }
        if v.len() > MAX_LABEL_VALUE_LEN
            || !v.chars().all(|c| is_name_char(c) || matches!(c, '/' | ':'))
        {
            return Err(NameError::LabelValue {
                key: k.clone(),
                shown: shown(v),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn host_like_names_pass_and_terminal_tricks_do_not() {
        for ok in [
            "gen-1",
            "load.gen_2",
            "ip-10-0-0-1.eu-west-1.compute.internal-4242",
        ] {
            assert_eq!(check_agent_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "gen\n2026-12-04 fake line",
            "\u{1b}[2Jcleared",
            "\u{1b}]8;;http://x\u{7}link",
            "ünïcode",
            &"x".repeat(129),
        ] {
            let e = check_agent_name(bad).unwrap_err().to_string();
            assert!(!e.contains('\n') && !e.contains('\u{1b}'), "{e}");
            assert!(e.len() < 200, "the error is bounded: {e}");
        }
    }

    #[test]
    fn labels_are_bounded_and_plain() {
        let ok: BTreeMap<String, String> = [("zone", "eu-west-1"), ("k8s.io/node", "n1:a")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(check_labels(ok.iter()), Ok(()));
        let bad_value: BTreeMap<String, String> =
            [("zone".to_string(), "eu\u{1b}[31m".to_string())].into();
        assert!(matches!(
            check_labels(bad_value.iter()),
            Err(NameError::LabelValue { .. })
        ));
        let bad_key: BTreeMap<String, String> = [("zo=ne".to_string(), "eu".to_string())].into();
        assert!(matches!(
            check_labels(bad_key.iter()),
            Err(NameError::LabelKey { .. })
        ));
        let many: BTreeMap<String, String> = (0..33)
            .map(|i| (format!("k{i}"), "v".to_string()))
            .collect();
        assert_eq!(
            check_labels(many.iter()),
            Err(NameError::TooManyLabels { count: 33 })
        );
    }
}
