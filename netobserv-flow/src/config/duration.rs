//! Durations written as Go's `time.ParseDuration` reads them (`25s`, `1m30s`, `500ms`, `1.5h`),
//! the form every duration of an upstream flowlogs-pipeline config takes.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration in Go's notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(pub Duration);

impl GoDuration {
    /// Parses Go's notation: one or more decimal numbers, each with a unit among `ns`, `us`
    /// (`µs`), `ms`, `s`, `m`, `h`; `0` alone needs no unit. Negative durations are refused.
    pub fn parse(text: &str) -> Result<GoDuration, String> {
        let s = text.trim();
        let bad =
            |why: &str| format!("invalid duration {text:?}: {why} (write it as 25s, 1m30s, 500ms)");
        let s = s.strip_prefix('+').unwrap_or(s);
        if s.starts_with('-') {
            return Err(bad("negative"));
        }
        if s == "0" {
            return Ok(GoDuration(Duration::ZERO));
        }
        if s.is_empty() {
            return Err(bad("empty"));
        }
        let mut rest = s;
        let mut nanos: f64 = 0.0;
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let (num, tail) = rest.split_at(num_len);
            if num.is_empty() || num == "." {
                return Err(bad("expected a number"));
            }
            let value: f64 = num.parse().map_err(|_| bad("bad number"))?;
            let unit_len = tail
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(tail.len());
            let (unit, tail) = tail.split_at(unit_len);
            let scale = match unit {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                "" => return Err(bad("missing unit")),
                _ => return Err(bad(&format!("unknown unit {unit:?}"))),
            };
            nanos += value * scale;
            rest = tail;
        }
        if !nanos.is_finite() || nanos > u64::MAX as f64 {
            return Err(bad("too large"));
        }
        Ok(GoDuration(Duration::from_nanos(nanos.round() as u64)))
    }
}

impl fmt::Display for GoDuration {
    /// Go's `Duration.String` for whole milliseconds and above (`1m30s`, `250ms`, `0s`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return f.write_str("0s");
        }
        if d < Duration::from_secs(1) {
            let ns = d.as_nanos();
            return if ns.is_multiple_of(1_000_000) {
                write!(f, "{}ms", ns / 1_000_000)
            } else if ns.is_multiple_of(1000) {
                write!(f, "{}us", ns / 1000)
            } else {
                write!(f, "{ns}ns")
            };
        }
        let total = d.as_secs();
        let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
        let frac = d.subsec_nanos();
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if h > 0 || m > 0 {
            write!(f, "{m}m")?;
        }
        if frac == 0 {
            write!(f, "{s}s")
        } else {
            let digits = format!("{frac:09}");
            write!(f, "{s}.{}s", digits.trim_end_matches('0'))
        }
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        GoDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_notation() {
        let ms = |n| GoDuration(Duration::from_millis(n));
        assert_eq!(GoDuration::parse("25s"), Ok(ms(25_000)));
        assert_eq!(GoDuration::parse("1m30s"), Ok(ms(90_000)));
        assert_eq!(GoDuration::parse("500ms"), Ok(ms(500)));
        assert_eq!(GoDuration::parse("1.5h"), Ok(ms(5_400_000)));
        assert_eq!(GoDuration::parse("2h45m0.5s"), Ok(ms(9_900_500)));
        assert_eq!(
            GoDuration::parse("10us"),
            Ok(GoDuration(Duration::from_micros(10)))
        );
        assert_eq!(GoDuration::parse("0"), Ok(ms(0)));
        for bad in ["", "25", "-1s", "1x", "s", "1.2.3s", "ms5"] {
            assert!(GoDuration::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn displays_as_go_does() {
        for s in ["25s", "1m30s", "500ms", "1h0m0s", "1.5s", "0s", "2h45m0.5s"] {
            assert_eq!(GoDuration::parse(s).unwrap().to_string(), s);
        }
    }
}
