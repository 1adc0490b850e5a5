//! Pass/fail gates on a run (`--slo`).
//!
//! Grammar, gates separated by commas:
//!
//! ```text
//! GATE    = METRIC OP VALUE
//! METRIC  = pN | max | mean                        latency (open loop: corrected), VALUE with us|ms|s;
//!                                                   N any percentile above 0 and below 100 (p50, p99.99)
//!         | errors                                  VALUE a count, or a percentage of messages (0.1%)
//!         | rate                                    achieved / target rate (open loop), VALUE a ratio
//! OP      = < | <= | > | >= | =
//! ```

use crate::bench::report::Verdict;

use crate::bench::report::Report;

/// The grammar, for usage errors.
pub const GRAMMAR: &str = "gates are METRIC OP VALUE, comma-separated: METRIC pN (any percentile: p50, p99.99), \
     max or mean (latency, VALUE with us, ms or s), errors (VALUE a count, or a percentage of messages \
     from 0% to 100% like 0.1%), rate (achieved/target, needs --rate); OP <, <=, >, >= or =; \
     e.g. 'p99<2ms,errors=0,rate>=0.99'";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    /// A latency quantile (0.5, 0.99, ...), or 1.0 for the maximum.
    Quantile(f64),
    Mean,
    Errors,
    ErrorShare,
    Rate,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Equal,
}

/// One gate as written, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    text: String,
    metric: Metric,
    op: Op,
    /// In the metric's unit: microseconds, a count, a share or a ratio.
    limit: f64,
    /// How the gate wrote its value (`ms`, `%`, ...), and how many of the
    /// metric's units make one of it, to say the measured value alike.
    unit: (&'static str, f64),
}

/// Parses `--slo`; the error says which gate is wrong and the grammar.
pub fn parse(text: &str) -> Result<Vec<Gate>, String> {
    let gates: Vec<Gate> = text
        .split(',')
        .map(str::trim)
        .filter(|gate| !gate.is_empty())
        .map(|gate| parse_gate(gate).map_err(|why| format!("'{gate}' {why}; {GRAMMAR}")))
        .collect::<Result<_, _>>()?;
    if gates.is_empty() {
        return Err(format!("no gate given; {GRAMMAR}"));
    }
    Ok(gates)
}

impl Gate {
    /// True when the gate reads the open loop's target rate.
    pub fn needs_rate(&self) -> bool {
        self.metric == Metric::Rate
    }

    pub fn evaluate(&self, report: &Report) -> Verdict {
        let latency = report.latency.as_ref();
        let messages = report.messages.max(1) as f64;
        let value = match self.metric {
            Metric::Quantile(q) if q >= 1.0 => latency.map(|l| l.max_us),
            // Any percentile, from the run's histogram (the same one the
            // summary's percentiles come from).
            Metric::Quantile(q) => latency.and_then(|_| {
                let histogram = crate::bench::report::histograms::decode(&report.histograms.latency).ok()?;
                Some(histogram.value_at_quantile(q) as f64)
            }),
            Metric::Mean => latency.map(|l| l.mean_us),
            Metric::Errors => Some(report.errors.total() as f64),
            Metric::ErrorShare => Some(100.0 * report.errors.total() as f64 / messages),
            Metric::Rate => report
                .rate
                .filter(|rate| rate.target > 0.0)
                .map(|rate| rate.achieved / rate.target),
        };
        let pass = value.is_some_and(|value| match self.op {
            Op::Less => value < self.limit,
            Op::LessOrEqual => value <= self.limit,
            Op::Greater => value > self.limit,
            Op::GreaterOrEqual => value >= self.limit,
            Op::Equal => value == self.limit,
        });
        let (unit, scale) = self.unit;
        let measured = value.map(|value| {
            let space = if unit.is_empty() || unit == "%" { "" } else { " " };
            format!("{}{space}{unit}", trim_number(value / scale))
        });
        Verdict {
            gate: self.text.clone(),
            value,
            pass,
            measured,
        }
    }
}

