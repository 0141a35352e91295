//! The persona's MCP connection: rmcp's Streamable HTTP client with the
//! bearer token and the target's headers (filled per persona), or a stdio
//! server started for the session with its arguments and environment filled
//! per persona, reduced to
//! what a tick needs — the tool list (only the tools the target lets
//! personas use), calling a tool, and each tool's module.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use catalog::target::{
    McpServer, ModuleMap, Protocol, Target, Template, TemplateValues, ToolFilter,
};
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tracing::Instrument as _;

use crate::app_client::Session;
use crate::tick::PersonaProfile;

/// A tool as the server lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolInfo {
    pub name: String,
    pub description: String,
    pub input_schema: Value,
}

/// What a tool call returned.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCallResult {
    pub is_error: bool,
    /// Whether the server answered (a result, or an error it sent back);
    /// `false` when it could not be reached or did not answer in time.
    pub answered: bool,
    /// The text content (or the error message), as the model will read it.
    pub text: String,
}

/// The tools a tick can use; the MCP connection in production.
#[async_trait]
pub trait ToolSurface: Send + Sync {
    async fn list_tools(&self) -> Result<Vec<ToolInfo>, McpError>;
    /// A failure to reach the server is a result with `is_error`, so the
    /// model sees it like any other failed call.
    async fn call(&self, name: &str, arguments: Value) -> ToolCallResult;
    /// The module `tool` belongs to (what its calls are rated as).
    fn module_of(&self, tool: &str) -> String {
        catalog::module_of(tool).to_owned()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("the MCP server at {url} could not be opened: {message}")]
    Connect { url: String, message: String },
    /// The server answered 401 or 403 with a challenge: the persona's
    /// credentials are wrong, expired or lack a scope.
    #[error("the MCP server at {url} refused the persona's credentials (HTTP 401/403)")]
    CredentialsRefused { url: String },
    #[error("listing the MCP tools failed: {0}")]
    List(String),
}

/// The runner's environment a stdio server gets; the rest (secrets among
/// it) stays with the runner.
const INHERITED_ENV: [&str; 2] = ["PATH", "HOME"];

/// rmcp has no per-request timeout; every call gets this one.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The target's MCP server, and for one over HTTP the one client every
/// connection to it shares. rmcp's own transport builds a client per
/// connection with pooling off, so each tick paid for a fresh client and each
/// request for a fresh TCP connection; sharing one pooled client keeps
/// connections warm across ticks. A stdio server is started for each
/// session and stopped when it closes.
#[derive(Clone)]
pub struct McpEndpoint {
    /// How it is named in errors (`McpServer::describe`).
    name: String,
    transport: Transport,
    surface: Arc<TargetSurface>,
}

#[derive(Clone)]
enum Transport {
    Http {
        url: String,
        http: reqwest::Client,
        protocol: Arc<Negotiated>,
    },
    Stdio {
        command: String,
        args: Vec<Template>,
        env: BTreeMap<String, Template>,
    },
}

/// What the target says about its MCP surface: the headers each request
/// carries, the tools personas may use, each tool's module.
struct TargetSurface {
    headers: Vec<(http::HeaderName, Template)>,
    tools: ToolFilter,
    modules: ModuleMap,
    app_name: Option<String>,
}

impl McpEndpoint {
    /// The built-in app's MCP server at `url`: the space header, every tool.
    pub fn new(url: impl Into<String>) -> Result<McpEndpoint, McpError> {
        let mut target = Target::builtin("http://unused");
        target.mcp = McpServer::Http {
            url: url.into(),
            protocol: Protocol::Auto,
        };
        McpEndpoint::for_target(&target)
    }

