//! The app under test, as a target file (TOML) describes it: where its MCP
//! server is, how a persona logs in, which headers each MCP request carries
//! (templated per persona), which tools the personas may call and which
//! module each tool belongs to. The built-in app is one target
//! ([`Target::builtin`]), the default.
//!
//! ```toml
//! [mcp]
//! url = "http://127.0.0.1:3000/mcp"
//! protocol = "auto"                          # or "2026-07-28" (stateless), "2025-11-25" (sessions)
//! # or a stdio server, one process per persona session:
//! # command = "npx"
//! # args = ["-y", "@modelcontextprotocol/server-everything", "stdio"]
//! # env = { TENANT = "{persona.email}" }
//!
//! [auth]                                     # "none", "bearer", "oauth2": see `auth`
//! kind = "login"                             # the derived password, through the app's routes
//! url = "http://127.0.0.1:3000"
//! login_path = "/api/v1/auth/login"
//! spaces_path = "/api/v1/spaces"
//! space_type = "personal"
//!
//! [headers]                                  # {persona.id}, {persona.email}, {persona.name}, {space_id}
//! x-mana-space = "{space_id}"
//!
//! [tools]
//! include = []                               # empty: every tool the server lists
//! exclude = ["todo.delete", "admin.*"]       # never offered, never called
//!
//! [modules]                                  # default: the text before the first `.`, `/` or `_`
//! create_entities = "graph"
//!
//! [prompt]
//! app = "Mana"                                 # the app's name in the day prompt; default: the server's own
//! language = "de"                              # or "en": the day and rating prompts, the day log
//! day = "Heute ist {weekday}, der {date}. …"   # the day prompt; default: the language's own (see `PromptSettings`)
//! ```
//!
//! Loading reports every problem at once, each named by its setting
//! (`auth.kind`, `headers.x-tenant`, `tools.exclude[1]`), as the catalog
//! does. MCP goes over Streamable HTTP (the stateless 2026-07-28 revision
//! where the server offers it) or stdio.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::modules::module_of;

mod auth;

pub use auth::{Auth, ClientAuth, Grant, LoginRoutes, OAuth2, SecretSource};

/// A loaded, checked target.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Where the MCP server is.
    pub mcp: McpServer,
    pub auth: Auth,
    /// Headers every MCP request carries, by lower-case name.
    pub headers: BTreeMap<String, Template>,
    pub tools: ToolFilter,
    pub modules: ModuleMap,
    /// How the personas are addressed: the app's name, the language, the
    /// day prompt.
    pub prompt: PromptSettings,
}

/// `[prompt]`: what the personas are told each day.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PromptSettings {
    /// The app's name in the day prompt; `None`: the name the server gives
    /// itself when a session opens.
    pub app: Option<String>,
    pub language: Language,
    /// The day prompt with its placeholders ([`DAY_PLACEHOLDERS`]); `None`:
    /// the language's own.
    pub day: Option<String>,
}

/// What a day prompt template may say: the persona's memory of the days
/// before (empty on its first), the weekday and date, the app's name, the
/// persona's name, its modules with their shares.
pub const DAY_PLACEHOLDERS: [&str; 6] = [
    "{memory}",
    "{weekday}",
    "{date}",
    "{app}",
    "{persona.name}",
    "{modules}",
];

/// The language the personas are addressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    /// German, the built-in catalog's language.
    #[default]
    German,
    English,
}

/// Where the MCP server is and how to reach it.
#[derive(Debug, Clone, PartialEq)]
pub enum McpServer {
    /// Streamable HTTP at this URL; each request carries the target's headers.
    Http { url: String, protocol: Protocol },
    /// A process speaking MCP on its stdin and stdout, started for each
    /// persona session (`args` and `env` filled per persona).
    Stdio {
        command: String,
        args: Vec<Template>,
        env: BTreeMap<String, Template>,
    },
}

impl McpServer {
    /// How it is named in logs and messages: its URL, or its command
    /// without arguments.
    pub fn describe(&self) -> String {
        match self {
            McpServer::Http { url, .. } => url.clone(),
            // Its arguments may hold secrets; they are not shown.
            McpServer::Stdio { command, .. } => format!("stdio: {command}"),
        }
    }
}

