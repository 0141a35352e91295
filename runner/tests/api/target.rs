//! Target files through the runtime and the binary: the built-in app
//! described by a file that lets the personas use only some tools and names
//! a module of its own; the official server-everything (npm), which nobody
//! here wrote, over Streamable HTTP and over stdio; and `persona runner`
//! refusing a bad file with every problem named.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use catalog::target::Target;
use runner::wiring::{Provider, StoreSink};

use crate::helpers::{Gateway, gateway_with_personas, persona_command};
use crate::runtime::start_actors_with;

#[tokio::test]
async fn a_target_file_limits_the_tools_and_names_their_modules() {
    let gateway = gateway_with_personas().await;
    let target = Target::from_toml(&format!(
        r#"
[mcp]
url = "{url}/mcp"

[auth]
kind = "login"
url = "{url}"

[headers]
x-mana-space = "{{space_id}}"

[tools]
include = ["notes.*", "todo.*"]
exclude = ["todo.delete", "todo.complete"]

[modules]
"notes.create" = "writing"

[prompt]
app = "Notizblock"
"#,
        url = gateway.url
    ))
    .unwrap();
    let Day {
        tools,
        modules,
        prompts,
        ..
    } = day_on(&gateway, target).await;
    assert!(
        prompts
            .iter()
            .all(|prompt| prompt.contains("mit der App Notizblock")),
        "{prompts:?}"
    );
    assert!(
        !tools.is_empty(),
        "the personas used the tools they were given"
    );
    for tool in &tools {
        assert!(
            (tool.starts_with("notes.") || tool.starts_with("todo."))
                && tool != "todo.delete"
                && tool != "todo.complete",
            "{tool} was never offered"
        );
    }
    for module in &modules {
        assert!(
            ["notes", "todo", "writing", catalog::PARSE_FAILURE_MODULE].contains(&module.as_str()),
            "rated {module}"
        );
    }
    if tools.iter().any(|tool| tool == "notes.create") {
        assert!(
            modules.iter().any(|module| module == "writing"),
            "notes.create is rated as the target's module: {modules:?}"
        );
    }
}

/// What one tick of every persona on a target did.
pub(crate) struct Day {
    pub(crate) tools: Vec<String>,
    pub(crate) modules: Vec<String>,
    /// Each tick's day prompt.
    pub(crate) prompts: Vec<String>,
    /// The reasons of the ticks that did not end ok.
    pub(crate) errors: Vec<String>,
}

/// The runner's actors on `target`, rows into `gateway`'s store: starts a
/// tick of every persona, waits (bounded) for all of them, and reads back
/// what they stored.
pub(crate) async fn day_on(gateway: &Gateway, target: Target) -> Day {
    days_on(gateway, target, 1).await
}

