//! What every module instance of one Envoy process shares: shared key-value data (with
//! compare-and-swap), shared queues, and the stats store (metrics). It outlives a VM reload.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::metrics::Metrics;
use crate::types::Status;

/// The process-wide state, shared by the instances of a [`crate::Process`] (a lone
/// [`crate::Host`] has its own).
#[derive(Debug, Default)]
pub(crate) struct ProcessState {
    pub(crate) shared_data: SharedData,
    pub(crate) queues: SharedQueues,
    pub(crate) metrics: Metrics,
    /// `proxy_on_queue_ready` calls owed to an instance other than the one that enqueued:
    /// Envoy posts them to the owner's thread.
    pub(crate) notifications: Vec<QueueNotification>,
}

/// A handle on the process-wide state.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedProcess(Arc<Mutex<ProcessState>>);

impl SharedProcess {
    /// The state; a test that panicked while holding it leaves it as it was.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ProcessState> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The root context that registered a queue, in the instance it lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueOwner {
    pub(crate) instance: u32,
    pub(crate) context_id: u32,
}

/// A queue's owner is to be told that `queue_id` has items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueNotification {
    pub(crate) owner: QueueOwner,
    pub(crate) queue_id: u32,
}

/// The shared key-value store of one VM id.
#[derive(Debug, Default, Clone)]
pub(crate) struct SharedData {
    entries: BTreeMap<String, (Vec<u8>, u32)>,
    next_cas: u32,
}

impl SharedData {
    pub(crate) fn get(&self, key: &str) -> Option<(&[u8], u32)> {
        self.entries.get(key).map(|(v, cas)| (v.as_slice(), *cas))
    }

    /// Sets `key`; a non-zero `cas` must match the current one (Envoy accepts any `cas` for a new key).
    pub(crate) fn set(&mut self, key: &str, value: Vec<u8>, cas: u32) -> Result<(), Status> {
        if let Some((_, current)) = self.entries.get(key) {
            if cas != 0 && cas != *current {
                return Err(Status::CasMismatch);
            }
        }
        self.next_cas = self.next_cas.wrapping_add(1).max(1);
        self.entries.insert(key.to_string(), (value, self.next_cas));
        Ok(())
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &String> {
        self.entries.keys()
    }
}

/// One shared queue.
#[derive(Debug, Clone)]
pub(crate) struct SharedQueue {
    pub(crate) vm_id: String,
    pub(crate) name: String,
    /// The root context to notify with `proxy_on_queue_ready`: the last to register it.
    pub(crate) owner: QueueOwner,
    pub(crate) items: VecDeque<Vec<u8>>,
}

/// All shared queues, by id (ids start at 1).
#[derive(Debug, Default, Clone)]
pub(crate) struct SharedQueues {
    queues: Vec<SharedQueue>,
}

impl SharedQueues {
    /// Registers (or re-opens) `name` under `vm_id`; the registering root context becomes its owner.
    pub(crate) fn register(&mut self, vm_id: &str, name: &str, owner: QueueOwner) -> u32 {
        if let Some(id) = self.resolve(vm_id, name) {
            if let Some(q) = self.get_mut(id) {
                q.owner = owner;
            }
            return id;
        }
        self.queues.push(SharedQueue {
            vm_id: vm_id.to_string(),
            name: name.to_string(),
            owner,
            items: VecDeque::new(),
        });
        self.queues.len() as u32
    }

    pub(crate) fn resolve(&self, vm_id: &str, name: &str) -> Option<u32> {
        self.queues
            .iter()
            .position(|q| q.vm_id == vm_id && q.name == name)
            .map(|i| i as u32 + 1)
    }

    /// Appends `item` to queue `id` and says whom to notify.
    pub(crate) fn push(&mut self, id: u32, item: Vec<u8>) -> Option<QueueNotification> {
        let queue = self.get_mut(id)?;
        queue.items.push_back(item);
        Some(QueueNotification {
            owner: queue.owner,
            queue_id: id,
        })
    }

    pub(crate) fn get(&self, id: u32) -> Option<&SharedQueue> {
        self.queues.get((id as usize).checked_sub(1)?)
    }

    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut SharedQueue> {
        self.queues.get_mut((id as usize).checked_sub(1)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_semantics() {
        let mut data = SharedData::default();
        data.set("k", b"1".to_vec(), 42).unwrap();
        let (_, cas) = data.get("k").unwrap();
        assert_eq!(
            data.set("k", b"2".to_vec(), cas + 1),
            Err(Status::CasMismatch)
        );
        data.set("k", b"2".to_vec(), cas).unwrap();
        assert_eq!(data.get("k").unwrap().0, b"2");
        assert_ne!(data.get("k").unwrap().1, cas);
        data.set("k", b"3".to_vec(), 0).unwrap();
    }

    #[test]
    fn queues_register_and_resolve() {
        let mut queues = SharedQueues::default();
        let owner = |context_id| QueueOwner {
            instance: 0,
            context_id,
        };
        let id = queues.register("vm", "q", owner(1));
        assert_eq!(queues.register("vm", "q", owner(2)), id);
        assert_eq!(queues.resolve("vm", "q"), Some(id));
        assert_eq!(queues.resolve("other", "q"), None);
        assert_eq!(queues.get(id).unwrap().owner, owner(2));
        assert!(queues.get(0).is_none());
    }
}
