//! Numbers as DynamoDB stores them, decided here once for every backend.
//!
//! DynamoDB keeps a number as a decimal of at most 38 significant digits
//! with a magnitude of zero or 1E-130 to 9.99…E+125, and returns it in one
//! canonical text whatever text was written: plain decimal notation (no
//! exponent), no leading zeros, no trailing fractional zeros and no
//! trailing point, and no sign on zero (`1.0`→`1`, `1.5E2`→`150`,
//! `-0`→`0`, `007.50`→`7.5`, `1E-3`→`0.001`). [`canonical`] gives that text,
//! and every number the core builds ([`crate::item::Attr::from_json`],
//! [`crate::item::Attr::float`]) or a backend reads is in it, so SQLite
//! answers with the digits DynamoDB would.
//!
//! [`check`] rejects what DynamoDB would refuse (more digits, out of
//! range, not decimal syntax) before anything is written, as
//! [`Error::InvalidInput`], on every backend; nothing is rounded.

use crate::error::{Error, Result};

/// The most significant digits a number may have (DynamoDB's precision).
pub const MAX_DIGITS: usize = 38;

/// The largest decimal exponent of a number's leading digit (DynamoDB
/// stores magnitudes below 1E+126).
pub const MAX_EXPONENT: i64 = 125;

/// The smallest decimal exponent of a non-zero number's leading digit
/// (DynamoDB stores magnitudes from 1E-130).
pub const MIN_EXPONENT: i64 = -130;

/// A number split into sign, significant digits and the position of the
/// decimal point relative to the first significant digit.
struct Parsed<'a> {
    negative: bool,
    /// Significant digits without leading or trailing zeros (empty: zero).
    digits: String,
    /// Decimal exponent of the first significant digit.
    magnitude: i64,
    text: &'a str,
}

fn parse(text: &str) -> std::result::Result<Parsed<'_>, String> {
    let bad = || "not a decimal number".to_string();
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_ok = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !digits_ok(int) || !digits_ok(frac) {
        return Err(bad());
    }
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => e
            .strip_prefix('+')
            .unwrap_or(e)
            .parse()
            .map_err(|_| bad())?,
    };
    let all: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    let Some(lead) = all.iter().position(|&b| b != b'0') else {
        return Ok(Parsed {
            negative,
            digits: String::new(),
            magnitude: 0,
            text,
        });
    };
    let last = all.iter().rposition(|&b| b != b'0').unwrap_or(lead);
    let magnitude = (int.len() as i64 - 1 - lead as i64).saturating_add(exponent);
    Ok(Parsed {
        negative,
        digits: String::from_utf8_lossy(&all[lead..=last]).into_owned(),
        magnitude,
        text,
    })
}

impl Parsed<'_> {
    fn check(&self) -> std::result::Result<(), String> {
        if self.digits.is_empty() {
            return Ok(());
        }
        let significant = self.digits.len();
        if significant > MAX_DIGITS {
            return Err(format!(
                "{significant} significant digits; at most {MAX_DIGITS} are stored exactly"
            ));
        }
        if !(MIN_EXPONENT..=MAX_EXPONENT).contains(&self.magnitude) {
            return Err(format!(
                "magnitude 1e{} is outside 1e{MIN_EXPONENT}..1e{}",
                self.magnitude,
                MAX_EXPONENT + 1
            ));
        }
        Ok(())
    }

    /// The canonical text; only for checked numbers (bounded length).
    fn render(&self) -> String {
        if self.digits.is_empty() {
            return "0".to_string();
        }
        let mut out = String::with_capacity(self.digits.len() + 140);
        if self.negative {
            out.push('-');
        }
        // Digits before the point: magnitude + 1.
        let before = self.magnitude + 1;
        let n = self.digits.len() as i64;
        if before <= 0 {
            out.push_str("0.");
            out.push_str(&"0".repeat((-before) as usize));
            out.push_str(&self.digits);
        } else if before >= n {
            out.push_str(&self.digits);
            out.push_str(&"0".repeat((before - n) as usize));
        } else {
            let (a, b) = self.digits.split_at(before as usize);
            out.push_str(a);
            out.push('.');
            out.push_str(b);
        }
        out
    }
}

/// Checks number text against what DynamoDB stores: decimal syntax, at
/// most [`MAX_DIGITS`] significant digits, and zero or a leading digit at
/// 10^[`MIN_EXPONENT`] to 10^[`MAX_EXPONENT`]. Never rounds: anything else
/// is [`Error::InvalidInput`] naming `field`.
pub fn check(field: &str, text: &str) -> Result<()> {
    parse(text)
        .and_then(|p| p.check())
        .map_err(|why| Error::invalid(field, format!("number {text}: {why}")))
}

/// The text DynamoDB returns for the number `text`, `None` when DynamoDB
/// would not store it ([`check`] says why).
pub fn canonical(text: &str) -> Option<String> {
    let p = parse(text).ok()?;
    p.check().ok()?;
    debug_assert!(!p.text.is_empty());
    Some(p.render())
}

/// [`canonical`], or `text` unchanged when it is not storable (so the
/// check before writing reports it with its own digits).
pub fn canonical_or_same(text: &str) -> String {
    canonical(text).unwrap_or_else(|| text.to_string())
}

/// Rewrites every number of `attr` (inside maps and lists too) in the form
/// [`canonical_or_same`] gives: what a store that keeps numbers as
/// written (SQLite, the in-memory driver) must hold so that it reads back
/// what DynamoDB would.
pub fn canonicalize(attr: &mut crate::item::Attr) {
    use crate::item::Attr;
    match attr {
        Attr::N(n) => {
            if let Some(c) = canonical(n) {
                *n = c;
            }
        }
        Attr::M(m) => m.values_mut().for_each(canonicalize),
        Attr::L(l) => l.iter_mut().for_each(canonicalize),
        _ => {}
    }
}

/// [`canonicalize`] on every attribute of `item`.
pub fn canonicalize_item(item: &mut crate::item::Item) {
    item.values_mut().for_each(canonicalize);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms_are_dynamodbs() {
        for (input, want) in [
            ("1.0", "1"),
            ("1.5E2", "150"),
            ("1.5e+2", "150"),
            ("-0", "0"),
            ("-0.000", "0"),
            ("0e5", "0"),
            ("00042", "42"),
            ("007.50", "7.5"),
            ("1E-3", "0.001"),
            ("-12.3400e-1", "-1.234"),
            (".5", "0.5"),
            ("5.", "5"),
            ("123", "123"),
            ("1e2", "100"),
            ("-1E-130", &format!("-0.{}1", "0".repeat(129))),
            ("1E125", &format!("1{}", "0".repeat(125))),
            (
                "12345678901234567890123456789012345678",
                "12345678901234567890123456789012345678",
            ),
        ] {
            assert_eq!(canonical(input).as_deref(), Some(want), "{input}");
        }
    }

    #[test]
    fn what_dynamodb_refuses_has_no_canonical_form() {
        for bad in [
            "123456789012345678901234567890123456789",
            "1E126",
            "1e-131",
            "1e999999999999",
            "abc",
            "",
            "1e",
        ] {
            assert_eq!(canonical(bad), None, "{bad}");
            assert!(
                matches!(check("n", bad), Err(Error::InvalidInput { .. })),
                "{bad}"
            );
        }
        assert_eq!(canonical_or_same("1e126"), "1e126");
    }
}