/// [`day_on`] for `rounds` ticks of every persona, one round after another
/// on the same actors (so a persona's second tick reuses or renews the
/// session of its first).
pub(crate) async fn days_on(gateway: &Gateway, target: Target, rounds: usize) -> Day {
    let system = start_actors_with(
        gateway,
        Arc::new(Provider::Scripted),
        Arc::new(StoreSink(gateway.store.clone())),
        |settings| settings.target = target,
    )
    .await;
    let snapshot = system.snapshot().await.unwrap();
    let mut finished = Vec::new();
    for _ in 0..rounds {
        let mut waiting = HashMap::new();
        for entry in &snapshot.personas {
            let tick_id = system.start_tick(&entry.persona_id).await.unwrap();
            waiting.insert(entry.persona_id.clone(), tick_id);
        }
        let total = finished.len() + waiting.len();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while finished.len() < total {
            assert!(
                std::time::Instant::now() < deadline,
                "ticks still running: {waiting:?}"
            );
            finished.extend(system.take_finished(&mut waiting).await.unwrap());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut day = Day {
        tools: Vec::new(),
        modules: Vec::new(),
        prompts: Vec::new(),
        errors: Vec::new(),
    };
    for (_, summary) in &finished {
        day.errors.extend(summary.error.clone());
        let detail = system.handles.tick(&summary.tick_id).await.unwrap();
        day.prompts
            .extend(detail.transcript.iter().filter_map(|item| match item {
                catalog::transcript::TranscriptItem::Prompt {
                    phase: catalog::transcript::Phase::Day,
                    text,
                    ..
                } => Some(text.clone()),
                _ => None,
            }));
        day.tools
            .extend(detail.actions.into_iter().map(|action| action.tool_name));
        day.modules
            .extend(detail.feedback.into_iter().map(|row| row.module));
    }
    system.shutdown(Duration::from_secs(5)).await;
    day
}

#[test]
fn the_runner_refuses_a_bad_target_file_naming_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |text: &str| {
        let file = dir.path().join("target.toml");
        std::fs::write(&file, text).unwrap();
        let output = persona_command(dir.path())
            .args(["runner", "--db", "sqlite://unused.db", "--target"])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = refused(
        "[mcp]\nurl = \"ftp://app\"\n[auth]\nkind = \"oauth2\"\n[tools]\nexclude = [\"a*b\"]\n",
    );
    for expected in [
        "the target file",
        "mcp.url: \"ftp://app\" is not an http:// or https:// URL",
        "auth.grant: missing",
        "auth.client_id: give the OAuth client's id",
        "tools.exclude[0]",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in:\n{stderr}");
    }
    let stderr = refused("[mcp]\ncommand = \"no-such-mcp-server\"\n[auth]\nkind = \"none\"\n");
    assert!(
        stderr.contains("mcp.command: \"no-such-mcp-server\" is not a program"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("unused.db").exists(),
        "nothing was touched before the file was checked"
    );
}

/// The official MCP "everything" server (`@modelcontextprotocol/server-everything`
/// from npm, on the TypeScript SDK), over Streamable HTTP on a free port,
/// killed when dropped. `None` when it is not installed (`.ci/run` installs
/// it and names it in `PERSONA_TEST_EVERYTHING`; under CI a missing one
/// fails).
pub(crate) struct Everything {
    child: std::process::Child,
    pub(crate) url: String,
}

impl Everything {
    /// `examples/targets/everything-http.toml`, pointed at this server,
    /// written into `dir`.
    pub(crate) fn example_target(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let example = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/targets/everything-http.toml"
        ))
        .unwrap();
        let file = dir.join("everything.toml");
        std::fs::write(
            &file,
            example.replace("http://127.0.0.1:3001/mcp", &self.url),
        )
        .unwrap();
        file
    }
}

impl Drop for Everything {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn everything_server() -> Option<Everything> {
    use std::io::BufRead as _;
    let Ok(script) = std::env::var("PERSONA_TEST_EVERYTHING") else {
        let message = "PERSONA_TEST_EVERYTHING (server-everything's dist/index.js) is not set";
        if std::env::var("CI").is_ok_and(|value| value == "true") {
            panic!("{message}; .ci/run installs it");
        }
        eprintln!("\n*** SKIPPED: {message} ***\n");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new("node")
        .arg(&script)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs server-everything");
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let listening = lines
        .by_ref()
        .take(50)
        .map_while(Result::ok)
        .any(|line| line.contains("listening on port"));
    assert!(listening, "server-everything did not start");
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Some(Everything {
        child,
        url: format!("http://127.0.0.1:{port}/mcp"),
    })
}

/// Personas tick against a server nobody here wrote: they list its tools,
/// call the ones the target file lets through, and their rows and their
/// ratings (per the target's modules) are stored.
#[tokio::test]
async fn personas_tick_against_the_official_everything_server() {
    let Some(server) = everything_server() else {
        return;
    };
    let gateway = gateway_with_personas().await;
    let target = Target::from_toml(&format!(
        r#"
[mcp]
url = "{url}"

[auth]
kind = "none"

[headers]
x-persona = "{{persona.email}}"

[tools]
include = ["echo", "get-sum", "get-tiny-image", "get-annotated-message", "get-structured-content"]

[modules]
get-sum = "math"
get-tiny-image = "media"
get-annotated-message = "media"

[prompt]
language = "en"
"#,
        url = server.url
    ))
    .unwrap();
    let Day {
        tools,
        modules,
        errors: failures,
        prompts,
    } = day_on(&gateway, target).await;
    assert!(
        prompts.iter().all(|prompt| prompt
            .contains("Spend an ordinary day with the app Everything Reference Server")),
        "the day prompt in the target's language, with the server's own name: {prompts:?}"
    );
    println!("tools called: {tools:?}\nmodules rated: {modules:?}\nerrors: {failures:?}");
    assert!(
        !tools.is_empty(),
        "the personas called the server's tools: {failures:?}"
    );
    assert!(
        tools.iter().all(|tool| [
            "echo",
            "get-sum",
            "get-tiny-image",
            "get-annotated-message",
            "get-structured-content"
        ]
        .contains(&tool.as_str())),
        "{tools:?}"
    );
    assert!(!modules.is_empty(), "the modules used were rated");
    for module in &modules {
        assert!(
            [
                "echo",
                "math",
                "media",
                "get-structured-content",
                catalog::PARSE_FAILURE_MODULE
            ]
            .contains(&module.as_str()),
            "rated {module}"
        );
    }
}

/// The whole system in one command, pointed at a server nobody here wrote:
/// `persona up --once --target FILE` keeps the personas and their rows in
/// its own database and ticks every one of them against server-everything.
#[tokio::test]
async fn persona_up_once_ticks_everyone_against_the_everything_server() {
    let Some(server) = everything_server() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = server.example_target(dir.path());
    let output = persona_command(dir.path())
        .args(["up", "--once", "--gateway-addr", "127.0.0.1:0", "--target"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "personas use the target's MCP server at {}",
            server.url
        )),
        "{stdout}"
    );
    assert!(stdout.contains("10 ticks"), "{stdout}");
    // The built-in catalog was made for the built-in app: its modules are
    // named at start as ones this server has no tools for.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("its module mix names \"todo\", but no tool of the target belongs to it"),
        "{stderr}"
    );
}

/// The same server over stdio: one process per persona session, started
/// with the persona's arguments and environment, stopped when it ends.
#[tokio::test]
async fn personas_tick_against_the_everything_server_over_stdio() {
    let Ok(script) = std::env::var("PERSONA_TEST_EVERYTHING") else {
        if std::env::var("CI").is_ok_and(|value| value == "true") {
            panic!("PERSONA_TEST_EVERYTHING is not set; .ci/run installs server-everything");
        }
        eprintln!("\n*** SKIPPED: PERSONA_TEST_EVERYTHING is not set ***\n");
        return;
    };
    let gateway = gateway_with_personas().await;
    let target = Target::from_toml(&format!(
        r#"
[mcp]
command = "node"
args = [{script:?}, "stdio"]
env = {{ PERSONA_EMAIL = "{{persona.email}}" }}

[auth]
kind = "none"

[tools]
include = ["echo", "get-sum"]

[modules]
get-sum = "math"
"#
    ))
    .unwrap();
    let Day {
        tools,
        modules,
        errors,
        ..
    } = day_on(&gateway, target).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert!(!tools.is_empty());
    assert!(
        tools.iter().all(|tool| tool == "echo" || tool == "get-sum"),
        "{tools:?}"
    );
    assert!(
        modules.iter().all(
            |module| ["echo", "math", catalog::PARSE_FAILURE_MODULE].contains(&module.as_str())
        ),
        "{modules:?}"
    );
}

/// A memo server on the official Python SDK's `MCPServer` (FastMCP before
/// its 2.x rename), over stdio: the way most third-party servers name their
/// tools (`memo_add`, `weather`), each tool's module found by the default
/// rule.
const PYTHON_SERVER: &str = r#"
from mcp.server.mcpserver import MCPServer

server = MCPServer("memos")
memos: list[str] = []

@server.tool()
def memo_add(text: str) -> str:
    """Keeps a short memo."""
    if not text.strip():
        raise ValueError("a memo needs text")
    memos.append(text)
    return f"memo {len(memos)} kept"

@server.tool()
def memo_list() -> list[str]:
    """Every memo kept so far."""
    return memos

@server.tool()
def weather(city: str) -> str:
    """Today's weather in a city."""
    return f"sunny in {city}"

server.run("stdio")
"#;

#[tokio::test]
async fn personas_tick_against_a_python_sdk_server_over_stdio() {
    let available = std::process::Command::new("python3")
        .args(["-c", "import mcp.server.mcpserver"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !available {
        if std::env::var("CI").is_ok_and(|value| value == "true") {
            panic!("the MCP Python SDK (mcp>=2) is missing; .ci/run installs it");
        }
        eprintln!("\n*** SKIPPED: the MCP Python SDK (mcp>=2) is not installed ***\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("memos.py");
    std::fs::write(&script, PYTHON_SERVER).unwrap();
    let gateway = gateway_with_personas().await;
    let target = Target::from_toml(&format!(
        r#"
[mcp]
command = "python3"
args = [{script:?}]

[auth]
kind = "none"
"#,
        script = script.display().to_string()
    ))
    .unwrap();
    let Day {
        tools,
        modules,
        prompts,
        errors,
    } = day_on(&gateway, target).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert!(
        prompts
            .iter()
            .all(|prompt| prompt.contains("mit der App memos")),
        "without a name in the target, the server's own: {prompts:?}"
    );
    assert!(!tools.is_empty());
    assert!(
        tools
            .iter()
            .all(|tool| ["memo_add", "memo_list", "weather"].contains(&tool.as_str())),
        "{tools:?}"
    );
    assert!(
        modules
            .iter()
            .all(|module| ["memo", "weather", catalog::PARSE_FAILURE_MODULE]
                .contains(&module.as_str())),
        "{modules:?}"
    );
    assert!(
        modules
            .iter()
            .any(|module| module == "memo" || module == "weather")
    );
}

/// A target that cannot work is refused at start, naming the setting: a
/// filter that lets none of the server's tools through, a module map naming
/// a tool the server does not list, a server nobody answers at.
#[tokio::test]
async fn persona_up_refuses_a_target_its_server_contradicts() {
    let Some(server) = everything_server() else {
        return;
    };
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/mcp", listener.local_addr().unwrap())
    };
    for (target, expected) in [
        (
            format!(
                "[mcp]\nurl = \"{}\"\n[auth]\nkind = \"none\"\n[tools]\ninclude = [\"todo.*\"]\n",
                server.url
            ),
            "tools.include/exclude let none through",
        ),
        (
            format!(
                "[mcp]\nurl = \"{}\"\n[auth]\nkind = \"none\"\n[modules]\ncreate_entities = \"graph\"\n",
                server.url
            ),
            "modules.create_entities: the server lists no tool \"create_entities\"",
        ),
        (
            format!("[mcp]\nurl = \"{closed}\"\n[auth]\nkind = \"none\"\n"),
            "checking the target: opening its MCP server",
        ),
        (
            // A stdio server that exits at once.
            "[mcp]\ncommand = \"false\"\n[auth]\nkind = \"none\"\n".to_owned(),
            "checking the target: opening its MCP server (stdio: false)",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("target.toml");
        std::fs::write(&file, target).unwrap();
        let output = persona_command(dir.path())
            .args(["up", "--once", "--gateway-addr", "127.0.0.1:0", "--target"])
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{expected:?} in:\n{stderr}");
    }
}

/// The issue's own command: `persona run --once` with a target file and a
/// catalog whose personas' module mixes name the target's modules.
#[tokio::test]
async fn persona_run_once_ticks_a_catalog_made_for_the_target() {
    let Some(server) = everything_server() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = server.example_target(dir.path());
    let output = persona_command(dir.path())
        .args(["run", "--once", "--target"])
        .arg(&file)
        .arg("--catalog")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/targets/everything-personas.json"
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("seeding 3 personas"), "{stdout}");
    assert!(
        !stdout.contains("gateway listening"),
        "the built-in app is not served: {stdout}"
    );
    assert!(stdout.contains("3 ticks (3 ok)"), "{stdout}");

    // The runner's own tables, in a file beside the target: personas keyed
    // by their email, nothing of the built-in app's schema.
    let url = format!(
        "sqlite://{}",
        dir.path().join("everything.persona.db").display()
    );
    let own = gateway::store::Store::connect_schema(&url, gateway::store::Schema::Runner)
        .await
        .unwrap();
    let personas = own.list_personas(chrono::Utc::now()).await.unwrap();
    let ids: Vec<&str> = personas
        .iter()
        .map(|p| p.persona.user_id.as_str())
        .collect();
    assert!(ids.contains(&"greta.lang@mana.test"), "{ids:?}");
    own.close().await;
    assert!(matches!(
        gateway::store::Store::connect(&url).await,
        Err(gateway::StoreError::WrongSchema { .. })
    ));

    let refused = persona_command(dir.path())
        .args(["run", "--once"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("persona run needs a target file"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// `mcp.protocol = "auto"` finds out what a server speaks with the first
/// session and opens the later ones straight that way: the built-in app
/// (rmcp's server) answers the stateless 2026-07-28 revision; a pinned
/// revision is used as given.
#[tokio::test]
async fn the_mcp_revision_is_found_out_once_and_pinned_ones_are_kept() {
    let gateway = gateway_with_personas().await;
    let persona = gateway
        .store
        .persona_by_id_or_email("anna.keller@mana.test")
        .await
        .unwrap();
    let password = catalog::derive_password(&catalog::SeedSecret::dev_fallback(), &persona.email);
    let session = runner::app_login::ManaLogin::new(&gateway.url)
        .unwrap()
        .log_in(&persona.email, &password)
        .await
        .unwrap();
    let profile = runner::wiring::profile(&persona);
    for (setting, expected) in [
        ("auto", "2026-07-28"),
        ("2026-07-28", "2026-07-28"),
        ("2025-11-25", "2025-11-25"),
    ] {
        let mut target = Target::builtin(&gateway.url);
        target.mcp = catalog::target::McpServer::Http {
            url: format!("{}/mcp", gateway.url),
            protocol: match setting {
                "auto" => catalog::target::Protocol::Auto,
                "2026-07-28" => catalog::target::Protocol::Stateless,
                _ => catalog::target::Protocol::Sessions,
            },
        };
        let endpoint = actors::mcp_client::McpEndpoint::for_target(&target).unwrap();
        assert_eq!(endpoint.protocol(), setting);
        for _ in 0..2 {
            let mcp = endpoint.open(&session, &profile).await.unwrap();
            let tools = mcp.list_tool_names().await.unwrap();
            assert!(tools.iter().any(|tool| tool == "todo.list"), "{tools:?}");
            mcp.close().await;
            assert_eq!(endpoint.protocol(), expected, "{setting}");
        }
    }

    // server-everything (the TypeScript SDK) speaks 2025-11-25 only: auto
    // falls back to the session handshake, and a pinned 2026-07-28 fails
    // with the server's answer.
    let Some(server) = everything_server() else {
        return;
    };
    for (protocol, expected) in [
        (catalog::target::Protocol::Auto, Some("2025-11-25")),
        (catalog::target::Protocol::Stateless, None),
    ] {
        let mut target = Target::builtin(&gateway.url);
        target.auth = catalog::target::Auth::None;
        target.headers.clear();
        target.mcp = catalog::target::McpServer::Http {
            url: server.url.clone(),
            protocol,
        };
        let endpoint = actors::mcp_client::McpEndpoint::for_target(&target).unwrap();
        let opened = endpoint.open(&session, &profile).await;
        match expected {
            Some(expected) => {
                let mcp = opened.unwrap();
                assert!(!mcp.list_tool_names().await.unwrap().is_empty());
                mcp.close().await;
                assert_eq!(endpoint.protocol(), expected);
            }
            None => {
                let error = opened.err().unwrap().to_string();
                assert!(error.contains("could not be opened"), "{error}");
            }
        }
    }
}

/// `persona catalog init` writes a starter catalog from what the target's
/// server lists (marked as a draft), and `persona run` ticks its personas
/// against that server, warning that the catalog is a draft.
#[tokio::test]
async fn catalog_init_writes_a_draft_that_persona_run_ticks() {
    let Some(server) = everything_server() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = server.example_target(dir.path());
    let init = || {
        tokio::process::Command::from({
            let mut command = persona_command(dir.path());
            command
                .args(["catalog", "init", "--target"])
                .arg(&file)
                .args(["--out", "draft.json"]);
            command
        })
        .output()
    };
    let output = init().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("3 draft personas"), "{stdout}");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("draft.json")).unwrap())
            .unwrap();
    assert!(
        written["draft"]
            .as_str()
            .unwrap()
            .contains("persona catalog init")
    );
    let archetypes: Vec<&str> = written["personas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|persona| persona["archetype"].as_str().unwrap())
        .collect();
    assert_eq!(archetypes, ["solo-dev", "overwhelmed-newbie", "ceo-busy"]);
    for persona in written["personas"].as_array().unwrap() {
        for module in persona["moduleMix"].as_object().unwrap().keys() {
            assert!(
                ["echo", "math", "media", "get-structured-content"].contains(&module.as_str()),
                "a module the target maps its tools to: {module}"
            );
        }
    }

    let again = init().await.unwrap();
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing file is never overwritten"
    );

    let output = tokio::process::Command::from({
        let mut command = persona_command(dir.path());
        command
            .args(["run", "--once", "--target"])
            .arg(&file)
            .args(["--catalog", "draft.json"]);
        command
    })
    .output()
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("3 ticks (3 ok)"), "{stdout}");
    assert!(stderr.contains("this catalog is a draft"), "{stderr}");
}

/// Every example target file loads (the README points at them).
#[test]
fn every_example_target_file_loads() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/targets");
    let mut loaded = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            Target::from_path(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            loaded += 1;
        }
    }
    assert!(loaded >= 4, "{loaded} example target files");
}
