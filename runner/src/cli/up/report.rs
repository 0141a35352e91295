//! What `persona up --once` hands a CI system: `--report FILE` (JUnit XML
//! for `.xml`, JSON otherwise) and `--fail-on` thresholds over the whole
//! run, in the spirit of k6 thresholds.
//!
//! The JUnit file has one `<testsuite>` per persona tick (its properties:
//! the tick, each module's rating, cost, tokens) holding one `<testcase>`,
//! failed unless the tick ended `ok`, and a `thresholds` suite with one
//! case per `--fail-on`. Properties sit on the suite, where the common
//! JUnit schema (the one Jenkins and GitLab read) allows them.

use std::collections::BTreeMap;
use std::path::Path;

use actors::runtime::persona::TickSummary;
use anyhow::Context as _;
use catalog::TickStatus;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use serde_json::{Value, json};

/// One finished tick as the report shows it.
pub(super) struct TickReport {
    pub email: String,
    pub summary: TickSummary,
    /// Module → rating (1–5); a rating that could not be read is absent.
    pub ratings: BTreeMap<String, i64>,
}

/// A `--fail-on` condition: the run fails (exit 3) when it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub text: String,
    measure: Measure,
    op: Op,
    limit: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Measure {
    /// Calls the app answered with an error, of all calls.
    AppErrorRate,
    /// Calls the model botched, of all calls.
    AgentErrorRate,
    /// The mean rating over every rated module of every tick.
    Rating,
    /// US dollars the run's LLM requests cost.
    Cost,
    /// Ticks that did not end `ok`.
    NotOkTicks,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

const MEASURES: &str = "app-error-rate, agent-error-rate, rating, cost, not-ok-ticks";

impl std::str::FromStr for Threshold {
    type Err = String;

    /// `app-error-rate>0.05`, `rating<3`, `cost>=2.00`.
    fn from_str(text: &str) -> Result<Threshold, String> {
        let at = text.find(['<', '>']).ok_or_else(|| {
            format!("{text:?}: write MEASURE>VALUE or MEASURE<VALUE ({MEASURES})")
        })?;
        let (name, rest) = text.split_at(at);
        let (op, value) = match rest.as_bytes() {
            [b'>', b'=', ..] => (Op::GreaterOrEqual, &rest[2..]),
            [b'<', b'=', ..] => (Op::LessOrEqual, &rest[2..]),
            [b'>', ..] => (Op::Greater, &rest[1..]),
            _ => (Op::Less, &rest[1..]),
        };
        let measure = match name.trim() {
            "app-error-rate" => Measure::AppErrorRate,
            "agent-error-rate" => Measure::AgentErrorRate,
            "rating" => Measure::Rating,
            "cost" => Measure::Cost,
            "not-ok-ticks" => Measure::NotOkTicks,
            other => return Err(format!("{other:?} is not one of {MEASURES}")),
        };
        let limit = value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|limit| limit.is_finite())
            .ok_or_else(|| format!("{text:?}: {:?} is not a number", value.trim()))?;
        Ok(Threshold {
            text: text.to_owned(),
            measure,
            op,
            limit,
        })
    }
}

/// A threshold checked against a run: its value, and whether it holds
/// (`None` value: it could not be measured, which fails the run too).
pub(super) struct Checked<'a> {
    pub threshold: &'a Threshold,
    pub value: Option<f64>,
    pub breached: bool,
}

impl Threshold {
    fn measure(&self, ticks: &[TickReport]) -> Option<f64> {
        let calls: usize = ticks.iter().map(|tick| tick.summary.actions).sum();
        let ratio = |part: usize| {
            if calls == 0 {
                0.0
            } else {
                part as f64 / calls as f64
            }
        };
        match self.measure {
            Measure::AppErrorRate => {
                Some(ratio(ticks.iter().map(|t| t.summary.failed_actions).sum()))
            }
            Measure::AgentErrorRate => {
                Some(ratio(ticks.iter().map(|t| t.summary.agent_errors).sum()))
            }
            Measure::Rating => {
                let ratings: Vec<i64> = ticks
                    .iter()
                    .flat_map(|tick| tick.ratings.values().copied())
                    .collect();
                (!ratings.is_empty())
                    .then(|| ratings.iter().sum::<i64>() as f64 / ratings.len() as f64)
            }
            // A cost that is unknown for one tick is unknown for the run.
            Measure::Cost => ticks.iter().map(|tick| tick.summary.cost_usd).sum(),
            Measure::NotOkTicks => Some(
                ticks
                    .iter()
                    .filter(|tick| tick.summary.status != TickStatus::Ok)
                    .count() as f64,
            ),
        }
    }

