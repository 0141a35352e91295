//! [`OAuth2Login`] (`auth.kind = "oauth2"`): an access token per persona
//! from the target's token endpoint, by the client-credentials or the
//! refresh-token grant (RFC 6749 §4.4, §6), with the MCP server named as
//! the `resource` (RFC 8707).
//!
//! Without `auth.token_url` the endpoint is discovered once, as MCP
//! clients do: the server's protected-resource metadata (RFC 9728; from the
//! `resource_metadata` of its 401 challenge, else the well-known URIs) names
//! the authorization server, whose metadata (RFC 8414, then OpenID
//! discovery) names the token endpoint; both documents must name what was
//! asked for (`resource`, `issuer`), or discovery fails.
//!
//! A session ends when its token expires (`expires_in`); the runtime asks
//! for a new one before a tick that would start within its margin of that.
//! A refresh token the server rotates is kept (in memory) for the next
//! refresh.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use actors::app_client::{AppLogin, Credentials, LoginError, Session};
use async_trait::async_trait;
use base64::Engine as _;
use catalog::target::{ClientAuth, Grant, OAuth2, TemplateValues};
use chrono::{DateTime, Utc};
use reqwest::Url;
use serde::Deserialize;

use super::secrets::Secrets;

pub struct OAuth2Login {
    settings: OAuth2,
    /// The MCP server's URL: the `resource` tokens are asked for.
    resource: String,
    http: reqwest::Client,
    client_secrets: Option<Secrets>,
    grant: GrantSecrets,
    /// The newest refresh token each persona was given, once one rotated.
    rotated: Mutex<HashMap<String, String>>,
    /// The token endpoint: `auth.token_url`, or discovered once.
    endpoint: tokio::sync::OnceCell<String>,
}

/// The grant, with where its per-persona secret comes from.
enum GrantSecrets {
    ClientCredentials,
    RefreshToken(Secrets),
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    token_type: String,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
}

/// RFC 6749 §5.2.
#[derive(Deserialize)]
struct TokenRefusal {
    error: String,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct ResourceMetadata {
    resource: String,
    #[serde(default)]
    authorization_servers: Vec<String>,
}

#[derive(Deserialize)]
struct ServerMetadata {
    issuer: String,
    token_endpoint: Option<String>,
}

impl OAuth2Login {
    pub fn new(settings: &OAuth2, resource: String) -> Result<OAuth2Login, super::LoginSetupError> {
        let grant = match &settings.grant {
            Grant::RefreshToken(source) => GrantSecrets::RefreshToken(Secrets::new(source)?),
            Grant::ClientCredentials => GrantSecrets::ClientCredentials,
        };
        let client_secrets = settings
            .client_secret
            .as_ref()
            .map(Secrets::new)
            .transpose()?;
        let endpoint = tokio::sync::OnceCell::new_with(settings.token_url.clone());
        Ok(OAuth2Login {
            settings: settings.clone(),
            resource,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                // A redirect would replay the client's secret elsewhere.
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            client_secrets,
            grant,
            rotated: Mutex::new(HashMap::new()),
            endpoint,
        })
    }

    /// The token endpoint, discovered on first use unless the file names it.
    async fn token_endpoint(&self) -> Result<&str, LoginError> {
        self.endpoint
            .get_or_try_init(|| self.discover())
            .await
            .map(String::as_str)
    }