/// Which MCP revision a persona's connection speaks over HTTP
/// (`mcp.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// The stateless 2026-07-28 revision when the server answers
    /// `server/discover`, else the 2025-11-25 session handshake.
    #[default]
    Auto,
    /// 2026-07-28 only: no `initialize`, no session; a server without it
    /// is an error.
    Stateless,
    /// 2025-11-25 only: `initialize`, a session id, a `DELETE` at the end.
    Sessions,
}

impl Protocol {
    /// Its setting's value in a target file.
    pub fn as_setting(self) -> &'static str {
        match self {
            Protocol::Auto => "auto",
            Protocol::Stateless => "2026-07-28",
            Protocol::Sessions => "2025-11-25",
        }
    }
}

/// A header value with placeholders, filled per persona.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(String);

/// What a [`Template`]'s placeholders are filled with.
#[derive(Debug, Clone, Copy)]
pub struct TemplateValues<'a> {
    pub persona_id: &'a str,
    pub persona_email: &'a str,
    pub persona_name: &'a str,
    pub space_id: &'a str,
}

/// Headers the MCP client sets itself; a target may not set them.
const RESERVED_HEADERS: [&str; 6] = [
    "accept",
    "content-type",
    "content-length",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];

/// The placeholders a template may use.
const PLACEHOLDERS: [&str; 4] = [
    "{persona.id}",
    "{persona.email}",
    "{persona.name}",
    "{space_id}",
];

impl Template {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text with every placeholder filled.
    pub fn render(&self, values: TemplateValues<'_>) -> String {
        self.0
            .replace("{persona.id}", values.persona_id)
            .replace("{persona.email}", values.persona_email)
            .replace("{persona.name}", values.persona_name)
            .replace("{space_id}", values.space_id)
    }

    /// `value` as the template of `setting`, its problems added to
    /// `problems`: an unknown placeholder, `{space_id}` without a login
    /// (`login`), a control character.
    fn checked(
        setting: String,
        value: String,
        login: bool,
        problems: &mut Vec<String>,
    ) -> Template {
        if let Some(unknown) = Template::unknown_placeholder(&value) {
            problems.push(format!(
                "{setting}: {unknown} is not a placeholder (use {})",
                PLACEHOLDERS.join(", ")
            ));
        }
        if !login && value.contains("{space_id}") {
            problems.push(format!(
                "{setting}: {{space_id}} needs auth.kind = \"login\" (only a login picks a space)"
            ));
        }
        if value.chars().any(char::is_control) {
            problems.push(format!("{setting}: the value holds a control character"));
        }
        Template(value)
    }

    fn unknown_placeholder(text: &str) -> Option<&str> {
        unknown_placeholder(text, &PLACEHOLDERS)
    }

    /// Whether the text is a valid HTTP header value: visible ASCII,
    /// spaces and tabs.
    pub fn is_header_value(text: &str) -> bool {
        text.bytes()
            .all(|byte| byte == b'\t' || (0x20..0x7f).contains(&byte))
    }
}

/// Which tools personas may use: those `include` matches (every tool when
/// it is empty) and `exclude` does not. A pattern is a tool name, or a
/// prefix ending in `*`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ToolFilter {
    include: Vec<String>,
    exclude: Vec<String>,
}

impl ToolFilter {
    pub fn allows(&self, tool: &str) -> bool {
        let matches = |pattern: &String| match pattern.strip_suffix('*') {
            Some(prefix) => tool.starts_with(prefix),
            None => tool == pattern,
        };
        (self.include.is_empty() || self.include.iter().any(matches))
            && !self.exclude.iter().any(matches)
    }

    /// Whether it lets every tool through.
    pub fn is_open(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }
}

/// Which module a tool belongs to: the target's explicit map, else
/// [`module_of`]'s default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModuleMap {
    explicit: BTreeMap<String, String>,
}

impl ModuleMap {
    pub fn module_of<'a>(&'a self, tool: &'a str) -> &'a str {
        self.explicit
            .get(tool)
            .map_or_else(|| module_of(tool), String::as_str)
    }
}

