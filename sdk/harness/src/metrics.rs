//! Metrics the plugin defined, with Envoy's rules for counters, gauges and histograms.

use crate::types::{MetricType, Status};

/// The current value of a metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricValue {
    /// A counter.
    Counter(u64),
    /// A gauge.
    Gauge(i64),
    /// A histogram: every recorded value, in order.
    Histogram(Vec<u64>),
}

#[derive(Debug, Clone)]
pub(crate) struct Metric {
    pub(crate) name: String,
    pub(crate) kind: MetricType,
    pub(crate) value: MetricValue,
}

/// All metrics, by id (ids start at 1).
#[derive(Debug, Default, Clone)]
pub(crate) struct Metrics {
    metrics: Vec<Metric>,
}

impl Metrics {
    /// Defines a metric; defining the same name and type again returns the same id.
    pub(crate) fn define(&mut self, kind: MetricType, name: &str) -> u32 {
        if let Some(i) = self
            .metrics
            .iter()
            .position(|m| m.name == name && m.kind == kind)
        {
            return i as u32 + 1;
        }
        let value = match kind {
            MetricType::Counter => MetricValue::Counter(0),
            MetricType::Gauge => MetricValue::Gauge(0),
            MetricType::Histogram => MetricValue::Histogram(Vec::new()),
        };
        self.metrics.push(Metric {
            name: name.to_string(),
            kind,
            value,
        });
        self.metrics.len() as u32
    }

    fn get_mut(&mut self, id: u32) -> Result<&mut Metric, Status> {
        let index = (id as usize).checked_sub(1).ok_or(Status::NotFound)?;
        self.metrics.get_mut(index).ok_or(Status::NotFound)
    }

    /// `proxy_record_metric`: a counter adds the value (as Envoy does), a gauge is set, a histogram records.
    pub(crate) fn record(&mut self, id: u32, value: u64) -> Result<(), Status> {
        match &mut self.get_mut(id)?.value {
            MetricValue::Counter(c) => *c = c.saturating_add(value),
            MetricValue::Gauge(g) => *g = value as i64,
            MetricValue::Histogram(h) => h.push(value),
        }
        Ok(())
    }

    /// `proxy_increment_metric`: counters only grow; histograms cannot be incremented.
    pub(crate) fn increment(&mut self, id: u32, delta: i64) -> Result<(), Status> {
        match &mut self.get_mut(id)?.value {
            MetricValue::Counter(c) => {
                if delta < 0 {
                    return Err(Status::BadArgument);
                }
                *c = c.saturating_add(delta as u64);
            }
            MetricValue::Gauge(g) => *g = g.saturating_add(delta),
            MetricValue::Histogram(_) => return Err(Status::BadArgument),
        }
        Ok(())
    }

    /// `proxy_get_metric`: histograms cannot be read back (as in Envoy).
    pub(crate) fn get(&mut self, id: u32) -> Result<u64, Status> {
        match &self.get_mut(id)?.value {
            MetricValue::Counter(c) => Ok(*c),
            MetricValue::Gauge(g) => Ok(*g as u64),
            MetricValue::Histogram(_) => Err(Status::BadArgument),
        }
    }

    pub(crate) fn by_name(&self, name: &str) -> Option<&MetricValue> {
        self.metrics
            .iter()
            .find(|m| m.name == name)
            .map(|m| &m.value)
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = (&str, &MetricValue)> {
        self.metrics.iter().map(|m| (m.name.as_str(), &m.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_gauge_histogram() {
        let mut m = Metrics::default();
        let c = m.define(MetricType::Counter, "c");
        assert_eq!(m.define(MetricType::Counter, "c"), c);
        m.increment(c, 2).unwrap();
        m.record(c, 3).unwrap();
        assert_eq!(m.get(c), Ok(5));
        assert_eq!(m.increment(c, -1), Err(Status::BadArgument));
        let g = m.define(MetricType::Gauge, "g");
        m.record(g, 10).unwrap();
        m.increment(g, -4).unwrap();
        assert_eq!(m.by_name("g"), Some(&MetricValue::Gauge(6)));
        let h = m.define(MetricType::Histogram, "h");
        m.record(h, 1).unwrap();
        assert_eq!(m.get(h), Err(Status::BadArgument));
        assert_eq!(m.increment(h, 1), Err(Status::BadArgument));
        assert_eq!(m.get(99), Err(Status::NotFound));
        assert_eq!(m.record(0, 1), Err(Status::NotFound));
    }
}
