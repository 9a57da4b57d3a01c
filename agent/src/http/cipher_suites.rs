//! k6's `tlsCipherSuites`: the suite names k6 takes, which of them Volley (rustls) can offer, and
//! the names k6 reports in `res.tls_cipher_suite` (docs/k6-compatibility.md#tls).
//!
//! k6 takes Go's names and restricts only TLS 1.2 with them (Go ignores the option for TLS 1.3).
//! rustls speaks TLS 1.2 only with ECDHE and AES-GCM or ChaCha20-Poly1305, so the RSA key
//! exchange, CBC, 3DES and RC4 suites are accepted, as k6 accepts them, but cannot be offered;
//! the run warns about them once.

use rustls::crypto::ring::cipher_suite as ring;
use rustls::SupportedCipherSuite;

/// Every suite name k6 v1.1.0 accepts (measured: others are `unknown cipher suite`), with its
/// IANA code point and the rustls suite when rustls speaks it. The ChaCha20 names are Go's old
/// ones, without `_SHA256`; k6 reports them so too.
static KNOWN: &[(&str, u16, Option<SupportedCipherSuite>)] = &[
    ("TLS_RSA_WITH_RC4_128_SHA", 0x0005, None),
    ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", 0x000a, None),
    ("TLS_RSA_WITH_AES_128_CBC_SHA", 0x002f, None),
    ("TLS_RSA_WITH_AES_256_CBC_SHA", 0x0035, None),
    ("TLS_RSA_WITH_AES_128_CBC_SHA256", 0x003c, None),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009c, None),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", 0x009d, None),
    ("TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", 0xc007, None),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xc009, None),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", 0xc00a, None),
    ("TLS_ECDHE_RSA_WITH_RC4_128_SHA", 0xc011, None),
    ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", 0xc012, None),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xc013, None),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", 0xc014, None),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", 0xc023, None),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", 0xc027, None),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xc02b,
        Some(ring::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        0xc02f,
        Some(ring::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xc02c,
        Some(ring::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        0xc030,
        Some(ring::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        0xcca9,
        Some(ring::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        0xcca8,
        Some(ring::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
    ),
    (
        "TLS_AES_128_GCM_SHA256",
        0x1301,
        Some(ring::TLS13_AES_128_GCM_SHA256),
    ),
    (
        "TLS_AES_256_GCM_SHA384",
        0x1302,
        Some(ring::TLS13_AES_256_GCM_SHA384),
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        0x1303,
        Some(ring::TLS13_CHACHA20_POLY1305_SHA256),
    ),
];

/// The suites rustls speaks, in the order Go's client prefers them on machines with AES
/// hardware (AES-128 first), so that servers that follow the client's order pick what they pick
/// for k6.
static PREFERENCE: &[SupportedCipherSuite] = &[
    ring::TLS13_AES_128_GCM_SHA256,
    ring::TLS13_AES_256_GCM_SHA384,
    ring::TLS13_CHACHA20_POLY1305_SHA256,
    ring::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ring::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ring::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ring::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ring::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ring::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// The run's TLS 1.2 suites (k6's `tlsCipherSuites`). The default offers every suite rustls
/// speaks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CipherSuites {
    /// The TLS 1.2 suites chosen that rustls speaks; `None` when the option is unset or empty
    /// (no restriction, as in k6).
    tls12: Option<Vec<SupportedCipherSuite>>,
    /// The TLS 1.2 suites chosen that rustls cannot speak, by name.
    unspeakable: Vec<String>,
}

impl CipherSuites {
    /// k6's `tlsCipherSuites`: Go's suite names (exactly as k6 spells them), or their numbers
    /// (`49195`, `0xc02b`: what k6 reads from `K6_TLS_CIPHER_SUITES`). `Err` is k6's wording,
    /// naming the option and the bad name.
    pub fn from_option(names: &[String]) -> Result<Self, String> {
        if names.is_empty() {
            return Ok(Self::default());
        }
        let mut tls12 = Vec::new();
        let mut unspeakable = Vec::new();
        for name in names {
            let known = KNOWN.iter().find(|(n, _, _)| n == name).or_else(|| {
                let id = number(name)?;
                KNOWN.iter().find(|(_, i, _)| u64::from(*i) == id)
            });
            match known {
                // Go ignores the option for TLS 1.3, and so does Volley.
                Some((_, id, _)) if (0x1301..=0x1303).contains(id) => {}
                Some((_, _, Some(suite))) => tls12.push(*suite),
                Some((n, _, None)) => unspeakable.push((*n).to_owned()),
                // A number Go does not know offers nothing, as in k6.
                None if number(name).is_some() => unspeakable.push(name.clone()),
                None => {
                    return Err(format!(
                        "tlsCipherSuites: unknown cipher suite '{name}'; use Go's names as k6 \
                         does, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
                    ))
                }
            }
        }
        Ok(Self {
            tls12: Some(tls12),
            unspeakable,
        })
    }

    /// The suites a client config offers: every TLS 1.3 suite, and the chosen TLS 1.2 ones.
    pub(crate) fn offered(&self) -> Vec<SupportedCipherSuite> {
        PREFERENCE
            .iter()
            .filter(|s| match (s, &self.tls12) {
                (SupportedCipherSuite::Tls12(_), Some(chosen)) => {
                    chosen.iter().any(|c| c.suite() == s.suite())
                }
                _ => true,
            })
            .copied()
            .collect()
    }

    /// Whether no TLS 1.2 suite is left to offer (every chosen one is TLS 1.3 or one Volley
    /// cannot speak): TLS 1.2 servers then refuse the handshake, as they refuse k6's.
    pub fn no_tls12_suite(&self) -> bool {
        self.tls12.as_ref().is_some_and(Vec::is_empty)
    }

    /// The warning for chosen suites Volley cannot offer (k6 offers them; rustls does not speak
    /// them), naming them; `None` when every chosen suite can be offered.
    pub fn warning(&self) -> Option<String> {
        if self.unspeakable.is_empty() {
            return None;
        }
        let then = if self.no_tls12_suite() {
            "no chosen suite is left for TLS 1.2, so TLS 1.2 handshakes fail \
             (remote error: tls: handshake failure)"
        } else {
            "the others are offered"
        };
        Some(format!(
            "tlsCipherSuites: Volley cannot offer {} (it speaks TLS 1.2 only with ECDHE and \
             AES-GCM or ChaCha20-Poly1305); {then}",
            self.unspeakable.join(", ")
        ))
    }
}

/// A suite number as Go's `strconv.ParseUint(s, 0, 16)` reads it (decimal or `0x` hex).
fn number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None if s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        None => None,
    }
    .filter(|n| *n <= u64::from(u16::MAX))
}

/// k6's `tls_cipher_suite` value for a negotiated suite.
pub(crate) fn k6_name(suite: rustls::CipherSuite) -> &'static str {
    let id = u16::from(suite);
    KNOWN
        .iter()
        .find(|(_, i, _)| *i == id)
        .map(|(n, _, _)| *n)
        .or_else(|| suite.as_str())
        .unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn unknown_names_are_refused_in_k6s_words() {
        for bad in [
            "NOPE",
            "tls_ecdhe_ecdsa_with_aes_128_gcm_sha256",
            " TLS_AES_128_GCM_SHA256",
            "",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_FALLBACK_SCSV",
        ] {
            let err = CipherSuites::from_option(&names(&[bad])).unwrap_err();
            assert!(
                err.starts_with(&format!(
                    "tlsCipherSuites: unknown cipher suite '{bad}'; use Go's names"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn every_name_k6_takes_is_accepted() {
        let all: Vec<String> = KNOWN.iter().map(|(n, _, _)| n.to_string()).collect();
        assert_eq!(all.len(), 25);
        let s = CipherSuites::from_option(&all).expect("all known");
        assert_eq!(s.offered().len(), PREFERENCE.len());
        assert_eq!(s.unspeakable.len(), 16);
        assert!(s
            .warning()
            .expect("a warning")
            .ends_with("the others are offered"));
    }

    #[test]
    fn chosen_suites_restrict_tls12_only() {
        let s = CipherSuites::from_option(&names(&["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]))
            .expect("known");
        let offered: Vec<_> = s.offered().iter().map(|s| s.suite()).collect();
        assert_eq!(
            offered,
            [
                rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
                rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
                rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
                rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            ]
        );
        assert_eq!(s.warning(), None);
        assert!(!s.no_tls12_suite());
        // Unset or empty: every suite, as in k6.
        assert_eq!(CipherSuites::from_option(&[]).unwrap().offered().len(), 9);
        assert_eq!(CipherSuites::default().offered().len(), 9);
    }

    #[test]
    fn tls13_names_or_unspeakable_ones_leave_no_tls12_suite() {
        let only13 = CipherSuites::from_option(&names(&["TLS_AES_128_GCM_SHA256"])).unwrap();
        assert!(only13.no_tls12_suite());
        assert_eq!(only13.offered().len(), 3);
        assert_eq!(only13.warning(), None);
        let cbc = CipherSuites::from_option(&names(&[
            "TLS_RSA_WITH_AES_128_CBC_SHA",
            "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
        ]))
        .unwrap();
        assert!(cbc.no_tls12_suite());
        let warning = cbc.warning().expect("a warning");
        assert!(
            warning.starts_with(
                "tlsCipherSuites: Volley cannot offer TLS_RSA_WITH_AES_128_CBC_SHA, \
                 TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA ("
            ),
            "{warning}"
        );
        assert!(warning.contains("TLS 1.2 handshakes fail"), "{warning}");
    }

    #[test]
    fn numbers_name_suites_as_k6s_environment_variable_does() {
        let s = CipherSuites::from_option(&names(&["49195", "0xcca8", "1234"])).unwrap();
        let offered: Vec<_> = s.offered().iter().skip(3).map(|s| s.suite()).collect();
        assert_eq!(
            offered,
            [
                rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                rustls::CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            ]
        );
        assert_eq!(s.unspeakable, ["1234"]);
        assert!(CipherSuites::from_option(&names(&["99999"])).is_err());
    }

    #[test]
    fn negotiated_suites_get_k6s_names() {
        assert_eq!(
            k6_name(rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"
        );
        assert_eq!(
            k6_name(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256),
            "TLS_AES_128_GCM_SHA256"
        );
        assert_eq!(
            k6_name(rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
        );
    }
}
