//! [`Proxy`] and [`ProxyType`]: the proxy a task is solved through (`proxy`, `proxytype`).

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// The kind of proxy sent as `proxytype`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyType {
    /// `HTTP`
    Http,
    /// `HTTPS`
    Https,
    /// `SOCKS4`
    Socks4,
    /// `SOCKS5`
    Socks5,
}

impl ProxyType {
    /// The wire spelling (`HTTP`, `HTTPS`, `SOCKS4`, `SOCKS5`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyType::Http => "HTTP",
            ProxyType::Https => "HTTPS",
            ProxyType::Socks4 => "SOCKS4",
            ProxyType::Socks5 => "SOCKS5",
        }
    }
}

impl FromStr for ProxyType {
    type Err = Error;

    /// Case-insensitive, as the service accepts it.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_uppercase().as_str() {
            "HTTP" => Ok(ProxyType::Http),
            "HTTPS" => Ok(ProxyType::Https),
            "SOCKS4" => Ok(ProxyType::Socks4),
            "SOCKS5" => Ok(ProxyType::Socks5),
            _ => Err(Error::bad_input(format!("unknown proxy type: {s:?}"))),
        }
    }
}

/// A proxy the solver loads the page through: `proxy` (`login:pass@ip:port` or `ip:port`) and
/// `proxytype`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Proxy {
    /// `login:pass@ip:port` or `ip:port`.
    pub address: String,
    /// The proxy protocol.
    pub kind: ProxyType,
}

impl Proxy {
    /// A proxy from its address and type.
    pub fn new(address: impl Into<String>, kind: ProxyType) -> Self {
        Proxy {
            address: address.into(),
            kind,
        }
    }

    pub(super) fn validate(&self) -> Result<(), Error> {
        if self.address.trim().is_empty() {
            return Err(Error::bad_input("proxy address is empty"));
        }
        if self
            .address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Error::bad_input(
                "proxy address contains whitespace or control characters",
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for Proxy {
    /// Hides the credentials part of the address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = match self.address.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => self.address.clone(),
        };
        f.debug_struct("Proxy")
            .field("address", &shown)
            .field("kind", &self.kind)
            .finish()
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_debug_hides_credentials() {
        let p = Proxy::new("user:secret@10.0.0.1:3128", ProxyType::Http);
        let shown = format!("{p:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("10.0.0.1:3128"));
        assert_eq!("socks4".parse::<ProxyType>().unwrap(), ProxyType::Socks4);
    }
}
