//! URL helpers, in one place: the host a callback goes to (per-host delivery lanes, 2captcha's
//! pingback registrations), whether a registration covers it, where `id` and `code` go in a
//! callback URL, and what counts as an absolute URL or a bare host in a submission.
//!
//! The mock rarely needs a full URL parser: callback URLs are sent as given (reqwest parses
//! them when it sends), so these helpers only find the parts the mock decides on, the same
//! way for the API, the state and the dispatcher. The exceptions use reqwest's own parser:
//! [`reaches`], which must see a URL exactly as reqwest will (`http://2130706433:80/` is
//! `127.0.0.1`), and [`parse_callback`], which parses a job's callback URL once so that each
//! attempt appends its query to it rather than having the whole string parsed again.

/// The longest `pingback` URL a submission may give (2048 bytes, what browsers and most
/// servers take); a longer one is `ERROR_BAD_PARAMETERS`.
pub(crate) const MAX_PINGBACK_URL: usize = 2048;

/// The host (and port) of a URL, or the string itself if it is not a URL.
pub(crate) fn host_of(addr: &str) -> &str {
    let rest = addr.split_once("://").map_or(addr, |(_, r)| r);
    let hostport = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    hostport.rsplit_once('@').map_or(hostport, |(_, h)| h)
}

/// Whether a client at `caller` may register the pingback address `addr` (2captcha's
/// `add_pingback` answers `ERROR_IP_ADDRES` when "your request is coming from an IP address
/// that doesn't match the IP address of your pingback IP or domain"). An address given as
/// an IP must be the caller's own (`localhost` stands for a loopback caller); a domain name
/// is taken on trust, since the mock resolves no names. Without a known caller, anything
/// goes.
pub(crate) fn caller_can_serve(addr: &str, caller: Option<std::net::IpAddr>) -> bool {
    let Some(caller) = caller else {
        return true;
    };
    let host = split_port(host_of(addr)).0;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return caller.is_loopback();
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => canonical(ip) == canonical(caller),
        Err(_) => true,
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it stands for.
fn canonical(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
        v4 => v4,
    }
}

/// Whether a registered pingback address covers a callback to `target` (`host:port`):
/// host names compare case-insensitively, and an address registered without a port (2captcha
/// documents registering a bare IP or domain) covers every port.
pub(crate) fn registration_covers(registered: &str, target: &str) -> bool {
    if registered.eq_ignore_ascii_case(target) {
        return true;
    }
    let (registered_host, registered_port) = split_port(registered);
    registered_port.is_none() && registered_host.eq_ignore_ascii_case(split_port(target).0)
}

