//! The sandbox's API routes, as one table: each names its method and path, the endpoint it is
//! counted as, whose rate-limit budget it spends and its operation on the state. One handler
//! extracts the request (path parameters, query, body) and runs the operation through the gate
//! (`server::handle`).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{on, MethodFilter};
use axum::Router;

use super::contacts::{self, Answer};
use super::server::{handle, AppState, Scope};
use super::state::State;
use super::{followups, links, reads};

/// What an operation sees of its request.
pub(super) struct Req {
    /// The path's parameters, in order.
    params: Vec<String>,
    query: BTreeMap<String, String>,
    body: Bytes,
}

impl Req {
    /// The path's `i`th parameter (`{id}` is the first).
    fn p(&self, i: usize) -> &str {
        self.params.get(i).map_or("", String::as_str)
    }
}

/// Whose rate-limit budget a route spends.
#[derive(Clone, Copy)]
enum Spends {
    /// The location named by `locationId` in the JSON body.
    Body,
    /// The location named by `locationId` in the query.
    Query,
    /// The location of the contact named by the path's first parameter.
    Contact,
    /// The location named by the path's first parameter.
    Location,
}

/// One route of the API.
struct Route {
    /// `METHOD /path`, as the request log and the statistics name it; the path as axum
    /// matches it.
    endpoint: &'static str,
    spends: Spends,
    op: fn(&mut State, &Req) -> Answer,
}

use Spends::{Body, Contact, Location, Query as InQuery};

/// Every API route.
const ROUTES: &[Route] = &[
    r("POST /contacts/", Body, |st, q| {
        contacts::create(st, &q.body)
    }),
    r("GET /contacts/", InQuery, |st, q| reads::list(st, &q.query)),
    r("POST /contacts/upsert", Body, |st, q| {
        contacts::upsert(st, &q.body)
    }),
    r("POST /contacts/search", Body, |st, q| {
        reads::search(st, &q.body)
    }),
    r("GET /contacts/search/duplicate", InQuery, |st, q| {
        reads::duplicate(st, &q.query)
    }),
    r("GET /contacts/{id}", Contact, |st, q| {
        contacts::get(st, q.p(0))
    }),
    r("PUT /contacts/{id}", Contact, |st, q| {
        contacts::update(st, q.p(0), &q.body)
    }),
    r("DELETE /contacts/{id}", Contact, |st, q| {
        contacts::delete(st, q.p(0))
    }),
    r("GET /contacts/{id}/notes", Contact, |st, q| {
        followups::list_notes(st, q.p(0))
    }),
    r("POST /contacts/{id}/notes", Contact, |st, q| {
        followups::create_note(st, q.p(0), &q.body)
    }),
    r("GET /contacts/{id}/notes/{noteId}", Contact, |st, q| {
        followups::get_note(st, q.p(0), q.p(1))
    }),
    r("PUT /contacts/{id}/notes/{noteId}", Contact, |st, q| {
        followups::update_note(st, q.p(0), q.p(1), &q.body)
    }),
    r("DELETE /contacts/{id}/notes/{noteId}", Contact, |st, q| {
        followups::delete_note(st, q.p(0), q.p(1))
    }),
    r("GET /contacts/{id}/tasks", Contact, |st, q| {
        followups::list_tasks(st, q.p(0))
    }),
    r("POST /contacts/{id}/tasks", Contact, |st, q| {
        followups::create_task(st, q.p(0), &q.body)
    }),
    r("GET /contacts/{id}/tasks/{taskId}", Contact, |st, q| {
        followups::get_task(st, q.p(0), q.p(1))
    }),
    r("PUT /contacts/{id}/tasks/{taskId}", Contact, |st, q| {
        followups::update_task(st, q.p(0), q.p(1), &q.body)
    }),
    r("DELETE /contacts/{id}/tasks/{taskId}", Contact, |st, q| {
        followups::delete_task(st, q.p(0), q.p(1))
    }),
    r(
        "PUT /contacts/{id}/tasks/{taskId}/completed",
        Contact,
        |st, q| followups::complete_task(st, q.p(0), q.p(1), &q.body),
    ),
    r("POST /contacts/{id}/followers", Contact, |st, q| {
        links::followers(st, q.p(0), &q.body, true)
    }),
    r("DELETE /contacts/{id}/followers", Contact, |st, q| {
        links::followers(st, q.p(0), &q.body, false)
    }),
    r(
        "DELETE /contacts/{id}/campaigns/removeAll",
        Contact,
        |st, q| links::campaign(st, q.p(0), None, false),
    ),
    r(
        "POST /contacts/{id}/campaigns/{campaignId}",
        Contact,
        |st, q| links::campaign(st, q.p(0), Some(q.p(1)), true),
    ),
    r(
        "DELETE /contacts/{id}/campaigns/{campaignId}",
        Contact,
        |st, q| links::campaign(st, q.p(0), Some(q.p(1)), false),
    ),
    r(
        "POST /contacts/{id}/workflow/{workflowId}",
        Contact,
        |st, q| links::workflow(st, q.p(0), q.p(1), &q.body, true),
    ),
    r(
        "DELETE /contacts/{id}/workflow/{workflowId}",
        Contact,
        |st, q| links::workflow(st, q.p(0), q.p(1), &q.body, false),
    ),
    r("POST /contacts/bulk/tags/update/{type}", Body, |st, q| {
        links::bulk_tags(st, q.p(0), &q.body)
    }),
    r("POST /contacts/bulk/business", Body, |st, q| {
        links::bulk_business(st, &q.body)
    }),
    r("GET /contacts/{id}/appointments", Contact, |st, q| {
        followups::list_appointments(st, q.p(0))
    }),
    r("POST /contacts/{id}/tags", Contact, |st, q| {
        followups::change_tags(st, q.p(0), &q.body, true)
    }),
    r("DELETE /contacts/{id}/tags", Contact, |st, q| {
        followups::change_tags(st, q.p(0), &q.body, false)
    }),
    r("GET /contacts/business/{businessId}", InQuery, |st, q| {
        reads::business(st, q.p(0), &q.query)
    }),
    r(
        "GET /locations/{locationId}/customFields",
        Location,
        |st, q| reads::custom_fields(st, q.p(0)),
    ),
];

