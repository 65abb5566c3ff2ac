//! `auth:` of a target or a request, as the `Authorization` header it sends.

use crate::decode::{Cx, Fields, Sp, text};
use crate::node::Node;

pub(crate) const AUTH_KEYS: &[&str] = &["basic", "bearer"];

pub(crate) const BASIC_KEYS: &[&str] = &["username", "password"];

/// `auth:` of a target or a request, as the `Authorization` header it
/// sends: `{bearer: token}` or `{basic: {username, password}}`; values may
/// be templates (`{{ env.TOKEN }}`). A static basic pair is encoded once
/// here; a templated one is encoded per request by the engine's
/// `b64encode` filter.
pub(super) fn add_auth(cx: &mut Cx, node: &Node, headers: &mut Vec<(Sp<String>, Sp<String>)>) {
    let Some(mut f) = Fields::new(node, cx, "auth", AUTH_KEYS) else {
        return;
    };
    let value = match (f.get("basic"), f.get("bearer")) {
        (Some(b), None) => {
            let Some(mut bf) = Fields::new(b, cx, "basic auth", BASIC_KEYS) else {
                f.finish(cx);
                return;
            };
            let user = bf
                .require("username", cx, "e.g. `username: admin`")
                .and_then(|n| text(n, cx, "username"));
            let pass = bf
                .require("password", cx, "e.g. `password: \"{{ env.PASSWORD }}\"`")
                .and_then(|n| text(n, cx, "password"));
            bf.finish(cx);
            let (Some(user), Some(pass)) = (user, pass) else {
                f.finish(cx);
                return;
            };
            if user.value.contains(':') && !user.value.contains("{{") {
                cx.error_help(
                    user.span,
                    "a basic-auth user name cannot contain `:`",
                    "the `:` separates the user name from the password (RFC 7617)",
                );
            }
            let templated = |s: &str| s.contains("{{") || s.contains("{%");
            let v = if templated(&user.value) || templated(&pass.value) {
                format!(
                    "Basic {{% filter b64encode %}}{}:{}{{% endfilter %}}",
                    user.value, pass.value
                )
            } else {
                use base64::Engine as _;
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{}:{}", user.value, pass.value))
                )
            };
            Some(v)
        }
        (None, Some(t)) => text(t, cx, "bearer").map(|t| format!("Bearer {}", t.value)),
        (Some(_), Some(_)) => {
            cx.error_help(
                f.span,
                "`auth` is either `basic` or `bearer`, not both",
                "keep one of them",
            );
            None
        }
        (None, None) => {
            cx.error_help(
                f.span,
                "`auth` needs `basic` or `bearer`",
                "e.g. `auth: {bearer: \"{{ env.TOKEN }}\"}` or `auth: {basic: {username: admin, password: \"{{ env.PASSWORD }}\"}}`",
            );
            None
        }
    };
    f.finish(cx);
    let Some(value) = value else { return };
    if headers
        .iter()
        .any(|(k, _)| k.value.eq_ignore_ascii_case("authorization"))
    {
        cx.error_help(
            node.span,
            "`auth` and an `Authorization` header both set the same header",
            "keep one of them",
        );
        return;
    }
    headers.push((
        Sp::new("Authorization".to_owned(), node.span),
        Sp::new(value, node.span),
    ));
}
