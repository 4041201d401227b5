//! GHL as a source: a location's contacts read page by page through the same throttled,
//! retrying client as writes, flattened into records with fixed columns.
//!
//! `search` pages with `searchAfter` (the cursor of the previous page's last contact), which goes
//! past the 10,000-record window of `page` paging; the deprecated `list` pages with `startAfter`
//! and `startAfterId`. A contact id seen twice (an API that shifts pages under concurrent writes)
//! is yielded once. With `incremental`, only contacts updated at or after the stored high-water
//! mark are requested, and those at exactly the mark that were already read are skipped.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use crate::store::marks::Watermark;

use futures::StreamExt;

use crate::config::{GhlSource, Include, ReadMethod};
use crate::record::{Headers, Record};
use ghl_client::client::GhlClient;
use ghl_client::types::{Contact, CustomFieldDef, SearchRequest};

use super::SourceItem;

/// Columns of a GHL record, in order, before custom fields and includes. `tags` are joined
/// with `, `.
pub const CONTACT_COLUMNS: [&str; 20] = [
    "id",
    "firstName",
    "lastName",
    "name",
    "email",
    "phone",
    "companyName",
    "address1",
    "city",
    "state",
    "postalCode",
    "country",
    "website",
    "timezone",
    "source",
    "tags",
    "dateOfBirth",
    "dnd",
    "dateAdded",
    "dateUpdated",
];

impl Watermark {
    fn observe(&mut self, c: &Contact) {
        let Some(u) = c.date_updated.as_deref() else {
            return;
        };
        // Compared as instants (the API writes one instant in more than one form); an
        // unreadable timestamp counts as the earliest.
        let at = |t: &str| ghl_client::types::unix_millis(t).unwrap_or(0);
        let (new, old) = (at(u), at(&self.mark));
        if self.mark.is_empty() || new > old {
            self.mark = u.to_owned();
            self.ids_at_mark = vec![c.id.clone()];
        } else if new == old && !self.ids_at_mark.contains(&c.id) {
            self.ids_at_mark.push(c.id.clone());
        }
    }
}

enum Cursor {
    Start,
    Search(Vec<serde_json::Value>),
    List(serde_json::Value, String),
}

/// Reads a location's contacts. Blocking iterator: each page is fetched with the runtime handle
/// captured at open, so it must be driven from a blocking thread.
pub struct GhlReader {
    client: GhlClient,
    rt: tokio::runtime::Handle,
    src: GhlSource,
    headers: Headers,
    buffer: VecDeque<Contact>,
    cursor: Cursor,
    done: bool,
    next_row: u64,
    seen: HashSet<String>,
    /// Resume point (incremental) and the new one being built.
    since: Option<Watermark>,
    watermark: Watermark,
    duplicates: u64,
    error: Option<String>,
    total: Option<u64>,
    /// Custom field definitions, one column each (by `fieldKey`) after the fixed columns.
    fields: Vec<CustomFieldDef>,
    /// Extras fetched per contact: (contact id → JSON cells), filled per page.
    extras: std::collections::HashMap<String, Vec<String>>,
}

impl GhlReader {
    /// Opens the reader: lists the location's custom fields (one request) when they are wanted,
    /// to name their columns. Contacts are fetched from the first `next` on.
    pub async fn open(
        client: GhlClient,
        src: GhlSource,
        since: Option<Watermark>,
    ) -> Result<Self, String> {
        let fields = if src.custom_fields {
            client
                .custom_fields(&src.api.location_id)
                .await
                .map_err(|e| {
                    format!(
                        "listing the custom fields of GHL location {}: {e}; the token needs the \
                     locations/customFields.readonly scope, or set source.custom_fields: false",
                        src.api.location_id
                    )
                })?
        } else {
            Vec::new()
        };
        let mut r = Self::new(client, src, since);
        let mut headers: Vec<String> = r.headers.to_vec();
        headers.extend(fields.iter().map(|f| f.field_key.clone()));
        headers.extend(r.src.include.iter().map(|i| include_column(*i).to_owned()));
        r.headers = Arc::from(headers);
        r.fields = fields;
        Ok(r)
    }