/// Whether a request to `url` would reach a server listening on `listening`: the same port,
/// and a host that is that address. `localhost` (and `*.localhost`) is loopback; `0.0.0.0`
/// and `::` as a destination mean the local host's loopback; a listener on `0.0.0.0` is
/// reached through any IPv4 loopback address, one on `[::]` through IPv4 and IPv6 loopback.
///
/// Not recognised, because that would take a DNS lookup or the list of the machine's
/// interfaces: another name for the machine, or another of its addresses when the listener is
/// on every interface. Callbacks carry a marker header the mock's own routes refuse for those.
pub(crate) fn reaches(url: &str, listening: std::net::SocketAddr) -> bool {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    if url.port_or_known_default() != Some(listening.port()) {
        return false;
    }
    let loopbacks = [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    // The parser writes IP hosts in their canonical form (`2130706433` is `127.0.0.1`, IPv6
    // in brackets) and names in lower case.
    let Some(host) = url.host_str() else {
        return false;
    };
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let targets: Vec<IpAddr> = match literal.parse::<IpAddr>() {
        Ok(ip) => vec![ip.to_canonical()],
        Err(_) => {
            let name = host.trim_end_matches('.');
            if name == "localhost" || name.ends_with(".localhost") {
                loopbacks.to_vec()
            } else {
                return false;
            }
        }
    };
    let server = listening.ip().to_canonical();
    targets.into_iter().any(|target| {
        // Connecting to the unspecified address reaches the loopback of its family.
        let target = match target {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        match server {
            IpAddr::V4(ip) if ip.is_unspecified() => target.is_ipv4() && target.is_loopback(),
            IpAddr::V6(ip) if ip.is_unspecified() => target.is_loopback(),
            ip => ip == target,
        }
    })
}

/// `host:port` (or `[v6]:port`) into host and port; no port for a bare host or IPv6 address.
fn split_port(hostport: &str) -> (&str, Option<&str>) {
    match hostport.rsplit_once(':') {
        Some((host, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!host.contains(':') || host.ends_with(']')) =>
        {
            (host, Some(port))
        }
        _ => (hostport, None),
    }
}

/// What goes between a callback URL (without a fragment) and more query
/// parameters.
pub(crate) fn query_separator(url: &str) -> &'static str {
    if !url.contains('?') {
        "?"
    } else if url.ends_with(['?', '&']) {
        ""
    } else {
        "&"
    }
}

/// The callback URL with `form` (`id=..&code=..`) appended to its query: after existing
/// parameters, before any fragment (which is never sent, and would swallow the parameters
/// if they came after it).
pub(crate) fn with_query(url: &str, form: &str) -> String {
    let (base, fragment) = match url.find('#') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    if form.is_empty() {
        return url.to_owned();
    }
    let sep = query_separator(base);
    let mut out = String::with_capacity(base.len() + 1 + form.len() + fragment.len());
    out.push_str(base);
    out.push_str(sep);
    out.push_str(form);
    out.push_str(fragment);
    out
}

/// `base`, `sep`, then `id` and `code` form-encoded: a GET callback's URL in one
/// allocation, or (with empty `base` and `sep`) a POST callback's body.
pub(crate) fn callback_form(base: &str, sep: &str, id: Option<&str>, code: Option<&str>) -> String {
    let start = base.len() + sep.len();
    let code_len = code.map_or(0, str::len);
    let mut out = String::with_capacity(start + 32 + code_len + code_len / 4);
    out.push_str(base);
    out.push_str(sep);
    let mut ser = form_urlencoded::Serializer::for_suffix(&mut out, start);
    if let Some(id) = id {
        ser.append_pair("id", id);
    }
    if let Some(code) = code {
        ser.append_pair("code", code);
    }
    ser.finish();
    out
}

/// A callback URL parsed once, for the callbacks of one job: each attempt appends `id` and
/// `code` to a copy instead of having the whole URL (with a turnstile-sized code in its query)
/// parsed again as a string.
///
/// `None` where appending could give another URL than parsing the string
/// [`callback_form`]/[`with_query`] build: a URL with whitespace or control characters (the
/// parser trims them at the ends and drops tabs and newlines, so the query would land
/// elsewhere), or one the parser refuses (the string path reports that error as it always has).
pub(crate) fn parse_callback(url: &str) -> Option<reqwest::Url> {
    if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return None;
    }
    reqwest::Url::parse(url).ok()
}

/// `base` (from [`parse_callback`]) with `id` and `code` appended to its query, as
/// [`with_query`] would place them (after existing parameters, before a fragment) and
/// [`callback_form`] encode them: the URL `reqwest::Url::parse` makes of that string, without
/// parsing it. `None` for the one case appending would write differently: a query already
/// ending in `&` (the serializer would add another); and when neither is sent (a URL with a
/// fragment would then stay without `?`).
pub(crate) fn with_callback_query(
    base: &reqwest::Url,
    id: Option<&str>,
    code: Option<&str>,
) -> Option<reqwest::Url> {
    if id.is_none() && code.is_none() || base.query().is_some_and(|q| q.ends_with('&')) {
        return None;
    }
    let mut url = base.clone();
    {
        let mut pairs = url.query_pairs_mut();
        if let Some(id) = id {
            pairs.append_pair("id", id);
        }
        if let Some(code) = code {
            pairs.append_pair("code", code);
        }
    }
    Some(url)
}

/// An absolute http(s) URL with a host (`pageurl`, `pingback`).
pub(crate) fn is_http_url(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    !host.is_empty() && !host.contains(char::is_whitespace)
}

/// A host name or address, with an optional port: `api.leminnow.com`, `10.0.0.1:8080`.
pub(crate) fn is_host(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.contains(|c: char| c.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_of_an_address_may_register_it() {
        let local = Some("127.0.0.1".parse().unwrap());
        let other = Some("203.0.113.7".parse().unwrap());
        assert!(caller_can_serve("http://127.0.0.1:9/hook", local));
        assert!(caller_can_serve("127.0.0.1", local));
        assert!(!caller_can_serve("127.0.0.1:9", other));
        assert!(!caller_can_serve("http://203.0.113.8/hook", other));
        assert!(caller_can_serve("https://203.0.113.7:8443/hook", other));
        assert!(caller_can_serve("[::ffff:203.0.113.7]:80", other));
        assert!(caller_can_serve("http://localhost:9/hook", local));
        assert!(!caller_can_serve("localhost", other));
        assert!(
            caller_can_serve("hooks.example.com", other),
            "names are not resolved"
        );
        assert!(caller_can_serve("127.0.0.1", None));
    }

    #[test]
    fn registration_covers_ports_and_case() {
        assert!(registration_covers("127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(registration_covers("127.0.0.1", "127.0.0.1:8080"));
        assert!(registration_covers("Example.COM", "example.com:443"));
        assert!(registration_covers("[::1]", "[::1]:9000"));
        assert!(!registration_covers("127.0.0.1:8080", "127.0.0.1:8081"));
        assert!(!registration_covers("127.0.0.2", "127.0.0.1:8080"));
        assert!(!registration_covers("example.com:80", "example.com"));
    }

    #[test]
    fn urls_that_reach_the_mock_itself() {
        let v4: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
        for url in [
            "http://127.0.0.1:8080/__admin/reset",
            "http://localhost:8080/x",
            "http://LOCALHOST.:8080/x",
            "http://a.localhost:8080/",
            "http://0.0.0.0:8080/",
            "http://[::ffff:127.0.0.1]:8080/",
            "http://2130706433:8080/",
            "http://0x7f.1:8080/",
            "http://user:pw@127.0.0.1:8080/",
        ] {
            assert!(reaches(url, v4), "{url}");
        }
        for url in [
            "http://127.0.0.1:8081/",
            "http://127.0.0.2:8080/",
            "http://[::1]:8080/",
            "http://example.com:8080/",
            "https://127.0.0.1/",
            "not a url",
        ] {
            assert!(!reaches(url, v4), "{url}");
        }
        assert!(reaches(
            "http://127.0.0.1/",
            "127.0.0.1:80".parse().unwrap()
        ));
        assert!(reaches("https://localhost/", "[::1]:443".parse().unwrap()));
        let any4: std::net::SocketAddr = "0.0.0.0:9000".parse().unwrap();
        assert!(reaches("http://127.0.0.5:9000/", any4));
        assert!(!reaches("http://[::1]:9000/", any4));
        let any6: std::net::SocketAddr = "[::]:9000".parse().unwrap();
        assert!(reaches("http://[::1]:9000/", any6));
        assert!(reaches("http://127.0.0.1:9000/", any6));
        assert!(
            !reaches("http://10.1.2.3:9000/", any6),
            "unknown: the marker covers it"
        );
    }

    #[test]
    fn host_of_urls_and_bare_hosts() {
        assert_eq!(host_of("http://127.0.0.1:8080/hook?x=1"), "127.0.0.1:8080");
        assert_eq!(host_of("https://u:p@example.com/a"), "example.com");
        assert_eq!(host_of("example.com"), "example.com");
    }

    #[test]
    fn query_goes_after_existing_parameters_and_before_the_fragment() {
        assert_eq!(with_query("http://h/p", "id=1"), "http://h/p?id=1");
        assert_eq!(with_query("http://h/p?t=a", "id=1"), "http://h/p?t=a&id=1");
        assert_eq!(with_query("http://h/p?", "id=1"), "http://h/p?id=1");
        assert_eq!(with_query("http://h/p?t=a&", "id=1"), "http://h/p?t=a&id=1");
        assert_eq!(
            with_query("http://h/p?t=a#frag", "id=1"),
            "http://h/p?t=a&id=1#frag"
        );
        assert_eq!(with_query("http://h/p#f?x", "id=1"), "http://h/p?id=1#f?x");
    }

    #[test]
    fn callback_forms_encode_id_and_code() {
        assert_eq!(
            callback_form("http://h/p", "?", Some("1"), Some("a b&c")),
            "http://h/p?id=1&code=a+b%26c"
        );
        assert_eq!(callback_form("", "", None, Some("x")), "code=x");
    }

    /// Appending to a URL parsed once gives the very URL (and so the bytes on the wire) that
    /// parsing the built string gives, or declines.
    #[test]
    fn appending_to_a_parsed_url_matches_parsing_the_string() {
        let code = "0.aB-_~ *+&=?#%/é\u{1F600}\"<>'";
        let urls = [
            "http://127.0.0.1:9/hook",
            "http://127.0.0.1:9/hook?token=abc",
            "http://127.0.0.1:9/hook?",
            "http://127.0.0.1:9/hook?t=a&",
            "http://127.0.0.1:9/hook?t=a#frag",
            "http://127.0.0.1:9/hook#f?x",
            "http://127.0.0.1:9/hook?#",
            "http://h",
            "http://H.Example.COM:80/a/../b?q=\"x\"&r='y'",
            "https://user:pw@[::1]:8443/p%20q?x=1%2",
            "http://2130706433/é?ü=1",
            "http://h/p?a=1?b",
            "http://h/p ?x= ",
            " http://h/p",
            "http://h/p\t?x",
            "http://",
            "mailto:x",
        ];
        let ids = [Some("74000000001"), None, Some("12x")];
        let codes = [Some(code), None, Some("")];
        let mut fast_paths = 0;
        for url in urls {
            for id in ids {
                for code in codes {
                    let string = if url.contains('#') {
                        with_query(url, &callback_form("", "", id, code))
                    } else {
                        callback_form(url, query_separator(url), id, code)
                    };
                    let expected = reqwest::Url::parse(&string).ok();
                    // Declined (`None`): the string is built and parsed as before.
                    if let Some(Some(fast)) =
                        parse_callback(url).map(|b| with_callback_query(&b, id, code))
                    {
                        assert_eq!(
                            Some(fast.as_str()),
                            expected.as_ref().map(reqwest::Url::as_str),
                            "{url:?} {id:?} {code:?}"
                        );
                        fast_paths += 1;
                    }
                }
            }
        }
        assert!(fast_paths > 80, "{fast_paths}");
        // The usual callback URL takes the fast path.
        let base = parse_callback("http://127.0.0.1:9/hook?token=abc").unwrap();
        assert!(with_callback_query(&base, Some("1"), Some(code)).is_some());
        assert!(parse_callback("http://h/p ?x").is_none());
        let base = parse_callback("http://h/p?t=a&").unwrap();
        assert!(with_callback_query(&base, Some("1"), None).is_none());
    }

    #[test]
    fn urls_and_hosts() {
        assert!(is_http_url("https://a.b"));
        assert!(is_http_url("http://127.0.0.1:9/hook?x"));
        assert!(!is_http_url("ftp://x"));
        assert!(!is_http_url("https://"));
        assert!(!is_http_url("example.com/login"));
        assert!(is_host("api.leminnow.com"));
        assert!(is_host("10.0.0.1:8080"));
        assert!(!is_host("-"));
        assert!(!is_host("not a url"));
    }
}
