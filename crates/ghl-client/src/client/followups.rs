//! The follow-up operations of the client: a contact's notes, tasks and appointments.

use super::*;

impl GhlClient {
    /// `GET /contacts/{id}/notes`.
    pub async fn notes(&self, contact_id: &str) -> Result<Vec<Note>, ApiError> {
        let path = format!("/contacts/{}/notes", enc(contact_id));
        Ok(self
            .send::<(), NotesResponse>(Method::GET, &path, "notes", None)
            .await?
            .notes)
    }

    /// `POST /contacts/{id}/notes` (spec `NotesDTO`).
    pub async fn create_note(
        &self,
        contact_id: &str,
        title: Option<&str>,
        body: &str,
    ) -> Result<(), ApiError> {
        #[derive(serde::Serialize)]
        struct NoteBody<'a> {
            body: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            title: Option<&'a str>,
        }
        let path = format!("/contacts/{}/notes", enc(contact_id));
        let _: serde_json::Value = self
            .send(
                Method::POST,
                &path,
                "notes",
                Some(&NoteBody { body, title }),
            )
            .await?;
        Ok(())
    }

    /// `POST /contacts/{id}/tasks` (spec `CreateTaskParams`): the task created (`{task}`; its
    /// id empty if the answer has none).
    pub async fn create_task(
        &self,
        contact_id: &str,
        title: &str,
        due: &str,
        body: Option<&str>,
        completed: bool,
    ) -> Result<Task, ApiError> {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct TaskBody<'a> {
            title: &'a str,
            due_date: &'a str,
            completed: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            body: Option<&'a str>,
        }
        let path = format!("/contacts/{}/tasks", enc(contact_id));
        let b = TaskBody {
            title,
            due_date: due,
            completed,
            body,
        };
        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct Created {
            task: Option<Task>,
        }
        let c: Created = self.send(Method::POST, &path, "tasks", Some(&b)).await?;
        Ok(c.task.unwrap_or_default())
    }

    /// `PUT /contacts/{id}/tasks/{taskId}` with the fields to change (spec `UpdateTaskBody`).
    pub async fn update_task(
        &self,
        contact_id: &str,
        task_id: &str,
        due: Option<&str>,
        body: Option<&str>,
    ) -> Result<(), ApiError> {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct TaskUpdate<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            due_date: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            body: Option<&'a str>,
        }
        let path = format!("/contacts/{}/tasks/{}", enc(contact_id), enc(task_id));
        let b = TaskUpdate {
            due_date: due,
            body,
        };
        let _: serde_json::Value = self.send(Method::PUT, &path, "tasks", Some(&b)).await?;
        Ok(())
    }

    /// `PUT /contacts/{id}/tasks/{taskId}/completed` (spec `UpdateTaskStatusParams`).
    pub async fn complete_task(&self, contact_id: &str, task_id: &str) -> Result<(), ApiError> {
        let path = format!(
            "/contacts/{}/tasks/{}/completed",
            enc(contact_id),
            enc(task_id)
        );
        let b = serde_json::json!({"completed": true});
        let _: serde_json::Value = self.send(Method::PUT, &path, "tasks", Some(&b)).await?;
        Ok(())
    }

    /// `DELETE /contacts/{id}/tasks/{taskId}`.
    pub async fn delete_task(&self, contact_id: &str, task_id: &str) -> Result<(), ApiError> {
        let path = format!("/contacts/{}/tasks/{}", enc(contact_id), enc(task_id));
        let _: serde_json::Value = self
            .send::<(), _>(Method::DELETE, &path, "tasks", None)
            .await?;
        Ok(())
    }

    /// `GET /contacts/{id}/tasks`.
    pub async fn tasks(&self, contact_id: &str) -> Result<Vec<Task>, ApiError> {
        let path = format!("/contacts/{}/tasks", enc(contact_id));
        Ok(self
            .send::<(), TasksResponse>(Method::GET, &path, "tasks", None)
            .await?
            .tasks)
    }

    /// `GET /contacts/{id}/appointments`.
    pub async fn appointments(&self, contact_id: &str) -> Result<Vec<Appointment>, ApiError> {
        let path = format!("/contacts/{}/appointments", enc(contact_id));
        Ok(self
            .send::<(), AppointmentsResponse>(Method::GET, &path, "appointments", None)
            .await?
            .events)
    }
}