    /// The custom fields whose columns the records carry.
    pub fn custom_fields(&self) -> &[CustomFieldDef] {
        &self.fields
    }

    /// A reader; nothing is fetched until the first `next`.
    pub fn new(client: GhlClient, src: GhlSource, since: Option<Watermark>) -> Self {
        let headers: Headers = Arc::from(
            CONTACT_COLUMNS
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>(),
        );
        GhlReader {
            client,
            rt: tokio::runtime::Handle::current(),
            src,
            headers,
            buffer: VecDeque::new(),
            cursor: Cursor::Start,
            done: false,
            next_row: 1,
            seen: HashSet::new(),
            since,
            watermark: Watermark::default(),
            duplicates: 0,
            error: None,
            total: None,
            fields: Vec::new(),
            extras: std::collections::HashMap::new(),
        }
    }

    /// Fetches the includes of the contacts now in the buffer, `concurrency` requests at a time.
    fn fetch_extras(&mut self) -> Result<(), String> {
        if self.src.include.is_empty() {
            return Ok(());
        }
        let jobs: Vec<(String, Include)> = self
            .buffer
            .iter()
            .filter(|c| !self.extras.contains_key(&c.id))
            .flat_map(|c| self.src.include.iter().map(move |i| (c.id.clone(), *i)))
            .collect();
        let client = self.client.clone();
        let results: Vec<Result<(String, Include, String), String>> = self.rt.block_on(
            futures::stream::iter(jobs)
                .map(|(id, inc)| {
                    let client = client.clone();
                    async move {
                        let json = match inc {
                            Include::Notes => {
                                client.notes(&id).await.map(|v| serde_json::to_string(&v))
                            }
                            Include::Tasks => {
                                client.tasks(&id).await.map(|v| serde_json::to_string(&v))
                            }
                            Include::Appointments => client
                                .appointments(&id)
                                .await
                                .map(|v| serde_json::to_string(&v)),
                        };
                        match json {
                            Ok(Ok(j)) => Ok((id, inc, j)),
                            Ok(Err(e)) => Err(e.to_string()),
                            Err(e) => Err(format!("{} of contact {id}: {e}", include_column(inc))),
                        }
                    }
                })
                .buffered(self.src.concurrency.max(1))
                .collect(),
        );
        for r in results {
            let (id, inc, json) = r?;
            let pos = self
                .src
                .include
                .iter()
                .position(|i| *i == inc)
                .expect("include listed");
            let cells = self
                .extras
                .entry(id)
                .or_insert_with(|| vec![String::new(); self.src.include.len()]);
            cells[pos] = json;
        }
        Ok(())
    }

    /// Column names.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The error that stopped reading, if any (taken once).
    pub fn take_error(&mut self) -> Option<String> {
        self.error.take()
    }

    /// The high-water mark after everything read so far (incremental reading).
    pub fn watermark(&self) -> Watermark {
        if self.watermark.mark.is_empty() {
            self.since.clone().unwrap_or_default()
        } else {
            self.watermark.clone()
        }
    }

    /// Contacts yielded twice by the API and skipped.
    pub fn duplicates_skipped(&self) -> u64 {
        self.duplicates
    }

    /// The total the API announced on the first page, if it did.
    pub fn announced_total(&self) -> Option<u64> {
        self.total
    }