impl Target {
    /// Checks that every header, filled for one persona, can travel: a
    /// persona's name or email may hold what a header cannot.
    pub fn check_persona(&self, values: TemplateValues<'_>) -> Result<(), TargetError> {
        let problems: Vec<String> = self
            .headers
            .iter()
            .filter(|(_, template)| !Template::is_header_value(&template.render(values)))
            .map(|(name, _)| {
                format!(
                    "headers.{name}: filled for {}, it holds what a header cannot (only visible ASCII)",
                    values.persona_email
                )
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(TargetError { problems })
        }
    }

    /// Checks the file against the tools its server lists (every name,
    /// before any filter): the server must list some, the filter must let
    /// one through, and the module map must name listed tools.
    pub fn check_tools(&self, listed: &[String]) -> Result<(), TargetError> {
        let mut problems = Vec::new();
        if listed.is_empty() {
            problems.push(format!(
                "mcp: the server at {} lists no tools",
                self.mcp.describe()
            ));
        } else if !listed.iter().any(|tool| self.tools.allows(tool)) {
            let shown: Vec<&str> = listed.iter().take(8).map(String::as_str).collect();
            problems.push(format!(
                "tools: the server lists {} tools ({}{}), and tools.include/exclude let none through",
                listed.len(),
                shown.join(", "),
                if listed.len() > shown.len() { ", …" } else { "" }
            ));
        }
        for tool in self.modules.explicit.keys() {
            if !listed.contains(tool) {
                problems.push(format!("modules.{tool}: the server lists no tool {tool:?}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(TargetError { problems })
        }
    }
}

/// Every problem found in a target file, each naming its setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the target file has {} problem(s):\n  {}", .problems.len(), .problems.join("\n  "))]
pub struct TargetError {
    pub problems: Vec<String>,
}

impl TargetError {
    fn one(problem: String) -> TargetError {
        TargetError {
            problems: vec![problem],
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    mcp: RawMcp,
    auth: auth::RawAuth,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    tools: RawTools,
    #[serde(default)]
    modules: BTreeMap<String, String>,
    #[serde(default)]
    prompt: RawPrompt,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPrompt {
    app: Option<String>,
    language: Option<String>,
    day: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMcp {
    url: Option<String>,
    protocol: Option<String>,
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTools {
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
}

impl Target {
    /// The built-in app at `app_url` (its MCP server at `{app_url}/mcp`).
    pub fn builtin(app_url: &str) -> Target {
        let url = app_url.trim_end_matches('/').to_owned();
        Target {
            mcp: McpServer::Http {
                url: format!("{url}/mcp"),
                protocol: Protocol::Auto,
            },
            auth: Auth::Login(LoginRoutes::builtin(&url)),
            headers: BTreeMap::from([(
                crate::SPACE_HEADER.to_owned(),
                Template("{space_id}".to_owned()),
            )]),
            tools: ToolFilter::default(),
            modules: ModuleMap::default(),
            prompt: PromptSettings {
                app: Some("Mana".to_owned()),
                ..PromptSettings::default()
            },
        }
    }

    /// Reads and checks a target file.
    pub fn from_path(path: &Path) -> Result<Target, TargetError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| TargetError::one(format!("reading {}: {error}", path.display())))?;
        let mut target = Target::from_toml(&text)?;
        if let Some(dir) = path.parent() {
            target.auth.resolve_files(dir);
        }
        Ok(target)
    }

    /// Parses and checks a target file's text, reporting every problem.
    pub fn from_toml(text: &str) -> Result<Target, TargetError> {
        let raw: RawTarget = toml::from_str(text).map_err(|error| {
            // toml names the key and the line; keep its message whole.
            TargetError::one(error.to_string().trim_end().to_owned())
        })?;
        let mut problems = Vec::new();
        let auth = raw.auth.parse(&mut problems);
        let login = matches!(auth, Some(Auth::Login(_)));
        let stdio = raw.mcp.command.is_some();
        let args: Vec<Template> = raw
            .mcp
            .args
            .into_iter()
            .enumerate()
            .map(|(index, arg)| {
                Template::checked(format!("mcp.args[{index}]"), arg, login, &mut problems)
            })
            .collect();
        let env: BTreeMap<String, Template> = raw
            .mcp
            .env
            .into_iter()
            .map(|(name, value)| {
                let value =
                    Template::checked(format!("mcp.env.{name}"), value, login, &mut problems);
                (name, value)
            })
            .collect();
        let mut headers = BTreeMap::new();
        for (name, value) in raw.headers {
            let lower = name.to_ascii_lowercase();
            let valid_name = !lower.is_empty()
                && lower
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte));
            if !valid_name {
                problems.push(format!("headers.{name}: not a valid header name"));
            }
            if headers.contains_key(&lower) {
                problems.push(format!(
                    "headers.{name}: given twice (header names ignore case)"
                ));
            }
            let credentials = auth.as_ref().is_some_and(Auth::sends_credentials);
            if RESERVED_HEADERS.contains(&lower.as_str())
                || (credentials && lower == "authorization")
            {
                problems.push(format!(
                    "headers.{name}: set by the MCP client itself{}",
                    if lower == "authorization" {
                        " (the auth's token)"
                    } else {
                        ""
                    }
                ));
            }
            if !Template::is_header_value(&value) {
                problems.push(format!(
                    "headers.{name}: only visible ASCII can travel in a header"
                ));
            }
            let value = Template::checked(format!("headers.{name}"), value, login, &mut problems);
            headers.insert(lower, value);
        }
        let mcp = match (raw.mcp.url, raw.mcp.command) {
            (Some(url), None) => {
                check_url("mcp.url", &url, &mut problems);
                if !args.is_empty() || !env.is_empty() {
                    problems.push("mcp.args, mcp.env: only with mcp.command".to_owned());
                }
                let protocol = match raw.mcp.protocol.as_deref() {
                    None | Some("auto") => Protocol::Auto,
                    Some("2026-07-28") => Protocol::Stateless,
                    Some("2025-11-25") => Protocol::Sessions,
                    Some(other) => {
                        problems.push(format!(
                            "mcp.protocol: {other:?} is not \"auto\", \"2026-07-28\" or \"2025-11-25\""
                        ));
                        Protocol::Auto
                    }
                };
                Some(McpServer::Http { url, protocol })
            }
            (None, Some(command)) => {
                if raw.mcp.protocol.is_some() {
                    problems.push(
                        "mcp.protocol: only for mcp.url (stdio has no HTTP revisions)".to_owned(),
                    );
                }
                if command.trim().is_empty() {
                    problems.push("mcp.command: name the program to start".to_owned());
                }
                Some(McpServer::Stdio { command, args, env })
            }
            (Some(_), Some(_)) => {
                problems.push("mcp: give mcp.url or mcp.command, not both".to_owned());
                None
            }
            (None, None) => {
                problems.push("mcp.url: give the MCP server's URL (or mcp.command)".to_owned());
                None
            }
        };
        if stdio && matches!(auth, Some(Auth::Bearer(_) | Auth::OAuth2(_))) {
            problems.push(
                "auth.kind: a stdio server takes no HTTP credentials (pass them in mcp.env, or use auth.kind = \"none\")"
                    .to_owned(),
            );
        }
        if stdio && !headers.is_empty() {
            problems.push("headers: only for mcp.url (a stdio server gets mcp.env)".to_owned());
        }
        for (list, patterns) in [
            ("include", &raw.tools.include),
            ("exclude", &raw.tools.exclude),
        ] {
            for (index, pattern) in patterns.iter().enumerate() {
                let body = pattern.strip_suffix('*').unwrap_or(pattern);
                if pattern.is_empty() || pattern == "*" || body.contains('*') {
                    problems.push(format!(
                        "tools.{list}[{index}]: {pattern:?} must be a tool name, or a prefix ending in *"
                    ));
                }
            }
        }
        if raw
            .prompt
            .app
            .as_ref()
            .is_some_and(|app| app.trim().is_empty())
        {
            problems.push("prompt.app: give the app's name, or leave it out".to_owned());
        }
        let language = match raw.prompt.language.as_deref() {
            None | Some("de") => Language::German,
            Some("en") => Language::English,
            Some(other) => {
                problems.push(format!(
                    "prompt.language: {other:?} is not \"de\" or \"en\""
                ));
                Language::German
            }
        };
        if let Some(day) = &raw.prompt.day {
            if day.trim().is_empty() {
                problems.push("prompt.day: give the day prompt, or leave it out".to_owned());
            }
            if let Some(unknown) = unknown_placeholder(day, &DAY_PLACEHOLDERS) {
                problems.push(format!(
                    "prompt.day: {unknown} is not a placeholder (use {})",
                    DAY_PLACEHOLDERS.join(", ")
                ));
            }
        }
        for (tool, module) in &raw.modules {
            if module.trim().is_empty() {
                problems.push(format!("modules.{tool}: name the module"));
            } else if module
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || "[]#→".contains(c))
            {
                problems.push(format!(
                    "modules.{tool}: {module:?} may not hold spaces, brackets, # or →"
                ));
            }
        }
        match (auth, mcp) {
            (Some(auth), Some(mcp)) if problems.is_empty() => Ok(Target {
                mcp,
                auth,
                headers,
                tools: ToolFilter {
                    include: raw.tools.include,
                    exclude: raw.tools.exclude,
                },
                modules: ModuleMap {
                    explicit: raw.modules,
                },
                prompt: PromptSettings {
                    app: raw.prompt.app,
                    language,
                    day: raw.prompt.day,
                },
            }),
            _ => Err(TargetError { problems }),
        }
    }
}

/// The first `{…}` in `text` that is not one of `known`. Only `{word}` or
/// `{word.word}` counts as a placeholder, so JSON and other braces in a
/// value pass through as they are.
fn unknown_placeholder<'a>(text: &'a str, known: &[&str]) -> Option<&'a str> {
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let tail = &rest[start..];
        let end = tail.find('}').map(|end| end + 1)?;
        let candidate = &tail[..end];
        let shaped = candidate[1..end - 1]
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte == b'_' || byte == b'.')
            && end > 2;
        if shaped && !known.contains(&candidate) {
            return Some(candidate);
        }
        rest = &tail[1..];
    }
    None
}

