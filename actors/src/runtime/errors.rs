//! The typed errors of the runtime's boundaries: what a backend (the store
//! or the app's internal API) answers when it cannot do what was asked, and
//! why an actor refused an operator's command. Callers decide by variant,
//! never by the text.

/// A `TickLedger` or `Directory` call that did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// No persona is known by this id or email.
    #[error("no persona {0}")]
    UnknownPersona(String),
    /// No tick is stored under this id.
    #[error("no tick {0}")]
    UnknownTick(String),
    /// The store or the app failed or could not be reached; worth another try.
    #[error("the backend failed: {0}")]
    Unavailable(String),
    /// The backend answered, but not with what was asked for.
    #[error("the backend answered something unreadable: {0}")]
    Malformed(String),
}

/// Why a persona command (tick now, pause, resume) was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandRefused {
    /// No persona actor runs for this id or email.
    #[error("no running persona {0}")]
    UnknownPersona(String),
    #[error("{email} is paused")]
    Paused { email: String },
    #[error("{email} is already running tick {tick_id}")]
    Busy { email: String, tick_id: String },
    /// The tick's conversation actor did not start.
    #[error("the conversation actor did not start: {0}")]
    NotStarted(String),
    /// The supervisor did not answer in time (stopping, or overloaded).
    #[error("the supervisor did not answer")]
    Unanswered,
}
