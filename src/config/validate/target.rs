//! The target and API sections: one location or several (`locations`, `location_from`), the
//! base URL, and how to authenticate.

use super::*;

impl Checker<'_> {
    /// The target, required unless rows go to a CSV file.
    pub(super) fn target(&mut self, target: Option<TargetConfig>, sink: &Sink) -> Option<Target> {
        let c = self;
        match (target, sink) {
            (Some(mut t), _) => {
                let location_id = c.fanout(&mut t);
                Some(c.api("target", location_id, &t.base_url, t.auth))
            }
            (None, Sink::Ghl) => {
                c.errs.push(ConfigError::new(format!(
                    "{}: `target` is missing: name the location to load into (target.location_id, \
                     target.auth.token_env), or write a CSV file with `load: {{type: csv, path: …}}`",
                    c.shown
                )));
                None
            }
            (None, Sink::Csv { .. }) => None,
        }
    }

    /// `target.location_id`, or the several locations of `target.locations` /
    /// `location_from` (then the id is [`crate::config::Fanout::PLACEHOLDER`]).
    fn fanout(&mut self, t: &mut TargetConfig) -> String {
        use crate::config::model::{LocationsConfig, RouteConfig};
        use crate::config::{Fanout, LocationSet, Route};
        let several = t.locations.is_some() || t.location_from.is_some();
        let parallel = match t.parallel {
            Some(n) if !(1..=1000).contains(&n) => {
                self.err(&["target", "parallel"], "must be between 1 and 1000");
                16
            }
            Some(n) => n as usize,
            None => 16,
        };
        match (t.location_id.take(), several) {
            (Some(id), false) => {
                if t.parallel.is_some() {
                    self.err(
                        &["target", "parallel"],
                        "applies to several locations (target.locations)",
                    );
                }
                return id;
            }
            (Some(_), true) => {
                self.err(
                    &["target", "location_id"],
                    "names one location, and target.locations or location_from names several: keep one of them",
                );
                return String::new();
            }
            (None, false) => {
                self.err(
                    &["target"],
                    "needs location_id (one location), or locations / location_from (several)",
                );
                return String::new();
            }
            (None, true) => {}
        }
        let agency = t.auth.agency.is_some();
        let locations = match t.locations.take() {
            Some(LocationsConfig::List(ids)) => {
                let mut seen = std::collections::HashSet::new();
                for id in &ids {
                    if id.trim().is_empty() {
                        self.err(&["target", "locations"], "holds an empty location id");
                    } else if !seen.insert(id.as_str()) {
                        self.err(&["target", "locations"], format!("names `{id}` twice"));
                    }
                }
                if ids.is_empty() {
                    self.err(&["target", "locations"], "is empty");
                }
                LocationSet::List(ids)
            }
            Some(LocationsConfig::Installed(i)) => {
                if !i.installed {
                    self.err(
                        &["target", "locations", "installed"],
                        "must be true (or list the locations)",
                    );
                }
                if !agency {
                    self.err(
                        &["target", "locations"],
                        "`installed` needs target.auth.agency: the agency grant lists the locations it is installed on",
                    );
                }
                LocationSet::Installed { query: i.query }
            }
            None => LocationSet::Routed,
        };
        let route = t.location_from.take().map(|r| match r {
            RouteConfig::Column(column) => Route {
                column,
                map: Default::default(),
            },
            RouteConfig::Map(m) => Route {
                column: m.column,
                map: m
                    .map
                    .into_iter()
                    .map(|(k, v)| (k.trim().to_lowercase(), v))
                    .collect(),
            },
        });
        if let (Some(r), LocationSet::List(ids)) = (&route, &locations) {
            for v in r.map.values() {
                if !ids.contains(v) {
                    self.err(
                        &["target", "location_from", "map"],
                        format!("sends rows to `{v}`, which is not one of target.locations"),
                    );
                }
            }
        }
        if route.as_ref().is_some_and(|r| r.column.trim().is_empty()) {
            self.err(&["target", "location_from"], "names no column");
        }
        self.fanout = Some(Fanout {
            locations,
            route,
            parallel,
        });
        Fanout::PLACEHOLDER.to_owned()
    }

    /// Location, base URL and token variable of a target or a GHL source at `section`.
    pub(super) fn api(
        &mut self,
        section: &str,
        location_id: String,
        base_url: &str,
        auth: AuthConfig,
    ) -> Target {
        if location_id.trim().is_empty() {
            self.err(&[section, "location_id"], "must not be empty");
        }
        let base_url = match reqwest::Url::parse(base_url) {
            Ok(u) if !u.username().is_empty() || u.password().is_some() => {
                // Never echo the value: it holds a secret.
                self.err(
                    &[section, "base_url"],
                    "holds credentials (`user:password@`); they would be sent instead of the token and \
                     written into reports — remove them and name the token's variable in auth.token_env",
                );
                reqwest::Url::parse(DEFAULT_BASE_URL).expect("constant URL parses")
            }
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
            Ok(_) | Err(_) => {
                self.err(
                    &[section, "base_url"],
                    format!("`{base_url}` is not an http(s) URL (the production API is {DEFAULT_BASE_URL})"),
                );
                reqwest::Url::parse(DEFAULT_BASE_URL).expect("constant URL parses")
            }
        };
        let var_name_ok =
            |v: &str| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let secret_var = |this: &mut Self, key: &str, var: &str| {
            if !var_name_ok(var) {
                this.err(
                    &[section, "auth", key, "client_secret_env"],
                    super::not_a_variable_name(var, "GHL_CLIENT_SECRET", "the client secret"),
                );
            }
        };
        let chosen = [
            auth.token_env.is_some(),
            auth.oauth.is_some(),
            auth.agency.is_some(),
        ];
        let auth = match (auth.token_env, auth.oauth, auth.agency) {
            _ if chosen.iter().filter(|c| **c).count() > 1 => {
                self.err(
                    &[section, "auth"],
                    "has more than one of token_env, oauth and agency: choose one",
                );
                TargetAuth::Token { env: String::new() }
            }
            (Some(env), _, _) => {
                if !var_name_ok(&env) {
                    self.err(
                        &[section, "auth", "token_env"],
                        super::not_a_variable_name(&env, "GHL_TOKEN", "the token"),
                    );
                }
                TargetAuth::Token { env }
            }
            (_, Some(o), _) => {
                secret_var(self, "oauth", &o.client_secret_env);
                TargetAuth::OAuth {
                    client_secret_env: o.client_secret_env,
                }
            }
            (_, _, Some(a)) => {
                secret_var(self, "agency", &a.client_secret_env);
                TargetAuth::Agency {
                    client_secret_env: a.client_secret_env,
                    company_id: a.company_id,
                }
            }
            (None, None, None) => {
                self.err(
                    &[section, "auth"],
                    "needs token_env (a Private Integration Token's variable), oauth: {client_secret_env: …} \
                     or agency: {client_secret_env: …}",
                );
                TargetAuth::Token { env: String::new() }
            }
        };
        Target {
            location_id,
            base_url,
            auth,
        }
    }
}
