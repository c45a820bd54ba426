//! UTC timestamps for snapshots and results-directory names, without a date-time dependency:
//! converting seconds since the epoch to a civil date is a dozen lines (Howard Hinnant's
//! `civil_from_days`).

use std::time::{SystemTime, UNIX_EPOCH};

/// A UTC instant broken into its civil fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl UtcTime {
    pub fn from_system(t: SystemTime) -> UtcTime {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        Self::from_unix(d.as_secs() as i64, d.subsec_millis())
    }

    pub fn now() -> UtcTime {
        Self::from_system(SystemTime::now())
    }

    pub fn from_unix(secs: i64, millis: u32) -> UtcTime {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        UtcTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
            millis,
        }
    }

    /// `2026-11-26T19:36:57.123Z`
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }

    /// `20261126T193657Z`, for directory names (sorts by time).
    pub fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(
            UtcTime::from_unix(0, 0).rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
        // 2000-02-29 (leap day) 12:34:56
        assert_eq!(
            UtcTime::from_unix(951_827_696, 7).rfc3339(),
            "2000-02-29T12:34:56.007Z"
        );
        assert_eq!(
            UtcTime::from_unix(1_795_721_817, 0).compact(),
            "20261126T193657Z"
        );
    }
}
