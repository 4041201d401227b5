//! The embedded GHL sandbox: an in-process emulator of the Contacts API v2 served over real HTTP
//! on 127.0.0.1 (axum). It enforces what the real API enforces — Bearer and `Version` headers,
//! unknown-property 422s, the no-duplicates rule, upsert matching, `X-RateLimit-*` headers and
//! 429s above the burst limit — and can inject scripted faults. It is the default target of the
//! quickstart and of the tests.

pub mod contacts;
mod dto;
pub mod followups;
mod handlers;
mod limits;
mod links;
pub mod oauth;
pub mod reads;
mod server;
pub mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::distr::Alphanumeric;
use rand::Rng;

use ghl_client::types::Contact;
pub use state::{Fault, SeedContact, SeedLocation, Stats};

/// Default location id of a sandbox started without one.
pub const DEFAULT_LOCATION: &str = "sandbox-location";

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Locations the sandbox token may access.
    pub locations: Vec<String>,
    /// The token clients must present; random when `None`.
    pub token: Option<String>,
    /// Whether two contacts may share an email or phone.
    pub allow_duplicates: bool,
    /// Burst limit: requests per interval.
    pub rate_max: u32,
    /// Burst interval.
    pub rate_interval: Duration,
    /// Daily allowance.
    pub daily_limit: u64,
    /// Requests another app spends at the start of every window (shared budget).
    pub other_app_requests: u32,
    /// How long search results lag writes.
    pub search_lag: Duration,
    /// The OAuth app and token lifetime.
    pub oauth: oauth::OAuthConfig,
    /// Scripted faults.
    pub faults: Vec<Fault>,
    /// What locations start with.
    pub seed: Vec<(String, SeedLocation)>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            port: 0,
            locations: vec![DEFAULT_LOCATION.to_owned()],
            token: None,
            allow_duplicates: false,
            rate_max: 100,
            rate_interval: Duration::from_secs(10),
            daily_limit: 200_000,
            other_app_requests: 0,
            search_lag: Duration::ZERO,
            oauth: oauth::OAuthConfig::default(),
            faults: Vec::new(),
            seed: Vec::new(),
        }
    }
}

/// A location with `n` synthetic contacts (`seed{i}@example.com`, unique phones, a tag each) and
/// two custom fields (`contact.membership_level` TEXT, `contact.lifetime_value` MONETORY) set on
/// every contact; every 5th contact has a note, every 10th a task, every 20th an appointment,
/// every 7th belongs to business `biz-1`.
pub fn synthetic_location(n: usize) -> SeedLocation {
    use ghl_client::types::{Appointment, CustomFieldDef, CustomFieldValue, Note, Task};
    let fields = vec![
        CustomFieldDef {
            id: "cf-membership".into(),
            name: "Membership level".into(),
            field_key: "contact.membership_level".into(),
            data_type: "TEXT".into(),
            ..Default::default()
        },
        CustomFieldDef {
            id: "cf-ltv".into(),
            name: "Lifetime value".into(),
            field_key: "contact.lifetime_value".into(),
            data_type: "MONETORY".into(),
            ..Default::default()
        },
    ];
    let contacts = (0..n)
        .map(|i| SeedContact {
            contact: Contact {
                first_name: Some(format!("Seed{i}")),
                last_name: Some("Contact".into()),
                name: Some(format!("Seed{i} Contact")),
                email: Some(format!("seed{i}@example.com")),
                phone: Some(format!("+1415{:07}", 2_000_000 + i)),
                tags: vec![["lead", "customer", "vip"][i % 3].to_owned()],
                business_id: (i % 7 == 0).then(|| "biz-1".to_owned()),
                custom_fields: vec![
                    CustomFieldValue {
                        id: "cf-membership".into(),
                        value: ["gold", "silver"][i % 2].into(),
                    },
                    CustomFieldValue {
                        id: "cf-ltv".into(),
                        value: serde_json::json!(i * 10),
                    },
                ],
                ..Default::default()
            },
            notes: if i % 5 == 0 {
                vec![Note {
                    body: format!("Called Seed{i}"),
                    ..Default::default()
                }]
            } else {
                vec![]
            },
            tasks: if i % 10 == 0 {
                vec![Task {
                    title: format!("Follow up Seed{i}"),
                    due_date: Some("2026-12-01T10:00:00Z".into()),
                    completed: i % 20 == 0,
                    ..Default::default()
                }]
            } else {
                vec![]
            },
            appointments: if i % 20 == 0 {
                vec![Appointment {
                    title: Some("Intro call".into()),
                    status: Some("booked".into()),
                    start_time: Some("2026-12-02 10:00:00".into()),
                    ..Default::default()
                }]
            } else {
                vec![]
            },
        })
        .collect();
    SeedLocation {
        custom_fields: fields,
        contacts,
    }
}

