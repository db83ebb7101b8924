//! TCP (stream) contexts: new connection, data both ways with buffering, close, connection closes.

use palisade_harness::{Action, HostBuilder, LogLevel, PeerType, PluginConfig};

use crate::support::probe;

fn tcp_host() -> anyhow::Result<palisade_harness::Host> {
    let mut host = HostBuilder::from_file(probe())
        .plugin(PluginConfig::new("tcp"))
        .build()?;
    assert!(host.start()?.ok());
    Ok(host)
}

#[test]
fn data_flows_and_is_changed() -> anyhow::Result<()> {
    let mut host = tcp_host()?;
    let (c, action) = host.new_tcp_connection()?;
    assert_eq!(action, Action::Continue);
    assert_eq!(host.downstream_data(c, b"hello", false)?, Action::Continue);
    assert_eq!(host.upstream_data(c, b"world", false)?, Action::Continue);
    let conn = host.connection(c)?;
    assert_eq!(conn.downstream_forwarded, b">hello");
    assert_eq!(conn.upstream_forwarded, b"world<");
    host.downstream_close(c, PeerType::Remote)?;
    host.upstream_close(c, PeerType::Local)?;
    host.finish_connection(c)?;
    assert!(host.connection(c)?.deleted);
    let logs = host.log_messages(LogLevel::Info);
    assert!(logs.contains(&format!("new connection {}", c.0).as_str()));
    assert!(logs.contains(&"downstream closed by 2"));
    assert!(logs.contains(&"upstream closed by 1"));
    assert!(logs.contains(&format!("tcp on_log {}", c.0).as_str()));
    Ok(())
}

#[test]
fn paused_data_accumulates() -> anyhow::Result<()> {
    let mut host = tcp_host()?;
    let (c, _) = host.new_tcp_connection()?;
    assert_eq!(host.downstream_data(c, b"more", false)?, Action::Pause);
    assert!(host.connection(c)?.downstream_paused);
    assert_eq!(host.downstream_data(c, b"-end", true)?, Action::Continue);
    assert_eq!(host.connection(c)?.downstream_forwarded, b">more-end");
    assert!(host
        .log_messages(LogLevel::Info)
        .contains(&"downstream 8 true: more-end"));
    Ok(())
}

#[test]
fn plugin_closes_connections() -> anyhow::Result<()> {
    let mut host = tcp_host()?;
    let (c, _) = host.new_tcp_connection()?;
    host.downstream_data(c, b"please close", false)?;
    assert!(host.connection(c)?.downstream_closed_by_plugin);
    host.upstream_data(c, b"close", false)?;
    assert!(host.connection(c)?.upstream_closed_by_plugin);
    Ok(())
}

#[test]
fn trap_closes_the_connection() -> anyhow::Result<()> {
    let mut host = tcp_host()?;
    let (c, _) = host.new_tcp_connection()?;
    assert_eq!(host.downstream_data(c, b"trap", false)?, Action::Ended);
    assert!(host.connection(c)?.failed);
    Ok(())
}
