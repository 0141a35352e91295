//! The day as the persona lived it, for the rating turn: each call with its
//! number, its tool and the module it is rated as (the target's, which may
//! not be the tool's prefix), a short form of its input and how it went (ok, the
//! app's error, or refused because the model botched it: arguments not JSON
//! or rejected by the tool's schema, an unknown tool), with the error text.
//! The rating prompt carries it rendered ([`DayLog::render`]), so a model
//! rates what it experienced and cites the calls by number; the
//! scripted simulator reads the same lines back ([`read_logged_calls`]).

use catalog::FailedBy;
use catalog::target::Language;

/// A call's input in the log: its compact JSON, cut at this many characters.
pub const INPUT_CHARS: usize = 120;
/// An error text in the log, cut at this many characters.
pub const ERROR_CHARS: usize = 200;
/// The rendered log at most, in characters; the oldest calls go first.
pub const LOG_CHARS: usize = 6000;

/// One call of the day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedCall {
    /// 1-based, in the order the model made them.
    pub number: usize,
    /// The app's name (`todo.create`).
    pub tool: String,
    /// The module the call is rated as (`todo`).
    pub module: String,
    /// Its input, compact and cut to [`INPUT_CHARS`].
    pub input: String,
    /// `None`: it went through.
    pub failed_by: Option<FailedBy>,
    /// What the app (or the runner, for a call it never sent) answered, cut to
    /// [`ERROR_CHARS`]; only for a failed call.
    pub error: Option<String>,
}

/// Every call of one tick, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayLog {
    calls: Vec<LoggedCall>,
}

impl DayLog {
    /// Logs a call: `input` as the model sent it (its JSON, or the raw text
    /// it could not parse), `error` the result text of a failed call.
    pub fn push(
        &mut self,
        tool: &str,
        module: &str,
        input: &str,
        failed_by: Option<FailedBy>,
        error: Option<&str>,
    ) {
        self.calls.push(LoggedCall {
            number: self.calls.len() + 1,
            tool: tool.to_owned(),
            module: module.to_owned(),
            input: cut(&one_line(input), INPUT_CHARS),
            failed_by,
            error: failed_by
                .and(error)
                .map(|error| cut(&one_line(error), ERROR_CHARS)),
        });
    }

    pub fn calls(&self) -> &[LoggedCall] {
        &self.calls
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// One line per call, oldest dropped first so the whole stays within
    /// `max_chars` (a first line says how many were dropped).
    pub fn render(&self, max_chars: usize, language: Language) -> String {
        let lines: Vec<String> = self.calls.iter().map(|call| line(call, language)).collect();
        let mut kept = 0;
        let mut used = 0;
        for line in lines.iter().rev() {
            let cost = line.chars().count() + 1;
            if used + cost > max_chars {
                break;
            }
            used += cost;
            kept += 1;
        }
        let dropped = lines.len() - kept;
        let mut rendered = String::new();
        if dropped > 0 {
            rendered.push_str(&match language {
                Language::German => {
                    format!("(die ersten {dropped} Aufrufe sind hier ausgelassen)\n")
                }
                Language::English => format!("(the first {dropped} calls are left out here)\n"),
            });
        }
        for line in &lines[dropped..] {
            rendered.push_str(line);
            rendered.push('\n');
        }
        rendered
    }
}

/// `#3 todo.create [todo] {"title":"x"} → ok`, or `→ Fehler (app): …`, or
/// `→ abgelehnt (agent): …` (in English `error`, `refused`).
fn line(call: &LoggedCall, language: Language) -> String {
    let outcome = match call.failed_by {
        None => "ok".to_owned(),
        Some(by) => {
            let label = match (by == FailedBy::Agent, language) {
                (true, Language::German) => "abgelehnt",
                (false, Language::German) => "Fehler",
                (true, Language::English) => "refused",
                (false, Language::English) => "error",
            };
            format!(
                "{label} ({}): {}",
                by.as_str(),
                call.error.as_deref().unwrap_or("")
            )
        }
    };
    format!(
        "#{} {} [{}] {} {ARROW} {outcome}",
        call.number, call.tool, call.module, call.input
    )
}

const ARROW: &str = "→";

/// The calls of a rendered log, read back from the lines that start with
/// `#<number> `; other lines are skipped. Inputs are not read back; a line
/// without its `[module]` gets the tool's default module.
pub fn read_logged_calls(text: &str) -> Vec<LoggedCall> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix('#')?;
            let (number, rest) = rest.split_once(' ')?;
            let number = number.parse().ok()?;
            let (tool, rest) = rest.split_once(' ')?;
            let module = rest
                .strip_prefix('[')
                .and_then(|rest| rest.split_once(']'))
                .map_or_else(|| catalog::module_of(tool), |(module, _)| module);
            let (_, outcome) = rest.rsplit_once(&format!(" {ARROW} "))?;
            let (failed_by, error) = if outcome == "ok" {
                (None, None)
            } else {
                let (label, error) = outcome.split_once(": ").unwrap_or((outcome, ""));
                let by = if label.contains("(agent)") {
                    FailedBy::Agent
                } else if label.contains("(llm)") {
                    FailedBy::Llm
                } else {
                    FailedBy::App
                };
                (Some(by), Some(error.to_owned()))
            };
            Some(LoggedCall {
                number,
                tool: tool.to_owned(),
                module: module.to_owned(),
                input: String::new(),
                failed_by,
                error,
            })
        })
        .collect()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> DayLog {
        let mut log = DayLog::default();
        log.push("todo.list", "todo", "{\"status\":\"open\"}", None, None);
        log.push(
            "todo.create",
            "writing",
            "{\"title\":\"Einkaufen\"}",
            Some(FailedBy::App),
            Some("title too long\nreally"),
        );
        log.push(
            "todo.nope",
            "todo",
            "{not json",
            Some(FailedBy::Agent),
            Some("no such tool"),
        );
        log
    }

    #[test]
    fn every_call_is_one_numbered_line_that_reads_back() {
        let rendered = day().render(LOG_CHARS, Language::German);
        assert_eq!(
            rendered,
            "#1 todo.list [todo] {\"status\":\"open\"} → ok\n\
             #2 todo.create [writing] {\"title\":\"Einkaufen\"} → Fehler (app): title too long really\n\
             #3 todo.nope [todo] {not json → abgelehnt (agent): no such tool\n"
        );
        let read = read_logged_calls(&format!("Du hast heute:\n{rendered}Bewerte."));
        assert_eq!(read.len(), 3);
        assert_eq!(
            (
                read[1].number,
                read[1].tool.as_str(),
                read[1].module.as_str()
            ),
            (2, "todo.create", "writing")
        );
        assert_eq!(read[1].failed_by, Some(FailedBy::App));
        assert_eq!(read[1].error.as_deref(), Some("title too long really"));
        assert_eq!(read[2].failed_by, Some(FailedBy::Agent));
        assert_eq!(read[0].failed_by, None);
    }

    #[test]
    fn the_oldest_calls_go_first_and_long_values_are_cut() {
        let mut log = DayLog::default();
        for _ in 0..50 {
            log.push("notes.create", "notes", &"x".repeat(500), None, None);
        }
        assert!(log.calls()[0].input.chars().count() <= INPUT_CHARS);
        let rendered = log.render(1000, Language::German);
        assert!(rendered.chars().count() <= 1000 + 60, "{rendered}");
        assert!(rendered.starts_with("(die ersten "));
        assert!(rendered.trim_end().ends_with("→ ok"));
        let read = read_logged_calls(&rendered);
        assert_eq!(read.last().map(|call| call.number), Some(50));
    }
}