    /// The MCP server `target` describes.
    pub fn for_target(target: &Target) -> Result<McpEndpoint, McpError> {
        let name = target.mcp.describe();
        let connect_error = |message: String| McpError::Connect {
            url: name.clone(),
            message,
        };
        let headers = target
            .headers
            .iter()
            .map(|(header, value)| {
                http::HeaderName::from_bytes(header.as_bytes())
                    .map(|header| (header, value.clone()))
                    .map_err(|error| connect_error(format!("header {header}: {error}")))
            })
            .collect::<Result<_, _>>()?;
        let transport = match &target.mcp {
            McpServer::Http { url, protocol } => Transport::Http {
                url: url.clone(),
                protocol: Arc::new(Negotiated::new(*protocol)),
                http: reqwest::Client::builder()
                    // The gateway never redirects; a redirect would replay the
                    // token and the session id elsewhere.
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|error| connect_error(error.to_string()))?,
            },
            McpServer::Stdio { command, args, env } => Transport::Stdio {
                command: command.clone(),
                args: args.clone(),
                env: env.clone(),
            },
        };
        Ok(McpEndpoint {
            name,
            transport,
            surface: Arc::new(TargetSurface {
                headers,
                tools: target.tools.clone(),
                modules: target.modules.clone(),
                app_name: target.prompt.app.clone(),
            }),
        })
    }

    /// The server as messages name it (its URL, or its stdio command).
    pub fn url(&self) -> &str {
        &self.name
    }

    /// The MCP revision its sessions use: `2026-07-28`, `2025-11-25`, or
    /// `auto` before the first session found out; `stdio` for a process.
    pub fn protocol(&self) -> &'static str {
        match &self.transport {
            Transport::Http { protocol, .. } => protocol.describe(),
            Transport::Stdio { .. } => "stdio",
        }
    }

    /// Opens an MCP session as `persona`, logged in as `session`, with the
    /// target's headers (or a stdio server's arguments and environment)
    /// filled for them.
    pub async fn open(
        &self,
        session: &Session,
        persona: &PersonaProfile,
    ) -> Result<McpConnection, McpError> {
        let connect_error = |message: String| McpError::Connect {
            url: self.name.clone(),
            message,
        };
        let values = TemplateValues {
            persona_id: &persona.id,
            persona_email: &persona.email,
            persona_name: &persona.name,
            space_id: &session.space_id,
        };
        let info = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("persona-runner", env!("CARGO_PKG_VERSION")),
        );
        let client = match &self.transport {
            Transport::Http {
                url,
                http,
                protocol,
            } => {
                let mut headers = HashMap::new();
                for (name, template) in &self.surface.headers {
                    let value = http::HeaderValue::from_str(&template.render(values))
                        .map_err(|error| connect_error(format!("header {name}: {error}")))?;
                    headers.insert(name.clone(), value);
                }
                let mut config = StreamableHttpClientTransportConfig::with_uri(url.clone())
                    .custom_headers(headers);
                // A target without auth gives an empty token: no Authorization header.
                if !session.token.is_empty() {
                    config = config.auth_header(session.token.clone());
                }
                let connect = |lifecycle: ClientLifecycleMode| {
                    let transport =
                        StreamableHttpClientTransport::with_client(http.clone(), config.clone());
                    let info = info.clone();
                    async move {
                        tokio::time::timeout(
                            CALL_TIMEOUT,
                            info.serve_with_lifecycle(transport, lifecycle),
                        )
                        .await
                    }
                };
                match protocol.lifecycle() {
                    Some(lifecycle) => connect(lifecycle).await,
                    None => {
                        // Not known yet: try the stateless revision, and on
                        // a server without it the session handshake; remember
                        // what worked, so later sessions go straight to it.
                        match connect(stateless()).await {
                            Ok(Ok(client)) => {
                                protocol.learn(Protocol::Stateless);
                                Ok(Ok(client))
                            }
                            Ok(Err(error)) if refused_credentials(&error) => Ok(Err(error)),
                            _ => {
                                let client = connect(ClientLifecycleMode::Initialize).await;
                                if matches!(client, Ok(Ok(_))) {
                                    protocol.learn(Protocol::Sessions);
                                }
                                client
                            }
                        }
                    }
                }
            }
            Transport::Stdio { command, args, env } => {
                let mut process = tokio::process::Command::new(command);
                // IMPORTANT: the server is someone else's program; it gets
                // PATH and HOME (to find and run itself) and the target's
                // env, never the runner's secrets (seed secret, API keys).
                process
                    .env_clear()
                    .envs(
                        INHERITED_ENV
                            .iter()
                            .filter_map(|name| std::env::var_os(name).map(|value| (*name, value))),
                    )
                    .args(args.iter().map(|arg| arg.render(values)))
                    .envs(env.iter().map(|(name, value)| (name, value.render(values))))
                    .kill_on_drop(true);
                // Its log is its own; the runner's stays readable.
                let (transport, _) = TokioChildProcess::builder(process)
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .map_err(|error| connect_error(format!("starting {command}: {error}")))?;
                tokio::time::timeout(CALL_TIMEOUT, info.serve(transport)).await
            }
        }
        .map_err(|_| connect_error("opening the session timed out".into()))?
        .map_err(|error| {
            if refused_credentials(&error) {
                McpError::CredentialsRefused {
                    url: self.name.clone(),
                }
            } else {
                connect_error(error.to_string())
            }
        })?;
        Ok(McpConnection {
            client,
            surface: self.surface.clone(),
        })
    }
}

