//! The fault-injecting proxy against plain UDP sockets: a clean link forwards both ways and keeps
//! clients apart, total loss drops everything, a one-way cut drops one direction only, duplicates
//! arrive twice, and jittered delay reorders.

use std::net::SocketAddr;
use std::time::Duration;

use tests::fault_proxy::{Direction, FaultProfile, FaultProxy};
use tokio::net::UdpSocket;

/// How long a test waits for a datagram that should arrive (loopback; the delays below are far
/// shorter).
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a test listens to be sure that nothing (more) arrives.
const SILENCE: Duration = Duration::from_millis(300);

/// A stand-in relay that echoes every datagram back to its sender, prefixed with "echo:".
async fn echo_server() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let address = socket.local_addr().expect("address");
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 65_536];
        while let Ok((length, from)) = socket.recv_from(&mut buffer).await {
            let mut answer = b"echo:".to_vec();
            answer.extend_from_slice(&buffer[..length]);
            let _ = socket.send_to(&answer, from).await;
        }
    });
    address
}

/// A stand-in relay that only counts what reaches it.
async fn sink() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.expect("bind")
}

async fn client() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.expect("bind")
}

/// The next datagram on `socket`, or `None` after `wait`.
async fn receive(socket: &UdpSocket, wait: Duration) -> Option<Vec<u8>> {
    let mut buffer = vec![0u8; 65_536];
    match tokio::time::timeout(wait, socket.recv_from(&mut buffer)).await {
        Ok(Ok((length, _))) => Some(buffer[..length].to_vec()),
        _ => None,
    }
}

