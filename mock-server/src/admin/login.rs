//! Signing a browser in to the admin API when `admin.token` is set.
//!
//! A browser cannot add `Authorization: Bearer <token>` to a page load or to an `EventSource`,
//! so with a token the dashboard would be out of reach. Instead:
//!
//! - a `GET` from a browser (one that accepts `text/html`) without a credential is answered
//!   401 with a sign-in form rather than the JSON error;
//! - `POST /__admin/login` with the form's `token` (compared in constant time) sets a cookie
//!   holding it, `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page
//!   sends it), scoped to `/__admin` (the API never sees it) and `Secure` under `--tls`, and
//!   redirects to the dashboard; a wrong token gets the form again, 401;
//! - the guard accepts that cookie like the bearer token, except on a request from another
//!   site (an `Origin` other than the mock's own), whatever the browser's cookie policy.
//!
//! The cookie lasts as long as the browser session. Nothing is stored on the mock's side: the
//! cookie is the token, so changing the token (a restart) signs every browser out.

use axum::{
    body::Bytes,
    extract::{Request, State},
    http::{
        HeaderMap, HeaderValue, StatusCode,
        header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE},
    },
    response::{IntoResponse, Response},
};
use cookie::{Cookie, SameSite};
use subtle::ConstantTimeEq as _;

use crate::state::MockState;

/// The cookie's name.
const COOKIE_NAME: &str = "captchaai_admin";

/// What a request offers as proof, with a token configured.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Credential {
    /// `Authorization: Bearer <token>`, the right one.
    Bearer,
    /// The sign-in cookie, holding the right token.
    Cookie,
    /// Nothing, or a wrong token.
    None,
}

/// Whether `given` is `token`. Length leaks, content does not; the configuration refuses an
/// empty token, so nothing missing ever matches.
pub(super) fn same_token(given: &str, token: &str) -> bool {
    bool::from(given.as_bytes().ct_eq(token.as_bytes()))
}

/// The request's credential against `token`; a right bearer token wins over a cookie.
pub(super) fn credential(headers: &HeaderMap, token: &str) -> Credential {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer.is_some_and(|given| same_token(given, token)) {
        return Credential::Bearer;
    }
    let cookie = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse_encoded)
        .filter_map(Result::ok)
        .any(|c| c.name() == COOKIE_NAME && same_token(c.value(), token));
    if cookie {
        Credential::Cookie
    } else {
        Credential::None
    }
}

/// Whether a refused request is a browser's page load, to be shown the form.
pub(super) fn wants_a_page(req: &Request) -> bool {
    req.method() == axum::http::Method::GET
        && req
            .headers()
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}

/// The sign-in form, 401; `wrong` says the last token was not it.
pub(super) fn form(wrong: bool) -> Response {
    let note = if wrong {
        "<p class=\"bad\">That is not the admin token.</p>"
    } else {
        ""
    };
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>captchaai-mock: sign in</title><style>\
         body{{font:14px/1.4 system-ui,sans-serif;margin:3em auto;max-width:28em;color:#1f2328}}\
         input{{font:inherit;padding:.3em;width:100%;box-sizing:border-box;margin:.4em 0}}\
         .bad{{color:#cf222e}}.sub{{color:#57606a}}</style></head><body>\
         <h1>captchaai-mock dashboard</h1>{note}\
         <form method=\"post\" action=\"/__admin/login\">\
         <label for=\"token\">Admin token (<code>admin.token</code>, <code>--admin-token</code>)</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" autofocus>\
         <input type=\"submit\" value=\"Sign in\"></form>\
         <p class=\"sub\">Scripts send <code>Authorization: Bearer &lt;token&gt;</code> instead.</p>\
         </body></html>"
    );
    (
        StatusCode::UNAUTHORIZED,
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
        ],
        page,
    )
        .into_response()
}

/// `POST /__admin/login`: the form's token, as `application/x-www-form-urlencoded`.
pub(super) async fn login(State(state): State<MockState>, body: Bytes) -> Response {
    let cfg = state.config();
    let Some(token) = cfg.admin.token.as_deref() else {
        // Nothing to sign in to: loopback rules apply, as the guard says.
        return see_dashboard(None);
    };
    let given = form_urlencoded::parse(&body).find_map(|(k, v)| (k == "token").then_some(v));
    if !given.is_some_and(|given| same_token(&given, token)) {
        return form(true);
    }
    let cookie = Cookie::build((COOKIE_NAME, token.to_owned()))
        .path("/__admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(cfg.server.tls)
        .build();
    set_cookie(&cookie).map_or_else(|| form(true), |v| see_dashboard(Some(v)))
}

/// The `Set-Cookie` value: percent-encoded, so that a token with `;`, `,`, spaces or
/// non-ASCII characters survives the round trip ([`credential`] decodes it).
fn set_cookie(cookie: &Cookie<'_>) -> Option<HeaderValue> {
    HeaderValue::from_str(&cookie.encoded().to_string()).ok()
}

/// 303 to the dashboard, setting `cookie` when given.
fn see_dashboard(cookie: Option<HeaderValue>) -> Response {
    let mut resp = (
        StatusCode::SEE_OTHER,
        [(LOCATION, "/__admin/"), (CACHE_CONTROL, "no-store")],
    )
        .into_response();
    if let Some(cookie) = cookie {
        resp.headers_mut().insert(SET_COOKIE, cookie);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::{Credential, credential};
    use axum::http::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    /// Any token the configuration accepts signs a browser in: what the cookie carries
    /// decodes to the token, and nothing else does.
    #[test]
    fn any_token_survives_the_cookie() {
        for token in [
            "s3cret",
            " padded ",
            "semi;colon,comma",
            "quote\"d",
            "tökén=€",
            "a%20b",
        ] {
            let cookie = cookie::Cookie::build((super::COOKIE_NAME, token.to_owned())).build();
            let header = super::set_cookie(&cookie).expect("a header value");
            let sent = header
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            assert_eq!(
                credential(&headers(&[("cookie", &sent)]), token),
                Credential::Cookie,
                "{token:?} as {sent:?}"
            );
            assert_eq!(
                credential(&headers(&[("cookie", &sent)]), "other"),
                Credential::None
            );
        }
    }

    #[test]
    fn a_credential_is_the_right_token_in_either_place() {
        let t = "s3cret";
        assert_eq!(
            credential(&headers(&[("authorization", "Bearer s3cret")]), t),
            Credential::Bearer
        );
        assert_eq!(
            credential(&headers(&[("cookie", "a=1; captchaai_admin=s3cret")]), t),
            Credential::Cookie
        );
        assert_eq!(
            credential(
                &headers(&[("cookie", "x=1"), ("cookie", "captchaai_admin=s3cret")]),
                t
            ),
            Credential::Cookie
        );
        for wrong in [
            &[("authorization", "Bearer s3cre")][..],
            &[("authorization", "s3cret")],
            &[("cookie", "captchaai_admin=s3cretX")],
            &[("cookie", "other=s3cret")],
            &[("cookie", "captchaai_admin=")],
            &[],
        ] {
            assert_eq!(
                credential(&headers(wrong), t),
                Credential::None,
                "{wrong:?}"
            );
        }
    }
}
