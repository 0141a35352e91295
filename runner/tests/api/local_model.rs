//! A real language model drives personas: llama-cpp-python's
//! OpenAI-compatible server with SmolLM2-135M-Instruct, both installed by
//! `.ci/model-server`, which prints the two variables these tests read
//! (`PERSONA_TEST_LLAMA_PYTHON`, `PERSONA_TEST_LLAMA_MODEL`). Without them
//! the tests are skipped with a loud warning, and fail when `CI=true`.
//!
//! Each test starts its own server on a free loopback port and kills it on
//! drop; a failing test prints the tail of the server's output. The runner
//! test runs `persona up --once` as a real process against that server and
//! then reads what the two ticks left in the database: tool calls, ratings,
//! status, turns, tokens and wall time.
//!
//! ```sh
//! eval "$(bash .ci/model-server | sed 's/^/export /')"
//! cargo test -p runner --test api local_model -- --nocapture
//! ```
//!
//! One file over the usual 400 lines, so that the harness (server, runner
//! process, rows) reads top to bottom next to the two tests it serves.

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use actors::llm::openai::OpenAiLlm;
use actors::llm::retry::RetryPolicy;
use actors::llm::{Llm as _, LlmRequest, Message, ToolChoice, ToolDef};
use catalog::transcript::TranscriptItem;
use catalog::{ActionResult, ActionRow, FeedbackRow, TickStatus};
use gateway::store::{Store, TickRow};
use serde_json::json;
use tokio::io::AsyncReadExt as _;

use crate::helpers::eventually;

/// The two personas ticked; both have the daily cadence, so a fresh
/// database has them due on any day of the week.
const PERSONAS: [&str; 2] = ["anna.keller@mana.test", "miriam.scholz@mana.test"];

/// The name the server lists the model under, and the runner asks for.
const MODEL_ALIAS: &str = "smollm2";

/// Loading a 100 MB model takes a second or two; a busy CI machine gets more.
const SERVER_START_LIMIT: Duration = Duration::from_secs(120);

/// The whole `persona up --once`; past it the process is killed and the
/// test fails. Each tick also has its own timeout below it
/// (`TICK_TIMEOUT_SECS`), so a slow model normally ends in failed ticks
/// with their rows rather than in a kill.
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// Two ticks run one after the other (`PERSONA_CONCURRENCY=1`), so two of
/// these plus the start fit in [`RUN_LIMIT`].
const TICK_TIMEOUT_SECS: &str = "240";

/// One request of the cheaper test, prompt processing included.
const REQUEST_LIMIT: Duration = Duration::from_secs(300);

/// Lines of a child's output kept to show when a test fails.
const TAIL_LINES: usize = 60;

#[tokio::test]
async fn a_real_model_drives_two_personas_through_their_ticks() {
    let Some(install) = LlamaInstall::from_env() else {
        return;
    };
    let server = LlamaServer::start(&install).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("persona.db");

    let run = run_up_once(dir.path(), &db, &server.base_url).await;
    eprintln!(
        "persona up --once, {:.1}s:\n{}",
        run.elapsed.as_secs_f64(),
        run.stdout
    );
    if !run.timed_out {
        assert!(
            matches!(run.status.and_then(|status| status.code()), Some(0 | 1)),
            "persona up could not run ({:?}):\n{}",
            run.status,
            tail(&run.stderr)
        );
    }

    let ticks = read_ticks(&db).await;
    eprintln!("{}", render(&ticks));
    // The table above is part of the test's output, so a failure shows it.
    assert!(
        !run.timed_out,
        "persona up --once did not finish within {RUN_LIMIT:?} and was killed; \
         its last log lines:\n{}",
        tail(&run.stderr)
    );
    let problems = problems(&ticks);
    assert!(
        problems.is_empty(),
        "the real model did not drive the personas through their ticks (table above):\n  - {}\n\
         the runner's last log lines:\n{}",
        problems.join("\n  - "),
        tail(&run.stderr)
    );
}