/// Everything that arrives on `socket` until it has been quiet for [`SILENCE`].
async fn receive_all(socket: &UdpSocket) -> Vec<Vec<u8>> {
    let mut received = Vec::new();
    while let Some(datagram) = receive(socket, SILENCE).await {
        received.push(datagram);
    }
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_proxy_forwards_both_ways_and_keeps_clients_apart() {
    let relay = echo_server().await;
    let proxy = FaultProxy::start(relay, 1).await.expect("proxy");
    let first = client().await;
    let second = client().await;
    first.send_to(b"one", proxy.address()).await.expect("send");
    second.send_to(b"two", proxy.address()).await.expect("send");
    assert_eq!(
        receive(&first, ARRIVAL_TIMEOUT).await.as_deref(),
        Some(&b"echo:one"[..])
    );
    assert_eq!(
        receive(&second, ARRIVAL_TIMEOUT).await.as_deref(),
        Some(&b"echo:two"[..])
    );
    assert_eq!(proxy.client_count(), 2, "one upstream socket per client");
    assert_eq!(proxy.counts(Direction::NodeToRelay).forwarded, 2);
    assert_eq!(proxy.counts(Direction::RelayToNode).forwarded, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_sees_a_distinct_peer_per_client() {
    let relay = sink().await;
    let proxy = FaultProxy::start(relay.local_addr().expect("address"), 2)
        .await
        .expect("proxy");
    let mut peers = std::collections::BTreeSet::new();
    for _ in 0..3 {
        let socket = client().await;
        socket
            .send_to(b"hello", proxy.address())
            .await
            .expect("send");
        let mut buffer = [0u8; 16];
        let (_, from) = tokio::time::timeout(ARRIVAL_TIMEOUT, relay.recv_from(&mut buffer))
            .await
            .expect("arrives")
            .expect("received");
        peers.insert(from);
    }
    assert_eq!(peers.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_everything_delivers_nothing() {
    let relay = sink().await;
    let proxy = FaultProxy::start(relay.local_addr().expect("address"), 3)
        .await
        .expect("proxy");
    proxy.set_profile(
        Direction::NodeToRelay,
        FaultProfile {
            drop_probability: 1.0,
            ..FaultProfile::CLEAN
        },
    );
    let node = client().await;
    for index in 0..50u8 {
        node.send_to(&[index], proxy.address()).await.expect("send");
    }
    assert!(receive_all(&relay).await.is_empty(), "nothing gets through");
    let counts = proxy.counts(Direction::NodeToRelay);
    assert_eq!(
        (counts.received, counts.dropped, counts.forwarded),
        (50, 50, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_way_cut_drops_that_direction_only_and_heals() {
    let relay = echo_server().await;
    let proxy = FaultProxy::start(relay, 4).await.expect("proxy");
    let node = client().await;
    // The relay's answers are cut: the relay still hears the node, the node hears nothing.
    proxy.cut_one_way(Direction::RelayToNode);
    for _ in 0..5 {
        node.send_to(b"ping", proxy.address()).await.expect("send");
    }
    assert!(receive_all(&node).await.is_empty(), "no answer comes back");
    assert_eq!(proxy.counts(Direction::NodeToRelay).forwarded, 5);
    assert_eq!(proxy.counts(Direction::RelayToNode).dropped, 5);

    // The other way round: the node's datagrams never reach the relay, so nothing is answered.
    proxy.set_profile(Direction::RelayToNode, FaultProfile::CLEAN);
    proxy.cut_one_way(Direction::NodeToRelay);
    node.send_to(b"ping", proxy.address()).await.expect("send");
    assert!(receive_all(&node).await.is_empty());
    assert_eq!(proxy.counts(Direction::NodeToRelay).dropped, 1);

    proxy.heal();
    node.send_to(b"back", proxy.address()).await.expect("send");
    assert_eq!(
        receive(&node, ARRIVAL_TIMEOUT).await.as_deref(),
        Some(&b"echo:back"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_datagrams_arrive_twice() {
    let relay = sink().await;
    let proxy = FaultProxy::start(relay.local_addr().expect("address"), 5)
        .await
        .expect("proxy");
    proxy.set_profile(
        Direction::NodeToRelay,
        FaultProfile {
            duplicate_probability: 1.0,
            ..FaultProfile::CLEAN
        },
    );
    let node = client().await;
    for index in 0..10u8 {
        node.send_to(&[index], proxy.address()).await.expect("send");
    }
    let mut received = receive_all(&relay).await;
    received.sort();
    let expected: Vec<Vec<u8>> = (0..10u8)
        .flat_map(|index| [vec![index], vec![index]])
        .collect();
    assert_eq!(received, expected);
    assert_eq!(proxy.counts(Direction::NodeToRelay).duplicated, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jittered_delay_reorders_and_loses_nothing() {
    let relay = sink().await;
    let proxy = FaultProxy::start(relay.local_addr().expect("address"), 6)
        .await
        .expect("proxy");
    proxy.set_profile(
        Direction::NodeToRelay,
        FaultProfile {
            delay: Duration::from_millis(5),
            jitter: Duration::from_millis(100),
            ..FaultProfile::CLEAN
        },
    );
    let node = client().await;
    let sent: Vec<Vec<u8>> = (0..100u8).map(|index| vec![index]).collect();
    for datagram in &sent {
        node.send_to(datagram, proxy.address()).await.expect("send");
    }
    let received = receive_all(&relay).await;
    let mut sorted = received.clone();
    sorted.sort();
    assert_eq!(sorted, sent, "every datagram arrives exactly once");
    assert_ne!(
        received, sent,
        "100 datagrams within 100 ms of jitter overtake each other"
    );
    assert_eq!(proxy.counts(Direction::NodeToRelay).delayed, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_makes_the_same_decisions() {
    async fn dropped_indices(seed: u64) -> Vec<u8> {
        let relay = sink().await;
        let proxy = FaultProxy::start(relay.local_addr().expect("address"), seed)
            .await
            .expect("proxy");
        proxy.set_profile(
            Direction::NodeToRelay,
            FaultProfile::lossy(0.3, 0.0, Duration::ZERO),
        );
        let node = client().await;
        for index in 0..100u8 {
            node.send_to(&[index], proxy.address()).await.expect("send");
            // One at a time, so that the order of arrival is the order of sending.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let arrived: Vec<u8> = receive_all(&relay)
            .await
            .into_iter()
            .map(|datagram| datagram[0])
            .collect();
        (0..100u8)
            .filter(|index| !arrived.contains(index))
            .collect()
    }
    let first = dropped_indices(42).await;
    assert!(!first.is_empty() && first.len() < 100);
    assert_eq!(first, dropped_indices(42).await);
}
