//! URL helpers, in one place: the host a callback goes to (per-host delivery lanes, 2captcha's
//! pingback registrations), whether a registration covers it, where `id` and `code` go in a
//! callback URL, and what counts as an absolute URL or a bare host in a submission.
//!
//! The mock never needs a full URL parser: callback URLs are sent as given (reqwest parses
//! them when it sends), so these helpers only find the parts the mock decides on, the same
//! way for the API, the state and the dispatcher.

/// The host (and port) of a URL, or the string itself if it is not a URL.
pub(crate) fn host_of(addr: &str) -> &str {
    let rest = addr.split_once("://").map_or(addr, |(_, r)| r);
    let hostport = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    hostport.rsplit_once('@').map_or(hostport, |(_, h)| h)
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
