//! `notes.create`, `notes.search` over the encrypted `notes` collection.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Checks, matches_query};
use crate::context::{Doc, ToolContext};
use crate::error::ToolError;
use crate::spec::{PolicyHint, SpecError, ToolSpec};

const COLLECTION: &str = "notes";
const ENCRYPTED: &[&str] = &["title", "content"];

/// Long enough to show a match in its sentence, short enough that ten hits
/// do not flood the agent's context.
const SNIPPET_CHARS: usize = 160;

pub(super) fn tools() -> Result<Vec<ToolSpec>, SpecError> {
    Ok(vec![
        ToolSpec::new(
            "notes.create",
            "Save a note in the current space: a short title, the text (content, may be empty) and \
             optionally up to 20 tags. Use it for things the user wants to keep or look up later. \
             Returns the note with its id.",
            PolicyHint::Write,
            create,
        )?
        .encrypts(COLLECTION, ENCRYPTED),
        ToolSpec::new(
            "notes.search",
            "Find notes of the current space whose title, content or tags contain the query \
             (case-insensitive substring, not fuzzy), newest first. Each hit carries the whole \
             note plus a short snippet of the content around the first match. Returns the hits \
             and how many notes matched in total.",
            PolicyHint::Read,
            search,
        )?
        .encrypts(COLLECTION, ENCRYPTED),
    ])
}

