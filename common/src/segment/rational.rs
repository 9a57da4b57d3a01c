//! Exact non-negative rationals for segment bounds: a float rounding difference between two
//! agents would make them disagree on who owns a VU or an iteration.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use super::SegmentError;

pub(super) fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// An exact, non-negative rational number, always stored in lowest terms (so derived equality
/// and hashing are value equality). Segments only live in `[0, 1]`, so no sign is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rational {
    num: u64,
    den: u64,
}

impl Rational {
    pub const ZERO: Rational = Rational { num: 0, den: 1 };
    pub const ONE: Rational = Rational { num: 1, den: 1 };

    /// `num/den` in lowest terms; `None` when `den` is 0.
    pub fn new(num: u64, den: u64) -> Option<Self> {
        Self::from_u128(u128::from(num), u128::from(den))
    }

    /// Normalises a wide intermediate result; `None` if `den` is 0 or the reduced value does not
    /// fit in 64 bits.
    pub(super) fn from_u128(num: u128, den: u128) -> Option<Self> {
        if den == 0 {
            return None;
        }
        let g = gcd(num, den);
        let (num, den) = if num == 0 { (0, 1) } else { (num / g, den / g) };
        Some(Rational {
            num: u64::try_from(num).ok()?,
            den: u64::try_from(den).ok()?,
        })
    }

    pub fn numer(&self) -> u64 {
        self.num
    }

    pub fn denom(&self) -> u64 {
        self.den
    }

    pub fn is_zero(&self) -> bool {
        self.num == 0
    }

    /// Lossy conversion, only for presentation and rates (never for ownership decisions).
    pub fn to_f64(&self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// `self + other`, `None` on 64-bit overflow of the reduced result.
    pub fn checked_add(&self, other: &Rational) -> Option<Rational> {
        let (a, b) = (u128::from(self.num), u128::from(self.den));
        let (c, d) = (u128::from(other.num), u128::from(other.den));
        Self::from_u128(a * d + c * b, b * d)
    }

    /// `self - other`, `None` if negative or on overflow.
    pub fn checked_sub(&self, other: &Rational) -> Option<Rational> {
        let (a, b) = (u128::from(self.num), u128::from(self.den));
        let (c, d) = (u128::from(other.num), u128::from(other.den));
        Self::from_u128((a * d).checked_sub(c * b)?, b * d)
    }

    /// `self * other`, `None` on overflow of the reduced result.
    pub fn checked_mul(&self, other: &Rational) -> Option<Rational> {
        Self::from_u128(
            u128::from(self.num) * u128::from(other.num),
            u128::from(self.den) * u128::from(other.den),
        )
    }
}

impl Ord for Rational {
    fn cmp(&self, other: &Self) -> Ordering {
        (u128::from(self.num) * u128::from(other.den))
            .cmp(&(u128::from(other.num) * u128::from(self.den)))
    }
}

impl PartialOrd for Rational {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

/// Parses `1/3`, `0.5`, `.5`, `2` or a percentage of either (`50%`, `33.3%`, `100/3%`).
/// The error is a reason phrase; callers wrap it with the flag it came from.
pub(super) fn parse_rational(input: &str) -> Result<Rational, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("the value is empty".into());
    }
    if s.starts_with('-') {
        return Err("the value must not be negative".into());
    }
    if let Some(inner) = s.strip_suffix('%') {
        let value = parse_unsigned(inner.trim_end())?;
        return Rational::from_u128(u128::from(value.num), u128::from(value.den) * 100)
            .ok_or_else(|| "the percentage is too precise".to_string());
    }
    parse_unsigned(s)
}

fn parse_unsigned(s: &str) -> Result<Rational, String> {
    let not_a_number = || format!("{s:?} is not a fraction, decimal or percentage");
    if let Some((n, d)) = s.split_once('/') {
        let digits = |part: &str| -> Result<u64, String> {
            let part = part.trim();
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(not_a_number());
            }
            part.parse::<u64>()
                .map_err(|_| format!("{part:?} is too large"))
        };
        let (n, d) = (digits(n)?, digits(d)?);
        if d == 0 {
            return Err("the denominator must not be 0".into());
        }
        return Rational::new(n, d).ok_or_else(not_a_number);
    }
    let (int_part, frac_part) = s.split_once('.').unwrap_or((s, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return Err(not_a_number());
    }
    let too_precise = || format!("{s:?} has too many digits");
    let mut num: u128 = 0;
    let mut den: u128 = 1;
    for b in int_part.bytes().chain(frac_part.bytes()) {
        num = num
            .checked_mul(10)
            .and_then(|n| n.checked_add(u128::from(b - b'0')))
            .ok_or_else(too_precise)?;
    }
    for _ in 0..frac_part.len() {
        den = den.checked_mul(10).ok_or_else(too_precise)?;
    }
    Rational::from_u128(num, den).ok_or_else(too_precise)
}

impl FromStr for Rational {
    type Err = SegmentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_rational(s).map_err(|reason| SegmentError::InvalidNumber {
            input: s.to_string(),
            reason,
        })
    }
}
