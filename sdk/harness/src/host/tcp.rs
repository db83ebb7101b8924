//! Driving TCP connections: new connection, data in both directions (buffered while paused), closes.

use crate::error::HarnessError;
use crate::state::ContextKind;
use crate::stream::{Action, ConnectionId, TcpConnection};
use crate::types::PeerType;

use super::Host;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Downstream,
    Upstream,
}

fn forward(conn: &mut TcpConnection, side: Side) {
    match side {
        Side::Downstream => {
            conn.downstream_paused = false;
            let data = std::mem::take(&mut conn.downstream_buffered);
            conn.downstream_forwarded.extend_from_slice(&data);
        }
        Side::Upstream => {
            conn.upstream_paused = false;
            let data = std::mem::take(&mut conn.upstream_buffered);
            conn.upstream_forwarded.extend_from_slice(&data);
        }
    }
}

impl Host {
    /// Opens a TCP connection on the first plugin: `proxy_on_context_create`, then `proxy_on_new_connection`.
    pub fn new_tcp_connection(&mut self) -> Result<(ConnectionId, Action), HarnessError> {
        self.open_connection(0)
    }

    /// Opens a TCP connection on the plugin with this root id.
    pub fn new_tcp_connection_for(
        &mut self,
        root_id: &str,
    ) -> Result<(ConnectionId, Action), HarnessError> {
        let index = self.plugin_index(root_id)?;
        self.open_connection(index)
    }

    fn open_connection(&mut self, index: usize) -> Result<(ConnectionId, Action), HarnessError> {
        let (context_id, root) = self.new_context(index)?;
        let generation = self.generation;
        let state = self.vm.state_mut();
        state.contexts.insert(context_id, ContextKind::Tcp { root });
        state.connections.insert(
            context_id,
            TcpConnection {
                context_id,
                root_context_id: root,
                downstream_forwarded: Vec::new(),
                downstream_buffered: Vec::new(),
                upstream_forwarded: Vec::new(),
                upstream_buffered: Vec::new(),
                downstream_paused: false,
                upstream_paused: false,
                downstream_closed_by_plugin: false,
                upstream_closed_by_plugin: false,
                skipped: false,
                failed: false,
                done: false,
                deleted: false,
                vm_generation: generation,
                done_pending: false,
            },
        );
        let id = ConnectionId(context_id);
        if self.vm.failed {
            self.apply_failure(context_id);
            return Ok((id, self.ended_or_continue(id)?));
        }
        let create = self.vm.callbacks.on_context_create.clone();
        let created = self
            .vm
            .call(create, context_id, (context_id as i32, root as i32));
        let result = created.and_then(|_| {
            let f = self.vm.callbacks.on_new_connection.clone();
            self.vm.call(f, context_id, context_id as i32)
        });
        self.run_deferred();
        match result {
            Ok(code) => Ok((id, code.map_or(Action::Continue, Action::from_code))),
            Err(_) => {
                self.apply_failure(context_id);
                Ok((id, self.ended_or_continue(id)?))
            }
        }
    }

    fn ended_or_continue(&self, id: ConnectionId) -> Result<Action, HarnessError> {
        Ok(if self.connection(id)?.skipped {
            Action::Continue
        } else {
            Action::Ended
        })
    }

    fn connection_mut(&mut self, id: ConnectionId) -> Result<&mut TcpConnection, HarnessError> {
        self.vm
            .state_mut()
            .connections
            .get_mut(&id.0)
            .ok_or(HarnessError::UnknownConnection(id.0))
    }