    fn fetch(&mut self) -> Result<(), String> {
        let loc = self.src.api.location_id.clone();
        match self.src.method {
            ReadMethod::Search => {
                let mut filters = self.src.filters.clone();
                if let Some(w) = &self.since {
                    filters.push(serde_json::json!({
                        "field": "dateUpdated", "operator": "range", "value": {"gte": w.mark}
                    }));
                }
                let req = SearchRequest {
                    location_id: loc,
                    page_limit: self.src.page_size,
                    page: None,
                    search_after: match &self.cursor {
                        Cursor::Search(a) => Some(a.clone()),
                        _ => None,
                    },
                    filters,
                    query: self.src.query.clone(),
                };
                let resp = self
                    .rt
                    .block_on(self.client.search_contacts(&req))
                    .map_err(|e| e.to_string())?;
                if self.total.is_none() {
                    self.total = resp.total;
                }
                match resp.contacts.last().and_then(|c| c.search_after.clone()) {
                    Some(a) => self.cursor = Cursor::Search(a),
                    None => self.done = true,
                }
                if resp.contacts.len() < self.src.page_size as usize {
                    self.done = true;
                }
                self.buffer
                    .extend(resp.contacts.into_iter().map(|c| c.contact));
            }
            ReadMethod::List => {
                let after = match &self.cursor {
                    Cursor::List(ms, id) => Some((ms, id.as_str())),
                    _ => None,
                };
                let resp = self
                    .rt
                    .block_on(self.client.list_contacts(&loc, self.src.page_size, after))
                    .map_err(|e| e.to_string())?;
                if self.total.is_none() {
                    self.total = resp.count.or(resp.meta.as_ref().and_then(|m| m.total));
                }
                let next = resp
                    .meta
                    .as_ref()
                    .and_then(|m| Some((m.start_after.clone()?, m.start_after_id.clone()?)));
                match next {
                    Some((ms, id)) if !resp.contacts.is_empty() => {
                        self.cursor = Cursor::List(ms, id)
                    }
                    _ => self.done = true,
                }
                if resp.contacts.len() < self.src.page_size as usize {
                    self.done = true;
                }
                self.buffer.extend(resp.contacts);
            }
        }
        Ok(())
    }

    fn record(&mut self, c: &Contact) -> Record {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let cells = vec![
            c.id.clone(),
            opt(&c.first_name),
            opt(&c.last_name),
            opt(&c.name),
            opt(&c.email),
            opt(&c.phone),
            opt(&c.company_name),
            opt(&c.address1),
            opt(&c.city),
            opt(&c.state),
            opt(&c.postal_code),
            opt(&c.country),
            opt(&c.website),
            opt(&c.timezone),
            opt(&c.source),
            c.tags.join(", "),
            opt(&c.date_of_birth),
            c.dnd.map(|d| d.to_string()).unwrap_or_default(),
            opt(&c.date_added),
            opt(&c.date_updated),
        ];
        let mut cells = cells;
        for f in &self.fields {
            cells.push(
                c.custom_fields
                    .iter()
                    .find(|v| v.id == f.id)
                    .map(|v| v.text())
                    .unwrap_or_default(),
            );
        }
        if !self.src.include.is_empty() {
            let extras = self
                .extras
                .remove(&c.id)
                .unwrap_or_else(|| vec!["[]".into(); self.src.include.len()]);
            cells.extend(extras);
        }
        let row = self.next_row;
        self.next_row += 1;
        Record::new(row, cells)
    }
}

/// Column name of an include.
pub fn include_column(i: Include) -> &'static str {
    match i {
        Include::Notes => "notes",
        Include::Tasks => "tasks",
        Include::Appointments => "appointments",
    }
}

impl Iterator for GhlReader {
    type Item = SourceItem;

    fn next(&mut self) -> Option<SourceItem> {
        loop {
            if self.buffer.is_empty() {
                if self.done {
                    return None;
                }
                if let Err(e) = self.fetch().and_then(|()| self.fetch_extras()) {
                    self.error = Some(format!(
                        "reading GHL location {}: {e}",
                        self.src.api.location_id
                    ));
                    self.done = true;
                    return None;
                }
                continue;
            }
            let c = self.buffer.pop_front().expect("buffer is not empty");
            if !self.seen.insert(c.id.clone()) {
                self.duplicates += 1;
                continue;
            }
            if let Some(w) = &self.since {
                if c.date_updated.as_deref() == Some(w.mark.as_str())
                    && w.ids_at_mark.contains(&c.id)
                {
                    continue; // read by the previous run
                }
            }
            self.watermark.observe(&c);
            return Some(SourceItem::Row(self.record(&c)));
        }
    }
}
