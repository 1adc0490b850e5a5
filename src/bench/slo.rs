//! Pass/fail gates on a run (`--slo`).
//!
//! Grammar, gates separated by commas:
//!
//! ```text
//! GATE    = METRIC OP VALUE
//! METRIC  = p50 | p90 | p99 | p99.9 | max | mean    latency (open loop: corrected), VALUE with us|ms|s
//!         | errors                                  VALUE a count, or a percentage of messages (0.1%)
//!         | rate                                    achieved / target rate (open loop), VALUE a ratio
//! OP      = < | <= | > | >= | =
//! ```

use serde::{Deserialize, Serialize};

use super::report::Report;

/// The grammar, for usage errors.
pub const GRAMMAR: &str = "gates are METRIC OP VALUE, comma-separated: METRIC p50|p90|p99|p99.9|max|mean \
     (latency, VALUE with us, ms or s), errors (VALUE a count, or a percentage like 0.1%), \
     rate (achieved/target, needs --rate); OP <, <=, >, >= or =; e.g. 'p99<2ms,errors=0,rate>=0.99'";

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
}

/// A gate with what the run measured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verdict {
    pub gate: String,
    /// The measured value, in the gate's unit (latency in microseconds,
    /// error share as a percentage); `null` when the run measured none.
    pub value: Option<f64>,
    pub pass: bool,
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
            Metric::Quantile(q) => latency.map(|l| match q {
                0.5 => l.p50_us,
                0.9 => l.p90_us,
                0.99 => l.p99_us,
                0.999 => l.p999_us,
                _ => l.max_us,
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
        Verdict {
            gate: self.text.clone(),
            value,
            pass,
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
    let (metric, limit) = match metric {
        "p50" | "p90" | "p99" | "p99.9" | "p999" | "max" | "mean" => {
            let quantile = match metric {
                "p50" => Metric::Quantile(0.5),
                "p90" => Metric::Quantile(0.9),
                "p99" => Metric::Quantile(0.99),
                "p99.9" | "p999" => Metric::Quantile(0.999),
                "max" => Metric::Quantile(1.0),
                _ => Metric::Mean,
            };
            let (amount, scale) = if let Some(v) = value.strip_suffix("us") {
                (v, 1.0)
            } else if let Some(v) = value.strip_suffix("ms") {
                (v, 1e3)
            } else if let Some(v) = value.strip_suffix('s') {
                (v, 1e6)
            } else {
                return Err(format!("needs a unit on '{value}' (us, ms or s)"));
            };
            (quantile, number(amount.trim())? * scale)
        }
        "errors" => match value.strip_suffix('%') {
            Some(share) => (Metric::ErrorShare, number(share.trim())?),
            None => (Metric::Errors, number(value)?),
        },
        "rate" => (Metric::Rate, number(value)?),
        _ => return Err(format!("has an unknown metric '{metric}'")),
    };
    Ok(Gate {
        text: text.to_string(),
        metric,
        op,
        limit,
    })
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
    }

    #[test]
    fn malformed_gates_name_themselves_and_the_grammar() {
        for bad in ["p99", "p99<2", "p42<1ms", "errors=x", "rate>=-1", "", "p99<<2ms"] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("METRIC OP VALUE"), "{bad}: {err}");
        }
        assert!(parse("p99<2").unwrap_err().starts_with("'p99<2' needs a unit"));
    }
}