fn check_url(setting: &str, url: &str, problems: &mut Vec<String>) {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    if rest.is_none_or(|rest| rest.is_empty() || rest.starts_with('/')) {
        problems.push(format!(
            "{setting}: {url:?} is not an http:// or https:// URL"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[mcp]
url = "http://127.0.0.1:9000/mcp"

[auth]
kind = "login"
url = "http://127.0.0.1:9000/"
space_type = "team"

[headers]
X-Tenant = "{persona.email}"
x-mana-space = "{space_id}"

[tools]
exclude = ["todo.delete", "admin.*"]

[modules]
create_entities = "graph"

[prompt]
app = "Notizen"
"#;

    fn values() -> TemplateValues<'static> {
        TemplateValues {
            persona_id: "p1",
            persona_email: "anna@example.test",
            persona_name: "Anna",
            space_id: "s1",
        }
    }

    #[test]
    fn a_target_file_reads_into_its_settings_with_defaults() {
        let target = Target::from_toml(EXAMPLE).unwrap();
        assert_eq!(
            target.mcp,
            McpServer::Http {
                url: "http://127.0.0.1:9000/mcp".into(),
                protocol: Protocol::Auto,
            }
        );
        let Auth::Login(routes) = &target.auth else {
            panic!("a login target: {:?}", target.auth)
        };
        assert_eq!(routes.url, "http://127.0.0.1:9000");
        assert_eq!(routes.login_path, "/api/v1/auth/login");
        assert_eq!(routes.space_type, "team");
        assert_eq!(
            target.headers["x-tenant"].render(values()),
            "anna@example.test"
        );
        assert_eq!(target.headers["x-mana-space"].render(values()), "s1");
        assert!(target.tools.allows("todo.list"));
        assert!(!target.tools.allows("todo.delete"));
        assert!(!target.tools.allows("admin.users"));
        assert_eq!(target.modules.module_of("create_entities"), "graph");
        assert_eq!(target.modules.module_of("read_graph"), "read");
        assert_eq!(target.prompt.app.as_deref(), Some("Notizen"));
        assert_eq!(target.prompt.language, Language::German);
    }

    #[test]
    fn the_builtin_target_is_todays_app() {
        let target = Target::builtin("http://127.0.0.1:3000/");
        assert_eq!(target.mcp.describe(), "http://127.0.0.1:3000/mcp");
        assert_eq!(target.headers[crate::SPACE_HEADER].as_str(), "{space_id}");
        assert!(target.tools.is_open());
    }

    #[test]
    fn what_the_server_lists_is_checked_against_the_file() {
        let target = Target::from_toml(EXAMPLE).unwrap();
        let listed = |names: &[&str]| {
            names
                .iter()
                .map(|name| (*name).to_owned())
                .collect::<Vec<_>>()
        };
        let problems = |names: &[&str]| {
            target
                .check_tools(&listed(names))
                .map_err(|error| error.problems.join("\n"))
        };
        assert!(problems(&["todo.list", "create_entities"]).is_ok());
        let none = problems(&[]).unwrap_err();
        assert!(none.contains("lists no tools"), "{none}");
        assert!(
            problems(&["todo.delete", "admin.users", "create_entities"]).is_ok(),
            "create_entities gets through"
        );
        let blocked = problems(&["todo.delete", "admin.users"]).unwrap_err();
        assert!(blocked.contains("tools: the server lists 2 tools (todo.delete, admin.users), and tools.include/exclude let none through"), "{blocked}");
        assert!(
            blocked.contains("modules.create_entities: the server lists no tool"),
            "{blocked}"
        );
    }

    #[test]
    fn headers_the_client_sets_or_cannot_send_are_refused() {
        let error = Target::from_toml(
            "[mcp]\nurl = \"http://h/mcp\"\n[auth]\nkind = \"login\"\nurl = \"http://h\"\n\
             [headers]\nX-Tenant = \"a\"\nx-tenant = \"b\"\nmcp-session-id = \"c\"\n\
             authorization = \"Bearer x\"\nx-city = \"Zürich\"\n\
             [modules]\n\"a.b\" = \"two words\"\n",
        )
        .unwrap_err();
        let problems = error.problems.join("\n");
        for expected in [
            "given twice (header names ignore case)",
            "headers.mcp-session-id: set by the MCP client itself",
            "headers.authorization: set by the MCP client itself (the auth's token)",
            "headers.x-city: only visible ASCII",
            "modules.a.b: \"two words\" may not hold spaces",
        ] {
            assert!(problems.contains(expected), "{expected:?} in:\n{problems}");
        }
        // JSON in an argument is no placeholder.
        let target = Target::from_toml(
            "[mcp]\ncommand = \"node\"\nargs = ['{\"a\":1}', \"{persona.id}\"]\n[auth]\nkind = \"none\"\n",
        )
        .unwrap();
        let McpServer::Stdio { args, .. } = &target.mcp else {
            panic!("{:?}", target.mcp)
        };
        assert_eq!(args[0].render(values()), "{\"a\":1}");
        assert_eq!(args[1].render(values()), "p1");
    }

    #[test]
    fn a_persona_whose_name_cannot_travel_in_a_header_is_named() {
        let target = Target::from_toml(
            "[mcp]\nurl = \"http://h/mcp\"\n[auth]\nkind = \"none\"\n[headers]\nx-user = \"{persona.name}\"\n",
        )
        .unwrap();
        assert!(target.check_persona(values()).is_ok());
        let jurgen = TemplateValues {
            persona_name: "Jürgen",
            ..values()
        };
        let error = target.check_persona(jurgen).unwrap_err();
        assert!(
            error.problems[0].starts_with("headers.x-user: filled for anna@example.test"),
            "{error}"
        );
    }

    #[test]
    fn an_include_list_lets_only_its_tools_through() {
        let filter = ToolFilter {
            include: vec!["todo.*".into(), "notes.list".into()],
            exclude: vec!["todo.delete".into()],
        };
        assert!(filter.allows("todo.create"));
        assert!(filter.allows("notes.list"));
        assert!(!filter.allows("notes.create"));
        assert!(!filter.allows("todo.delete"), "exclude wins");
    }

    #[test]
    fn every_problem_is_named_by_its_setting() {
        let error = Target::from_toml(
            r#"
[mcp]
url = "ftp://x"
[auth]
kind = "bearer"
[headers]
"bad header" = "{persona.phone}"
[tools]
exclude = ["to*do", ""]
[modules]
echo = ""
"#,
        )
        .unwrap_err();
        let problems = error.problems.join("\n");
        for expected in [
            "mcp.url: \"ftp://x\" is not an http:// or https:// URL",
            "auth.token_env: say where the token comes from",
            "headers.bad header: not a valid header name",
            "headers.bad header: {persona.phone} is not a placeholder",
            "tools.exclude[0]: \"to*do\" must be a tool name",
            "tools.exclude[1]",
            "modules.echo: name the module",
        ] {
            assert!(problems.contains(expected), "{expected:?} in:\n{problems}");
        }
    }

    #[test]
    fn unknown_settings_are_refused_by_name() {
        let unknown = Target::from_toml(
            "[mcp]\nurl = \"http://h/mcp\"\n[auth]\nkind = \"login\"\nurl = \"http://h\"\n[tool]\nexclude = []\n",
        )
        .unwrap_err();
        assert!(unknown.problems[0].contains("tool"), "{unknown}");
    }

    fn with_auth(auth: &str) -> Result<Target, String> {
        Target::from_toml(&format!(
            "[mcp]\nurl = \"http://h/mcp\"\nprotocol = \"2026-07-28\"\n[auth]\n{auth}\n"
        ))
        .map_err(|error| error.problems.join("\n"))
    }

    #[test]
    fn a_bearer_token_comes_from_the_environment_or_a_secrets_file() {
        let target =
            with_auth("kind = \"bearer\"\ntoken_env = \"APP_TOKEN_{persona.id}\"").unwrap();
        let Auth::Bearer(SecretSource::Env { name, .. }) = &target.auth else {
            panic!("{:?}", target.auth)
        };
        let values = TemplateValues {
            persona_id: "anna-k.1",
            ..values()
        };
        assert_eq!(SecretSource::env_name(name, values), "APP_TOKEN_ANNA_K_1");
        assert!(matches!(
            target.mcp,
            McpServer::Http {
                protocol: Protocol::Stateless,
                ..
            }
        ));

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("target.toml");
        std::fs::write(
            &file,
            "[mcp]\nurl = \"http://h/mcp\"\n[auth]\nkind = \"bearer\"\nsecrets_file = \"secrets.toml\"\n",
        )
        .unwrap();
        let target = Target::from_path(&file).unwrap();
        assert_eq!(
            target.auth,
            Auth::Bearer(SecretSource::File {
                path: dir.path().join("secrets.toml"),
                key: "token"
            }),
            "a relative secrets file is beside the target file"
        );

        for (auth, expected) in [
            (
                "kind = \"bearer\"\ntoken_env = \"T\"\nsecrets_file = \"s.toml\"",
                "auth.token_env, auth.secrets_file: give one of them",
            ),
            (
                "kind = \"bearer\"\ntoken_env = \"T_{space_id}\"",
                "{space_id} needs auth.kind = \"login\"",
            ),
            (
                "kind = \"bearer\"\ntoken_env = \"T\"\nclient_id = \"x\"",
                "auth.client_id: only for auth.kind = \"oauth2\"",
            ),
            (
                "kind = \"login\"\nurl = \"http://h\"\ntoken_env = \"T\"",
                "auth.token_env: only for auth.kind = \"bearer\"",
            ),
        ] {
            let problems = with_auth(auth).unwrap_err();
            assert!(problems.contains(expected), "{expected:?} in:\n{problems}");
        }
    }

    #[test]
    fn an_oauth2_client_names_its_grant_and_where_its_secrets_are() {
        let target = with_auth(
            "kind = \"oauth2\"\ngrant = \"client_credentials\"\nclient_id = \"{persona.id}\"\n\
             client_secret_env = \"SECRET_{persona.id}\"\nscope = \"notes\"",
        )
        .unwrap();
        let Auth::OAuth2(oauth) = &target.auth else {
            panic!("{:?}", target.auth)
        };
        assert_eq!(oauth.grant, Grant::ClientCredentials);
        assert_eq!(oauth.client_id.render(values()), "p1");
        assert_eq!(oauth.token_url, None, "discovered from the server");
        assert_eq!(oauth.client_auth, ClientAuth::Basic);

        let target = with_auth(
            "kind = \"oauth2\"\ngrant = \"refresh_token\"\nclient_id = \"runner\"\n\
             refresh_token_env = \"REFRESH_{persona.id}\"\ntoken_url = \"http://h/token\"\nclient_auth = \"post\"",
        )
        .unwrap();
        let Auth::OAuth2(oauth) = &target.auth else {
            panic!("{:?}", target.auth)
        };
        assert!(matches!(
            oauth.grant,
            Grant::RefreshToken(SecretSource::Env { .. })
        ));
        assert_eq!(oauth.client_secret, None, "a public client");

        for (auth, expected) in [
            (
                "kind = \"oauth2\"\nclient_id = \"x\"",
                "auth.grant: missing",
            ),
            (
                "kind = \"oauth2\"\ngrant = \"password\"\nclient_id = \"x\"",
                "auth.grant: \"password\" is not supported",
            ),
            (
                "kind = \"oauth2\"\ngrant = \"client_credentials\"\nclient_id = \"x\"",
                "auth.client_secret_env: the client_credentials grant needs",
            ),
            (
                "kind = \"oauth2\"\ngrant = \"refresh_token\"",
                "auth.client_id: give the OAuth client's id",
            ),
            (
                "kind = \"oauth2\"\ngrant = \"refresh_token\"\nclient_id = \"x\"",
                "auth.refresh_token_env: say where the refresh_token comes from",
            ),
            (
                "kind = \"oauth2\"\ngrant = \"client_credentials\"\nclient_id = \"x\"\n\
                 client_secret_env = \"S\"\ntoken_url = \"token\"\nclient_auth = \"jwt\"",
                "auth.client_auth: \"jwt\" is not",
            ),
            ("kind = \"saml\"", "auth.kind: \"saml\" is not one of"),
        ] {
            let problems = with_auth(auth).unwrap_err();
            assert!(problems.contains(expected), "{expected:?} in:\n{problems}");
        }
        let problems = with_auth(
            "kind = \"oauth2\"\ngrant = \"client_credentials\"\nclient_id = \"x\"\n\
             client_secret_env = \"S\"\ntoken_url = \"token\"",
        )
        .unwrap_err();
        assert!(problems.contains("auth.token_url"), "{problems}");
    }

    #[test]
    fn a_stdio_server_takes_no_http_credentials_and_no_protocol() {
        let problems = Target::from_toml(
            "[mcp]\ncommand = \"node\"\nprotocol = \"auto\"\n[auth]\nkind = \"bearer\"\ntoken_env = \"T\"\n",
        )
        .unwrap_err()
        .problems
        .join("\n");
        assert!(
            problems.contains("auth.kind: a stdio server takes no HTTP credentials"),
            "{problems}"
        );
        assert!(
            problems.contains("mcp.protocol: only for mcp.url"),
            "{problems}"
        );
        let problems = with_auth("kind = \"none\"")
            .and_then(|_| {
                Target::from_toml(
                    "[mcp]\nurl = \"http://h/mcp\"\nprotocol = \"2024\"\n[auth]\nkind = \"none\"\n",
                )
                .map_err(|error| error.problems.join("\n"))
            })
            .unwrap_err();
        assert!(
            problems.contains("mcp.protocol: \"2024\" is not"),
            "{problems}"
        );
    }

    #[test]
    fn a_stdio_server_gets_its_arguments_and_environment_per_persona() {
        let target = Target::from_toml(
            r#"
[mcp]
command = "node"
args = ["server.js", "--tenant={persona.id}"]
env = { USER_EMAIL = "{persona.email}" }
[auth]
kind = "none"
"#,
        )
        .unwrap();
        let McpServer::Stdio { command, args, env } = &target.mcp else {
            panic!("{:?}", target.mcp)
        };
        assert_eq!(command, "node");
        assert_eq!(args[1].render(values()), "--tenant=p1");
        assert_eq!(env["USER_EMAIL"].render(values()), "anna@example.test");
        assert_eq!(
            target.mcp.describe(),
            "stdio: node",
            "arguments may hold secrets"
        );

        let refused = Target::from_toml(
            "[mcp]\ncommand = \"node\"\nenv = { S = \"{space_id}\" }\n[auth]\nkind = \"none\"\n[headers]\nx-a = \"b\"\n",
        )
        .unwrap_err();
        let problems = refused.problems.join("\n");
        assert!(
            problems.contains("mcp.env.S: {space_id} needs auth.kind"),
            "{problems}"
        );
        assert!(problems.contains("headers: only for mcp.url"), "{problems}");
    }
}
