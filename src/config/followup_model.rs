//! The pipeline keys that bring notes, tasks and tags along with contacts: `load.notes`,
//! `load.tasks` and `load.followups` (docs/PIPELINE.md).

use std::path::PathBuf;

use serde::Deserialize;

use super::model::{NoteFormat, TagMode};

/// Where notes come from.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NoteSource {
    /// The column.
    pub column: String,
    /// `text`: the cell is one note. `json`: the cell is a JSON array of `{body, title?}` (what a
    /// GHL source's `include: [notes]` column holds).
    #[serde(default)]
    pub format: NoteFormat,
    /// Title for `text` notes.
    #[serde(default)]
    pub title: Option<String>,
}

/// Where a task comes from: a title column, a due-date column (ISO 8601 or `YYYY-MM-DD`), and
/// optionally a description and an action column.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TaskSource {
    /// Column holding the task title (blank: no task). Existing tasks are matched by title.
    #[serde(default)]
    pub title: Option<String>,
    /// Instead of `title` and the rest: a column holding a JSON array of tasks
    /// (`[{title, body, dueDate, completed}]`, a GHL source's `include: [tasks]` column), each
    /// created if missing and completed if it was.
    #[serde(default)]
    pub list: Option<String>,
    /// Column holding the due date (needed to create or update).
    #[serde(default)]
    pub due: Option<String>,
    /// Column holding the task's description.
    #[serde(default)]
    pub body: Option<String>,
    /// Column holding what to do: `create` (blank), `update`, `complete` or `delete`.
    #[serde(default)]
    pub action: Option<String>,
}

/// A second file of notes and tasks for contacts, matched by email (e.g. an activity export).
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FollowUpFile {
    /// The CSV file, relative to the pipeline file (encoding and delimiter detected as for a
    /// CSV source).
    pub path: PathBuf,
    /// Column holding the contact's email.
    pub email: String,
    /// Notes, as in `load.notes`.
    #[serde(default)]
    pub notes: Vec<NoteSource>,
    /// Tasks, as in `load.tasks`.
    #[serde(default)]
    pub tasks: Vec<TaskSource>,
    /// Tags to add to (or remove from) the contact, from a column.
    #[serde(default)]
    pub tags: Option<FollowUpTags>,
}

/// `load.followups[].tags`.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FollowUpTags {
    /// The column (tags separated by `,` or `;`).
    pub column: String,
    /// `add` (default) or `remove`.
    #[serde(default = "default_followup_tag_mode")]
    pub mode: TagMode,
}

fn default_followup_tag_mode() -> TagMode {
    TagMode::Add
}
