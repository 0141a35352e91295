//! `[auth]`: how a persona gets the credentials its MCP requests carry.
//!
//! ```toml
//! [auth]                       # a token per persona, never from the catalog
//! kind = "bearer"
//! token_env = "APP_TOKEN_{persona.id}"   # or: secrets_file = "secrets.toml"
//!
//! [auth]                       # OAuth 2.0 against the target's token endpoint
//! kind = "oauth2"
//! grant = "client_credentials"           # or "refresh_token"
//! client_id = "{persona.id}"
//! client_secret_env = "APP_SECRET_{persona.id}"
//! # refresh_token_env = "APP_REFRESH_{persona.id}"   (grant = "refresh_token")
//! # token_url = "https://auth.example.com/token"     default: discovered from
//! #   the MCP server's protected-resource metadata (RFC 9728, RFC 8414)
//! scope = "notes:write"
//! client_auth = "basic"                  # or "post" (the secret in the form)
//! ```
//!
//! A secrets file holds one table per persona, by id or email
//! (`["anna@example.com"] token = "…"`, `client_secret`, `refresh_token`);
//! a relative path is beside the target file. An environment variable's name is a template: filled for the
//! persona, then upper-cased with every character but `A-Z`, `0-9` and `_`
//! turned into `_` (`APP_TOKEN_{persona.id}` for `anna-k` reads
//! `APP_TOKEN_ANNA_K`). The runner reads both; the catalog only names them.

use std::path::PathBuf;

use serde::Deserialize;

use super::{Template, check_url};

/// How a persona logs in.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    /// It does not: the MCP server takes requests without credentials
    /// (the target's headers may still name the persona).
    None,
    /// With its derived password through the app's login route, then picks
    /// its space of `space_type` from the spaces route.
    Login(LoginRoutes),
    /// A bearer token of its own, from the environment or a secrets file.
    Bearer(SecretSource),
    /// An access token from the target's OAuth 2.0 token endpoint.
    OAuth2(OAuth2),
}

impl Auth {
    /// Whether the runner sets the `Authorization` header itself.
    pub fn sends_credentials(&self) -> bool {
        !matches!(self, Auth::None)
    }

    /// A relative secrets file, as a path from `dir` (the target file's).
    pub(super) fn resolve_files(&mut self, dir: &std::path::Path) {
        let sources: Vec<&mut SecretSource> = match self {
            Auth::Bearer(source) => vec![source],
            Auth::OAuth2(oauth) => {
                let mut sources: Vec<&mut SecretSource> = oauth.client_secret.iter_mut().collect();
                if let Grant::RefreshToken(source) = &mut oauth.grant {
                    sources.push(source);
                }
                sources
            }
            Auth::None | Auth::Login(_) => Vec::new(),
        };
        for source in sources {
            if let SecretSource::File { path, .. } = source
                && path.is_relative()
            {
                *path = dir.join(&*path);
            }
        }
    }