    async fn discover(&self) -> Result<String, LoginError> {
        let resource = Url::parse(&self.resource)
            .map_err(|error| LoginError::Discovery(format!("mcp.url: {error}")))?;
        let mut candidates = Vec::new();
        if let Some(url) = self.challenged_metadata_url().await {
            candidates.push(url);
        }
        candidates.extend(well_known(&resource, "oauth-protected-resource"));
        let metadata: ResourceMetadata = self.first_document(&candidates).await?;
        // RFC 9728 §3.3: metadata for another resource is not this one's.
        if metadata.resource.trim_end_matches('/') != self.resource.trim_end_matches('/') {
            return Err(LoginError::Discovery(format!(
                "the protected-resource metadata is for {:?}, not {:?}",
                metadata.resource, self.resource
            )));
        }
        let issuer = metadata.authorization_servers.first().ok_or_else(|| {
            LoginError::Discovery(
                "the protected-resource metadata names no authorization server".to_owned(),
            )
        })?;
        let issuer_url = Url::parse(issuer).map_err(|error| {
            LoginError::Discovery(format!("authorization server {issuer:?}: {error}"))
        })?;
        let mut candidates = well_known(&issuer_url, "oauth-authorization-server");
        candidates.extend(well_known(&issuer_url, "openid-configuration"));
        candidates.push(format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ));
        let server: ServerMetadata = self.first_document(&candidates).await?;
        // RFC 8414 §3.3: the metadata must be the issuer's own.
        if server.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(LoginError::Discovery(format!(
                "the authorization server's metadata names issuer {:?}, not {issuer:?}",
                server.issuer
            )));
        }
        let endpoint = server
            .token_endpoint
            .ok_or_else(|| LoginError::Discovery(format!("{issuer} lists no token_endpoint")))?;
        tracing::info!(%endpoint, "found the OAuth token endpoint");
        Ok(endpoint)
    }

    /// The `resource_metadata` URL of the MCP server's 401 challenge to a
    /// request without credentials, if it gives one.
    async fn challenged_metadata_url(&self) -> Option<String> {
        let response = self
            .http
            .get(&self.resource)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await
            .ok()?;
        let challenge = response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)?
            .to_str()
            .ok()?;
        let start = challenge.find("resource_metadata=\"")? + "resource_metadata=\"".len();
        let end = challenge[start..].find('"')?;
        Some(challenge[start..start + end].to_owned())
    }

    /// The first of `urls` that answers with a JSON document of shape `T`.
    async fn first_document<T: serde::de::DeserializeOwned>(
        &self,
        urls: &[String],
    ) -> Result<T, LoginError> {
        let mut tried = Vec::new();
        for url in urls {
            let outcome = match self.http.get(url).send().await {
                Ok(response) if response.status().is_success() => {
                    match response.json::<T>().await {
                        Ok(document) => return Ok(document),
                        Err(error) => format!("{url}: unreadable ({error})"),
                    }
                }
                Ok(response) => format!("{url}: HTTP {}", response.status().as_u16()),
                Err(error) => format!("{url}: {error}"),
            };
            tried.push(outcome);
        }
        Err(LoginError::Discovery(tried.join("; ")))
    }

    /// Asks the token endpoint for a token for `who`.
    async fn request_token(&self, who: Credentials<'_>) -> Result<TokenAnswer, LoginError> {
        let endpoint = self.token_endpoint().await?;
        let values = TemplateValues {
            persona_id: who.persona_id,
            persona_email: who.email,
            persona_name: "",
            space_id: "",
        };
        let client_id = self.settings.client_id.render(values);
        // Under the refresh grant a persona's entry in a secrets file may
        // leave the client secret out: a public client.
        let client_secret = match (&self.client_secrets, &self.grant) {
            (None, _) => None,
            (Some(secrets), GrantSecrets::RefreshToken(_)) => secrets.find(who, "client secret")?,
            (Some(secrets), GrantSecrets::ClientCredentials) => {
                Some(secrets.get(who, "client secret")?)
            }
        };
        let mut form: Vec<(&str, String)> = Vec::new();
        match &self.grant {
            GrantSecrets::ClientCredentials => {
                form.push(("grant_type", "client_credentials".to_owned()));
            }
            GrantSecrets::RefreshToken(secrets) => {
                let rotated = self
                    .rotated
                    .lock()
                    .ok()
                    .and_then(|rotated| rotated.get(who.persona_id).cloned());
                let refresh_token = match rotated {
                    Some(token) => token,
                    None => secrets.get(who, "refresh token")?,
                };
                form.push(("grant_type", "refresh_token".to_owned()));
                form.push(("refresh_token", refresh_token));
            }
        }
        if let Some(scope) = &self.settings.scope {
            form.push(("scope", scope.clone()));
        }
        form.push(("resource", self.resource.clone()));
        let mut request = self.http.post(endpoint);
        match (&client_secret, self.settings.client_auth) {
            (Some(secret), ClientAuth::Basic) => {
                // RFC 6749 §2.3.1: each part form-encoded before Basic.
                let pair = format!("{}:{}", form_encoded(&client_id), form_encoded(secret));
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                request =
                    request.header(reqwest::header::AUTHORIZATION, format!("Basic {encoded}"));
            }
            (Some(secret), ClientAuth::Post) => {
                form.push(("client_id", client_id.clone()));
                form.push(("client_secret", secret.clone()));
            }
            // A public client names itself.
            (None, _) => form.push(("client_id", client_id.clone())),
        }
        let response =
            request
                .form(&form)
                .send()
                .await
                .map_err(|error| LoginError::Unreachable {
                    url: endpoint.to_owned(),
                    message: error.to_string(),
                })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|error| LoginError::Unreachable {
                url: endpoint.to_owned(),
                message: error.to_string(),
            })?;
        if !status.is_success() {
            let message = match serde_json::from_slice::<TokenRefusal>(&body) {
                Ok(refusal) => match refusal.error_description {
                    Some(description) => format!("{}: {description}", refusal.error),
                    None => refusal.error,
                },
                Err(_) => "no OAuth error given".to_owned(),
            };
            return Err(LoginError::Refused {
                email: who.email.to_owned(),
                status: status.as_u16(),
                message: format!("the token endpoint {endpoint} said {message}"),
            });
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|error| {
            LoginError::Malformed(format!("the token endpoint {endpoint}: {error}"))
        })?;
        if !answer.token_type.eq_ignore_ascii_case("bearer") {
            return Err(LoginError::Malformed(format!(
                "the token endpoint {endpoint} gave a {:?} token; only Bearer is sent",
                answer.token_type
            )));
        }
        Ok(answer)
    }
}

