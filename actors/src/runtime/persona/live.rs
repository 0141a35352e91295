//! The running tick as its persona actor keeps it: the `tool_use_id → call`
//! map the tick's events fill, what the tick waits for, and [`LiveTick`],
//! the view `GET /personas/{id}` shows.

use std::collections::HashMap;

use catalog::{ActionResult, FailedBy};
use chrono::{DateTime, Utc};

use crate::progress::{TickEvent, Waiting};
use crate::tick::TickProgress;

/// One tool call of the running tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCall {
    pub tool_use_id: String,
    pub tool: String,
    pub started_at: DateTime<Utc>,
    pub state: CallState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// Sent; no result yet.
    Running,
    Ended {
        result: ActionResult,
        failed_by: Option<FailedBy>,
        latency_ms: u64,
    },
}

/// A running tick as an operator sees it: its calls in the order they
/// started, and what it waits for now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTick {
    pub tick_id: String,
    pub started_at: DateTime<Utc>,
    /// `None` between steps (the tick is working, not waiting).
    pub waiting: Option<Waiting>,
    /// LLM rounds answered so far.
    pub turns: u32,
    pub calls: Vec<LiveCall>,
}

/// What the persona actor keeps of its running tick.
#[derive(Debug, Default)]
pub(super) struct LiveCalls {
    calls: Vec<LiveCall>,
    /// tool_use_id → index in `calls` of the latest call with that id (some
    /// models reuse ids across rounds; the latest is the one a result
    /// answers).
    by_tool_use: HashMap<String, usize>,
    waiting: Option<Waiting>,
    turns: u32,
}

impl LiveCalls {
    /// Applies one event of the tick.
    pub(super) fn apply(&mut self, event: TickEvent) {
        match event {
            TickEvent::Waiting(what) => self.waiting = Some(what),
            TickEvent::Answered { turns } => self.turns = turns,
            TickEvent::CallStarted { tool_use_id, tool } => {
                self.by_tool_use
                    .insert(tool_use_id.clone(), self.calls.len());
                self.calls.push(LiveCall {
                    tool_use_id,
                    tool,
                    started_at: Utc::now(),
                    state: CallState::Running,
                });
            }
            TickEvent::CallEnded {
                tool_use_id,
                result,
                failed_by,
                latency_ms,
            } => {
                if let Some(call) = self
                    .by_tool_use
                    .get(&tool_use_id)
                    .and_then(|index| self.calls.get_mut(*index))
                {
                    call.state = CallState::Ended {
                        result,
                        failed_by,
                        latency_ms,
                    };
                }
            }
        }
    }

    pub(super) fn progress(&self) -> TickProgress {
        TickProgress {
            turns: self.turns,
            tool_calls: self.calls.len(),
            waiting: self.waiting,
        }
    }

    pub(super) fn view(&self, tick_id: &str, started_at: DateTime<Utc>) -> LiveTick {
        LiveTick {
            tick_id: tick_id.to_owned(),
            started_at,
            waiting: self.waiting,
            turns: self.turns,
            calls: self.calls.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(id: &str, tool: &str) -> TickEvent {
        TickEvent::CallStarted {
            tool_use_id: id.into(),
            tool: tool.into(),
        }
    }

    fn ended(id: &str, result: ActionResult) -> TickEvent {
        TickEvent::CallEnded {
            tool_use_id: id.into(),
            result,
            failed_by: (result == ActionResult::Error).then_some(FailedBy::App),
            latency_ms: 7,
        }
    }

    #[test]
    fn a_result_ends_exactly_the_call_with_its_tool_use_id() {
        let mut live = LiveCalls::default();
        live.apply(TickEvent::Waiting(Waiting::Llm));
        live.apply(TickEvent::Answered { turns: 1 });
        live.apply(started("a", "todo.list"));
        live.apply(started("b", "todo.create"));
        live.apply(TickEvent::Waiting(Waiting::Tool));
        live.apply(ended("b", ActionResult::Error));
        let view = live.view("t", Utc::now());
        assert_eq!(view.turns, 1);
        assert_eq!(view.waiting, Some(Waiting::Tool));
        assert_eq!(view.calls[0].state, CallState::Running);
        assert_eq!(
            view.calls[1].state,
            CallState::Ended {
                result: ActionResult::Error,
                failed_by: Some(FailedBy::App),
                latency_ms: 7
            }
        );
        assert_eq!(live.progress().tool_calls, 2);
    }

    #[test]
    fn a_reused_tool_use_id_answers_the_latest_call() {
        let mut live = LiveCalls::default();
        live.apply(started("call_0", "todo.list"));
        live.apply(ended("call_0", ActionResult::Ok));
        live.apply(started("call_0", "todo.create"));
        live.apply(ended("call_0", ActionResult::Error));
        let view = live.view("t", Utc::now());
        assert!(matches!(
            view.calls[0].state,
            CallState::Ended {
                result: ActionResult::Ok,
                ..
            }
        ));
        assert!(matches!(
            view.calls[1].state,
            CallState::Ended {
                result: ActionResult::Error,
                ..
            }
        ));
    }
}