fn parse_gate(text: &str) -> Result<Gate, String> {
    let at = text
        .find(['<', '>', '='])
        .ok_or("has no comparison (<, <=, >, >= or =)")?;
    let (metric, rest) = text.split_at(at);
    let (op, value) = match rest {
        _ if rest.starts_with("<=") => (Op::LessOrEqual, &rest[2..]),
        _ if rest.starts_with(">=") => (Op::GreaterOrEqual, &rest[2..]),
        _ if rest.starts_with('<') => (Op::Less, &rest[1..]),
        _ if rest.starts_with('>') => (Op::Greater, &rest[1..]),
        _ => (Op::Equal, &rest[1..]),
    };
    let (metric, value) = (metric.trim(), value.trim());
    let number = |text: &str| -> Result<f64, String> {
        text.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("has '{text}' where a number belongs"))
    };
    let (metric, limit, unit) = match metric {
        "max" | "mean" => {
            let (limit, unit) = latency(value)?;
            let metric = if metric == "max" {
                Metric::Quantile(1.0)
            } else {
                Metric::Mean
            };
            (metric, limit, unit)
        }
        "p999" => {
            let (limit, unit) = latency(value)?;
            (Metric::Quantile(0.999), limit, unit)
        }
        _ if metric.starts_with('p') => {
            let percentile = metric[1..]
                .parse::<f64>()
                .ok()
                .filter(|p| *p > 0.0 && *p <= 100.0)
                .ok_or_else(|| format!("has an unknown metric '{metric}' (a percentile is p0.1 to p100)"))?;
            let (limit, unit) = latency(value)?;
            (Metric::Quantile(percentile / 100.0), limit, unit)
        }
        "errors" => match value.strip_suffix('%') {
            Some(share) => {
                let share = number(share.trim())?;
                if share > 100.0 {
                    return Err(format!("has '{value}': a share of the messages is at most 100%"));
                }
                (Metric::ErrorShare, share, ("%", 1.0))
            }
            None => (Metric::Errors, number(value)?, ("", 1.0)),
        },
        "rate" => (Metric::Rate, number(value)?, ("", 1.0)),
        _ => return Err(format!("has an unknown metric '{metric}'")),
    };
    Ok(Gate {
        text: text.to_string(),
        metric,
        op,
        limit,
        unit,
    })
}

/// A latency limit with its unit: microseconds, and the unit as written.
fn latency(value: &str) -> Result<(f64, (&'static str, f64)), String> {
    let (amount, unit) = if let Some(v) = value.strip_suffix("us") {
        (v, ("us", 1.0))
    } else if let Some(v) = value.strip_suffix("ms") {
        (v, ("ms", 1e3))
    } else if let Some(v) = value.strip_suffix('s') {
        (v, ("s", 1e6))
    } else {
        return Err(format!("needs a unit on '{value}' (us, ms or s)"));
    };
    let amount = amount
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("has '{}' where a number belongs", amount.trim()))?;
    Ok((amount * unit.1, unit))
}

/// A measured value to three significant digits, no trailing zeros:
/// 0.873, 0.000112, 12, 1.5.
fn trim_number(value: f64) -> String {
    let magnitude = if value > 0.0 {
        value.log10().floor() as i32
    } else {
        0
    };
    let decimals = (2 - magnitude).clamp(0, 9) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_parse_with_units_and_operators() {
        let gates = parse("p99<2ms, p99.9<=10ms,errors=0,rate>=0.99,max<1s,mean<500us,errors<0.1%").unwrap();
        assert_eq!(gates.len(), 7);
        assert_eq!(gates[0].metric, Metric::Quantile(0.99));
        assert_eq!(gates[0].op, Op::Less);
        assert_eq!(gates[0].limit, 2000.0);
        assert_eq!(gates[1].op, Op::LessOrEqual);
        assert_eq!(gates[4].limit, 1e6);
        assert_eq!(gates[5].limit, 500.0);
        assert_eq!(gates[6].metric, Metric::ErrorShare);
        assert!(gates[3].needs_rate());
        let any = parse("p99.99<5ms,p42<1ms").unwrap();
        let quantile = |gate: &Gate| match gate.metric {
            Metric::Quantile(q) => q,
            other => panic!("{other:?}"),
        };
        assert!((quantile(&any[0]) - 0.9999).abs() < 1e-12);
        assert!((quantile(&any[1]) - 0.42).abs() < 1e-12);
    }

    #[test]
    fn a_verdict_says_the_measured_value_in_the_gates_unit() {
        assert_eq!(trim_number(0.873), "0.873");
        assert_eq!(trim_number(12.0), "12");
        assert_eq!(trim_number(1.5), "1.5");
        assert_eq!(trim_number(0.000112), "0.000112");
        assert_eq!(trim_number(1234.0), "1234");
        assert_eq!(trim_number(0.0), "0");
    }

    #[test]
    fn malformed_gates_name_themselves_and_the_grammar() {
        for bad in [
            "p99",
            "p99<2",
            "p142<1ms",
            "pxx<1ms",
            "errors=x",
            "errors<150%",
            "rate>=-1",
            "",
            "p99<<2ms",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("METRIC OP VALUE"), "{bad}: {err}");
        }
        assert!(parse("p99<2").unwrap_err().starts_with("'p99<2' needs a unit"));
    }
}