/// The MCP revision an HTTP endpoint speaks: as the target fixes it, or
/// (`auto`) as the first session found out.
struct Negotiated {
    configured: Protocol,
    /// 0: not known yet; 1: stateless; 2: sessions.
    learned: std::sync::atomic::AtomicU8,
}

impl Negotiated {
    fn new(configured: Protocol) -> Negotiated {
        Negotiated {
            configured,
            learned: std::sync::atomic::AtomicU8::new(0),
        }
    }

    /// How to open a session; `None` while `auto` has not found out yet.
    fn lifecycle(&self) -> Option<ClientLifecycleMode> {
        let protocol = match self.configured {
            Protocol::Auto => match self.learned.load(std::sync::atomic::Ordering::Relaxed) {
                1 => Protocol::Stateless,
                2 => Protocol::Sessions,
                _ => return None,
            },
            fixed => fixed,
        };
        Some(match protocol {
            Protocol::Sessions => ClientLifecycleMode::Initialize,
            _ => stateless(),
        })
    }

    fn learn(&self, protocol: Protocol) {
        let code = if protocol == Protocol::Stateless {
            1
        } else {
            2
        };
        self.learned
            .store(code, std::sync::atomic::Ordering::Relaxed);
    }

    /// The revision in use, as a target file names it (`auto` before the
    /// first session).
    fn describe(&self) -> &'static str {
        match self.lifecycle() {
            None => Protocol::Auto.as_setting(),
            Some(ClientLifecycleMode::Initialize) => Protocol::Sessions.as_setting(),
            Some(_) => Protocol::Stateless.as_setting(),
        }
    }
}

/// The stateless 2026-07-28 revision, and nothing else.
fn stateless() -> ClientLifecycleMode {
    ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    }
}

/// Whether opening failed because the server refused the credentials
/// (HTTP 401 or 403): trying another revision would not help.
fn refused_credentials(error: &rmcp::service::ClientInitializeError) -> bool {
    use rmcp::transport::streamable_http_client::StreamableHttpError;
    let rmcp::service::ClientInitializeError::TransportError { error, .. } = error else {
        return false;
    };
    matches!(
        error
            .error
            .downcast_ref::<StreamableHttpError<reqwest::Error>>(),
        Some(StreamableHttpError::AuthRequired(_) | StreamableHttpError::InsufficientScope(_))
    )
}

pub struct McpConnection {
    client: RunningService<RoleClient, ClientConfig>,
    surface: Arc<TargetSurface>,
}

impl McpConnection {
    /// Opens one session to the built-in app on its own client; ticks go
    /// through a shared [`McpEndpoint`] instead.
    pub async fn open(
        mcp_url: &str,
        session: &Session,
        persona: &PersonaProfile,
    ) -> Result<McpConnection, McpError> {
        McpEndpoint::new(mcp_url)?.open(session, persona).await
    }

    /// The names of every tool the server lists, before the target's filter
    /// (for checking a target file against its server).
    pub async fn list_tool_names(&self) -> Result<Vec<String>, McpError> {
        let tools = self.all_tools().await?;
        Ok(tools
            .into_iter()
            .map(|tool| tool.name.to_string())
            .collect())
    }