    pub(super) fn check<'a>(&'a self, ticks: &[TickReport]) -> Checked<'a> {
        let value = self.measure(ticks);
        let breached = value.is_none_or(|value| match self.op {
            Op::Greater => value > self.limit,
            Op::GreaterOrEqual => value >= self.limit,
            Op::Less => value < self.limit,
            Op::LessOrEqual => value <= self.limit,
        });
        Checked {
            threshold: self,
            value,
            breached,
        }
    }
}

/// Writes the report to `path`: JUnit XML for `.xml`, else JSON.
pub(super) fn write(
    path: &Path,
    ticks: &[TickReport],
    checked: &[Checked<'_>],
    seconds: f64,
) -> anyhow::Result<()> {
    let junit = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("xml"));
    let bytes = if junit {
        let mut xml = junit_xml(ticks, checked, seconds)?;
        xml.push(b'\n');
        xml
    } else {
        let mut text = serde_json::to_string_pretty(&json_report(ticks, checked, seconds))?;
        text.push('\n');
        text.into_bytes()
    };
    std::fs::write(path, bytes).with_context(|| format!("writing the report {}", path.display()))
}

fn tick_json(tick: &TickReport) -> Value {
    let summary = &tick.summary;
    json!({
        "persona": tick.email,
        "tickId": summary.tick_id,
        "status": summary.status.as_str(),
        "failedBy": summary.failed_by.map(|by| by.as_str()),
        "error": summary.error,
        "turns": summary.turns,
        "toolCalls": summary.actions,
        "appErrors": summary.failed_actions,
        "agentErrors": summary.agent_errors,
        "ratings": tick.ratings,
        "costUsd": summary.cost_usd,
        "inputTokens": summary.tokens.input,
        "outputTokens": summary.tokens.output,
        "durationMs": summary.duration_ms,
        "finishedAt": summary.finished_at,
    })
}