/// Seeds for `locations`: the first gets [`synthetic_location`]`(n)`; every other location gets
/// the same custom field definitions under its own ids (`<location>-cf-…`), as two real
/// locations would, so that fields can be matched across them by `fieldKey`.
pub fn synthetic_seed(locations: &[String], n: usize) -> Vec<(String, SeedLocation)> {
    let mut out = Vec::new();
    for (i, loc) in locations.iter().enumerate() {
        if i == 0 {
            out.push((loc.clone(), synthetic_location(n)));
        } else {
            let mut fields = synthetic_location(0).custom_fields;
            for f in &mut fields {
                f.id = format!("{loc}-{}", f.id);
            }
            out.push((
                loc.clone(),
                SeedLocation {
                    custom_fields: fields,
                    contacts: Vec::new(),
                },
            ));
        }
    }
    out
}

/// Reads a seed file: a JSON object mapping location ids to `{customFields, contacts}`.
pub fn read_seed_file(path: &std::path::Path) -> anyhow::Result<Vec<(String, SeedLocation)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read seed file {}: {e}", path.display()))?;
    let map: std::collections::BTreeMap<String, SeedLocation> = serde_json::from_str(&text)
        .map_err(|e| {
            anyhow::anyhow!(
                "seed file {}: {e} (expected {{\"<locationId>\": {{\"customFields\": [...], \"contacts\": [...]}}}})",
                path.display()
            )
        })?;
    Ok(map.into_iter().collect())
}

/// A running sandbox. Dropping it stops the server.
#[derive(Debug)]
pub struct Sandbox {
    addr: SocketAddr,
    token: String,
    state: Arc<Mutex<state::State>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Sandbox {
    /// Binds 127.0.0.1:`port` and serves in a background task of the current runtime.
    pub async fn start(cfg: SandboxConfig) -> std::io::Result<Sandbox> {
        let token = cfg.token.clone().unwrap_or_else(|| {
            let s: String = rand::rng()
                .sample_iter(&Alphanumeric)
                .take(32)
                .map(char::from)
                .collect();
            format!("sbx-{s}")
        });
        let mut st = state::State::new(
            &cfg.locations,
            cfg.allow_duplicates,
            cfg.rate_max,
            cfg.rate_interval,
            cfg.daily_limit,
            cfg.faults.clone(),
        );
        st.windows.other_app = cfg.other_app_requests;
        st.search_lag = cfg.search_lag;
        st.oauth = oauth::OAuthState::new(cfg.oauth.clone());
        for (loc, contacts) in cfg.seed.clone() {
            st.seed(&loc, contacts);
        }
        let state = Arc::new(Mutex::new(st));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", cfg.port)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let app = server::router(server::AppState {
            state: Arc::clone(&state),
            token: token.clone(),
            rate_max: cfg.rate_max,
            rate_interval: cfg.rate_interval,
            daily_limit: cfg.daily_limit,
        });
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "Sandbox server stopped.");
            }
        });
        Ok(Sandbox {
            addr,
            token,
            state,
            shutdown: Some(tx),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The token the sandbox accepts (a sandbox credential, not an account's secret).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Every contact of `location`, in creation order.
    pub fn contacts(&self, location: &str) -> Vec<Contact> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.locations.get(location).cloned().unwrap_or_default()
    }

    /// A copy of the request statistics.
    pub fn stats(&self) -> Stats {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stats
            .clone()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
