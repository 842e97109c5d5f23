//! The clock every time-dependent rule reads: the system clock in
//! production, a clock tests set and advance (caps per local day, shifts,
//! SLA timers), never a sleep.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// Where "now" comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until told to move (tests).
#[derive(Debug, Clone)]
pub struct ManualClock {
    /// The instant it shows; shared by every clone.
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock showing `at`.
    pub fn at(at: DateTime<Utc>) -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(at)),
        }
    }

    /// Shows `at` from now on.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The system clock moved by an offset read from a file: the
/// development-only way to move a whole process's time (SLA timers, working
/// hours) from outside, for tests that run the services as processes. The
/// file holds the offset in seconds (`900`, `-3600`, `1.5`); a missing or
/// unreadable file is no offset. It is read again at most every
/// [`OffsetFileClock::REREAD`], so a change shows within that.
#[derive(Debug)]
pub struct OffsetFileClock {
    /// The file naming the offset.
    path: std::path::PathBuf,
    /// The offset last read, and when it was read.
    offset: Mutex<(std::time::Instant, Duration)>,
}

impl OffsetFileClock {
    /// How stale the offset may be.
    pub const REREAD: std::time::Duration = std::time::Duration::from_millis(50);

    /// The system clock, moved by the offset in `path`.
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        let path = path.into();
        let offset = Self::read(&path);
        OffsetFileClock {
            path,
            offset: Mutex::new((std::time::Instant::now(), offset)),
        }
    }

    fn read(path: &std::path::Path) -> Duration {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|seconds| seconds.is_finite() && seconds.abs() < 1e10)
            .map_or(Duration::zero(), |seconds| {
                Duration::milliseconds((seconds * 1000.0).round() as i64)
            })
    }
}

impl Clock for OffsetFileClock {
    fn now(&self) -> DateTime<Utc> {
        let mut offset = self.offset.lock().unwrap_or_else(|p| p.into_inner());
        if offset.0.elapsed() >= Self::REREAD {
            *offset = (std::time::Instant::now(), Self::read(&self.path));
        }
        Utc::now() + offset.1
    }
}

/// The clock services share.
pub type SharedClock = Arc<dyn Clock>;

/// A service's clock from its `LEADFLOW_DEV_CLOCK_FILE` setting: the system
/// clock when unset; an [`OffsetFileClock`] on that file in development;
/// refused, naming the setting, in production (`production`).
pub fn clock_from_setting(
    dev_clock_file: Option<&std::path::Path>,
    production: bool,
) -> Result<SharedClock, String> {
    match dev_clock_file {
        None => Ok(system_clock()),
        Some(_) if production => Err(
            "LEADFLOW_DEV_CLOCK_FILE is a development setting (it moves the service's clock); \
             LEADFLOW_ENV=production refuses it: unset it"
                .into(),
        ),
        Some(path) => Ok(Arc::new(OffsetFileClock::new(path))),
    }
}

/// The system clock, shared.
pub fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}