    /// Every tool the server lists, every page.
    async fn all_tools(&self) -> Result<Vec<rmcp::model::Tool>, McpError> {
        tokio::time::timeout(CALL_TIMEOUT, self.client.list_all_tools())
            .await
            .map_err(|_| McpError::List("timed out".into()))?
            .map_err(|error| McpError::List(error.to_string()))
    }

    /// The app's name for the day prompt: the target's, else the title or
    /// name the server gave itself, else a plain "die App".
    pub fn app_name(&self) -> String {
        if let Some(name) = &self.surface.app_name {
            return name.clone();
        }
        self.client
            .peer_info()
            .and_then(|info| {
                let server = info.server_info.as_ref()?;
                Some(server.title.clone().unwrap_or_else(|| server.name.clone()))
            })
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| "die App".to_owned())
    }

    /// Ends the session (over HTTP a DELETE, so the server can free it at
    /// once; over stdio the server process is stopped).
    pub async fn close(self) {
        if let Err(error) = self.client.cancel().await {
            tracing::debug!(%error, "closing the MCP session failed");
        }
    }
}

#[async_trait]
impl ToolSurface for McpConnection {
    async fn list_tools(&self) -> Result<Vec<ToolInfo>, McpError> {
        let tools = self.all_tools().await?;
        // IMPORTANT: a tool the target excludes is never offered, so the
        // model cannot call it (a call to an unlisted tool never leaves the tick).
        Ok(tools
            .into_iter()
            .filter(|tool| self.surface.tools.allows(&tool.name))
            .map(|tool| ToolInfo {
                name: tool.name.to_string(),
                description: tool
                    .description
                    .map(|text| text.to_string())
                    .unwrap_or_default(),
                input_schema: Value::Object((*tool.input_schema).clone()),
            })
            .collect())
    }

    async fn call(&self, name: &str, arguments: Value) -> ToolCallResult {
        if !self.surface.tools.allows(name) {
            return ToolCallResult {
                is_error: true,
                answered: false,
                text: format!(
                    "{name} is excluded by the target's tools settings; it was not called"
                ),
            };
        }
        let span = crate::gen_ai::tools_call(name);
        let mut params = CallToolRequestParams::new(name.to_owned());
        if let Value::Object(arguments) = arguments {
            params = params.with_arguments(arguments);
        }
        // The app may continue the trace from here (MCP SEP-414).
        if let Some(traceparent) = span.in_scope(crate::gen_ai::traceparent) {
            let mut meta = rmcp::model::RequestMetaObject::new();
            meta.set_traceparent(traceparent);
            params.meta = Some(meta);
        }
        let answer = tokio::time::timeout(CALL_TIMEOUT, self.client.call_tool(params))
            .instrument(span.clone())
            .await;
        match &answer {
            Err(_) => crate::gen_ai::failed(&span, "timeout"),
            Ok(Err(rmcp::ServiceError::McpError(_))) => crate::gen_ai::failed(&span, "mcp_error"),
            Ok(Err(_)) => crate::gen_ai::failed(&span, "transport"),
            Ok(Ok(result)) if result.is_error.unwrap_or(false) => {
                crate::gen_ai::failed(&span, "tool_error")
            }
            Ok(Ok(_)) => {}
        }
        match answer {
            Err(_) => ToolCallResult {
                is_error: true,
                answered: false,
                text: format!("the call to {name} timed out"),
            },
            Ok(Err(error)) => ToolCallResult {
                is_error: true,
                answered: matches!(error, rmcp::ServiceError::McpError(_)),
                text: error.to_string(),
            },
            Ok(Ok(result)) => {
                let text: Vec<String> = result
                    .content
                    .iter()
                    .filter_map(|block| block.as_text().map(|text| text.text.clone()))
                    .collect();
                ToolCallResult {
                    is_error: result.is_error.unwrap_or(false),
                    answered: true,
                    text: text.join("\n"),
                }
            }
        }
    }

    fn module_of(&self, tool: &str) -> String {
        self.surface.modules.module_of(tool).to_owned()
    }
}