    /// The settings an operator fixes when the server refuses the
    /// credentials, as messages name them.
    pub fn credential_settings(&self) -> String {
        match self {
            Auth::None => "auth.kind = \"none\" (the server wants credentials)".to_owned(),
            Auth::Login(_) => "auth.url, auth.login_path (the derived password)".to_owned(),
            Auth::Bearer(source) => source.describe(),
            Auth::OAuth2(oauth) => format!("auth.client_id, {}", oauth.client_secret_describe()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoginRoutes {
    /// The app's base URL, without a trailing `/`.
    pub url: String,
    pub login_path: String,
    pub spaces_path: String,
    pub space_type: String,
}

impl LoginRoutes {
    /// The built-in app's routes at `url`.
    pub fn builtin(url: &str) -> LoginRoutes {
        LoginRoutes {
            url: url.trim_end_matches('/').to_owned(),
            login_path: "/api/v1/auth/login".to_owned(),
            spaces_path: "/api/v1/spaces".to_owned(),
            space_type: "personal".to_owned(),
        }
    }
}

/// Where a persona's secret comes from; never the catalog.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretSource {
    /// An environment variable; its name is filled per persona
    /// ([`SecretSource::env_name`]). `setting` names it in messages.
    Env {
        setting: &'static str,
        name: Template,
    },
    /// A TOML file, one table per persona (id or email); `key` is the entry read.
    File { path: PathBuf, key: &'static str },
}

impl SecretSource {
    /// The variable's name for a persona: the template filled, then
    /// upper-cased with every other character than `A-Z`, `0-9`, `_` made `_`.
    pub fn env_name(template: &Template, values: super::TemplateValues<'_>) -> String {
        template
            .render(values)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// The setting, as messages name it.
    pub fn describe(&self) -> String {
        match self {
            SecretSource::Env { setting, name } => {
                format!("auth.{setting} = {:?}", name.as_str())
            }
            SecretSource::File { path, key } => {
                format!("auth.secrets_file ({}, entry {key})", path.display())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OAuth2 {
    pub grant: Grant,
    /// Filled per persona (`{persona.id}` for a client per persona).
    pub client_id: Template,
    /// `None`: a public client (only with the refresh-token grant, which
    /// also takes a persona whose secrets-file entry has no client secret
    /// as one).
    pub client_secret: Option<SecretSource>,
    /// `None`: found through the MCP server's protected-resource metadata.
    pub token_url: Option<String>,
    pub scope: Option<String>,
    pub client_auth: ClientAuth,
}

impl OAuth2 {
    fn client_secret_describe(&self) -> String {
        self.client_secret
            .as_ref()
            .map_or_else(|| "no client secret".to_owned(), SecretSource::describe)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Grant {
    ClientCredentials,
    /// The persona's refresh token; one the server rotates is kept for the
    /// next refresh (in memory: a restarted runner starts from this source).
    RefreshToken(SecretSource),
}

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic (`client_secret_basic`), the default.
    Basic,
    /// In the form body (`client_secret_post`).
    Post,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    kind: String,
    url: Option<String>,
    login_path: Option<String>,
    spaces_path: Option<String>,
    space_type: Option<String>,
    token_env: Option<String>,
    secrets_file: Option<PathBuf>,
    grant: Option<String>,
    client_id: Option<String>,
    client_secret_env: Option<String>,
    refresh_token_env: Option<String>,
    token_url: Option<String>,
    scope: Option<String>,
    client_auth: Option<String>,
}

/// Which kinds each setting belongs to.
const SETTINGS_BY_KIND: [(&str, &[&str]); 13] = [
    ("url", &["login"]),
    ("login_path", &["login"]),
    ("spaces_path", &["login"]),
    ("space_type", &["login"]),
    ("token_env", &["bearer"]),
    ("secrets_file", &["bearer", "oauth2"]),
    ("grant", &["oauth2"]),
    ("client_id", &["oauth2"]),
    ("client_secret_env", &["oauth2"]),
    ("refresh_token_env", &["oauth2"]),
    ("token_url", &["oauth2"]),
    ("scope", &["oauth2"]),
    ("client_auth", &["oauth2"]),
];

const KINDS: &str = "\"none\", \"bearer\", \"oauth2\", \"login\"";

impl RawAuth {
    fn given(&self) -> [bool; 13] {
        [
            self.url.is_some(),
            self.login_path.is_some(),
            self.spaces_path.is_some(),
            self.space_type.is_some(),
            self.token_env.is_some(),
            self.secrets_file.is_some(),
            self.grant.is_some(),
            self.client_id.is_some(),
            self.client_secret_env.is_some(),
            self.refresh_token_env.is_some(),
            self.token_url.is_some(),
            self.scope.is_some(),
            self.client_auth.is_some(),
        ]
    }

    /// The checked `[auth]`, its problems added to `problems`.
    pub(super) fn parse(self, problems: &mut Vec<String>) -> Option<Auth> {
        let kind = self.kind.clone();
        if !["none", "bearer", "oauth2", "login"].contains(&kind.as_str()) {
            problems.push(format!("auth.kind: {kind:?} is not one of {KINDS}"));
            return None;
        }
        for ((name, kinds), given) in SETTINGS_BY_KIND.iter().zip(self.given()) {
            if given && !kinds.contains(&kind.as_str()) {
                let kinds: Vec<String> = kinds.iter().map(|kind| format!("{kind:?}")).collect();
                problems.push(format!(
                    "auth.{name}: only for auth.kind = {}",
                    kinds.join(" or ")
                ));
            }
        }
        match kind.as_str() {
            "none" => Some(Auth::None),
            "login" => Some(Auth::Login(self.login_routes(problems))),
            "bearer" => secret_source(
                ("token_env", self.token_env),
                self.secrets_file,
                "token",
                problems,
            )
            .map(Auth::Bearer),
            _ => self.oauth2(problems).map(Auth::OAuth2),
        }
    }

    fn login_routes(self, problems: &mut Vec<String>) -> LoginRoutes {
        let mut setting = |name: &str, value: Option<String>, default: &str| {
            let value = value.unwrap_or_else(|| default.to_owned());
            if value.trim().is_empty() {
                problems.push(format!("auth.{name}: must not be empty"));
            }
            value
        };
        // The built-in app's routes are the defaults.
        let default = LoginRoutes::builtin("");
        let routes = LoginRoutes {
            url: setting("url", self.url, "")
                .trim_end_matches('/')
                .to_owned(),
            login_path: setting("login_path", self.login_path, &default.login_path),
            spaces_path: setting("spaces_path", self.spaces_path, &default.spaces_path),
            space_type: setting("space_type", self.space_type, &default.space_type),
        };
        if !routes.url.is_empty() {
            check_url("auth.url", &routes.url, problems);
        }
        for (name, path) in [
            ("login_path", &routes.login_path),
            ("spaces_path", &routes.spaces_path),
        ] {
            if !path.is_empty() && !path.starts_with('/') {
                problems.push(format!("auth.{name}: {path:?} must start with /"));
            }
        }
        routes
    }

    fn oauth2(self, problems: &mut Vec<String>) -> Option<OAuth2> {
        let client_id = match self.client_id {
            Some(id) if !id.trim().is_empty() => {
                credential_template("auth.client_id", id, problems)
            }
            _ => {
                problems.push(
                    "auth.client_id: give the OAuth client's id (\"{persona.id}\" for one per persona)"
                        .to_owned(),
                );
                Template(String::new())
            }
        };
        if let Some(url) = &self.token_url {
            check_url("auth.token_url", url, problems);
        }
        if self
            .scope
            .as_ref()
            .is_some_and(|scope| scope.trim().is_empty())
        {
            problems.push("auth.scope: give the scopes, or leave it out".to_owned());
        }
        let client_auth = match self.client_auth.as_deref() {
            None | Some("basic") => ClientAuth::Basic,
            Some("post") => ClientAuth::Post,
            Some(other) => {
                problems.push(format!(
                    "auth.client_auth: {other:?} is not \"basic\" or \"post\""
                ));
                ClientAuth::Basic
            }
        };
        let client_secret = if self.client_secret_env.is_none() && self.secrets_file.is_none() {
            None
        } else {
            secret_source(
                ("client_secret_env", self.client_secret_env),
                self.secrets_file.clone(),
                "client_secret",
                problems,
            )
        };
        let grant = match self.grant.as_deref() {
            Some("client_credentials") => {
                if client_secret.is_none() {
                    problems.push(
                        "auth.client_secret_env: the client_credentials grant needs the client's secret (or auth.secrets_file)"
                            .to_owned(),
                    );
                }
                if self.refresh_token_env.is_some() {
                    problems.push(
                        "auth.refresh_token_env: only for grant = \"refresh_token\"".to_owned(),
                    );
                }
                Some(Grant::ClientCredentials)
            }
            Some("refresh_token") => secret_source(
                ("refresh_token_env", self.refresh_token_env),
                self.secrets_file,
                "refresh_token",
                problems,
            )
            .map(Grant::RefreshToken),
            other => {
                problems.push(format!(
                    "auth.grant: {} (give \"client_credentials\" or \"refresh_token\")",
                    other.map_or_else(
                        || "missing".to_owned(),
                        |grant| format!("{grant:?} is not supported")
                    )
                ));
                None
            }
        };
        Some(OAuth2 {
            grant: grant?,
            client_id,
            client_secret,
            token_url: self.token_url,
            scope: self.scope,
            client_auth,
        })
    }
}

/// The one source a secret comes from: the environment variable named by
/// `env` or the secrets file (entry `key`), not both, not neither.
fn secret_source(
    (setting, env): (&'static str, Option<String>),
    file: Option<PathBuf>,
    key: &'static str,
    problems: &mut Vec<String>,
) -> Option<SecretSource> {
    match (env, file) {
        (Some(name), None) => {
            if name.trim().is_empty() {
                problems.push(format!("auth.{setting}: name the environment variable"));
            }
            let name = credential_template(&format!("auth.{setting}"), name, problems);
            Some(SecretSource::Env { setting, name })
        }
        (None, Some(path)) => Some(SecretSource::File { path, key }),
        (Some(_), Some(_)) => {
            // With a file for other secrets (OAuth), the variable wins for
            // this one only when the file is not meant; say so rather than guess.
            problems.push(format!(
                "auth.{setting}, auth.secrets_file: give one of them for the {key}"
            ));
            None
        }
        (None, None) => {
            problems.push(format!(
                "auth.{setting}: say where the {key} comes from (an environment variable, or auth.secrets_file)"
            ));
            None
        }
    }
}

/// A template naming a credential: the persona's id or email may fill it,
/// not its name (free text) and not a space (only a login picks one).
fn credential_template(setting: &str, value: String, problems: &mut Vec<String>) -> Template {
    if value.contains("{persona.name}") {
        problems.push(format!(
            "{setting}: {{persona.name}} cannot name a credential (use {{persona.id}} or {{persona.email}})"
        ));
    }
    Template::checked(setting.to_owned(), value, false, problems)
}