#[tokio::test]
async fn one_request_with_tools_comes_back_as_a_tool_call() {
    let Some(install) = LlamaInstall::from_env() else {
        return;
    };
    let server = LlamaServer::start(&install).await;
    // The provider's own rule keeps a timed-out non-streamed request from
    // being retried; the other attempts are for what this server does after
    // refusing to stream: it closes the kept-alive connection, and the
    // resend can meet the closed socket.
    let retry = RetryPolicy {
        max_attempts: 3,
        ..RetryPolicy::default()
    };
    let llm = OpenAiLlm::new(None, MODEL_ALIAS.to_owned(), server.base_url.clone(), retry)
        .unwrap()
        .with_timeout(REQUEST_LIMIT);
    let request = LlmRequest {
        system: "You are Anna, a busy parent. You manage your day only by calling the tools."
            .to_owned(),
        messages: vec![Message::user_text(
            "Add a todo to buy milk for tomorrow morning.",
        )],
        tools: Arc::from(vec![
            ToolDef {
                name: "todo_create".to_owned(),
                description: "Create a todo item.".to_owned(),
                input_schema: json!({
                    "type": "object",
                    "properties": {"title": {"type": "string"}},
                    "required": ["title"],
                }),
            },
            ToolDef {
                name: "notes_list".to_owned(),
                description: "List the notes.".to_owned(),
                input_schema: json!({"type": "object", "properties": {}}),
            },
        ]),
        tool_choice: ToolChoice::Auto,
        max_tokens: 256,
    };
    let began = Instant::now();
    let response = llm.complete(&request).await.unwrap();
    eprintln!(
        "one request with tools: {:.1}s, {} input and {} output tokens, stop {:?}",
        began.elapsed().as_secs_f64(),
        response.usage.input,
        response.usage.output,
        response.stop_reason
    );
    let calls: Vec<_> = response.tool_uses().collect();
    assert!(
        !calls.is_empty(),
        "the model answered without a tool call (stop reason {:?}): {:?}",
        response.stop_reason,
        response.text()
    );
    eprintln!("tool calls: {calls:?}");
}

// ---------------------------------------------------------------------------
// The model server

/// Where `.ci/model-server` put the server's Python and the model file.
struct LlamaInstall {
    python: PathBuf,
    model: PathBuf,
}

impl LlamaInstall {
    /// `None` (after a loud warning) when the variables are unset, outside
    /// CI; in CI a missing server is a failure, not a skip.
    fn from_env() -> Option<LlamaInstall> {
        let var = |name| std::env::var(name).ok().filter(|value| !value.is_empty());
        match (
            var("PERSONA_TEST_LLAMA_PYTHON"),
            var("PERSONA_TEST_LLAMA_MODEL"),
        ) {
            (Some(python), Some(model)) => Some(LlamaInstall {
                python: python.into(),
                model: model.into(),
            }),
            _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => panic!(
                "CI=true but PERSONA_TEST_LLAMA_PYTHON / PERSONA_TEST_LLAMA_MODEL are not set: \
                 the real-model tests must run in CI (.ci/run sets them from .ci/model-server)"
            ),
            _ => {
                warn_skipped();
                None
            }
        }
    }
}

fn warn_skipped() {
    static WARN: Once = Once::new();
    WARN.call_once(|| {
        eprintln!(
            "\n\
             ************************************************************************\n\
             * PERSONA_TEST_LLAMA_PYTHON / PERSONA_TEST_LLAMA_MODEL are not set:    *\n\
             * the real local model tests are SKIPPED. Set them with                *\n\
             *   eval \"$(bash .ci/model-server | sed 's/^/export /')\"               *\n\
             ************************************************************************\n"
        );
    });
}

/// llama-cpp-python's server as a child process, killed and reaped on drop.
struct LlamaServer {
    child: Child,
    /// `http://127.0.0.1:{port}/v1`, what `OPENAI_BASE_URL` takes.
    base_url: String,
    output: Arc<Mutex<Captured>>,
}

impl LlamaServer {
    async fn start(install: &LlamaInstall) -> LlamaServer {
        // The port is free when asked for; should another process take it
        // before the server binds, the server's own error says so.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let mut child = Command::new(&install.python)
            .args(["-m", "llama_cpp.server", "--model"])
            .arg(&install.model)
            .args(["--model_alias", MODEL_ALIAS])
            .args(["--chat_format", "chatml-function-calling"])
            .args(["--n_ctx", "8192", "--seed", "42"])
            // Quiet: its verbose log is mostly the model's graph, and would
            // push the lines that explain a failure out of the kept tail.
            .args(["--verbose", "False"])
            // IMPORTANT: one thread. llama.cpp's OpenMP threads spin while they
            // wait for each other, so on a 2-core machine that is also
            // compiling and running tests, two threads generated 1.8 tokens/s
            // where one thread generated 23.6 (SmolLM2-135M, 3,157-token
            // prompt, load average 6).
            .args(["--n_threads", "1", "--n_threads_batch", "1"])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", install.python.display()));
        let output = Arc::new(Mutex::new(Captured::default()));
        capture(child.stdout.take().unwrap(), &output);
        capture(child.stderr.take().unwrap(), &output);
        let server = LlamaServer {
            child,
            base_url: format!("http://127.0.0.1:{port}/v1"),
            output,
        };

        let http = reqwest::Client::new();
        let models = format!("{}/models", server.base_url);
        let (output, http, models) = (&server.output, &http, &models);
        eventually(
            SERVER_START_LIMIT,
            "the model server to answer GET /v1/models",
            move || async move {
                assert!(
                    output.lock().unwrap().open_pipes > 0,
                    "the model server exited before it answered"
                );
                http.get(models)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                    .is_ok_and(|response| response.status().is_success())
            },
        )
        .await;
        server
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let output = self
                .output
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            eprintln!(
                "--- the model server's last {} lines ---\n{}",
                output.lines.len(),
                Vec::from(output.lines.clone()).join("\n")
            );
        }
    }
}

