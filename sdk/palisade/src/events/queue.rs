//! The bounded queue events wait in until the sink takes them: limited in events and in
//! encoded bytes; when a new event does not fit, the oldest are dropped to make room.
//!
//! Events are kept already encoded for the configured content mode, so the byte limit is the
//! size of what will be sent (body plus headers), and the request path pays for encoding
//! once. The batch being sent (or waiting to be retried) stays at the head and counts
//! against the limits: dropping the oldest may drop it too.

use std::collections::VecDeque;

use super::encode::HttpMessage;

/// What happened to an event offered to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued, after dropping this many of the oldest events to make room.
    Queued {
        /// How many events were dropped from the head.
        dropped_oldest: usize,
    },
    /// Not queued: the event alone is larger than the byte limit.
    TooLarge,
}

/// Encoded events waiting for the sink, oldest first.
#[derive(Debug)]
pub(crate) struct EventQueue {
    items: VecDeque<(HttpMessage, usize)>,
    bytes: usize,
    max_events: usize,
    max_bytes: usize,
}

impl EventQueue {
    /// An empty queue holding at most `max_events` events and `max_bytes` encoded bytes.
    pub(crate) fn new(max_events: usize, max_bytes: usize) -> Self {
        Self {
            items: VecDeque::new(),
            bytes: 0,
            max_events,
            max_bytes,
        }
    }

    /// The bytes an encoded event counts for: its body and its headers' names and values.
    pub(crate) fn size_of(message: &HttpMessage) -> usize {
        message.body.len()
            + message
                .headers
                .iter()
                .map(|(name, value)| name.len() + value.len())
                .sum::<usize>()
    }

    /// Adds an event at the tail, dropping the oldest until it fits.
    pub(crate) fn push(&mut self, message: HttpMessage) -> Pushed {
        let size = Self::size_of(&message);
        if size > self.max_bytes {
            return Pushed::TooLarge;
        }
        let mut dropped_oldest = 0;
        while self.items.len() >= self.max_events || self.bytes + size > self.max_bytes {
            if self.pop_front(1) == 0 {
                break;
            }
            dropped_oldest += 1;
        }
        self.bytes += size;
        self.items.push_back((message, size));
        Pushed::Queued { dropped_oldest }
    }

    /// The first `n` events (fewer if the queue is shorter), oldest first.
    pub(crate) fn front(&self, n: usize) -> impl Iterator<Item = &HttpMessage> {
        self.items.iter().take(n).map(|(message, _)| message)
    }

    /// Removes up to `n` events from the head; returns how many were removed.
    pub(crate) fn pop_front(&mut self, n: usize) -> usize {
        let n = n.min(self.items.len());
        for (_, size) in self.items.drain(..n) {
            self.bytes -= size;
        }
        n
    }

    /// Events waiting.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// True when no event waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Encoded bytes waiting.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: usize, size: usize) -> HttpMessage {
        HttpMessage {
            headers: vec![("n".into(), n.to_string())],
            body: vec![b'x'; size - 1 - n.to_string().len()],
        }
    }

    fn numbers(queue: &EventQueue) -> Vec<String> {
        queue
            .front(usize::MAX)
            .map(|m| m.headers[0].1.clone())
            .collect()
    }

    #[test]
    fn the_event_limit_drops_the_oldest() {
        let mut queue = EventQueue::new(3, 1000);
        for n in 0..3 {
            assert_eq!(
                queue.push(event(n, 10)),
                Pushed::Queued { dropped_oldest: 0 }
            );
        }
        assert_eq!(
            queue.push(event(3, 10)),
            Pushed::Queued { dropped_oldest: 1 }
        );
        assert_eq!(numbers(&queue), ["1", "2", "3"]);
        assert_eq!((queue.len(), queue.bytes()), (3, 30));
    }

    #[test]
    fn the_byte_limit_drops_as_many_as_needed() {
        let mut queue = EventQueue::new(100, 50);
        for n in 0..5 {
            queue.push(event(n, 10));
        }
        assert_eq!(queue.bytes(), 50);
        assert_eq!(
            queue.push(event(5, 25)),
            Pushed::Queued { dropped_oldest: 3 }
        );
        assert_eq!(numbers(&queue), ["3", "4", "5"]);
        assert_eq!(queue.bytes(), 45);
    }

    #[test]
    fn an_event_larger_than_the_queue_is_refused() {
        let mut queue = EventQueue::new(100, 50);
        queue.push(event(0, 10));
        assert_eq!(queue.push(event(1, 51)), Pushed::TooLarge);
        assert_eq!(numbers(&queue), ["0"]);
        assert_eq!(
            queue.push(event(2, 50)),
            Pushed::Queued { dropped_oldest: 1 }
        );
    }

    #[test]
    fn popping_frees_the_bytes() {
        let mut queue = EventQueue::new(10, 100);
        for n in 0..4 {
            queue.push(event(n, 10));
        }
        assert_eq!(queue.front(2).count(), 2);
        assert_eq!(queue.pop_front(3), 3);
        assert_eq!((queue.len(), queue.bytes()), (1, 10));
        assert_eq!(queue.pop_front(5), 1);
        assert!(queue.is_empty());
        assert_eq!(queue.bytes(), 0);
    }
}
