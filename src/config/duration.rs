//! Human-friendly durations: `"90s"`, `"5m"`, `"1h30m"`, `"500ms"`, `"2d"`.

use std::time::Duration;

const MALFORMED: &str = r#"expected a number followed by ms, s, m, h or d (e.g. "90s", "5m")"#;
const TOO_LARGE: &str = "too large";

/// Parse one or more `<digits><unit>` parts, units `ms`, `s`, `m`, `h`, `d`,
/// and add them up: `"1h30m"` is 90 minutes. No spaces, signs or fractions.
///
/// The error says what is wrong, without repeating the input: callers put it
/// in context (`invalid duration "5 minutes" for backoff: {error}`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err(MALFORMED.to_owned());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(MALFORMED.to_owned());
        }
        let amount: u64 = rest[..digits].parse().map_err(|_| TOO_LARGE.to_owned())?;
        rest = &rest[digits..];
        let (part, unit_len) = if rest.starts_with("ms") {
            (Some(Duration::from_millis(amount)), 2)
        } else {
            let seconds_per_unit = match rest.as_bytes().first() {
                Some(b's') => 1,
                Some(b'm') => 60,
                Some(b'h') => 3_600,
                Some(b'd') => 86_400,
                _ => return Err(MALFORMED.to_owned()),
            };
            (
                amount
                    .checked_mul(seconds_per_unit)
                    .map(Duration::from_secs),
                1,
            )
        };
        rest = &rest[unit_len..];
        total = part
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| TOO_LARGE.to_owned())?;
    }
    Ok(total)
}

/// The compact form [`parse_duration`] reads: `"1h30m"`, `"1m30s"`, `"500ms"`,
/// `"0s"`. Precision below a millisecond is dropped.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    const UNITS: [(&str, u128); 5] = [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut out = String::new();
    let mut rest = millis;
    for (unit, size) in UNITS {
        let count = rest / size;
        if count > 0 {
            out.push_str(&count.to_string());
            out.push_str(unit);
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn parses_single_units() {
        assert_eq!(parse_duration("90s"), Ok(secs(90)));
        assert_eq!(parse_duration("5m"), Ok(secs(300)));
        assert_eq!(parse_duration("1h"), Ok(secs(3_600)));
        assert_eq!(parse_duration("2d"), Ok(secs(172_800)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("007s"), Ok(secs(7)));
    }

    #[test]
    fn parses_compound_durations() {
        assert_eq!(parse_duration("1h30m"), Ok(secs(5_400)));
        assert_eq!(
            parse_duration("1d2h3m4s5ms"),
            Ok(Duration::from_millis(93_784_005))
        );
        assert_eq!(parse_duration("1m1ms"), Ok(Duration::from_millis(60_001)));
        // Parts simply add up, in any order.
        assert_eq!(parse_duration("30m1h"), Ok(secs(5_400)));
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "5",
            "s",
            "5 m",
            " 5m",
            "5m ",
            "5 minutes",
            "5min",
            "1.5h",
            "-5s",
            "+5s",
            "5M",
            "1h30",
            "5sec",
            "ms",
            "5µs",
            "1e3s",
        ] {
            assert_eq!(parse_duration(bad), Err(MALFORMED.to_owned()), "{bad:?}");
        }
    }

    #[test]
    fn rejects_overflow() {
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err(TOO_LARGE.to_owned())
        );
        assert_eq!(
            parse_duration("999999999999999999d"),
            Err(TOO_LARGE.to_owned())
        );
        let max = format!("{}s", u64::MAX);
        assert_eq!(parse_duration(&max), Ok(secs(u64::MAX)));
        assert_eq!(
            parse_duration(&format!("{max}1s")),
            Err(TOO_LARGE.to_owned())
        );
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format_duration(secs(5_400)), "1h30m");
        assert_eq!(format_duration(secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_millis(1_500)), "1s500ms");
        assert_eq!(format_duration(secs(86_400)), "1d");
        assert_eq!(format_duration(secs(90_061)), "1d1h1m1s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_nanos(999_999)), "0s");
        assert_eq!(format_duration(Duration::from_nanos(1_999_999)), "1ms");
    }

    #[test]
    fn format_then_parse_round_trips() {
        for millis in [
            0,
            1,
            999,
            1_000,
            59_999,
            60_000,
            3_599_999,
            86_400_000,
            123_456_789,
        ] {
            let d = Duration::from_millis(millis);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{millis}ms");
        }
    }
}