/// The tail of a child's output, and whether its pipes are still open.
#[derive(Default)]
struct Captured {
    lines: VecDeque<String>,
    /// Drops to 0 once both pipes reach end of file: the process is gone.
    open_pipes: usize,
}

/// Copies `pipe` line by line into `output` on its own thread, keeping the
/// last [`TAIL_LINES`]; lossy, since llama.cpp's log is not always UTF-8.
fn capture(pipe: impl Read + Send + 'static, output: &Arc<Mutex<Captured>>) {
    output.lock().unwrap().open_pipes += 1;
    let output = Arc::clone(output);
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).split(b'\n').map_while(Result::ok) {
            let mut output = output.lock().unwrap();
            if output.lines.len() == TAIL_LINES {
                output.lines.pop_front();
            }
            output
                .lines
                .push_back(String::from_utf8_lossy(&line).into_owned());
        }
        output.lock().unwrap().open_pipes -= 1;
    });
}

// ---------------------------------------------------------------------------
// The runner

struct UpOnce {
    /// `None` when it was killed at [`RUN_LIMIT`].
    status: Option<ExitStatus>,
    timed_out: bool,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// `persona up --once` for [`PERSONAS`] against the model at `base_url`,
/// killed (and reaped) at [`RUN_LIMIT`].
async fn run_up_once(dir: &Path, db: &Path, base_url: &str) -> UpOnce {
    let mut command = crate::helpers::persona_command(dir);
    command
        .args(["up", "--once", "--gateway-addr", "127.0.0.1:0", "--db"])
        .arg(format!("sqlite://{}", db.display()))
        .args(["--llm", "openai", "--model", MODEL_ALIAS])
        .args(PERSONAS.iter().flat_map(|email| ["--persona", email]));
    command
        .env("OPENAI_BASE_URL", base_url)
        // The server answers one request at a time and reuses the previous
        // prompt's prefix from its cache: one persona at a time keeps that
        // prefix warm, two interleaved would evict each other's.
        .env("PERSONA_CONCURRENCY", "1")
        .env("PERSONA_MAX_TURNS", "4")
        .env("PERSONA_TICK_TIMEOUT_SECS", TICK_TIMEOUT_SECS)
        // On two busy cores one request (about 5k prompt tokens) can take
        // most of two minutes, more when it queues behind the answer a
        // timed-out request left the server generating.
        .env("PERSONA_LLM_TIMEOUT_SECS", "200")
        // The server's --n_ctx; a runner that does not know the setting
        // ignores the variable.
        .env("PERSONA_LLM_CONTEXT_TOKENS", "8192");
    let mut child = tokio::process::Command::from(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = tokio::spawn(read_all(child.stdout.take().unwrap()));
    let stderr = tokio::spawn(read_all(child.stderr.take().unwrap()));
    let began = Instant::now();
    let status = match tokio::time::timeout(RUN_LIMIT, child.wait()).await {
        Ok(status) => Some(status.unwrap()),
        Err(_) => {
            // Kills and waits, so the process is reaped either way.
            child.kill().await.unwrap();
            None
        }
    };
    UpOnce {
        timed_out: status.is_none(),
        status,
        elapsed: began.elapsed(),
        stdout: stdout.await.unwrap(),
        stderr: stderr.await.unwrap(),
    }
}

async fn read_all(mut pipe: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut bytes = Vec::new();
    let _ = pipe.read_to_end(&mut bytes).await;
    String::from_utf8_lossy(&bytes).into_owned()
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return "(none)".to_owned();
    }
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

// ---------------------------------------------------------------------------
// What the ticks left behind

struct TickReport {
    email: String,
    tick: TickRow,
    actions: Vec<ActionRow>,
    feedback: Vec<FeedbackRow>,
    transcript: Vec<TranscriptItem>,
}

impl TickReport {
    /// Ratings of real modules, the parse-failure row left out.
    fn ratings(&self) -> impl Iterator<Item = &FeedbackRow> {
        self.feedback.iter().filter(|row| !row.is_parse_failure())
    }
}

/// Every tick in the database, oldest first, with its rows.
async fn read_ticks(db: &Path) -> Vec<TickReport> {
    let url = format!("sqlite://{}", db.display());
    // The store reads a tick by id but has no list of them.
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let tick_ids: Vec<String> =
        sqlx::query_scalar("SELECT tick_id FROM persona_ticks ORDER BY started_at")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    let store = Store::connect(&url).await.unwrap();
    let mut reports = Vec::new();
    for tick_id in tick_ids {
        let detail = store.tick_detail(&tick_id).await.unwrap();
        reports.push(TickReport {
            email: detail.persona_email,
            actions: detail.actions,
            feedback: detail.feedback,
            transcript: detail.transcript,
            tick: detail.tick,
        });
    }
    store.close().await;
    reports
}

/// What a tick driven by a working model must have: at least one real tool
/// call and at least one module rating, and never "ok" without a tool call.
fn problems(ticks: &[TickReport]) -> Vec<String> {
    let mut problems = Vec::new();
    for email in PERSONAS {
        if !ticks.iter().any(|report| report.email == email) {
            problems.push(format!("{email}: no tick row at all"));
        }
    }
    for report in ticks {
        let who = format!("{} ({})", report.email, report.tick.status.as_str());
        if report.actions.is_empty() {
            problems.push(format!("{who}: no tool call (0 action rows)"));
            if report.tick.status == TickStatus::Ok {
                problems.push(format!("{who}: status ok although no tool was called"));
            }
        }
        // The transcript holds what the real server answered, call by call.
        let calls = report
            .transcript
            .iter()
            .filter(|item| matches!(item, TranscriptItem::Call { .. }))
            .count();
        if calls != report.actions.len() {
            problems.push(format!(
                "{who}: {calls} calls in the transcript, {} action rows",
                report.actions.len()
            ));
        }
        if !matches!(
            report.transcript.first(),
            Some(TranscriptItem::Prompt { .. })
        ) {
            problems.push(format!(
                "{who}: the transcript does not open with the day prompt"
            ));
        }
        if report.ratings().next().is_none() {
            problems.push(format!(
                "{who}: no module rating ({} feedback rows, each a parse failure)",
                report.feedback.len()
            ));
        }
    }
    problems
}

/// One line per tick, then what each tick called, rated and said.
fn render(ticks: &[TickReport]) -> String {
    let mut out = format!(
        "{:<26} {:<8} {:>5} {:>8} {:>8} {:>7} {:>9} {:>5}\n",
        "persona", "status", "turns", "in tok", "out tok", "wall s", "calls/err", "rated"
    );
    for report in ticks {
        let wall = report
            .tick
            .finished_at
            .map(|finished| (finished - report.tick.started_at).num_milliseconds() as f64 / 1000.0);
        let failed = report
            .actions
            .iter()
            .filter(|action| action.result == ActionResult::Error)
            .count();
        out += &format!(
            "{:<26} {:<8} {:>5} {:>8} {:>8} {:>7} {:>9} {:>5}\n",
            report.email,
            report.tick.status.as_str(),
            report.tick.turns,
            report.tick.tokens.input + report.tick.tokens.cache_read,
            report.tick.tokens.output,
            wall.map_or("-".to_owned(), |seconds| format!("{seconds:.1}")),
            format!("{}/{failed}", report.actions.len()),
            report.ratings().count(),
        );
    }
    for report in ticks {
        out += &format!("\n{} tick {}:\n", report.email, report.tick.tick_id);
        if let Some(error) = &report.tick.error {
            out += &format!("  error: {error}\n");
        }
        let tools: Vec<String> = report
            .actions
            .iter()
            .map(|action| format!("{} ({})", action.tool_name, action.result.as_str()))
            .collect();
        out += &format!("  tools: [{}]\n", tools.join(", "));
        for row in &report.feedback {
            let rating = row
                .rating
                .map_or("-".to_owned(), |rating| rating.to_string());
            let notes: String = row.notes.chars().take(160).collect();
            out += &format!("  rated {} = {rating}: {notes:?}\n", row.module);
        }
        if let Some(summary) = &report.tick.summary {
            let summary: String = summary.chars().take(300).collect();
            out += &format!("  summary: {summary:?}\n");
        }
    }
    out
}