fn json_report(ticks: &[TickReport], checked: &[Checked<'_>], seconds: f64) -> Value {
    json!({
        "seconds": seconds,
        "ticks": ticks.iter().map(tick_json).collect::<Vec<_>>(),
        "thresholds": checked.iter().map(|checked| json!({
            "condition": checked.threshold.text,
            "value": checked.value,
            "breached": checked.breached,
        })).collect::<Vec<_>>(),
    })
}

fn junit_xml(
    ticks: &[TickReport],
    checked: &[Checked<'_>],
    seconds: f64,
) -> anyhow::Result<Vec<u8>> {
    let failures = ticks
        .iter()
        .filter(|tick| tick.summary.status != TickStatus::Ok)
        .count()
        + checked.iter().filter(|checked| checked.breached).count();
    let tests = ticks.len() + checked.len();
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer
        .create_element("testsuites")
        .with_attribute(("name", "persona up --once"))
        .with_attribute(("tests", tests.to_string().as_str()))
        .with_attribute(("failures", failures.to_string().as_str()))
        .with_attribute(("errors", "0"))
        .with_attribute(("time", format!("{seconds:.3}").as_str()))
        .write_inner_content(|writer: &mut Writer<Vec<u8>>| -> std::io::Result<()> {
            for tick in ticks {
                tick_suite(writer, tick)?;
            }
            if !checked.is_empty() {
                threshold_suite(writer, checked)?;
            }
            Ok(())
        })?;
    Ok(writer.into_inner())
}

fn tick_suite(writer: &mut Writer<Vec<u8>>, tick: &TickReport) -> std::io::Result<()> {
    let summary = &tick.summary;
    let ok = summary.status == TickStatus::Ok;
    let time = format!("{:.3}", summary.duration_ms as f64 / 1000.0);
    let timestamp = summary.finished_at.format("%Y-%m-%dT%H:%M:%S").to_string();
    let mut properties = vec![
        ("tick_id".to_owned(), summary.tick_id.clone()),
        ("status".to_owned(), summary.status.as_str().to_owned()),
        ("tool_calls".to_owned(), summary.actions.to_string()),
        ("app_errors".to_owned(), summary.failed_actions.to_string()),
        ("agent_errors".to_owned(), summary.agent_errors.to_string()),
        (
            "cost_usd".to_owned(),
            summary
                .cost_usd
                .map_or_else(|| "unknown".to_owned(), |cost| format!("{cost:.6}")),
        ),
        ("input_tokens".to_owned(), summary.tokens.input.to_string()),
        (
            "output_tokens".to_owned(),
            summary.tokens.output.to_string(),
        ),
    ];
    properties.extend(
        tick.ratings
            .iter()
            .map(|(module, rating)| (format!("rating.{module}"), rating.to_string())),
    );
    writer
        .create_element("testsuite")
        .with_attribute(("name", tick.email.as_str()))
        .with_attribute(("tests", "1"))
        .with_attribute(("failures", if ok { "0" } else { "1" }))
        .with_attribute(("errors", "0"))
        .with_attribute(("skipped", "0"))
        .with_attribute(("time", time.as_str()))
        .with_attribute(("timestamp", timestamp.as_str()))
        .write_inner_content(|writer: &mut Writer<Vec<u8>>| -> std::io::Result<()> {
            writer.create_element("properties").write_inner_content(
                |writer: &mut Writer<Vec<u8>>| -> std::io::Result<()> {
                    for (name, value) in &properties {
                        writer
                            .create_element("property")
                            .with_attribute(("name", name.as_str()))
                            .with_attribute(("value", value.as_str()))
                            .write_empty()?;
                    }
                    Ok(())
                },
            )?;
            let case = writer
                .create_element("testcase")
                .with_attribute(("classname", "persona"))
                .with_attribute(("name", format!("tick {}", summary.tick_id).as_str()))
                .with_attribute(("time", time.as_str()));
            if ok {
                case.write_empty()?;
            } else {
                let message = super::summary::outcome(summary);
                case.write_inner_content(|writer: &mut Writer<Vec<u8>>| -> std::io::Result<()> {
                    writer
                        .create_element("failure")
                        .with_attribute(("message", message.as_str()))
                        .with_attribute(("type", summary.status.as_str()))
                        .write_text_content(BytesText::new(&format!(
                            "persona tick show {}",
                            summary.tick_id
                        )))?;
                    Ok(())
                })?;
            }
            Ok(())
        })?;
    Ok(())
}

fn threshold_suite(writer: &mut Writer<Vec<u8>>, checked: &[Checked<'_>]) -> std::io::Result<()> {
    let failures = checked.iter().filter(|checked| checked.breached).count();
    writer
        .create_element("testsuite")
        .with_attribute(("name", "thresholds"))
        .with_attribute(("tests", checked.len().to_string().as_str()))
        .with_attribute(("failures", failures.to_string().as_str()))
        .with_attribute(("errors", "0"))
        .with_attribute(("skipped", "0"))
        .with_attribute(("time", "0"))
        .write_inner_content(|writer: &mut Writer<Vec<u8>>| -> std::io::Result<()> {
            for checked in checked {
                let case = writer
                    .create_element("testcase")
                    .with_attribute(("classname", "fail-on"))
                    .with_attribute(("name", checked.threshold.text.as_str()))
                    .with_attribute(("time", "0"));
                if checked.breached {
                    let value = checked.value.map_or_else(
                        || "could not be measured".to_owned(),
                        |value| format!("{value:.4}"),
                    );
                    let message = format!(
                        "--fail-on {}: the run measured {value}",
                        checked.threshold.text
                    );
                    case.write_inner_content(
                        |writer: &mut Writer<Vec<u8>>| -> std::io::Result<()> {
                            writer
                                .create_element("failure")
                                .with_attribute(("message", message.as_str()))
                                .with_attribute(("type", "threshold"))
                                .write_empty()?;
                            Ok(())
                        },
                    )?;
                } else {
                    case.write_empty()?;
                }
            }
            Ok(())
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_read_like_k6_and_name_what_is_wrong() {
        let threshold: Threshold = "app-error-rate>0.05".parse().unwrap();
        assert_eq!(threshold.measure, Measure::AppErrorRate);
        assert_eq!(threshold.op, Op::Greater);
        let threshold: Threshold = "rating<=3".parse().unwrap();
        assert_eq!((threshold.op, threshold.limit), (Op::LessOrEqual, 3.0));
        for (text, expected) in [
            ("latency>1", "\"latency\" is not one of"),
            ("cost>lots", "\"lots\" is not a number"),
            ("cost", "write MEASURE>VALUE"),
        ] {
            let error = text.parse::<Threshold>().unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
