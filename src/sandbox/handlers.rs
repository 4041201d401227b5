//! The sandbox's API routes: each extracts its path, query and body, names its endpoint and the
//! location whose budget it spends, and runs its operation through the gate (`server::handle`).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::HeaderMap;
use axum::response::Response;

use super::server::{handle, AppState, Scope};
use super::{contacts, followups, links, reads};

pub(super) async fn create_contact(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(
        &app,
        &headers,
        ("POST /contacts/", Scope::Body(&body)),
        |st| contacts::create(st, &body),
    )
    .await
}

pub(super) async fn upsert_contact(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(
        &app,
        &headers,
        ("POST /contacts/upsert", Scope::Body(&body)),
        |st| contacts::upsert(st, &body),
    )
    .await
}

pub(super) async fn search_contacts(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(
        &app,
        &headers,
        ("POST /contacts/search", Scope::Body(&body)),
        |st| reads::search(st, &body),
    )
    .await
}

pub(super) async fn duplicate_contact(
    AxState(app): AxState<AppState>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    handle(
        &app,
        &headers,
        ("GET /contacts/search/duplicate", Scope::Query(&q)),
        |st| reads::duplicate(st, &q),
    )
    .await
}

pub(super) async fn list_contacts(
    AxState(app): AxState<AppState>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    handle(&app, &headers, ("GET /contacts/", Scope::Query(&q)), |st| {
        reads::list(st, &q)
    })
    .await
}

pub(super) async fn get_contact(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    handle(
        &app,
        &headers,
        ("GET /contacts/{id}", Scope::Contact(&id)),
        |st| contacts::get(st, &id),
    )
    .await
}

pub(super) async fn update_contact(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(
        &app,
        &headers,
        ("PUT /contacts/{id}", Scope::Contact(&id)),
        |st| contacts::update(st, &id, &body),
    )
    .await
}

pub(super) async fn delete_contact(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    handle(
        &app,
        &headers,
        ("DELETE /contacts/{id}", Scope::Contact(&id)),
        |st| contacts::delete(st, &id),
    )
    .await
}

pub(super) async fn list_notes(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    handle(
        &app,
        &headers,
        ("GET /contacts/{id}/notes", Scope::Contact(&id)),
        |st| followups::list_notes(st, &id),
    )
    .await
}

pub(super) async fn create_note(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(
        &app,
        &headers,
        ("POST /contacts/{id}/notes", Scope::Contact(&id)),
        |st| followups::create_note(st, &id, &body),
    )
    .await
}

