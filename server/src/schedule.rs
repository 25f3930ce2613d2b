//! Backburner-style render hours: per weekday, the windows in which the node
//! may start jobs. `mon = "19:00-07:00"` runs from Monday 19:00 to Tuesday
//! 07:00; `sat = "all"`, `sun = "none"`. Days not listed are unrestricted.

use chrono::{Datelike, NaiveDateTime, NaiveTime, Timelike, Weekday};
use serde::Deserialize;

/// `[schedule]` in node.toml.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFile {
    pub mon: Option<String>,
    pub tue: Option<String>,
    pub wed: Option<String>,
    pub thu: Option<String>,
    pub fri: Option<String>,
    pub sat: Option<String>,
    pub sun: Option<String>,
}

/// Allowed minutes per weekday (0 = Monday), as a 7×1440 bitmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    allowed: Vec<bool>,
}

const DAY: usize = 1440;

fn parse_time(s: &str) -> Option<usize> {
    let t = NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()?;
    Some((t.hour() * 60 + t.minute()) as usize)
}

impl Schedule {
    pub fn from_file(f: &ScheduleFile) -> Result<Option<Self>, String> {
        let days = [&f.mon, &f.tue, &f.wed, &f.thu, &f.fri, &f.sat, &f.sun];
        if days.iter().all(|d| d.is_none()) {
            return Ok(None);
        }
        let mut allowed = vec![false; 7 * DAY];
        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        for (day, spec) in days.iter().enumerate() {
            let Some(spec) = spec else {
                // Not listed: this day's own hours are open.
                allowed[day * DAY..(day + 1) * DAY].fill(true);
                continue;
            };
            for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                match part.to_ascii_lowercase().as_str() {
                    "all" => allowed[day * DAY..(day + 1) * DAY].fill(true),
                    "none" => {}
                    _ => {
                        let (a, b) = part
                            .split_once('-')
                            .and_then(|(a, b)| Some((parse_time(a)?, parse_time(b)?)))
                            .ok_or_else(|| {
                                format!(
                                    "schedule.{} = {spec:?}: expected HH:MM-HH:MM, all or none",
                                    names[day]
                                )
                            })?;
                        let start = day * DAY + a;
                        let len = if b > a { b - a } else { DAY - a + b };
                        for m in 0..len {
                            allowed[(start + m) % (7 * DAY)] = true;
                        }
                    }
                }
            }
        }
        Ok(Some(Schedule { allowed }))
    }

    fn index(t: NaiveDateTime) -> usize {
        t.weekday().num_days_from_monday() as usize * DAY + (t.hour() * 60 + t.minute()) as usize
    }

    pub fn allows(&self, t: NaiveDateTime) -> bool {
        self.allowed[Self::index(t)]
    }

    /// When the next window opens (None if it never does).
    pub fn next_open(&self, t: NaiveDateTime) -> Option<NaiveDateTime> {
        let i = Self::index(t);
        (1..=7 * DAY)
            .find(|k| self.allowed[(i + k) % (7 * DAY)])
            .map(|k| {
                let base = t
                    .with_second(0)
                    .and_then(|x| x.with_nanosecond(0))
                    .unwrap_or(t);
                base + chrono::Duration::minutes(k as i64)
            })
    }
}

pub fn weekday_name(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "Mon",
        Weekday::Tue => "Tue",
        Weekday::Wed => "Wed",
        Weekday::Thu => "Thu",
        Weekday::Fri => "Fri",
        Weekday::Sat => "Sat",
        Weekday::Sun => "Sun",
    }
}

/// `Mon 19:00`.
pub fn describe(t: NaiveDateTime) -> String {
    format!("{} {}", weekday_name(t.weekday()), t.format("%H:%M"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("time")
    }

    #[test]
    fn overnight_windows() {
        // 2026-11-23 is a Monday.
        let f = ScheduleFile {
            mon: Some("19:00-07:00".into()),
            tue: Some("19:00-07:00".into()),
            wed: Some("none".into()),
            ..Default::default()
        };
        let s = Schedule::from_file(&f).expect("valid").expect("some");
        assert!(!s.allows(at("2026-11-23 18:59")));
        assert!(s.allows(at("2026-11-23 19:00")));
        assert!(
            s.allows(at("2026-11-24 06:59")),
            "Monday's window runs into Tuesday"
        );
        assert!(!s.allows(at("2026-11-24 07:00")));
        assert_eq!(
            s.next_open(at("2026-11-23 12:30")),
            Some(at("2026-11-23 19:00"))
        );
        assert!(!s.allows(at("2026-11-25 12:00")), "wed = none");
        assert!(
            s.allows(at("2026-11-25 03:00")),
            "Tuesday's window runs into Wednesday"
        );
        assert!(s.allows(at("2026-11-26 12:00")), "unlisted days are open");
        assert!(
            Schedule::from_file(&ScheduleFile {
                mon: Some("7pm".into()),
                ..Default::default()
            })
            .is_err()
        );
        assert_eq!(Schedule::from_file(&ScheduleFile::default()), Ok(None));
    }
}
