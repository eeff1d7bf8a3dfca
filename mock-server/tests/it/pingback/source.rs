//! Where pingbacks come from: `pingback.source-address` binds every callback's socket to
//! one local address, so a receiver that trusts the sender's address can be tested; an
//! address that is not one of this machine's stops the mock before it starts.

use std::{net::IpAddr, time::Duration};

use crate::support::pingback::*;
use captchaai_mock::{Dialect, MockServer, StartError};

#[tokio::test(start_paused = true)]
async fn every_callback_leaves_from_the_configured_source_address() {
    // On Linux all of 127.0.0.0/8 is local: 127.0.0.3 is an address of this machine, but
    // not the one the system would choose for a callback to 127.0.0.1.
    for (source, expected) in [(None, "127.0.0.1"), (Some("127.0.0.3"), "127.0.0.3")] {
        let rx = recorder().await;
        let mut cfg = config(7, Dialect::Captchaai, vec![]);
        cfg.pingback.source_address = source.map(|s| s.parse().unwrap());
        let mock = Mock::start(cfg).await;
        let id = mock.submit(&rx.url("/hook")).await;
        let got = rx.wait_for(1, Duration::from_secs(30)).await.unwrap();
        assert_eq!(got[0].param("id"), Some(id.to_string().as_str()));
        assert_eq!(got[0].peer.ip().to_string(), expected, "{source:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_builder_sets_the_source_address() {
    let rx = recorder().await;
    let addr: IpAddr = "127.0.0.4".parse().unwrap();
    let server = MockServer::builder()
        .config(config(7, Dialect::Captchaai, vec![]))
        .pingback_source(addr)
        .start()
        .await
        .unwrap();
    assert_eq!(server.config().pingback.source_address, Some(addr));
    let mock = Mock::from_server(server);
    mock.submit(&rx.url("/hook")).await;
    let got = rx.wait_for(1, Duration::from_secs(30)).await.unwrap();
    assert_eq!(got[0].peer.ip(), addr);
}

#[tokio::test]
async fn an_address_of_another_machine_is_refused_with_the_key_and_a_reason() {
    // 192.0.2.1 (TEST-NET-1) is never an address of this machine.
    let err = MockServer::builder()
        .pingback_source("192.0.2.1".parse().unwrap())
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, StartError::Config(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(
            "invalid configuration: pingback.source-address: 192.0.2.1 is not an address of this machine"
        ),
        "{text}"
    );
    let err = captchaai_mock::Config::from_toml("[pingback]\nsource-address = \"192.0.2.1\"\n")
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("line 2, column 18: pingback.source-address: 192.0.2.1 is not"),
        "{err}"
    );
}