pub(super) async fn get_note(
    AxState(app): AxState<AppState>,
    Path((id, note_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let ep = ("GET /contacts/{id}/notes/{noteId}", Scope::Contact(&id));
    handle(&app, &headers, ep, |st| {
        followups::get_note(st, &id, &note_id)
    })
    .await
}

pub(super) async fn update_note(
    AxState(app): AxState<AppState>,
    Path((id, note_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ep = ("PUT /contacts/{id}/notes/{noteId}", Scope::Contact(&id));
    handle(&app, &headers, ep, |st| {
        followups::update_note(st, &id, &note_id, &body)
    })
    .await
}

pub(super) async fn delete_note(
    AxState(app): AxState<AppState>,
    Path((id, note_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let ep = ("DELETE /contacts/{id}/notes/{noteId}", Scope::Contact(&id));
    handle(&app, &headers, ep, |st| {
        followups::delete_note(st, &id, &note_id)
    })
    .await
}

pub(super) async fn get_task(
    AxState(app): AxState<AppState>,
    Path((id, task_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let ep = ("GET /contacts/{id}/tasks/{taskId}", Scope::Contact(&id));
    handle(&app, &headers, ep, |st| {
        followups::get_task(st, &id, &task_id)
    })
    .await
}

pub(super) async fn add_followers(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ep = ("POST /contacts/{id}/followers", Scope::Contact(&id));
    handle(&app, &headers, ep, |st| {
        links::followers(st, &id, &body, true)
    })
    .await
}

pub(super) async fn remove_followers(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ep = ("DELETE /contacts/{id}/followers", Scope::Contact(&id));
    handle(&app, &headers, ep, |st| {
        links::followers(st, &id, &body, false)
    })
    .await
}

pub(super) async fn add_campaign(
    AxState(app): AxState<AppState>,
    Path((id, campaign)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let ep = (
        "POST /contacts/{id}/campaigns/{campaignId}",
        Scope::Contact(&id),
    );
    handle(&app, &headers, ep, |st| {
        links::campaign(st, &id, Some(&campaign), true)
    })
    .await
}

pub(super) async fn remove_campaign(
    AxState(app): AxState<AppState>,
    Path((id, campaign)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let ep = (
        "DELETE /contacts/{id}/campaigns/{campaignId}",
        Scope::Contact(&id),
    );
    handle(&app, &headers, ep, |st| {
        links::campaign(st, &id, Some(&campaign), false)
    })
    .await
}

pub(super) async fn remove_all_campaigns(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let ep = (
        "DELETE /contacts/{id}/campaigns/removeAll",
        Scope::Contact(&id),
    );
    handle(&app, &headers, ep, |st| {
        links::campaign(st, &id, None, false)
    })
    .await
}

pub(super) async fn add_workflow(
    AxState(app): AxState<AppState>,
    Path((id, workflow)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ep = (
        "POST /contacts/{id}/workflow/{workflowId}",
        Scope::Contact(&id),
    );
    handle(&app, &headers, ep, |st| {
        links::workflow(st, &id, &workflow, &body, true)
    })
    .await
}

pub(super) async fn remove_workflow(
    AxState(app): AxState<AppState>,
    Path((id, workflow)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ep = (
        "DELETE /contacts/{id}/workflow/{workflowId}",
        Scope::Contact(&id),
    );
    handle(&app, &headers, ep, |st| {
        links::workflow(st, &id, &workflow, &body, false)
    })
    .await
}

pub(super) async fn bulk_tags(
    AxState(app): AxState<AppState>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ep = ("POST /contacts/bulk/tags/update/{type}", Scope::Body(&body));
    handle(&app, &headers, ep, |st| links::bulk_tags(st, &kind, &body)).await
}

pub(super) async fn bulk_business(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ep = ("POST /contacts/bulk/business", Scope::Body(&body));
    handle(&app, &headers, ep, |st| links::bulk_business(st, &body)).await
}

pub(super) async fn list_tasks(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    handle(
        &app,
        &headers,
        ("GET /contacts/{id}/tasks", Scope::Contact(&id)),
        |st| followups::list_tasks(st, &id),
    )
    .await
}

pub(super) async fn create_task(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(
        &app,
        &headers,
        ("POST /contacts/{id}/tasks", Scope::Contact(&id)),
        |st| followups::create_task(st, &id, &body),
    )
    .await
}

pub(super) async fn update_task(
    AxState(app): AxState<AppState>,
    Path((id, task_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(
        &app,
        &headers,
        ("PUT /contacts/{id}/tasks/{taskId}", Scope::Contact(&id)),
        |st| followups::update_task(st, &id, &task_id, &body),
    )
    .await
}

pub(super) async fn complete_task(
    AxState(app): AxState<AppState>,
    Path((id, task_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(
        &app,
        &headers,
        (
            "PUT /contacts/{id}/tasks/{taskId}/completed",
            Scope::Contact(&id),
        ),
        |st| followups::complete_task(st, &id, &task_id, &body),
    )
    .await
}

pub(super) async fn delete_task(
    AxState(app): AxState<AppState>,
    Path((id, task_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    handle(
        &app,
        &headers,
        ("DELETE /contacts/{id}/tasks/{taskId}", Scope::Contact(&id)),
        |st| followups::delete_task(st, &id, &task_id),
    )
    .await
}

pub(super) async fn add_tags(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(
        &app,
        &headers,
        ("POST /contacts/{id}/tags", Scope::Contact(&id)),
        |st| followups::change_tags(st, &id, &body, true),
    )
    .await
}

pub(super) async fn remove_tags(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(
        &app,
        &headers,
        ("DELETE /contacts/{id}/tags", Scope::Contact(&id)),
        |st| followups::change_tags(st, &id, &body, false),
    )
    .await
}

pub(super) async fn list_appointments(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    handle(
        &app,
        &headers,
        ("GET /contacts/{id}/appointments", Scope::Contact(&id)),
        |st| followups::list_appointments(st, &id),
    )
    .await
}

pub(super) async fn business_contacts(
    AxState(app): AxState<AppState>,
    Path(business_id): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    handle(
        &app,
        &headers,
        ("GET /contacts/business/{businessId}", Scope::Query(&q)),
        |st| reads::business(st, &business_id, &q),
    )
    .await
}

pub(super) async fn custom_fields(
    AxState(app): AxState<AppState>,
    Path(location_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    handle(
        &app,
        &headers,
        (
            "GET /locations/{locationId}/customFields",
            Scope::Location(&location_id),
        ),
        |st| reads::custom_fields(st, &location_id),
    )
    .await
}
