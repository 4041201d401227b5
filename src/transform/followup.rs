//! Follow-ups of a contact read from columns — notes, and task operations (create, update,
//! complete, delete) — shared by the main file's rows and by follow-up files keyed by email.

use serde::Serialize;

use crate::config::{NoteFormat, NoteSource, Pipeline, TaskSource};
use crate::error::ConfigError;
use crate::outcome::{codes, RowError, Stage};
use crate::record::{Headers, Record};

/// A note to add: title, body.
pub type NoteOp = (Option<String>, String);

/// What a task row does to the contact's task with that title.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskAction {
    /// Add the task unless the contact has one with the same title and due date.
    Create,
    /// Set the due date and description of the task with this title (created if missing).
    Update,
    /// Mark the task with this title completed (nothing if missing or already completed).
    Complete,
    /// Delete the tasks with this title (nothing if missing).
    Delete,
}

impl TaskAction {
    /// Parses an action cell; blank means `create`.
    pub fn parse(cell: &str) -> Option<TaskAction> {
        match cell.trim().to_ascii_lowercase().as_str() {
            "" | "create" | "new" | "add" => Some(TaskAction::Create),
            "update" | "change" => Some(TaskAction::Update),
            "complete" | "completed" | "done" => Some(TaskAction::Complete),
            "delete" | "remove" | "deleted" => Some(TaskAction::Delete),
            _ => None,
        }
    }
}

/// One task operation of a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskOp {
    /// What to do.
    pub action: TaskAction,
    /// The task's title (how existing tasks are matched, case-insensitively).
    pub title: String,
    /// Due date as RFC 3339 (required to create).
    pub due: Option<String>,
    /// Description.
    pub body: Option<String>,
}

/// Columns of one task source.
#[derive(Debug, Clone)]
struct TaskColumns {
    title: usize,
    due: Option<usize>,
    body: Option<usize>,
    action: Option<usize>,
}

/// The notes and task columns of a pipeline (or of a follow-up file), resolved against headers.
#[derive(Debug, Clone, Default)]
pub struct FollowUpColumns {
    notes: Vec<(usize, NoteSource)>,
    tasks: Vec<TaskColumns>,
    /// Columns holding JSON arrays of tasks, with their names.
    task_lists: Vec<(usize, String)>,
}

impl FollowUpColumns {
    /// Every column the notes and tasks read.
    pub fn columns(&self) -> Vec<usize> {
        let mut out: Vec<usize> = self.notes.iter().map(|(i, _)| *i).collect();
        out.extend(self.task_lists.iter().map(|(i, _)| *i));
        for t in &self.tasks {
            out.extend(
                [Some(t.title), t.due, t.body, t.action]
                    .into_iter()
                    .flatten(),
            );
        }
        out
    }

    /// Resolves the columns; unknown ones are config errors naming `key` (`load.notes`, …).
    pub fn resolve(
        p: &Pipeline,
        headers: &Headers,
        notes: &[NoteSource],
        tasks: &[TaskSource],
        key: &str,
        errs: &mut Vec<ConfigError>,
    ) -> Self {
        let col = |name: &str, what: &str, errs: &mut Vec<ConfigError>| {
            let rule = crate::config::mapping::FieldRule::column(name);
            super::resolve_columns(p, headers, &format!("{key}.{what}"), &rule, errs)
                .cols
                .first()
                .copied()
        };
        let mut out = FollowUpColumns::default();
        for n in notes {
            if let Some(i) = col(&n.column, "notes", errs) {
                out.notes.push((i, n.clone()));
            }
        }
        for t in tasks {
            let title = match (&t.title, &t.list) {
                (None, Some(list)) => {
                    if t.due.is_some() || t.body.is_some() || t.action.is_some() {
                        errs.push(ConfigError::new(format!(
                            "{key}.tasks: `list: {list}` takes the whole task from its JSON; leave out due, body and action"
                        )));
                    }
                    if let Some(i) = col(list, "tasks", errs) {
                        out.task_lists.push((i, list.clone()));
                    }
                    continue;
                }
                (Some(title), None) => title,
                _ => {
                    errs.push(ConfigError::new(format!(
                        "{key}.tasks: each entry needs `title` (a column of task titles) or `list` (a column of JSON task \
                         arrays), not both"
                    )));
                    continue;
                }
            };
            let title = col(title, "tasks", errs);
            let due = t.due.as_deref().map(|d| col(d, "tasks", errs));
            let body = t.body.as_deref().map(|b| col(b, "tasks", errs));
            let action = t.action.as_deref().map(|a| col(a, "tasks", errs));
            if let (Some(title), Some(due), Some(body), Some(action)) = (
                title,
                due.unwrap_or(Some(usize::MAX)),
                body.unwrap_or(Some(usize::MAX)),
                action.unwrap_or(Some(usize::MAX)),
            ) {
                let some = |i: usize| (i != usize::MAX).then_some(i);
                out.tasks.push(TaskColumns {
                    title,
                    due: some(due),
                    body: some(body),
                    action: some(action),
                });
            }
        }
        out
    }

    /// Whether there are no note or task columns.
    pub fn is_empty(&self) -> bool {
        self.notes.is_empty() && self.tasks.is_empty() && self.task_lists.is_empty()
    }

