//! Schedules: `schedule: {cron, timezone, catch_up}` in a pipeline, for `ghl-import serve`. The
//! cron pattern (5 fields, or 6 with seconds first) is parsed by croner and evaluated in an IANA
//! time zone (chrono-tz), so 02:00 Europe/Berlin stays 02:00 across daylight-saving changes (a
//! time that does not exist that night is skipped, one that happens twice runs once).

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;

use serde::Deserialize;

/// What a missed scheduled run becomes.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Wait for the next time.
    #[default]
    Skip,
    /// Run once at start, however many were missed.
    Once,
}

/// A checked schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The pattern as written.
    pub pattern: String,
    /// The time zone it is read in.
    pub tz: Tz,
    /// What a missed run becomes.
    pub catch_up: CatchUp,
    cron: Cron,
}

/// croner's error in the user's words.
fn cron_words(e: &croner::errors::CronError) -> String {
    let said = e.to_string();
    let why = said
        .strip_prefix("Component error: ")
        .or_else(|| said.strip_prefix("Invalid pattern: "))
        .unwrap_or(&said)
        .trim_end_matches('.');
    let why = match why {
        "Number out of bounds" => {
            "a number is out of range (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-7; seconds 0-59 first when there are 6 fields)".to_owned()
        }
        other => other.to_lowercase(),
    };
    format!("{why}; write 5 fields (`minute hour day-of-month month day-of-week`, e.g. `0 2 * * *`) or 6 with seconds first")
}

impl Schedule {
    /// Parses `pattern` in `tz` (an IANA name; `UTC` when absent).
    pub fn new(pattern: &str, tz: Option<&str>, catch_up: CatchUp) -> Result<Schedule, String> {
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(pattern)
            .map_err(|e| format!("`{pattern}` is not a cron pattern: {}", cron_words(&e)))?;
        let tz: Tz = match tz {
            None => Tz::UTC,
            Some(name) => name.parse().map_err(|_| {
                format!(
                    "`{name}` is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)"
                )
            })?,
        };
        Ok(Schedule {
            pattern: pattern.to_owned(),
            tz,
            catch_up,
            cron,
        })
    }

    /// The first time the schedule fires strictly after `t`.
    pub fn next_after(&self, t: SystemTime) -> Option<SystemTime> {
        let local = DateTime::<Utc>::from(t).with_timezone(&self.tz);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|d| SystemTime::from(d.with_timezone(&Utc)))
    }

    /// The last time the schedule fired at or before `t`.
    pub fn last_at_or_before(&self, t: SystemTime) -> Option<SystemTime> {
        let local = DateTime::<Utc>::from(t).with_timezone(&self.tz);
        self.cron
            .find_previous_occurrence(&local, true)
            .ok()
            .map(|d| SystemTime::from(d.with_timezone(&Utc)))
    }

    /// Whether a run was missed: the pipeline last started at `last_run`, and the schedule fired
    /// after that and before `now`. A pipeline that never ran has missed nothing.
    pub fn missed(&self, last_run: Option<SystemTime>, now: SystemTime) -> bool {
        match (last_run, self.last_at_or_before(now)) {
            (Some(last), Some(fired)) => fired > last,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(rfc3339: &str) -> SystemTime {
        SystemTime::from(
            DateTime::parse_from_rfc3339(rfc3339)
                .unwrap()
                .with_timezone(&Utc),
        )
    }

    #[test]
    fn fires_at_local_time_across_daylight_saving() {
        let s = Schedule::new("0 2 * * *", Some("Europe/Berlin"), CatchUp::Skip).unwrap();
        // Winter: 02:00 CET is 01:00 UTC.
        assert_eq!(
            s.next_after(at("2026-01-10T12:00:00Z")),
            Some(at("2026-01-11T01:00:00Z"))
        );
        // Summer: 02:00 CEST is 00:00 UTC.
        assert_eq!(
            s.next_after(at("2026-07-10T12:00:00Z")),
            Some(at("2026-07-11T00:00:00Z"))
        );
        // 29 March 2026: 02:00 does not exist in Berlin; the run is not made twice, nor at 01:00.
        let next = s.next_after(at("2026-03-28T12:00:00Z")).unwrap();
        assert!(
            next >= at("2026-03-29T00:00:00Z"),
            "{:?}",
            DateTime::<Utc>::from(next)
        );
    }

    #[test]
    fn seconds_are_optional_and_bad_input_is_explained() {
        let s = Schedule::new("*/2 * * * * *", None, CatchUp::Skip).unwrap();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_001);
        assert_eq!(
            s.next_after(t0),
            Some(UNIX_EPOCH + Duration::from_secs(1_800_000_002))
        );
        assert!(Schedule::new("every day", None, CatchUp::Skip)
            .unwrap_err()
            .contains("not a cron pattern"));
        assert!(
            Schedule::new("0 2 * * *", Some("Mars/Olympus"), CatchUp::Skip)
                .unwrap_err()
                .contains("IANA")
        );
    }

    #[test]
    fn a_run_is_missed_when_the_schedule_fired_since_the_last_one() {
        let s = Schedule::new("0 2 * * *", Some("UTC"), CatchUp::Once).unwrap();
        let now = at("2026-11-29T12:00:00Z");
        assert!(
            s.missed(Some(at("2026-11-28T02:00:05Z")), now),
            "29th 02:00 passed since"
        );
        assert!(!s.missed(Some(at("2026-11-29T02:00:01Z")), now));
        assert!(!s.missed(None, now), "never ran: nothing missed");
    }
}