fn form_encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `{origin}/.well-known/{name}{path}` (RFC 8414 §3.1, RFC 9728 §3.1), and
/// for a URL with a path, `{origin}/.well-known/{name}` after it.
fn well_known(url: &Url, name: &str) -> Vec<String> {
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    let mut urls = vec![format!("{origin}/.well-known/{name}{path}")];
    if !path.is_empty() {
        urls.push(format!("{origin}/.well-known/{name}"));
    }
    urls
}

#[async_trait]
impl AppLogin for OAuth2Login {
    async fn login(&self, who: Credentials<'_>) -> Result<Session, LoginError> {
        let asked_at = Utc::now();
        let answer = self.request_token(who).await?;
        if let Some(refresh_token) = answer.refresh_token
            && let Ok(mut rotated) = self.rotated.lock()
        {
            rotated.insert(who.persona_id.to_owned(), refresh_token);
        }
        let expires_at = answer
            .expires_in
            .and_then(|secs| chrono::TimeDelta::try_seconds(i64::try_from(secs).ok()?))
            .and_then(|lifetime| asked_at.checked_add_signed(lifetime))
            // No lifetime given: kept until the server refuses it.
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        Ok(Session {
            user_id: who.persona_id.to_owned(),
            token: answer.access_token,
            expires_at,
            space_id: String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_uris_go_between_the_origin_and_the_path() {
        let url = Url::parse("http://127.0.0.1:9/mcp/").unwrap();
        assert_eq!(
            well_known(&url, "oauth-protected-resource"),
            [
                "http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp",
                "http://127.0.0.1:9/.well-known/oauth-protected-resource"
            ]
        );
        let issuer = Url::parse("https://auth.example").unwrap();
        assert_eq!(
            well_known(&issuer, "oauth-authorization-server"),
            ["https://auth.example/.well-known/oauth-authorization-server"]
        );
    }

    #[test]
    fn client_credentials_are_form_encoded_before_basic() {
        assert_eq!(form_encoded("a b:c/d"), "a+b%3Ac%2Fd");
    }
}