    /// The row's notes and task operations.
    pub fn extract(&self, rec: &Record) -> Result<(Vec<NoteOp>, Vec<TaskOp>), RowError> {
        let mut notes = Vec::new();
        for (i, n) in &self.notes {
            let cell = rec.get(*i).trim();
            if cell.is_empty() {
                continue;
            }
            match n.format {
                NoteFormat::Text => notes.push((n.title.clone(), cell.to_owned())),
                NoteFormat::Json => {
                    let list: Vec<ghl_client::types::Note> =
                        serde_json::from_str(cell).map_err(|e| {
                            RowError::new(
                                Stage::Validate,
                                codes::INVALID_NOTES,
                                format!("column `{}` is not a JSON array of notes: {e}", n.column),
                                "write [{\"body\": \"…\"}] or use format: text",
                            )
                        })?;
                    notes.extend(
                        list.into_iter()
                            .filter(|x| !x.body.trim().is_empty())
                            .map(|x| (x.title, x.body)),
                    );
                }
            }
        }
        let mut tasks = Vec::new();
        for t in &self.tasks {
            let title = rec.get(t.title).trim();
            if title.is_empty() {
                continue;
            }
            let action_cell = t.action.map(|i| rec.get(i)).unwrap_or_default();
            let action = TaskAction::parse(action_cell).ok_or_else(|| {
                RowError::new(
                    Stage::Validate,
                    codes::INVALID_TASK,
                    format!("task `{title}` has action `{}`", action_cell.trim()),
                    "write create, update, complete or delete (blank = create)",
                )
            })?;
            let due_raw = t.due.map(|i| rec.get(i).trim()).unwrap_or_default();
            let due = if due_raw.is_empty() {
                None
            } else {
                Some(due_date(due_raw).ok_or_else(|| {
                    RowError::new(
                        Stage::Validate,
                        codes::INVALID_TASK,
                        format!("task `{title}` has due date `{due_raw}`, which is not a date"),
                        "write the due date as YYYY-MM-DD or an RFC 3339 time",
                    )
                })?)
            };
            if due.is_none() && matches!(action, TaskAction::Create | TaskAction::Update) {
                return Err(RowError::new(
                    Stage::Validate,
                    codes::INVALID_TASK,
                    format!("task `{title}` has no due date"),
                    "the API needs a due date to create a task: fill in the due column",
                ));
            }
            tasks.push(TaskOp {
                action,
                title: title.to_owned(),
                due,
                body: t
                    .body
                    .map(|b| rec.get(b).trim().to_owned())
                    .filter(|b| !b.is_empty()),
            });
        }
        for (i, column) in &self.task_lists {
            let cell = rec.get(*i).trim();
            if cell.is_empty() {
                continue;
            }
            let list: Vec<ghl_client::types::Task> = serde_json::from_str(cell).map_err(|e| {
                RowError::new(
                    Stage::Validate,
                    codes::INVALID_TASK,
                    format!("column `{column}` is not a JSON array of tasks: {e}"),
                    "write [{\"title\": \"…\", \"dueDate\": \"2026-12-01\"}] or use title/due columns",
                )
            })?;
            for t in list.into_iter().filter(|t| !t.title.trim().is_empty()) {
                let due = t
                    .due_date
                    .as_deref()
                    .map(str::trim)
                    .filter(|d| !d.is_empty());
                let due = match due {
                    Some(d) => Some(due_date(d).ok_or_else(|| {
                        RowError::new(
                            Stage::Validate,
                            codes::INVALID_TASK,
                            format!("task `{}` has due date `{d}`, which is not a date", t.title),
                            "write the due date as YYYY-MM-DD or an RFC 3339 time",
                        )
                    })?),
                    None => {
                        return Err(RowError::new(
                            Stage::Validate,
                            codes::INVALID_TASK,
                            format!("task `{}` has no due date", t.title),
                            "the API needs a due date to create a task",
                        ))
                    }
                };
                let title = t.title.trim().to_owned();
                tasks.push(TaskOp {
                    action: TaskAction::Create,
                    title: title.clone(),
                    due,
                    body: t.body.filter(|b| !b.trim().is_empty()),
                });
                if t.completed {
                    tasks.push(TaskOp {
                        action: TaskAction::Complete,
                        title,
                        due: None,
                        body: None,
                    });
                }
            }
        }
        Ok((notes, tasks))
    }
}

/// A due date as RFC 3339: an RFC 3339 time as is (normalised), a `YYYY-MM-DD` date at 00:00 UTC.
fn due_date(raw: &str) -> Option<String> {
    let rfc = &time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(raw, rfc)
        .ok()
        .and_then(|t| t.format(rfc).ok())
        .or_else(|| {
            super::normalize::date(raw, None)
                .ok()
                .flatten()
                .map(|d| format!("{d}T00:00:00Z"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_with_synonyms_and_blank_is_create() {
        assert_eq!(TaskAction::parse(""), Some(TaskAction::Create));
        assert_eq!(TaskAction::parse(" Done "), Some(TaskAction::Complete));
        assert_eq!(TaskAction::parse("UPDATE"), Some(TaskAction::Update));
        assert_eq!(TaskAction::parse("remove"), Some(TaskAction::Delete));
        assert_eq!(TaskAction::parse("archive"), None);
    }

    #[test]
    fn due_dates_are_normalised() {
        assert_eq!(
            due_date("2026-12-01").as_deref(),
            Some("2026-12-01T00:00:00Z")
        );
        assert_eq!(
            due_date("2026-12-01T09:30:00+00:00").as_deref(),
            Some("2026-12-01T09:30:00Z")
        );
        assert_eq!(due_date("next week"), None);
    }
}