    fn data(
        &mut self,
        id: ConnectionId,
        side: Side,
        data: &[u8],
        end_of_stream: bool,
    ) -> Result<Action, HarnessError> {
        let failed = self.vm.failed;
        let generation = self.generation;
        let conn = self.connection_mut(id)?;
        if conn.failed || conn.deleted {
            return Ok(Action::Ended);
        }
        if !conn.skipped && (failed || conn.vm_generation != generation) {
            self.apply_failure(id.0);
        }
        let conn = self.connection_mut(id)?;
        if conn.failed {
            return Ok(Action::Ended);
        }
        let buffer = match side {
            Side::Downstream => &mut conn.downstream_buffered,
            Side::Upstream => &mut conn.upstream_buffered,
        };
        buffer.extend_from_slice(data);
        let size = buffer.len() as i32;
        if conn.skipped {
            forward(conn, side);
            return Ok(Action::Continue);
        }
        let f = match side {
            Side::Downstream => self.vm.callbacks.on_downstream_data.clone(),
            Side::Upstream => self.vm.callbacks.on_upstream_data.clone(),
        };
        let ctx = id.0;
        let result = self
            .vm
            .call(f, ctx, (ctx as i32, size, i32::from(end_of_stream)));
        self.run_deferred();
        let Ok(code) = result else {
            self.apply_failure(ctx);
            let conn = self.connection_mut(id)?;
            if conn.skipped {
                forward(conn, side);
                return Ok(Action::Continue);
            }
            return Ok(Action::Ended);
        };
        let action = code.map_or(Action::Continue, Action::from_code);
        let conn = self.connection_mut(id)?;
        match action {
            Action::Continue => forward(conn, side),
            Action::Pause => match side {
                Side::Downstream => conn.downstream_paused = true,
                Side::Upstream => conn.upstream_paused = true,
            },
            Action::Ended => {}
        }
        Ok(action)
    }

    /// Delivers bytes from the client to `proxy_on_downstream_data`.
    pub fn downstream_data(
        &mut self,
        id: ConnectionId,
        data: &[u8],
        end_of_stream: bool,
    ) -> Result<Action, HarnessError> {
        self.data(id, Side::Downstream, data, end_of_stream)
    }

    /// Delivers bytes from the backend to `proxy_on_upstream_data`.
    pub fn upstream_data(
        &mut self,
        id: ConnectionId,
        data: &[u8],
        end_of_stream: bool,
    ) -> Result<Action, HarnessError> {
        self.data(id, Side::Upstream, data, end_of_stream)
    }

    fn close(&mut self, id: ConnectionId, side: Side, peer: PeerType) -> Result<(), HarnessError> {
        let conn = self.connection_mut(id)?;
        if conn.failed
            || conn.skipped
            || conn.deleted
            || conn.vm_generation != self.generation
            || self.vm.failed
        {
            return Ok(());
        }
        let f = match side {
            Side::Downstream => self.vm.callbacks.on_downstream_connection_close.clone(),
            Side::Upstream => self.vm.callbacks.on_upstream_connection_close.clone(),
        };
        let result = self.vm.call(f, id.0, (id.0 as i32, peer.code()));
        self.run_deferred();
        if result.is_err() {
            self.apply_failure(id.0);
        }
        Ok(())
    }

    /// Tells the plugin the client side closed (`proxy_on_downstream_connection_close`).
    pub fn downstream_close(
        &mut self,
        id: ConnectionId,
        peer: PeerType,
    ) -> Result<(), HarnessError> {
        self.close(id, Side::Downstream, peer)
    }

    /// Tells the plugin the backend side closed (`proxy_on_upstream_connection_close`).
    pub fn upstream_close(&mut self, id: ConnectionId, peer: PeerType) -> Result<(), HarnessError> {
        self.close(id, Side::Upstream, peer)
    }

    /// Ends the connection's context (`proxy_on_done`, `proxy_on_log`, `proxy_on_delete`).
    pub fn finish_connection(&mut self, id: ConnectionId) -> Result<(), HarnessError> {
        if self.connection_mut(id)?.deleted {
            return Ok(());
        }
        self.finish_context(id.0);
        Ok(())
    }

    /// The connection's current state.
    pub fn connection(&self, id: ConnectionId) -> Result<&TcpConnection, HarnessError> {
        self.vm
            .state()
            .connections
            .get(&id.0)
            .ok_or(HarnessError::UnknownConnection(id.0))
    }
}