/// A note as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Note {
    title: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NoteOut {
    id: String,
    title: String,
    content: String,
    tags: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Doc<Note>> for NoteOut {
    fn from(doc: Doc<Note>) -> NoteOut {
        NoteOut {
            id: doc.id,
            title: doc.doc.title,
            content: doc.doc.content,
            tags: doc.doc.tags,
            created_at: doc.created_at,
            updated_at: doc.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateInput {
    /// What the note is about, in a few words.
    #[schemars(length(min = 1, max = 500))]
    title: String,
    /// The note's text; may be empty.
    #[schemars(length(max = 20000))]
    content: String,
    /// Labels to find the note by, each 1–50 characters.
    #[schemars(length(max = 20), inner(length(min = 1, max = 50)))]
    tags: Option<Vec<String>>,
}

async fn create(input: CreateInput, context: ToolContext) -> Result<NoteOut, ToolError> {
    let mut checks = Checks::default();
    checks.not_blank("title", &input.title);
    for (index, tag) in input.tags.iter().flatten().enumerate() {
        checks.not_blank(&format!("tags[{index}]"), tag);
    }
    checks.finish()?;
    let note = Note {
        title: input.title.trim().to_owned(),
        content: input.content.trim().to_owned(),
        tags: distinct_tags(input.tags.unwrap_or_default()),
    };
    Ok(context.records(COLLECTION).insert(&note).await?.into())
}

/// Trimmed, first occurrence kept: a tag given twice is one tag.
fn distinct_tags(tags: Vec<String>) -> Vec<String> {
    let mut distinct: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = tag.trim();
        if !distinct.iter().any(|seen| seen == tag) {
            distinct.push(tag.to_owned());
        }
    }
    distinct
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchInput {
    /// Text to look for in titles, contents and tags (case-insensitive).
    #[schemars(length(min = 1, max = 200))]
    query: String,
    /// At most this many notes (default 10).
    #[schemars(range(min = 1, max = 50))]
    limit: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchHit {
    #[serde(flatten)]
    note: NoteOut,
    /// About 160 characters of the content around the first match, or its
    /// beginning when only the title or tags matched; `…` marks a cut.
    snippet: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchOutput {
    /// Matching notes, newest first.
    notes: Vec<SearchHit>,
    /// How many notes matched before the limit.
    total: usize,
}

async fn search(input: SearchInput, context: ToolContext) -> Result<SearchOutput, ToolError> {
    let mut checks = Checks::default();
    checks.not_blank("query", &input.query);
    checks.finish()?;
    let query = input.query.trim();
    let mut notes: Vec<Doc<Note>> = context
        .records(COLLECTION)
        .list()
        .await?
        .into_iter()
        .filter(|doc: &Doc<Note>| {
            let note = &doc.doc;
            matches_query(
                query,
                [Some(note.title.as_str()), Some(note.content.as_str())]
                    .into_iter()
                    .chain(note.tags.iter().map(|tag| Some(tag.as_str()))),
            )
        })
        .collect();
    // Ids are UUIDv7, so they break ties between notes of the same instant
    // in creation order.
    notes.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let total = notes.len();
    let limit = input.limit.unwrap_or(10) as usize;
    let notes = notes
        .into_iter()
        .take(limit)
        .map(|doc| {
            let snippet = snippet(&doc.doc.content, query);
            SearchHit {
                note: doc.into(),
                snippet,
            }
        })
        .collect();
    Ok(SearchOutput { notes, total })
}

/// Up to [`SNIPPET_CHARS`] characters of `content` centred on the first
/// case-insensitive match of `query`, or from the start when there is none;
/// whitespace runs become one space so line breaks do not eat the budget.
fn snippet(content: &str, query: &str) -> String {
    let chars: Vec<char> = content.chars().collect();
    let query_chars = query.chars().count();
    let start = match find_ignoring_case(&chars, query) {
        Some(position) => {
            let lead = SNIPPET_CHARS.saturating_sub(query_chars) / 2;
            let start = position.saturating_sub(lead);
            // Near the end, show more before the match rather than less text.
            start.min(chars.len().saturating_sub(SNIPPET_CHARS))
        }
        None => 0,
    };
    let end = (start + SNIPPET_CHARS).min(chars.len());
    let window: String = chars[start..end].iter().collect();
    let mut snippet = window.split_whitespace().collect::<Vec<_>>().join(" ");
    if snippet.is_empty() {
        return snippet;
    }
    if start > 0 {
        snippet.insert(0, '…');
    }
    if end < chars.len() {
        snippet.push('…');
    }
    snippet
}

/// The char index in `chars` where `query` first occurs, ignoring case.
///
/// Lowercasing can change a text's length (`İ` becomes two chars), so the
/// lowered text keeps, per char, the index of the char it came from.
fn find_ignoring_case(chars: &[char], query: &str) -> Option<usize> {
    let query = query.trim().to_lowercase();
    if query.is_empty() {
        return None;
    }
    let mut lowered = String::with_capacity(chars.len());
    let mut origin = Vec::with_capacity(chars.len());
    for (index, c) in chars.iter().enumerate() {
        for lower in c.to_lowercase() {
            lowered.push(lower);
            origin.push(index);
        }
    }
    let byte_offset = lowered.find(&query)?;
    let lowered_index = lowered[..byte_offset].chars().count();
    origin.get(lowered_index).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_centres_the_first_match_in_german_text() {
        let filler = "Äpfel, Öl und Süßigkeiten für die Grüße an Jürgen. ".repeat(6);
        let content = format!("{filler}Die „Müllabfuhr“ kommt am Dienstag. {filler}");
        let snippet = snippet(&content, "müllabfuhr");
        assert!(
            snippet.contains("„Müllabfuhr“ kommt am Dienstag."),
            "{snippet}"
        );
        assert!(
            snippet.starts_with('…') && snippet.ends_with('…'),
            "{snippet}"
        );
        assert!(snippet.chars().count() <= SNIPPET_CHARS + 2, "{snippet}");
    }

    #[test]
    fn snippet_is_the_start_when_only_the_title_matched() {
        let content = "ß".repeat(300);
        let snippet = snippet(&content, "Einkauf");
        assert_eq!(snippet, format!("{}…", "ß".repeat(SNIPPET_CHARS)));
        assert_eq!(super::snippet("Kurz und gut.", "Einkauf"), "Kurz und gut.");
        assert_eq!(super::snippet("", "Einkauf"), "");
    }

    #[test]
    fn snippet_near_the_end_keeps_its_full_length() {
        let content = format!("{} Ende", "ü".repeat(400));
        let snippet = snippet(&content, "ENDE");
        assert!(
            snippet.starts_with('…') && snippet.ends_with("Ende"),
            "{snippet}"
        );
        assert_eq!(snippet.chars().count(), SNIPPET_CHARS + 1);
    }

    #[test]
    fn snippet_collapses_line_breaks() {
        assert_eq!(
            snippet("Einkauf:\n\n- Milch\n- Brot", "milch"),
            "Einkauf: - Milch - Brot"
        );
    }

    #[test]
    fn matches_are_found_by_char_index_despite_length_changing_lowercase() {
        let chars: Vec<char> = "İİİ Straße".chars().collect();
        assert_eq!(find_ignoring_case(&chars, "STRASSE"), None);
        assert_eq!(find_ignoring_case(&chars, "straße"), Some(4));
        assert_eq!(find_ignoring_case(&chars, "  "), None);
    }

    #[test]
    fn tags_are_trimmed_and_given_once() {
        let tags = vec![" Haus ".into(), "Garten".into(), "Haus".into()];
        assert_eq!(
            distinct_tags(tags),
            vec!["Haus".to_owned(), "Garten".to_owned()]
        );
    }
}