const fn r(endpoint: &'static str, spends: Spends, op: fn(&mut State, &Req) -> Answer) -> Route {
    Route {
        endpoint,
        spends,
        op,
    }
}

/// `router` with every API route of [`ROUTES`] (a path ending in `/` is also matched without
/// it, as GHL does for `/contacts/`).
pub(super) fn api(mut router: Router<AppState>) -> Router<AppState> {
    for route in ROUTES {
        let (method, path) = route.endpoint.split_once(' ').expect("METHOD /path");
        let method = match method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "PUT" => MethodFilter::PUT,
            "DELETE" => MethodFilter::DELETE,
            other => panic!("route {}: no method {other}", route.endpoint),
        };
        let handler = move |AxState(app): AxState<AppState>,
                            params: Option<Path<Vec<(String, String)>>>,
                            Query(query): Query<BTreeMap<String, String>>,
                            headers: HeaderMap,
                            body: Bytes| async move {
            let params =
                params.map_or_else(Vec::new, |Path(p)| p.into_iter().map(|(_, v)| v).collect());
            serve(
                route,
                &app,
                &headers,
                Req {
                    params,
                    query,
                    body,
                },
            )
            .await
        };
        router = router.route(path, on(method, handler));
        if let Some(bare) = path.strip_suffix('/') {
            router = router.route(bare, on(method, handler));
        }
    }
    router
}

/// Runs `route`'s operation on `req` through the gate.
async fn serve(route: &'static Route, app: &AppState, headers: &HeaderMap, req: Req) -> Response {
    let scope = match route.spends {
        Spends::Body => Scope::Body(&req.body),
        Spends::Query => Scope::Query(&req.query),
        Spends::Contact => Scope::Contact(req.p(0)),
        Spends::Location => Scope::Location(req.p(0)),
    };
    handle(app, headers, (route.endpoint, scope), |st| {
        (route.op)(st, &req)
    })
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_has_a_method_and_a_path_of_its_own() {
        // Building the router panics on an unknown method or two routes on one method and path.
        let _ = super::api(axum::Router::new());
        let mut seen = std::collections::BTreeSet::new();
        for r in super::ROUTES {
            let (method, path) = r.endpoint.split_once(' ').unwrap();
            assert!(
                ["GET", "POST", "PUT", "DELETE"].contains(&method),
                "{}",
                r.endpoint
            );
            assert!(path.starts_with('/'), "{}", r.endpoint);
            assert!(seen.insert(r.endpoint), "{} twice", r.endpoint);
        }
        assert_eq!(seen.len(), 33, "the Contacts API routes the sandbox serves");
    }
}
