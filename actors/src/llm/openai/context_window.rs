//! Asking an OpenAI-compatible server for its model's context window, since
//! the Chat Completions API has no field for it. Two servers say it on
//! their own routes: llama.cpp's `llama-server` in `GET /props`
//! (`default_generation_settings.n_ctx`, the context of one slot) and vLLM
//! in `GET /v1/models` (`data[].max_model_len`). Others, llama-cpp-python
//! among them (fixtures 14 and 15), say nothing, and the window stays
//! unknown.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde_json::Value;

use crate::llm::http::error_chain;

/// How long each question may take: it stands before a tick's first
/// request, and a server that is slow to answer it is not worth the wait.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The server could not be reached, so its silence means nothing yet: the
/// caller asks again next time instead of remembering "unknown".
#[derive(Debug)]
pub(super) struct Unreached;

/// Where to ask, and with what credentials.
pub(super) struct Discovery<'a> {
    pub client: &'a reqwest::Client,
    /// The base URL, ending in `/v1` for most servers.
    pub base: &'a str,
    pub model: &'a str,
    pub authorization: Option<&'a HeaderValue>,
}

impl Discovery<'_> {
    /// The window the server states, `None` when it states none.
    pub(super) async fn context_window(&self) -> Result<Option<u32>, Unreached> {
        // llama-server serves `/props` beside `/v1`, not under it.
        let root = self.base.strip_suffix("/v1").unwrap_or(self.base);
        if let Some(props) = self.get(&format!("{root}/props")).await?
            && let Some(tokens) = as_tokens(&props["default_generation_settings"]["n_ctx"])
        {
            return Ok(Some(tokens));
        }
        let Some(models) = self.get(&format!("{}/models", self.base)).await? else {
            return Ok(None);
        };
        let listed = models["data"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        // The model asked for by name, or the only one served (a server with
        // one model often answers to any name).
        let model = listed
            .iter()
            .find(|entry| entry["id"] == self.model)
            .or(match listed {
                [only] => Some(only),
                _ => None,
            });
        Ok(model.and_then(|entry| as_tokens(&entry["max_model_len"])))
    }

    /// A JSON answer to `GET url`; `None` for an error status or a body that
    /// is not JSON (the route does not exist on this server).
    async fn get(&self, url: &str) -> Result<Option<Value>, Unreached> {
        let mut request = self.client.get(url).timeout(DISCOVERY_TIMEOUT);
        if let Some(authorization) = self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                // The error names the URL, never the header.
                tracing::debug!(url, error = %error_chain(&error), "context window: no answer");
                return Err(Unreached);
            }
        };
        let status = response.status();
        if !status.is_success() {
            tracing::debug!(url, %status, "context window: not served here");
            return Ok(None);
        }
        match response.json::<Value>().await {
            Ok(value) => Ok(Some(value)),
            Err(error) => {
                tracing::debug!(url, error = %error_chain(&error), "context window: not JSON");
                Ok(None)
            }
        }
    }
}

fn as_tokens(value: &Value) -> Option<u32> {
    value
        .as_u64()
        .and_then(|tokens| u32::try_from(tokens).ok())
        .filter(|tokens| *tokens > 0)
}
