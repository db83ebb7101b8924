//! Routes `log` records and panics into the proxy's log.
//!
//! Unlike the proxy-wasm crate's logger, a failed `proxy_log` is ignored rather than unwrapped:
//! logging must never be what takes the VM down.

use super::imports;

struct ProxyLogger;

static LOGGER: ProxyLogger = ProxyLogger;

const TRACE: u32 = 0;
const DEBUG: u32 = 1;
const INFO: u32 = 2;
const WARN: u32 = 3;
const ERROR: u32 = 4;
const CRITICAL: u32 = 5;

impl log::Log for ProxyLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Trace => TRACE,
            log::Level::Debug => DEBUG,
            log::Level::Info => INFO,
            log::Level::Warn => WARN,
            log::Level::Error => ERROR,
        };
        let _ = imports::log(level, &record.args().to_string());
    }

    fn flush(&self) {}
}

/// Installs the logger and a panic hook that logs the panic at critical level.
pub(super) fn install() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    std::panic::set_hook(Box::new(|info| {
        let _ = imports::log(CRITICAL, &format!("palisade: {info}"));
    }));
}

/// Matches the `log` crate's level to the proxy's, so disabled records cost nothing.
pub(super) fn sync_level() {
    let filter = match imports::get_log_level() {
        Ok(TRACE) => log::LevelFilter::Trace,
        Ok(DEBUG) => log::LevelFilter::Debug,
        Ok(INFO) | Err(_) => log::LevelFilter::Info,
        Ok(WARN) => log::LevelFilter::Warn,
        Ok(ERROR) => log::LevelFilter::Error,
        Ok(_) => log::LevelFilter::Off,
    };
    log::set_max_level(filter);
}
